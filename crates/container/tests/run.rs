//! Privileged integration tests: real containers from a busybox root filesystem.
//!
//! They need root and FAIL without it (never skip): run them as root, as CI does. They also need
//! Debian's `busybox-static` (`/bin/busybox`), from which each test builds its root filesystem.
//! Each test has its own temporary directory (state root, root filesystem) and its own cgroup tree
//! `flotilla-test-<pid>-<n>/containers`, removed on drop even when an assertion fails (see the
//! `common` module). The container's output is read back through its CRI log.

mod common;

use common::{Fixture, MIB, delete_and_check, run, status_field, wait_for_log};
use flotilla_container::{
    ContainerConfig, ContainerError, HELPER_SUBCOMMAND, Mount, Resources, Rootfs, Runtime, Status,
};
use std::fs;
use std::time::{Duration, Instant};

#[test]
fn echo_hi_exits_zero_and_leaves_nothing() {
    let fx = Fixture::new();
    let config = ContainerConfig::new(
        "echo-hi",
        Rootfs::Directory {
            path: fx.rootfs.clone(),
        },
        vec!["echo".to_owned(), "hi".to_owned()],
    );
    let (exit, log) = run(&fx, config);
    assert_eq!(exit.code, Some(0), "{exit:?}, log: {log}");
    assert!(exit.success());
    assert_eq!(log, "hi\n");
}

#[test]
fn the_command_is_pid_1_and_sees_only_its_processes() {
    let fx = Fixture::new();
    let (exit, log) = run(
        &fx,
        fx.sh(
            "pid1",
            "echo pid=$$; echo cmd=$(cat /proc/1/cmdline | tr '\\0' ' '); ps -o pid | wc -l",
        ),
    );
    assert_eq!(exit.code, Some(0), "{log}");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.first(), Some(&"pid=1"), "{log}");
    assert!(lines.iter().any(|l| l.starts_with("cmd=sh -c")), "{log}");
    // Header, sh, ps, wc (and the command substitution's subshell at most).
    let count: usize = lines
        .last()
        .and_then(|l| l.trim().parse().ok())
        .expect("count");
    assert!(count <= 5, "too many processes visible: {log}");
}

#[test]
fn the_network_is_isolated_with_lo_up() {
    let fx = Fixture::new();
    let (exit, log) = run(
        &fx,
        fx.sh(
            "net",
            "tail -n +3 /proc/net/dev; echo flags=$(cat /sys/class/net/lo/flags)",
        ),
    );
    assert_eq!(exit.code, Some(0), "{log}");
    let interfaces: Vec<&str> = log
        .lines()
        .filter(|l| !l.starts_with("flags="))
        .map(|l| l.split(':').next().unwrap_or("").trim())
        .collect();
    assert_eq!(interfaces, vec!["lo"], "{log}");
    // IFF_UP | IFF_LOOPBACK
    assert!(log.contains("flags=0x9"), "lo is not up: {log}");
}

#[test]
fn hardening_matches_docker_defaults_plus_no_new_privs() {
    let fx = Fixture::new();
    let script = "cat /proc/self/status; \
        echo keys=$(wc -c < /proc/keys); \
        grep -q ' /proc/sys ro,' /proc/self/mountinfo && echo procsys=readonly; \
        (echo x > /dev/null) && echo devnull=ok; \
        mknod /tmp/null2 c 1 3 && { (echo x > /tmp/null2) 2>/dev/null && echo newdev=usable || echo newdev=denied; }; \
        unshare -U true 2>/dev/null && echo userns=allowed || echo userns=denied; \
        grep -q ' /sys ro,' /proc/self/mountinfo && echo sys=readonly; \
        grep -q ' /proc/keys ' /proc/self/mountinfo && echo keys=masked";
    let (exit, log) = run(&fx, fx.sh("hardening", script));
    assert_eq!(exit.code, Some(0), "{log}");
    assert_eq!(status_field(&log, "NoNewPrivs"), "1", "{log}");
    assert_eq!(status_field(&log, "CapEff"), "00000000a80425fb");
    assert_eq!(status_field(&log, "CapPrm"), "00000000a80425fb");
    assert_eq!(status_field(&log, "CapBnd"), "00000000a80425fb");
    assert_eq!(status_field(&log, "CapInh"), "0000000000000000");
    assert_eq!(status_field(&log, "CapAmb"), "0000000000000000");
    assert_eq!(status_field(&log, "Seccomp"), "2");
    for expected in [
        "keys=0",
        "procsys=readonly",
        "devnull=ok",
        "newdev=denied",
        "userns=denied",
        "sys=readonly",
        "keys=masked",
    ] {
        assert!(
            log.lines().any(|l| l.trim() == expected),
            "{expected} missing: {log}"
        );
    }
}

