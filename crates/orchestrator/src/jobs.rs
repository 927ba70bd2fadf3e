//! Jobs: services whose tasks run to completion.
//!
//! A job's *run* is its tasks of the current task template: changing the template (or
//! `service update --force`) starts a new run, and live tasks of an earlier run are shut down.
//! Restarts follow the task's restart policy with Docker's job rule: a task that completed is
//! never restarted, and `any` behaves as `on-failure`.
//!
//! - **Replicated job:** slots 1..=`total_completions`, each to be completed once by a task of
//!   the run. A slot is *taken* when a task of the run completed there, runs there, or rests
//!   there (failed and may not restart); at most `max_concurrent` tasks are live at once (0 means
//!   no limit beyond `total_completions`), and free slots are started lowest first.
//! - **Global job:** one task of the run per serving node (see `global`); a node where the run's
//!   task completed or rests gets no other. Nodes that join later get one.
//!
//! Jobs have no rolling update: an update or rollback status is marked completed at once.

use crate::global::{Stand, stand};
use crate::replicated::gone;
use crate::restart;
use crate::work::{GroupBy, Key, Work, has_ended, is_live};
use flotilla_model::{Node, Service, TaskSpec, TaskState, Timestamp, UpdateState};
use std::collections::BTreeSet;

/// Marks an update or rollback of a job completed: its new run starts at once.
pub(crate) fn finish_update(svc: &mut Service, now: Timestamp) {
    if let Some(status) = svc.update_status.as_mut() {
        let (state, message) = match status.state {
            UpdateState::Updating => (UpdateState::Completed, "update completed"),
            UpdateState::RollbackStarted => (UpdateState::RollbackCompleted, "rollback completed"),
            _ => return,
        };
        status.state = state;
        status.completed_at = Some(now);
        status.message = message.to_owned();
    }
}

/// What a group holds of the current run, after its ended tasks were dealt with.
struct RunState {
    /// A task of the run is live in it (running or about to).
    live: bool,
    /// The run is done with it: a task completed, or the last one rests.
    finished: bool,
}

/// Shuts down live tasks of earlier runs and ended tasks of this one, replacing the run's
/// occupant when its restart policy allows (`lost` says whether the occupant's node is gone or
/// down: its task is then lost; `may_replace` whether a replacement may be created here).
fn settle_group(
    w: &mut Work<'_, '_>,
    svc: &Service,
    key: &Key,
    group: &[usize],
    lost: &dyn Fn(&Work<'_, '_>, usize) -> bool,
    may_replace: bool,
) -> RunState {
    let tpl = &svc.spec.task_template;
    let mut run_live = Vec::new();
    for &i in group {
        let t = &w.tasks[i];
        if !is_live(t) {
            continue;
        }
        if t.spec != *tpl {
            w.set_desired(i, TaskState::Shutdown);
        } else {
            run_live.push(i);
        }
    }
    let mut state = RunState {
        live: false,
        finished: false,
    };
    if let Some((&occ, older)) = run_live.split_last() {
        for &i in older {
            if lost(w, i) {
                w.set_desired(i, TaskState::Shutdown);
            }
        }
        if !lost(w, occ) {
            state.live = true;
        } else {
            w.set_desired(occ, TaskState::Shutdown);
            if may_replace && restart::should_restart(w, occ, group, true) {
                restart::replace(w, svc, key, group);
                state.live = true;
            } else {
                state.finished = w.tasks[occ].status.state == TaskState::Complete
                    || restart::rests(w, occ, group, true);
            }
        }
    }
    if !state.live {
        let completed = group.iter().any(|&i| {
            let t = &w.tasks[i];
            t.spec == *tpl && t.status.state == TaskState::Complete
        });
        let rests = group
            .last()
            .is_some_and(|&n| w.tasks[n].spec == *tpl && restart::rests(w, n, group, true));
        state.finished |= completed || rests;
    }
    state
}

/// Reconciles a replicated job.
pub(crate) fn replicated(
    w: &mut Work<'_, '_>,
    svc: &Service,
    max_concurrent: u64,
    total_completions: u64,
) {
    let limit = if max_concurrent == 0 {
        total_completions
    } else {
        max_concurrent.min(total_completions)
    };
    let mut live = 0u64;
    let mut taken = BTreeSet::new();
    for (key, group) in w.groups(GroupBy::Slot) {
        let Key::Slot(slot) = key else { continue };
        if slot == 0 || slot > total_completions {
            for &i in &group {
                if is_live(&w.tasks[i]) {
                    w.set_desired(i, TaskState::Remove);
                }
            }
            continue;
        }
        let s = settle_group(w, svc, &key, &group, &gone, true);
        if s.live {
            live += 1;
        }
        if s.live || s.finished {
            taken.insert(slot);
        }
    }
    let mut room = limit.saturating_sub(live);
    let mut slot = 1;
    while room > 0 && slot <= total_completions {
        if !taken.contains(&slot) {
            w.create(svc, &Key::Slot(slot), TaskState::Running);
            room -= 1;
        }
        slot += 1;
    }
}

