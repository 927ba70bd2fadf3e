//! Test support: object builders, and a small cluster simulator that drives [`reconcile`] the
//! way the leader's supervisor will — after every change and at `wake_at` — with a scheduler
//! that places pending tasks and agents that move tasks one state per second, so the
//! orchestrators' invariants can be checked at every step.
//!
//! Images decide how a task behaves: `bad…` fails as it starts, `crash…` fails after running
//! for a second, `job…` completes after running for a second; anything else runs until stopped.

use crate::{Input, Plan, reconcile};
use flotilla_model::{
    ContainerSpec, Meta, Node, NodeId, NodeSpec, NodeState, NodeStatus, Service, ServiceId,
    ServiceSpec, Task, TaskId, TaskSpec, TaskState, TaskStatus, Timestamp, UpdateState,
    UpdateStatus, Version,
};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// One second in nanoseconds.
pub(crate) const SEC: u64 = 1_000_000_000;

/// A ready, active worker node.
pub(crate) fn node(id: &str) -> Node {
    Node {
        id: NodeId::from(id),
        meta: Meta::default(),
        spec: NodeSpec::default(),
        description: Default::default(),
        status: NodeStatus {
            state: NodeState::Ready,
            ..Default::default()
        },
        manager_status: None,
        raft_id: 0,
    }
}

/// A replicated service `svc` of image `busybox`.
pub(crate) fn service(name: &str, replicas: u64) -> Service {
    Service {
        id: ServiceId::from("svc"),
        meta: Meta {
            version: Version(1),
            ..Meta::default()
        },
        spec: ServiceSpec {
            name: name.into(),
            task_template: TaskSpec {
                container_spec: ContainerSpec {
                    image: "busybox".into(),
                    ..Default::default()
                },
                ..Default::default()
            },
            mode: flotilla_model::ServiceMode::Replicated { replicas },
            ..Default::default()
        },
        previous_spec: None,
        update_status: None,
    }
}

/// A task of [`service`]'s template in `slot`, created at `created` seconds, observed in
/// `state` since then, desired RUNNING, on no node.
pub(crate) fn task(id: &str, slot: u64, created: u64, state: TaskState) -> Task {
    let at = Timestamp(created * SEC);
    Task {
        id: TaskId::from(id),
        meta: Meta {
            version: Version(1),
            created_at: at,
            updated_at: at,
        },
        service_id: ServiceId::from("svc"),
        slot,
        node_id: None,
        spec: service("web", 1).spec.task_template,
        spec_version: 1,
        desired_state: TaskState::Running,
        status: TaskStatus {
            state,
            timestamp: at,
            message: String::new(),
            err: String::new(),
            exit_code: None,
        },
    }
}

/// A simulated cluster running one service.
pub(crate) struct Sim {
    pub(crate) now: Timestamp,
    pub(crate) service: Option<Service>,
    pub(crate) tasks: BTreeMap<TaskId, Task>,
    pub(crate) nodes: Vec<Node>,
    pub(crate) history_limit: usize,
    /// When each task was first seen RUNNING.
    pub(crate) ran_at: BTreeMap<TaskId, Timestamp>,
    /// Every task id ever created.
    pub(crate) created: BTreeSet<TaskId>,
    next_id: u64,
    version: u64,
    changed: bool,
    wake_at: Option<Timestamp>,
}

impl Sim {
    pub(crate) fn new(svc: Service, nodes: Vec<Node>) -> Self {
        Self {
            now: Timestamp(1_000 * SEC),
            service: Some(svc),
            tasks: BTreeMap::new(),
            nodes,
            history_limit: crate::DEFAULT_TASK_HISTORY_LIMIT,
            ran_at: BTreeMap::new(),
            created: BTreeSet::new(),
            next_id: 0,
            version: 10,
            changed: true,
            wake_at: None,
        }
    }

    fn bump(&mut self) -> Version {
        self.version += 1;
        Version(self.version)
    }