#[test]
fn hostname_cwd_env_and_user() {
    let fx = Fixture::new();
    let mut config = fx.sh(
        "identity",
        "hostname; pwd; echo foo=$FOO; echo home=$HOME; id -u; id -g; id -G; \
         grep CapEff /proc/self/status; grep CapBnd /proc/self/status",
    );
    config.hostname = Some("box1".to_owned());
    config.cwd = "/work/here".to_owned();
    config.env = vec!["FOO=bar".to_owned()];
    config.user.uid = 65534;
    config.user.gid = 65534;
    config.user.additional_gids = vec![65534, 10];
    let (exit, log) = run(&fx, config);
    assert_eq!(exit.code, Some(0), "{log}");
    let lines: Vec<&str> = log.lines().map(str::trim).collect();
    assert_eq!(lines.first(), Some(&"box1"), "{log}");
    assert_eq!(lines.get(1), Some(&"/work/here"), "{log}");
    assert!(lines.contains(&"foo=bar"), "{log}");
    assert!(lines.contains(&"home=/"), "{log}");
    assert_eq!(lines.get(4), Some(&"65534"), "{log}");
    assert_eq!(lines.get(5), Some(&"65534"), "{log}");
    assert!(
        lines
            .get(6)
            .is_some_and(|g| g.split_whitespace().any(|g| g == "10")),
        "{log}"
    );
    // A non-root user keeps the bounding set only, as in Docker.
    assert!(lines.contains(&"CapEff:\t0000000000000000"), "{log}");
    assert!(lines.contains(&"CapBnd:\t00000000a80425fb"), "{log}");
}

#[test]
fn out_of_memory_is_reported() {
    let fx = Fixture::new();
    let mut config = fx.sh("oom", "head -c 104857600 /dev/zero | tail; echo survived");
    config.resources = Resources {
        memory_bytes: Some(32 * MIB),
        memory_swap_bytes: Some(32 * MIB as i64),
        ..Resources::default()
    };
    let (exit, log) = run(&fx, config);
    assert!(exit.oom_killed, "{exit:?}, log: {log}");
    assert!(!exit.success());
}

#[test]
fn stop_falls_back_to_sigkill_after_the_grace_period() {
    let fx = Fixture::new();
    let mut container = fx.start(fx.sh("stubborn", "trap '' TERM; echo ready; sleep 1000"));
    wait_for_log(&container, "ready");
    assert!(matches!(
        container.status().expect("status"),
        Status::Running { .. }
    ));
    let started = Instant::now();
    let exit = container
        .stop(libc::SIGTERM, Duration::from_secs(1))
        .expect("stop");
    let took = started.elapsed();
    assert_eq!(exit.signal, Some(libc::SIGKILL), "{exit:?}");
    assert!(
        took >= Duration::from_secs(1),
        "grace not honoured: {took:?}"
    );
    assert!(took < Duration::from_secs(8), "stop took {took:?}");
    assert!(matches!(
        container.status().expect("status"),
        Status::Exited(_)
    ));
    delete_and_check(&fx, container);
}

#[test]
fn stop_with_a_handled_signal_is_graceful() {
    let fx = Fixture::new();
    let mut container = fx.start(fx.sh(
        "graceful",
        "trap 'echo bye; exit 3' TERM; echo ready; while true; do sleep 0.1; done",
    ));
    wait_for_log(&container, "ready");
    let exit = container
        .stop(libc::SIGTERM, Duration::from_secs(10))
        .expect("stop");
    assert_eq!(exit.code, Some(3), "{exit:?}");
    let log = common::log_text(&container.log_path());
    assert!(log.contains("bye"), "{log}");
    delete_and_check(&fx, container);
}

#[test]
fn overlay_rootfs_writes_go_to_upper() {
    let fx = Fixture::new();
    let base = fx.tmp.path().join("overlay");
    let (upper, work, target) = (base.join("upper"), base.join("work"), base.join("merged"));
    for dir in [&upper, &work] {
        fs::create_dir_all(dir).expect("mkdir");
    }
    let mut config = fx.sh(
        "overlay",
        "echo data > /written; cat /written; ls /bin/busybox",
    );
    config.rootfs = Rootfs::Overlay {
        lowerdirs: vec![fx.rootfs.clone()],
        upperdir: upper.clone(),
        workdir: work,
        target: target.clone(),
    };
    let (exit, log) = run(&fx, config);
    assert_eq!(exit.code, Some(0), "{log}");
    assert!(log.starts_with("data\n"), "{log}");
    assert_eq!(
        fs::read_to_string(upper.join("written")).expect("in upper"),
        "data\n"
    );
    assert!(
        !fx.rootfs.join("written").exists(),
        "the lower layer was written"
    );
    assert!(
        fs::read_dir(&target).map_or(true, |mut d| d.next().is_none()),
        "the overlay was visible on the host"
    );
}