/// A global job's task is lost only when it ended: its node's standing is handled per node.
fn ended(w: &Work<'_, '_>, i: usize) -> bool {
    has_ended(&w.tasks[i])
}

/// Reconciles a global job.
pub(crate) fn global(
    w: &mut Work<'_, '_>,
    svc: &Service,
    eligible: &dyn Fn(&Node, &TaskSpec) -> bool,
) {
    let mut groups = w.groups(GroupBy::Node);
    for n in w.all_nodes() {
        groups.entry(Key::Node(Some(n.id.clone()))).or_default();
    }
    for (key, group) in groups {
        let node = match &key {
            Key::Node(Some(id)) => w.node(id),
            _ => None,
        };
        match stand(node, &svc.spec.task_template, eligible) {
            Stand::Evicted => {
                for &i in &group {
                    if is_live(&w.tasks[i]) {
                        w.set_desired(i, TaskState::Shutdown);
                    }
                }
            }
            Stand::Paused => {
                settle_group(w, svc, &key, &group, &ended, false);
            }
            Stand::Serving => {
                let s = settle_group(w, svc, &key, &group, &ended, true);
                if !s.live && !s.finished {
                    w.create(svc, &key, TaskState::Running);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{SEC, node, service, task};
    use flotilla_model::{ServiceMode, Task, TaskId};

    fn job(total: u64, concurrent: u64) -> Service {
        let mut svc = service("batch", 0);
        svc.spec.mode = ServiceMode::ReplicatedJob {
            max_concurrent: concurrent,
            total_completions: total,
        };
        svc
    }

    fn pass(svc: &Service, tasks: Vec<Task>) -> crate::Plan {
        let nodes = [node("n1")];
        let mut n = 0;
        let mut next = move || {
            n += 1;
            TaskId::from(format!("new{n}"))
        };
        let mut w = Work::new(tasks, &nodes, Timestamp(100 * SEC), &mut next);
        if let ServiceMode::ReplicatedJob {
            max_concurrent,
            total_completions,
        } = svc.spec.mode
        {
            replicated(&mut w, svc, max_concurrent, total_completions);
        }
        w.into_plan(None)
    }

    #[test]
    fn starts_at_most_max_concurrent() {
        let plan = pass(&job(5, 2), vec![]);
        let slots: Vec<u64> = plan.create.iter().map(|t| t.slot).collect();
        assert_eq!(slots, vec![1, 2]);
    }

    #[test]
    fn completed_slots_are_not_run_again() {
        let mut done = task("a", 1, 1, TaskState::Complete);
        done.status.exit_code = Some(0);
        let plan = pass(&job(3, 2), vec![done, task("b", 2, 1, TaskState::Running)]);
        // a completed: its desired state follows, slot 1 is finished; slot 3 starts.
        assert_eq!(plan.update.len(), 1);
        assert_eq!(plan.update[0].desired_state, TaskState::Shutdown);
        let slots: Vec<u64> = plan.create.iter().map(|t| t.slot).collect();
        assert_eq!(slots, vec![3]);
    }

    #[test]
    fn failed_tasks_are_restarted_in_their_slot() {
        let plan = pass(&job(1, 1), vec![task("a", 1, 1, TaskState::Failed)]);
        assert_eq!(plan.create.len(), 1);
        assert_eq!(plan.create[0].slot, 1);
        assert_eq!(plan.create[0].desired_state, TaskState::Ready);
    }

    #[test]
    fn an_update_completes_at_once_and_starts_a_new_run() {
        let mut svc = job(1, 1);
        svc.update_status = Some(flotilla_model::UpdateStatus {
            state: UpdateState::Updating,
            started_at: Timestamp(SEC),
            completed_at: None,
            message: "update in progress".into(),
        });
        finish_update(&mut svc, Timestamp(2 * SEC));
        let status = svc.update_status.as_ref().expect("status");
        assert_eq!(status.state, UpdateState::Completed);
        assert_eq!(status.completed_at, Some(Timestamp(2 * SEC)));

        let mut old = task("a", 1, 1, TaskState::Complete);
        old.spec.force_update = 7;
        let plan = pass(&svc, vec![old]);
        assert_eq!(plan.create.len(), 1, "the new run starts slot 1 again");
    }
}
