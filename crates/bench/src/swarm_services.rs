//! `swarm-services`: how fast a one-node swarm brings a replicated service to running, flotilla
//! beside Docker Swarm (Debian's `docker.io`), by the same procedure, in the same run.
//!
//! Both nodes run side by side for the whole run, each in a network namespace of its own with
//! only `lo` up, advertising 127.0.0.1:
//!
//! * flotilla: `nsenter --net=/run/netns/flt-bench-<id> -- flotilla daemon …` with a scratch data
//!   directory and `--cgroup-parent flt-bench-<id>`, a `bb:latest` image imported from a rootfs
//!   of the host's busybox-static;
//! * Docker Swarm: the anchor harness's own `lib.sh` (`netns_add swb-s0`, `start_node s0 swb-s0
//!   0`, `ensure_image s0` of the tarball its `build-image.sh` makes), in a scratch `SWB_RUN`.
//!
//! Every repetition measures, on each system in turn (the order alternates between repetitions,
//! so that both share the machine's noise): for each size N, `service create -d --replicas N
//! --stop-signal SIGKILL bb:latest httpd -f -p 8080` → N tasks whose current state is Running
//! (polling `service ps` every `--poll-ms`, 20 ms by default — the anchor's harness polls every
//! 100 ms, too coarse for the N = 1 goal), then `service rm` and
//! a bounded wait until its containers are gone; and `service scale -d S=50` of a service
//! running 10 tasks → 50 Running. The clock starts just before the CLI command, so the CLI's own
//! start is included on both sides. It prints the medians, the ratio ours/Docker's, and whether
//! DESIGN §8's goal (≤ 0.1× Swarm) is met.
//!
//! Everything is removed at the end and on any error or SIGINT/SIGTERM: the flotilla daemon
//! (SIGTERM by its PID, then SIGKILL), its containers' cgroups, mounts under its directory and its
//! namespace; the Docker node through the harness's `cleanup.sh`.

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Time limit for one `ip` or `tar` command.
const TOOL_TIMEOUT: Duration = Duration::from_secs(30);
/// Time limit for one CLI command that changes something (create, rm, scale, init, import).
const CLI_TIMEOUT: Duration = Duration::from_secs(60);
/// Time limit for one poll (`service ps`, `container ls`, `node ls`).
const POLL_CLI_TIMEOUT: Duration = Duration::from_secs(30);
/// Time limit for one `info` probe while the flotilla daemon starts.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the flotilla daemon gets to answer `info`.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the flotilla daemon gets to exit after SIGTERM before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a node gets to report itself Ready after `swarm init`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause after both nodes are Ready, before the first measurement (the anchor's harness sleeps
/// 3 s after `swarm init` too).
const SETTLE: Duration = Duration::from_secs(3);
/// How long a measured service gets to reach its count of Running tasks.
const RUNNING_TIMEOUT: Duration = Duration::from_secs(180);
/// How long the 10 tasks a scale measurement starts from get to be Running.
const PRE_SCALE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a removed service's containers get to disappear.
const GONE_TIMEOUT: Duration = Duration::from_secs(120);
/// Time limit for the harness's `build-image.sh`.
const IMAGE_BUILD_TIMEOUT: Duration = Duration::from_secs(120);
/// Time limit for bringing the Docker node up (dockerd ≤ 30 s by `start_node`, import, init).
const DOCKER_SETUP_TIMEOUT: Duration = Duration::from_secs(180);
/// Time limit for the harness's `cleanup.sh` (its `stop_node` alone may wait 40 s).
const DOCKER_CLEANUP_TIMEOUT: Duration = Duration::from_secs(300);
/// Lines of a log or of a script's stderr quoted in errors.
const TAIL_LINES: usize = 40;

/// The host's busybox, from which both images are built.
const BUSYBOX: &str = "/bin/busybox";
/// The image both systems run.
const IMAGE: &str = "bb:latest";
/// The service's command (busybox httpd as PID 1 ignores SIGTERM, hence `--stop-signal SIGKILL`).
const SERVICE_CMD: [&str; 4] = ["httpd", "-f", "-p", "8080"];
/// Replicas a scale measurement starts from, and scales to.
const SCALE_FROM: usize = 10;
/// See [`SCALE_FROM`].
const SCALE_TO: usize = 50;
/// DESIGN §8: our figure should be at most this fraction of Docker Swarm's.
const GOAL_RATIO: f64 = 0.1;

/// The Docker node's network namespace, fixed by the harness (`swb-s0`).
const DOCKER_NETNS: &str = "swb-s0";
/// Brings the Docker node up with the harness's own functions (see `lib.sh`).
const DOCKER_SETUP: &str = r#"set -e
. "$SWB_HOME/lib.sh"
netns_add swb-s0
start_node s0 swb-s0 0
ensure_image s0
dk s0 swarm init --advertise-addr 127.0.0.1 >/dev/null
"#;

/// Flags of `swarm-services`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The `flotilla` binary (default: `flotilla` next to this program).
    #[arg(long, value_name = "PATH")]
    flotilla: Option<PathBuf>,
    /// Docker's daemon (Debian's docker.io).
    #[arg(long, value_name = "PATH", default_value = "/usr/sbin/dockerd")]
    dockerd: PathBuf,
    /// Docker's CLI.
    #[arg(long, value_name = "PATH", default_value = "/usr/bin/docker")]
    docker: PathBuf,
    /// The Docker Swarm anchor harness (its lib.sh, build-image.sh, cleanup.sh are used).
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/work/shared/anchors/docker-swarm"
    )]
    anchor_dir: PathBuf,
    /// Repetitions of every measurement on each system.
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Interval between two polls of `service ps`, in milliseconds. The anchor harness polls
    /// every 100 ms; the default is finer because the goal for N = 1 (a tenth of Docker's
    /// ~0.5 s) is shorter than 100 ms and could not be resolved. Both systems are polled alike.
    #[arg(long, default_value_t = 20)]
    poll_ms: u64,
    /// Replica counts of the `service create` measurements.
    #[arg(long, value_delimiter = ',', default_value = "1,10,50")]
    sizes: Vec<usize>,
    /// Measure flotilla only (no Docker node; the ratio column shows n/a).
    #[arg(long)]
    skip_docker: bool,
}

