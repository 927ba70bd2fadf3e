//! The [`Scheduler`]: places pending tasks one at a time, keeping the accounting up to date.
//!
//! It is built from a snapshot — the nodes, every task the store holds (those that do not
//! occupy a node are ignored, see [`nodeinfo`](crate::nodeinfo)), and the services, whose
//! endpoints say which ports each task publishes in host mode — and then asked about pending
//! tasks. Each assignment is added to the chosen node's accounting before the next task is
//! placed, so a batch never overcommits a node, never puts two tasks publishing the same host
//! port on one node, and spreads as if the tasks had been scheduled one by one.
//!
//! A pending task that already names a node (a global service's task) is only checked against
//! that node, as SwarmKit does with pre-assigned tasks.

use crate::filter::{Failures, Requirements};
use crate::nodeinfo::{self, HostPort, NodeInfo};
use crate::spread;
use flotilla_model::{Node, NodeId, Service, ServiceId, Task, TaskId, TaskState};
use std::collections::BTreeMap;

/// What the scheduler decided for one pending task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Run the task on this node (the caller sets its node and moves it to ASSIGNED).
    Assign {
        /// The task.
        task_id: TaskId,
        /// The chosen node.
        node_id: NodeId,
    },
    /// No node can take the task now; it stays PENDING with `reason` as its error.
    NoSuitableNode {
        /// The task.
        task_id: TaskId,
        /// Docker's wording, e.g. `no suitable node (insufficient resources on 2 nodes)`.
        reason: String,
    },
}

impl Decision {
    /// The task the decision is about.
    pub fn task_id(&self) -> &TaskId {
        match self {
            Decision::Assign { task_id, .. } | Decision::NoSuitableNode { task_id, .. } => task_id,
        }
    }

    /// The chosen node, if the task was assigned.
    pub fn node_id(&self) -> Option<&NodeId> {
        match self {
            Decision::Assign { node_id, .. } => Some(node_id),
            Decision::NoSuitableNode { .. } => None,
        }
    }
}

/// The nodes with their accounting, ready to place tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct Scheduler {
    /// Sorted by node id, without duplicates.
    nodes: Vec<NodeInfo>,
    /// Host-mode published ports of each service that has some.
    host_ports: BTreeMap<ServiceId, Vec<HostPort>>,
}

impl Scheduler {
    /// Builds the accounting from a snapshot. `tasks` may hold every task of the store: those
    /// not occupying a known node are ignored. Nodes appearing twice are counted once (the
    /// first occurrence).
    pub fn new(nodes: &[Node], tasks: &[Task], services: &[Service]) -> Self {
        let mut infos: Vec<NodeInfo> = nodes.iter().map(NodeInfo::new).collect();
        // Stable sort, so deduplication keeps the first occurrence of an id.
        infos.sort_by(|a, b| a.id().cmp(b.id()));
        infos.dedup_by(|later, earlier| later.id() == earlier.id());
        let host_ports = services
            .iter()
            .map(|s| (s.id.clone(), HostPort::of_endpoint(&s.spec.endpoint_spec)))
            .filter(|(_, ports)| !ports.is_empty())
            .collect();
        let mut scheduler = Self {
            nodes: infos,
            host_ports,
        };
        for task in tasks {
            scheduler.add_task(task);
        }
        scheduler
    }

    /// Records an existing task in its node's accounting, if it occupies a known node; returns
    /// whether it was recorded.
    pub fn add_task(&mut self, task: &Task) -> bool {
        if !nodeinfo::holds_resources(task) {
            return false;
        }
        let Some(i) = task.node_id.as_ref().and_then(|id| self.index_of(id)) else {
            return false;
        };
        let ports = self.ports_of(&task.service_id);
        self.nodes[i].add_task(
            &task.service_id,
            &task.spec.resources,
            &ports,
            nodeinfo::is_active(task),
        );
        true
    }

