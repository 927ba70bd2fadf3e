//! The restart supervisor's rules: whether a task that ended (or was lost with its node) is
//! replaced, how restart attempts are counted from the slot's history, and when a replacement
//! created with desired state READY is told to run.
//!
//! Like SwarmKit, a restart never restarts a container in place: the old task's desired state
//! moves to SHUTDOWN and a new task (new id) is created in the same slot, or on the same node for
//! global services, with desired state READY. The agent prepares it and holds it at READY until
//! the orchestrator moves its desired state to RUNNING, which happens once
//!
//! - the restart delay (the *old* task's `restart_policy.delay`) has passed since the new task
//!   was created, when the old task ended by itself or its node went down or away — not when it
//!   was stopped on purpose (a stop-first update) or its node was drained; and
//! - every older task of the group that is being shut down has stopped, its node is down or gone,
//!   or [`OLD_TASK_TIMEOUT`](crate::OLD_TASK_TIMEOUT) has passed since the new task was created.
//!
//! The delay is counted from the replacement's creation (the store's clock, the same for every
//! decision) rather than from the old task's status timestamp, which the worker's clock set.

use crate::OLD_TASK_TIMEOUT;
use crate::work::{GroupBy, Key, NodeFit, Work, after, before, ended_by_itself, has_ended};
use flotilla_model::{RestartCondition, Service, TaskState, Timestamp};

/// Whether the task at `dead` — the occupant of `group` (oldest first), which ended or was lost —
/// gets a replacement.
///
/// A task that did not end by itself (lost with its node, shut down or orphaned without being
/// asked) is always replaced. Otherwise the task's own restart policy decides: `none` never,
/// `on-failure` unless it completed with exit code 0, `any` always; jobs never restart a
/// completed task and treat `any` as `on-failure`. With `max_attempts` set, the restarts already
/// made in this run of the slot (see [`attempts`]) must be fewer.
pub(crate) fn should_restart(w: &Work<'_, '_>, dead: usize, group: &[usize], job: bool) -> bool {
    let t = &w.tasks[dead];
    if !ended_by_itself(t) {
        return true;
    }
    let policy = &t.spec.restart_policy;
    let succeeded = t.status.state == TaskState::Complete && t.status.exit_code.unwrap_or(0) == 0;
    let condition = match policy.condition {
        RestartCondition::Any if job => RestartCondition::OnFailure,
        c => c,
    };
    match condition {
        RestartCondition::None => return false,
        RestartCondition::OnFailure if succeeded => return false,
        _ => {}
    }
    policy.max_attempts == 0 || attempts(w, dead, group) < policy.max_attempts
}

/// Whether `group`'s newest task `newest`, with no live task in the group, *rests*: it ended by
/// itself and may not restart, so the group stays as it is (occupied, not refilled).
pub(crate) fn rests(w: &Work<'_, '_>, newest: usize, group: &[usize], job: bool) -> bool {
    let t = &w.tasks[newest];
    t.desired_state < TaskState::Remove
        && ended_by_itself(t)
        && !should_restart(w, newest, group, job)
}

/// Restarts already made before `dead` ended, counted in `group` (oldest first): the *run* is
/// the tasks from `dead` back to the first of another spec or one removed by scaling (an update
/// starts the count afresh, as SwarmKit's restart history is per spec version); every task of
/// the run but its first is a restart. With a restart `window`, only restarts created within the
/// window before `dead` ended count.
pub(crate) fn attempts(w: &Work<'_, '_>, dead: usize, group: &[usize]) -> u64 {
    let t = &w.tasks[dead];
    let upto = group
        .iter()
        .position(|&i| i == dead)
        .map_or(group.len(), |p| p + 1);
    let run: Vec<usize> = group[..upto]
        .iter()
        .rev()
        .copied()
        .take_while(|&i| {
            let o = &w.tasks[i];
            o.spec == t.spec && o.desired_state != TaskState::Remove
        })
        .collect();
    let window = t.spec.restart_policy.window;
    let since = (!window.is_zero()).then(|| before(t.status.timestamp, window));
    let restarts = run.len().saturating_sub(1);
    run[..restarts]
        .iter()
        .filter(|&&i| since.is_none_or(|s| w.tasks[i].meta.created_at >= s))
        .count() as u64
}

/// When the task at `ready` (desired READY) may be told to run: `None` if now, else a time to
/// look again (the end of the restart delay, or the end of the wait for old tasks to stop).
pub(crate) fn start_gate(w: &Work<'_, '_>, ready: usize, group: &[usize]) -> Option<Timestamp> {
    let r = &w.tasks[ready];
    let pos = group.iter().position(|&i| i == ready)?;
    let older = &group[..pos];
    let mut wait = None;
    if let Some(&p) = older.last()
        && delay_applies(w, p)
    {
        let start = after(r.meta.created_at, w.tasks[p].spec.restart_policy.delay);
        if w.now < start {
            wait = Some(start);
        }
    }
    if older.iter().any(|&i| still_stopping(w, i)) {
        let deadline = after(r.meta.created_at, OLD_TASK_TIMEOUT);
        if w.now < deadline {
            wait = Some(wait.map_or(deadline, |s: Timestamp| s.min(deadline)));
        }
    }
    wait
}

