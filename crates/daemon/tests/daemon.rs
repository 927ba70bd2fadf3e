//! The real `flotilla` binary: a daemon process driven by the CLI over its Unix socket.
//! Crash recovery (kill -9), bad input, clean shutdown on SIGTERM.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_flotilla");
/// An image reference no node has and no pull can reach (a closed loopback port): services of
/// the control-plane tests never cause traffic beyond this machine.
const NO_PULL: &str = "127.0.0.1:9/busybox";

/// A daemon process this test started; killed on drop so a failing test leaves nothing behind.
struct Daemon {
    child: Option<Child>,
    dir: PathBuf,
    port: u16,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

impl Daemon {
    fn start(dir: &Path, port: u16) -> Self {
        Self::start_named(dir, port, "node-1")
    }

    fn start_named(dir: &Path, port: u16, node_name: &str) -> Self {
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(dir.join("daemon.log"))
            .expect("log file");
        let child = Command::new(BIN)
            .args(["daemon", "--data-dir"])
            .arg(dir.join("data"))
            .args([
                "--listen-addr",
                &format!("127.0.0.1:{port}"),
                "--node-name",
                node_name,
            ])
            .arg("-H")
            .arg(format!("unix://{}", dir.join("flotilla.sock").display()))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn daemon");
        let d = Daemon {
            child: Some(child),
            dir: dir.to_owned(),
            port,
        };
        d.wait_ready();
        d
    }

    fn host(&self) -> String {
        format!("unix://{}", self.dir.join("flotilla.sock").display())
    }

    fn cli(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("-H")
            .arg(self.host())
            .args(args)
            .output()
            .expect("run cli")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "flotilla {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default()
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.cli(&["info"]).status.success() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("daemon did not answer within 30 s:\n{}", self.log());
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.as_ref().map_or(0, |c| c.id() as i32))
    }

    /// kill -9 and reap.
    fn crash(&mut self) {
        if let Some(mut c) = self.child.take() {
            kill(Pid::from_raw(c.id() as i32), Signal::SIGKILL).expect("kill -9");
            c.wait().expect("reap");
        }
    }

    /// SIGTERM, then wait (bounded) for a clean exit.
    fn stop(&mut self) -> std::process::ExitStatus {
        kill(self.pid(), Signal::SIGTERM).expect("SIGTERM");
        let mut c = self.child.take().expect("running");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = c.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = c.kill();
                let _ = c.wait();
                panic!(
                    "daemon did not stop within 20 s of SIGTERM:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = kill(Pid::from_raw(c.id() as i32), Signal::SIGKILL);
            let _ = c.wait();
        }
    }
}

fn inspect(d: &Daemon, name: &str) -> serde_json::Value {
    let out = d.ok(&["service", "inspect", name]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("inspect prints JSON");
    v.get(0).cloned().expect("one service")
}

#[test]
fn service_survives_kill_9_with_same_id_and_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut d = Daemon::start(dir.path(), port);
    let init = d.ok(&["swarm", "init", "--advertise-addr", "127.0.0.1"]);
    assert!(init.contains("Swarm initialized"), "{init}");
    let id = d.ok(&[
        "service",
        "create",
        "-d",
        "--name",
        "web",
        "--replicas",
        "3",
        "-e",
        "A=1",
        NO_PULL,
        "echo",
        "hi",
    ]);
    let id = id.trim().to_owned();
    assert_eq!(id.len(), 25, "prints the new service id: {id:?}");
    let before = inspect(&d, "web");
    assert_eq!(before["id"], serde_json::Value::String(id.clone()));

    d.crash();
    let d = Daemon::start(dir.path(), d.port);
    let after = inspect(&d, "web");
    assert_eq!(after["id"], before["id"], "same id after kill -9");
    assert_eq!(
        after["meta"]["version"], before["meta"]["version"],
        "same version after kill -9"
    );
    assert_eq!(after["spec"], before["spec"]);

    let ls: serde_json::Value =
        serde_json::from_str(&d.ok(&["service", "ls", "--format", "json"])).expect("json");
    assert_eq!(ls[0]["name"], "web");
    assert_eq!(ls[0]["replicas"], "0/3");
    let nodes: serde_json::Value =
        serde_json::from_str(&d.ok(&["node", "ls", "--format", "json"])).expect("json");
    assert_eq!(nodes.as_array().map(Vec::len), Some(1));
    assert_eq!(nodes[0]["manager_status"], "Leader");
    assert_eq!(nodes[0]["hostname"], "node-1");
}

