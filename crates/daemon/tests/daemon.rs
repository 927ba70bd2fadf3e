//! The real `flotilla` binary: a daemon process driven by the CLI over its Unix socket.
//! Crash recovery (kill -9), bad input, clean shutdown on SIGTERM.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_flotilla");

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
                "node-1",
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
        "--name",
        "web",
        "--replicas",
        "3",
        "-e",
        "A=1",
        "busybox",
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
    d.ok(&["service", "create", "--name", "web", "busybox"]);
    let cases: &[(&[&str], &str)] = &[
        (
            &["service", "create", "--name", "web", "busybox"],
            "already in use",
        ),
        (&["service", "create", "--name", "", "busybox"], "name"),
        (
            &[
                "service",
                "create",
                "--name",
                "x",
                "--replicas",
                "-1",
                "busybox",
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
                "busybox",
            ],
            "replicas",
        ),
        (&["service", "create", "--name", "x", "Bad:Image:"], "image"),
        (
            &["service", "create", "--name", "x", "-e", "=oops", "busybox"],
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
                "busybox",
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
                "busybox",
            ],
            "no-such-flag",
        ),
    ];
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
