//! Privileged integration tests of a container's I/O: CRI logs and their rotation, `exec`,
//! terminals and the attach protocol.
//!
//! Like `run.rs`, they need root and `busybox-static`, FAIL without them (never skip), and
//! remove every container, cgroup and directory on drop, also when an assertion fails (the
//! `common` module's `Fixture`; exec helpers are killed by [`Helper`] guards).

mod common;

use common::{Fixture, delete_and_check, log_text, status_field, wait_for_log};
use flotilla_container::attach::{self, Frame};
use flotilla_container::logs::rotated_path;
use flotilla_container::{
    Container, ContainerConfig, ContainerError, ExecConfig, LogConfig, LogRecord, Rootfs, Stream,
    User, read_logs,
};
use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Output};
use std::time::{Duration, SystemTime};

/// An exec helper, killed and reaped on drop if the test did not wait for it.
struct Helper(Option<Child>);

impl Helper {
    /// Its output once it exits (stdin closed first).
    fn output(mut self) -> Output {
        let child = self.0.take().expect("a helper");
        child.wait_with_output().expect("wait for the exec helper")
    }

    /// Its exit code.
    fn code(mut self) -> Option<i32> {
        let mut child = self.0.take().expect("a helper");
        child.wait().expect("wait for the exec helper").code()
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs `args` in the container without a terminal: (exit code, stdout, stderr).
fn exec(fx: &Fixture, container: &Container, config: ExecConfig) -> (Option<i32>, String, String) {
    let child = fx
        .runtime
        .exec(container.id(), config)
        .expect("start the exec");
    let output = Helper(Some(child)).output();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// An [`ExecConfig`] for `args`.
fn command(args: &[&str]) -> ExecConfig {
    ExecConfig::new(args.iter().map(|a| (*a).to_owned()).collect())
}

/// A container running `sleep` as PID 1, once it has started.
fn sleeper(fx: &Fixture, name: &str) -> Container {
    let container = fx.start(fx.sh(name, "echo ready; exec sleep 1000"));
    wait_for_log(&container, "ready");
    container
}

/// Connects to an attach socket, with a 30 s read timeout.
fn connect(path: &Path) -> UnixStream {
    let sock =
        UnixStream::connect(path).unwrap_or_else(|e| panic!("connect to {}: {e}", path.display()));
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    sock
}

/// Sends frames to the shim.
fn send(sock: &mut UnixStream, frames: &[Frame]) {
    let mut bytes = Vec::new();
    for frame in frames {
        attach::encode_into(frame, &mut bytes);
    }
    sock.write_all(&bytes).expect("send frames");
}

/// Reads frames until the exit frame: (stdout, stderr, exit code).
fn read_until_exit(sock: &mut UnixStream) -> (String, String, i32) {
    let (mut out, mut err, mut buf) = (Vec::new(), Vec::new(), Vec::new());
    let mut chunk = [0u8; 4096];
    loop {
        while let Some((frame, used)) = attach::decode_from_shim(&buf).expect("valid frames") {
            buf.drain(..used);
            match frame {
                Frame::Stdout(data) => out.extend(data),
                Frame::Stderr(data) => err.extend(data),
                Frame::Exit(code) => {
                    return (
                        String::from_utf8_lossy(&out).into_owned(),
                        String::from_utf8_lossy(&err).into_owned(),
                        code,
                    );
                }
                other => panic!("unexpected frame from the shim: {other:?}"),
            }
        }
        let n = sock.read(&mut chunk).unwrap_or_else(|e| {
            panic!(
                "read the attach socket: {e}; output so far: {:?}",
                String::from_utf8_lossy(&out)
            )
        });
        assert!(
            n > 0,
            "the socket closed before the exit frame; output so far: {:?}",
            String::from_utf8_lossy(&out)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Owned copies of expected texts.
fn owned(expected: &[(bool, &str)]) -> Vec<(bool, String)> {
    expected.iter().map(|&(p, t)| (p, t.to_owned())).collect()
}

/// The texts of one stream's records: (partial, text).
fn texts(records: &[LogRecord], stream: Stream) -> Vec<(bool, String)> {
    records
        .iter()
        .filter(|r| r.stream == stream)
        .map(|r| (r.partial, String::from_utf8_lossy(&r.text).into_owned()))
        .collect()
}

#[test]
fn logs_split_stdout_and_stderr_with_timestamps() {
    let fx = Fixture::new();
    let before = SystemTime::now() - Duration::from_secs(1);
    let mut container = fx.start(fx.sh(
        "logs",
        "echo out1; echo err1 >&2; echo out2; echo; printf tail",
    ));
    let exit = container
        .wait_exit(Duration::from_secs(60))
        .expect("wait")
        .expect("exited");
    let after = SystemTime::now() + Duration::from_secs(1);
    assert_eq!(exit.code, Some(0), "{exit:?}");
    let records = read_logs(&container.log_path(), None).expect("read the log");
    assert_eq!(
        texts(&records, Stream::Stdout),
        owned(&[
            (false, "out1"),
            (false, "out2"),
            (false, ""),
            (true, "tail")
        ]),
        "{records:?}"
    );
    assert_eq!(
        texts(&records, Stream::Stderr),
        owned(&[(false, "err1")]),
        "{records:?}"
    );
    for record in &records {
        let time = record.timestamp().expect("a valid timestamp");
        assert!(time >= before && time <= after, "{record:?}");
        assert!(record.time.ends_with('Z') && record.time.contains('T'));
    }
    // The file itself: `<time> <stream> <F|P> <text>` lines.
    let raw = fs::read_to_string(container.log_path()).expect("read the file");
    assert!(raw.ends_with('\n'));
    for line in raw.lines() {
        let fields: Vec<&str> = line.splitn(4, ' ').collect();
        assert_eq!(fields.len(), 4, "{line:?}");
        assert!(matches!(fields[1], "stdout" | "stderr"), "{line:?}");
        assert!(matches!(fields[2], "F" | "P"), "{line:?}");
    }
    assert!(raw.contains(" stderr F err1\n"), "{raw}");
    assert!(raw.contains(" stdout P tail\n"), "{raw}");
    let last = read_logs(&container.log_path(), Some(1)).expect("tail");
    assert_eq!(last.as_slice(), &records[records.len() - 1..]);
    delete_and_check(&fx, container);
}

#[test]
fn logs_rotate_at_max_size_and_keep_max_files() {
    let fx = Fixture::new();
    let mut config = fx.sh(
        "rotate",
        "i=0; while [ $i -lt 400 ]; do \
         echo \"line $i xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"; \
         i=$((i+1)); done",
    );
    config.log_config = LogConfig {
        max_size: 4096,
        max_files: 3,
    };
    let mut container = fx.start(config);
    let exit = container
        .wait_exit(Duration::from_secs(60))
        .expect("wait")
        .expect("exited");
    assert_eq!(exit.code, Some(0), "{exit:?}");
    let path = container.log_path();
    for file in [path.clone(), rotated_path(&path, 1), rotated_path(&path, 2)] {
        let len = fs::metadata(&file)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
            .len();
        assert!(len > 0 && len <= 4096, "{} has {len} bytes", file.display());
    }
    assert!(
        !rotated_path(&path, 3).exists(),
        "more than max_files files kept"
    );
    let records = read_logs(&path, None).expect("read the log");
    let numbers: Vec<u32> = records
        .iter()
        .map(|r| {
            let text = String::from_utf8_lossy(&r.text).into_owned();
            assert!(!r.partial && r.stream == Stream::Stdout, "{r:?}");
            text.split_whitespace()
                .nth(1)
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no line number in {text:?}"))
        })
        .collect();
    let first = *numbers.first().expect("records");
    assert!(first > 0, "nothing was rotated away");
    assert_eq!(
        numbers,
        (first..400).collect::<Vec<_>>(),
        "the kept records are the last ones, in order"
    );
    delete_and_check(&fx, container);
}

#[test]
fn exec_runs_inside_the_container_with_its_hardening() {
    let fx = Fixture::new();
    let container = sleeper(&fx, "exec");

    let (code, status, stderr) = exec(&fx, &container, command(&["cat", "/proc/self/status"]));
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(status_field(&status, "CapEff"), "00000000a80425fb");
    assert_eq!(status_field(&status, "CapBnd"), "00000000a80425fb");
    assert_eq!(status_field(&status, "NoNewPrivs"), "1");
    assert_eq!(status_field(&status, "Seccomp"), "2");

    // Only the container's processes: its PID 1 and `ls` itself.
    let (code, listing, stderr) = exec(&fx, &container, command(&["ls", "/proc"]));
    assert_eq!(code, Some(0), "{stderr}");
    let pids: Vec<u32> = listing
        .split_whitespace()
        .filter_map(|name| name.parse().ok())
        .collect();
    assert!(pids.contains(&1), "{listing}");
    assert!(pids.len() <= 2, "processes outside the container: {pids:?}");

    // Hostname, environment, user and directory.
    let mut config = command(&[
        "sh",
        "-c",
        "hostname; echo foo=$FOO; id -u; pwd; echo $HOME",
    ]);
    config.env = vec!["FOO=bar".to_owned()];
    config.user = Some(User {
        uid: 65534,
        gid: 65534,
        additional_gids: Vec::new(),
    });
    config.cwd = Some("/tmp".to_owned());
    let (code, out, stderr) = exec(&fx, &container, config);
    assert_eq!(code, Some(0), "{stderr}");
    let hostname = container.config().effective_hostname();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        vec![hostname.as_str(), "foo=bar", "65534", "/tmp", "/"],
        "{out}"
    );

    // Stdin through the helper's pipe.
    let child = fx
        .runtime
        .exec(container.id(), command(&["cat"]))
        .expect("exec cat");
    let mut helper = Helper(Some(child));
    if let Some(child) = helper.0.as_mut() {
        let mut stdin = child.stdin.take().expect("stdin pipe");
        stdin.write_all(b"through stdin\n").expect("write stdin");
    }
    let output = helper.output();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "through stdin\n");

    delete_and_check(&fx, container);
}

#[test]
fn pid_1_and_exec_processes_are_in_the_container_cgroup() {
    let fx = Fixture::new();
    let container = sleeper(&fx, "member");
    let cgroup = container.cgroup().expect("the container's cgroup");
    let relative = cgroup.relative_path().display().to_string();
    // Seen from the host: PID 1 is in the container's cgroup in every hierarchy (the joins write
    // to v1's `tasks` or clone3 into the v2 directory, not to `cgroup.procs`).
    let pid = container.pid().expect("pid 1");
    let host_view = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("cgroup file");
    let members = |text: &str, want: &str| {
        text.lines()
            .filter(|l| {
                let controllers = l.split(':').nth(1).unwrap_or_default();
                ["memory", "pids", "freezer", "devices"]
                    .iter()
                    .any(|c| controllers.split(',').any(|x| x == *c))
                    || l.starts_with("0::") && cgroup.path_v2().is_some()
            })
            .all(|l| l.rsplit(':').next() == Some(want))
            && !text.is_empty()
    };
    assert!(
        members(&host_view, &format!("/{relative}")),
        "PID 1 is not in /{relative}: {host_view}"
    );
    // An exec'd process too, as it sees itself (its cgroup namespace is rooted at the cgroup).
    let (code, stdout, stderr) = exec(&fx, &container, command(&["cat", "/proc/self/cgroup"]));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        members(&stdout, "/"),
        "the exec'd process is not in the container's cgroup: {stdout}"
    );
    assert!(
        cgroup.pids().expect("pids").contains(&pid),
        "cgroup.procs lists PID 1"
    );
    delete_and_check(&fx, container);
}

#[test]
fn exec_exit_codes() {
    let fx = Fixture::new();
    let container = sleeper(&fx, "codes");
    let (code, _, _) = exec(&fx, &container, command(&["sh", "-c", "exit 3"]));
    assert_eq!(code, Some(3));
    let (code, _, _) = exec(&fx, &container, command(&["sh", "-c", "kill -9 $$"]));
    assert_eq!(code, Some(137), "128 + SIGKILL");
    let (code, _, stderr) = exec(&fx, &container, command(&["no-such-command"]));
    assert_eq!(code, Some(127), "{stderr}");
    assert!(stderr.contains("executable file not found"), "{stderr}");
    let mut missing_dir = command(&["true"]);
    missing_dir.cwd = Some("/no/such/dir".to_owned());
    let (code, _, stderr) = exec(&fx, &container, missing_dir);
    assert!(matches!(code, Some(126 | 127)), "{code:?} {stderr}");

    let id = container.id().to_owned();
    let mut stopped = fx.runtime.get(&id).expect("get");
    stopped.stop(libc::SIGKILL, Duration::ZERO).expect("stop");
    match fx.runtime.exec(&id, command(&["true"])) {
        Err(ContainerError::NotRunning { .. }) => {}
        Err(other) => panic!("unexpected error {other}"),
        Ok(child) => {
            let code = Helper(Some(child)).code();
            panic!("exec in a stopped container ran ({code:?})");
        }
    }
    delete_and_check(&fx, stopped);
    drop(container);
}

#[test]
fn exec_with_a_terminal_and_an_attached_client() {
    let fx = Fixture::new();
    let container = sleeper(&fx, "exectty");

    let socket = fx.tmp.path().join("exec-tty.sock");
    let mut config = command(&["tty"]);
    config.tty = true;
    config.attach_socket = Some(socket.clone());
    let helper = Helper(Some(fx.runtime.exec(container.id(), config).expect("exec")));
    let mut sock = connect(&socket);
    let (out, _, code) = read_until_exit(&mut sock);
    assert_eq!(code, 0, "{out}");
    let first = out
        .lines()
        .next()
        .unwrap_or_default()
        .trim_end_matches('\r');
    assert!(first.starts_with("/dev/pts/"), "{out:?}");
    assert_eq!(helper.code(), Some(0));
    assert!(
        !socket.exists(),
        "the exec socket is removed once connected"
    );

    // Pipes, with stdin and both streams.
    let socket = fx.tmp.path().join("exec-pipes.sock");
    let mut config = command(&["sh", "-c", "read x; echo got $x; echo oops >&2; exit 5"]);
    config.attach_socket = Some(socket.clone());
    let helper = Helper(Some(fx.runtime.exec(container.id(), config).expect("exec")));
    let mut sock = connect(&socket);
    send(
        &mut sock,
        &[Frame::Stdin(b"abc\n".to_vec()), Frame::CloseStdin],
    );
    let (out, err, code) = read_until_exit(&mut sock);
    assert_eq!(
        (out.as_str(), err.as_str(), code),
        ("got abc\n", "oops\n", 5)
    );
    assert_eq!(helper.code(), Some(5));
    delete_and_check(&fx, container);
}

#[test]
fn a_tty_container_has_its_own_terminal() {
    let fx = Fixture::new();
    let mut config = fx.sh("tty", "tty; echo done");
    config.tty = true;
    let mut container = fx.start(config);
    let exit = container
        .wait_exit(Duration::from_secs(60))
        .expect("wait")
        .expect("exited");
    assert_eq!(exit.code, Some(0), "{exit:?}");
    let records = read_logs(&container.log_path(), None).expect("read the log");
    assert!(
        records.iter().all(|r| r.stream == Stream::Stdout),
        "a terminal's output is stdout: {records:?}"
    );
    let text = log_text(&container.log_path());
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    assert_eq!(lines, vec!["/dev/pts/0", "done"], "{text:?}");
    delete_and_check(&fx, container);
}

#[test]
fn attach_to_an_interactive_shell() {
    let fx = Fixture::new();
    let mut config = ContainerConfig::new(
        "interactive",
        Rootfs::Directory {
            path: fx.rootfs.clone(),
        },
        vec!["sh".to_owned()],
    );
    config.tty = true;
    config.open_stdin = true;
    let mut container = fx.start(config);
    let socket = container.attach_socket().expect("an attach socket");
    assert!(socket.exists(), "the socket listens once the start returns");
    let mut sock = connect(&socket);
    send(
        &mut sock,
        &[
            Frame::Resize {
                rows: 40,
                cols: 100,
            },
            Frame::Stdin(b"echo hi\nexit\n".to_vec()),
        ],
    );
    let (out, _, code) = read_until_exit(&mut sock);
    assert_eq!(code, 0, "{out:?}");
    assert!(
        out.lines().any(|l| l.trim_end_matches('\r').trim() == "hi"),
        "no `hi` line in {out:?}"
    );
    let exit = container
        .wait_exit(Duration::from_secs(30))
        .expect("wait")
        .expect("exited");
    assert_eq!(exit.code, Some(0));
    assert!(!socket.exists(), "the socket is removed after the exit");
    assert!(
        log_text(&container.log_path()).contains("hi"),
        "the log has the session too"
    );
    delete_and_check(&fx, container);
}

#[test]
fn attach_stdin_without_a_terminal_and_replay_of_early_output() {
    let fx = Fixture::new();
    let mut config = fx.sh("stdin", "echo early; cat; echo after >&2");
    config.open_stdin = true;
    let mut container = fx.start(config);
    wait_for_log(&container, "early");
    let socket = container.attach_socket().expect("an attach socket");
    let mut sock = connect(&socket);
    send(
        &mut sock,
        &[Frame::Stdin(b"abc\n".to_vec()), Frame::CloseStdin],
    );
    let (out, err, code) = read_until_exit(&mut sock);
    assert_eq!(code, 0);
    // The first client gets what was written before it connected.
    assert_eq!(out, "early\nabc\n");
    assert_eq!(err, "after\n");
    let exit = container
        .wait_exit(Duration::from_secs(30))
        .expect("wait")
        .expect("exited");
    assert_eq!(exit.code, Some(0));
    assert_eq!(log_text(&container.log_path()), "early\nabc\nafter\n");
    delete_and_check(&fx, container);
}
