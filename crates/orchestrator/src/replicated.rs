//! Replicated services: keeping `replicas` slots occupied.
//!
//! A slot is *occupied* when it has a live task (desired state at most RUNNING) or when its
//! newest task rests (ended by itself and may not restart). One pass:
//!
//! 1. Classifies each slot. A live occupant that ended, or whose node is down, gone or drained,
//!    is *gone*: it will be shut down, and replaced if the restart supervisor allows (else the
//!    slot rests).
//! 2. Scales down: with more occupied slots than replicas, the surplus slots are removed (their
//!    tasks' desired state becomes REMOVE, Docker's choice, so the reaper deletes them once they
//!    stopped) — slots without a running task first, then the highest slot numbers.
//! 3. Handles the slots kept: gone tasks are shut down and replaced in their slot; a gone task
//!    that is not the slot's newest live one (the old task of a start-first update) is shut down
//!    without a replacement.
//! 4. Scales up: the lowest free slot numbers get new tasks (PENDING, no node, desired RUNNING).
//!
//! It returns the slots the rolling updater may work on: the occupied ones that were kept.

use crate::restart;
use crate::work::{GroupBy, Key, NodeFit, Work, has_ended, is_live};
use flotilla_model::{Service, TaskState};
use std::cmp::Reverse;
use std::collections::BTreeSet;

/// The task at `i` has ended, or its node is down, gone or drained.
pub(crate) fn gone(w: &Work<'_, '_>, i: usize) -> bool {
    has_ended(&w.tasks[i])
        || matches!(
            w.fit(i),
            NodeFit::Down | NodeFit::Missing | NodeFit::Drained
        )
}

/// What happens to an occupied slot's occupant.
enum Fate {
    /// It is fine.
    Healthy,
    /// It is gone and gets a replacement.
    Replace(usize),
    /// It is gone and may not restart: it is shut down and the slot rests.
    Rest(usize),
    /// The slot already rests on this (finished) task.
    Resting(usize),
}

struct Occupied {
    key: Key,
    slot: u64,
    group: Vec<usize>,
    live: Vec<usize>,
    running: bool,
    fate: Fate,
}