    /// One reconcile pass, applied; returns the plan.
    fn pass(&mut self) -> Plan {
        let tasks: Vec<Task> = self.tasks.values().cloned().collect();
        let everywhere = |_: &Node, _: &TaskSpec| true;
        let input = Input {
            service: self.service.as_ref(),
            tasks: &tasks,
            nodes: &self.nodes,
            eligible: &everywhere,
            history_limit: self.history_limit,
        };
        let mut counter = self.next_id;
        let mut new_id = || {
            counter += 1;
            TaskId::from(format!("t{counter:04}"))
        };
        let plan = reconcile(&input, self.now, &mut new_id);
        self.next_id = counter;
        self.apply(&plan);
        plan
    }

    /// Applies a plan as the store would, checking what the store and agents rely on.
    fn apply(&mut self, plan: &Plan) {
        for t in &plan.update {
            let stored = self.tasks.get(&t.id).expect("updated task is stored");
            assert!(
                t.desired_state > stored.desired_state,
                "desired state of {} moves forward: {} -> {}",
                t.id,
                stored.desired_state,
                t.desired_state
            );
            let mut same = t.clone();
            same.desired_state = stored.desired_state;
            assert_eq!(&same, stored, "only the desired state changes");
            let version = self.bump();
            let stored = self.tasks.get_mut(&t.id).expect("stored");
            stored.desired_state = t.desired_state;
            stored.meta.version = version;
            stored.meta.updated_at = self.now;
        }
        for t in &plan.create {
            assert!(self.created.insert(t.id.clone()), "task id {} is new", t.id);
            assert_eq!(t.status.state, TaskState::Pending);
            assert!(matches!(
                t.desired_state,
                TaskState::Ready | TaskState::Running
            ));
            let mut t = t.clone();
            t.meta.version = self.bump();
            t.meta.created_at = self.now;
            t.meta.updated_at = self.now;
            self.tasks.insert(t.id.clone(), t);
        }
        for id in &plan.delete {
            let t = self.tasks.remove(id).expect("deleted task is stored");
            if self.service.is_some() {
                assert!(t.desired_state > TaskState::Running, "{id} is not live");
            }
        }
        if let Some(s) = &plan.service {
            let mut s = s.clone();
            s.meta.version = self.bump();
            self.service = Some(s);
        }
        self.wake_at = plan.wake_at;
    }

    /// Reconciles until nothing more changes at this instant (a few passes at most).
    pub(crate) fn settle(&mut self) {
        for _ in 0..6 {
            if self.pass().is_empty() {
                return;
            }
        }
        panic!("reconcile does not settle at {:?}", self.now);
    }

    /// Lets a second pass: agents and scheduler move, then the orchestrator runs if anything
    /// changed or it asked to be woken.
    pub(crate) fn tick(&mut self) {
        self.now = Timestamp(self.now.0 + SEC);
        self.agents();
        self.schedule();
        let woken = self.wake_at.is_some_and(|t| t <= self.now);
        if self.changed || woken {
            self.changed = false;
            self.settle();
        }
    }

    /// Ticks until `done`, checking `invariant` after every change; panics after `max` ticks.
    pub(crate) fn run_until(
        &mut self,
        max: u32,
        done: impl Fn(&Sim) -> bool,
        mut invariant: impl FnMut(&Sim),
    ) {
        if self.changed {
            self.changed = false;
            self.settle();
            invariant(self);
        }
        for _ in 0..max {
            if done(self) {
                return;
            }
            self.tick();
            invariant(self);
        }
        assert!(done(self), "not done after {max} ticks");
    }

    /// Runs `n` ticks checking `invariant`.
    pub(crate) fn run_for(&mut self, n: u32, mut invariant: impl FnMut(&Sim)) {
        if self.changed {
            self.changed = false;
            self.settle();
            invariant(self);
        }
        for _ in 0..n {
            self.tick();
            invariant(self);
        }
    }

