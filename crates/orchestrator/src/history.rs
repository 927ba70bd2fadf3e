//! The task reaper: which stored tasks are deleted.
//!
//! - A task whose desired state is REMOVE (scaled down, or its service deleted) is deleted once
//!   it stopped, never got as far as ASSIGNED (no container exists), or its node was removed.
//! - Other *finished* tasks — desired state past RUNNING, and stopped or on a removed node — are
//!   history: each group (slot, or node for global services) keeps its newest `history_limit`,
//!   and at least one (a resting slot or a completed job slot is known by its last task) and at
//!   least `max_attempts + 1` when the restart policy limits attempts (they are counted from
//!   the slot's tasks, see `restart`). Older ones are deleted.
//! - When the service is deleted, every task that stopped, never got assigned or lost its node
//!   is deleted, and every other one is told to REMOVE so its agent stops it; it is deleted on a
//!   later pass once it stopped.
//!
//! Tasks this pass created or changed are never deleted in the same pass.

use crate::work::{GroupBy, NodeFit, Work, has_ended};
use flotilla_model::{Service, TaskState};

/// The task at `i` has no container to wait for: stopped, never assigned, or its node is gone.
fn nothing_left(w: &Work<'_, '_>, i: usize) -> bool {
    let t = &w.tasks[i];
    has_ended(t) || t.status.state < TaskState::Assigned || w.fit(i) == NodeFit::Missing
}

/// Deletes removed tasks that stopped and history beyond the limit.
pub(crate) fn retain(w: &mut Work<'_, '_>, by: GroupBy, limit: usize, svc: &Service) {
    let max_attempts = svc.spec.task_template.restart_policy.max_attempts;
    let for_attempts = if max_attempts == 0 {
        0
    } else {
        usize::try_from(max_attempts)
            .unwrap_or(usize::MAX)
            .saturating_add(1)
    };
    let keep = limit.max(1).max(for_attempts);
    for group in w.groups(by).into_values() {
        let mut finished = Vec::new();
        for &i in group.iter().rev() {
            if w.is_new(i) || w.is_changed(i) {
                continue;
            }
            let t = &w.tasks[i];
            if t.desired_state <= TaskState::Running {
                continue;
            }
            if t.desired_state >= TaskState::Remove {
                if nothing_left(w, i) {
                    w.delete(i);
                }
            } else if has_ended(t) || w.fit(i) == NodeFit::Missing {
                finished.push(i);
            }
        }
        for &i in finished.iter().skip(keep) {
            w.delete(i);
        }
    }
}

/// The service is gone: deletes what stopped, tells the rest to REMOVE.
pub(crate) fn remove_all(w: &mut Work<'_, '_>) {
    for i in 0..w.tasks.len() {
        if nothing_left(w, i) {
            w.delete(i);
        } else {
            w.set_desired(i, TaskState::Remove);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{SEC, node, service, task};
    use flotilla_model::{Task, TaskId, Timestamp};

    fn finished(id: &str, slot: u64, created: u64) -> Task {
        let mut t = task(id, slot, created, TaskState::Failed);
        t.node_id = Some("n1".into());
        t.desired_state = TaskState::Shutdown;
        t
    }

    fn deleted(tasks: Vec<Task>, limit: usize, max_attempts: u64) -> Vec<String> {
        let nodes = [node("n1")];
        let mut next = || TaskId::from("unused");
        let mut svc = service("web", 1);
        svc.spec.task_template.restart_policy.max_attempts = max_attempts;
        let mut w = Work::new(tasks, &nodes, Timestamp(100 * SEC), &mut next);
        retain(&mut w, GroupBy::Slot, limit, &svc);
        w.into_plan(None)
            .delete
            .into_iter()
            .map(|id| id.0)
            .collect()
    }

    #[test]
    fn keeps_the_newest_finished_tasks_per_slot() {
        let mut tasks: Vec<Task> = (1..=8).map(|k| finished(&format!("a{k}"), 1, k)).collect();
        tasks.push(finished("b1", 2, 1));
        let mut live = task("a9", 1, 9, TaskState::Running);
        live.node_id = Some("n1".into());
        tasks.push(live);
        assert_eq!(deleted(tasks.clone(), 5, 0), vec!["a3", "a2", "a1"]);
        // Limit 0 still keeps one, so a resting slot stays known.
        assert_eq!(deleted(tasks.clone(), 0, 0).len(), 7);
        // Restart attempts are counted from the slot's tasks: keep enough of them.
        assert!(deleted(tasks, 5, 7).is_empty());
    }

    #[test]
    fn removed_tasks_go_once_stopped() {
        let mut stopped = finished("a", 1, 1);
        stopped.desired_state = TaskState::Remove;
        stopped.status.state = TaskState::Shutdown;
        let mut stopping = finished("b", 2, 1);
        stopping.desired_state = TaskState::Remove;
        stopping.status.state = TaskState::Running;
        let mut never_ran = task("c", 3, 1, TaskState::Pending);
        never_ran.desired_state = TaskState::Remove;
        assert_eq!(
            deleted(vec![stopped, stopping, never_ran], 5, 0),
            vec!["a", "c"]
        );
    }

    #[test]
    fn a_deleted_service_removes_everything() {
        let nodes = [node("n1")];
        let mut next = || TaskId::from("unused");
        let mut running = task("a", 1, 1, TaskState::Running);
        running.node_id = Some("n1".into());
        let mut gone_node = task("b", 2, 1, TaskState::Running);
        gone_node.node_id = Some("gone".into());
        let done = finished("c", 3, 1);
        let mut w = Work::new(
            vec![running, gone_node, done],
            &nodes,
            Timestamp(100 * SEC),
            &mut next,
        );
        remove_all(&mut w);
        let plan = w.into_plan(None);
        let deleted: Vec<&str> = plan.delete.iter().map(|i| i.as_str()).collect();
        assert_eq!(deleted, vec!["b", "c"]);
        assert_eq!(plan.update.len(), 1);
        assert_eq!(plan.update[0].desired_state, TaskState::Remove);
    }
}