/// Runs the benchmark.
pub fn run(args: Args) -> anyhow::Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("swarm-services needs root (network namespaces, cgroups, mounts, dockerd)");
    }
    if args.reps == 0 {
        bail!("--reps must be at least 1");
    }
    if args.sizes.is_empty() || args.sizes.contains(&0) {
        bail!("--sizes needs replica counts of at least 1, e.g. 1,10,50");
    }
    let poll = Duration::from_millis(args.poll_ms);
    let flotilla = crate::flotilla_binary(args.flotilla.as_deref())?;
    if !Path::new(BUSYBOX).is_file() {
        bail!("{BUSYBOX} is missing: install Debian's busybox-static");
    }
    let tools = Tools::find()?;
    let docker_paths = if args.skip_docker {
        None
    } else {
        Some(DockerPaths::check(&args)?)
    };
    watch_signals()?;

    println!(
        "swarm-services: one-node swarm each, {} rep(s), create N={}, scale {SCALE_FROM}→{SCALE_TO}, poll every {} ms",
        args.reps,
        args.sizes
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join("/"),
        args.poll_ms
    );
    println!("flotilla: {}", flotilla.display());
    if let Some(v) = version_of(&flotilla) {
        println!("  {v}");
    }
    if let Some(p) = &docker_paths {
        println!("dockerd: {}", p.dockerd.display());
        if let Some(v) = version_of(&p.dockerd) {
            println!("  {v}");
        }
    }
    println!("loadavg at start: {}", loadavg());

    let mut series: Vec<Series> = args
        .sizes
        .iter()
        .map(|&n| Series::new(Measure::Create(n)))
        .chain(std::iter::once(Series::new(Measure::Scale)))
        .collect();

    // Declared in this order so that the Docker node is removed first, then flotilla's.
    let mut flt = FlotillaNode::start(&flotilla, &tools)?;
    let mut docker = match docker_paths {
        Some(paths) => Some(DockerNode::start(paths, &tools, poll)?),
        None => None,
    };
    wait_node_ready(&mut flt)?;
    if let Some(d) = docker.as_mut() {
        wait_node_ready(d)?;
    }
    sleep_checked(SETTLE)?;

    let outcome = measure_all(&mut flt, docker.as_mut(), &mut series, args.reps, poll);
    print_table(&series, docker.is_some());
    println!("loadavg at end: {}", loadavg());
    if outcome.is_err() {
        eprintln!("flotilla-bench: the table above holds the samples taken before the failure");
    }
    outcome
}

// ------------------------------------------------------------------------------------------------
// Measurements

/// One line of the result table.
#[derive(Debug, Clone, Copy)]
enum Measure {
    /// `service create --replicas N` → N Running.
    Create(usize),
    /// `service scale` 10 → 50 Running.
    Scale,
}

impl Measure {
    fn label(self) -> String {
        match self {
            Measure::Create(n) => format!("create N={n}"),
            Measure::Scale => format!("scale {SCALE_FROM}→{SCALE_TO}"),
        }
    }

    /// Docker Swarm's figure as DESIGN §8 records it (seconds), for reference.
    fn recorded(self) -> Option<f64> {
        match self {
            Measure::Create(1) => Some(0.47),
            Measure::Create(10) => Some(1.48),
            Measure::Create(50) => Some(5.81),
            Measure::Create(_) => None,
            Measure::Scale => Some(4.7),
        }
    }
}

/// The samples of one measure; `None` is a failed sample (timeout or refused command).
struct Series {
    measure: Measure,
    ours: Vec<Option<Duration>>,
    theirs: Vec<Option<Duration>>,
}

impl Series {
    fn new(measure: Measure) -> Self {
        Series {
            measure,
            ours: Vec::new(),
            theirs: Vec::new(),
        }
    }
}

/// What the measurements need from a one-node swarm: its CLI, seen the same way for both.
trait Swarm {
    /// "flotilla" or "docker", for messages.
    fn label(&self) -> &'static str;
    /// `service create -d --name SVC --replicas N --stop-signal SIGKILL bb:latest httpd …`.
    fn create(&self, svc: &str, replicas: usize) -> anyhow::Result<()>;
    /// `service scale -d SVC=N`.
    fn scale(&self, svc: &str, replicas: usize) -> anyhow::Result<()>;
    /// `service rm SVC`.
    fn remove(&self, svc: &str) -> anyhow::Result<()>;
    /// Tasks of SVC with desired state running whose current state is Running.
    fn running(&self, svc: &str) -> anyhow::Result<usize>;
    /// Containers of SVC that still exist, in any state.
    fn containers(&self, svc: &str) -> anyhow::Result<usize>;
    /// Whether the node reports itself Ready.
    fn node_ready(&self) -> anyhow::Result<bool>;
    /// Fails (quoting its log) if the node's daemon has exited.
    fn check_alive(&mut self) -> anyhow::Result<()>;
}

/// Every repetition of every measure, on both systems in alternating order.
fn measure_all(
    flt: &mut FlotillaNode,
    mut docker: Option<&mut DockerNode>,
    series: &mut [Series],
    reps: usize,
    poll: Duration,
) -> anyhow::Result<()> {
    for rep in 1..=reps {
        let docker_first = rep % 2 == 0;
        for s in series.iter_mut() {
            check_interrupted()?;
            let mut theirs = None;
            if docker_first && let Some(d) = docker.as_deref_mut() {
                theirs = Some(measure_one(d, s.measure, rep, poll)?);
            }
            let ours = measure_one(&mut *flt, s.measure, rep, poll)?;
            if !docker_first && let Some(d) = docker.as_deref_mut() {
                theirs = Some(measure_one(d, s.measure, rep, poll)?);
            }
            eprintln!(
                "flotilla-bench: rep {rep}/{reps} {:<12} flotilla {:>9}   docker {:>9}",
                s.measure.label(),
                sample_text(ours),
                theirs.map_or_else(|| "-".to_owned(), sample_text)
            );
            s.ours.push(ours);
            if let Some(t) = theirs {
                s.theirs.push(t);
            }
        }
    }
    Ok(())
}

fn sample_text(sample: Option<Duration>) -> String {
    sample.map_or_else(
        || "failed".to_owned(),
        |d| format!("{:.3} s", d.as_secs_f64()),
    )
}

