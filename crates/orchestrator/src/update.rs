//! The rolling updater: replaces out-of-date tasks a few groups (slots, or nodes for global
//! services) at a time, watches the new ones, and pauses, carries on or rolls back on failure.
//!
//! It runs while the service's update status is `updating` (with `update_config`) or
//! `rollback_started` (with `rollback_config`; the rollback's spec is already in `spec`, put
//! there by the control API or by an automatic rollback). A status of `paused` or
//! `rollback_paused` stops it; scaling and restarts go on with the current spec. A finished or
//! absent status with out-of-date tasks starts a new update.
//!
//! Nothing is remembered between passes; the rollout is read back from the tasks:
//!
//! - A group is *dirty* when its newest live task (else its resting task) has a spec other than
//!   the service's task template (`force_update` is part of the spec).
//! - A task of the template created at or after the status's `started_at` is a *rollout task*;
//!   a group with one was *dispatched*, and its first one is the group's *update task* (the one
//!   the updater made; later ones are restarts).
//! - A dispatched group is *busy* — it holds one of the `parallelism` workers — while it has two
//!   live tasks (start-first: the old one waits for the new one to run), while its update task
//!   has not reached RUNNING, and for `delay` after the update task's status timestamp once it
//!   has (RUNNING, or ended). So each worker, like SwarmKit's, waits for its task to come up,
//!   sleeps `delay`, then takes the next dirty group; dirty groups without a running task go
//!   first.
//! - Stop-first: the group's live tasks are shut down and the new task is created with desired
//!   READY; it runs once the old ones stopped (see `restart`). Start-first: the new task is
//!   created with desired RUNNING; the old one is shut down once the new one runs. So with
//!   stop-first at most `parallelism` groups lack a running task because of the update, and with
//!   start-first at most `replicas + parallelism` tasks are live.
//! - A group *failed* when one of its rollout tasks ended by itself (complete, failed, rejected)
//!   or was orphaned, at most once per group, while the rollout runs. (SwarmKit counts only
//!   failures within `monitor` of the task starting to run; the moment a task started running is
//!   not stored, so a failure any time before the rollout completes counts.) When failed groups
//!   over the groups in the rollout (dispatched plus dirty) exceed `max_failure_ratio`, the
//!   failure action applies: `pause` sets `paused` (`rollback_paused`); `rollback` swaps `spec`
//!   and `previous_spec` and starts a rollback now; `continue` does nothing.
//! - The update *completes* when no group is dirty or busy and every update task that runs has
//!   run for `monitor` since its status timestamp.

use crate::restart;
use crate::work::{GroupBy, Key, Work, after, has_ended, is_live};
use flotilla_model::{
    FailureAction, Service, TaskSpec, TaskState, Timestamp, UpdateConfig, UpdateOrder, UpdateState,
    UpdateStatus,
};
use std::collections::BTreeSet;

/// The rollout in progress: its config, whether it is a rollback, and when it started.
fn rolling(svc: &Service) -> Option<(&UpdateConfig, bool, Timestamp)> {
    let status = svc.update_status.as_ref()?;
    match status.state {
        UpdateState::Updating => Some((&svc.spec.update_config, false, status.started_at)),
        UpdateState::RollbackStarted => Some((&svc.spec.rollback_config, true, status.started_at)),
        _ => None,
    }
}

/// One group as the updater sees it.
struct View {
    /// Live tasks, oldest first.
    live: Vec<usize>,
    /// The group's newest task.
    newest: Option<usize>,
    /// Rollout tasks, oldest first.
    rollout: Vec<usize>,
}

impl View {
    fn of(w: &Work<'_, '_>, group: &[usize], tpl: &TaskSpec, started: Timestamp) -> Self {
        let is_rollout = |i: usize| {
            let t = &w.tasks[i];
            t.spec == *tpl && t.meta.created_at >= started
        };
        Self {
            live: group
                .iter()
                .copied()
                .filter(|&i| is_live(&w.tasks[i]))
                .collect(),
            newest: group.last().copied(),
            rollout: group.iter().copied().filter(|&i| is_rollout(i)).collect(),
        }
    }