/// Reconciles the slots of a replicated service with `replicas`; returns the slots kept.
pub(crate) fn reconcile(w: &mut Work<'_, '_>, svc: &Service, replicas: u64) -> BTreeSet<Key> {
    let mut occupied = Vec::new();
    for (key, group) in w.groups(GroupBy::Slot) {
        let Key::Slot(slot) = key else { continue };
        let live: Vec<usize> = group
            .iter()
            .copied()
            .filter(|&i| is_live(&w.tasks[i]))
            .collect();
        let fate = match live.last() {
            Some(&occ) if !gone(w, occ) => Fate::Healthy,
            Some(&occ) if restart::should_restart(w, occ, &group, false) => Fate::Replace(occ),
            Some(&occ) => Fate::Rest(occ),
            None => match group.last() {
                Some(&newest) if slot != 0 && restart::rests(w, newest, &group, false) => {
                    Fate::Resting(newest)
                }
                _ => continue,
            },
        };
        let running = live
            .iter()
            .any(|&i| !gone(w, i) && w.tasks[i].status.state == TaskState::Running);
        occupied.push(Occupied {
            key,
            slot,
            group,
            live,
            running,
            fate,
        });
    }

    // Slot 0 is not a replicated slot (a task left from another mode): always removed.
    let wanted = usize::try_from(replicas).unwrap_or(usize::MAX);
    let mut order: Vec<usize> = (0..occupied.len()).collect();
    order.sort_by_key(|&k| {
        let o = &occupied[k];
        (o.slot != 0, o.running, Reverse(o.slot))
    });
    let valid = occupied.iter().filter(|o| o.slot != 0).count();
    let surplus = occupied.len() - valid + valid.saturating_sub(wanted);
    let removed: BTreeSet<usize> = order.into_iter().take(surplus).collect();

    let mut kept = BTreeSet::new();
    for (k, o) in occupied.iter().enumerate() {
        if removed.contains(&k) {
            for &i in &o.live {
                w.set_desired(i, TaskState::Remove);
            }
            if let Fate::Resting(i) = o.fate {
                w.set_desired(i, TaskState::Remove);
            }
            continue;
        }
        kept.insert(o.key.clone());
        let occupant = o.live.last().copied();
        for &i in &o.live {
            if Some(i) != occupant && gone(w, i) {
                w.set_desired(i, TaskState::Shutdown);
            }
        }
        match o.fate {
            Fate::Healthy | Fate::Resting(_) => {}
            Fate::Replace(i) => {
                w.set_desired(i, TaskState::Shutdown);
                restart::replace(w, svc, &o.key, &o.group);
            }
            Fate::Rest(i) => w.set_desired(i, TaskState::Shutdown),
        }
    }

    let used: BTreeSet<u64> = occupied
        .iter()
        .enumerate()
        .filter(|(k, _)| !removed.contains(k))
        .map(|(_, o)| o.slot)
        .collect();
    let mut missing = wanted.saturating_sub(used.len());
    let mut slot = 1;
    while missing > 0 {
        if !used.contains(&slot) {
            w.create(svc, &Key::Slot(slot), TaskState::Running);
            missing -= 1;
        }
        slot += 1;
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{node, service, task};
    use flotilla_model::{Availability, NodeState, RestartCondition, TaskId, Timestamp};

    fn run(
        svc: &Service,
        tasks: Vec<flotilla_model::Task>,
        nodes: &[flotilla_model::Node],
    ) -> crate::Plan {
        let mut n = 0;
        let mut next = move || {
            n += 1;
            TaskId::from(format!("new{n}"))
        };
        let mut w = Work::new(tasks, nodes, Timestamp(100 * crate::sim::SEC), &mut next);
        let replicas = svc.spec.replicas().unwrap_or(0);
        reconcile(&mut w, svc, replicas);
        w.into_plan(None)
    }

    fn on(mut t: flotilla_model::Task, node: &str) -> flotilla_model::Task {
        t.node_id = Some(node.into());
        t
    }

    #[test]
    fn fills_missing_slots_from_one() {
        let svc = service("web", 3);
        let plan = run(
            &svc,
            vec![on(task("a", 2, 1, TaskState::Running), "n1")],
            &[node("n1")],
        );
        let slots: Vec<u64> = plan.create.iter().map(|t| t.slot).collect();
        assert_eq!(slots, vec![1, 3]);
        for t in &plan.create {
            assert_eq!(t.desired_state, TaskState::Running);
            assert_eq!(t.status.state, TaskState::Pending);
            assert_eq!(t.node_id, None);
            assert_eq!(t.spec, svc.spec.task_template);
        }
    }

    #[test]
    fn scales_down_non_running_then_highest_slots() {
        let svc = service("web", 2);
        let tasks = vec![
            on(task("a", 1, 1, TaskState::Running), "n1"),
            on(task("b", 2, 1, TaskState::Running), "n1"),
            on(task("c", 3, 1, TaskState::Running), "n1"),
            task("d", 4, 1, TaskState::Pending),
        ];
        let plan = run(&svc, tasks, &[node("n1")]);
        assert!(plan.create.is_empty());
        let removed: Vec<(&str, TaskState)> = plan
            .update
            .iter()
            .map(|t| (t.id.as_str(), t.desired_state))
            .collect();
        assert_eq!(
            removed,
            vec![("c", TaskState::Remove), ("d", TaskState::Remove)]
        );
    }

    #[test]
    fn tasks_of_down_and_drained_nodes_are_replaced() {
        let svc = service("web", 3);
        let mut down = node("n2");
        down.status.state = NodeState::Down;
        let mut drained = node("n3");
        drained.spec.availability = Availability::Drain;
        let tasks = vec![
            on(task("a", 1, 1, TaskState::Running), "n1"),
            on(task("b", 2, 1, TaskState::Running), "n2"),
            on(task("c", 3, 1, TaskState::Running), "n3"),
        ];
        let plan = run(&svc, tasks, &[node("n1"), down, drained]);
        let shut: Vec<&str> = plan.update.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(shut, vec!["b", "c"]);
        assert!(
            plan.update
                .iter()
                .all(|t| t.desired_state == TaskState::Shutdown)
        );
        let mut created: Vec<(u64, TaskState)> = plan
            .create
            .iter()
            .map(|t| (t.slot, t.desired_state))
            .collect();
        created.sort();
        // Slot 2's node is down: the restart delay applies. Slot 3's was drained: no delay, but
        // the old task is still running there, so the new one waits for it to stop.
        assert_eq!(created, vec![(2, TaskState::Ready), (3, TaskState::Ready)]);
    }

    #[test]
    fn a_slot_that_may_not_restart_rests_and_is_not_refilled() {
        let mut svc = service("web", 2);
        svc.spec.task_template.restart_policy.condition = RestartCondition::None;
        let mut done = on(task("a", 1, 1, TaskState::Failed), "n1");
        done.spec = svc.spec.task_template.clone();
        let mut running = on(task("b", 2, 1, TaskState::Running), "n1");
        running.spec = svc.spec.task_template.clone();
        let plan = run(&svc, vec![done, running], &[node("n1")]);
        assert!(plan.create.is_empty(), "{:?}", plan.create);
        assert_eq!(plan.update.len(), 1);
        assert_eq!(plan.update[0].id.as_str(), "a");
        assert_eq!(plan.update[0].desired_state, TaskState::Shutdown);
    }
}