/// One sample of `measure` on `sys`. `Err` only for what ends the run (daemon gone, interrupt).
fn measure_one(
    sys: &mut dyn Swarm,
    measure: Measure,
    rep: usize,
    poll: Duration,
) -> anyhow::Result<Option<Duration>> {
    match measure {
        Measure::Create(n) => measure_create(sys, &format!("c{n}-{rep}"), n, poll),
        Measure::Scale => measure_scale(sys, &format!("sc-{rep}"), poll),
    }
}

/// Clock → `service create` → N Running; then `service rm` → containers gone (not timed).
fn measure_create(
    sys: &mut dyn Swarm,
    svc: &str,
    n: usize,
    poll: Duration,
) -> anyhow::Result<Option<Duration>> {
    let t0 = Instant::now();
    let sample = match sys.create(svc, n) {
        Err(e) => {
            sys.check_alive()?;
            note(sys, &format!("service create {svc} failed: {e:#}"));
            None
        }
        Ok(()) => wait_until(sys, svc, Count::Running, n, t0, RUNNING_TIMEOUT, poll)?,
    };
    remove_service(sys, svc, poll)?;
    Ok(sample)
}

/// `service create` of 10 → 10 Running (not timed); clock → `service scale -d S=50` → 50 Running;
/// then `service rm` → containers gone (not timed).
fn measure_scale(
    sys: &mut dyn Swarm,
    svc: &str,
    poll: Duration,
) -> anyhow::Result<Option<Duration>> {
    let t0 = Instant::now();
    let sample = match sys.create(svc, SCALE_FROM) {
        Err(e) => {
            sys.check_alive()?;
            note(sys, &format!("service create {svc} failed: {e:#}"));
            None
        }
        Ok(()) => {
            match wait_until(
                sys,
                svc,
                Count::Running,
                SCALE_FROM,
                t0,
                PRE_SCALE_TIMEOUT,
                poll,
            )? {
                None => None,
                Some(_) => {
                    let t0 = Instant::now();
                    match sys.scale(svc, SCALE_TO) {
                        Err(e) => {
                            sys.check_alive()?;
                            note(
                                sys,
                                &format!("service scale {svc}={SCALE_TO} failed: {e:#}"),
                            );
                            None
                        }
                        Ok(()) => wait_until(
                            sys,
                            svc,
                            Count::Running,
                            SCALE_TO,
                            t0,
                            RUNNING_TIMEOUT,
                            poll,
                        )?,
                    }
                }
            }
        }
    };
    remove_service(sys, svc, poll)?;
    Ok(sample)
}

/// `service rm`, then a bounded wait until none of its containers is left.
fn remove_service(sys: &mut dyn Swarm, svc: &str, poll: Duration) -> anyhow::Result<()> {
    if let Err(e) = sys.remove(svc) {
        sys.check_alive()?;
        note(sys, &format!("service rm {svc} failed: {e:#}"));
    }
    wait_until(
        sys,
        svc,
        Count::Containers,
        0,
        Instant::now(),
        GONE_TIMEOUT,
        poll,
    )?;
    Ok(())
}

/// What [`wait_until`] counts.
#[derive(Debug, Clone, Copy)]
enum Count {
    /// Running tasks; done at `target` or more.
    Running,
    /// Containers left; done at `target` or fewer.
    Containers,
}

/// Polls `sys` every `poll` until the count reaches `target` (returns the time since `t0`), or
/// `timeout` passes (says so, returns `None`). A failed poll is retried; `Err` only if the daemon
/// is gone or the run was interrupted.
fn wait_until(
    sys: &mut dyn Swarm,
    svc: &str,
    what: Count,
    target: usize,
    t0: Instant,
    timeout: Duration,
    poll: Duration,
) -> anyhow::Result<Option<Duration>> {
    let deadline = Instant::now() + timeout;
    let mut seen: Option<usize> = None;
    loop {
        check_interrupted()?;
        let got = match what {
            Count::Running => sys.running(svc),
            Count::Containers => sys.containers(svc),
        };
        let poll_error = match got {
            Ok(n) => {
                let took = t0.elapsed();
                let done = match what {
                    Count::Running => n >= target,
                    Count::Containers => n <= target,
                };
                if done {
                    return Ok(Some(took));
                }
                seen = Some(n);
                None
            }
            Err(e) => {
                sys.check_alive()?;
                Some(format!("{e:#}"))
            }
        };
        if Instant::now() >= deadline {
            let seen = seen.map_or_else(|| "none".to_owned(), |n| n.to_string());
            let what = match what {
                Count::Running => format!("{seen}/{target} tasks Running"),
                Count::Containers => format!("{seen} containers still there"),
            };
            let error = poll_error.map_or_else(String::new, |e| format!("; last poll failed: {e}"));
            note(
                sys,
                &format!(
                    "{svc}: timed out after {timeout:?} with {what}{error} (counted as a failed sample)"
                ),
            );
            return Ok(None);
        }
        std::thread::sleep(poll);
    }
}

fn note(sys: &dyn Swarm, msg: &str) {
    eprintln!("flotilla-bench: {}: {msg}", sys.label());
}

