//! Services on real multi-node swarms: `flotilla daemon` processes in network namespaces running
//! real containers (an image of the host's busybox imported on every node). Scheduling and
//! spread, scaling, global services following nodes, constraints and limits, a node lost to a
//! power cut, a partitioned worker, rolling updates within their bounds, automatic and manual
//! rollback, a leader killed in the middle of an update, and health checks that gate Running and
//! replace an unhealthy task. Needs root; fails loudly without.

mod common;

use common::*;
use flotilla_testkit::Lab;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const IMAGE: &str = "demo:1";
const IMAGE2: &str = "demo:2";

/// One row of `service ps --format json`.
#[derive(Debug, Clone)]
struct TaskRow {
    id: String,
    name: String,
    image: String,
    node: String,
    desired: String,
    current: String,
    error: String,
}

impl TaskRow {
    fn running(&self) -> bool {
        self.current.starts_with("Running")
    }
    fn wanted(&self) -> bool {
        self.desired == "Running"
    }
}

/// The tasks of `service` as node `i` sees them (`None` if the CLI failed, e.g. mid-election).
fn tasks(lab: &Lab, i: usize, service: &str) -> Option<Vec<TaskRow>> {
    let v = lab
        .ok_json(
            i,
            &["service", "ps", "--no-trunc", "--format", "json", service],
        )
        .ok()?;
    let s = |r: &Value, k: &str| r[k].as_str().unwrap_or_default().to_owned();
    Some(
        v.as_array()?
            .iter()
            .map(|r| TaskRow {
                id: s(r, "id"),
                name: s(r, "name"),
                image: s(r, "image"),
                node: s(r, "node"),
                desired: s(r, "desired_state"),
                current: s(r, "current_state"),
                error: s(r, "error"),
            })
            .collect(),
    )
}

/// Tasks that should run and do.
fn running(rows: &[TaskRow]) -> Vec<TaskRow> {
    rows.iter()
        .filter(|t| t.wanted() && t.running())
        .cloned()
        .collect()
}

/// Waits until `pred` holds on node `i`'s view of `service`'s tasks.
fn wait_tasks(
    lab: &Lab,
    i: usize,
    service: &str,
    what: &str,
    timeout: Duration,
    pred: impl Fn(&[TaskRow]) -> bool,
) -> Vec<TaskRow> {
    let got = Lab::wait_for(timeout, || {
        let rows = tasks(lab, i, service)?;
        pred(&rows).then_some(rows)
    });
    got.unwrap_or_else(|| {
        let rows = tasks(lab, i, service);
        let logs: String = (1..=lab.len())
            .map(|k| format!("--- n{k}\n{}\n", tail(&lab.log(k), 40)))
            .collect();
        panic!("{service}: {what} not reached within {timeout:?}; tasks: {rows:#?}\n{logs}")
    })
}

fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

/// Running containers of `service` on node `i`, by container name.
fn containers(lab: &Lab, i: usize, service: &str) -> Vec<String> {
    let v = lab
        .ok_json(i, &["container", "ls", "--format", "json"])
        .unwrap_or_else(|e| panic!("container ls on n{i}: {e}"));
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["names"].as_str())
                .filter(|n| n.starts_with(&format!("{service}.")))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Running containers of `service` on every node in `nodes`, by node.
fn all_containers(lab: &Lab, nodes: &[usize], service: &str) -> BTreeMap<usize, Vec<String>> {
    nodes
        .iter()
        .map(|&i| (i, containers(lab, i, service)))
        .collect()
}

/// The slot part of a container name `<service>.<slot>.<task id>`.
fn slot_of(container: &str) -> String {
    container.split('.').nth(1).unwrap_or_default().to_owned()
}

fn node_counts(rows: &[TaskRow]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in rows {
        *m.entry(r.node.clone()).or_insert(0) += 1;
    }
    m
}

fn create(lab: &Lab, i: usize, args: &[&str]) {
    let mut a = vec!["service", "create", "-d"];
    a.extend_from_slice(args);
    lab.ok(i, &a)
        .unwrap_or_else(|e| panic!("service create {args:?}: {e}\n{}", tail(&lab.log(1), 40)));
}