    fn agents(&mut self) {
        let up: BTreeSet<NodeId> = self
            .nodes
            .iter()
            .filter(|n| n.status.state != NodeState::Down)
            .map(|n| n.id.clone())
            .collect();
        let now = self.now;
        for t in self.tasks.values_mut() {
            let on_up_node = t.node_id.as_ref().is_some_and(|n| up.contains(n));
            if !on_up_node || t.status.state.is_terminal() || t.status.state < TaskState::Assigned {
                continue;
            }
            let image = t.spec.container_spec.image.clone();
            let next = if t.desired_state > TaskState::Running {
                Some((TaskState::Shutdown, None))
            } else {
                match t.status.state {
                    TaskState::Assigned | TaskState::Accepted | TaskState::Preparing => {
                        Some((TaskState::Ready, None))
                    }
                    TaskState::Ready | TaskState::Starting
                        if t.desired_state == TaskState::Running =>
                    {
                        if image.starts_with("bad") {
                            Some((TaskState::Failed, Some(1)))
                        } else {
                            Some((TaskState::Running, None))
                        }
                    }
                    TaskState::Running if image.starts_with("crash") => {
                        Some((TaskState::Failed, Some(1)))
                    }
                    TaskState::Running if image.starts_with("job") => {
                        Some((TaskState::Complete, Some(0)))
                    }
                    _ => None,
                }
            };
            if let Some((state, exit_code)) = next {
                t.status.state = state;
                t.status.timestamp = now;
                t.status.exit_code = exit_code;
                if state == TaskState::Running {
                    self.ran_at.entry(t.id.clone()).or_insert(now);
                }
                self.changed = true;
            }
        }
    }

    fn schedule(&mut self) {
        let mut load: BTreeMap<NodeId, usize> = self
            .nodes
            .iter()
            .filter(|n| {
                n.status.state == NodeState::Ready
                    && n.spec.availability == flotilla_model::Availability::Active
            })
            .map(|n| (n.id.clone(), 0))
            .collect();
        for t in self.tasks.values() {
            if let Some(n) = &t.node_id
                && t.desired_state <= TaskState::Running
                && let Some(l) = load.get_mut(n)
            {
                *l += 1;
            }
        }
        let now = self.now;
        for t in self.tasks.values_mut() {
            if t.status.state != TaskState::Pending || t.desired_state > TaskState::Running {
                continue;
            }
            if t.node_id.is_none() {
                let Some((n, l)) = load.iter_mut().min_by_key(|(id, l)| (**l, (*id).clone()))
                else {
                    continue;
                };
                *l += 1;
                t.node_id = Some(n.clone());
            }
            t.status.state = TaskState::Assigned;
            t.status.timestamp = now;
            self.changed = true;
        }
    }

    // --- what tests change -------------------------------------------------------------

    /// Changes the service's spec the way `service update` does.
    pub(crate) fn update(&mut self, f: impl FnOnce(&mut ServiceSpec)) {
        let version = self.bump();
        let now = self.now;
        let svc = self.service.as_mut().expect("service exists");
        let old = svc.spec.clone();
        f(&mut svc.spec);
        if old.task_template != svc.spec.task_template {
            svc.update_status = Some(UpdateStatus {
                state: UpdateState::Updating,
                started_at: now,
                completed_at: None,
                message: "update in progress".into(),
            });
        }
        svc.previous_spec = Some(old);
        svc.meta.version = version;
        self.changed = true;
    }

    pub(crate) fn scale(&mut self, replicas: u64) {
        self.update(|s| s.mode = flotilla_model::ServiceMode::Replicated { replicas });
    }

    pub(crate) fn remove_service(&mut self) {
        self.service = None;
        self.changed = true;
    }

    pub(crate) fn node_mut(&mut self, id: &str) -> &mut Node {
        self.changed = true;
        self.nodes
            .iter_mut()
            .find(|n| n.id.as_str() == id)
            .expect("node exists")
    }

    // --- what tests look at ------------------------------------------------------------

    pub(crate) fn svc(&self) -> &Service {
        self.service.as_ref().expect("service exists")
    }

    pub(crate) fn update_state(&self) -> Option<UpdateState> {
        self.svc().update_status.as_ref().map(|s| s.state)
    }

