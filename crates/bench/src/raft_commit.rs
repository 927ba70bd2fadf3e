//! `raft-commit`: a 3-manager group in this process, each member on its own loopback port with
//! its own redb log (fsync on every commit), driven by N concurrent writers through the
//! leader's `Store`. Each write is a read-modify-write of the writer's own service object, so
//! no two writers conflict. Reports committed writes/s and p50/p99 commit latency.
//!
//! Anchor, measured in the same run: the raw rate of `write` + `fdatasync` of 512-byte records
//! on the same file system, one writer — what one durable commit at a time can reach here.

use anyhow::Context;
use flotilla_raft::RaftConfig;
use flotilla_raft::local_group::LocalGroup;
use flotilla_state::conformance::service;
use flotilla_state::{ReadTx, Store, StoreError};
use std::io::Write;
use std::time::{Duration, Instant};

/// Flags of `raft-commit`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Seconds of load per concurrency level.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Concurrency levels.
    #[arg(long, value_delimiter = ',', default_value = "1,16,256")]
    clients: Vec<usize>,
    /// Directory for the logs (default: a temporary directory under /var/tmp, on disk).
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
}

struct Outcome {
    writes: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Raw single-writer fdatasync rate on `dir`, records per second.
fn fsync_anchor(dir: &std::path::Path, seconds: u64) -> anyhow::Result<f64> {
    let path = dir.join("fsync-anchor.bin");
    let mut f = std::fs::File::create(&path).context("creating the anchor file")?;
    let record = [0x5au8; 512];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(seconds) {
        f.write_all(&record)?;
        f.sync_data()?;
        n += 1;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    drop(f);
    let _ = std::fs::remove_file(&path);
    Ok(rate)
}

async fn load(group: &LocalGroup, clients: usize, seconds: u64) -> anyhow::Result<Outcome> {
    let leader = group.leader_index().await?;
    let store = group.store(leader).context("leader is running")?;
    // One object per writer.
    for c in 0..clients {
        let (id, name) = (
            format!("bench-{clients}-{c}"),
            format!("bench-{clients}-{c}"),
        );
        store
            .update(move |tx| tx.create(service(&id, &name)))
            .await?;
    }
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let mut handles = Vec::new();
    for c in 0..clients {
        let store = store.clone();
        let id = format!("bench-{clients}-{c}");
        handles.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut counter = 0u64;
            while Instant::now() < deadline {
                let id = id.clone();
                counter += 1;
                let t0 = Instant::now();
                let res = store
                    .update(move |tx| {
                        let mut s = tx.service(&id).cloned().ok_or(StoreError::NotFound {
                            kind: flotilla_model::Kind::Service,
                            id: id.clone(),
                        })?;
                        s.spec.labels.insert("n".into(), counter.to_string());
                        tx.update(s)
                    })
                    .await;
                match res {
                    Ok(_) => lat.push(t0.elapsed()),
                    Err(StoreError::Conflict { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(lat)
        }));
    }
    let mut latencies = Vec::new();
    for h in handles {
        latencies.extend(h.await.context("writer task")??);
    }
    let elapsed = start.elapsed();
    latencies.sort();
    Ok(Outcome {
        writes: latencies.len(),
        elapsed,
        latencies,
    })
}

/// Runs the benchmark and prints the table.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let base = args
        .dir
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from("/var/tmp"));
    let root = tempfile::Builder::new()
        .prefix("flotilla-bench-")
        .tempdir_in(&base)
        .context("creating the bench directory")?;
    println!(
        "raft-commit: 3 managers on loopback, redb log with fsync per commit, {} s per level",
        args.seconds
    );
    let anchor = fsync_anchor(root.path(), args.seconds.min(3))?;
    println!(
        "anchor: raw 512-byte write+fdatasync, one writer, same file system: {anchor:.0} records/s"
    );
    let group = LocalGroup::start(root.path(), 3, RaftConfig::default()).await?;
    println!(
        "{:>8} {:>12} {:>12} {:>12} {:>18}",
        "clients", "writes/s", "p50", "p99", "ratio to anchor"
    );
    for &clients in &args.clients {
        let o = load(&group, clients, args.seconds).await?;
        let rate = o.writes as f64 / o.elapsed.as_secs_f64();
        println!(
            "{:>8} {:>12.0} {:>12.2?} {:>12.2?} {:>17.2}x",
            clients,
            rate,
            percentile(&o.latencies, 0.50),
            percentile(&o.latencies, 0.99),
            rate / anchor
        );
    }
    group.shutdown().await;
    Ok(())
}
