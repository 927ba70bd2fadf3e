//! What the privileged integration tests share: a busybox root filesystem, a [`Fixture`] per
//! test (state root, cgroup tree, removed on drop even when an assertion fails), and helpers.
//!
//! They need root and FAIL without it (never skip). They also need Debian's `busybox-static`
//! (`/bin/busybox`).

#![allow(dead_code)]

use flotilla_container::{
    Container, ContainerConfig, ExitStatus, HELPER_SUBCOMMAND, Rootfs, Runtime,
};
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const MIB: u64 = 1024 * 1024;
pub const BUSYBOX: &str = "/bin/busybox";
pub const APPLETS: [&str; 28] = [
    "sh", "echo", "cat", "sleep", "true", "false", "id", "hostname", "ps", "mount", "grep", "head",
    "tail", "dd", "ls", "mknod", "unshare", "touch", "pwd", "tr", "wc", "env", "tty", "seq",
    "printf", "kill", "[", "test",
];

/// Fails the test unless the effective uid is 0.
pub fn require_root() {
    let status = fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let euid = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .expect("a Uid: line in /proc/self/status");
    assert_eq!(
        euid, "0",
        "the container integration tests need root (namespaces, mounts, cgroups): run them as \
         root, e.g. `sudo -E cargo test -p flotilla-container --test run`"
    );
}

/// Builds a root filesystem: busybox, its applet symlinks, /etc/passwd and /etc/group.
pub fn build_rootfs(root: &Path) {
    assert!(
        Path::new(BUSYBOX).is_file(),
        "{BUSYBOX} is missing: install busybox-static (apt-get install -y busybox-static)"
    );
    for dir in ["bin", "etc", "root", "proc", "dev", "sys"] {
        fs::create_dir_all(root.join(dir)).expect("mkdir");
    }
    let tmp = root.join("tmp");
    fs::create_dir_all(&tmp).expect("mkdir tmp");
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o1777)).expect("chmod tmp");
    fs::copy(BUSYBOX, root.join("bin/busybox")).expect("copy busybox");
    for applet in APPLETS {
        symlink("busybox", root.join("bin").join(applet)).expect("applet symlink");
    }
    fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .expect("passwd");
    fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").expect("group");
}

/// One test's world; dropping it removes every container, the cgroup tree and the directory.
pub struct Fixture {
    pub tmp: tempfile::TempDir,
    pub runtime: Runtime,
    pub top: String,
    pub rootfs: PathBuf,
}

pub static COUNTER: AtomicU32 = AtomicU32::new(0);

impl Fixture {
    pub fn new() -> Fixture {
        require_root();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = tempfile::Builder::new()
            .prefix("flotilla-ctest-")
            .tempdir()
            .expect("tempdir");
        let rootfs = tmp.path().join("rootfs");
        build_rootfs(&rootfs);
        let top = format!("flotilla-test-{}-{n}", std::process::id());
        let runtime = Runtime::new(
            tmp.path().join("state"),
            format!("{top}/containers"),
            env!("CARGO_BIN_EXE_flotilla-container-init"),
            HELPER_SUBCOMMAND,
        )
        .expect("runtime")
        .with_start_timeout(Duration::from_secs(30));
        Fixture {
            tmp,
            runtime,
            top,
            rootfs,
        }
    }

    /// A configuration for `sh -c script` in the busybox root filesystem.
    pub fn sh(&self, name: &str, script: &str) -> ContainerConfig {
        let id = format!("c{}-{name}", COUNTER.fetch_add(1, Ordering::Relaxed));
        ContainerConfig::new(
            id,
            Rootfs::Directory {
                path: self.rootfs.clone(),
            },
            vec!["sh".to_owned(), "-c".to_owned(), script.to_owned()],
        )
    }

    pub fn start(&self, config: ContainerConfig) -> Container {
        self.runtime.create_and_start(config).expect("start")
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Ok(containers) = self.runtime.list() {
            for container in containers {
                let _ = container.delete();
            }
        }
        let _ = flotilla_cgroups::remove_tree(&self.top);
    }
}

/// Everything that must be gone once a container is deleted.
pub struct Traces {
    pub pids: Vec<i32>,
    pub cgroup_dirs: Vec<PathBuf>,
    pub state_dir: PathBuf,
}

pub fn traces(container: &Container) -> Traces {
    let cgroup_dirs = container
        .cgroup()
        .map(|c| c.paths().into_iter().map(Path::to_path_buf).collect())
        .unwrap_or_default();
    Traces {
        pids: container
            .pid()
            .into_iter()
            .chain(container.shim_pid())
            .collect(),
        cgroup_dirs,
        state_dir: container.state_dir().to_path_buf(),
    }
}

/// Deletes the container and checks that no process, cgroup, mount or state is left.
pub fn delete_and_check(fx: &Fixture, container: Container) {
    let traces = traces(&container);
    assert!(!traces.cgroup_dirs.is_empty(), "the container had a cgroup");
    container.delete().expect("delete");
    for dir in &traces.cgroup_dirs {
        assert!(!dir.exists(), "cgroup {} left behind", dir.display());
    }
    assert!(!traces.state_dir.exists(), "state directory left behind");
    for pid in traces.pids {
        // A zombie waiting for an absent init to reap it counts as gone.
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .unwrap_or("Z");
        assert!(
            state == "Z" || state == "X",
            "process {pid} left behind: {stat}"
        );
    }
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let dir = fx.tmp.path().to_string_lossy().into_owned();
    assert!(
        !mountinfo.contains(&dir),
        "a mount under {dir} is left on the host:\n{mountinfo}"
    );
}

/// What the container wrote, stdout and stderr interleaved as logged: the text of every record,
/// with a newline after full lines.
pub fn log_text(log_path: &Path) -> String {
    let records = flotilla_container::read_logs(log_path, None).expect("read the log");
    let mut text = Vec::new();
    for record in records {
        text.extend_from_slice(&record.text);
        if !record.partial {
            text.push(b'\n');
        }
    }
    String::from_utf8_lossy(&text).into_owned()
}

/// Runs a container to its end: exit status and log (as [`log_text`]).
pub fn run(fx: &Fixture, config: ContainerConfig) -> (ExitStatus, String) {
    let mut container = fx.start(config);
    let exit = container
        .wait_exit(Duration::from_secs(60))
        .expect("wait")
        .expect("exited within 60 s");
    let log = log_text(&container.log_path());
    delete_and_check(fx, container);
    (exit, log)
}

/// The value of `key:` in a `/proc/<pid>/status` text.
pub fn status_field<'a>(status: &'a str, key: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':')))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {key} in:\n{status}"))
}

/// Waits until the container's log contains `needle`.
pub fn wait_for_log(container: &Container, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = log_text(&container.log_path());
        if log.contains(needle) {
            return;
        }
        assert!(Instant::now() < deadline, "{needle:?} never logged: {log}");
        std::thread::sleep(Duration::from_millis(10));
    }
}
