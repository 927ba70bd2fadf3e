//! Real multi-node swarms: `flotilla daemon` processes, each in its own network namespace,
//! joined with tokens over mutual TLS. Needs root (namespaces); fails loudly without it.

use flotilla_testkit::Lab;
use serde_json::Value;
use std::time::{Duration, Instant};

mod common;

use common::*;

fn create(lab: &Lab, i: usize, name: &str) -> bool {
    lab.cli(i, &["service", "create", "-d", "--name", name, NO_PULL])
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn service_names(lab: &Lab, i: usize) -> Vec<String> {
    let v = lab
        .ok_json(i, &["service", "ls", "--format", "json"])
        .expect("service ls");
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn five_nodes_join_fail_over_and_refuse_strangers() {
    let (_serial, mut lab) = swarm(5, &[]);
    let manager_token = token(&lab, 1, "manager");
    let worker_token = token(&lab, 1, "worker");
    for i in [2, 3] {
        assert!(join_ok(&lab, i, &manager_token, 1).contains("as a manager"));
    }
    for i in [4, 5] {
        assert!(join_ok(&lab, i, &worker_token, 2).contains("as a worker"));
    }
    for i in [1, 2, 3] {
        wait_converged(&lab, i, 5, 3, Duration::from_secs(30));
    }

    // A worker answers manager-only commands clearly.
    let out = lab.cli(4, &["service", "ls"]).expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a manager"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Writes through every manager.
    let mut acked = Vec::new();
    for (k, i) in [1, 2, 3].iter().cycle().take(9).enumerate() {
        let name = format!("s{k}");
        assert!(create(&lab, *i, &name), "write via n{i}");
        acked.push(name);
    }

    // kill -9 the leader: a new one takes writes within seconds, nothing acknowledged is lost.
    let old = leader_index(&lab, &[1, 2, 3]).expect("a leader");
    let rest: Vec<usize> = [1, 2, 3].into_iter().filter(|&i| i != old).collect();
    let killed = Instant::now();
    lab.kill(old).expect("kill -9 leader");
    let took = Lab::wait_for(Duration::from_secs(30), || {
        create(&lab, rest[0], "after-failover").then(|| killed.elapsed())
    })
    .expect("writes resume after the leader dies");
    println!("leader failover: kill -9 -> first acknowledged write after {took:?}");
    acked.push("after-failover".into());
    let names = service_names(&lab, rest[1]);
    for a in &acked {
        assert!(
            names.contains(a),
            "acknowledged write {a} survived: {names:?}"
        );
    }
    // The old leader comes back as a follower. (Right after its restart the stored manager
    // status may still be the one from before the kill; wait for the new leader's view.)
    lab.start(old, &[], &[]).expect("restart old leader");
    let follower = Lab::wait_for(Duration::from_secs(30), || {
        let ns = nodes(&lab, old)?;
        let me = ns.iter().find(|n| n["hostname"] == format!("n{old}"))?;
        let leaders = ns
            .iter()
            .filter(|n| n["manager_status"] == "Leader")
            .count();
        (me["manager_status"] == "Reachable" && leaders == 1).then_some(())
    });
    assert!(
        follower.is_some(),
        "old leader rejoined as a follower: {:?}\n{}",
        nodes(&lab, old),
        lab.log(old)
    );
    wait_converged(&lab, old, 5, 3, Duration::from_secs(30));
    assert!(service_names(&lab, old).contains(&"after-failover".to_owned()));

    // Strangers are refused, and the manager logs why.
    let lab6 = &lab;
    let bad_secret = format!(
        "{}{}",
        &worker_token[..worker_token.len() - 25],
        "0".repeat(25)
    );
    let out = join(lab6, 5, &bad_secret, rest[0]);
    assert!(
        !out.status.success(),
        "already joined node refuses, or the manager refuses"
    );

    // Promote a worker while writes go on, then demote it back: nothing acknowledged is lost.
    lab.ok(rest[0], &["node", "promote", "n4"])
        .expect("promote");
    let mut k = 0;
    let promoted = Lab::wait_for(Duration::from_secs(45), || {
        k += 1;
        let name = format!("p{k}");
        if create(&lab, rest[0], &name) {
            acked.push(name);
        }
        let ns = nodes(&lab, rest[0])?;
        let n4 = ns.iter().find(|n| n["hostname"] == "n4")?;
        (n4["manager_status"] == "Reachable").then_some(())
    });
    assert!(
        promoted.is_some(),
        "n4 became a reachable manager: {:?}\n{}",
        nodes(&lab, rest[0]),
        lab.log(4)
    );
    assert!(
        lab.ok(4, &["service", "ls"]).is_ok(),
        "n4 now answers manager commands"
    );
    lab.ok(rest[0], &["node", "demote", "n4"]).expect("demote");
    let demoted = Lab::wait_for(Duration::from_secs(45), || {
        k += 1;
        let name = format!("p{k}");
        if create(&lab, rest[0], &name) {
            acked.push(name);
        }
        let out = lab.cli(4, &["service", "ls"]).ok()?;
        (!out.status.success()).then_some(())
    });
    assert!(
        demoted.is_some(),
        "n4 became a worker again:\n{}",
        lab.log(4)
    );
    wait_converged(&lab, rest[0], 5, 3, Duration::from_secs(30));
    let names = service_names(&lab, rest[1]);
    for a in &acked {
        assert!(
            names.contains(a),
            "acknowledged write {a} survived promote/demote"
        );
    }
}

#[test]
fn bad_tokens_rotation_and_removed_nodes_are_refused() {
    let (_serial, mut lab) = swarm(4, &[]);
    let worker = token(&lab, 1, "worker");

    // Wrong secret.
    let wrong = format!("{}{}", &worker[..worker.len() - 25], "z".repeat(25));
    let out = join(&lab, 2, &wrong, 1);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invalid join token"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Wrong CA digest: the joining node refuses to trust the manager.
    let parts: Vec<&str> = worker.split('-').collect();
    let wrong_ca = format!("FLT-1-{}-{}", "a".repeat(64), parts[3]);
    let out = join(&lab, 2, &wrong_ca, 1);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not match the join token"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A rotated (old) token.
    lab.ok(1, &["swarm", "join-token", "--rotate", "worker"])
        .expect("rotate");
    let out = join(&lab, 2, &worker, 1);
    assert!(!out.status.success(), "old token refused");
    let log = lab.log(1);
    assert!(
        log.contains("join refused"),
        "the manager logs refusals:\n{log}"
    );

    // The new token works.
    let fresh = token(&lab, 1, "worker");
    for i in [2, 3] {
        join_ok(&lab, i, &fresh, 1);
    }
    wait_converged(&lab, 1, 3, 1, Duration::from_secs(30));

    // A removed node reconnecting is refused.
    lab.kill(3).expect("stop n3");
    Lab::wait_for(Duration::from_secs(30), || {
        nodes(&lab, 1)?
            .iter()
            .any(|n| n["hostname"] == "n3" && n["status"] == "Down")
            .then_some(())
    })
    .expect("n3 goes down after missed heartbeats");
    lab.ok(1, &["node", "rm", "n3"]).expect("rm a down node");
    lab.start(3, &[], &[])
        .expect("n3 restarts with its old certificate");
    let refused = Lab::wait_for(Duration::from_secs(20), || {
        lab.log(1).contains("removed node").then_some(())
    });
    assert!(
        refused.is_some(),
        "the manager refuses and logs the removed node:\n{}",
        lab.log(1)
    );
    let ns = nodes(&lab, 1).expect("node ls");
    assert!(
        ns.iter().all(|n| n["hostname"] != "n3"),
        "n3 stays out: {ns:?}"
    );

    // Managers' refusal of a node that is not down without --force.
    let out = lab.cli(1, &["node", "rm", "n2"]).expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
}

#[test]
fn certificates_renew_without_restart() {
    let (_serial, mut lab) = swarm(2, &["--cert-expiry", "12s"]);
    let t = token(&lab, 1, "worker");
    join_ok(&lab, 2, &t, 1);
    let cert = lab.data_dir(2).join("certs").join("node.crt");
    let first = std::fs::read_to_string(&cert).expect("worker cert");
    // Past the first certificate's whole lifetime, the worker is still Ready: it renewed.
    std::thread::sleep(Duration::from_secs(20));
    let ns = wait_converged(&lab, 1, 2, 1, Duration::from_secs(10));
    assert_eq!(ns.len(), 2);
    let now = std::fs::read_to_string(&cert).expect("worker cert");
    assert_ne!(first, now, "the certificate file was replaced");
    assert!(lab.log(2).contains("certificate renewed"), "{}", lab.log(2));
    assert!(lab.is_running(2), "no restart was needed");
}

#[test]
fn quorum_is_guarded_and_a_lone_manager_can_force_a_new_cluster() {
    let (_serial, mut lab) = swarm(3, &[]);
    let m = token(&lab, 1, "manager");
    for i in [2, 3] {
        join_ok(&lab, i, &m, 1);
    }
    wait_converged(&lab, 1, 3, 3, Duration::from_secs(30));
    assert!(create(&lab, 1, "before"));
    let leader = leader_index(&lab, &[1, 2, 3]).expect("leader");
    // Make n1 the survivor whatever the leader is: stop one other manager first.
    let others: Vec<usize> = [2, 3].into_iter().collect();
    lab.kill(others[1]).expect("kill one manager");
    Lab::wait_for(Duration::from_secs(30), || {
        nodes(&lab, 1)?
            .iter()
            .any(|n| {
                n["hostname"] == format!("n{}", others[1]) && n["manager_status"] == "Unreachable"
            })
            .then_some(())
    })
    .expect("the killed manager shows as unreachable");
    // Demoting the last other reachable manager would cost the quorum: refused without --force.
    let out = lab
        .cli(1, &["node", "demote", &format!("n{}", others[0])])
        .expect("run");
    assert!(!out.status.success(), "demote must be refused");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("quorum"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = leader;
    // Lose the quorum for good; n1 is alone.
    lab.kill(others[0]).expect("kill the second manager");
    let out = lab
        .cli(
            1,
            &["service", "create", "-d", "--name", "no-quorum", NO_PULL],
        )
        .expect("run");
    assert!(!out.status.success(), "no write without a quorum");
    // Recover: n1 restarts the swarm from its own state.
    lab.ok(1, &["swarm", "init", "--force-new-cluster"])
        .expect("force new cluster");
    assert!(
        Lab::wait_for(Duration::from_secs(20), || create(&lab, 1, "after")
            .then_some(()))
        .is_some(),
        "writes work again:\n{}",
        lab.log(1)
    );
    let names = service_names(&lab, 1);
    assert!(
        names.contains(&"before".to_owned()) && names.contains(&"after".to_owned()),
        "{names:?}"
    );
    let ns = nodes(&lab, 1).expect("node ls");
    let managers: Vec<&Value> = ns.iter().filter(|n| n["manager_status"] != "").collect();
    assert_eq!(managers.len(), 1, "only the survivor is a manager: {ns:?}");
    assert_eq!(managers[0]["manager_status"], "Leader");
}