#[test]
fn bad_input_names_the_field_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start(dir.path(), free_port());
    // Outside a swarm, cluster commands explain what to do.
    let out = d.cli(&["service", "ls"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("swarm init"));
    d.ok(&["swarm", "init", "--advertise-addr", "127.0.0.1"]);
    d.ok(&["service", "create", "-d", "--name", "web", NO_PULL]);
    let cases: &[(&[&str], &str)] = &[
        (
            &["service", "create", "--name", "web", NO_PULL],
            "already in use",
        ),
        (&["service", "create", "--name", "", NO_PULL], "name"),
        (
            &[
                "service",
                "create",
                "--name",
                "x",
                "--replicas",
                "-1",
                NO_PULL,
            ],
            "replicas",
        ),
        (
            &[
                "service",
                "create",
                "--name",
                "x",
                "--replicas",
                "100001",
                NO_PULL,
            ],
            "replicas",
        ),
        (&["service", "create", "--name", "x", "Bad:Image:"], "image"),
        (
            &["service", "create", "--name", "x", "-e", "=oops", NO_PULL],
            "env",
        ),
        (
            &[
                "service",
                "create",
                "--name",
                "x",
                "--constraint",
                "node.shoe==red",
                NO_PULL,
            ],
            "constraint",
        ),
        (
            &[
                "service",
                "create",
                "--name",
                "x",
                "--no-such-flag",
                NO_PULL,
            ],
            "no-such-flag",
        ),
        // Conflicting flags, and no image at all.
        (
            &[
                "service",
                "create",
                "--name",
                "x",
                "--mode",
                "global",
                "--replicas",
                "3",
                NO_PULL,
            ],
            "--replicas can only be used with replicated",
        ),
        (&["service", "create", "--name", "x"], "<IMAGE>"),
        // A refused update changes nothing.
        (
            &["service", "update", "--replicas", "-2", "web"],
            "replicas",
        ),
        (
            &[
                "service",
                "update",
                "--constraint-add",
                "node.shoe==red",
                "web",
            ],
            "constraint",
        ),
        (
            &["service", "update", "--image", "Bad:Image:", "web"],
            "image",
        ),
    ];
    let before = d.ok(&["service", "inspect", "web"]);
    for (args, word) in cases {
        let out = d.cli(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} must fail");
        assert!(
            err.contains(word),
            "{args:?}: error should mention {word:?}: {err}"
        );
    }
    let ids = d.ok(&["service", "ls", "-q"]);
    assert_eq!(ids.lines().count(), 1, "nothing else was written: {ids}");
    assert_eq!(
        d.ok(&["service", "inspect", "web"]),
        before,
        "the refused updates left the service as it was"
    );
}

#[test]
fn sigterm_stops_cleanly_and_removes_the_socket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut d = Daemon::start(dir.path(), free_port());
    d.ok(&["swarm", "init", "--advertise-addr", "127.0.0.1"]);
    let status = d.stop();
    assert!(status.success(), "exit status {status:?}:\n{}", d.log());
    assert!(!dir.path().join("flotilla.sock").exists(), "socket removed");
    assert!(d.log().contains("stopped"), "{}", d.log());
}

