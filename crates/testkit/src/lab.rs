//! A lab of real `flotilla daemon` processes, each in a network namespace of its own, wired to
//! one bridge that lives in a further namespace (the "switch").
//!
//! The bridge is kept out of the root namespace on purpose: the root namespace may filter
//! bridged traffic (br_netfilter with Docker's FORWARD policy), which would drop node-to-node
//! packets. Processes are started with `nsenter --net=/run/netns/NAME`, never with
//! `ip netns exec`, which also remounts `/sys` and so hides the cgroup hierarchies from the
//! daemon. `nsenter` without `--fork` execs the program, so the child PID the lab holds is the
//! program's own.
//!
//! ```text
//!   flt-<id>-n1            flt-<id>-sw               flt-<id>-n2
//!   eth0 10.a.b.2 ── veth ── vn1 ─ br0 ─ vn2 ── veth ── eth0 10.a.b.3
//! ```

use crate::cmd::{self, describe, run, run_ok, tail};
use crate::error::LabError;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::ffi::OsStr;
use std::fs::File;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// Time limit for one `ip` or `nft` command.
const TOOL_TIMEOUT: Duration = Duration::from_secs(30);
/// Time limit for one CLI command (or any command run inside a node).
const CLI_TIMEOUT: Duration = Duration::from_secs(60);
/// Time limit for one `info` probe while waiting for a daemon.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `start` waits for the daemon to answer `info`.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `stop` waits after SIGTERM before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// Lines of a node's log quoted in errors.
const LOG_TAIL_LINES: usize = 40;
/// Node-to-node port the daemons listen on.
const NODE_PORT: u16 = 4242;
/// The nftables table `partition` installs.
const PARTITION_TABLE: &str = "flotilla_lab";
/// Most nodes one /24 holds (.2 ..= .254).
const MAX_NODES: usize = 253;

/// What lab to build.
#[derive(Debug, Clone)]
pub struct LabConfig {
    /// Number of nodes (1..=253).
    pub nodes: usize,
    /// The `flotilla` binary (see [`binary`](crate::binary())); only needed once a node is
    /// started.
    pub binary: PathBuf,
    /// The lab's subnet is `10.<a>.<b>.0/24`: `Some(a)` fixes the second octet (1..=255), `None`
    /// picks it at random; the third octet is always random. `10.0.x.x` is never used (overlay
    /// address pools live there).
    pub subnet_octet: Option<u8>,
}

impl LabConfig {
    /// `nodes` nodes running `binary`, on a random subnet.
    pub fn new(nodes: usize, binary: impl Into<PathBuf>) -> Self {
        LabConfig {
            nodes,
            binary: binary.into(),
            subnet_octet: None,
        }
    }
}

/// Absolute paths of the programs the lab runs.
#[derive(Debug)]
struct Tools {
    ip: PathBuf,
    nsenter: PathBuf,
    nft: PathBuf,
}

impl Tools {
    fn find() -> Result<Tools, LabError> {
        let wanted = [
            ("ip", "iproute2"),
            ("nsenter", "util-linux"),
            ("nft", "nftables"),
        ];
        let found: Vec<Option<PathBuf>> = wanted.iter().map(|(n, _)| cmd::which(n)).collect();
        let missing: Vec<String> = wanted
            .iter()
            .zip(&found)
            .filter(|(_, f)| f.is_none())
            .map(|((n, pkg), _)| format!("`{n}` (Debian package {pkg})"))
            .collect();
        match found.as_slice() {
            [Some(ip), Some(nsenter), Some(nft)] => Ok(Tools {
                ip: ip.clone(),
                nsenter: nsenter.clone(),
                nft: nft.clone(),
            }),
            _ => Err(LabError::MissingTools {
                missing: missing.join(", "),
            }),
        }
    }
}

/// One node of the lab.
#[derive(Debug)]
struct Node {
    netns: String,
    addr: Ipv4Addr,
    dir: PathBuf,
    child: Option<Child>,
    last_exit: Option<ExitStatus>,
}

impl Node {
    /// Reaps the child if it has exited; true while it runs.
    fn poll(&mut self) -> bool {
        let Some(child) = self.child.as_mut() else {
            return false;
        };
        match child.try_wait() {
            Ok(None) => true,
            Ok(Some(status)) => {
                self.last_exit = Some(status);
                self.child = None;
                false
            }
            Err(e) => {
                // Cannot happen for a child we own; treat it as still running so that the
                // lab's drop still kills it.
                tracing::warn!(netns = %self.netns, error = %e, "cannot poll a lab process");
                true
            }
        }
    }