/// The replaced task `p` ended by itself or was lost with its node (and the node was not
/// drained): its replacement waits the restart delay.
fn delay_applies(w: &Work<'_, '_>, p: usize) -> bool {
    let t = &w.tasks[p];
    let by_itself = ended_by_itself(t) || t.status.state == TaskState::Orphaned;
    match w.fit(p) {
        NodeFit::Drained => false,
        NodeFit::Down | NodeFit::Missing => by_itself || !has_ended(t),
        NodeFit::Unassigned | NodeFit::Active | NodeFit::Paused => by_itself,
    }
}

/// The task at `i` is being shut down, may have a container (it reached ASSIGNED), has not
/// stopped yet, and its node can still report that it did.
fn still_stopping(w: &Work<'_, '_>, i: usize) -> bool {
    let t = &w.tasks[i];
    t.desired_state > TaskState::Running
        && !has_ended(t)
        && t.status.state >= TaskState::Assigned
        && matches!(
            w.fit(i),
            NodeFit::Active | NodeFit::Paused | NodeFit::Drained
        )
}

/// Starts the task at `ready`, just created with desired READY in `group` (which lists it last),
/// now if its gate is open, else asks to be woken when it may open.
pub(crate) fn start_or_wait(w: &mut Work<'_, '_>, ready: usize, group: &[usize]) {
    match start_gate(w, ready, group) {
        None => w.set_desired(ready, TaskState::Running),
        Some(at) => w.wake_at(at),
    }
}

/// Tells every stored task waiting at desired READY to run once its gate opens.
pub(crate) fn promote(w: &mut Work<'_, '_>, by: GroupBy) {
    for group in w.groups(by).values() {
        for &i in group {
            let t = &w.tasks[i];
            if w.is_new(i) || t.desired_state != TaskState::Ready || has_ended(t) {
                continue;
            }
            start_or_wait(w, i, group);
        }
    }
}