    /// The nodes with their current accounting, sorted by id.
    pub fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    /// One node's accounting.
    pub fn node(&self, id: &NodeId) -> Option<&NodeInfo> {
        self.index_of(id).map(|i| &self.nodes[i])
    }

    fn index_of(&self, id: &NodeId) -> Option<usize> {
        self.nodes.binary_search_by(|n| n.id().cmp(id)).ok()
    }

    fn ports_of(&self, service: &ServiceId) -> Vec<HostPort> {
        self.host_ports.get(service).cloned().unwrap_or_default()
    }

    /// Places one pending task. On [`Decision::Assign`] the task is added to the chosen node's
    /// accounting, so the next call sees it.
    pub fn schedule_task(&mut self, task: &Task) -> Decision {
        let task_id = task.id.clone();
        let req = match Requirements::of_task(task, self.ports_of(&task.service_id)) {
            Ok(req) => req,
            Err(e) => {
                return Decision::NoSuitableNode {
                    task_id,
                    reason: format!("no suitable node ({e})"),
                };
            }
        };
        let mut failures = Failures::default();
        let chosen = match &task.node_id {
            Some(node_id) => {
                let Some(i) = self.index_of(node_id) else {
                    return Decision::NoSuitableNode {
                        task_id,
                        reason: format!("no suitable node (node {node_id} is not in the swarm)"),
                    };
                };
                match req.first_failure(&self.nodes[i]) {
                    None => Some(i),
                    Some(filter) => {
                        failures.record(filter);
                        None
                    }
                }
            }
            None => {
                let mut candidates = Vec::new();
                for (i, info) in self.nodes.iter().enumerate() {
                    match req.first_failure(info) {
                        None => candidates.push(i),
                        Some(filter) => failures.record(filter),
                    }
                }
                spread::pick(
                    &self.nodes,
                    &candidates,
                    &req.service_id,
                    &task.spec.placement.preferences,
                )
            }
        };
        match chosen {
            Some(i) => {
                let active = task.desired_state <= TaskState::Running;
                let node = &mut self.nodes[i];
                node.add_task(&req.service_id, &req.resources, &req.host_ports, active);
                Decision::Assign {
                    task_id,
                    node_id: node.id().clone(),
                }
            }
            None => Decision::NoSuitableNode {
                task_id,
                reason: failures.no_suitable_node(),
            },
        }
    }

    /// Places pending tasks in the given order, one decision per task in the same order.
    pub fn schedule_batch(&mut self, pending: &[&Task]) -> Vec<Decision> {
        pending.iter().map(|t| self.schedule_task(t)).collect()
    }
}