/// Waits (≤ 30 s) until the node reports itself Ready.
fn wait_node_ready(sys: &mut dyn Swarm) -> anyhow::Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        check_interrupted()?;
        let last = match sys.node_ready() {
            Ok(true) => return Ok(()),
            Ok(false) => "not Ready".to_owned(),
            Err(e) => {
                sys.check_alive()?;
                format!("{e:#}")
            }
        };
        if Instant::now() >= deadline {
            bail!(
                "the {} node was not Ready {READY_TIMEOUT:?} after swarm init: {last}",
                sys.label()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

// ------------------------------------------------------------------------------------------------
// The report

/// Median, min and max of the successful samples (seconds), and how many there are.
struct Stats {
    median: f64,
    min: f64,
    max: f64,
    ok: usize,
}

fn stats(samples: &[Option<Duration>]) -> Option<Stats> {
    let mut xs: Vec<f64> = samples
        .iter()
        .flatten()
        .map(Duration::as_secs_f64)
        .collect();
    xs.sort_by(f64::total_cmp);
    let (&min, &max) = (xs.first()?, xs.last()?);
    let mid = xs.len() / 2;
    let median = if xs.len() % 2 == 1 {
        *xs.get(mid)?
    } else {
        (*xs.get(mid - 1)? + *xs.get(mid)?) / 2.0
    };
    Some(Stats {
        median,
        min,
        max,
        ok: xs.len(),
    })
}

fn stats_cell(samples: &[Option<Duration>]) -> String {
    match stats(samples) {
        None if samples.is_empty() => "-".to_owned(),
        None => format!("failed (0/{} ok)", samples.len()),
        Some(s) => {
            let mut cell = format!("{:.3} s ({:.3}–{:.3})", s.median, s.min, s.max);
            if s.ok < samples.len() {
                cell.push_str(&format!(" [{}/{} ok]", s.ok, samples.len()));
            }
            cell
        }
    }
}

fn print_table(series: &[Series], with_docker: bool) {
    let header = [
        "measure".to_owned(),
        "flotilla median (min–max)".to_owned(),
        "Docker Swarm median (min–max)".to_owned(),
        "ratio".to_owned(),
        "Swarm in DESIGN §8".to_owned(),
    ];
    let mut rows = vec![header];
    // (measure, ratio) for the goal line; `None` where there is no ratio.
    let mut ratios: Vec<(String, Option<f64>)> = Vec::new();
    for s in series {
        let ours = stats(&s.ours);
        let theirs = stats(&s.theirs);
        let ratio = match (&ours, &theirs) {
            (Some(o), Some(t)) if with_docker && t.median > 0.0 => Some(o.median / t.median),
            _ => None,
        };
        ratios.push((s.measure.label(), ratio));
        rows.push([
            s.measure.label(),
            stats_cell(&s.ours),
            if with_docker {
                stats_cell(&s.theirs)
            } else {
                "skipped".to_owned()
            },
            ratio.map_or_else(|| "n/a".to_owned(), |r| format!("{r:.3}×")),
            s.measure
                .recorded()
                .map_or_else(|| "-".to_owned(), |x| format!("{x:.2} s")),
        ]);
    }
    let mut widths = [0usize; 5];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    println!();
    for row in &rows {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                line.push_str(&" ".repeat(w - cell.chars().count() + 3));
            }
        }
        println!("{}", line.trim_end());
    }
    println!();
    println!(
        "times: from just before the CLI command to the poll of `service ps` that sees every task Running"
    );
    let goal = format!("goal (DESIGN §8): flotilla ≤ {GOAL_RATIO}× Docker Swarm on every measure");
    if !with_docker {
        println!("{goal}: not judged (--skip-docker)");
        return;
    }
    let missing: Vec<&str> = ratios
        .iter()
        .filter(|(_, r)| r.is_none())
        .map(|(m, _)| m.as_str())
        .collect();
    if !missing.is_empty() {
        println!(
            "{goal}: not judged, no ratio for {} (failed samples)",
            missing.join(", ")
        );
        return;
    }
    let worst = ratios
        .iter()
        .filter_map(|(m, r)| r.map(|r| (m, r)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    match worst {
        Some((m, r)) if r <= GOAL_RATIO => println!("{goal}: met (worst {r:.3}× on {m})"),
        Some((m, r)) => println!("{goal}: NOT met (worst {r:.3}× on {m})"),
        None => println!("{goal}: not judged (no measures)"),
    }
}

// ------------------------------------------------------------------------------------------------
// The flotilla node

/// A `flotilla daemon` in a namespace of its own. Dropping it stops the daemon, kills and
/// removes its containers' cgroups, detaches the mounts under its directory and deletes the
/// namespace; the directory is kept (and named) only if something could not be cleaned.
struct FlotillaNode {
    binary: PathBuf,
    ip: PathBuf,
    id: String,
    /// Set once the namespace exists: what drop deletes.
    netns: Option<String>,
    /// The daemon (`nsenter` exec'd it, so this is the daemon's PID).
    child: Option<Child>,
    /// Socket, data directory, log, image rootfs. Dropped after `Drop::drop` ran.
    dir: tempfile::TempDir,
}

impl FlotillaNode {
    /// Creates the namespace, starts the daemon, waits for it, initialises the swarm and imports
    /// `bb:latest`. Whatever was created before a failure is removed.
    fn start(binary: &Path, tools: &Tools) -> anyhow::Result<FlotillaNode> {
        let dir = tempfile::Builder::new()
            .prefix("flt-bench-")
            .tempdir_in("/tmp")
            .context("cannot create a scratch directory under /tmp")?;
        let mut node = FlotillaNode {
            binary: binary.to_owned(),
            ip: tools.ip.clone(),
            id: free_id()?,
            netns: None,
            child: None,
            dir,
        };
        // From here on, an early return drops `node`, which removes what was created.
        let ns = node.name();
        run_ok(
            Command::new(&node.ip).args(["netns", "add", ns.as_str()]),
            TOOL_TIMEOUT,
        )?;
        node.netns = Some(ns.clone());
        run_ok(
            Command::new(&node.ip).args(["-n", ns.as_str(), "link", "set", "lo", "up"]),
            TOOL_TIMEOUT,
        )?;

        let log_path = node.log_path();
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("cannot open {}", log_path.display()))?;
        let log_err = log
            .try_clone()
            .with_context(|| format!("cannot duplicate the handle of {}", log_path.display()))?;
        let data = node.dir.path().join("data");
        let socket = node.socket();
        let mut c = Command::new(&tools.nsenter);
        c.arg(format!("--net=/run/netns/{ns}"))
            .arg("--")
            .arg(&node.binary)
            .arg("daemon")
            .arg("--data-dir")
            .arg(&data)
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .args([
                "--listen-addr",
                "127.0.0.1:4242",
                "--advertise-addr",
                "127.0.0.1",
                "--node-name",
                "bench",
                "--cgroup-parent",
                ns.as_str(),
            ])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            // Its own process group: a Ctrl-C at the terminal reaches this program, which then
            // stops the daemon in order.
            .process_group(0);
        let child = c
            .spawn()
            .with_context(|| format!("cannot run `{}`", describe(&c)))?;
        node.child = Some(child);
        node.wait_ready()?;

        node.cli_ok(
            &["swarm", "init", "--advertise-addr", "127.0.0.1"],
            CLI_TIMEOUT,
        )?;
        let tarball = busybox_tarball(node.dir.path(), &tools.tar)?;
        let tarball = tarball.display().to_string();
        node.cli_ok(&["image", "import", tarball.as_str(), IMAGE], CLI_TIMEOUT)?;
        eprintln!(
            "flotilla-bench: flotilla node up (netns {ns}, pid {}, dir {})",
            node.child.as_ref().map_or(0, Child::id),
            node.dir.path().display()
        );
        Ok(node)
    }

    /// `flt-bench-<id>`: the namespace's name and the daemon's cgroup parent.
    fn name(&self) -> String {
        format!("flt-bench-{}", self.id)
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("flotilla.sock")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("daemon.log")
    }

    fn log_tail(&self) -> String {
        tail(&read_lossy(&self.log_path()), TAIL_LINES)
    }

    /// `flotilla -H unix://SOCK ARGS…`, run from the root namespace (the socket is a file).
    fn cli(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.binary);
        c.arg("-H")
            .arg(format!("unix://{}", self.socket().display()))
            .args(args);
        c
    }

    fn cli_ok(&self, args: &[&str], timeout: Duration) -> anyhow::Result<String> {
        run_ok(&mut self.cli(args), timeout)
    }

    /// Polls `info` until it succeeds, the daemon exits, or 30 s pass.
    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        let mut last = String::from("no attempt");
        loop {
            check_interrupted()?;
            self.check_alive()?;
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!(
                    "the flotilla daemon did not answer `info` within {START_TIMEOUT:?} ({last}); its log ends:\n{}",
                    self.log_tail()
                );
            }
            match run_for(&mut self.cli(&["info"]), left.min(PROBE_TIMEOUT)) {
                Ok(ran) if ran.status.success() => return Ok(()),
                Ok(ran) => last = format!("{}: {}", ran.status, ran.stderr.trim()),
                Err(e) => last = format!("{e:#}"),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM by PID, ≤ 20 s for the exit, then SIGKILL; reaps it.
    fn stop_daemon(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        let pid = child.id();
        // Not reaped yet, so the PID is still this child's.
        let termed = match i32::try_from(pid) {
            Ok(raw) => kill(Pid::from_raw(raw), Signal::SIGTERM).is_ok(),
            Err(_) => false,
        };
        if termed {
            let deadline = Instant::now() + STOP_TIMEOUT;
            while Instant::now() < deadline {
                match child.try_wait() {
                    Ok(Some(_)) => return,
                    Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                    Err(_) => break,
                }
            }
            warn(&format!(
                "the flotilla daemon (pid {pid}) did not exit {STOP_TIMEOUT:?} after SIGTERM: SIGKILL"
            ));
        }
        if let Err(e) = child.kill() {
            warn(&format!("cannot kill the flotilla daemon (pid {pid}): {e}"));
        }
        if let Err(e) = child.wait() {
            warn(&format!("cannot reap the flotilla daemon (pid {pid}): {e}"));
        }
    }

    /// Kills and removes every container cgroup of the daemon, then its cgroup tree.
    fn remove_containers(&self) -> bool {
        let root = self.name();
        let parent = format!("{root}/containers");
        let mut clean = true;
        match flotilla_cgroups::Cgroup::list(&parent) {
            Ok(names) => {
                for name in names {
                    match flotilla_cgroups::Cgroup::open(&parent, &name) {
                        Ok(cg) => {
                            if let Err(e) = cg.kill_all().and_then(|()| cg.delete()) {
                                warn(&format!(
                                    "cannot remove container cgroup {parent}/{name}: {e}"
                                ));
                                clean = false;
                            }
                        }
                        Err(e) => {
                            warn(&format!(
                                "cannot open container cgroup {parent}/{name}: {e}"
                            ));
                            clean = false;
                        }
                    }
                }
            }
            Err(e) => {
                warn(&format!(
                    "cannot list the container cgroups under {parent}: {e}"
                ));
                clean = false;
            }
        }
        if let Err(e) = flotilla_cgroups::remove_tree(&root) {
            warn(&format!("cannot remove cgroup tree {root}: {e}"));
            clean = false;
        }
        clean
    }

    /// Detaches every mount below the node's directory, deepest first.
    fn unmount_all(&self) -> bool {
        let dir =
            std::fs::canonicalize(self.dir.path()).unwrap_or_else(|_| self.dir.path().to_owned());
        let info = match std::fs::read_to_string("/proc/self/mountinfo") {
            Ok(info) => info,
            Err(e) => {
                warn(&format!("cannot read /proc/self/mountinfo: {e}"));
                return false;
            }
        };
        let mut points: Vec<PathBuf> = info
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .map(|p| PathBuf::from(unescape_mount_path(p)))
            .filter(|p| p.starts_with(&dir))
            .collect();
        // A point mounted several times is listed several times: each umount2 detaches the
        // topmost, so every entry is tried.
        points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        let mut clean = true;
        for p in points {
            if let Err(e) = nix::mount::umount2(&p, nix::mount::MntFlags::MNT_DETACH) {
                // EINVAL: already gone with a parent detached before it.
                if e != nix::errno::Errno::EINVAL {
                    warn(&format!("cannot unmount {}: {e}", p.display()));
                    clean = false;
                }
            }
        }
        clean
    }

    fn delete_netns(&mut self) -> bool {
        let Some(ns) = self.netns.take() else {
            return true;
        };
        let mut c = Command::new(&self.ip);
        c.args(["netns", "del", ns.as_str()]).process_group(0);
        match run_ok(&mut c, TOOL_TIMEOUT) {
            Ok(_) => true,
            Err(e) => {
                warn(&format!("cannot delete network namespace {ns}: {e:#}"));
                false
            }
        }
    }
}

impl Swarm for FlotillaNode {
    fn label(&self) -> &'static str {
        "flotilla"
    }

    fn create(&self, svc: &str, replicas: usize) -> anyhow::Result<()> {
        let replicas = replicas.to_string();
        let mut args = vec![
            "service",
            "create",
            "-d",
            "--name",
            svc,
            "--replicas",
            replicas.as_str(),
            "--stop-signal",
            "SIGKILL",
            IMAGE,
        ];
        args.extend(SERVICE_CMD);
        self.cli_ok(&args, CLI_TIMEOUT)?;
        Ok(())
    }

    fn scale(&self, svc: &str, replicas: usize) -> anyhow::Result<()> {
        let spec = format!("{svc}={replicas}");
        self.cli_ok(&["service", "scale", "-d", spec.as_str()], CLI_TIMEOUT)?;
        Ok(())
    }

    fn remove(&self, svc: &str) -> anyhow::Result<()> {
        self.cli_ok(&["service", "rm", svc], CLI_TIMEOUT)?;
        Ok(())
    }

    fn running(&self, svc: &str) -> anyhow::Result<usize> {
        let out = self.cli_ok(
            &[
                "service",
                "ps",
                "--format",
                "json",
                "-f",
                "desired-state=running",
                svc,
            ],
            POLL_CLI_TIMEOUT,
        )?;
        let rows = json_rows(&out, "service ps --format json")?;
        Ok(rows
            .iter()
            .filter(|r| {
                r["current_state"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("Running"))
            })
            .count())
    }

    fn containers(&self, svc: &str) -> anyhow::Result<usize> {
        let out = self.cli_ok(
            &["container", "ls", "-a", "--format", "json"],
            POLL_CLI_TIMEOUT,
        )?;
        let rows = json_rows(&out, "container ls -a --format json")?;
        let prefix = format!("{svc}.");
        Ok(rows
            .iter()
            .filter(|r| r["names"].as_str().is_some_and(|n| n.starts_with(&prefix)))
            .count())
    }

    fn node_ready(&self) -> anyhow::Result<bool> {
        let out = self.cli_ok(&["node", "ls", "--format", "json"], POLL_CLI_TIMEOUT)?;
        let rows = json_rows(&out, "node ls --format json")?;
        Ok(!rows.is_empty() && rows.iter().all(|r| r["status"] == "Ready"))
    }

    fn check_alive(&mut self) -> anyhow::Result<()> {
        let Some(child) = self.child.as_mut() else {
            bail!("the flotilla daemon is not running");
        };
        match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                self.child = None;
                bail!(
                    "the flotilla daemon exited ({status}); its log ends:\n{}",
                    self.log_tail()
                )
            }
            Err(e) => Err(e).context("cannot poll the flotilla daemon"),
        }
    }
}

