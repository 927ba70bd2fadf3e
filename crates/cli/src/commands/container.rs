//! `flotilla container run|create|start|exec|ls|inspect|logs|stop|kill|pause|unpause|rm|prune`:
//! the node's own containers, through the node-local `Containers` service on the daemon's
//! socket.
//!
//! `run` without `-d` follows the container's output to this terminal (stdout to stdout, stderr
//! to stderr) and ends with the container's exit code, removing it first with `--rm`; with `-i`
//! or `-t` it attaches instead (stdin forwarded, a terminal in raw mode: see
//! [`crate::commands::session`]). `exec` runs another command in a running container the same
//! way and ends with its exit code.

use crate::commands::finish;
use crate::commands::service::ps::title_case;
use crate::commands::session::{self, Call};
use crate::connect;
use crate::error::CliError;
use crate::output::{self, ListStyle, Listing, OutputFormat, short_id};
use crate::units::{parse_bytes, parse_cpus, parse_duration};
use flotilla_engine::{HealthConfig, RunSpec};
use flotilla_proto::pb;
use flotilla_proto::pb::containers_client::ContainersClient;
use std::collections::BTreeMap;
use std::io::Write;
use tonic::transport::Channel;

/// Columns of `container ls`.
pub const LS_COLUMNS: [&str; 6] = [
    "CONTAINER ID",
    "IMAGE",
    "COMMAND",
    "CREATED",
    "STATUS",
    "NAMES",
];

/// Manage containers on this node.
#[derive(Debug, clap::Subcommand)]
pub enum ContainerCommand {
    /// Create and run a new container from an image.
    Run(ContainerRunArgs),
    /// Create a new container.
    Create(ContainerRunArgs),
    /// Start one or more stopped containers.
    Start(ContainerKeysArgs),
    /// Execute a command in a running container.
    Exec(ContainerExecArgs),
    /// List containers.
    #[command(visible_alias = "list", visible_alias = "ps")]
    Ls(ContainerLsArgs),
    /// Display detailed information on one or more containers.
    Inspect(ContainerKeysArgs),
    /// Fetch the logs of a container.
    Logs(ContainerLogsArgs),
    /// Stop one or more running containers.
    Stop(ContainerStopArgs),
    /// Kill one or more running containers.
    Kill(ContainerKillArgs),
    /// Pause all processes within one or more containers.
    Pause(ContainerKeysArgs),
    /// Unpause all processes within one or more containers.
    Unpause(ContainerKeysArgs),
    /// Remove one or more containers.
    #[command(visible_alias = "remove")]
    Rm(ContainerRmArgs),
    /// Remove all stopped containers.
    Prune(ContainerPruneArgs),
}

/// Arguments of `container run` and `container create`.
#[derive(Debug, clap::Args)]
pub struct ContainerRunArgs {
    /// Run container in background and print container ID.
    #[arg(short, long)]
    pub detach: bool,
    /// Automatically remove the container when it exits.
    #[arg(long)]
    pub rm: bool,
    /// Assign a name to the container.
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables.
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Memory limit.
    #[arg(short, long, value_name = "BYTES")]
    pub memory: Option<String>,
    /// Number of CPUs.
    #[arg(long, value_name = "DECIMAL")]
    pub cpus: Option<String>,
    /// Tune container pids limit (-1 for unlimited).
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Bind mount a volume.
    #[arg(short, long = "volume", value_name = "SRC:DST[:ro]")]
    pub volume: Vec<String>,
    /// Mount a tmpfs directory.
    #[arg(long, value_name = "DST[:OPTS]")]
    pub tmpfs: Vec<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>]).
    #[arg(short, long)]
    pub user: Option<String>,
    /// Container host name.
    #[arg(long)]
    pub hostname: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image.
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Keep STDIN open.
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    pub tty: bool,
    /// Mount the container's root filesystem as read only.
    #[arg(long)]
    pub read_only: bool,
    /// Set metadata on a container.
    #[arg(short, long = "label", value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// Signal to stop the container.
    #[arg(long)]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container.
    #[arg(long)]
    pub stop_timeout: Option<u64>,
    /// Command to run to check health (run with /bin/sh -c).
    #[arg(long, value_name = "COMMAND")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h) (default 30s).
    #[arg(long, value_name = "DURATION")]
    pub health_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 30s).
    #[arg(long, value_name = "DURATION")]
    pub health_timeout: Option<String>,
    /// Consecutive failures needed to report unhealthy (default 3).
    #[arg(long, value_name = "N")]
    pub health_retries: Option<u32>,
    /// Start period for the container to initialize before failures count (ms|s|m|h).
    #[arg(long, value_name = "DURATION")]
    pub health_start_period: Option<String>,
    /// Disable any container-specified HEALTHCHECK.
    #[arg(long)]
    pub no_healthcheck: bool,
    /// The image.
    pub image: String,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// Arguments of `container exec`.