    /// Tasks observed RUNNING.
    pub(crate) fn running(&self) -> Vec<&Task> {
        self.tasks
            .values()
            .filter(|t| t.status.state == TaskState::Running)
            .collect()
    }

    /// Tasks wanted and not stopped.
    pub(crate) fn live(&self) -> Vec<&Task> {
        self.tasks
            .values()
            .filter(|t| t.desired_state <= TaskState::Running && !t.status.state.is_terminal())
            .collect()
    }

    /// Slots among 1..=n without a task observed RUNNING.
    pub(crate) fn slots_without_running(&self, n: u64) -> usize {
        let running: BTreeSet<u64> = self.running().iter().map(|t| t.slot).collect();
        (1..=n).filter(|s| !running.contains(s)).count()
    }

    /// Whether every slot 1..=n runs exactly one task of `image` and nothing else runs.
    pub(crate) fn all_run(&self, n: u64, image: &str) -> bool {
        let running = self.running();
        let slots: BTreeSet<u64> = running.iter().map(|t| t.slot).collect();
        running.len() as u64 == n
            && slots == (1..=n).collect()
            && running.iter().all(|t| t.spec.container_spec.image == image)
    }
}

fn with_image(svc: &mut Service, image: &str) {
    svc.spec.task_template.container_spec.image = image.into();
}

fn nodes(n: usize) -> Vec<Node> {
    (1..=n).map(|k| node(&format!("n{k}"))).collect()
}

#[test]
fn scale_up_and_down() {
    let mut sim = Sim::new(service("web", 3), nodes(3));
    sim.run_until(20, |s| s.all_run(3, "busybox"), |_| {});
    let spread: BTreeSet<_> = sim.running().iter().map(|t| t.node_id.clone()).collect();
    assert_eq!(spread.len(), 3, "the scheduler spread them");
    assert_eq!(sim.update_state(), None, "scaling is no update");

    sim.scale(5);
    sim.run_until(
        20,
        |s| s.all_run(5, "busybox"),
        |s| {
            assert!(s.live().len() <= 5);
        },
    );
    assert_eq!(sim.update_state(), None);

    sim.scale(2);
    sim.run_until(
        20,
        |s| s.all_run(2, "busybox") && s.tasks.len() == 2,
        |s| assert!(s.live().len() <= 5),
    );
    assert_eq!(sim.created.len(), 5, "no task was replaced");
}

#[test]
fn rolling_update_stop_first_keeps_parallelism_slots_down_at_most() {
    for delay in [0, 3] {
        let mut svc = service("web", 6);
        svc.spec.update_config.parallelism = 2;
        svc.spec.update_config.delay = Duration::from_secs(delay);
        let mut sim = Sim::new(svc, nodes(3));
        sim.run_until(20, |s| s.all_run(6, "busybox"), |_| {});
        sim.update(|s| s.task_template.container_spec.image = "app:2".into());
        let started = sim.now;
        sim.run_until(
            120,
            |s| s.update_state() == Some(UpdateState::Completed),
            |s| {
                assert!(
                    s.slots_without_running(6) <= 2,
                    "at {:?}: {} slots down",
                    s.now,
                    s.slots_without_running(6)
                );
                assert!(s.live().len() <= 6);
            },
        );
        assert!(sim.all_run(6, "app:2"));
        let status = sim.svc().update_status.clone().expect("status");
        assert_eq!(status.completed_at, Some(sim.now));
        assert_eq!(status.started_at, started);
        assert_eq!(sim.created.len(), 12, "each slot replaced once");
        if delay == 3 {
            // Three batches, each waiting 3 s after its tasks ran.
            assert!(sim.now.0 - started.0 >= 6 * SEC);
        }
    }
}

