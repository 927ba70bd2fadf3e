//! Global services: one task on every eligible node.
//!
//! Tasks are grouped by node (slot 0). For each node, as SwarmKit's global orchestrator does:
//!
//! - **Serving** (up — ready, unknown or disconnected —, active, and eligible for the current
//!   task template by the caller's eligibility function): it keeps one live task. A task that
//!   ended is shut down and replaced on the same node if its restart policy allows; with no live
//!   task and no resting one, a new task is created already bound to the node (PENDING, desired
//!   RUNNING).
//! - **Paused**: live tasks keep running; one that ended is shut down and not replaced; no new
//!   task, no update.
//! - **Evicted** (down, drained, removed from the cluster, or no longer eligible): every live
//!   task is shut down. When the node serves again it gets a new task.
//!
//! It returns the nodes the rolling updater may work on: the serving ones.

use crate::restart;
use crate::work::{GroupBy, Key, NodeFit, Work, has_ended, is_live, node_fit};
use flotilla_model::{Node, Service, TaskSpec, TaskState};
use std::collections::BTreeSet;

/// How a node stands for a global service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stand {
    /// Runs a task.
    Serving,
    /// Keeps what runs, nothing more.
    Paused,
    /// Runs nothing.
    Evicted,
}

/// How the node `node` (by id, `None` if unknown) stands for tasks of `spec`.
pub(crate) fn stand(
    node: Option<&Node>,
    spec: &TaskSpec,
    eligible: &dyn Fn(&Node, &TaskSpec) -> bool,
) -> Stand {
    let fits = node.is_some_and(|n| eligible(n, spec));
    match node_fit(node) {
        NodeFit::Active if fits => Stand::Serving,
        NodeFit::Paused if fits => Stand::Paused,
        _ => Stand::Evicted,
    }
}

/// Reconciles a global service's tasks with the nodes; returns the serving nodes' keys.
pub(crate) fn reconcile(
    w: &mut Work<'_, '_>,
    svc: &Service,
    eligible: &dyn Fn(&Node, &TaskSpec) -> bool,
) -> BTreeSet<Key> {
    let mut groups = w.groups(GroupBy::Node);
    for n in w.all_nodes() {
        groups.entry(Key::Node(Some(n.id.clone()))).or_default();
    }
    let tpl = &svc.spec.task_template;
    let mut serving = BTreeSet::new();
    for (key, group) in groups {
        let node = match &key {
            Key::Node(Some(id)) => w.node(id),
            _ => None,
        };
        let live: Vec<usize> = group
            .iter()
            .copied()
            .filter(|&i| is_live(&w.tasks[i]))
            .collect();
        match stand(node, tpl, eligible) {
            Stand::Evicted => {
                for i in live {
                    w.set_desired(i, TaskState::Shutdown);
                }
            }
            Stand::Paused => {
                for i in live {
                    if has_ended(&w.tasks[i]) {
                        w.set_desired(i, TaskState::Shutdown);
                    }
                }
            }
            Stand::Serving => {
                serving.insert(key.clone());
                let occupant = live.last().copied();
                for &i in &live {
                    if Some(i) != occupant && has_ended(&w.tasks[i]) {
                        w.set_desired(i, TaskState::Shutdown);
                    }
                }
                match occupant {
                    Some(o) if has_ended(&w.tasks[o]) => {
                        w.set_desired(o, TaskState::Shutdown);
                        if restart::should_restart(w, o, &group, false) {
                            restart::replace(w, svc, &key, &group);
                        }
                    }
                    Some(_) => {}
                    None => {
                        let rests = group
                            .last()
                            .is_some_and(|&newest| restart::rests(w, newest, &group, false));
                        if !rests {
                            w.create(svc, &key, TaskState::Running);
                        }
                    }
                }
            }
        }
    }
    serving
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{SEC, node, service, task};
    use flotilla_model::{Availability, NodeState, ServiceMode, TaskId, Timestamp};

    fn on(id: &str, node: &str, state: TaskState) -> flotilla_model::Task {
        let mut t = task(id, 0, 1, state);
        t.node_id = Some(node.into());
        t
    }

    fn run(tasks: Vec<flotilla_model::Task>, nodes: &[Node]) -> crate::Plan {
        let mut svc = service("agent", 0);
        svc.spec.mode = ServiceMode::Global;
        let mut n = 0;
        let mut next = move || {
            n += 1;
            TaskId::from(format!("new{n}"))
        };
        let mut w = Work::new(tasks, nodes, Timestamp(100 * SEC), &mut next);
        let everywhere = |_: &Node, _: &TaskSpec| true;
        reconcile(&mut w, &svc, &everywhere);
        w.into_plan(None)
    }

    #[test]
    fn one_task_per_serving_node_bound_to_it() {
        let mut paused = node("n3");
        paused.spec.availability = Availability::Pause;
        let plan = run(
            vec![on("a", "n1", TaskState::Running)],
            &[node("n1"), node("n2"), paused],
        );
        assert_eq!(plan.create.len(), 1);
        let t = &plan.create[0];
        assert_eq!(t.node_id.as_ref().map(|n| n.as_str()), Some("n2"));
        assert_eq!(t.slot, 0);
        assert_eq!(t.status.state, TaskState::Pending);
        assert_eq!(t.desired_state, TaskState::Running);
        assert!(plan.update.is_empty());
    }

    #[test]
    fn drained_down_and_removed_nodes_lose_their_tasks() {
        let mut drained = node("n2");
        drained.spec.availability = Availability::Drain;
        let mut down = node("n3");
        down.status.state = NodeState::Down;
        let plan = run(
            vec![
                on("a", "n1", TaskState::Running),
                on("b", "n2", TaskState::Running),
                on("c", "n3", TaskState::Running),
                on("d", "gone", TaskState::Running),
            ],
            &[node("n1"), drained, down],
        );
        assert!(plan.create.is_empty());
        let shut: Vec<&str> = plan.update.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(shut, vec!["b", "c", "d"]);
        assert!(
            plan.update
                .iter()
                .all(|t| t.desired_state == TaskState::Shutdown)
        );
    }

    #[test]
    fn ineligible_nodes_get_nothing() {
        let mut svc = service("agent", 0);
        svc.spec.mode = ServiceMode::Global;
        let nodes = [node("n1"), node("n2")];
        let mut n = 0;
        let mut next = move || {
            n += 1;
            TaskId::from(format!("new{n}"))
        };
        let mut w = Work::new(vec![], &nodes, Timestamp(100 * SEC), &mut next);
        let only_n1 = |n: &Node, _: &TaskSpec| n.id.as_str() == "n1";
        let serving = reconcile(&mut w, &svc, &only_n1);
        assert_eq!(serving.len(), 1);
        let plan = w.into_plan(None);
        assert_eq!(plan.create.len(), 1);
        assert_eq!(
            plan.create[0].node_id.as_ref().map(|n| n.as_str()),
            Some("n1")
        );
    }

    #[test]
    fn a_failed_task_is_restarted_on_its_node() {
        let plan = run(vec![on("a", "n1", TaskState::Failed)], &[node("n1")]);
        assert_eq!(plan.update.len(), 1);
        assert_eq!(plan.update[0].desired_state, TaskState::Shutdown);
        assert_eq!(plan.create.len(), 1);
        assert_eq!(
            plan.create[0].node_id.as_ref().map(|n| n.as_str()),
            Some("n1")
        );
        assert_eq!(
            plan.create[0].desired_state,
            TaskState::Ready,
            "restart delay"
        );
        assert_eq!(plan.wake_at, Some(Timestamp(105 * SEC)));
    }
}
