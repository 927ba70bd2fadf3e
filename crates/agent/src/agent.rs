//! [`Agent`]: the loop that drives a node's assigned tasks through their states with an
//! [`Executor`], and reports their statuses.
//!
//! One loop owns every task's [`Ctl`]. It wakes on an assignment update, on an operation's
//! completion, or on a tick; after each wake-up it asks every task what to do next, spawns the
//! operations (one in flight per task, in a `JoinSet`, so one slow pull never holds the others
//! up) and sends the status changes of that wake-up as one batch.

use crate::assignment::{AssignedTask, AssignmentUpdate, Cursor};
use crate::controller::{Ctl, Op, Outcome};
use crate::executor::{ContainerState, Executor};
use flotilla_model::{TaskId, TaskStatus};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinError, JoinSet};
use tokio::time::MissedTickBehavior;

/// How often started containers are looked at (and errors retried) without other wake-ups.
pub const DEFAULT_TICK: Duration = Duration::from_millis(250);

/// Most decisions taken for one task in one wake-up (each moves its state forward, so a
/// task needs far fewer; this only bounds a bug).
const MAX_STEPS: usize = 16;

/// A batch of status changes, as the agent sends them.
pub type StatusBatch = Vec<(TaskId, TaskStatus)>;

/// The worker side of task execution.
#[derive(Debug)]
pub struct Agent<E> {
    executor: Arc<E>,
    tick: Duration,
}

impl<E: Executor> Agent<E> {
    /// An agent driving `executor`, ticking every [`DEFAULT_TICK`].
    pub fn new(executor: Arc<E>) -> Self {
        Self {
            executor,
            tick: DEFAULT_TICK,
        }
    }

    /// Sets the tick (tests use a short one). A zero tick is raised to 1 ms.
    pub fn with_tick(mut self, tick: Duration) -> Self {
        self.tick = tick.max(Duration::from_millis(1));
        self
    }

    /// Runs until `stop` turns true (or its sender is dropped), or until nobody receives
    /// `statuses` any more. Containers are left as they are when it returns: the next agent
    /// re-adopts them.
    pub async fn run(
        self,
        mut updates: mpsc::Receiver<AssignmentUpdate>,
        statuses: mpsc::Sender<StatusBatch>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut r = Runner::new(self.executor);
        let listed = tokio::select! {
            biased;
            () = stopped(&mut stop) => return,
            listed = r.executor.list() => listed,
        };
        r.adopt(listed);
        let mut tick = tokio::time::interval(self.tick);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut updates_open = true;
        loop {
            tokio::select! {
                biased;
                () = stopped(&mut stop) => break,
                update = updates.recv(), if updates_open => match update {
                    Some(u) => r.apply_update(u),
                    None => {
                        tracing::debug!("the assignment stream ended; supervising the current tasks");
                        updates_open = false;
                    }
                },
                Some(joined) = r.ops.join_next_with_id(), if !r.ops.is_empty() => r.on_joined(joined),
                _ = tick.tick() => r.on_tick(),
            }
            r.step();
            if r.batch.is_empty() {
                continue;
            }
            let batch = std::mem::take(&mut r.batch);
            let sent = tokio::select! {
                biased;
                () = stopped(&mut stop) => break,
                sent = statuses.send(batch) => sent,
            };
            if sent.is_err() {
                tracing::warn!("nobody receives task statuses any more: the agent stops");
                break;
            }
        }
        r.ops.shutdown().await;
    }
}

/// Ends once the stop flag is true or its sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        if stop.changed().await.is_err() {
            return;
        }
    }
}

/// The loop's state.
struct Runner<E> {
    executor: Arc<E>,
    /// Every task known, in the set or on its way out.
    tasks: BTreeMap<TaskId, Ctl>,
    /// Containers found at start, not yet claimed by an assigned task.
    adopted: HashMap<TaskId, ContainerState>,
    /// The last (term, index) applied.
    cursor: Cursor,
    /// A complete update was applied (orphans were reaped then).
    saw_complete: bool,
    /// Operations in flight.
    ops: JoinSet<(TaskId, Outcome)>,
    /// The task of each operation in flight, to find it again if it panics.
    op_tasks: HashMap<tokio::task::Id, TaskId>,
    /// Status changes of this wake-up.
    batch: StatusBatch,
}

