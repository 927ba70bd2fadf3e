//! Privileged integration tests against the host's real cgroup filesystems (v2, v1 or hybrid).
//!
//! They need root and FAIL without it (never skip): run them as root, as CI does. Each test works
//! under its own `flotilla-test-<pid>-<n>-<nanos>/containers` tree, and a guard kills and removes
//! everything it created even when an assertion fails.

use flotilla_cgroups::{Cgroup, Hierarchy, Limits, detect, remove_tree};
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const MIB: u64 = 1024 * 1024;

/// Fails the test unless the effective uid is 0.
fn require_root() {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let euid = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .expect("a Uid: line in /proc/self/status");
    assert_eq!(
        euid, "0",
        "the cgroup integration tests require root (they create cgroups under /sys/fs/cgroup): \
         run them as root, e.g. `sudo -E cargo test -p flotilla-cgroups --test cgroup`"
    );
}

/// Everything a test created; dropping it kills the processes and removes the cgroups, so a failed
/// assertion leaves nothing behind.
struct Guard {
    /// `flotilla-test-…`, the top of this test's tree.
    top: String,
    /// The names created under `<top>/containers`.
    names: Vec<String>,
    /// Processes spawned.
    children: Vec<Child>,
}

impl Guard {
    fn new() -> Guard {
        require_root();
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        Guard {
            top: format!(
                "flotilla-test-{}-{}-{nanos:x}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ),
            names: Vec::new(),
            children: Vec::new(),
        }
    }

    fn parent(&self) -> String {
        format!("{}/containers", self.top)
    }

    fn create(&mut self, name: &str, limits: &Limits) -> Cgroup {
        self.names.push(name.to_owned());
        Cgroup::create(&self.parent(), name, limits).expect("create cgroup")
    }

    /// Spawns a child and keeps it for cleanup; returns its index and pid.
    fn spawn(&mut self, command: &mut Command) -> (usize, i32) {
        let child = command.spawn().expect("spawn");
        let pid = i32::try_from(child.id()).expect("pid fits i32");
        self.children.push(child);
        (self.children.len() - 1, pid)
    }

    /// Waits for a child to exit, for at most `timeout`.
    fn wait(&mut self, index: usize, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.children[index].try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "child {} still running after {timeout:?}",
                self.children[index].id()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for name in &self.names {
            if let Err(e) = Cgroup::destroy(&self.parent(), name) {
                eprintln!("cleanup of cgroup {}/{name}: {e}", self.parent());
            }
        }
        if let Err(e) = remove_tree(&self.top) {
            eprintln!("cleanup of {}: {e}", self.top);
        }
    }
}

/// Reads a cgroup file, trimmed.
fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .trim()
        .to_owned()
}

/// The directory of `cgroup` that holds `file` (v1: the right controller's hierarchy).
fn dir_with<'a>(cgroup: &'a Cgroup, file: &str) -> &'a Path {
    cgroup
        .paths()
        .into_iter()
        .find(|dir| dir.join(file).exists())
        .unwrap_or_else(|| panic!("no directory of the cgroup has {file}"))
}