#[test]
fn rolling_update_start_first_bounds_live_tasks() {
    let mut svc = service("web", 5);
    svc.spec.update_config.parallelism = 2;
    svc.spec.update_config.order = flotilla_model::UpdateOrder::StartFirst;
    let mut sim = Sim::new(svc, nodes(2));
    sim.run_until(20, |s| s.all_run(5, "busybox"), |_| {});
    sim.update(|s| s.task_template.container_spec.image = "app:2".into());
    sim.run_until(
        120,
        |s| s.update_state() == Some(UpdateState::Completed),
        |s| {
            assert!(
                s.live().len() <= 7,
                "at {:?}: {} live",
                s.now,
                s.live().len()
            );
            assert_eq!(
                s.slots_without_running(5),
                0,
                "start-first never leaves a slot down"
            );
        },
    );
    assert!(sim.all_run(5, "app:2"));
}

#[test]
fn force_update_replaces_every_task() {
    let mut sim = Sim::new(service("web", 2), nodes(1));
    sim.run_until(20, |s| s.all_run(2, "busybox"), |_| {});
    let before: BTreeSet<TaskId> = sim.running().iter().map(|t| t.id.clone()).collect();
    sim.update(|s| s.task_template.force_update += 1);
    sim.run_until(
        60,
        |s| s.update_state() == Some(UpdateState::Completed),
        |_| {},
    );
    let after: BTreeSet<TaskId> = sim.running().iter().map(|t| t.id.clone()).collect();
    assert_eq!(after.len(), 2);
    assert!(before.is_disjoint(&after), "new tasks, new ids");
}

#[test]
fn failing_update_pauses() {
    let mut sim = Sim::new(service("web", 4), nodes(2));
    sim.run_until(20, |s| s.all_run(4, "busybox"), |_| {});
    sim.update(|s| s.task_template.container_spec.image = "bad:1".into());
    let one_slot_at_most = |s: &Sim| assert!(s.slots_without_running(4) <= 1);
    sim.run_until(
        30,
        |s| s.update_state() == Some(UpdateState::Paused),
        one_slot_at_most,
    );
    let status = sim.svc().update_status.clone().expect("status");
    assert!(
        status
            .message
            .starts_with("update paused due to failure or early termination of task t"),
        "{}",
        status.message
    );
    // Paused: the other slots keep the old image; the failed slot keeps restarting.
    sim.run_for(30, one_slot_at_most);
    assert_eq!(sim.update_state(), Some(UpdateState::Paused));
    let old = sim
        .running()
        .iter()
        .filter(|t| t.spec.container_spec.image == "busybox")
        .count();
    assert_eq!(old, 3);
}

#[test]
fn failing_update_rolls_back() {
    let mut svc = service("web", 4);
    svc.spec.update_config.failure_action = flotilla_model::FailureAction::Rollback;
    let mut sim = Sim::new(svc, nodes(2));
    sim.run_until(20, |s| s.all_run(4, "busybox"), |_| {});
    sim.update(|s| s.task_template.container_spec.image = "bad:1".into());
    sim.run_until(
        60,
        |s| s.update_state() == Some(UpdateState::RollbackCompleted),
        |s| assert!(s.slots_without_running(4) <= 1),
    );
    let svc = sim.svc();
    assert_eq!(svc.spec.task_template.container_spec.image, "busybox");
    assert_eq!(
        svc.previous_spec
            .as_ref()
            .map(|p| p.task_template.container_spec.image.as_str()),
        Some("bad:1")
    );
    assert!(sim.all_run(4, "busybox"));
    assert_eq!(
        svc.update_status.as_ref().map(|s| s.message.as_str()),
        Some("rollback completed")
    );
}

