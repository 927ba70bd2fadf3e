//! `flotilla-bench`: benchmarks as programs. Each subcommand prints our figure beside an anchor
//! measured in the same run, and their ratio. Nothing here asserts on time.

mod container_start;
mod raft_commit;
mod swarm_services;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "flotilla-bench",
    version,
    about = "flotilla benchmarks, side by side with their anchors"
)]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Debug, Subcommand)]
enum Bench {
    /// Committed writes per second and commit latency of a 3-manager Raft group on loopback,
    /// fsync on, against this disk's raw fsync rate.
    RaftCommit(raft_commit::Args),
    /// Container start (spawn to running, spawn to exit of /bin/true) beside `runc run` on the
    /// same rootfs, and the shim's memory. Needs root.
    ContainerStart(container_start::Args),
    /// One-node swarm, flotilla beside Docker Swarm in the same run: `service create` of
    /// N = 1/10/50 replicas to all running, and scale 10 → 50. Needs root and Debian's docker.io.
    SwarmServices(swarm_services::Args),
}

/// The `flotilla` binary the benchmarks run: `explicit`, or `flotilla` next to this program.
fn flotilla_binary(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    let flotilla = match explicit {
        Some(p) => p.to_path_buf(),
        None => std::env::current_exe()
            .context("cannot find this program's own path")?
            .with_file_name("flotilla"),
    };
    if !flotilla.is_file() {
        bail!(
            "{} is not a file: build it (cargo build --release -p flotilla-daemon) or pass --flotilla PATH",
            flotilla.display()
        );
    }
    Ok(flotilla)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("flotilla-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let res = match cli.bench {
        Bench::RaftCommit(args) => rt.block_on(raft_commit::run(args)),
        Bench::ContainerStart(args) => container_start::run(args),
        Bench::SwarmServices(args) => swarm_services::run(args),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flotilla-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
