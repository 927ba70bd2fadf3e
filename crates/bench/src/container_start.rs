//! `container-start`: how fast flotilla's runtime starts a container, beside `runc run` on the
//! same rootfs, in the same run.
//!
//! Two figures per runtime, each over `--runs` iterations on a busybox rootfs built from the
//! host's busybox-static: spawn → command running (ours: `create_and_start` returns once the
//! command was exec'd; runc: `runc run -d` returns once its process started), and spawn → exit
//! of `/bin/true` (ours: start, wait for the exit status, delete; runc: `runc run`, which also
//! deletes). Also the memory of one shim. The helper and shim are the `flotilla` binary itself,
//! re-executed with its hidden `__container-init` subcommand, exactly as the daemon starts them.

use anyhow::{Context, bail};
use flotilla_container::{ContainerConfig, Rootfs, Runtime};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Flags of `container-start`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Iterations per measurement.
    #[arg(long, default_value_t = 50)]
    runs: usize,
    /// The runc binary to compare with.
    #[arg(long, default_value = "runc")]
    runc: String,
    /// The `flotilla` binary, which the runtime starts as each container's helper and shim, as
    /// the daemon does (default: `flotilla` next to this program).
    #[arg(long, value_name = "PATH")]
    flotilla: Option<PathBuf>,
}

fn rootfs(dir: &Path) -> anyhow::Result<()> {
    let busybox = Path::new("/bin/busybox");
    if !busybox.exists() {
        bail!("/bin/busybox is missing: install Debian's busybox-static");
    }
    std::fs::create_dir_all(dir.join("bin"))?;
    std::fs::copy(busybox, dir.join("bin/busybox"))?;
    for applet in ["sh", "true", "sleep", "echo"] {
        symlink("busybox", dir.join("bin").join(applet))?;
    }
    for d in ["proc", "dev", "sys", "tmp", "etc"] {
        std::fs::create_dir_all(dir.join(d))?;
    }
    std::fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")?;
    Ok(())
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(((sorted.len() - 1) as f64) * p).round() as usize]
}

fn report(label: &str, mut ours: Vec<Duration>, mut theirs: Vec<Duration>) {
    ours.sort();
    theirs.sort();
    let (o50, o99, t50, t99) = (
        pct(&ours, 0.5),
        pct(&ours, 0.99),
        pct(&theirs, 0.5),
        pct(&theirs, 0.99),
    );
    println!(
        "{label:<28} flotilla p50 {o50:>9.2?} p99 {o99:>9.2?} | runc p50 {t50:>9.2?} p99 {t99:>9.2?} | ratio p50 {:.2}x",
        o50.as_secs_f64() / t50.as_secs_f64().max(1e-9)
    );
}

fn runc_bundle(dir: &Path, root: &Path, args: &[&str], runc: &str) -> anyhow::Result<()> {
    let st = Command::new(runc)
        .args(["spec", "--bundle"])
        .arg(dir)
        .status()
        .context("running runc spec")?;
    if !st.success() {
        bail!("runc spec failed");
    }
    let path = dir.join("config.json");
    let mut spec: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)?;
    spec["process"]["terminal"] = false.into();
    spec["process"]["args"] = serde_json::json!(args);
    spec["root"]["path"] = root.display().to_string().into();
    std::fs::write(&path, serde_json::to_vec_pretty(&spec)?)?;
    Ok(())
}

fn runc_time(runc: &str, bundle: &Path, id: &str, detach: bool) -> anyhow::Result<Duration> {
    let t0 = Instant::now();
    let mut cmd = Command::new(runc);
    cmd.arg("run");
    if detach {
        cmd.arg("-d");
    }
    // The container inherits runc's stdio: pipes would keep `output()` waiting for a detached
    // container's whole life, so give it nothing to hold.
    let status = cmd
        .args(["--bundle"])
        .arg(bundle)
        .arg(id)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .context("running runc run")?;
    let took = t0.elapsed();
    if !status.success() {
        bail!("runc run {id} failed ({status})");
    }
    Ok(took)
}