#[test]
fn manual_rollback_uses_the_rollback_config() {
    let mut svc = service("web", 3);
    svc.spec.update_config.parallelism = 0;
    let mut sim = Sim::new(svc, nodes(2));
    sim.run_until(20, |s| s.all_run(3, "busybox"), |_| {});
    sim.update(|s| s.task_template.container_spec.image = "app:2".into());
    sim.run_until(
        60,
        |s| s.update_state() == Some(UpdateState::Completed),
        |_| {},
    );
    // What the control API does for `service rollback`.
    let now = sim.now;
    let svc = sim.service.as_mut().expect("service");
    let previous = svc.previous_spec.take().expect("previous spec");
    svc.previous_spec = Some(std::mem::replace(&mut svc.spec, previous));
    svc.update_status = Some(UpdateStatus {
        state: UpdateState::RollbackStarted,
        started_at: now,
        completed_at: None,
        message: "manually requested rollback".into(),
    });
    sim.changed = true;
    // The rollback config (parallelism 1) keeps all but one slot running.
    sim.run_until(
        60,
        |s| s.update_state() == Some(UpdateState::RollbackCompleted),
        |s| assert!(s.slots_without_running(3) <= 1),
    );
    assert!(sim.all_run(3, "busybox"));
}

#[test]
fn restart_delay_and_max_attempts() {
    let mut svc = service("web", 1);
    with_image(&mut svc, "crash:1");
    svc.spec.task_template.restart_policy.delay = Duration::from_secs(5);
    svc.spec.task_template.restart_policy.max_attempts = 2;
    let mut sim = Sim::new(svc, nodes(1));
    sim.run_for(60, |_| {});
    assert_eq!(sim.created.len(), 3, "the first task and two restarts");
    assert!(sim.live().is_empty(), "the slot rests");
    let mut tasks: Vec<&Task> = sim.tasks.values().collect();
    tasks.sort_by_key(|t| t.meta.created_at);
    for pair in tasks.windows(2) {
        let restarted = pair[1];
        assert_eq!(restarted.slot, 1);
        assert!(pair[0].status.state == TaskState::Failed);
        let ran = sim.ran_at.get(&restarted.id).expect("the restart ran");
        assert!(
            ran.0 >= restarted.meta.created_at.0 + 5 * SEC,
            "ran {ran:?}, created {:?}",
            restarted.meta.created_at
        );
        assert!(ran.0 >= pair[0].status.timestamp.0 + 5 * SEC);
    }
}

#[test]
fn history_is_capped_per_slot() {
    let mut svc = service("web", 2);
    with_image(&mut svc, "crash:1");
    svc.spec.task_template.restart_policy.delay = Duration::ZERO;
    let mut sim = Sim::new(svc, nodes(2));
    sim.run_for(80, |s| {
        for slot in 1..=2 {
            let finished = s
                .tasks
                .values()
                .filter(|t| t.slot == slot && t.desired_state > TaskState::Running)
                .count();
            // The reaper deletes a task the pass after it was shut down.
            assert!(finished <= 6, "slot {slot} keeps {finished}");
        }
    });
    assert!(
        sim.created.len() > 20,
        "it kept restarting: {}",
        sim.created.len()
    );
    for slot in 1..=2 {
        assert!(sim.tasks.values().filter(|t| t.slot == slot).count() <= 7);
    }
}

#[test]
fn a_lost_node_is_replaced_elsewhere() {
    let mut sim = Sim::new(service("web", 4), nodes(2));
    sim.run_until(20, |s| s.all_run(4, "busybox"), |_| {});
    sim.node_mut("n2").status.state = NodeState::Down;
    sim.run_until(
        30,
        |s| {
            s.running()
                .iter()
                .filter(|t| t.node_id.as_ref().is_some_and(|n| n.as_str() == "n1"))
                .count()
                == 4
        },
        |_| {},
    );
    assert_eq!(sim.live().len(), 4, "the lost tasks are shut down");
}