impl Drop for FlotillaNode {
    fn drop(&mut self) {
        eprintln!("flotilla-bench: removing the flotilla node {}", self.name());
        self.stop_daemon();
        // Containers outlive their daemon by design: kill them, then free their mounts.
        let mut clean = self.remove_containers();
        clean &= self.unmount_all();
        clean &= self.delete_netns();
        if !clean {
            self.dir.disable_cleanup(true);
            warn(&format!(
                "kept {} (its log and data) since not everything could be cleaned up",
                self.dir.path().display()
            ));
        }
    }
}

/// A one-layer rootfs of the host's busybox (sh, httpd, true, sleep; /etc/passwd) as a tarball
/// for `image import`.
fn busybox_tarball(dir: &Path, tar: &Path) -> anyhow::Result<PathBuf> {
    let root = dir.join("rootfs");
    for d in ["bin", "etc", "proc", "dev", "sys", "tmp", "root"] {
        let p = root.join(d);
        std::fs::create_dir_all(&p).with_context(|| format!("cannot create {}", p.display()))?;
    }
    std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777))
        .context("cannot chmod the rootfs's /tmp")?;
    std::fs::copy(BUSYBOX, root.join("bin/busybox")).context("cannot copy /bin/busybox")?;
    for applet in ["sh", "httpd", "true", "sleep"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet))
            .with_context(|| format!("cannot link the {applet} applet"))?;
    }
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")
        .context("cannot write the rootfs's /etc/passwd")?;
    std::fs::write(root.join("etc/group"), "root:x:0:\n")
        .context("cannot write the rootfs's /etc/group")?;
    let tarball = dir.join("bb.tar");
    run_ok(
        Command::new(tar)
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tarball)
            .arg("."),
        TOOL_TIMEOUT,
    )?;
    Ok(tarball)
}