#[test]
fn bind_and_tmpfs_mounts() {
    let fx = Fixture::new();
    let data = fx.tmp.path().join("data");
    fs::create_dir_all(&data).expect("mkdir");
    fs::write(data.join("f"), "from host\n").expect("write");
    let mut config = fx.sh(
        "mounts",
        "cat /data/f; (echo x > /data/g) 2>/dev/null && echo data=writable || echo data=readonly; \
         echo y > /scratch/s && cat /scratch/s; grep ' /scratch ' /proc/self/mountinfo",
    );
    config.mounts = vec![
        Mount::Bind {
            source: data.clone(),
            destination: "/data".to_owned(),
            readonly: true,
            recursive: true,
        },
        Mount::Tmpfs {
            destination: "/scratch".to_owned(),
            size_bytes: Some(MIB),
            mode: None,
            readonly: false,
            noexec: true,
        },
    ];
    let (exit, log) = run(&fx, config);
    assert_eq!(exit.code, Some(0), "{log}");
    assert!(log.contains("from host"), "{log}");
    assert!(log.contains("data=readonly"), "{log}");
    assert!(log.lines().any(|l| l.trim() == "y"), "{log}");
    assert!(log.contains("noexec"), "{log}");
    assert!(!data.join("g").exists());
}

#[test]
fn a_failed_exec_is_reported_and_leaves_nothing() {
    let fx = Fixture::new();
    let config = ContainerConfig::new(
        "bad-exec",
        Rootfs::Directory {
            path: fx.rootfs.clone(),
        },
        vec!["no-such-command".to_owned()],
    );
    let err = fx.runtime.create_and_start(config).expect_err("must fail");
    match &err {
        ContainerError::StartFailed { message, .. } => {
            assert!(message.contains("executable file not found"), "{message}");
        }
        other => panic!("unexpected error {other}"),
    }
    assert!(!fx.runtime.state_root().join("bad-exec").exists());
    assert!(
        fx.runtime.list().expect("list").is_empty(),
        "a failed start left a container"
    );
    assert!(
        flotilla_cgroups::Cgroup::open(fx.runtime.cgroup_parent(), "bad-exec").is_err(),
        "a failed start left its cgroup"
    );
}

#[test]
fn a_restarted_daemon_re_adopts_running_containers() {
    let fx = Fixture::new();
    let container = fx.start(fx.sh("adopt", "echo ready; exec sleep 1000"));
    wait_for_log(&container, "ready");
    let id = container.id().to_owned();
    let pid = container.pid().expect("pid");
    drop(container);

    // A new runtime over the same state root, as after a daemon restart.
    let runtime = Runtime::new(
        fx.runtime.state_root(),
        fx.runtime.cgroup_parent(),
        env!("CARGO_BIN_EXE_flotilla-container-init"),
        HELPER_SUBCOMMAND,
    )
    .expect("runtime");
    let mut found = runtime.list().expect("list");
    assert_eq!(found.len(), 1);
    let mut adopted = found.remove(0);
    assert_eq!(adopted.id(), id);
    assert_eq!(adopted.status().expect("status"), Status::Running { pid });
    // sleep as PID 1 has no handler for SIGTERM: only SIGKILL ends it.
    let exit = adopted.stop(libc::SIGKILL, Duration::ZERO).expect("stop");
    assert_eq!(exit.signal, Some(libc::SIGKILL));
    let mut again = runtime.get(&id).expect("get");
    assert_eq!(again.status().expect("status"), Status::Exited(exit));
    delete_and_check(&fx, again);
}

/// Where the unified (cgroup v2) hierarchy is mounted: `/sys/fs/cgroup` on v2 hosts,
/// `/sys/fs/cgroup/unified` on hybrid ones.
fn cgroup2_mount() -> Option<std::path::PathBuf> {
    let text = fs::read_to_string("/proc/self/mountinfo").ok()?;
    text.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        (right.split(' ').next() == Some("cgroup2"))
            .then(|| left.split(' ').nth(4).map(std::path::PathBuf::from))
            .flatten()
    })
}

/// Removes a test cgroup directory, also when the test fails.
struct CgroupDir(std::path::PathBuf);

impl Drop for CgroupDir {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir(&self.0) {
            eprintln!("cannot remove {}: {e}", self.0.display());
        }
    }
}

#[test]
fn clone3_starts_the_first_process_inside_a_v2_cgroup() {
    common::require_root();
    // The runtime takes this path on cgroup v2 hosts; on a hybrid host it is checked against the
    // unified hierarchy, which needs no controller for membership.
    let root = cgroup2_mount().expect(
        "no cgroup2 hierarchy is mounted (neither a v2 host nor a hybrid one): cannot check \
         clone3(CLONE_INTO_CGROUP)",
    );
    let name = format!("flotilla-clone3-check-{}", std::process::id());
    let dir = CgroupDir(root.join(&name));
    fs::create_dir(&dir.0).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.0.display()));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flotilla-container-init"))
        .arg(flotilla_container::CLONE_CHECK_SUBCOMMAND)
        .arg(&dir.0)
        .output()
        .expect("run the helper binary");
    assert!(
        out.status.success(),
        "clone3 check failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let found = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        found.ends_with(&format!("/{name}")),
        "the child started in {found:?}, not in {name}"
    );
}