/// Polls `condition` for up to 5 s.
fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn create_limit_kill_delete() {
    let mut guard = Guard::new();
    let hierarchy = detect().expect("detect");
    let limits = Limits {
        memory_bytes: Some(64 * MIB),
        pids_max: Some(16),
        cpu_shares: Some(512),
        ..Limits::default()
    }
    .with_nano_cpus(500_000_000);
    let cgroup = guard.create("c1", &limits);
    assert_eq!(cgroup.hierarchy(), hierarchy);
    assert_eq!(cgroup.path_v2().is_some(), hierarchy == Hierarchy::V2);

    // The limits are in the files, in the format of the hierarchy.
    if let Some(dir) = cgroup.path_v2() {
        assert_eq!(read(&dir.join("memory.max")), (64 * MIB).to_string());
        assert_eq!(read(&dir.join("pids.max")), "16");
        assert_eq!(read(&dir.join("cpu.max")), "50000 100000");
        assert_eq!(read(&dir.join("cpu.weight")), "20");
    } else {
        let memory = dir_with(&cgroup, "memory.limit_in_bytes");
        assert_eq!(
            read(&memory.join("memory.limit_in_bytes")),
            (64 * MIB).to_string()
        );
        assert_eq!(read(&dir_with(&cgroup, "pids.max").join("pids.max")), "16");
        let cpu = dir_with(&cgroup, "cpu.cfs_quota_us");
        assert_eq!(read(&cpu.join("cpu.cfs_quota_us")), "50000");
        assert_eq!(read(&cpu.join("cpu.cfs_period_us")), "100000");
        assert_eq!(read(&cpu.join("cpu.shares")), "512");
    }

    // A process moved in is listed, and the kernel agrees.
    let (sleep, pid) = guard.spawn(Command::new("sleep").arg("1000"));
    cgroup.add_pid(pid).expect("add pid");
    assert!(
        cgroup.pids().expect("pids").contains(&pid),
        "pid {pid} not in the cgroup"
    );
    let own = read(Path::new(&format!("/proc/{pid}/cgroup")));
    let relative = format!("{}/c1", guard.parent());
    assert!(
        own.lines().all(|line| {
            let controllers = line.split(':').nth(1).unwrap_or("");
            let uses = ["memory", "cpu", "pids", "freezer"]
                .iter()
                .any(|c| controllers.split(',').any(|x| x == *c));
            // v2 line is `0::/path`; v1 lines of the controllers used must point at the cgroup.
            if hierarchy == Hierarchy::V2 {
                !line.starts_with("0::") || line.ends_with(&relative)
            } else {
                !uses || line.ends_with(&relative)
            }
        }),
        "/proc/{pid}/cgroup does not put it in {relative}:\n{own}"
    );

    let stats = cgroup.stats().expect("stats");
    assert_eq!(stats.memory_limit_bytes, Some(64 * MIB));
    // (Memory usage may be 0 on v1: charges made before the move stay where they were.)
    assert!(stats.pids_current >= 1, "{stats:?}");
    assert_eq!(cgroup.oom_kills().expect("oom kills"), 0);

    // Freeze and thaw, checked in the kernel's own files.
    cgroup.freeze().expect("freeze");
    if let Some(dir) = cgroup.path_v2() {
        assert!(read(&dir.join("cgroup.events")).contains("frozen 1"));
    } else {
        let freezer = dir_with(&cgroup, "freezer.state");
        assert_eq!(read(&freezer.join("freezer.state")), "FROZEN");
    }
    cgroup.thaw().expect("thaw");
    if let Some(dir) = cgroup.path_v2() {
        assert!(read(&dir.join("cgroup.events")).contains("frozen 0"));
    } else {
        let freezer = dir_with(&cgroup, "freezer.state");
        assert_eq!(read(&freezer.join("freezer.state")), "THAWED");
    }

    // Re-adoption after a daemon restart.
    let parent = guard.parent();
    assert!(
        Cgroup::list(&parent)
            .expect("list")
            .contains(&"c1".to_owned())
    );
    let reopened = Cgroup::open(&parent, "c1").expect("open");
    assert_eq!(reopened.paths(), cgroup.paths());
    drop(reopened);

    // Raise the limits in place.
    cgroup
        .set_limits(&Limits {
            memory_bytes: Some(128 * MIB),
            pids_max: Some(-1),
            ..Limits::default()
        })
        .expect("set limits");
    assert_eq!(
        cgroup.stats().expect("stats").memory_limit_bytes,
        Some(128 * MIB)
    );
    assert_eq!(read(&dir_with(&cgroup, "pids.max").join("pids.max")), "max");

    // kill_all: the process dies of SIGKILL and the cgroup is empty.
    cgroup.kill_all().expect("kill_all");
    let status = guard.wait(sleep, Duration::from_secs(5));
    assert_eq!(status.signal(), Some(9), "{status:?}");
    assert!(cgroup.pids().expect("pids").is_empty());

    // delete: the directories are gone everywhere; then the test's tree.
    let paths: Vec<PathBuf> = cgroup.paths().iter().map(|p| p.to_path_buf()).collect();
    cgroup.delete().expect("delete");
    for path in &paths {
        assert!(!path.exists(), "{} still exists", path.display());
    }
    assert!(matches!(
        Cgroup::open(&parent, "c1"),
        Err(flotilla_cgroups::CgroupError::NotFound { .. })
    ));
    remove_tree(&guard.top).expect("remove the test's tree");
    for path in &paths {
        let top = path
            .parent()
            .and_then(Path::parent)
            .expect("<mount>/<top>/containers/c1");
        assert!(!top.exists(), "{} still exists", top.display());
    }
}