#[test]
fn global_follows_nodes() {
    let mut svc = service("agent", 0);
    svc.spec.mode = flotilla_model::ServiceMode::Global;
    let mut sim = Sim::new(svc, nodes(2));
    let on = |s: &Sim, node: &str| {
        s.live()
            .iter()
            .filter(|t| t.node_id.as_ref().is_some_and(|n| n.as_str() == node))
            .count()
    };
    let one_each = |s: &Sim, names: &[&str]| {
        s.running().len() == names.len() && names.iter().all(|n| on(s, n) == 1)
    };
    let at_most_one = |s: &Sim| {
        for n in ["n1", "n2", "n3"] {
            assert!(on(s, n) <= 1, "{n} runs {}", on(s, n));
        }
    };
    sim.run_until(20, |s| one_each(s, &["n1", "n2"]), at_most_one);

    sim.nodes.push(node("n3"));
    sim.changed = true;
    sim.run_until(20, |s| one_each(s, &["n1", "n2", "n3"]), at_most_one);

    sim.node_mut("n2").spec.availability = flotilla_model::Availability::Drain;
    sim.run_until(
        20,
        |s| one_each(s, &["n1", "n3"]) && on(s, "n2") == 0,
        at_most_one,
    );

    sim.node_mut("n3").status.state = NodeState::Down;
    sim.run_until(20, |s| on(s, "n3") == 0, |_| {});
    sim.node_mut("n3").status.state = NodeState::Ready;
    sim.run_until(20, |s| one_each(s, &["n1", "n3"]), at_most_one);

    sim.node_mut("n1").spec.availability = flotilla_model::Availability::Pause;
    let before = sim.created.len();
    sim.run_for(10, at_most_one);
    assert_eq!(sim.created.len(), before, "pausing changes nothing");
    assert!(one_each(&sim, &["n1", "n3"]));
}

#[test]
fn global_rolling_update() {
    let mut svc = service("agent", 0);
    svc.spec.mode = flotilla_model::ServiceMode::Global;
    let mut sim = Sim::new(svc, nodes(4));
    sim.run_until(20, |s| s.running().len() == 4, |_| {});
    sim.update(|s| s.task_template.container_spec.image = "app:2".into());
    sim.run_until(
        120,
        |s| s.update_state() == Some(UpdateState::Completed),
        |s| assert!(s.running().len() >= 3, "one node at a time"),
    );
    assert_eq!(sim.running().len(), 4);
    assert!(
        sim.running()
            .iter()
            .all(|t| t.spec.container_spec.image == "app:2")
    );
}

#[test]
fn removed_service_stops_and_deletes_its_tasks() {
    let mut sim = Sim::new(service("web", 3), nodes(2));
    sim.run_until(20, |s| s.all_run(3, "busybox"), |_| {});
    sim.remove_service();
    sim.run_until(
        20,
        |s| s.tasks.is_empty(),
        |s| {
            for t in s.tasks.values() {
                assert_eq!(t.desired_state, TaskState::Remove);
            }
        },
    );
}

#[test]
fn replicated_job_runs_to_completion() {
    let mut svc = service("batch", 0);
    svc.spec.mode = flotilla_model::ServiceMode::ReplicatedJob {
        max_concurrent: 2,
        total_completions: 5,
    };
    with_image(&mut svc, "job:1");
    let mut sim = Sim::new(svc, nodes(2));
    let completed = |s: &Sim| {
        s.tasks
            .values()
            .filter(|t| t.status.state == TaskState::Complete)
            .count()
    };
    sim.run_until(60, |s| completed(s) == 5, |s| assert!(s.live().len() <= 2));
    sim.run_for(20, |s| assert!(s.live().is_empty()));
    assert_eq!(sim.created.len(), 5, "completed tasks are never run again");
    let slots: BTreeSet<u64> = sim.tasks.values().map(|t| t.slot).collect();
    assert_eq!(slots, (1..=5).collect());
}

#[test]
fn global_job_runs_once_per_node() {
    let mut svc = service("batch", 0);
    svc.spec.mode = flotilla_model::ServiceMode::GlobalJob;
    with_image(&mut svc, "job:1");
    let mut sim = Sim::new(svc, nodes(3));
    let completed = |s: &Sim| {
        s.tasks
            .values()
            .filter(|t| t.status.state == TaskState::Complete)
            .count()
    };
    sim.run_until(30, |s| completed(s) == 3, |_| {});
    sim.run_for(10, |_| {});
    assert_eq!(sim.created.len(), 3);
    sim.nodes.push(node("n4"));
    sim.changed = true;
    sim.run_until(30, |s| completed(s) == 4, |_| {});
    assert_eq!(sim.created.len(), 4);
}