fn runc_cleanup(runc: &str, id: &str) {
    let _ = Command::new(runc).args(["kill", id, "KILL"]).output();
    for _ in 0..100 {
        let out = Command::new(runc).args(["delete", "--force", id]).output();
        if out.is_ok_and(|o| o.status.success()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// One shim's memory, in KiB: what `ps` shows (VmRSS), split into its anonymous pages (the
/// shim's own — heap, stack, the binary's relocated read-only data: what each further container
/// costs) and its file-backed pages (the binary's code and the libraries: page cache shared with
/// the daemon and every other shim), and its proportional share (Pss). Private_Dirty is not used:
/// it also counts page cache not yet written back, as a freshly built binary's is.
#[derive(Debug, Clone, Copy)]
struct ShimMemory {
    rss: u64,
    rss_anon: u64,
    rss_file: u64,
    pss: u64,
}

/// The `key:` value (KiB) of a `/proc` file in `status` format.
fn kib_field(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

fn shim_memory(pid: i32) -> Option<ShimMemory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    Some(ShimMemory {
        rss: kib_field(&status, "VmRSS:")?,
        rss_anon: kib_field(&status, "RssAnon:")?,
        rss_file: kib_field(&status, "RssFile:")?,
        pss: kib_field(&rollup, "Pss:")?,
    })
}

/// Runs the benchmark.
pub fn run(args: Args) -> anyhow::Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("container-start needs root (namespaces, cgroups, mounts)");
    }
    let tmp = tempfile::Builder::new()
        .prefix("flotilla-bench-")
        .tempdir_in("/var/tmp")?;
    let root = tmp.path().join("rootfs");
    rootfs(&root)?;
    let exe = crate::flotilla_binary(args.flotilla.as_deref())?;
    let cgroup_root = format!("flotilla-bench-{}", std::process::id());
    let rt = Runtime::new(
        tmp.path().join("state"),
        format!("{cgroup_root}/containers"),
        exe,
        flotilla_container::HELPER_SUBCOMMAND,
    )?;
    let result = measure(&args, &rt, &root, tmp.path());
    // The containers' cgroups are gone; remove the parents this run created.
    if let Err(e) = flotilla_cgroups::remove_tree(&cgroup_root) {
        eprintln!("flotilla-bench: could not remove cgroup {cgroup_root}: {e}");
    }
    result
}

fn measure(args: &Args, rt: &Runtime, root: &Path, tmp: &Path) -> anyhow::Result<()> {
    let rootfs = || Rootfs::Directory {
        path: root.to_owned(),
    };
    println!(
        "container-start: busybox rootfs, {} runs each; runc: {}",
        args.runs, args.runc
    );

    // Spawn -> exit of /bin/true.
    let (mut ours_exit, mut theirs_exit) = (Vec::new(), Vec::new());
    let bundle_true = tmp.join("bundle-true");
    std::fs::create_dir_all(&bundle_true)?;
    runc_bundle(&bundle_true, root, &["/bin/true"], &args.runc)?;
    for i in 0..args.runs {
        let t0 = Instant::now();
        let mut c = rt.create_and_start(ContainerConfig::new(
            format!("true{i}"),
            rootfs(),
            vec!["/bin/true".into()],
        ))?;
        let status = c
            .wait_exit(Duration::from_secs(10))?
            .context("/bin/true did not exit within 10 s")?;
        c.delete()?;
        ours_exit.push(t0.elapsed());
        if status.code != Some(0) {
            bail!("/bin/true exited with {status:?}");
        }
        theirs_exit.push(runc_time(
            &args.runc,
            &bundle_true,
            &format!("fb-true-{i}"),
            false,
        )?);
        runc_cleanup(&args.runc, &format!("fb-true-{i}"));
    }

    // Spawn -> running (a long sleep, stopped afterwards).
    let (mut ours_run, mut theirs_run) = (Vec::new(), Vec::new());
    let bundle_sleep = tmp.join("bundle-sleep");
    std::fs::create_dir_all(&bundle_sleep)?;
    runc_bundle(&bundle_sleep, root, &["/bin/sleep", "1000"], &args.runc)?;
    let mut rss = None;
    for i in 0..args.runs {
        let t0 = Instant::now();
        let c = rt.create_and_start(ContainerConfig::new(
            format!("sleep{i}"),
            rootfs(),
            vec!["/bin/sleep".into(), "1000".into()],
        ))?;
        ours_run.push(t0.elapsed());
        if rss.is_none() {
            rss = c.shim_pid().and_then(shim_memory);
        }
        c.delete()?;
        let id = format!("fb-sleep-{i}");
        theirs_run.push(runc_time(&args.runc, &bundle_sleep, &id, true)?);
        runc_cleanup(&args.runc, &id);
    }
    report("spawn -> /bin/true exited", ours_exit, theirs_exit);
    report("spawn -> command running", ours_run, theirs_run);
    match rss {
        Some(m) => println!(
            "shim memory (one shim with a running container): VmRSS {} KiB = anonymous {} KiB \
             (its own: the cost per container) + file-backed {} KiB (shared page cache); Pss {} KiB",
            m.rss, m.rss_anon, m.rss_file, m.pss
        ),
        None => println!("shim resident memory: not measured (no shim pid)"),
    }
    Ok(())
}
