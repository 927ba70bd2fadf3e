//! Helpers shared by the lab test files: a swarm of `flotilla daemon` processes in network
//! namespaces, joins, convergence waits. Each test binary uses a subset.
#![allow(dead_code)]

use flotilla_testkit::{Lab, LabConfig, binary};
use serde_json::Value;
use std::time::Duration;

pub const PORT: u16 = 4242;
/// An image reference no node has and no pull can reach (a closed loopback port inside the
/// node's namespace): these control-plane tests never cause traffic beyond the lab.
pub const NO_PULL: &str = "127.0.0.1:9/busybox";

/// One lab at a time: several multi-node clusters at once on a 2-core machine starve each
/// other's Raft heartbeats and turn timing into leader churn the tests did not ask for.
pub static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub fn lab(n: usize) -> (std::sync::MutexGuard<'static, ()>, Lab) {
    let guard = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    (
        guard,
        Lab::new(LabConfig::new(n, binary())).expect("lab (needs root, ip, nsenter, nft)"),
    )
}

/// A lab of `n` running daemons with a swarm initialised on node 1 (`init_args` added).
pub fn swarm(n: usize, init_args: &[&str]) -> (std::sync::MutexGuard<'static, ()>, Lab) {
    let (guard, mut lab) = lab(n);
    for i in 1..=n {
        lab.start(i, &[], &[]).expect("daemon starts");
    }
    let advertise = lab.addr(1).to_string();
    let mut args = vec!["swarm", "init", "--advertise-addr", advertise.as_str()];
    args.extend_from_slice(init_args);
    lab.ok(1, &args).expect("swarm init");
    (guard, lab)
}

/// Joins node `i` through node `via`, which must succeed.
pub fn join_ok(lab: &Lab, i: usize, token: &str, via: usize) -> String {
    let out = join(lab, i, token, via);
    assert!(
        out.status.success(),
        "n{i} joins: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        lab.log(i)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn addr(lab: &Lab, i: usize) -> String {
    format!("{}:{PORT}", lab.addr(i))
}

pub fn nodes(lab: &Lab, i: usize) -> Option<Vec<Value>> {
    let v = lab.ok_json(i, &["node", "ls", "--format", "json"]).ok()?;
    v.as_array().cloned()
}

/// Waits until node `i` sees `total` nodes, all Ready, `managers` of them managers, one Leader.
pub fn wait_converged(
    lab: &Lab,
    i: usize,
    total: usize,
    managers: usize,
    timeout: Duration,
) -> Vec<Value> {
    let got = Lab::wait_for(timeout, || {
        let ns = nodes(lab, i)?;
        let ready = ns.iter().all(|n| n["status"] == "Ready");
        let m = ns.iter().filter(|n| n["manager_status"] != "").count();
        let leaders = ns
            .iter()
            .filter(|n| n["manager_status"] == "Leader")
            .count();
        let reachable = ns
            .iter()
            .filter(|n| n["manager_status"] == "Leader" || n["manager_status"] == "Reachable")
            .count();
        (ns.len() == total && ready && m == managers && leaders == 1 && reachable == managers)
            .then_some(ns)
    });
    got.unwrap_or_else(|| {
        panic!(
            "node {i} did not converge to {total} nodes / {managers} managers: {:?}\nlog:\n{}",
            nodes(lab, i),
            lab.log(i)
        )
    })
}

pub fn token(lab: &Lab, i: usize, role: &str) -> String {
    lab.ok(i, &["swarm", "join-token", "-q", role])
        .expect("join-token")
        .trim()
        .to_owned()
}

pub fn join(lab: &Lab, i: usize, token: &str, via: usize) -> std::process::Output {
    lab.cli(i, &["swarm", "join", "--token", token, &addr(lab, via)])
        .expect("run join")
}

pub fn leader_index(lab: &Lab, managers: &[usize]) -> Option<usize> {
    for &i in managers {
        let Some(ns) = nodes(lab, i) else { continue };
        let leader = ns.iter().find(|n| n["manager_status"] == "Leader")?;
        let host = leader["hostname"].as_str()?;
        return host.strip_prefix('n')?.parse().ok();
    }
    None
}

/// Builds a one-layer image of the host's busybox-static (the applets the tests use, an
/// `/etc/passwd`) and imports it on every running node as each of `tags`.
pub fn import_demo_image(lab: &Lab, nodes: &[usize], tags: &[&str]) {
    let busybox = std::path::Path::new("/bin/busybox");
    assert!(
        busybox.exists(),
        "this test needs /bin/busybox: apt-get install busybox-static"
    );
    let rootfs = lab.dir().join("demo-rootfs");
    let tarball = lab.dir().join("demo.tar");
    if !tarball.exists() {
        std::fs::create_dir_all(rootfs.join("bin")).expect("mkdir");
        std::fs::create_dir_all(rootfs.join("etc")).expect("mkdir");
        std::fs::copy(busybox, rootfs.join("bin/busybox")).expect("copy busybox");
        for applet in [
            "sh", "echo", "sleep", "cat", "true", "false", "ls", "hostname",
        ] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet))
                .expect("symlink");
        }
        std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")
            .expect("passwd");
        let st = std::process::Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&tarball)
            .arg(".")
            .status()
            .expect("tar");
        assert!(st.success(), "tar of the demo rootfs failed");
    }
    let path = tarball.display().to_string();
    for &i in nodes {
        for tag in tags {
            lab.ok(i, &["image", "import", &path, tag])
                .unwrap_or_else(|e| panic!("image import on n{i}: {e}"));
        }
    }
}

/// A swarm of `managers` managers (node 1 first) and `workers` workers, converged.
pub fn cluster(managers: usize, workers: usize) -> (std::sync::MutexGuard<'static, ()>, Lab) {
    let n = managers + workers;
    let (guard, lab) = swarm(n, &[]);
    let manager_token = token(&lab, 1, "manager");
    let worker_token = token(&lab, 1, "worker");
    for i in 2..=managers {
        join_ok(&lab, i, &manager_token, 1);
    }
    for i in managers + 1..=n {
        join_ok(&lab, i, &worker_token, 1);
    }
    wait_converged(&lab, 1, n, managers, Duration::from_secs(60));
    (guard, lab)
}