/// Six random lowercase letters that no existing `flt-bench-*` namespace uses.
fn free_id() -> anyhow::Result<String> {
    for _ in 0..16 {
        let id: String = (0..6)
            .map(|_| char::from(b'a' + rand::random_range(0..26u8)))
            .collect();
        if !Path::new("/run/netns")
            .join(format!("flt-bench-{id}"))
            .exists()
        {
            return Ok(id);
        }
    }
    bail!("no free flt-bench-* name after 16 tries (are stale namespaces piling up in /run/netns?)")
}

/// The rows of a `--format json` listing.
fn json_rows(out: &str, what: &str) -> anyhow::Result<Vec<serde_json::Value>> {
    let v: serde_json::Value =
        serde_json::from_str(out).with_context(|| format!("`{what}` printed no JSON"))?;
    match v {
        serde_json::Value::Array(rows) => Ok(rows),
        _ => bail!("`{what}` printed JSON that is not an array"),
    }
}

/// A mount point as `/proc/self/mountinfo` escapes it (`\040` for a space, …).
fn unescape_mount_path(p: &str) -> String {
    let bytes = p.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && let Some(code) = bytes.get(i + 1..i + 4)
            && code.iter().all(|b| (b'0'..=b'7').contains(b))
            && let Ok(v) = u8::from_str_radix(&String::from_utf8_lossy(code), 8)
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ------------------------------------------------------------------------------------------------
// The Docker node

/// Docker's binaries and the anchor harness, checked.
struct DockerPaths {
    dockerd: PathBuf,
    docker: PathBuf,
    anchor: PathBuf,
}

impl DockerPaths {
    fn check(args: &Args) -> anyhow::Result<DockerPaths> {
        for (p, flag) in [(&args.dockerd, "--dockerd"), (&args.docker, "--docker")] {
            if !p.is_file() {
                bail!(
                    "{} is missing: install Debian's docker.io (apt-get install docker.io), pass {flag} PATH, or use --skip-docker",
                    p.display()
                );
            }
        }
        if !args.anchor_dir.is_dir() {
            bail!(
                "the Docker Swarm anchor harness {} is missing: pass --anchor-dir DIR, or use --skip-docker",
                args.anchor_dir.display()
            );
        }
        for f in ["lib.sh", "node-wrapper.sh", "build-image.sh", "cleanup.sh"] {
            if !args.anchor_dir.join(f).is_file() {
                bail!(
                    "the Docker Swarm anchor harness {} has no {f}",
                    args.anchor_dir.display()
                );
            }
        }
        // The harness compares /proc/PID/exe with $DOCKERD before it signals a dockerd: give it
        // the resolved path.
        let canonical = |p: &Path| {
            std::fs::canonicalize(p).with_context(|| format!("cannot resolve {}", p.display()))
        };
        let paths = DockerPaths {
            dockerd: canonical(args.dockerd.as_path())?,
            docker: canonical(args.docker.as_path())?,
            anchor: canonical(args.anchor_dir.as_path())?,
        };
        // The harness's namespaces have fixed names and its cleanup sweeps every /swb-* cgroup:
        // never run beside another harness run.
        let busy: Vec<String> = std::fs::read_dir("/run/netns")
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with("swb-"))
                    .collect()
            })
            .unwrap_or_default();
        if !busy.is_empty() {
            bail!(
                "network namespace(s) {} exist: a Docker Swarm anchor run is active or was not cleaned up \
                 (once none runs: bash {}/cleanup.sh)",
                busy.join(", "),
                paths.anchor.display()
            );
        }
        Ok(paths)
    }
}