fn update_status(lab: &Lab, i: usize, service: &str) -> String {
    lab.ok_json(i, &["service", "inspect", service])
        .ok()
        .and_then(|v| v[0]["update_status"]["state"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[test]
fn replicated_services_spread_scale_and_outlive_lost_and_partitioned_nodes() {
    let (_serial, mut lab) = cluster(3, 2);
    let all = [1, 2, 3, 4, 5];
    import_demo_image(&lab, &all, &[IMAGE, IMAGE2]);
    let t0 = Instant::now();
    create(
        &lab,
        1,
        &["--name", "web", "--replicas", "6", IMAGE, "sleep", "100000"],
    );
    let rows = wait_tasks(&lab, 1, "web", "6 running", Duration::from_secs(60), |r| {
        running(r).len() == 6
    });
    println!(
        "service create --replicas 6 → 6 running: {:?}",
        t0.elapsed()
    );
    let per_node = node_counts(&running(&rows));
    assert_eq!(
        per_node.len(),
        5,
        "6 tasks spread over all 5 nodes: {per_node:?}"
    );
    // Real containers back every running task, one per task.
    let cs = all_containers(&lab, &all, "web");
    for (i, names) in &cs {
        let want = per_node.get(&format!("n{i}")).copied().unwrap_or(0);
        assert_eq!(
            names.len(),
            want,
            "n{i} runs one container per task: {cs:?}"
        );
    }

    lab.ok(1, &["service", "scale", "-d", "web=10"])
        .expect("scale up");
    wait_tasks(&lab, 1, "web", "10 running", Duration::from_secs(60), |r| {
        running(r).len() == 10
    });
    lab.ok(1, &["service", "scale", "-d", "web=2"])
        .expect("scale down");
    wait_tasks(&lab, 1, "web", "2 running", Duration::from_secs(60), |r| {
        running(r).len() == 2 && r.iter().filter(|t| t.running()).count() == 2
    });
    let settled = Lab::wait_for(Duration::from_secs(30), || {
        let n: usize = all_containers(&lab, &all, "web")
            .values()
            .map(Vec::len)
            .sum();
        (n == 2).then_some(())
    });
    assert!(
        settled.is_some(),
        "scaled down to 2: containers left {:?}",
        all_containers(&lab, &all, "web")
    );

    // A worker loses power: daemon and containers die together.
    lab.ok(1, &["service", "scale", "-d", "web=5"])
        .expect("scale to 5");
    let rows = wait_tasks(&lab, 1, "web", "5 running", Duration::from_secs(60), |r| {
        running(r).len() == 5
    });
    assert!(
        running(&rows).iter().any(|t| t.node == "n5"),
        "n5 runs a task before it dies: {rows:#?}"
    );
    let killed = Instant::now();
    lab.kill(5).expect("kill n5");
    lab.kill_containers(5).expect("kill n5's containers");
    wait_tasks(
        &lab,
        1,
        "web",
        "5 running without n5",
        Duration::from_secs(60),
        |r| {
            let run = running(r);
            run.len() == 5 && run.iter().all(|t| t.node != "n5")
        },
    );
    println!(
        "kill -9 of worker n5 (daemon and containers) → replacement running: {:?}",
        killed.elapsed()
    );

    // A worker cut off from the managers, then healed: exactly 5 run afterwards, no slot twice.
    let rows = tasks(&lab, 1, "web").expect("ps");
    let on_n4 = running(&rows).iter().filter(|t| t.node == "n4").count();
    assert!(on_n4 > 0, "n4 runs a task before the partition: {rows:#?}");
    lab.partition(4).expect("partition n4");
    wait_tasks(
        &lab,
        1,
        "web",
        "5 running without n4",
        Duration::from_secs(60),
        |r| {
            let run = running(r);
            run.len() == 5 && run.iter().all(|t| t.node != "n4")
        },
    );
    lab.heal(4).expect("heal n4");
    let live = [1, 2, 3, 4];
    let exact = Lab::wait_for(Duration::from_secs(60), || {
        let cs = all_containers(&lab, &live, "web");
        let names: Vec<&String> = cs.values().flatten().collect();
        let slots: BTreeSet<String> = names.iter().map(|n| slot_of(n)).collect();
        (names.len() == 5 && slots.len() == 5).then_some(cs)
    });
    assert!(
        exact.is_some(),
        "after the heal exactly 5 containers run, one per slot: {:?}\n{}",
        all_containers(&lab, &live, "web"),
        tail(&lab.log(4), 40)
    );
    let rows = wait_tasks(
        &lab,
        1,
        "web",
        "5 running after the heal",
        Duration::from_secs(30),
        |r| running(r).len() == 5,
    );
    let names: BTreeSet<String> = running(&rows).into_iter().map(|t| t.name).collect();
    assert_eq!(names.len(), 5, "no slot runs twice: {rows:#?}");

    // The leader dies in the middle of a rolling update: the next leader finishes it.
    let leader = leader_index(&lab, &[1, 2, 3]).expect("a leader");
    let other = [1, 2, 3]
        .into_iter()
        .find(|&i| i != leader)
        .expect("another manager");
    lab.ok(
        other,
        &[
            "service",
            "update",
            "-d",
            "--image",
            IMAGE2,
            "--update-parallelism",
            "1",
            "--update-delay",
            "2s",
            "web",
        ],
    )
    .expect("update");
    wait_tasks(
        &lab,
        other,
        "web",
        "the first task updated",
        Duration::from_secs(60),
        |r| running(r).iter().any(|t| t.image == IMAGE2),
    );
    lab.kill(leader).expect("kill the leader");
    let survivor = other;
    wait_tasks(
        &lab,
        survivor,
        "web",
        "every task on the new image",
        Duration::from_secs(120),
        |r| {
            let run = running(r);
            run.len() == 5 && run.iter().all(|t| t.image == IMAGE2)
        },
    );
    let done = Lab::wait_for(Duration::from_secs(30), || {
        (update_status(&lab, survivor, "web") == "completed").then_some(())
    });
    assert!(
        done.is_some(),
        "the update completes under the new leader: {}",
        update_status(&lab, survivor, "web")
    );
}

#[test]
fn global_services_constraints_limits_and_reservations() {
    // Four daemons; n4 joins only once the global service runs.
    let (_serial, mut lab) = swarm(4, &[]);
    let worker_token = token(&lab, 1, "worker");
    join_ok(&lab, 2, &worker_token, 1);
    join_ok(&lab, 3, &worker_token, 1);
    wait_converged(&lab, 1, 3, 1, Duration::from_secs(60));
    import_demo_image(&lab, &[1, 2, 3, 4], &[IMAGE]);
    create(
        &lab,
        1,
        &[
            "--name", "agent", "--mode", "global", IMAGE, "sleep", "100000",
        ],
    );
    wait_tasks(
        &lab,
        1,
        "agent",
        "one per node",
        Duration::from_secs(60),
        |r| running(r).len() == 3,
    );
    join_ok(&lab, 4, &worker_token, 1);
    let rows = wait_tasks(
        &lab,
        1,
        "agent",
        "one on the new node too",
        Duration::from_secs(60),
        |r| running(r).len() == 4,
    );
    let per_node = node_counts(&running(&rows));
    assert!(
        per_node.len() == 4 && per_node.values().all(|&n| n == 1),
        "exactly one task per node: {per_node:?}"
    );

    // Draining a node takes the global task away from it.
    lab.ok(1, &["node", "update", "--availability", "drain", "n2"])
        .expect("drain n2");
    wait_tasks(
        &lab,
        1,
        "agent",
        "none on n2",
        Duration::from_secs(60),
        |r| {
            let run = running(r);
            run.len() == 3 && run.iter().all(|t| t.node != "n2")
        },
    );
    let gone = Lab::wait_for(Duration::from_secs(30), || {
        containers(&lab, 2, "agent").is_empty().then_some(())
    });
    assert!(gone.is_some(), "n2's global container is stopped");

    // Constraints hold.
    create(
        &lab,
        1,
        &[
            "--name",
            "work",
            "--replicas",
            "4",
            "--constraint",
            "node.role==worker",
            IMAGE,
            "sleep",
            "100000",
        ],
    );
    let rows = wait_tasks(&lab, 1, "work", "4 running", Duration::from_secs(60), |r| {
        running(r).len() == 4
    });
    assert!(
        running(&rows)
            .iter()
            .all(|t| t.node == "n3" || t.node == "n4"),
        "node.role==worker keeps tasks off the manager and the drained node: {rows:#?}"
    );

    // At most one per node: 3 active nodes take 3 of 5, the rest wait with Docker's reason.
    create(
        &lab,
        1,
        &[
            "--name",
            "spread",
            "--replicas",
            "5",
            "--replicas-max-per-node",
            "1",
            IMAGE,
            "sleep",
            "100000",
        ],
    );
    let rows = wait_tasks(
        &lab,
        1,
        "spread",
        "3 running, 2 pending with a reason",
        Duration::from_secs(60),
        |r| {
            running(r).len() == 3
                && r.iter()
                    .filter(|t| {
                        t.current.starts_with("Pending") && t.error.contains("no suitable node")
                    })
                    .count()
                    == 2
        },
    );
    let per_node = node_counts(&running(&rows));
    assert!(per_node.values().all(|&n| n == 1), "{per_node:?}");

    // A worker's daemon killed and restarted finds its running containers again: every
    // container on it belongs to a task running there, each such task has exactly one, and a
    // task that kept running there kept its container.
    let n3_containers = |lab: &Lab| -> BTreeSet<String> {
        let mut v: BTreeSet<String> = containers(lab, 3, "work").into_iter().collect();
        v.extend(containers(lab, 3, "agent"));
        v
    };
    let before = n3_containers(&lab);
    assert!(!before.is_empty(), "n3 runs tasks before the restart");
    lab.kill(3).expect("kill n3's daemon");
    lab.start(3, &[], &[]).expect("restart n3");
    let settled = Lab::wait_for(Duration::from_secs(60), || {
        let mut on_n3 = BTreeSet::new();
        for svc in ["work", "agent"] {
            let rows = tasks(&lab, 1, svc)?;
            on_n3.extend(
                running(&rows)
                    .into_iter()
                    .filter(|t| t.node == "n3")
                    .map(|t| t.id),
            );
        }
        let cs = n3_containers(&lab);
        let ids: BTreeSet<String> = cs
            .iter()
            .filter_map(|c| c.rsplit('.').next().map(str::to_owned))
            .collect();
        (ids == on_n3 && ids.len() == cs.len()).then_some((cs, on_n3))
    });
    let (after, on_n3) = settled.unwrap_or_else(|| {
        panic!(
            "n3's containers {:?} do not match its running tasks after the restart",
            n3_containers(&lab)
        )
    });
    for c in &before {
        let task = c.rsplit('.').next().unwrap_or_default();
        if on_n3.contains(task) {
            assert!(
                after.contains(c),
                "{c} kept running through the restart: {after:?}"
            );
        }
    }

    // `service logs` gathers every task's output from the nodes that ran them, stdout to
    // stdout and stderr to stderr, each line prefixed with the task and its node.
    create(
        &lab,
        1,
        &[
            "--name",
            "talk",
            "--replicas",
            "2",
            IMAGE,
            "sh",
            "-c",
            "echo out-$(hostname); echo err-line >&2; sleep 100000",
        ],
    );
    let rows = wait_tasks(&lab, 1, "talk", "2 running", Duration::from_secs(60), |r| {
        running(r).len() == 2
    });
    let logs = Lab::wait_for(Duration::from_secs(30), || {
        let out = lab.cli(1, &["service", "logs", "talk"]).ok()?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.success()
            && stdout.matches("| out-").count() == 2
            && stderr.matches("| err-line").count() == 2)
            .then_some((stdout, stderr))
    });
    let (stdout, stderr) = logs.unwrap_or_else(|| {
        let out = lab.cli(1, &["service", "logs", "talk"]);
        panic!("service logs talk: {out:?}\n{}", tail(&lab.log(1), 40))
    });
    for t in running(&rows) {
        let prefix = format!("{}.{}@{}", t.name, &t.id[..12], t.node);
        assert!(stdout.contains(&prefix), "{prefix} in:\n{stdout}");
        assert!(stderr.contains(&prefix), "{prefix} in:\n{stderr}");
    }
    assert!(!stdout.contains("err-line") && !stderr.contains("out-"));

    // A reservation no node can give leaves the task pending, saying why.
    create(
        &lab,
        1,
        &[
            "--name",
            "huge",
            "--reserve-memory",
            "100000g",
            IMAGE,
            "sleep",
            "100000",
        ],
    );
    let rows = wait_tasks(
        &lab,
        1,
        "huge",
        "pending for lack of memory",
        Duration::from_secs(30),
        |r| {
            r.iter().any(|t| {
                t.current.starts_with("Pending") && t.error.contains("insufficient resources")
            })
        },
    );
    assert!(running(&rows).is_empty());

    // A node made active again gets the global service's task back.
    lab.ok(1, &["node", "update", "--availability", "active", "n2"])
        .expect("activate n2");
    wait_tasks(
        &lab,
        1,
        "agent",
        "one per node again",
        Duration::from_secs(60),
        |r| running(r).len() == 4,
    );
}

#[test]
fn rolling_updates_keep_their_bounds_and_roll_back() {
    let (_serial, lab) = cluster(1, 2);
    let all = [1, 2, 3];
    import_demo_image(&lab, &all, &[IMAGE, IMAGE2]);
    create(
        &lab,
        1,
        &[
            "--name",
            "web",
            "--replicas",
            "10",
            IMAGE,
            "sleep",
            "100000",
        ],
    );
    wait_tasks(&lab, 1, "web", "10 running", Duration::from_secs(90), |r| {
        running(r).len() == 10
    });

    // Stop-first, two at a time: never more than 2 slots without a running task.
    lab.ok(
        1,
        &[
            "service",
            "update",
            "-d",
            "--image",
            IMAGE2,
            "--update-parallelism",
            "2",
            "--update-delay",
            "1s",
            "web",
        ],
    )
    .expect("update");
    let mut worst_down = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let Some(rows) = tasks(&lab, 1, "web") else {
            assert!(Instant::now() < deadline, "service ps kept failing");
            std::thread::sleep(Duration::from_millis(100));
            continue;
        };
        let run = running(&rows);
        worst_down = worst_down.max(10usize.saturating_sub(run.len()));
        assert!(
            worst_down <= 2,
            "stop-first with parallelism 2 took {worst_down} slots down: {rows:#?}"
        );
        if run.len() == 10 && run.iter().all(|t| t.image == IMAGE2) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "update did not finish: {rows:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("stop-first update: at most {worst_down} slots down");

    // Start-first: never more than replicas + 2 tasks meant to run are running (the replaced
    // ones are told to stop as soon as their successors run; their containers may take the
    // stop grace period to go, as in Docker), and in the end only the 10 new containers remain.
    lab.ok(
        1,
        &[
            "service",
            "update",
            "-d",
            "--image",
            IMAGE,
            "--update-parallelism",
            "2",
            "--update-order",
            "start-first",
            "web",
        ],
    )
    .expect("update");
    let mut most = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let rows = tasks(&lab, 1, "web").unwrap_or_default();
        let run = running(&rows);
        most = most.max(run.len());
        assert!(
            most <= 12,
            "start-first with parallelism 2 ran {most} tasks: {rows:#?}"
        );
        if run.len() == 10 && run.iter().all(|t| t.image == IMAGE) {
            let n: usize = all_containers(&lab, &all, "web")
                .values()
                .map(Vec::len)
                .sum();
            if n == 10 {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "update did not finish: {rows:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("start-first update: at most {most} tasks running");

    // An update whose tasks fail rolls itself back.
    lab.ok(
        1,
        &[
            "service",
            "update",
            "-d",
            "--image",
            IMAGE2,
            "--entrypoint",
            "false",
            "--update-failure-action",
            "rollback",
            "--update-monitor",
            "2s",
            "web",
        ],
    )
    .expect("update to a failing command");
    let rolled = Lab::wait_for(Duration::from_secs(120), || {
        (update_status(&lab, 1, "web") == "rollback_completed").then_some(())
    });
    assert!(
        rolled.is_some(),
        "the failing update rolls back: {}\n{:#?}",
        update_status(&lab, 1, "web"),
        tasks(&lab, 1, "web")
    );
    wait_tasks(
        &lab,
        1,
        "web",
        "10 running the old spec",
        Duration::from_secs(60),
        |r| {
            let run = running(r);
            run.len() == 10 && run.iter().all(|t| t.image == IMAGE)
        },
    );

    // `service rollback` restores the previous spec.
    lab.ok(1, &["service", "update", "-d", "--image", IMAGE2, "web"])
        .expect("update");
    wait_tasks(
        &lab,
        1,
        "web",
        "10 on the new image",
        Duration::from_secs(120),
        |r| {
            let run = running(r);
            run.len() == 10 && run.iter().all(|t| t.image == IMAGE2)
        },
    );
    lab.ok(1, &["service", "rollback", "-d", "web"])
        .expect("rollback");
    wait_tasks(
        &lab,
        1,
        "web",
        "10 back on the old image",
        Duration::from_secs(120),
        |r| {
            let run = running(r);
            run.len() == 10 && run.iter().all(|t| t.image == IMAGE)
        },
    );
}

/// The running container of the task `task_id` on node `i`, by name.
fn container_of(lab: &Lab, i: usize, service: &str, task_id: &str) -> String {
    containers(lab, i, service)
        .into_iter()
        .find(|n| n.ends_with(&format!(".{task_id}")))
        .unwrap_or_else(|| panic!("n{i} runs no container for task {task_id} of {service}"))
}

/// The node index of a node name `n<i>`.
fn node_index(node: &str) -> usize {
    node.trim_start_matches('n')
        .parse()
        .unwrap_or_else(|_| panic!("not a lab node name: {node:?}"))
}

#[test]
fn health_checks_gate_running_and_replace_unhealthy_tasks() {
    let (_serial, lab) = cluster(1, 1);
    import_demo_image(&lab, &[1, 2], &[IMAGE]);
    // Healthy once /ready exists; failures do not count for the first minute, so the tasks
    // stay Starting until the file appears.
    create(
        &lab,
        1,
        &[
            "--name",
            "hc",
            "--replicas",
            "2",
            "--replicas-max-per-node",
            "1",
            "--health-cmd",
            "test -f /ready",
            "--health-interval",
            "200ms",
            "--health-retries",
            "2",
            "--health-start-period",
            "60s",
            "--restart-delay",
            "1s",
            IMAGE,
            "sleep",
            "100000",
        ],
    );
    let starting = |t: &TaskRow| t.wanted() && t.current.starts_with("Starting");
    let rows = wait_tasks(
        &lab,
        1,
        "hc",
        "2 tasks starting",
        Duration::from_secs(60),
        |r| r.iter().filter(|t| starting(t)).count() == 2,
    );
    // Their containers run, but the tasks are not Running while the check fails: 15 probes.
    let placed: Vec<(usize, String)> = rows
        .iter()
        .map(|t| (node_index(&t.node), t.id.clone()))
        .collect();
    let names: Vec<String> = placed
        .iter()
        .map(|(i, id)| container_of(&lab, *i, "hc", id))
        .collect();
    std::thread::sleep(Duration::from_secs(3));
    let rows = tasks(&lab, 1, "hc").expect("service ps");
    assert!(
        rows.iter().filter(|t| starting(t)).count() == 2 && running(&rows).is_empty(),
        "tasks whose check fails are not Running: {rows:#?}"
    );
    let ls = lab
        .ok(placed[0].0, &["container", "ls"])
        .expect("container ls");
    assert!(ls.contains("(health: starting)"), "container ls: {ls}");

    // One container turns healthy: its task runs, the other still starts.
    lab.ok(
        placed[0].0,
        &[
            "container",
            "exec",
            &names[0],
            "sh",
            "-c",
            "echo ok > /ready",
        ],
    )
    .expect("exec touch");
    let rows = wait_tasks(
        &lab,
        1,
        "hc",
        "the healthy task running",
        Duration::from_secs(30),
        |r| running(r).iter().any(|t| t.id == placed[0].1),
    );
    assert!(
        rows.iter().any(|t| t.id == placed[1].1 && starting(t)),
        "the other task still waits for its check: {rows:#?}"
    );
    lab.ok(
        placed[1].0,
        &[
            "container",
            "exec",
            &names[1],
            "sh",
            "-c",
            "echo ok > /ready",
        ],
    )
    .expect("exec touch");
    wait_tasks(&lab, 1, "hc", "2 running", Duration::from_secs(30), |r| {
        running(r).len() == 2
    });

    // A running task whose check starts failing is stopped, marked failed with the reason, and
    // replaced in its slot by a new task (which starts, unhealthy-free, without /ready).
    let slot = rows
        .iter()
        .find(|t| t.id == placed[1].1)
        .map(|t| t.name.clone())
        .expect("task row");
    lab.ok(
        placed[1].0,
        &["container", "exec", &names[1], "busybox", "rm", "/ready"],
    )
    .expect("exec rm");
    let rows = wait_tasks(
        &lab,
        1,
        "hc",
        "the unhealthy task failed and replaced",
        Duration::from_secs(60),
        |r| {
            let old_failed = r
                .iter()
                .any(|t| t.id == placed[1].1 && t.current.starts_with("Failed") && !t.wanted());
            let replaced = r
                .iter()
                .any(|t| t.name == slot && t.id != placed[1].1 && t.wanted());
            old_failed && replaced
        },
    );
    let old = rows
        .iter()
        .find(|t| t.id == placed[1].1)
        .expect("old task row");
    assert!(
        old.error.contains("unhealthy"),
        "the failure names the health check: {old:#?}"
    );
    assert!(
        running(&rows).iter().any(|t| t.id == placed[0].1),
        "the healthy task was left alone: {rows:#?}"
    );
    let gone = Lab::wait_for(Duration::from_secs(30), || {
        (!containers(&lab, placed[1].0, "hc")
            .iter()
            .any(|n| n == &names[1]))
        .then_some(())
    });
    assert!(gone.is_some(), "the unhealthy container is stopped");
}