    fn not_running(&self, node: usize) -> LabError {
        LabError::NotRunning {
            node,
            detail: match self.last_exit {
                Some(status) => format!("its process exited ({status})"),
                None => "it was never started".to_owned(),
            },
        }
    }
}

/// A running lab: namespaces, bridge, veths, a temporary directory, and the processes started
/// in it. Everything is removed when it is dropped. Nodes are numbered from 1.
#[derive(Debug)]
pub struct Lab {
    id: String,
    switch: String,
    subnet: [u8; 2],
    binary: PathBuf,
    tools: Tools,
    /// Namespaces created so far, in order: what drop removes.
    created: Vec<String>,
    nodes: Vec<Node>,
    /// Dropped after `Drop::drop` has killed the processes writing into it.
    dir: tempfile::TempDir,
}

impl Lab {
    /// Creates namespaces `flt-<6 random lowercase chars>-sw` (bridge `br0` inside, up) and
    /// `flt-<id>-n<i>` for i in 1..=n, a veth pair per node (`eth0` inside the node namespace
    /// with address `10.<a>.<b>.<i+1>/24` and `lo` up; the peer end in the switch namespace,
    /// named `vn<i>`, attached to `br0`, up). The /24 is picked at random inside 10.0.0.0/8,
    /// avoiding 10.0.x.x (see [`LabConfig::subnet_octet`]).
    ///
    /// Fails with [`LabError::NotRoot`] unless running as root, and with
    /// [`LabError::MissingTools`] if `ip`, `nsenter` or `nft` is not installed. Whatever was
    /// created before a failure is removed.
    pub fn new(cfg: LabConfig) -> Result<Lab, LabError> {
        let euid = nix::unistd::geteuid();
        if !euid.is_root() {
            return Err(LabError::NotRoot {
                euid: euid.as_raw(),
            });
        }
        let tools = Tools::find()?;
        if !(1..=MAX_NODES).contains(&cfg.nodes) {
            return Err(LabError::Config(format!(
                "nodes must be in 1..={MAX_NODES}, not {}",
                cfg.nodes
            )));
        }
        let a = match cfg.subnet_octet {
            Some(0) => {
                return Err(LabError::Config(
                    "subnet_octet 0 would put the lab in 10.0.x.x, which overlay pools use"
                        .to_owned(),
                ));
            }
            Some(a) => a,
            None => rand::random_range(1..=255u8),
        };
        let b = rand::random_range(0..=255u8);
        let dir = tempfile::Builder::new()
            .prefix("flt-lab-")
            .tempdir()
            .map_err(|source| LabError::Io {
                what: "cannot create the lab's temporary directory".to_owned(),
                source,
            })?;
        let id = free_id()?;

        let mut lab = Lab {
            switch: format!("flt-{id}-sw"),
            id,
            subnet: [a, b],
            binary: cfg.binary,
            tools,
            created: Vec::new(),
            nodes: Vec::new(),
            dir,
        };
        // From here on, an early return drops `lab`, which removes what was created.
        lab.build(cfg.nodes)?;
        tracing::info!(id = %lab.id, subnet = %lab.subnet(), nodes = cfg.nodes, "lab up");
        Ok(lab)
    }

    fn build(&mut self, n: usize) -> Result<(), LabError> {
        let sw = self.switch.clone();
        self.ip(&["netns", "add", &sw])?;
        self.created.push(sw.clone());
        self.ip(&["-n", &sw, "link", "set", "lo", "up"])?;
        self.ip(&["-n", &sw, "link", "add", "br0", "type", "bridge"])?;
        self.ip(&["-n", &sw, "link", "set", "br0", "up"])?;

        for i in 1..=n {
            let ns = format!("flt-{}-n{i}", self.id);
            let host = u8::try_from(i + 1)
                .map_err(|_| LabError::Config(format!("node {i} does not fit in a /24")))?;
            let addr = Ipv4Addr::new(10, self.subnet[0], self.subnet[1], host);
            let dir = self.dir.path().join(format!("n{i}"));
            std::fs::create_dir_all(&dir).map_err(|source| LabError::Io {
                what: format!("cannot create {}", dir.display()),
                source,
            })?;

            self.ip(&["netns", "add", &ns])?;
            self.created.push(ns.clone());
            let vn = format!("vn{i}");
            // Both ends are created directly in their namespaces: nothing appears, even for a
            // moment, in the root namespace, so labs side by side cannot clash on names.
            self.ip(&[
                "link", "add", &vn, "netns", &sw, "type", "veth", "peer", "name", "eth0", "netns",
                &ns,
            ])?;
            self.ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            self.ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                "eth0",
            ])?;
            self.ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            self.ip(&["-n", &sw, "link", "set", &vn, "master", "br0"])?;
            self.ip(&["-n", &sw, "link", "set", &vn, "up"])?;