/// A dockerd started by the anchor harness's `start_node` in `swb-s0`, with its scratch
/// `SWB_RUN`. Dropping it runs the harness's `cleanup.sh`.
struct DockerNode {
    paths: DockerPaths,
    bash: PathBuf,
    poll: Duration,
    /// `SWB_RUN`. Dropped after `Drop::drop` ran.
    run: tempfile::TempDir,
    /// Set just before the harness creates anything: whether drop must clean up.
    started: bool,
}

impl DockerNode {
    /// Builds the image with `build-image.sh`, then brings `s0` up with `lib.sh` and initialises
    /// its swarm. Whatever was created before a failure is removed.
    fn start(paths: DockerPaths, tools: &Tools, poll: Duration) -> anyhow::Result<DockerNode> {
        let run = tempfile::Builder::new()
            .prefix("swb-")
            .tempdir_in("/tmp")
            .context("cannot create a scratch directory under /tmp")?;
        let mut node = DockerNode {
            paths,
            bash: tools.bash.clone(),
            poll,
            run,
            started: false,
        };
        let mut build = node.bash();
        build.arg(node.paths.anchor.join("build-image.sh"));
        script_ok(
            &mut build,
            IMAGE_BUILD_TIMEOUT,
            "the harness's build-image.sh",
        )?;
        node.started = true;
        let mut setup = node.bash();
        setup.arg("-c").arg(DOCKER_SETUP);
        script_ok(
            &mut setup,
            DOCKER_SETUP_TIMEOUT,
            "bringing the Docker node up (lib.sh: netns_add, start_node, ensure_image, swarm init)",
        )?;
        node.check_alive()?;
        eprintln!(
            "flotilla-bench: Docker node up (netns {DOCKER_NETNS}, SWB_RUN {})",
            node.run.path().display()
        );
        Ok(node)
    }

    fn node_dir(&self) -> PathBuf {
        self.run.path().join("nodes").join("s0")
    }

    /// `bash` with the environment `lib.sh` reads.
    fn bash(&self) -> Command {
        let mut c = Command::new(&self.bash);
        c.env("SWB_RUN", self.run.path())
            .env("SWB_OUT", self.run.path().join("results"))
            .env("SWB_HOME", &self.paths.anchor)
            .env("SWB_PHASE", "flotilla-bench")
            .env("DOCKER", &self.paths.docker)
            .env("DOCKERD", &self.paths.dockerd)
            .env("POLL", format!("{:.3}", self.poll.as_secs_f64()))
            .env("DOCKER_CLI_HINTS", "false");
        c
    }

    /// `docker -H unix://$SWB_RUN/nodes/s0/sock ARGS…`.
    fn dk(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.paths.docker);
        c.arg("-H")
            .arg(format!("unix://{}", self.node_dir().join("sock").display()))
            .args(args)
            .env("DOCKER_CLI_HINTS", "false");
        c
    }

    fn log_tail(&self) -> String {
        tail(
            &read_lossy(&self.node_dir().join("dockerd.log")),
            TAIL_LINES,
        )
    }
}

impl Swarm for DockerNode {
    fn label(&self) -> &'static str {
        "docker"
    }

    fn create(&self, svc: &str, replicas: usize) -> anyhow::Result<()> {
        let replicas = replicas.to_string();
        let mut args = vec![
            "service",
            "create",
            "-d",
            "--no-resolve-image",
            "--name",
            svc,
            "--replicas",
            replicas.as_str(),
            "--stop-signal",
            "SIGKILL",
            IMAGE,
        ];
        args.extend(SERVICE_CMD);
        run_ok(&mut self.dk(&args), CLI_TIMEOUT)?;
        Ok(())
    }

    fn scale(&self, svc: &str, replicas: usize) -> anyhow::Result<()> {
        let spec = format!("{svc}={replicas}");
        run_ok(
            &mut self.dk(&["service", "scale", "-d", spec.as_str()]),
            CLI_TIMEOUT,
        )?;
        Ok(())
    }

    fn remove(&self, svc: &str) -> anyhow::Result<()> {
        run_ok(&mut self.dk(&["service", "rm", svc]), CLI_TIMEOUT)?;
        Ok(())
    }

    fn running(&self, svc: &str) -> anyhow::Result<usize> {
        let out = run_ok(
            &mut self.dk(&[
                "service",
                "ps",
                "--filter",
                "desired-state=running",
                "--format",
                "{{.CurrentState}}",
                svc,
            ]),
            POLL_CLI_TIMEOUT,
        )?;
        Ok(out.lines().filter(|l| l.starts_with("Running")).count())
    }

    fn containers(&self, svc: &str) -> anyhow::Result<usize> {
        let filter = format!("label=com.docker.swarm.service.name={svc}");
        let out = run_ok(
            &mut self.dk(&["ps", "-aq", "--filter", filter.as_str()]),
            POLL_CLI_TIMEOUT,
        )?;
        Ok(out.lines().filter(|l| !l.trim().is_empty()).count())
    }

    fn node_ready(&self) -> anyhow::Result<bool> {
        let out = run_ok(
            &mut self.dk(&["node", "ls", "--format", "{{.Status}}"]),
            POLL_CLI_TIMEOUT,
        )?;
        let statuses: Vec<&str> = out
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        Ok(!statuses.is_empty() && statuses.iter().all(|s| *s == "Ready"))
    }

    fn check_alive(&mut self) -> anyhow::Result<()> {
        let pidfile = self.node_dir().join("pid");
        let pid = std::fs::read_to_string(&pidfile)
            .with_context(|| format!("cannot read dockerd's pidfile {}", pidfile.display()))?;
        let pid = pid.trim();
        if pid.is_empty() || !Path::new("/proc").join(pid).exists() {
            bail!(
                "dockerd (pid {pid:?}) is gone; its log ends:\n{}",
                self.log_tail()
            );
        }
        Ok(())
    }
}