#[test]
fn kill_all_kills_every_process_forked_inside() {
    let mut guard = Guard::new();
    let cgroup = guard.create(
        "forks",
        &Limits {
            pids_max: Some(32),
            ..Limits::default()
        },
    );
    // The shell waits for a line on stdin, so it forks only once it is in the cgroup.
    let (shell, pid) = guard.spawn(
        Command::new("sh")
            .arg("-c")
            .arg("read go; for i in 1 2 3 4 5; do sleep 1000 & done; wait")
            .stdin(Stdio::piped()),
    );
    cgroup.add_pid(pid).expect("add pid");
    let mut stdin = guard.children[shell].stdin.take().expect("stdin");
    stdin.write_all(b"go\n").expect("release the shell");
    drop(stdin);
    eventually("the shell and its 5 sleeps in the cgroup", || {
        cgroup.pids().map(|p| p.len() == 6).unwrap_or(false)
    });

    cgroup.kill_all().expect("kill_all");
    assert!(cgroup.pids().expect("pids").is_empty());
    let status = guard.wait(shell, Duration::from_secs(5));
    assert_eq!(status.signal(), Some(9), "{status:?}");
    // Nothing left to kill is fine, and so is deleting twice over via destroy.
    cgroup.kill_all().expect("kill_all on an empty cgroup");
    cgroup.delete().expect("delete");
    Cgroup::destroy(&guard.parent(), "forks").expect("destroy a gone cgroup");
}

#[test]
fn oom_kill_is_counted() {
    let mut guard = Guard::new();
    // Memory+swap equal to memory: no swap to escape into.
    let cgroup = guard.create(
        "oom",
        &Limits {
            memory_bytes: Some(32 * MIB),
            memory_swap_bytes: Some(32 * MIB as i64),
            ..Limits::default()
        },
    );
    assert_eq!(cgroup.oom_kills().expect("oom kills"), 0);

    // `tail` keeps the last 10 lines; 200 MiB of zeros is one line, so it holds all of it.
    let (shell, pid) = guard.spawn(
        Command::new("sh")
            .arg("-c")
            .arg("read go; head -c 200M /dev/zero | tail")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    cgroup.add_pid(pid).expect("add pid");
    let mut stdin = guard.children[shell].stdin.take().expect("stdin");
    stdin.write_all(b"go\n").expect("release the shell");
    drop(stdin);

    let status = guard.wait(shell, Duration::from_secs(60));
    assert!(
        !status.success(),
        "allocating 200 MiB under a 32 MiB limit succeeded: {status:?}"
    );
    let kills = cgroup.oom_kills().expect("oom kills");
    assert!(kills >= 1, "oom_kills() = {kills} after {status:?}");

    cgroup.kill_all().expect("kill_all");
    cgroup.delete().expect("delete");
}

/// Whether this host mounts the v1 devices controller.
fn devices_mounted() -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .expect("read mountinfo")
        .lines()
        .filter_map(|l| l.split_once(" - "))
        .any(|(_, right)| {
            let mut f = right.split(' ');
            f.next() == Some("cgroup")
                && f.nth(1)
                    .is_some_and(|o| o.split(',').any(|x| x == "devices"))
        })
}

#[test]
fn devices_are_denied_but_docker_defaults() {
    let mut guard = Guard::new();
    let cgroup = guard.create("dev", &Limits::default());
    let with_list: Vec<&Path> = cgroup
        .paths()
        .into_iter()
        .filter(|d| d.join("devices.list").exists())
        .collect();
    if !devices_mounted() {
        // v2 hosts (no BPF device program yet) and v1 hosts without the controller.
        assert!(with_list.is_empty(), "{with_list:?}");
        return;
    }
    assert_eq!(with_list.len(), 1, "one devices directory: {with_list:?}");
    let list = read(&with_list[0].join("devices.list"));
    let mut got: Vec<&str> = list.lines().collect();
    got.sort_unstable();
    let mut want = vec![
        "c *:* m",
        "b *:* m",
        "c 1:3 rwm",
        "c 1:5 rwm",
        "c 1:7 rwm",
        "c 1:8 rwm",
        "c 1:9 rwm",
        "c 5:0 rwm",
        "c 5:1 rwm",
        "c 5:2 rwm",
        "c 136:* rwm",
    ];
    want.sort_unstable();
    assert_eq!(got, want, "devices.list of {}", with_list[0].display());

    // A cgroup made before the devices controller was used (no directory there) opens still.
    std::fs::remove_dir(with_list[0]).expect("rmdir the devices directory");
    let reopened = Cgroup::open(&guard.parent(), "dev").expect("open without a devices dir");
    assert!(
        reopened
            .paths()
            .iter()
            .all(|d| !d.join("devices.list").exists()),
        "{:?}",
        reopened.paths()
    );
}