impl<E: Executor> Runner<E> {
    fn new(executor: Arc<E>) -> Self {
        Self {
            executor,
            tasks: BTreeMap::new(),
            adopted: HashMap::new(),
            cursor: Cursor::default(),
            saw_complete: false,
            ops: JoinSet::new(),
            op_tasks: HashMap::new(),
            batch: Vec::new(),
        }
    }

    /// Remembers the containers the node already has.
    fn adopt(&mut self, listed: Result<Vec<crate::Observed>, crate::ExecError>) {
        match listed {
            Ok(found) => {
                tracing::info!(
                    containers = found.len(),
                    "found this node's task containers"
                );
                for o in found {
                    self.adopted.insert(o.task_id, o.state);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot list this node's task containers: none re-adopted");
            }
        }
    }

    /// Applies an assignment update, unless it is older than the last one applied.
    fn apply_update(&mut self, u: AssignmentUpdate) {
        if !self.cursor.accept(u.term, u.index) {
            tracing::warn!(
                sequence = u.sequence,
                term = u.term,
                index = u.index,
                last = ?self.cursor.last(),
                "dropping a stale assignment update"
            );
            return;
        }
        tracing::debug!(
            sequence = u.sequence,
            term = u.term,
            index = u.index,
            complete = u.complete,
            changed = u.changed.len(),
            removed = u.removed.len(),
            "assignment update"
        );
        if u.complete {
            let keep: HashSet<&TaskId> = u.changed.iter().map(|a| &a.task.id).collect();
            for (id, ctl) in &mut self.tasks {
                if !keep.contains(id) {
                    ctl.in_set = false;
                }
            }
        }
        for at in u.changed {
            self.upsert(at);
        }
        for id in &u.removed {
            if let Some(ctl) = self.tasks.get_mut(id) {
                ctl.in_set = false;
            }
        }
        if u.complete && !self.saw_complete {
            self.saw_complete = true;
            self.reap_orphans();
        }
    }

    fn upsert(&mut self, at: AssignedTask) {
        match self.tasks.get_mut(&at.task.id) {
            Some(ctl) => ctl.refresh(at),
            None => {
                let adopted = self.adopted.remove(&at.task.id);
                if adopted.is_some() {
                    tracing::info!(task = %at.task.id, "re-adopting the task's container");
                }
                self.tasks.insert(at.task.id.clone(), Ctl::new(at, adopted));
            }
        }
    }

    /// Containers found at start whose task is not assigned here are stopped and removed.
    fn reap_orphans(&mut self) {
        for (id, state) in std::mem::take(&mut self.adopted) {
            if self.tasks.contains_key(&id) {
                continue;
            }
            tracing::info!(task = %id, "removing the container of a task not assigned to this node");
            self.tasks.insert(id.clone(), Ctl::orphan(id, state));
        }
    }

    /// Started tasks' containers are looked at again.
    fn on_tick(&mut self) {
        for ctl in self.tasks.values_mut() {
            ctl.mark_stale();
        }
    }

    /// Folds a finished operation into its task.
    fn on_joined(&mut self, joined: Result<(tokio::task::Id, (TaskId, Outcome)), JoinError>) {
        let (id, outcome) = match joined {
            Ok((op, (id, outcome))) => {
                self.op_tasks.remove(&op);
                (id, outcome)
            }
            Err(e) => {
                let Some(id) = self.op_tasks.remove(&e.id()) else {
                    tracing::warn!(error = %e, "an operation of an unknown task ended");
                    return;
                };
                (id, Outcome::Lost(e.to_string()))
            }
        };
        let Some(ctl) = self.tasks.get_mut(&id) else {
            return;
        };
        for t in ctl.outcome(outcome, Instant::now()) {
            if let Some(status) = ctl.advance(t) {
                self.batch.push((id.clone(), status));
            }
        }
        if ctl.done {
            self.tasks.remove(&id);
        }
    }

    /// Decides for every task; reports transitions and spawns operations.
    fn step(&mut self) {
        let now = Instant::now();
        let ids: Vec<TaskId> = self.tasks.keys().cloned().collect();
        for id in ids {
            let mut spawn = None;
            if let Some(ctl) = self.tasks.get_mut(&id) {
                for _ in 0..MAX_STEPS {
                    let before = ctl.status.state;
                    let decision = ctl.decide(now);
                    for t in decision.transitions {
                        if let Some(status) = ctl.advance(t) {
                            self.batch.push((id.clone(), status));
                        }
                    }
                    if let Some(op) = decision.op {
                        ctl.busy = true;
                        spawn = Some((op, ctl.at.clone()));
                        break;
                    }
                    if ctl.status.state == before {
                        break;
                    }
                }
            }
            if let Some((op, at)) = spawn {
                self.spawn(id, op, at);
            }
        }
    }

    /// Runs one operation in the background.
    fn spawn(&mut self, id: TaskId, op: Op, at: AssignedTask) {
        tracing::debug!(task = %id, op = ?op, "operation");
        let ex = Arc::clone(&self.executor);
        let tid = id.clone();
        let handle = match op {
            Op::Prepare => self
                .ops
                .spawn(async move { (tid, Outcome::Prepared(ex.prepare(&at).await)) }),
            Op::Start => self
                .ops
                .spawn(async move { (tid, Outcome::Started(ex.start(&at).await)) }),
            Op::Observe => self.ops.spawn(async move {
                let seen = ex.observe(&tid).await;
                (tid, Outcome::Observed(seen))
            }),
            Op::Stop(why) => self
                .ops
                .spawn(async move { (tid, Outcome::Stopped(why, ex.stop(&at).await)) }),
            Op::Remove => self.ops.spawn(async move {
                let removed = ex.remove(&tid).await;
                (tid, Outcome::Removed(removed))
            }),
        };
        self.op_tasks.insert(handle.id(), id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::tests::task;
    use crate::executor::Health;
    use crate::fake::FakeExecutor;
    use flotilla_model::TaskState;
    use tokio::time::timeout;

    const TICK: Duration = Duration::from_millis(10);
    const WAIT: Duration = Duration::from_secs(5);

    struct Harness {
        ex: Arc<FakeExecutor>,
        updates: mpsc::Sender<AssignmentUpdate>,
        statuses: mpsc::Receiver<StatusBatch>,
        stop: watch::Sender<bool>,
        run: tokio::task::JoinHandle<()>,
        history: StatusBatch,
    }

    impl Harness {
        fn start(ex: FakeExecutor) -> Self {
            let ex = Arc::new(ex);
            let (utx, urx) = mpsc::channel(16);
            let (stx, srx) = mpsc::channel(64);
            let (wtx, wrx) = watch::channel(false);
            let agent = Agent::new(Arc::clone(&ex)).with_tick(TICK);
            let run = tokio::spawn(agent.run(urx, stx, wrx));
            Self {
                ex,
                updates: utx,
                statuses: srx,
                stop: wtx,
                run,
                history: Vec::new(),
            }
        }

        async fn send(&self, u: AssignmentUpdate) {
            timeout(WAIT, self.updates.send(u))
                .await
                .expect("the agent takes updates in time")
                .expect("the agent runs");
        }

        fn states(&self, id: &str) -> Vec<TaskState> {
            self.history
                .iter()
                .filter(|(t, _)| t.as_str() == id)
                .map(|(_, s)| s.state)
                .collect()
        }

        /// Waits until `id` was reported in `state`; returns that status.
        async fn wait_for(&mut self, id: &str, state: TaskState) -> TaskStatus {
            let deadline = tokio::time::Instant::now() + WAIT;
            loop {
                if let Some((_, s)) = self
                    .history
                    .iter()
                    .find(|(t, s)| t.as_str() == id && s.state == state)
                {
                    return s.clone();
                }
                match tokio::time::timeout_at(deadline, self.statuses.recv()).await {
                    Ok(Some(batch)) => self.history.extend(batch),
                    Ok(None) => panic!("the agent stopped; {id} went {:?}", self.states(id)),
                    Err(_) => panic!("{id} did not reach {state}; it went {:?}", self.states(id)),
                }
            }
        }

        /// Waits until `cond` holds on the fake.
        async fn eventually(&self, what: &str, cond: impl Fn(&crate::fake::FakeState) -> bool) {
            let deadline = tokio::time::Instant::now() + WAIT;
            while !self.ex.with(|s| cond(s)) {
                assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }

        async fn finish(self) {
            let _ = self.stop.send(true);
            timeout(WAIT, self.run)
                .await
                .expect("the agent stops in time")
                .expect("the agent did not panic");
        }
    }

    fn complete(term: u64, index: u64, changed: Vec<AssignedTask>) -> AssignmentUpdate {
        AssignmentUpdate {
            complete: true,
            sequence: index,
            term,
            index,
            changed,
            removed: Vec::new(),
        }
    }

    fn incremental(
        term: u64,
        index: u64,
        changed: Vec<AssignedTask>,
        removed: Vec<&str>,
    ) -> AssignmentUpdate {
        AssignmentUpdate {
            complete: false,
            sequence: index,
            term,
            index,
            changed,
            removed: removed.into_iter().map(TaskId::from).collect(),
        }
    }

    fn exit(h: &Harness, id: &str, code: i32) {
        h.ex.with(|s| {
            s.containers.insert(
                TaskId::from(id),
                ContainerState::Exited {
                    code,
                    oom_killed: false,
                },
            )
        });
    }

    #[tokio::test]
    async fn task_goes_through_every_state_to_running() {
        let mut h = Harness::start(FakeExecutor::new());
        h.send(complete(1, 1, vec![task("a", TaskState::Running)]))
            .await;
        let st = h.wait_for("a", TaskState::Running).await;
        assert_eq!(st.message, "started");
        assert_eq!(
            h.states("a"),
            [
                TaskState::Accepted,
                TaskState::Preparing,
                TaskState::Ready,
                TaskState::Starting,
                TaskState::Running
            ]
        );
        assert_eq!(h.ex.with(|s| (s.creates, s.starts)), (1, 1));
        h.finish().await;
    }

    #[tokio::test]
    async fn exits_complete_or_fail() {
        let mut h = Harness::start(FakeExecutor::new());
        h.send(complete(
            1,
            1,
            vec![
                task("ok", TaskState::Running),
                task("bad", TaskState::Running),
            ],
        ))
        .await;
        h.wait_for("ok", TaskState::Running).await;
        h.wait_for("bad", TaskState::Running).await;
        exit(&h, "ok", 0);
        exit(&h, "bad", 3);
        let ok = h.wait_for("ok", TaskState::Complete).await;
        assert_eq!((ok.message.as_str(), ok.exit_code), ("finished", Some(0)));
        let bad = h.wait_for("bad", TaskState::Failed).await;
        assert_eq!(bad.exit_code, Some(3));
        assert_eq!(bad.err, "task: non-zero exit (3)");
        // Terminal tasks keep their containers (for logs) while assigned.
        assert_eq!(h.ex.with(|s| s.containers.len()), 2);
        h.finish().await;
    }

    #[tokio::test]
    async fn desired_shutdown_stops_the_container() {
        let mut h = Harness::start(FakeExecutor::new());
        h.send(complete(1, 1, vec![task("a", TaskState::Running)]))
            .await;
        h.wait_for("a", TaskState::Running).await;
        h.send(incremental(
            1,
            2,
            vec![task("a", TaskState::Shutdown)],
            vec![],
        ))
        .await;
        let st = h.wait_for("a", TaskState::Shutdown).await;
        assert_eq!(st.message, "shutdown");
        assert_eq!(h.ex.with(|s| s.stops), 1);
        h.finish().await;
    }

    #[tokio::test]
    async fn removal_from_the_set_removes_the_container() {
        let mut h = Harness::start(FakeExecutor::new());
        h.send(complete(1, 1, vec![task("a", TaskState::Running)]))
            .await;
        h.wait_for("a", TaskState::Running).await;
        h.send(incremental(1, 2, vec![], vec!["a"])).await;
        h.eventually("container removed", |s| s.containers.is_empty())
            .await;
        assert_eq!(h.ex.with(|s| (s.stops, s.removes)), (1, 1));
        h.finish().await;
    }

    #[tokio::test]
    async fn stale_update_is_ignored() {
        let mut h = Harness::start(FakeExecutor::new());
        h.send(complete(2, 10, vec![task("a", TaskState::Running)]))
            .await;
        h.wait_for("a", TaskState::Running).await;
        // Older term: would remove "a" if applied.
        h.send(complete(1, 50, vec![])).await;
        // Same term, lower index: would shut "a" down if applied.
        h.send(incremental(
            2,
            9,
            vec![task("a", TaskState::Shutdown)],
            vec![],
        ))
        .await;
        h.send(incremental(
            2,
            11,
            vec![task("b", TaskState::Running)],
            vec![],
        ))
        .await;
        h.wait_for("b", TaskState::Running).await;
        tokio::time::sleep(TICK * 5).await;
        assert_eq!(h.ex.with(|s| (s.stops, s.removes)), (0, 0));
        assert!(!h.states("a").contains(&TaskState::Shutdown));
        h.finish().await;
    }

    #[tokio::test]
    async fn running_container_is_readopted_not_recreated() {
        let ex = FakeExecutor::new();
        ex.with(|s| {
            s.containers.insert(
                TaskId::from("x"),
                ContainerState::Running {
                    health: Health::None,
                },
            )
        });
        let mut h = Harness::start(ex);
        h.send(complete(1, 1, vec![task("x", TaskState::Running)]))
            .await;
        h.wait_for("x", TaskState::Running).await;
        tokio::time::sleep(TICK * 5).await;
        assert_eq!(h.ex.with(|s| (s.creates, s.starts)), (0, 0));
        h.finish().await;
    }

    #[tokio::test]
    async fn orphan_containers_are_removed_after_the_first_complete_update() {
        let ex = FakeExecutor::new();
        ex.with(|s| {
            s.containers.insert(
                TaskId::from("orphan"),
                ContainerState::Running {
                    health: Health::None,
                },
            )
        });
        let mut h = Harness::start(ex);
        h.send(complete(1, 1, vec![task("a", TaskState::Running)]))
            .await;
        h.wait_for("a", TaskState::Running).await;
        h.eventually("orphan removed", |s| {
            !s.containers.contains_key(&TaskId::from("orphan"))
        })
        .await;
        assert!(h.states("orphan").is_empty(), "orphans have no status");
        h.finish().await;
    }

    #[tokio::test]
    async fn missing_image_rejects_the_task() {
        let ex = FakeExecutor::new();
        ex.with(|s| s.missing_images.insert("busybox".into()));
        let mut h = Harness::start(ex);
        h.send(complete(1, 1, vec![task("a", TaskState::Running)]))
            .await;
        let st = h.wait_for("a", TaskState::Rejected).await;
        assert_eq!(st.err, "No such image: busybox");
        assert_eq!(h.ex.with(|s| s.creates), 0);
        h.finish().await;
    }

    #[tokio::test]
    async fn unhealthy_container_fails_the_task() {
        let ex = FakeExecutor::new();
        ex.with(|s| s.health_on_start = Health::Unhealthy);
        let mut h = Harness::start(ex);
        h.send(complete(1, 1, vec![task("a", TaskState::Running)]))
            .await;
        let st = h.wait_for("a", TaskState::Failed).await;
        assert_eq!(st.err, "unhealthy container");
        assert!(!h.states("a").contains(&TaskState::Running));
        assert_eq!(h.ex.with(|s| s.stops), 1);
        h.finish().await;
    }
}