/// Makes the replacement for the task in `key`'s group that just ended or was lost: desired
/// READY, started at once when nothing holds it. Returns its index.
pub(crate) fn replace(w: &mut Work<'_, '_>, svc: &Service, key: &Key, group: &[usize]) -> usize {
    let n = w.create(svc, key, TaskState::Ready);
    let mut with_new = group.to_vec();
    with_new.push(n);
    start_or_wait(w, n, &with_new);
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{SEC, node, service, task};
    use flotilla_model::{NodeState, RestartPolicy, Task, TaskId};
    use std::time::Duration;

    fn ids() -> impl FnMut() -> TaskId {
        let mut n = 0;
        move || {
            n += 1;
            TaskId::from(format!("new{n}"))
        }
    }

    fn ended(id: &str, created: u64, state: TaskState, at: u64, policy: RestartPolicy) -> Task {
        let mut t = task(id, 1, created, state);
        t.status.timestamp = flotilla_model::Timestamp(at * SEC);
        t.spec.restart_policy = policy;
        t
    }

    #[test]
    fn conditions() {
        let nodes = [node("n1")];
        let mut next = ids();
        let cases = [
            (RestartCondition::Any, TaskState::Complete, false, true),
            (RestartCondition::Any, TaskState::Complete, true, false),
            (RestartCondition::Any, TaskState::Failed, true, true),
            (
                RestartCondition::OnFailure,
                TaskState::Complete,
                false,
                false,
            ),
            (RestartCondition::OnFailure, TaskState::Failed, false, true),
            (
                RestartCondition::OnFailure,
                TaskState::Rejected,
                false,
                true,
            ),
            (RestartCondition::None, TaskState::Failed, false, false),
            // Lost or stopped without being asked: replaced whatever the condition.
            (RestartCondition::None, TaskState::Shutdown, false, true),
            (RestartCondition::None, TaskState::Orphaned, false, true),
        ];
        for (condition, state, job, want) in cases {
            let policy = RestartPolicy {
                condition,
                ..RestartPolicy::default()
            };
            let t = ended("a", 1, state, 2, policy);
            let w = Work::new(
                vec![t],
                &nodes,
                flotilla_model::Timestamp(3 * SEC),
                &mut next,
            );
            assert_eq!(
                should_restart(&w, 0, &[0], job),
                want,
                "{condition:?} {state:?} job={job}"
            );
        }
    }

    #[test]
    fn non_zero_exit_is_a_failure_even_if_complete() {
        let nodes = [node("n1")];
        let mut next = ids();
        let policy = RestartPolicy {
            condition: RestartCondition::OnFailure,
            ..RestartPolicy::default()
        };
        let mut t = ended("a", 1, TaskState::Complete, 2, policy);
        t.status.exit_code = Some(3);
        let w = Work::new(
            vec![t],
            &nodes,
            flotilla_model::Timestamp(3 * SEC),
            &mut next,
        );
        assert!(should_restart(&w, 0, &[0], false));
    }

    #[test]
    fn attempts_are_counted_per_run_and_window() {
        let nodes = [node("n1")];
        let mut next = ids();
        let policy = RestartPolicy {
            max_attempts: 2,
            window: Duration::from_secs(10),
            ..RestartPolicy::default()
        };
        let mut other = ended("x", 1, TaskState::Failed, 2, policy);
        other.spec.container_spec.image = "old".into();
        let tasks = vec![
            other,                                         // another spec: not in the run
            ended("a", 3, TaskState::Failed, 4, policy),   // first of the run
            ended("b", 5, TaskState::Failed, 6, policy),   // restart 1, outside the window
            ended("c", 20, TaskState::Failed, 21, policy), // restart 2
            ended("d", 22, TaskState::Failed, 23, policy), // restart 3
        ];
        let w = Work::new(
            tasks,
            &nodes,
            flotilla_model::Timestamp(30 * SEC),
            &mut next,
        );
        let group = [0, 1, 2, 3, 4];
        // Before d ended at 23 s, restarts c (20 s) and d (22 s) fall in the 10 s window.
        assert_eq!(attempts(&w, 4, &group), 2);
        assert!(!should_restart(&w, 4, &group, false), "two attempts used");
        // Before c ended at 21 s only c itself (and not b at 5 s) is in the window.
        assert_eq!(attempts(&w, 3, &group), 1);
        assert!(should_restart(&w, 3, &group[..4], false));
        // With no live task left, d's slot rests.
        assert!(rests(&w, 4, &group, false));
    }

    #[test]
    fn unbounded_window_counts_the_whole_run() {
        let nodes = [node("n1")];
        let mut next = ids();
        let policy = RestartPolicy {
            max_attempts: 3,
            ..RestartPolicy::default()
        };
        let tasks: Vec<Task> = (0..4)
            .map(|k| {
                ended(
                    &format!("t{k}"),
                    10 * k + 1,
                    TaskState::Failed,
                    10 * k + 2,
                    policy,
                )
            })
            .collect();
        let w = Work::new(
            tasks,
            &nodes,
            flotilla_model::Timestamp(100 * SEC),
            &mut next,
        );
        assert_eq!(attempts(&w, 3, &[0, 1, 2, 3]), 3);
        assert!(!should_restart(&w, 3, &[0, 1, 2, 3], false));
        assert!(should_restart(&w, 2, &[0, 1, 2], false));
    }

    #[test]
    fn replacement_waits_for_the_delay_after_a_failure() {
        let nodes = [node("n1")];
        let mut next = ids();
        let svc = service("web", 1);
        let mut old = ended("a", 1, TaskState::Failed, 9, RestartPolicy::default());
        old.node_id = Some("n1".into());
        old.desired_state = TaskState::Shutdown;
        let mut w = Work::new(
            vec![old],
            &nodes,
            flotilla_model::Timestamp(10 * SEC),
            &mut next,
        );
        let n = replace(&mut w, &svc, &Key::Slot(1), &[0]);
        assert_eq!(w.tasks[n].desired_state, TaskState::Ready);
        let plan = w.into_plan(None);
        assert_eq!(
            plan.wake_at,
            Some(flotilla_model::Timestamp(15 * SEC)),
            "default 5 s delay"
        );
    }

    #[test]
    fn replacement_of_a_stopped_task_starts_at_once_and_waits_for_a_running_one() {
        let svc = service("web", 1);
        let mut old = ended("a", 1, TaskState::Shutdown, 9, RestartPolicy::default());
        old.node_id = Some("n1".into());
        old.desired_state = TaskState::Shutdown;
        let ten = flotilla_model::Timestamp(10 * SEC);
        {
            // Stopped on purpose and already down: nothing holds the replacement.
            let nodes = [node("n1")];
            let mut next = ids();
            let mut w = Work::new(vec![old.clone()], &nodes, ten, &mut next);
            let n = replace(&mut w, &svc, &Key::Slot(1), &[0]);
            assert_eq!(w.tasks[n].desired_state, TaskState::Running);
        }
        old.status.state = TaskState::Running;
        {
            // Still running on a live node: wait for it to stop, at most OLD_TASK_TIMEOUT.
            let nodes = [node("n1")];
            let mut next = ids();
            let mut w = Work::new(vec![old.clone()], &nodes, ten, &mut next);
            let n = replace(&mut w, &svc, &Key::Slot(1), &[0]);
            assert_eq!(w.tasks[n].desired_state, TaskState::Ready);
            assert_eq!(
                w.into_plan(None).wake_at,
                Some(flotilla_model::Timestamp(70 * SEC))
            );
        }
        {
            // Its node is down: it will never report; only the restart delay applies.
            let mut down = node("n1");
            down.status.state = NodeState::Down;
            let nodes = [down];
            let mut next = ids();
            let mut w = Work::new(vec![old], &nodes, ten, &mut next);
            let n = replace(&mut w, &svc, &Key::Slot(1), &[0]);
            assert_eq!(w.tasks[n].desired_state, TaskState::Ready);
            assert_eq!(
                w.into_plan(None).wake_at,
                Some(flotilla_model::Timestamp(15 * SEC))
            );
        }
    }
}