            self.nodes.push(Node {
                netns: ns,
                addr,
                dir,
                child: None,
                last_exit: None,
            });
        }
        Ok(())
    }

    /// Runs `ip ARGS` in the root namespace.
    fn ip(&self, args: &[&str]) -> Result<Output, LabError> {
        run_ok(Command::new(&self.tools.ip).args(args), None, TOOL_TIMEOUT)
    }

    /// An `nsenter` command that runs `program` inside node `i`'s namespace.
    fn nsenter(&self, i: usize, program: &OsStr) -> Command {
        let mut c = Command::new(&self.tools.nsenter);
        c.arg(format!("--net=/run/netns/{}", self.node(i).netns))
            .arg("--")
            .arg(program);
        c
    }

    /// Node `i`, for the accessors that cannot fail.
    fn node(&self, i: usize) -> &Node {
        match i.checked_sub(1).and_then(|k| self.nodes.get(k)) {
            Some(n) => n,
            None => panic!("no node {i}: the lab has nodes 1..={}", self.nodes.len()),
        }
    }

    fn check(&self, i: usize) -> Result<(), LabError> {
        if (1..=self.nodes.len()).contains(&i) {
            Ok(())
        } else {
            Err(LabError::NoSuchNode {
                index: i,
                len: self.nodes.len(),
            })
        }
    }

    fn node_mut(&mut self, i: usize) -> Result<&mut Node, LabError> {
        self.check(i)?;
        Ok(&mut self.nodes[i - 1])
    }

    /// The cgroup under which node `i`'s daemon places its containers (`--cgroup-parent`):
    /// unique to this lab, so clean-up never touches another's.
    pub fn cgroup_parent(&self, i: usize) -> String {
        format!("flt-{}-n{i}", self.id)
    }

    /// SIGKILLs every process of every container of node `i` — with [`kill`](Lab::kill), what
    /// a power cut does to a node. Returns how many containers were hit.
    pub fn kill_containers(&self, i: usize) -> Result<usize, LabError> {
        self.check(i)?;
        let parent = format!("{}/containers", self.cgroup_parent(i));
        let names = flotilla_cgroups::Cgroup::list(&parent).map_err(|e| {
            LabError::Config(format!("cannot list the containers of node {i}: {e}"))
        })?;
        for name in &names {
            let cg = flotilla_cgroups::Cgroup::open(&parent, name).map_err(|e| {
                LabError::Config(format!(
                    "cannot open container cgroup {name} of node {i}: {e}"
                ))
            })?;
            cg.kill_all().map_err(|e| {
                LabError::Config(format!("cannot kill container {name} of node {i}: {e}"))
            })?;
        }
        Ok(names.len())
    }

    /// Kills and removes every container cgroup of node `i` and the node's cgroup tree.
    fn remove_containers(&self, i: usize) {
        let parent = format!("{}/containers", self.cgroup_parent(i));
        if let Ok(names) = flotilla_cgroups::Cgroup::list(&parent) {
            for name in names {
                match flotilla_cgroups::Cgroup::open(&parent, &name) {
                    Ok(cg) => {
                        if let Err(e) = cg.kill_all().and_then(|()| cg.delete()) {
                            warn(&format!(
                                "lab {}: cannot remove container cgroup {parent}/{name}: {e}",
                                self.id
                            ));
                        }
                    }
                    Err(e) => warn(&format!(
                        "lab {}: cannot open container cgroup {parent}/{name}: {e}",
                        self.id
                    )),
                }
            }
        }
        if let Err(e) = flotilla_cgroups::remove_tree(&self.cgroup_parent(i)) {
            warn(&format!(
                "lab {}: cannot remove cgroup tree {}: {e}",
                self.id,
                self.cgroup_parent(i)
            ));
        }
    }

    /// Detaches every mount below the lab's directory (container root filesystems), deepest
    /// first.
    fn unmount_all(&self) {
        let dir = self.dir.path();
        let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
            warn(&format!(
                "lab {}: cannot read /proc/self/mountinfo",
                self.id
            ));
            return;
        };
        let mut points: Vec<PathBuf> = info
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .map(|p| PathBuf::from(unescape_mount_path(p)))
            .filter(|p| p.starts_with(dir))
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        for p in points {
            if let Err(e) = nix::mount::umount2(&p, nix::mount::MntFlags::MNT_DETACH) {
                warn(&format!(
                    "lab {}: cannot unmount {}: {e}",
                    self.id,
                    p.display()
                ));
            }
        }
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the lab has no nodes (never true for a lab that was built).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The lab's random id (the `<id>` in its namespace names).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The lab's subnet, `10.a.b.0/24`.
    pub fn subnet(&self) -> String {
        format!("10.{}.{}.0/24", self.subnet[0], self.subnet[1])
    }

    /// Name of the switch namespace, which holds the bridge.
    pub fn switch_netns(&self) -> &str {
        &self.switch
    }

    /// The lab's temporary directory (one `n<i>` directory per node).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Node `i`'s address on the lab network.
    ///
    /// # Panics
    ///
    /// If `i` is not in `1..=len()`.
    pub fn addr(&self, i: usize) -> IpAddr {
        IpAddr::V4(self.node(i).addr)
    }

    /// Node `i`'s network namespace name (`/run/netns/<name>`).
    ///
    /// # Panics
    ///
    /// If `i` is not in `1..=len()`.
    pub fn netns(&self, i: usize) -> &str {
        &self.node(i).netns
    }

    /// Node `i`'s CLI socket, `<tmp>/n<i>/flotilla.sock`.
    ///
    /// # Panics
    ///
    /// If `i` is not in `1..=len()`.
    pub fn socket(&self, i: usize) -> PathBuf {
        self.node(i).dir.join("flotilla.sock")
    }

    /// Node `i`'s data directory, `<tmp>/n<i>/data` (created by the daemon).
    ///
    /// # Panics
    ///
    /// If `i` is not in `1..=len()`.
    pub fn data_dir(&self, i: usize) -> PathBuf {
        self.node(i).dir.join("data")
    }

    /// Path of node `i`'s log, `<tmp>/n<i>/daemon.log`.
    ///
    /// # Panics
    ///
    /// If `i` is not in `1..=len()`.
    pub fn log_path(&self, i: usize) -> PathBuf {
        self.node(i).dir.join("daemon.log")
    }

    /// The contents of node `i`'s log (stdout and stderr of every process started on it);
    /// empty if there is none yet.
    ///
    /// # Panics
    ///
    /// If `i` is not in `1..=len()`.
    pub fn log(&self, i: usize) -> String {
        std::fs::read(self.log_path(i))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    fn log_tail(&self, i: usize) -> String {
        tail(&self.log(i), LOG_TAIL_LINES)
    }

    /// `unix://<socket>` of node `i`.
    fn host(&self, i: usize) -> String {
        format!("unix://{}", self.socket(i).display())
    }

    /// The PID of node `i`'s process, if one was started and has not been reaped.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.check(i).ok()?;
        self.nodes[i - 1].child.as_ref().map(Child::id)
    }

    /// How node `i`'s last process exited, once the lab has reaped it.
    pub fn last_exit(&self, i: usize) -> Option<ExitStatus> {
        self.check(i).ok()?;
        self.nodes[i - 1].last_exit
    }

    /// Low-level: starts `program args…` inside node `i`'s namespace (through `nsenter`, which
    /// execs it, so the returned PID is the program's), stdout and stderr appended to the node's
    /// log, `envs` added to the environment. The process takes the node's slot: `kill`, `stop`
    /// and `is_running` act on it. [`start`](Lab::start) is this plus the daemon's flags and a
    /// readiness wait.
    pub fn spawn(
        &mut self,
        i: usize,
        program: impl AsRef<OsStr>,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> Result<u32, LabError> {
        let node = self.node_mut(i)?;
        if node.poll()
            && let Some(child) = &node.child
        {
            return Err(LabError::AlreadyRunning {
                node: i,
                pid: child.id(),
            });
        }
        let log_path = self.log_path(i);
        let mut log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|source| LabError::Io {
                what: format!("cannot open {}", log_path.display()),
                source,
            })?;
        let log_err = log.try_clone().map_err(|source| LabError::Io {
            what: format!("cannot duplicate the handle of {}", log_path.display()),
            source,
        })?;

        let mut c = self.nsenter(i, program.as_ref());
        c.args(args).envs(envs.iter().copied()).stdin(Stdio::null());
        let command = describe(&c);
        let _ = writeln!(log, "--- lab: {command}");
        c.stdout(log).stderr(log_err);
        let child = c.spawn().map_err(|source| LabError::Io {
            what: format!("cannot run `{command}`"),
            source,
        })?;
        let pid = child.id();
        tracing::debug!(node = i, pid, %command, "lab process started");
        let node = self.node_mut(i)?;
        node.child = Some(child);
        node.last_exit = None;
        Ok(pid)
    }

    /// Starts `flotilla daemon --data-dir D -H unix://SOCK --listen-addr <addr>:4242
    /// --advertise-addr <addr> --node-name n<i>` plus `extra_args` inside node `i`'s namespace
    /// (see [`spawn`](Lab::spawn)), with `envs` set (e.g. `FLOTILLA_INSECURE_PLAINTEXT=1`).
    /// Then waits (≤ 30 s) until `flotilla -H unix://SOCK info` succeeds; a timeout, or the
    /// daemon exiting meanwhile, is an error that quotes the log's tail.
    pub fn start(
        &mut self,
        i: usize,
        extra_args: &[&str],
        envs: &[(&str, &str)],
    ) -> Result<(), LabError> {
        self.check(i)?;
        if !self.binary.is_file() {
            return Err(LabError::BinaryMissing {
                path: self.binary.clone(),
                hint: "build it first: cargo build -p flotilla-daemon".to_owned(),
            });
        }
        let data = self.data_dir(i).display().to_string();
        let host = self.host(i);
        let addr = self.addr(i).to_string();
        let listen = format!("{addr}:{NODE_PORT}");
        let name = format!("n{i}");
        let cgroup_parent = self.cgroup_parent(i);
        let mut args: Vec<&str> = vec![
            "daemon",
            "--data-dir",
            data.as_str(),
            "-H",
            host.as_str(),
            "--listen-addr",
            listen.as_str(),
            "--advertise-addr",
            addr.as_str(),
            "--node-name",
            name.as_str(),
            "--cgroup-parent",
            cgroup_parent.as_str(),
        ];
        args.extend_from_slice(extra_args);
        let binary = self.binary.clone();
        self.spawn(i, binary, &args, envs)?;
        self.wait_ready(i)
    }

    /// Polls `info` until it succeeds, the process exits, or `START_TIMEOUT` passes.
    fn wait_ready(&mut self, i: usize) -> Result<(), LabError> {
        let deadline = Instant::now() + START_TIMEOUT;
        let mut last = String::from("no attempt");
        loop {
            if !self.is_running(i) {
                return Err(LabError::Exited {
                    node: i,
                    status: self
                        .last_exit(i)
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "unknown status".to_owned()),
                    log_tail: self.log_tail(i),
                });
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(LabError::NotReady {
                    node: i,
                    after: START_TIMEOUT,
                    last,
                    log_tail: self.log_tail(i),
                });
            }
            match self.cli_with_timeout(i, &["info"], left.min(PROBE_TIMEOUT)) {
                Ok(out) if out.status.success() => return Ok(()),
                Ok(out) => {
                    last = format!(
                        "{}: {}",
                        out.status,
                        String::from_utf8_lossy(&out.stderr).trim()
                    );
                }
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends SIGKILL to node `i`'s process (the daemon itself: `nsenter` exec'd it) and reaps
    /// it. Fails with [`LabError::NotRunning`] if it had already exited.
    pub fn kill(&mut self, i: usize) -> Result<(), LabError> {
        let node = self.node_mut(i)?;
        if !node.poll() {
            return Err(node.not_running(i));
        }
        if let Some(mut child) = node.child.take() {
            let pid = child.id();
            let killed = child.kill();
            let status = child.wait().map_err(|source| LabError::Io {
                what: format!("cannot reap pid {pid}"),
                source,
            })?;
            node.last_exit = Some(status);
            killed.map_err(|source| LabError::Io {
                what: format!("cannot kill pid {pid}"),
                source,
            })?;
            tracing::debug!(node = i, pid, "lab process killed");
        }
        Ok(())
    }

    /// Sends SIGTERM to node `i`'s process, waits up to 20 s for it to exit, then SIGKILLs it.
    /// Returns whether it exited by itself. Fails with [`LabError::NotRunning`] if it had
    /// already exited.
    pub fn stop(&mut self, i: usize) -> Result<bool, LabError> {
        let node = self.node_mut(i)?;
        if !node.poll() {
            return Err(node.not_running(i));
        }
        let Some(mut child) = node.child.take() else {
            return Err(node.not_running(i));
        };
        let pid = child.id();
        // The child is not reaped yet, so its PID cannot have been reused. PIDs fit in i32.
        if let Err(source) = kill(Pid::from_raw(pid as i32), Signal::SIGTERM) {
            node.child = Some(child);
            return Err(LabError::Signal {
                signal: "SIGTERM",
                pid,
                source,
            });
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        let wait_err = move |source: std::io::Error| LabError::Io {
            what: format!("cannot wait for pid {pid}"),
            source,
        };
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    node.last_exit = Some(status);
                    return Ok(true);
                }
                Ok(None) => {}
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(wait_err(e));
                }
            }
            if Instant::now() >= deadline {
                tracing::warn!(
                    node = i,
                    pid,
                    "no exit {STOP_TIMEOUT:?} after SIGTERM: SIGKILL"
                );
                let _ = child.kill();
                let status = child.wait().map_err(wait_err)?;
                node.last_exit = Some(status);
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether node `i`'s process is running (reaps it if it has exited). False for an index
    /// outside `1..=len()`.
    pub fn is_running(&mut self, i: usize) -> bool {
        self.node_mut(i).map(Node::poll).unwrap_or(false)
    }

    fn cli_with_timeout(
        &self,
        i: usize,
        args: &[&str],
        timeout: Duration,
    ) -> Result<Output, LabError> {
        self.check(i)?;
        let mut c = Command::new(&self.binary);
        c.arg("-H").arg(self.host(i)).args(args);
        run(&mut c, None, timeout)
    }

    /// Runs the CLI, `flotilla -H unix://SOCK args…`, against node `i` from the root namespace
    /// (Unix sockets work across network namespaces); killed after 60 s.
    pub fn cli(&self, i: usize, args: &[&str]) -> Result<Output, LabError> {
        self.cli_with_timeout(i, args, CLI_TIMEOUT)
    }

    /// Like [`cli`](Lab::cli), but fails with [`LabError::Cli`] (its stderr and the node's log
    /// tail) unless it exits with status 0; returns its stdout.
    pub fn ok(&self, i: usize, args: &[&str]) -> Result<String, LabError> {
        let out = self.cli(i, args)?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        Err(LabError::Cli {
            node: i,
            command: format!("flotilla {}", args.join(" ")),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            log_tail: self.log_tail(i),
        })
    }

    /// Like [`ok`](Lab::ok), parsing stdout as JSON (for commands given a JSON output flag).
    pub fn ok_json(&self, i: usize, args: &[&str]) -> Result<serde_json::Value, LabError> {
        let out = self.ok(i, args)?;
        serde_json::from_str(&out).map_err(|source| LabError::Json {
            command: format!("flotilla {}", args.join(" ")),
            source,
        })
    }

    /// Runs `program args…` inside node `i`'s namespace (through `nsenter`) to completion and
    /// returns its output, whatever its exit status; killed after 60 s.
    pub fn run_in(&self, i: usize, program: &str, args: &[&str]) -> Result<Output, LabError> {
        self.check(i)?;
        let mut c = self.nsenter(i, OsStr::new(program));
        c.args(args);
        run(&mut c, None, CLI_TIMEOUT)
    }

    /// Runs `nft -f -` with `script` inside node `i`'s namespace.
    fn nft(&self, i: usize, script: &str) -> Result<(), LabError> {
        self.check(i)?;
        let mut c = self.nsenter(i, self.tools.nft.as_os_str());
        c.args(["-f", "-"]);
        run_ok(&mut c, Some(script.as_bytes()), TOOL_TIMEOUT).map(|_| ())
    }

    /// Cuts node `i` off the network: an nftables table `flotilla_lab` in its namespace drops
    /// every packet in, out or forwarded through `eth0`, the node's one link to the others
    /// (established connections included; ARP still passes, which carries no payload).
    /// Traffic on `lo` and on bridges local to the node (its containers) is left alone, as in a
    /// real partition. Idempotent.
    pub fn partition(&self, i: usize) -> Result<(), LabError> {
        let t = PARTITION_TABLE;
        let script = format!(
            "table inet {t}\n\
             delete table inet {t}\n\
             table inet {t} {{\n\
             chain input {{ type filter hook input priority -300; policy accept; iifname \"eth0\" drop; }}\n\
             chain forward {{ type filter hook forward priority -300; policy accept; iifname \"eth0\" drop; oifname \"eth0\" drop; }}\n\
             chain output {{ type filter hook output priority -300; policy accept; oifname \"eth0\" drop; }}\n\
             }}\n"
        );
        self.nft(i, &script)?;
        tracing::info!(node = i, "lab: partitioned");
        Ok(())
    }

    /// Undoes [`partition`](Lab::partition): deletes the `flotilla_lab` table. Idempotent.
    pub fn heal(&self, i: usize) -> Result<(), LabError> {
        let t = PARTITION_TABLE;
        self.nft(i, &format!("table inet {t}\ndelete table inet {t}\n"))?;
        tracing::info!(node = i, "lab: healed");
        Ok(())
    }

    /// Polls `f` every 50 ms until it returns `Some`, or `timeout` passes (then `None`). `f` is
    /// called at least once.
    pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = f() {
                return Some(v);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Lab {
    /// SIGKILLs and reaps every process still running, then deletes every namespace the lab
    /// created (which removes the veths and the bridge with them). Failures are logged.
    fn drop(&mut self) {
        for (k, node) in self.nodes.iter_mut().enumerate() {
            if let Some(mut child) = node.child.take() {
                let pid = child.id();
                if let Err(e) = child.kill() {
                    warn(&format!(
                        "lab {}: cannot kill node {} (pid {pid}): {e}",
                        self.id,
                        k + 1
                    ));
                }
                if let Err(e) = child.wait() {
                    warn(&format!(
                        "lab {}: cannot reap node {} (pid {pid}): {e}",
                        self.id,
                        k + 1
                    ));
                }
            }
        }
        // Containers outlive their daemon by design: kill them, then free their mounts.
        for i in 1..=self.nodes.len() {
            self.remove_containers(i);
        }
        self.unmount_all();
        for ns in self.created.iter().rev() {
            let mut c = Command::new(&self.tools.ip);
            c.args(["netns", "del", ns.as_str()]);
            if let Err(e) = run_ok(&mut c, None, TOOL_TIMEOUT) {
                warn(&format!(
                    "lab {}: cannot delete namespace {ns}: {e}",
                    self.id
                ));
            }
        }
        tracing::info!(id = %self.id, "lab down");
    }
}

/// A mount point as `/proc/self/mountinfo` escapes it (`\040` for a space, …).
fn unescape_mount_path(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let code: String = chars.clone().take(3).collect();
            if code.len() == 3
                && let Ok(v) = u8::from_str_radix(&code, 8)
            {
                out.push(char::from(v));
                for _ in 0..3 {
                    chars.next();
                }
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// Logs a clean-up failure where a test's output shows it.
fn warn(msg: &str) {
    tracing::warn!("{msg}");
    eprintln!("{msg}");
}

/// Six random lowercase letters no existing namespace name uses.
fn free_id() -> Result<String, LabError> {
    let existing: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    for _ in 0..16 {
        let id: String = (0..6)
            .map(|_| char::from(b'a' + rand::random_range(0..26u8)))
            .collect();
        let prefix = format!("flt-{id}-");
        if !existing.iter().any(|n| n.starts_with(&prefix)) {
            return Ok(id);
        }
    }
    Err(LabError::Config(
        "no free lab id after 16 tries (are stale flt-* namespaces piling up?)".to_owned(),
    ))
}