    /// The task whose spec tells whether the group is up to date.
    fn current(&self) -> Option<usize> {
        self.live.last().copied().or(self.newest)
    }

    fn dirty(&self, w: &Work<'_, '_>, tpl: &TaskSpec) -> bool {
        self.current().is_some_and(|i| w.tasks[i].spec != *tpl)
    }

    fn dispatched(&self) -> bool {
        !self.rollout.is_empty()
    }

    /// The update task: the first rollout task that is live or got to RUNNING or beyond (one
    /// shut down before it ran, e.g. with a lost node, was succeeded by another).
    fn update_task(&self, w: &Work<'_, '_>) -> Option<usize> {
        self.rollout.iter().copied().find(|&i| {
            let t = &w.tasks[i];
            is_live(t) || t.status.state >= TaskState::Running
        })
    }

    /// Whether the group holds a worker, and until when if only for the delay.
    fn busy(&self, w: &Work<'_, '_>, delay: std::time::Duration) -> Option<Option<Timestamp>> {
        let healthy_live = self
            .live
            .iter()
            .filter(|&&i| !has_ended(&w.tasks[i]))
            .count();
        if healthy_live >= 2 {
            return Some(None);
        }
        let u = &w.tasks[self.update_task(w)?];
        if u.status.state < TaskState::Running {
            return is_live(u).then_some(None);
        }
        let free_at = after(u.status.timestamp, delay);
        (w.now < free_at).then_some(Some(free_at))
    }

    /// When the update task's monitor window ends, if it runs.
    fn monitor_end(&self, w: &Work<'_, '_>, monitor: std::time::Duration) -> Option<Timestamp> {
        let u = &w.tasks[self.update_task(w)?];
        (u.status.state == TaskState::Running).then(|| after(u.status.timestamp, monitor))
    }

    /// A rollout task of this group that failed (the latest failure).
    fn failure(&self, w: &Work<'_, '_>) -> Option<usize> {
        self.rollout
            .iter()
            .copied()
            .filter(|&i| {
                matches!(
                    w.tasks[i].status.state,
                    TaskState::Complete
                        | TaskState::Failed
                        | TaskState::Rejected
                        | TaskState::Orphaned
                )
            })
            .max_by_key(|&i| w.tasks[i].status.timestamp)
    }
}

/// Whether a group takes part in the failure count before this pass changed anything: it has a
/// live task or a finished one that was not removed.
fn counted(w: &Work<'_, '_>, v: &View) -> bool {
    !v.live.is_empty()
        || v.newest
            .is_some_and(|i| w.tasks[i].desired_state < TaskState::Remove)
}

/// Looks for failures of the rollout in progress. Returns the service as it must be from now on
/// when the failure action changes it: paused, or rolled back (the rollback starts in this
/// pass, so replacements already use the restored spec).
pub(crate) fn check(w: &Work<'_, '_>, svc: &Service, by: GroupBy) -> Option<Service> {
    let (cfg, is_rollback, started) = rolling(svc)?;
    let tpl = &svc.spec.task_template;
    let mut total = 0usize;
    let mut failed = Vec::new();
    for group in w.groups(by).values() {
        let v = View::of(w, group, tpl, started);
        if v.dispatched() {
            total += 1;
            failed.extend(v.failure(w));
        } else if counted(w, &v) && v.dirty(w, tpl) {
            total += 1;
        }
    }
    if failed.is_empty() || total == 0 {
        return None;
    }
    if failed.len() as f32 / total as f32 <= cfg.max_failure_ratio {
        return None;
    }
    let culprit = failed
        .iter()
        .copied()
        .max_by_key(|&i| (w.tasks[i].status.timestamp, w.tasks[i].id.clone()))
        .map(|i| w.tasks[i].id.to_string())
        .unwrap_or_default();
    let mut next = svc.clone();
    let what = if is_rollback { "rollback" } else { "update" };
    match (cfg.failure_action, &svc.previous_spec) {
        (FailureAction::Continue, _) => return None,
        (FailureAction::Rollback, Some(previous)) if !is_rollback => {
            let failed_spec = std::mem::replace(&mut next.spec, previous.clone());
            next.previous_spec = Some(failed_spec);
            next.update_status = Some(UpdateStatus {
                state: UpdateState::RollbackStarted,
                started_at: w.now,
                completed_at: None,
                message: format!(
                    "update rolled back due to failure or early termination of task {culprit}"
                ),
            });
        }
        (action, _) => {
            let mut message =
                format!("{what} paused due to failure or early termination of task {culprit}");
            if action == FailureAction::Rollback {
                message.push_str("; no previous spec to roll back to");
            }
            next.update_status = Some(UpdateStatus {
                state: if is_rollback {
                    UpdateState::RollbackPaused
                } else {
                    UpdateState::Paused
                },
                started_at: started,
                completed_at: None,
                message,
            });
        }
    }
    Some(next)
}