#[test]
fn two_daemons_cannot_share_a_data_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _d = Daemon::start(dir.path(), free_port());
    let out = Command::new(BIN)
        .args(["daemon", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("-H")
        .arg(format!(
            "unix://{}",
            dir.path().join("other.sock").display()
        ))
        .args(["--node-name", "n2", "--listen-addr", "127.0.0.1:1"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use by another flotilla daemon"));
}

#[test]
fn images_import_list_inspect_remove_prune() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start(dir.path(), free_port());
    // A rootfs tarball made with the system's tar.
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).expect("mkdir");
    std::fs::write(rootfs.join("bin/hello"), b"#!/bin/sh\necho hello\n").expect("write");
    let tarball = dir.path().join("rootfs.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tarball)
        .arg(".")
        .status()
        .expect("tar");
    assert!(st.success());
    let tarball = tarball.display().to_string();
    let id = d.ok(&["image", "import", &tarball, "myimg:v1"]);
    assert!(
        id.trim().starts_with("sha256:"),
        "prints the image id: {id:?}"
    );
    let ls: serde_json::Value =
        serde_json::from_str(&d.ok(&["image", "ls", "--format", "json"])).expect("json");
    assert_eq!(ls[0]["repository"], "myimg");
    assert_eq!(ls[0]["tag"], "v1");
    let inspect: serde_json::Value =
        serde_json::from_str(&d.ok(&["image", "inspect", "myimg:v1"])).expect("json");
    assert_eq!(inspect[0]["id"].as_str(), Some(id.trim()));
    // The same rootfs imported untagged is a dangling image; prune removes it only.
    let dangling = d.ok(&["image", "import", &tarball]);
    let pruned = d.ok(&["image", "prune", "-f"]);
    if dangling.trim() != id.trim() {
        assert!(pruned.contains(dangling.trim()), "{pruned}");
    }
    assert!(
        d.ok(&["image", "ls", "-q"])
            .contains(&id.trim()["sha256:".len()..][..12])
    );
    // A bad name is refused, naming it.
    let out = d.cli(&["image", "import", &tarball, "Bad:Name:"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("NAME"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rm = d.ok(&["image", "rm", "myimg:v1"]);
    assert!(rm.contains("Untagged") && rm.contains("Deleted"), "{rm}");
    assert_eq!(d.ok(&["image", "ls", "-q"]).trim(), "");
}

#[test]
fn image_pull_reports_the_registry_it_cannot_reach() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start(dir.path(), free_port());
    // Nothing listens there (the registry tests in the image crate cover real pulls).
    let closed = format!("127.0.0.1:{}", free_port());
    let reference = format!("{closed}/test/busybox:1");
    let out = d.cli(&["image", "pull", "--insecure-registry", &closed, &reference]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("1: Pulling from test/busybox"), "{stdout}");
    assert!(
        stderr.contains(&closed) && stderr.to_lowercase().contains("connection refused"),
        "{stderr}\n{}",
        d.log()
    );
    // A bad reference is refused before anything is asked of the daemon.
    let out = d.cli(&["image", "pull", "Bad:Ref:"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid reference format"), "{stderr}");
    assert_eq!(d.ok(&["image", "ls", "-q"]).trim(), "");
}

/// Kills and removes whatever containers are left under a test daemon's cgroup parent, also
/// when the test fails (their shims outlive the daemon by design).
struct ContainerCgroups(&'static str);

impl Drop for ContainerCgroups {
    fn drop(&mut self) {
        if let Ok(names) = flotilla_cgroups::Cgroup::list(self.0) {
            for name in names {
                if let Ok(cg) = flotilla_cgroups::Cgroup::open(self.0, &name) {
                    let _ = cg.kill_all();
                    let _ = cg.delete();
                }
            }
        }
        let _ = flotilla_cgroups::remove_tree(self.0.trim_end_matches("/containers"));
    }
}

/// A one-layer image of the host's busybox-static, imported as `bb:1`.
fn import_busybox(d: &Daemon, dir: &Path) {
    let busybox = Path::new("/bin/busybox");
    assert!(
        busybox.exists(),
        "this test needs /bin/busybox: apt-get install busybox-static"
    );
    let rootfs = dir.join("bb-rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).expect("mkdir");
    std::fs::create_dir_all(rootfs.join("etc")).expect("mkdir");
    std::fs::create_dir_all(rootfs.join("tmp")).expect("mkdir");
    std::fs::copy(busybox, rootfs.join("bin/busybox")).expect("copy busybox");
    for applet in [
        "sh", "echo", "sleep", "cat", "head", "tr", "true", "ls", "false", "test", "touch", "tty",
        "id", "pwd",
    ] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).expect("symlink");
    }
    std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").expect("passwd");
    let tarball = dir.join("bb.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tarball)
        .arg(".")
        .status()
        .expect("tar");
    assert!(st.success());
    d.ok(&["image", "import", &tarball.display().to_string(), "bb:1"]);
}

/// Polls `container ls -a` until `pred` holds on its text (bounded).
fn wait_ls(d: &Daemon, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ls = d.ok(&["container", "ls", "-a", "--no-trunc"]);
        if pred(&ls) {
            return ls;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}:\n{ls}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn container_run_rm_prints_and_leaves_nothing() {
    const PARENT: &str = "flotilla-ctr-test-1/containers";
    let _cleanup = ContainerCgroups(PARENT);
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start_named(dir.path(), free_port(), "ctr-test-1");
    import_busybox(&d, dir.path());

    let out = d.cli(&["container", "run", "--rm", "bb:1", "echo", "hi"]);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        d.log()
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");
    assert_eq!(
        d.ok(&["container", "ls", "-a", "-q"]),
        "",
        "--rm leaves no container"
    );
    let data = dir.path().join("data/containers");
    for sub in ["run", "rw", "meta"] {
        let left: Vec<_> = std::fs::read_dir(data.join(sub)).expect("dir").collect();
        assert!(left.is_empty(), "{sub} holds {left:?} after --rm");
    }
    assert!(
        flotilla_cgroups::Cgroup::list(PARENT)
            .map(|l| l.is_empty())
            .unwrap_or(true),
        "a cgroup was left under {PARENT}"
    );
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(
        !mounts.contains(&data.display().to_string()),
        "a mount was left"
    );

    // Exit codes and stderr come back; PID 1 is the command and the host is hidden.
    let out = d.cli(&[
        "container",
        "run",
        "--rm",
        "bb:1",
        "sh",
        "-c",
        "echo oops >&2; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "oops\n");
    let out = d.ok(&[
        "container",
        "run",
        "--rm",
        "bb:1",
        "sh",
        "-c",
        "echo $$; ls /proc | tr -cd '0-9\\n' | tr -s '\\n' | head -c 100; ls /sys/class/net",
    ]);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("1"), "PID 1 is the command: {out}");
    assert!(out.ends_with("lo\n"), "only lo is visible: {out}");

    // Bad input names the flag and creates nothing.
    let out = d.cli(&["container", "run", "--name", "bad name!", "bb:1", "true"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--name"));
    let out = d.cli(&["container", "run", "nosuchimage:1", "true"]);
    assert!(!out.status.success());
    assert_eq!(d.ok(&["container", "ls", "-a", "-q"]), "");

    // Memory limit: a shell growing a 100 MiB string under -m 32m is OOM-killed, and says so.
    let out = d.cli(&[
        "container",
        "run",
        "--name",
        "hog",
        "-m",
        "32m",
        "bb:1",
        "sh",
        "-c",
        "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived",
    ]);
    assert!(
        !out.status.success(),
        "the hog survived: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let inspect: serde_json::Value =
        serde_json::from_str(&d.ok(&["container", "inspect", "hog"])).expect("json");
    assert_eq!(inspect[0]["exit"]["oom_killed"], true, "{inspect}");
    // An image a container uses is not removed from under it.
    let out = d.cli(&["image", "rm", "bb:1"]);
    assert!(!out.status.success(), "image rm of a used image worked");
    d.ok(&["container", "rm", "hog"]);
    d.ok(&["image", "rm", "bb:1"]);
}

#[test]
fn containers_survive_a_daemon_kill_9_and_are_readopted() {
    const PARENT: &str = "flotilla-ctr-test-2/containers";
    let _cleanup = ContainerCgroups(PARENT);
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut d = Daemon::start_named(dir.path(), port, "ctr-test-2");
    import_busybox(&d, dir.path());
    d.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "sleeper",
        "bb:1",
        "sleep",
        "300",
    ]);
    d.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "quitter",
        "bb:1",
        "sh",
        "-c",
        "sleep 2; exit 7",
    ]);
    let ls = d.ok(&["container", "ls"]);
    assert!(ls.contains("sleeper") && ls.contains("quitter"), "{ls}");

    d.crash();
    // The quitter exits while no daemon runs; its shim records the code.
    std::thread::sleep(Duration::from_secs(3));
    let d = Daemon::start_named(dir.path(), port, "ctr-test-2");
    let ls = wait_ls(&d, "the re-adopted containers", |ls| {
        ls.lines()
            .any(|l| l.contains("sleeper") && l.contains("Up"))
            && ls
                .lines()
                .any(|l| l.contains("quitter") && l.contains("Exited (7)"))
    });
    assert!(!ls.contains("Dead"), "{ls}");
    d.ok(&["container", "pause", "sleeper"]);
    let ls = d.ok(&["container", "ls"]);
    assert!(ls.contains("(Paused)"), "{ls}");
    assert!(
        !d.cli(&["container", "pause", "sleeper"]).status.success(),
        "paused twice"
    );
    d.ok(&["container", "unpause", "sleeper"]);
    assert!(!d.ok(&["container", "ls"]).contains("Paused"));
    d.ok(&["container", "stop", "-t", "1", "sleeper"]);
    wait_ls(&d, "the sleeper to stop", |ls| {
        ls.lines()
            .any(|l| l.contains("sleeper") && l.contains("Exited ("))
    });
    let pruned = d.ok(&["container", "prune", "-f"]);
    assert!(pruned.contains("Total reclaimed containers: 2"), "{pruned}");
    assert!(
        flotilla_cgroups::Cgroup::list(PARENT)
            .map(|l| l.is_empty())
            .unwrap_or(true),
        "a cgroup was left under {PARENT}"
    );
}

/// Fails (never skips) unless the test runs as root: containers need namespaces, mounts and
/// cgroups.
fn require_root() {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let euid = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        euid, "0",
        "this test runs real containers and needs root: run it as root (it is never skipped)"
    );
}

impl Daemon {
    /// Runs the CLI with `input` on its stdin, bounded to 60 s.
    fn cli_with_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        use std::io::Write;
        let mut child = Command::new(BIN)
            .arg("-H")
            .arg(self.host())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run cli");
        let mut stdin = child.stdin.take().expect("stdin pipe");
        stdin.write_all(input).expect("write stdin");
        drop(stdin);
        let pid = child.id() as i32;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(out) => out.expect("wait for cli"),
            Err(_) => {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                panic!("flotilla {args:?} did not end within 60 s:\n{}", self.log());
            }
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn container_exec_and_interactive_run_through_the_cli() {
    require_root();
    const PARENT: &str = "flotilla-ctr-test-3/containers";
    let _cleanup = ContainerCgroups(PARENT);
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start_named(dir.path(), free_port(), "ctr-test-3");
    import_busybox(&d, dir.path());
    d.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "box",
        "bb:1",
        "sleep",
        "300",
    ]);

    assert_eq!(d.ok(&["container", "exec", "box", "echo", "hi"]), "hi\n");

    let out = d.cli(&[
        "container",
        "exec",
        "box",
        "sh",
        "-c",
        "echo err >&2; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "err\n");
    assert_eq!(text(&out.stdout), "");

    let out = d.cli_with_stdin(&["container", "exec", "-i", "box", "cat"], b"hello\n");
    assert!(out.status.success(), "{}\n{}", text(&out.stderr), d.log());
    assert_eq!(text(&out.stdout), "hello\n");

    // -t with stdin not a terminal: the command still gets one.
    let out = d.ok(&["container", "exec", "-t", "box", "tty"]);
    let first = out
        .lines()
        .next()
        .unwrap_or_default()
        .trim_end_matches('\r');
    assert!(first.starts_with("/dev/pts/"), "{out:?}");

    let out = d.ok(&[
        "container",
        "exec",
        "-e",
        "FOO=bar",
        "-u",
        "1000",
        "-w",
        "/bin",
        "box",
        "sh",
        "-c",
        "echo $FOO; id -u; pwd",
    ]);
    assert_eq!(out, "bar\n1000\n/bin\n");

    let out = d.cli(&["container", "exec", "box", "no-such-command"]);
    assert_eq!(out.status.code(), Some(127), "{}", text(&out.stderr));

    let out = d.cli(&["container", "exec", "nosuchbox", "true"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("No such container: nosuchbox"),
        "{}",
        text(&out.stderr)
    );

    // run -i: stdin to the container's command, then --rm removes it.
    let out = d.cli_with_stdin(
        &["container", "run", "-i", "--rm", "bb:1", "sh"],
        b"echo from-run\n",
    );
    assert!(out.status.success(), "{}\n{}", text(&out.stderr), d.log());
    assert_eq!(text(&out.stdout), "from-run\n");
    let out = d.cli_with_stdin(
        &["container", "run", "-i", "--rm", "bb:1", "sh"],
        b"echo to-stderr >&2; exit 4\n",
    );
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "to-stderr\n");
    let left = d.ok(&["container", "ls", "-a", "-q"]);
    assert_eq!(left.lines().count(), 1, "--rm left containers: {left}");

    d.ok(&["container", "stop", "-t", "1", "box"]);
    let out = d.cli(&["container", "exec", "box", "true"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("not running"),
        "{}",
        text(&out.stderr)
    );
    d.ok(&["container", "rm", "box"]);
}

/// The `STATUS` of container `name` in `container ls -a` once `pred` holds on it (bounded).
fn wait_status(d: &Daemon, name: &str, pred: impl Fn(&str) -> bool) -> String {
    let line = wait_ls(d, &format!("the status of {name}"), |ls| {
        ls.lines().any(|l| l.trim_end().ends_with(name) && pred(l))
    });
    line.lines()
        .find(|l| l.trim_end().ends_with(name))
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn health_checks_through_the_cli() {
    require_root();
    const PARENT: &str = "flotilla-ctr-test-4/containers";
    let _cleanup = ContainerCgroups(PARENT);
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut d = Daemon::start_named(dir.path(), port, "ctr-test-4");
    import_busybox(&d, dir.path());
    d.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "slow",
        "--health-cmd",
        "test -f /tmp/ok",
        "--health-interval",
        "200ms",
        "--health-retries",
        "2",
        "bb:1",
        "sh",
        "-c",
        "sleep 1; touch /tmp/ok; sleep 100",
    ]);
    let first = d.ok(&["container", "ls"]);
    assert!(
        first.contains("(health: starting)") || first.contains("(unhealthy)"),
        "not healthy before /tmp/ok exists: {first}"
    );
    wait_status(&d, "slow", |l| l.contains("(healthy)"));
    let inspect: serde_json::Value =
        serde_json::from_str(&d.ok(&["container", "inspect", "slow"])).expect("json");
    let health = &inspect[0]["health"];
    assert_eq!(health["status"], "healthy", "{inspect}");
    assert_eq!(health["failing_streak"], 0, "{inspect}");
    let log = health["log"].as_array().expect("a log");
    assert!(!log.is_empty() && log.len() <= 5, "{inspect}");
    assert_eq!(log[log.len() - 1]["exit_code"], 0, "{inspect}");

    d.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "sick",
        "--health-cmd",
        "echo failing; false",
        "--health-interval",
        "200ms",
        "--health-retries",
        "2",
        "bb:1",
        "sleep",
        "100",
    ]);
    wait_status(&d, "sick", |l| l.contains("(unhealthy)"));
    let inspect: serde_json::Value =
        serde_json::from_str(&d.ok(&["container", "inspect", "sick"])).expect("json");
    let health = &inspect[0]["health"];
    assert_eq!(health["status"], "unhealthy", "{inspect}");
    assert!(health["failing_streak"].as_u64() >= Some(2), "{inspect}");
    assert_eq!(health["log"][0]["output"], "failing\n", "{inspect}");

    // Conflicting flags are refused, naming them.
    let out = d.cli(&[
        "container",
        "run",
        "--no-healthcheck",
        "--health-cmd",
        "true",
        "bb:1",
        "true",
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("--no-healthcheck") && err.contains("--health-cmd"),
        "{err}"
    );

    // Re-adopted after a kill -9: starting again, then healthy again.
    d.crash();
    let d = Daemon::start_named(dir.path(), port, "ctr-test-4");
    wait_status(&d, "slow", |l| l.contains("(healthy)"));
    d.ok(&["container", "rm", "-f", "slow", "sick"]);
}