/// Places `pending` tasks on `nodes`, given every task already known (`tasks`) and the
/// `services` (for their host-mode ports). One decision per pending task, in order.
pub fn schedule(
    nodes: &[Node],
    tasks: &[Task],
    services: &[Service],
    pending: &[&Task],
) -> Vec<Decision> {
    Scheduler::new(nodes, tasks, services).schedule_batch(pending)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{GIB, node, running_on, service_with_host_port, task};
    use flotilla_model::{Availability, NodeState};

    fn assigned(d: &[Decision]) -> Vec<(&str, &str)> {
        d.iter()
            .filter_map(|d| match d {
                Decision::Assign { task_id, node_id } => Some((task_id.as_str(), node_id.as_str())),
                Decision::NoSuitableNode { .. } => None,
            })
            .collect()
    }

    fn reason(d: &Decision) -> &str {
        match d {
            Decision::NoSuitableNode { reason, .. } => reason.as_str(),
            Decision::Assign { .. } => panic!("expected no suitable node, got {d:?}"),
        }
    }

    fn tasks(service: &str, n: usize) -> Vec<Task> {
        (1..=n).map(|i| task(&format!("t{i}"), service)).collect()
    }

    fn refs(ts: &[Task]) -> Vec<&Task> {
        ts.iter().collect()
    }

    fn per_node(d: &[Decision]) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for (_, n) in assigned(d) {
            *m.entry(n.to_owned()).or_insert(0) += 1;
        }
        m
    }

    #[test]
    fn only_ready_active_nodes_take_tasks() {
        let mut down = node("n1", "h1");
        down.status.state = NodeState::Down;
        let mut drained = node("n2", "h2");
        drained.spec.availability = Availability::Drain;
        let mut paused = node("n3", "h3");
        paused.spec.availability = Availability::Pause;
        let mut unknown = node("n4", "h4");
        unknown.status.state = NodeState::Unknown;
        let ready = node("n5", "h5");
        let ts = tasks("s", 3);
        let d = schedule(
            &[
                down.clone(),
                drained.clone(),
                paused.clone(),
                unknown.clone(),
                ready,
            ],
            &[],
            &[],
            &refs(&ts),
        );
        assert_eq!(assigned(&d), vec![("t1", "n5"), ("t2", "n5"), ("t3", "n5")]);

        let d = schedule(&[down, drained, paused, unknown], &[], &[], &refs(&ts[..1]));
        assert_eq!(
            reason(&d[0]),
            "no suitable node (4 nodes not available for new tasks)"
        );
    }

    #[test]
    fn no_nodes_at_all() {
        let ts = tasks("s", 1);
        let d = schedule(&[], &[], &[], &refs(&ts));
        assert_eq!(reason(&d[0]), "no suitable node");
    }

    #[test]
    fn resources_are_accounted_across_a_batch() {
        let mut a = node("a", "a");
        let mut b = node("b", "b");
        a.description.memory_bytes = 2 * GIB;
        b.description.memory_bytes = 2 * GIB;
        let mut ts = tasks("s", 5);
        for t in &mut ts {
            t.spec.resources.reserve_memory_bytes = GIB;
        }
        let d = schedule(&[b, a], &[], &[], &refs(&ts));
        // Spread first (a, b), then ties by id (a), then the last room on b.
        assert_eq!(
            assigned(&d),
            vec![("t1", "a"), ("t2", "b"), ("t3", "a"), ("t4", "b")]
        );
        assert_eq!(
            reason(&d[4]),
            "no suitable node (insufficient resources on 2 nodes)"
        );
    }

    #[test]
    fn existing_tasks_hold_resources_and_count() {
        let mut a = node("a", "a");
        a.description.memory_bytes = 2 * GIB;
        let b = node("b", "b");
        let mut existing = running_on("old", "s", "a");
        existing.spec.resources.reserve_memory_bytes = 2 * GIB;
        let mut gone = running_on("gone", "s", "b");
        gone.status.state = TaskState::Failed;
        let mut ts = tasks("s", 1);
        ts[0].spec.resources.reserve_memory_bytes = GIB;
        let s = Scheduler::new(&[a.clone(), b.clone()], &[existing.clone(), gone], &[]);
        let info = s.node(&"a".into()).expect("node a");
        assert_eq!(info.available_memory_bytes(), 0);
        assert_eq!(info.active_tasks_of(&"s".into()), 1);
        assert_eq!(s.node(&"b".into()).expect("node b").active_tasks(), 0);
        let d = schedule(&[a, b], &[existing], &[], &refs(&ts));
        assert_eq!(assigned(&d), vec![("t1", "b")]);
    }

    #[test]
    fn shutting_down_tasks_hold_resources_but_do_not_count() {
        let mut a = node("a", "a");
        a.description.memory_bytes = 2 * GIB;
        let b = node("b", "b");
        let mut stopping = running_on("old", "s", "a");
        stopping.desired_state = TaskState::Shutdown;
        stopping.spec.resources.reserve_memory_bytes = GIB;
        let s = Scheduler::new(&[a, b], &[stopping], &[]);
        let info = s.node(&"a".into()).expect("node a");
        assert_eq!(info.available_memory_bytes(), GIB);
        assert_eq!(info.active_tasks(), 0);
    }

    #[test]
    fn constraints_choose_nodes() {
        let mut a = node("a", "alpha");
        a.spec.labels.insert("zone".into(), "East".into());
        let mut b = node("b", "beta");
        b.spec.role = flotilla_model::NodeRole::Manager;
        b.spec.labels.insert("zone".into(), "west".into());
        let c = node("c", "gamma");
        let nodes = [a, b, c];
        let cases: &[(&[&str], &[&str])] = &[
            (&["node.id==b"], &["b"]),
            (&["node.id!=b"], &["a", "c"]),
            (&["node.hostname==GAMMA"], &["c"]),
            (&["node.hostname!=alpha"], &["b", "c"]),
            (&["node.role==manager"], &["b"]),
            (&["node.role!=manager"], &["a", "c"]),
            (&["node.labels.zone==east"], &["a"]),
            (&["node.labels.zone!=east"], &["b", "c"]),
            (&["node.labels.zone!=east", "node.role==worker"], &["c"]),
        ];
        for (constraints, want) in cases {
            let mut ts = tasks("s", 3);
            for t in &mut ts {
                t.spec.placement.constraints =
                    constraints.iter().map(|c| (*c).to_owned()).collect();
            }
            let d = schedule(&nodes, &[], &[], &refs(&ts));
            let got: Vec<String> = per_node(&d).into_keys().collect();
            assert_eq!(got, *want, "{constraints:?}");
            assert_eq!(assigned(&d).len(), 3, "{constraints:?}");
        }

        let mut ts = tasks("s", 1);
        ts[0].spec.placement.constraints = vec!["node.labels.zone==north".into()];
        let d = schedule(&nodes, &[], &[], &refs(&ts));
        assert_eq!(
            reason(&d[0]),
            "no suitable node (scheduling constraints not satisfied on 3 nodes)"
        );
    }

    #[test]
    fn invalid_constraint_is_reported() {
        let mut ts = tasks("s", 1);
        ts[0].spec.placement.constraints = vec!["node.colour==red".into()];
        let d = schedule(&[node("a", "a")], &[], &[], &refs(&ts));
        let r = reason(&d[0]);
        assert!(
            r.starts_with("no suitable node (placement constraint"),
            "{r}"
        );
        assert!(r.contains("node.colour"), "{r}");
    }

    #[test]
    fn mixed_reasons_most_frequent_first() {
        let mut down = node("d", "d");
        down.status.state = NodeState::Down;
        let mut small1 = node("s1", "s1");
        small1.description.memory_bytes = GIB / 2;
        let mut small2 = node("s2", "s2");
        small2.description.memory_bytes = GIB / 2;
        let mut other = node("o", "o");
        other.spec.labels.insert("zone".into(), "x".into());
        let mut ts = tasks("s", 1);
        ts[0].spec.resources.reserve_memory_bytes = GIB;
        ts[0].spec.placement.constraints = vec!["node.labels.zone!=x".into()];
        let d = schedule(&[down, small1, small2, other], &[], &[], &refs(&ts));
        assert_eq!(
            reason(&d[0]),
            "no suitable node (insufficient resources on 2 nodes; \
             1 node not available for new tasks; scheduling constraints not satisfied on 1 node)"
        );
    }

    #[test]
    fn max_replicas_per_node() {
        let nodes = [node("a", "a"), node("b", "b")];
        let mut ts = tasks("s", 5);
        for t in &mut ts {
            t.spec.placement.max_replicas_per_node = 2;
        }
        let existing = running_on("old", "s", "a");
        let other_service = running_on("x", "other", "b");
        let d = schedule(&nodes, &[existing, other_service], &[], &refs(&ts));
        // a already has one: b, then a (1-1 tie on the service, fewer tasks overall), then b.
        assert_eq!(assigned(&d), vec![("t1", "b"), ("t2", "a"), ("t3", "b")]);
        assert_eq!(
            reason(&d[3]),
            "no suitable node (max replicas per node limit exceed)"
        );
        assert_eq!(
            reason(&d[4]),
            "no suitable node (max replicas per node limit exceed)"
        );
    }

    #[test]
    fn host_ports_are_exclusive_per_node() {
        let nodes = [node("a", "a"), node("b", "b"), node("c", "c")];
        let services = [
            service_with_host_port("web", 8080),
            service_with_host_port("api", 8080),
        ];
        // An existing task of another service already binds 8080 on c.
        let existing = running_on("old", "api", "c");
        let ts = tasks("web", 3);
        let d = schedule(&nodes, &[existing], &services, &refs(&ts));
        assert_eq!(assigned(&d), vec![("t1", "a"), ("t2", "b")]);
        assert_eq!(
            reason(&d[2]),
            "no suitable node (host-mode port already in use on 3 nodes)"
        );
        // A service without host ports is not limited.
        let ts = tasks("plain", 3);
        let d = schedule(&nodes, &[], &services, &refs(&ts));
        assert_eq!(assigned(&d).len(), 3);
    }

    #[test]
    fn spread_over_zones() {
        let mut nodes = Vec::new();
        for (id, zone) in [("n1", "a"), ("n2", "a"), ("n3", "b")] {
            let mut n = node(id, id);
            n.spec.labels.insert("zone".into(), zone.into());
            nodes.push(n);
        }
        let mut ts = tasks("s", 6);
        for t in &mut ts {
            t.spec.placement.preferences = vec!["node.labels.zone".into()];
        }
        let d = schedule(&nodes, &[], &[], &refs(&ts));
        let counts = per_node(&d);
        assert_eq!(counts.get("n3"), Some(&3), "{counts:?}");
        assert_eq!(
            counts.get("n1").copied().unwrap_or(0) + counts.get("n2").copied().unwrap_or(0),
            3
        );
        assert!(counts.get("n1").is_some_and(|&c| c >= 1));
        assert!(counts.get("n2").is_some_and(|&c| c >= 1));

        // Without the preference the three nodes get two each.
        for t in &mut ts {
            t.spec.placement.preferences.clear();
        }
        let d = schedule(&nodes, &[], &[], &refs(&ts));
        assert!(per_node(&d).values().all(|&c| c == 2));
    }

    #[test]
    fn spread_counts_existing_tasks_and_unlabelled_nodes() {
        let mut a = node("a", "a");
        a.spec.labels.insert("zone".into(), "z1".into());
        let mut b = node("b", "b");
        b.spec.labels.insert("zone".into(), "z2".into());
        let c = node("c", "c");
        let existing = [running_on("o1", "s", "a"), running_on("o2", "s", "a")];
        let mut ts = tasks("s", 4);
        for t in &mut ts {
            t.spec.placement.preferences = vec!["node.labels.zone".into()];
        }
        let d = schedule(&[a, b, c], &existing, &[], &refs(&ts));
        // Groups: no label {c}: 0, z1 {a}: 2, z2 {b}: 0.
        assert_eq!(
            assigned(&d),
            vec![("t1", "c"), ("t2", "b"), ("t3", "c"), ("t4", "b")]
        );
    }

    #[test]
    fn preassigned_tasks_check_their_node_only() {
        let mut a = node("a", "a");
        a.description.memory_bytes = GIB;
        let b = node("b", "b");
        let mut t1 = task("t1", "g");
        t1.node_id = Some("a".into());
        t1.spec.resources.reserve_memory_bytes = GIB;
        let mut t2 = t1.clone();
        t2.id = "t2".into();
        let mut t3 = task("t3", "g");
        t3.node_id = Some("zz".into());
        let d = schedule(&[a, b], &[], &[], &[&t1, &t2, &t3]);
        assert_eq!(assigned(&d), vec![("t1", "a")]);
        assert_eq!(
            reason(&d[1]),
            "no suitable node (insufficient resources on 1 node)"
        );
        assert!(reason(&d[2]).contains("zz"));
    }

    #[test]
    fn deterministic_whatever_the_input_order() {
        let mut nodes: Vec<Node> = (0..5).map(|i| node(&format!("n{i}"), "h")).collect();
        let ts = tasks("s", 7);
        let first = schedule(&nodes, &[], &[], &refs(&ts));
        nodes.reverse();
        let second = schedule(&nodes, &[], &[], &refs(&ts));
        assert_eq!(first, second);
        assert_eq!(
            assigned(&first).iter().map(|(_, n)| *n).collect::<Vec<_>>(),
            vec!["n0", "n1", "n2", "n3", "n4", "n0", "n1"]
        );
        // Duplicate nodes are counted once.
        let mut doubled = nodes.clone();
        doubled.extend(nodes.iter().cloned());
        assert_eq!(schedule(&doubled, &[], &[], &refs(&ts)), first);
    }

    #[test]
    fn decision_accessors() {
        let d = Decision::Assign {
            task_id: "t".into(),
            node_id: "n".into(),
        };
        assert_eq!(d.task_id().as_str(), "t");
        assert_eq!(d.node_id().map(NodeId::as_str), Some("n"));
        let d = Decision::NoSuitableNode {
            task_id: "t".into(),
            reason: "r".into(),
        };
        assert_eq!(d.node_id(), None);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn arb_node() -> impl Strategy<Value = (u8, u8, u8, u8)> {
            // (memory in GiB 0..4, state selector, availability selector, zone selector)
            (0u8..4, 0u8..4, 0u8..3, 0u8..3)
        }

        fn build(specs: &[(u8, u8, u8, u8)]) -> Vec<Node> {
            specs
                .iter()
                .enumerate()
                .map(|(i, &(mem, state, avail, zone))| {
                    let mut n = node(&format!("n{i}"), "h");
                    n.description.memory_bytes = u64::from(mem) * GIB;
                    n.status.state = [
                        NodeState::Ready,
                        NodeState::Ready,
                        NodeState::Down,
                        NodeState::Unknown,
                    ][usize::from(state)];
                    n.spec.availability = [
                        Availability::Active,
                        Availability::Pause,
                        Availability::Drain,
                    ][usize::from(avail)];
                    if zone > 0 {
                        n.spec.labels.insert("zone".into(), format!("z{zone}"));
                    }
                    n
                })
                .collect()
        }

        proptest! {
            /// Assignments only go to ready, active nodes, never overcommit memory or break
            /// max replicas, and do not depend on the order nodes are given in.
            #[test]
            fn assignments_respect_filters(
                specs in proptest::collection::vec(arb_node(), 0..6),
                reservations in proptest::collection::vec(0u64..3, 0..12),
                max_per_node in 0u64..3,
                spread in any::<bool>(),
            ) {
                let nodes = build(&specs);
                let ts: Vec<Task> = reservations
                    .iter()
                    .enumerate()
                    .map(|(i, &r)| {
                        let mut t = task(&format!("t{i}"), "s");
                        t.spec.resources.reserve_memory_bytes = r * GIB / 2;
                        t.spec.placement.max_replicas_per_node = max_per_node;
                        if spread {
                            t.spec.placement.preferences = vec!["node.labels.zone".into()];
                        }
                        t
                    })
                    .collect();
                let d = schedule(&nodes, &[], &[], &refs(&ts));
                prop_assert_eq!(d.len(), ts.len());
                let mut used: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
                for (decision, t) in d.iter().zip(&ts) {
                    prop_assert_eq!(decision.task_id(), &t.id);
                    if let Decision::Assign { node_id, .. } = decision {
                        let n = nodes.iter().find(|n| &n.id == node_id).expect("known node");
                        prop_assert!(crate::filter::is_ready(n));
                        let entry = used.entry(n.id.as_str()).or_insert((0, 0));
                        entry.0 += t.spec.resources.reserve_memory_bytes;
                        entry.1 += 1;
                        prop_assert!(entry.0 <= n.description.memory_bytes);
                        prop_assert!(max_per_node == 0 || entry.1 <= max_per_node);
                    }
                }
                let mut reversed = nodes.clone();
                reversed.reverse();
                prop_assert_eq!(schedule(&reversed, &[], &[], &refs(&ts)), d);
            }
        }
    }
}