#[derive(Debug, clap::Args)]
pub struct ContainerExecArgs {
    /// Keep STDIN open even if not attached.
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    pub tty: bool,
    /// Set environment variables.
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>]).
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// The container (id, id prefix or name).
    pub container: String,
    /// The command and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// Containers named on the command line.
#[derive(Debug, clap::Args)]
pub struct ContainerKeysArgs {
    /// Containers (id, id prefix or name).
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// Arguments of `container ls`.
#[derive(Debug, clap::Args)]
pub struct ContainerLsArgs {
    /// Show all containers (default shows just running).
    #[arg(short, long)]
    pub all: bool,
    /// Only display container IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't truncate output.
    #[arg(long)]
    pub no_trunc: bool,
    /// Output format.
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
}

/// Arguments of `container logs`.
#[derive(Debug, clap::Args)]
pub struct ContainerLogsArgs {
    /// Follow log output.
    #[arg(short, long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs ("all" for every line).
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps.
    #[arg(short, long)]
    pub timestamps: bool,
    /// The container.
    pub container: String,
}

/// Arguments of `container stop`.
#[derive(Debug, clap::Args)]
pub struct ContainerStopArgs {
    /// Seconds to wait before killing the container.
    #[arg(short, long)]
    pub time: Option<u64>,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// Arguments of `container kill`.
#[derive(Debug, clap::Args)]
pub struct ContainerKillArgs {
    /// Signal to send to the container.
    #[arg(short, long, default_value = "KILL")]
    pub signal: String,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// Arguments of `container rm`.
#[derive(Debug, clap::Args)]
pub struct ContainerRmArgs {
    /// Force the removal of a running container (uses SIGKILL).
    #[arg(short, long)]
    pub force: bool,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// Arguments of `container prune`.
#[derive(Debug, clap::Args)]
pub struct ContainerPruneArgs {
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    pub force: bool,
}

/// The `--health-*` and `--no-healthcheck` flags as the engine's [`HealthConfig`]; `None` when
/// none is given (the image's check applies). A zero duration means the default, as in Docker.
pub fn health_config(a: &ContainerRunArgs) -> Result<Option<HealthConfig>, CliError> {
    let duration = |flag: &str, value: &Option<String>| -> Result<_, CliError> {
        Ok(value
            .as_deref()
            .map(|v| parse_duration(flag, v))
            .transpose()?
            .filter(|d| !d.is_zero()))
    };
    let interval = duration("--health-interval", &a.health_interval)?;
    let timeout = duration("--health-timeout", &a.health_timeout)?;
    let start_period = duration("--health-start-period", &a.health_start_period)?;
    let given: Vec<&str> = [
        ("--health-cmd", a.health_cmd.is_some()),
        ("--health-interval", a.health_interval.is_some()),
        ("--health-timeout", a.health_timeout.is_some()),
        ("--health-retries", a.health_retries.is_some()),
        ("--health-start-period", a.health_start_period.is_some()),
    ]
    .into_iter()
    .filter_map(|(flag, set)| set.then_some(flag))
    .collect();
    if a.no_healthcheck {
        if !given.is_empty() {
            return Err(CliError::Usage(format!(
                "--no-healthcheck conflicts with {}",
                given.join(", ")
            )));
        }
        return Ok(Some(HealthConfig::none()));
    }
    if given.is_empty() {
        return Ok(None);
    }
    Ok(Some(HealthConfig {
        test: a
            .health_cmd
            .as_ref()
            .map(|c| vec!["CMD-SHELL".to_owned(), c.clone()])
            .unwrap_or_default(),
        interval,
        timeout,
        retries: a.health_retries.unwrap_or(0),
        start_period,
    }))
}

/// Turns the flags into the engine's request; bad values name their flag.
pub fn run_spec(a: &ContainerRunArgs) -> Result<RunSpec, CliError> {
    let mut labels = BTreeMap::new();
    for l in &a.label {
        let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
        labels.insert(k.to_owned(), v.to_owned());
    }
    let spec = RunSpec {
        name: a.name.clone().unwrap_or_default(),
        image: a.image.clone(),
        cmd: a.command.clone(),
        entrypoint: a.entrypoint.as_ref().map(|e| {
            if e.is_empty() {
                Vec::new()
            } else {
                vec![e.clone()]
            }
        }),
        env: a.env.clone(),
        workdir: a.workdir.clone().unwrap_or_default(),
        user: a.user.clone().unwrap_or_default(),
        hostname: a.hostname.clone().unwrap_or_default(),
        memory_bytes: a
            .memory
            .as_deref()
            .map(|m| parse_bytes("--memory", m))
            .transpose()?
            .unwrap_or(0),
        nano_cpus: a
            .cpus
            .as_deref()
            .map(|c| parse_cpus("--cpus", c))
            .transpose()?
            .unwrap_or(0),
        pids_limit: a.pids_limit.unwrap_or(0),
        volumes: a.volume.clone(),
        tmpfs: a.tmpfs.clone(),
        auto_remove: a.rm,
        interactive: a.interactive,
        tty: a.tty,
        read_only: a.read_only,
        labels,
        stop_signal: a.stop_signal.clone().unwrap_or_default(),
        stop_timeout: a.stop_timeout.map(std::time::Duration::from_secs),
        healthcheck: health_config(a)?,
    };
    spec.validate()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    Ok(spec)
}

/// Runs a `container` subcommand against the daemon at `host`.
pub async fn run(cmd: ContainerCommand, host: &str) -> Result<(), CliError> {
    let mut client = connect::containers(host).await?;
    match cmd {
        ContainerCommand::Run(a) => run_container(&mut client, &a).await,
        ContainerCommand::Create(a) => {
            let spec = run_spec(&a)?;
            let reply = create(&mut client, &spec, false, false).await?;
            output::println(&reply.id)
        }
        ContainerCommand::Start(a) => {
            each(a.containers, |key| {
                let mut c = client.clone();
                async move {
                    c.start(pb::ContainerKey { key: key.clone() }).await?;
                    output::println(&key)
                }
            })
            .await
        }
        ContainerCommand::Exec(a) => exec(&mut client, &a).await,
        ContainerCommand::Ls(a) => ls(&mut client, &a).await,
        ContainerCommand::Inspect(a) => {
            let mut docs = Vec::new();
            let mut errors = Vec::new();
            for key in a.containers {
                match client.inspect(pb::ContainerKey { key }).await {
                    Ok(r) => docs.push(serde_json::from_str::<serde_json::Value>(
                        &r.into_inner().json,
                    )?),
                    Err(e) => errors.push(CliError::from(e)),
                }
            }
            output::println(&output::to_json(&docs)?)?;
            finish(errors)
        }
        ContainerCommand::Logs(a) => logs(&mut client, &a).await,
        ContainerCommand::Stop(a) => {
            let timeout = a.time.map_or(-1, |t| i64::try_from(t).unwrap_or(i64::MAX));
            each(a.containers, |key| {
                let mut c = client.clone();
                async move {
                    c.stop(pb::StopContainerRequest {
                        key: key.clone(),
                        timeout_secs: timeout,
                    })
                    .await?;
                    output::println(&key)
                }
            })
            .await
        }
        ContainerCommand::Kill(a) => {
            let signal = a.signal.clone();
            each(a.containers, |key| {
                let mut c = client.clone();
                let signal = signal.clone();
                async move {
                    c.kill(pb::KillContainerRequest {
                        key: key.clone(),
                        signal,
                    })
                    .await?;
                    output::println(&key)
                }
            })
            .await
        }
        ContainerCommand::Pause(a) => {
            each(a.containers, |key| {
                let mut c = client.clone();
                async move {
                    c.pause(pb::ContainerKey { key: key.clone() }).await?;
                    output::println(&key)
                }
            })
            .await
        }
        ContainerCommand::Unpause(a) => {
            each(a.containers, |key| {
                let mut c = client.clone();
                async move {
                    c.unpause(pb::ContainerKey { key: key.clone() }).await?;
                    output::println(&key)
                }
            })
            .await
        }
        ContainerCommand::Rm(a) => {
            let force = a.force;
            each(a.containers, |key| {
                let mut c = client.clone();
                async move {
                    c.remove(pb::RemoveContainerRequest {
                        key: key.clone(),
                        force,
                    })
                    .await?;
                    output::println(&key)
                }
            })
            .await
        }
        ContainerCommand::Prune(a) => {
            if !a.force
                && !crate::commands::image::confirm(
                    "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?",
                )
                .await?
            {
                return Ok(());
            }
            let ids = client
                .prune(pb::PruneContainersRequest {})
                .await?
                .into_inner()
                .ids;
            if !ids.is_empty() {
                output::println("Deleted Containers:")?;
                for id in &ids {
                    output::println(id)?;
                }
                output::println("")?;
            }
            output::println(&format!("Total reclaimed containers: {}", ids.len()))
        }
    }
}

/// Runs `op` on every key, reporting failures as Docker does (all but the last on stderr).
async fn each<F, Fut>(keys: Vec<String>, op: F) -> Result<(), CliError>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<(), CliError>>,
{
    let mut errors = Vec::new();
    for key in keys {
        if let Err(e) = op(key).await {
            errors.push(e);
        }
    }
    finish(errors)
}

async fn create(
    client: &mut ContainersClient<Channel>,
    spec: &RunSpec,
    start: bool,
    foreground: bool,
) -> Result<pb::ContainerReply, CliError> {
    let spec_json = serde_json::to_string(spec)?;
    Ok(client
        .create(pb::CreateContainerRequest {
            spec_json,
            start,
            foreground,
        })
        .await?
        .into_inner())
}

async fn run_container(
    client: &mut ContainersClient<Channel>,
    a: &ContainerRunArgs,
) -> Result<(), CliError> {
    let spec = run_spec(a)?;
    let reply = create(client, &spec, true, a.rm && !a.detach).await?;
    if a.detach {
        return output::println(&reply.id);
    }
    if a.interactive || a.tty {
        let start = pb::ExecStart {
            container: reply.id.clone(),
            tty: a.tty,
            interactive: a.interactive,
            ..pb::ExecStart::default()
        };
        // The exit code comes from the wait below, which also removes an --rm container.
        if let Err(e) = session::run(client, Call::Attach, start).await {
            if a.rm {
                let _ = client
                    .remove(pb::RemoveContainerRequest {
                        key: reply.id.clone(),
                        force: true,
                    })
                    .await;
            }
            return Err(e);
        }
    } else {
        stream_logs(client, &reply.id, true, -1, false).await?;
    }
    let exit = client
        .wait(pb::WaitContainerRequest {
            key: reply.id.clone(),
            remove: a.rm,
        })
        .await?
        .into_inner();
    if exit.exit_code == 0 {
        Ok(())
    } else {
        Err(CliError::ExitCode(exit.exit_code))
    }
}

async fn exec(
    client: &mut ContainersClient<Channel>,
    a: &ContainerExecArgs,
) -> Result<(), CliError> {
    let start = pb::ExecStart {
        container: a.container.clone(),
        args: a.command.clone(),
        env: a.env.clone(),
        user: a.user.clone().unwrap_or_default(),
        workdir: a.workdir.clone().unwrap_or_default(),
        tty: a.tty,
        interactive: a.interactive,
        size: None,
    };
    match session::run(client, Call::Exec, start).await? {
        Some(0) => Ok(()),
        Some(code) => Err(CliError::ExitCode(code)),
        None => Err(CliError::from(tonic::Status::unknown(format!(
            "the exec in container {} ended without an exit code",
            a.container
        )))),
    }
}

async fn stream_logs(
    client: &mut ContainersClient<Channel>,
    key: &str,
    follow: bool,
    tail: i64,
    timestamps: bool,
) -> Result<(), CliError> {
    let mut stream = client
        .logs(pb::ContainerLogsRequest {
            key: key.to_owned(),
            follow,
            tail,
        })
        .await?
        .into_inner();
    while let Some(entry) = stream.message().await? {
        let prefix = if timestamps {
            format!("{} ", entry.time)
        } else {
            String::new()
        };
        if entry.stream == 2 {
            let mut err = std::io::stderr().lock();
            err.write_all(prefix.as_bytes())?;
            err.write_all(&entry.data)?;
            err.flush()?;
        } else {
            let mut out = std::io::stdout().lock();
            out.write_all(prefix.as_bytes())?;
            out.write_all(&entry.data)?;
            out.flush()?;
        }
    }
    Ok(())
}

async fn logs(
    client: &mut ContainersClient<Channel>,
    a: &ContainerLogsArgs,
) -> Result<(), CliError> {
    let tail = if a.tail == "all" {
        -1
    } else {
        a.tail.parse::<i64>().map_err(|_| {
            CliError::Usage(format!("invalid --tail {:?}: a number or \"all\"", a.tail))
        })?
    };
    stream_logs(client, &a.container, a.follow, tail, a.timestamps).await
}

async fn ls(client: &mut ContainersClient<Channel>, a: &ContainerLsArgs) -> Result<(), CliError> {
    let containers = client
        .list(pb::ListContainersRequest { all: a.all })
        .await?
        .into_inner()
        .containers;
    let now = output::now_nanos();
    let mut listing = Listing::new(&LS_COLUMNS);
    for c in containers {
        let command = if a.no_trunc || c.command.chars().count() <= 20 {
            format!("\"{}\"", c.command)
        } else {
            format!("\"{}…\"", c.command.chars().take(19).collect::<String>())
        };
        let created = format!(
            "{} ago",
            title_case(&output::human_duration(
                now.saturating_sub(c.created_ms.saturating_mul(1_000_000))
            ))
        );
        listing.rows.push(vec![
            if a.no_trunc {
                c.id.clone()
            } else {
                short_id(&c.id)
            },
            c.image,
            command,
            created,
            c.status,
            c.name,
        ]);
    }
    if a.quiet {
        let mut ids = Listing::new(&["CONTAINER ID"]);
        ids.rows = listing.rows.iter().map(|r| vec![r[0].clone()]).collect();
        return ids.print(ListStyle::Quiet);
    }
    listing.print(ListStyle::from_flags(false, a.format))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_cli::parse;

    fn run_args(args: &[&str]) -> ContainerRunArgs {
        match parse(args) {
            Ok(crate::Command::Container(c)) => match *c {
                ContainerCommand::Run(a) => a,
                other => panic!("not a container run: {other:?}"),
            },
            other => panic!("not a container run: {other:?}"),
        }
    }

    #[test]
    fn run_flags_make_the_spec() {
        let a = run_args(&[
            "container",
            "run",
            "-d",
            "--rm",
            "--name",
            "web",
            "-e",
            "A=1",
            "-m",
            "32m",
            "--cpus",
            "0.5",
            "--pids-limit",
            "10",
            "-v",
            "/srv:/srv:ro",
            "--tmpfs",
            "/run",
            "-w",
            "/app",
            "-u",
            "1000:1000",
            "--hostname",
            "h",
            "--entrypoint",
            "sh",
            "busybox",
            "-c",
            "echo hi",
        ]);
        let s = run_spec(&a).unwrap();
        assert_eq!(s.name, "web");
        assert_eq!(s.memory_bytes, 32 << 20);
        assert_eq!(s.nano_cpus, 500_000_000);
        assert_eq!(s.pids_limit, 10);
        assert_eq!(s.entrypoint, Some(vec!["sh".to_owned()]));
        assert_eq!(s.cmd, vec!["-c", "echo hi"]);
        assert!(s.auto_remove);
        assert_eq!(s.volumes, vec!["/srv:/srv:ro"]);
    }

    #[test]
    fn health_flags_make_the_config() {
        let a = run_args(&[
            "container",
            "run",
            "--health-cmd",
            "test -f /tmp/ok",
            "--health-interval",
            "200ms",
            "--health-retries",
            "2",
            "busybox",
        ]);
        let h = run_spec(&a).unwrap().healthcheck.expect("a health check");
        assert_eq!(h.test, vec!["CMD-SHELL", "test -f /tmp/ok"]);
        assert_eq!(h.interval, Some(std::time::Duration::from_millis(200)));
        assert_eq!(h.timeout, None);
        assert_eq!(h.retries, 2);
        // Nothing given: the image's.
        let a = run_args(&["container", "run", "busybox"]);
        assert_eq!(run_spec(&a).unwrap().healthcheck, None);
        // Disabled.
        let a = run_args(&["container", "run", "--no-healthcheck", "busybox"]);
        assert_eq!(
            run_spec(&a).unwrap().healthcheck,
            Some(HealthConfig::none())
        );
        // Conflicts name the flags.
        let a = run_args(&[
            "container",
            "run",
            "--no-healthcheck",
            "--health-cmd",
            "true",
            "--health-retries",
            "1",
            "busybox",
        ]);
        let e = run_spec(&a).unwrap_err().to_string();
        assert!(
            e.contains("--no-healthcheck")
                && e.contains("--health-cmd")
                && e.contains("--health-retries"),
            "{e}"
        );
        let a = run_args(&["container", "run", "--health-interval", "soon", "busybox"]);
        let e = run_spec(&a).unwrap_err().to_string();
        assert!(e.contains("--health-interval"), "{e}");
        let a = run_args(&["container", "run", "--health-cmd", "", "busybox"]);
        let e = run_spec(&a).unwrap_err().to_string();
        assert!(e.contains("--health-cmd"), "{e}");
    }

    #[test]
    fn exec_flags_parse() {
        let a = match parse(&[
            "container",
            "exec",
            "-i",
            "-t",
            "-e",
            "A=1",
            "-u",
            "nobody",
            "-w",
            "/tmp",
            "web",
            "sh",
            "-c",
            "exit 3",
        ]) {
            Ok(crate::Command::Container(c)) => match *c {
                ContainerCommand::Exec(a) => a,
                other => panic!("not a container exec: {other:?}"),
            },
            other => panic!("not a container exec: {other:?}"),
        };
        assert!(a.interactive && a.tty);
        assert_eq!(a.env, vec!["A=1"]);
        assert_eq!(a.user.as_deref(), Some("nobody"));
        assert_eq!(a.workdir.as_deref(), Some("/tmp"));
        assert_eq!(a.container, "web");
        assert_eq!(a.command, vec!["sh", "-c", "exit 3"]);
        assert!(
            parse(&["container", "exec", "web"]).is_err(),
            "a command is required"
        );
    }

    #[test]
    fn bad_flags_are_named() {
        let a = run_args(&["container", "run", "-v", "x:rel", "busybox"]);
        let e = run_spec(&a).unwrap_err().to_string();
        assert!(e.contains("--volume"), "{e}");
        let a = run_args(&["container", "run", "-m", "lots", "busybox"]);
        let e = run_spec(&a).unwrap_err().to_string();
        assert!(e.contains("--memory"), "{e}");
    }
}