impl Drop for DockerNode {
    fn drop(&mut self) {
        if !self.started {
            return;
        }
        eprintln!("flotilla-bench: removing the Docker node (the harness's cleanup.sh)");
        let mut c = self.bash();
        // Its own process group: a second Ctrl-C must not cut the clean-up short.
        c.arg(self.paths.anchor.join("cleanup.sh")).process_group(0);
        if let Err(e) = script_ok(&mut c, DOCKER_CLEANUP_TIMEOUT, "the harness's cleanup.sh") {
            self.run.disable_cleanup(true);
            warn(&format!(
                "{e:#}\nkept {dir}; finish by hand: SWB_RUN={dir} bash {}/cleanup.sh",
                self.paths.anchor.display(),
                dir = self.run.path().display()
            ));
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Processes, signals, small helpers

/// Absolute paths of the programs this benchmark runs.
struct Tools {
    ip: PathBuf,
    nsenter: PathBuf,
    tar: PathBuf,
    bash: PathBuf,
}

impl Tools {
    fn find() -> anyhow::Result<Tools> {
        let find = |name: &str, package: &str| {
            which(name).with_context(|| format!("`{name}` is missing: install Debian's {package}"))
        };
        Ok(Tools {
            ip: find("ip", "iproute2")?,
            nsenter: find("nsenter", "util-linux")?,
            tar: find("tar", "tar")?,
            bash: find("bash", "bash")?,
        })
    }
}

/// Finds `name` in `PATH`, then in the system directories a non-login root shell may lack.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            ["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"]
                .iter()
                .map(PathBuf::from),
        )
        .map(|dir| dir.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// How a command run by [`run_for`] ended.
struct Ran {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// The command line of `cmd`, for messages.
fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `cmd` (stdin `/dev/null`) to completion, capturing its output; SIGKILLs it (by its PID,
/// it is our child) once `timeout` has passed.
fn run_for(cmd: &mut Command, timeout: Duration) -> anyhow::Result<Ran> {
    let what = describe(cmd);
    let deadline = Instant::now() + timeout;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot run `{what}`"))?;
    let stdout = reader(child.stdout.take());
    let stderr = reader(child.stderr.take());
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e).with_context(|| format!("cannot wait for `{what}`"));
            }
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("`{what}` did not finish within {timeout:?} and was killed");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    // The pipes close when the child exits, unless it left a process behind holding them: wait a
    // little for the output, never forever.
    let grace = Duration::from_secs(2);
    Ok(Ran {
        status,
        stdout: String::from_utf8_lossy(&stdout.recv_timeout(grace).unwrap_or_default())
            .into_owned(),
        stderr: String::from_utf8_lossy(&stderr.recv_timeout(grace).unwrap_or_default())
            .into_owned(),
    })
}

/// Reads `pipe` to its end on a thread; the bytes arrive on the returned channel.
fn reader<R: Read + Send + 'static>(pipe: Option<R>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    match pipe {
        Some(mut pipe) => {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = pipe.read_to_end(&mut buf);
                let _ = tx.send(buf);
            });
        }
        None => {
            let _ = tx.send(Vec::new());
        }
    }
    rx
}

/// [`run_for`], failing (with its stderr) unless it exits with status 0; returns its stdout.
fn run_ok(cmd: &mut Command, timeout: Duration) -> anyhow::Result<String> {
    let ran = run_for(cmd, timeout)?;
    if ran.status.success() {
        return Ok(ran.stdout);
    }
    bail!(
        "`{}` failed ({}): {}",
        describe(cmd),
        ran.status,
        ran.stderr.trim()
    )
}

/// [`run_for`] for a harness script: fails with `what`, its status and the tail of its output.
fn script_ok(cmd: &mut Command, timeout: Duration, what: &str) -> anyhow::Result<()> {
    let ran = run_for(cmd, timeout).with_context(|| what.to_owned())?;
    if ran.status.success() {
        return Ok(());
    }
    bail!(
        "{what} failed ({}); its output ends:\n{}\n{}",
        ran.status,
        tail(&ran.stdout, TAIL_LINES),
        tail(&ran.stderr, TAIL_LINES)
    )
}

/// `PROGRAM --version`, if it answers.
fn version_of(program: &Path) -> Option<String> {
    let ran = run_for(
        Command::new(program).arg("--version"),
        Duration::from_secs(10),
    )
    .ok()?;
    let v = ran.stdout.trim();
    (ran.status.success() && !v.is_empty()).then(|| v.to_owned())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn warn(msg: &str) {
    eprintln!("flotilla-bench: {msg}");
}

/// Set by SIGINT or SIGTERM: the run stops at its next check and cleans up.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

fn check_interrupted() -> anyhow::Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        bail!("interrupted");
    }
    Ok(())
}

/// Sleeps `d` in short steps, failing early if interrupted.
fn sleep_checked(d: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + d;
    while Instant::now() < deadline {
        check_interrupted()?;
        std::thread::sleep(
            deadline
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(100)),
        );
    }
    check_interrupted()
}

/// Turns SIGINT and SIGTERM into [`INTERRUPTED`] (instead of an exit that would skip the
/// clean-up), on a thread of its own. Returns once the handlers are installed.
fn watch_signals() -> anyhow::Result<()> {
    let (tx, rx) = mpsc::channel::<std::io::Result<()>>();
    std::thread::Builder::new()
        .name("signals".to_owned())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            rt.block_on(async move {
                use tokio::signal::unix::{SignalKind, signal};
                let mut int = match signal(SignalKind::interrupt()) {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                let mut term = match signal(SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                let _ = tx.send(Ok(()));
                loop {
                    tokio::select! {
                        Some(()) = int.recv() => {}
                        Some(()) = term.recv() => {}
                        else => break,
                    }
                    if !INTERRUPTED.swap(true, Ordering::SeqCst) {
                        eprintln!(
                            "flotilla-bench: interrupted; stopping after the current command and cleaning up"
                        );
                    }
                }
            });
        })
        .context("cannot start the signal thread")?;
    match rx.recv_timeout(Duration::from_secs(5)) {
        Ok(res) => res.context("cannot install the SIGINT/SIGTERM handlers"),
        Err(_) => bail!("the signal thread did not start within 5 s"),
    }
}
