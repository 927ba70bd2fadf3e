//! `flotilla`: the one binary. `flotilla daemon` runs a node; every other subcommand is the CLI,
//! talking to the local daemon over its Unix socket.
//!
//! This is the binary's edge: errors become `anyhow` here and nowhere else.

mod agent;
mod attach;
mod authz;
mod ca_service;
mod config;
mod containers;
mod dispatcher;
mod fsutil;
mod identity;
mod images;
mod logs;
mod pki;
mod server;
mod supervisor;
mod swarm;
mod sysinfo;
mod tasks;
mod transport;

use anyhow::Context;
use clap::{Parser, Subcommand};
use config::{DaemonArgs, DaemonConfig, LogFormat};
use std::process::ExitCode;
use tokio::sync::watch;

/// Top-level command line.
#[derive(Debug, Parser)]
#[command(
    name = "flotilla",
    version,
    about = "A Docker Swarm-mode cluster agent",
    propagate_version = true
)]
struct Cli {
    /// Daemon socket to connect to (or serve, for `daemon`).
    #[arg(
        short = 'H',
        long = "host",
        global = true,
        env = "FLOTILLA_HOST",
        value_name = "unix://SOCK"
    )]
    host: Option<String>,
    /// Log filter (error, warn, info, debug, trace, or a tracing directive).
    #[arg(long, global = true, value_name = "LEVEL")]
    log_level: Option<String>,
    /// Log format.
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Top,
}

#[derive(Debug, Subcommand)]
enum Top {
    /// Run a node.
    Daemon(DaemonArgs),
    #[command(flatten)]
    Client(flotilla_cli::Command),
}

fn main() -> ExitCode {
    // The container helpers run before any thread exists (they fork): see flotilla-container.
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let [_, sub, file] = argv.as_slice() {
        if sub.as_os_str() == flotilla_container::HELPER_SUBCOMMAND {
            flotilla_container::helper_main(std::path::Path::new(file));
        }
        if sub.as_os_str() == flotilla_container::EXEC_SUBCOMMAND {
            flotilla_container::exec_main(std::path::Path::new(file));
        }
    }
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("flotilla: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Top::Daemon(args) => match rt.block_on(run_daemon(
            &args,
            cli.host.as_deref(),
            cli.log_level.as_deref(),
            cli.log_format,
        )) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("flotilla daemon: {e:#}");
                tracing::error!(error = %format!("{e:#}"), "daemon stopped");
                ExitCode::FAILURE
            }
        },
        Top::Client(cmd) => {
            let host = cli.host.unwrap_or_else(|| config::DEFAULT_HOST.to_owned());
            match rt.block_on(flotilla_cli::run(cmd, &host)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(flotilla_cli::CliError::ExitCode(code)) => {
                    ExitCode::from(u8::try_from(code.clamp(0, 255)).unwrap_or(1))
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn init_logging(cfg: &DaemonConfig) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&cfg.log_level).context("--log-level")?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let res = match cfg.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    res.map_err(|e| anyhow::anyhow!("cannot install the logger: {e}"))
}

async fn run_daemon(
    args: &DaemonArgs,
    host: Option<&str>,
    log_level: Option<&str>,
    log_format: Option<LogFormat>,
) -> anyhow::Result<()> {
    // Everything is validated before anything binds.
    let cfg = DaemonConfig::resolve(args, host, log_level, log_format)?;
    init_logging(&cfg)?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let _lock = config::lock_data_dir(&cfg.data_dir)?;
    let socket = server::bind_socket(&cfg.socket).await?;
    tracing::info!(version = env!("CARGO_PKG_VERSION"), data_dir = %cfg.data_dir.display(), socket = %cfg.socket.display(), node_name = %cfg.node_name, "flotilla daemon starting");
    let images_store = std::sync::Arc::new(
        flotilla_image::ImageStore::open(cfg.data_dir.join("images"))
            .with_context(|| format!("opening the image store in {}", cfg.data_dir.display()))?,
    );
    let engine_root = cfg.data_dir.join("containers");
    let cgroup_parent = cfg.containers_cgroup();
    let runtime = flotilla_engine::Engine::runtime_for(
        &engine_root,
        &cgroup_parent,
        "/proc/self/exe",
        flotilla_container::HELPER_SUBCOMMAND,
    )
    .context("starting the container runtime")?;
    let engine = std::sync::Arc::new(
        flotilla_engine::Engine::open(&engine_root, images_store.clone(), runtime)
            .with_context(|| format!("opening the containers in {}", engine_root.display()))?,
    );
    let images = images::ImagesApi::new(
        images_store.clone(),
        cfg.data_dir.join("tmp"),
        cfg.insecure_registries.clone(),
        {
            let engine = engine.clone();
            std::sync::Arc::new(move |id: &flotilla_image::Digest| engine.uses_image(id))
        },
    );
    let health = std::sync::Arc::new(flotilla_executor::HealthMonitor::new(engine.clone()));
    let executor = std::sync::Arc::new(flotilla_executor::EngineExecutor::new(
        engine.clone(),
        health.clone(),
        cfg.node_name.clone(),
        cfg.insecure_registries.clone(),
    ));
    let daemon = swarm::Daemon::start(cfg.clone(), executor).await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let signals = tokio::spawn(async move {
        let res = wait_for_signal().await;
        let _ = stop_tx.send(true);
        res
    });
    let containers = containers::ContainersApi::new(engine, health);
    containers.watch_health().await;
    let reaper = tokio::spawn(containers.clone().reap_forever());
    let served = server::serve(daemon.clone(), images, containers, socket, stop_rx).await;
    reaper.abort();
    tracing::info!("shutting down");
    daemon.shutdown().await;
    let _ = std::fs::remove_file(&cfg.socket);
    signals.abort();
    served?;
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
    Ok(())
}