/// Shuts down the old tasks of start-first replacements once the new task runs: in a group with
/// several live tasks that have not ended, all but the newest go when the newest is RUNNING.
pub(crate) fn retire_replaced(w: &mut Work<'_, '_>, by: GroupBy) {
    for group in w.groups(by).values() {
        let live: Vec<usize> = group
            .iter()
            .copied()
            .filter(|&i| is_live(&w.tasks[i]) && !has_ended(&w.tasks[i]))
            .collect();
        let Some((&newest, older)) = live.split_last() else {
            continue;
        };
        if !older.is_empty() && w.tasks[newest].status.state == TaskState::Running {
            for &i in older {
                w.set_desired(i, TaskState::Shutdown);
            }
        }
    }
}

/// Moves the rollout on over the groups in `scope` (the occupied slots kept, or the serving
/// nodes): completes it, or replaces the next dirty groups as workers free up. Updates `svc`'s
/// update status when it starts or completes.
pub(crate) fn advance(w: &mut Work<'_, '_>, svc: &mut Service, by: GroupBy, scope: &BTreeSet<Key>) {
    let groups = w.groups(by);
    let tpl = svc.spec.task_template.clone();
    let state = svc.update_status.as_ref().map(|s| s.state);
    match state {
        Some(UpdateState::Paused | UpdateState::RollbackPaused) => return,
        Some(UpdateState::Updating | UpdateState::RollbackStarted) => {}
        None | Some(UpdateState::Completed | UpdateState::RollbackCompleted) => {
            let any_dirty = scope.iter().any(|k| {
                groups
                    .get(k)
                    .is_some_and(|g| View::of(w, g, &tpl, w.now).dirty(w, &tpl))
            });
            if !any_dirty {
                return;
            }
            svc.update_status = Some(UpdateStatus {
                state: UpdateState::Updating,
                started_at: w.now,
                completed_at: None,
                message: "update in progress".to_owned(),
            });
        }
    }
    let Some((cfg, is_rollback, started)) = rolling(svc) else {
        return;
    };
    let cfg = *cfg;

    let mut busy = 0usize;
    let mut settled = true;
    let mut pending = Vec::new();
    for key in scope {
        let Some(group) = groups.get(key) else {
            continue;
        };
        let v = View::of(w, group, &tpl, started);
        if v.dispatched() {
            if let Some(until) = v.busy(w, cfg.delay) {
                busy += 1;
                settled = false;
                if let Some(t) = until {
                    w.wake_at(t);
                }
            }
            if let Some(end) = v.monitor_end(w, cfg.monitor)
                && w.now < end
            {
                settled = false;
                w.wake_at(end);
            }
        } else if v.dirty(w, &tpl) {
            let running = v
                .live
                .iter()
                .any(|&i| w.tasks[i].status.state == TaskState::Running);
            pending.push((running, key.clone(), group.clone(), v.live));
        }
    }

    if settled && pending.is_empty() {
        if let Some(status) = svc.update_status.as_mut() {
            status.state = if is_rollback {
                UpdateState::RollbackCompleted
            } else {
                UpdateState::Completed
            };
            status.completed_at = Some(w.now);
            status.message = if is_rollback {
                "rollback completed".to_owned()
            } else {
                "update completed".to_owned()
            };
        }
        return;
    }

    pending.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let room = match usize::try_from(cfg.parallelism) {
        Ok(0) | Err(_) => pending.len(),
        Ok(p) => p.saturating_sub(busy),
    };
    for (_, key, group, live) in pending.into_iter().take(room) {
        dispatch(w, svc, &key, &group, &live, cfg.order);
    }
}

