//! The lab itself, without the flotilla binary: namespaces and addresses, node-to-node traffic
//! over the bridge, partition and heal, processes started inside a node, and clean-up on drop.
//! Needs root, `ip`, `nsenter`, `nft` and `ping` (iputils-ping); fails, never skips, without.

use flotilla_testkit::{Lab, LabConfig};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// A path no test here starts: these tests never run the daemon.
fn no_binary() -> PathBuf {
    PathBuf::from("/nonexistent/flotilla")
}

fn new_lab(nodes: usize) -> Lab {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root: it creates network namespaces, veths and nftables tables"
    );
    Lab::new(LabConfig::new(nodes, no_binary())).unwrap_or_else(|e| panic!("Lab::new: {e}"))
}

/// One ping from node `from` to node `to`.
fn ping(lab: &Lab, from: usize, to: usize) -> bool {
    let out = lab
        .run_in(from, "ping", &["-c1", "-W2", &lab.addr(to).to_string()])
        .unwrap_or_else(|e| panic!("ping from node {from}: {e}"));
    // 127 is nsenter's "cannot execute": ping is missing, which is not a network verdict.
    assert_ne!(
        out.status.code(),
        Some(127),
        "ping is needed (apt-get install iputils-ping): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.status.success()
}

fn netns_list() -> String {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("run ip netns list");
    assert!(out.status.success(), "ip netns list failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn listed(list: &str, ns: &str) -> bool {
    list.lines()
        .any(|l| l.split_whitespace().next() == Some(ns))
}

#[test]
fn two_nodes_talk_partition_heal_and_clean_up() {
    let lab = new_lab(2);
    assert_eq!(lab.len(), 2);
    let names = [
        lab.switch_netns().to_owned(),
        lab.netns(1).to_owned(),
        lab.netns(2).to_owned(),
    ];
    let before = netns_list();
    for ns in &names {
        assert!(
            listed(&before, ns),
            "{ns} not in `ip netns list`:\n{before}"
        );
    }
    assert_ne!(lab.addr(1), lab.addr(2));

    // Node 1's eth0 carries its address.
    let show = lab
        .run_in(1, "ip", &["-4", "addr", "show", "eth0"])
        .expect("ip addr show in node 1");
    let show = String::from_utf8_lossy(&show.stdout);
    assert!(
        show.contains(&format!("{}/24", lab.addr(1))),
        "node 1's eth0 lacks {}:\n{show}",
        lab.addr(1)
    );
    // The bridge is in the switch namespace, not in the nodes'.
    let br = Command::new("ip")
        .args(["-n", lab.switch_netns(), "link", "show", "br0"])
        .output()
        .expect("ip link show br0");
    assert!(br.status.success(), "no br0 in {}", lab.switch_netns());

    // Traffic flows both ways (the first packet may wait for ARP: retry for a while).
    let up = |from: usize, to: usize| {
        Lab::wait_for(Duration::from_secs(10), || {
            ping(&lab, from, to).then_some(())
        })
    };
    assert!(up(1, 2).is_some(), "node 1 cannot reach node 2");
    assert!(up(2, 1).is_some(), "node 2 cannot reach node 1");

    lab.partition(1).expect("partition node 1");
    lab.partition(1).expect("partition is idempotent");
    assert!(!ping(&lab, 1, 2), "node 1 reaches node 2 while partitioned");
    assert!(
        !ping(&lab, 2, 1),
        "node 2 reaches node 1 while node 1 is partitioned"
    );
    let lo = lab
        .run_in(1, "ping", &["-c1", "-W2", "127.0.0.1"])
        .expect("ping lo");
    assert!(lo.status.success(), "partition cut loopback too");

    lab.heal(1).expect("heal node 1");
    lab.heal(1).expect("heal is idempotent");
    assert!(up(1, 2).is_some(), "node 1 cannot reach node 2 after heal");
    assert!(up(2, 1).is_some(), "node 2 cannot reach node 1 after heal");

    drop(lab);
    let after = netns_list();
    for ns in &names {
        assert!(
            !listed(&after, ns),
            "{ns} still listed after drop:\n{after}"
        );
    }
}

#[test]
fn processes_run_inside_the_node_namespace_and_are_killed() {
    let mut lab = new_lab(1);
    assert!(!lab.is_running(1));
    assert!(
        lab.kill(1).is_err(),
        "kill of a never-started node succeeded"
    );

    let pid = lab
        .spawn(1, "sleep", &["1000"], &[("FLOTILLA_LAB_TEST", "1")])
        .expect("spawn sleep in node 1");
    assert_eq!(lab.pid(1), Some(pid));
    assert!(lab.is_running(1));
    // nsenter execs the program: the PID the lab holds becomes sleep's own, not nsenter's.
    // (Right after spawn it may still be nsenter, before its exec: wait for it, bounded.)
    let exe = Lab::wait_for(Duration::from_secs(5), || {
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
        (exe.file_name().and_then(|n| n.to_str()) == Some("sleep")).then_some(exe)
    })
    .unwrap_or_else(|| std::fs::read_link(format!("/proc/{pid}/exe")).expect("read /proc/PID/exe"));
    assert_eq!(
        exe.file_name().and_then(|n| n.to_str()),
        Some("sleep"),
        "pid {pid} is {}, not sleep",
        exe.display()
    );
    // ... and it runs in node 1's network namespace.
    let proc_ns = std::fs::metadata(format!("/proc/{pid}/ns/net")).expect("stat /proc/PID/ns/net");
    let node_ns =
        std::fs::metadata(format!("/run/netns/{}", lab.netns(1))).expect("stat /run/netns/NS");
    assert_eq!(
        proc_ns.ino(),
        node_ns.ino(),
        "pid {pid} is not in node 1's namespace"
    );
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("read environ");
    assert!(
        environ
            .split(|b| *b == 0)
            .any(|kv| kv == b"FLOTILLA_LAB_TEST=1"),
        "the environment was not passed on"
    );

    assert!(
        lab.spawn(1, "sleep", &["1"], &[]).is_err(),
        "second process on a busy node"
    );

    lab.kill(1).expect("kill node 1");
    assert!(!lab.is_running(1));
    assert_eq!(lab.pid(1), None);
    assert!(lab.kill(1).is_err(), "kill of a dead node succeeded");

    // sleep dies of SIGTERM: stop reports it went by itself.
    lab.spawn(1, "sleep", &["1000"], &[]).expect("spawn again");
    assert!(
        lab.stop(1).expect("stop node 1"),
        "sleep did not exit on SIGTERM"
    );
    assert!(!lab.is_running(1));

    // A process left running is killed by drop.
    let pid = lab
        .spawn(1, "sleep", &["1000"], &[])
        .expect("spawn a third time");
    drop(lab);
    // Killed and reaped by drop: the PID is gone (unless already reused by another program).
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
    assert!(
        exe.as_ref()
            .and_then(|e| e.file_name())
            .and_then(|n| n.to_str())
            != Some("sleep"),
        "pid {pid} (sleep) outlived the lab"
    );
}
