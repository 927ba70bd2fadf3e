//! The scheduler side of a pass: places every pending task and writes the decisions as one
//! transaction.
//!
//! Pending tasks (observed PENDING, desired at most RUNNING) are placed in the order they were
//! created (then by slot, then id) against the accounting of every task that holds resources. An
//! assigned task gets its node and moves to ASSIGNED with its error cleared; a task no node can
//! take stays PENDING with the scheduler's explanation as its error, written only when the
//! explanation changed, so an unschedulable task costs no writes pass after pass.

use flotilla_model::{Kind, Node, Object, PublishMode, Service, Task, TaskState, Timestamp};
use flotilla_scheduler::{Decision, Scheduler};
use flotilla_state::{ReadTx, Store, StoreError, Tables};

/// Status message of a task the scheduler placed.
pub(crate) const ASSIGNED_MESSAGE: &str = "scheduler assigned task to node";

/// What one scheduler pass decided.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Decisions {
    /// Tasks to write, each carrying the version it was read at.
    pub(crate) writes: Vec<Task>,
    /// Pending tasks considered.
    pub(crate) pending: usize,
    /// Tasks given a node.
    pub(crate) assigned: usize,
    /// Tasks no node can take now.
    pub(crate) unplaced: usize,
}

/// Whether the scheduler should place `t`.
fn is_pending(t: &Task) -> bool {
    t.status.state == TaskState::Pending && t.desired_state <= TaskState::Running
}

/// Whether the service publishes ports in host mode (which the scheduler must account for).
fn publishes_host_ports(s: &Service) -> bool {
    s.spec
        .endpoint_spec
        .ports
        .iter()
        .any(|p| p.publish_mode == PublishMode::Host)
}

/// Places every pending task of the view at `now`.
pub(crate) fn decide(t: &Tables, now: Timestamp) -> Decisions {
    let all_tasks = || Tables::list(t, Kind::Task).filter_map(Object::as_task);
    let mut pending: Vec<&Task> = all_tasks().filter(|task| is_pending(task)).collect();
    if pending.is_empty() {
        return Decisions::default();
    }
    pending.sort_by(|a, b| {
        (a.meta.created_at, a.slot, &a.id).cmp(&(b.meta.created_at, b.slot, &b.id))
    });
    let nodes: Vec<Node> = t.nodes().into_iter().cloned().collect();
    let services: Vec<Service> = t
        .services()
        .into_iter()
        .filter(|s| publishes_host_ports(s))
        .cloned()
        .collect();
    let mut scheduler = Scheduler::new(&nodes, &[], &services);
    for task in all_tasks() {
        scheduler.add_task(task);
    }
    let decisions = scheduler.schedule_batch(&pending);
    let mut out = Decisions {
        pending: pending.len(),
        ..Decisions::default()
    };
    for (task, decision) in pending.into_iter().zip(decisions) {
        match decision {
            Decision::Assign { node_id, .. } => {
                let mut next = task.clone();
                next.node_id = Some(node_id);
                if let Err(e) = next.advance(TaskState::Assigned, now, ASSIGNED_MESSAGE) {
                    tracing::debug!(task_id = %task.id, error = %e, "cannot assign a task");
                    continue;
                }
                next.status.err.clear();
                out.assigned += 1;
                out.writes.push(next);
            }
            Decision::NoSuitableNode { reason, .. } => {
                out.unplaced += 1;
                if task.status.err != reason {
                    let mut next = task.clone();
                    next.status.err = reason;
                    out.writes.push(next);
                }
            }
        }
    }
    out
}

/// Writes the decisions in one transaction. A task that changed since it was read is skipped
/// (the commit that changed it brings another pass); returns how many were skipped.
pub(crate) async fn commit<S: Store>(store: &S, writes: Vec<Task>) -> Result<usize, StoreError> {
    let (stale, _version) = store
        .update(move |tx| {
            let mut stale = 0usize;
            for task in writes {
                let current = tx.task(task.id.as_str()).map(|c| c.meta.version);
                if current != Some(task.meta.version) {
                    stale += 1;
                    continue;
                }
                tx.update(task)?;
            }
            Ok(stale)
        })
        .await?;
    Ok(stale)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{GIB, node, task};
    use flotilla_model::{NodeId, Version};

    fn tables(objects: Vec<Object>) -> Tables {
        Tables::from_objects(Version(1), objects)
    }

    fn at(t: &mut Task, created: u64, slot: u64) {
        t.meta.created_at = Timestamp(created);
        t.slot = slot;
    }

    #[test]
    fn pending_tasks_are_assigned_oldest_first() {
        // One node with room for exactly one task: the oldest one gets it.
        let mut small = node("n1");
        small.description.memory_bytes = GIB;
        let mut old = task("t-b", "s1");
        at(&mut old, 10, 2);
        old.spec.resources.reserve_memory_bytes = GIB;
        let mut young = task("t-a", "s1");
        at(&mut young, 20, 1);
        young.spec.resources.reserve_memory_bytes = GIB;
        let mut not_wanted = task("t-c", "s1");
        not_wanted.desired_state = TaskState::Shutdown;
        let t = tables(vec![
            small.into(),
            old.into(),
            young.into(),
            not_wanted.into(),
        ]);
        let d = decide(&t, Timestamp(99));
        assert_eq!((d.pending, d.assigned, d.unplaced), (2, 1, 1));
        let assigned = &d.writes[0];
        assert_eq!(assigned.id.as_str(), "t-b");
        assert_eq!(assigned.node_id, Some(NodeId::from("n1")));
        assert_eq!(assigned.status.state, TaskState::Assigned);
        assert_eq!(assigned.status.message, ASSIGNED_MESSAGE);
        assert_eq!(assigned.status.timestamp, Timestamp(99));
        let refused = &d.writes[1];
        assert_eq!(refused.id.as_str(), "t-a");
        assert_eq!(refused.status.state, TaskState::Pending);
        assert!(
            refused.status.err.contains("no suitable node"),
            "{}",
            refused.status.err
        );
    }

    #[test]
    fn an_unchanged_explanation_is_not_rewritten() {
        let mut t1 = task("t1", "s1");
        t1.spec.resources.reserve_memory_bytes = 1024 * GIB;
        let first = decide(
            &tables(vec![node("n1").into(), t1.clone().into()]),
            Timestamp(1),
        );
        assert_eq!(first.writes.len(), 1);
        t1.status.err = first.writes[0].status.err.clone();
        let again = decide(&tables(vec![node("n1").into(), t1.into()]), Timestamp(2));
        assert_eq!((again.unplaced, again.writes.len()), (1, 0));
    }

    #[test]
    fn nothing_pending_decides_nothing() {
        let mut running = task("t1", "s1");
        running.status.state = TaskState::Running;
        running.node_id = Some("n1".into());
        let d = decide(
            &tables(vec![node("n1").into(), running.into()]),
            Timestamp(1),
        );
        assert_eq!(d, Decisions::default());
    }
}