/// Replaces the task(s) of one dirty group with a task of the current template.
fn dispatch(
    w: &mut Work<'_, '_>,
    svc: &Service,
    key: &Key,
    group: &[usize],
    live: &[usize],
    order: UpdateOrder,
) {
    match order {
        UpdateOrder::StartFirst => {
            w.create(svc, key, TaskState::Running);
        }
        UpdateOrder::StopFirst if live.is_empty() => {
            w.create(svc, key, TaskState::Running);
        }
        UpdateOrder::StopFirst => {
            for &i in live {
                w.set_desired(i, TaskState::Shutdown);
            }
            let n = w.create(svc, key, TaskState::Ready);
            let mut with_new = group.to_vec();
            with_new.push(n);
            restart::start_or_wait(w, n, &with_new);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{SEC, node, service, task};
    use flotilla_model::{Task, TaskId};

    fn updating(image: &str, replicas: u64, started: u64) -> Service {
        let mut svc = service("web", replicas);
        svc.previous_spec = Some(svc.spec.clone());
        svc.spec.task_template.container_spec.image = image.into();
        svc.update_status = Some(UpdateStatus {
            state: UpdateState::Updating,
            started_at: Timestamp(started * SEC),
            completed_at: None,
            message: "update in progress".into(),
        });
        svc
    }

    fn running(id: &str, slot: u64) -> Task {
        let mut t = task(id, slot, 1, TaskState::Running);
        t.node_id = Some("n1".into());
        t
    }

    fn pass(svc: &mut Service, tasks: Vec<Task>, now: u64) -> crate::Plan {
        let nodes = [node("n1")];
        let mut n = 0;
        let mut next = move || {
            n += 1;
            TaskId::from(format!("new{n}"))
        };
        let mut w = Work::new(tasks, &nodes, Timestamp(now * SEC), &mut next);
        if let Some(s) = check(&w, svc, GroupBy::Slot) {
            *svc = s;
        }
        let scope: BTreeSet<Key> = w.groups(GroupBy::Slot).into_keys().collect();
        retire_replaced(&mut w, GroupBy::Slot);
        advance(&mut w, svc, GroupBy::Slot, &scope);
        w.into_plan(None)
    }

    #[test]
    fn stop_first_replaces_parallelism_slots() {
        let mut svc = updating("app:2", 3, 10);
        svc.spec.update_config.parallelism = 2;
        let tasks = vec![running("a", 1), running("b", 2), running("c", 3)];
        let plan = pass(&mut svc, tasks, 11);
        assert_eq!(plan.update.len(), 2);
        assert!(
            plan.update
                .iter()
                .all(|t| t.desired_state == TaskState::Shutdown)
        );
        assert_eq!(plan.create.len(), 2);
        for t in &plan.create {
            assert_eq!(t.spec.container_spec.image, "app:2");
            assert_eq!(
                t.desired_state,
                TaskState::Ready,
                "waits for the old task to stop"
            );
        }
    }

    #[test]
    fn start_first_keeps_the_old_task_until_the_new_one_runs() {
        let mut svc = updating("app:2", 1, 10);
        svc.spec.update_config.order = UpdateOrder::StartFirst;
        let plan = pass(&mut svc, vec![running("a", 1)], 11);
        assert!(plan.update.is_empty());
        assert_eq!(plan.create.len(), 1);
        assert_eq!(plan.create[0].desired_state, TaskState::Running);

        let mut new = plan.create[0].clone();
        new.status.state = TaskState::Running;
        new.status.timestamp = Timestamp(12 * SEC);
        let plan = pass(&mut svc, vec![running("a", 1), new], 12);
        assert_eq!(plan.update.len(), 1);
        assert_eq!(plan.update[0].id.as_str(), "a");
        assert_eq!(plan.update[0].desired_state, TaskState::Shutdown);
        assert_eq!(plan.wake_at, Some(Timestamp(17 * SEC)), "monitor window");
    }

    #[test]
    fn completes_after_the_monitor_window() {
        let mut svc = updating("app:2", 1, 10);
        let mut new = running("n", 1);
        new.spec = svc.spec.task_template.clone();
        new.meta.created_at = Timestamp(11 * SEC);
        new.status.timestamp = Timestamp(12 * SEC);
        let plan = pass(&mut svc, vec![new.clone()], 16);
        assert!(plan.is_empty());
        assert_eq!(plan.wake_at, Some(Timestamp(17 * SEC)));
        assert_eq!(
            svc.update_status.as_ref().map(|s| s.state),
            Some(UpdateState::Updating)
        );
        pass(&mut svc, vec![new], 17);
        let status = svc.update_status.as_ref().expect("status");
        assert_eq!(status.state, UpdateState::Completed);
        assert_eq!(status.completed_at, Some(Timestamp(17 * SEC)));
        assert_eq!(status.message, "update completed");
    }

    #[test]
    fn delay_holds_the_worker_after_the_task_runs() {
        let mut svc = updating("app:2", 2, 10);
        svc.spec.update_config.delay = std::time::Duration::from_secs(30);
        let mut new = running("n", 1);
        new.spec = svc.spec.task_template.clone();
        new.meta.created_at = Timestamp(11 * SEC);
        new.status.timestamp = Timestamp(12 * SEC);
        let plan = pass(&mut svc, vec![new.clone(), running("b", 2)], 20);
        assert!(plan.create.is_empty(), "slot 2 waits for the delay");
        assert_eq!(plan.wake_at, Some(Timestamp(42 * SEC)));
        let plan = pass(&mut svc, vec![new, running("b", 2)], 42);
        assert_eq!(plan.create.len(), 1);
        assert_eq!(plan.create[0].slot, 2);
    }

    #[test]
    fn a_failure_pauses_by_default() {
        let mut svc = updating("app:2", 2, 10);
        let mut new = running("n", 1);
        new.spec = svc.spec.task_template.clone();
        new.meta.created_at = Timestamp(11 * SEC);
        new.status.state = TaskState::Failed;
        new.status.timestamp = Timestamp(12 * SEC);
        let plan = pass(&mut svc, vec![new, running("b", 2)], 13);
        let status = svc.update_status.as_ref().expect("status");
        assert_eq!(status.state, UpdateState::Paused);
        assert_eq!(
            status.message,
            "update paused due to failure or early termination of task n"
        );
        assert!(
            plan.create.iter().all(|t| t.slot == 1),
            "slot 2 is not updated while paused"
        );
    }

    #[test]
    fn a_failure_rolls_back_when_asked() {
        let mut svc = updating("app:2", 2, 10);
        svc.spec.update_config.failure_action = FailureAction::Rollback;
        let mut new = running("n", 1);
        new.spec = svc.spec.task_template.clone();
        new.meta.created_at = Timestamp(11 * SEC);
        new.status.state = TaskState::Rejected;
        new.status.timestamp = Timestamp(12 * SEC);
        pass(&mut svc, vec![new, running("b", 2)], 13);
        assert_eq!(svc.spec.task_template.container_spec.image, "busybox");
        assert_eq!(
            svc.previous_spec
                .as_ref()
                .map(|s| s.task_template.container_spec.image.as_str()),
            Some("app:2")
        );
        let status = svc.update_status.as_ref().expect("status");
        assert_eq!(status.state, UpdateState::RollbackStarted);
        assert_eq!(status.started_at, Timestamp(13 * SEC));
    }

    #[test]
    fn a_tolerated_failure_ratio_carries_on() {
        let mut svc = updating("app:2", 4, 10);
        svc.spec.update_config.max_failure_ratio = 0.5;
        let mut new = running("n", 1);
        new.spec = svc.spec.task_template.clone();
        new.meta.created_at = Timestamp(11 * SEC);
        new.status.state = TaskState::Failed;
        new.status.timestamp = Timestamp(12 * SEC);
        let tasks = vec![new, running("b", 2), running("c", 3), running("d", 4)];
        let plan = pass(&mut svc, tasks, 13);
        assert_eq!(
            svc.update_status.as_ref().map(|s| s.state),
            Some(UpdateState::Updating)
        );
        assert_eq!(plan.create.len(), 1, "one failure in four is tolerated");
    }
}
