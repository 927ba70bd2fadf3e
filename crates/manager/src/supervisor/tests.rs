//! The supervisor end to end over a `MemStore`, with the real orchestrator and scheduler.
//! Every wait is bounded by [`PATIENCE`].

use super::*;
use crate::testutil::{GIB, node, service, task};
use flotilla_model::{Kind, NodeId, Object, ServiceMode, Task, TaskState};
use flotilla_state::{MemStore, ReadTx};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::task::JoinHandle;

/// The longest any test waits for the supervisor.
const PATIENCE: Duration = Duration::from_secs(5);
/// How long a test watches for writes that must not happen.
const QUIET: Duration = Duration::from_millis(200);

struct Harness {
    store: MemStore,
    leading: Arc<AtomicBool>,
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

impl Harness {
    fn start(store: &MemStore, leading: bool) -> Self {
        let leading = Arc::new(AtomicBool::new(leading));
        let probe = leading.clone();
        let (stop, rx) = watch::channel(false);
        let config = Config {
            leader_poll: Duration::from_millis(10),
            ..Config::default()
        };
        let handle = tokio::spawn(run_with(
            config,
            store.clone(),
            Arc::new(move || probe.load(Ordering::SeqCst)),
            rx,
        ));
        Self {
            store: store.clone(),
            leading,
            stop,
            handle,
        }
    }

    fn set_leading(&self, leading: bool) {
        self.leading.store(leading, Ordering::SeqCst);
    }

    async fn shutdown(self) {
        let _ = self.stop.send(true);
        tokio::time::timeout(PATIENCE, self.handle)
            .await
            .expect("the supervisor stops")
            .expect("the supervisor did not panic");
    }

    /// Waits until `f` finds what it looks for.
    async fn until<T>(&self, what: &str, f: impl Fn(&Tables) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(v) = self.store.view(|t| f(t)) {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Asserts that nothing is written for a while.
    async fn assert_quiet(&self) {
        let before = self.store.view(Tables::version);
        tokio::time::sleep(QUIET).await;
        assert_eq!(
            self.store.view(Tables::version),
            before,
            "nothing should be written"
        );
    }
}

async fn seed(store: &MemStore, objects: Vec<Object>) {
    store
        .update(move |tx| {
            for o in objects {
                tx.create(o)?;
            }
            Ok(())
        })
        .await
        .expect("seeded");
}

fn tasks_of(t: &Tables, service: &str) -> Vec<Task> {
    t.tasks_of_service(service).into_iter().cloned().collect()
}

fn all_in(tasks: &[Task], state: TaskState) -> bool {
    tasks.iter().all(|t| t.status.state == state)
}

async fn scale(store: &MemStore, service: &str, replicas: u64) {
    let id = service.to_owned();
    store
        .update(move |tx| {
            let mut s = tx.service(&id).cloned().expect("the service exists");
            s.spec.mode = ServiceMode::Replicated { replicas };
            tx.update(s)
        })
        .await
        .expect("scaled");
}

/// Starts a leader over two nodes and `service` with `replicas`, and waits until every task is
/// assigned.
async fn converged(replicas: u64) -> Harness {
    let store = MemStore::new();
    seed(
        &store,
        vec![
            node("n1").into(),
            node("n2").into(),
            service("s1", "web", replicas).into(),
        ],
    )
    .await;
    let h = Harness::start(&store, true);
    h.until("every task assigned", |t| {
        let tasks = tasks_of(t, "s1");
        (tasks.len() as u64 == replicas && all_in(&tasks, TaskState::Assigned)).then_some(())
    })
    .await;
    h
}

#[tokio::test]
async fn replicas_are_created_and_spread_over_the_ready_nodes() {
    let h = converged(3).await;
    let nodes: BTreeSet<NodeId> = h
        .store
        .view(|t| tasks_of(t, "s1"))
        .into_iter()
        .filter_map(|t| t.node_id)
        .collect();
    assert_eq!(nodes.len(), 2, "the tasks are spread over both nodes");
    h.assert_quiet().await;
    h.shutdown().await;
}

#[tokio::test]
async fn scaling_down_removes_the_surplus_tasks() {
    let h = converged(3).await;
    scale(&h.store, "s1", 1).await;
    h.until("two tasks told to REMOVE", |t| {
        let tasks = tasks_of(t, "s1");
        let removed = tasks
            .iter()
            .filter(|x| x.desired_state == TaskState::Remove)
            .count();
        let live = tasks
            .iter()
            .filter(|x| x.desired_state == TaskState::Running)
            .count();
        (removed == 2 && live == 1).then_some(())
    })
    .await;
    h.shutdown().await;
}

#[tokio::test]
async fn tasks_that_fit_nowhere_stay_pending_with_the_reason() {
    let store = MemStore::new();
    let mut big = service("s1", "big", 2);
    big.spec.task_template.resources.reserve_memory_bytes = 1024 * GIB;
    seed(
        &store,
        vec![node("n1").into(), node("n2").into(), big.into()],
    )
    .await;
    let h = Harness::start(&store, true);
    let reason = h
        .until("two unschedulable tasks", |t| {
            let tasks = tasks_of(t, "s1");
            let explained = tasks.len() == 2
                && all_in(&tasks, TaskState::Pending)
                && tasks.iter().all(|x| !x.status.err.is_empty());
            explained.then(|| tasks[0].status.err.clone())
        })
        .await;
    assert!(reason.contains("no suitable node"), "{reason}");
    // The explanation is written once, not pass after pass.
    h.assert_quiet().await;
    h.shutdown().await;
}

#[tokio::test]
async fn only_the_leader_acts() {
    let store = MemStore::new();
    seed(
        &store,
        vec![node("n1").into(), service("s1", "web", 2).into()],
    )
    .await;
    let h = Harness::start(&store, false);
    h.assert_quiet().await;
    assert!(h.store.view(|t| tasks_of(t, "s1")).is_empty());

    h.set_leading(true);
    h.until("tasks of the new leader", |t| {
        let tasks = tasks_of(t, "s1");
        (tasks.len() == 2 && all_in(&tasks, TaskState::Assigned)).then_some(())
    })
    .await;

    // Leadership lost: a change is left alone until it comes back.
    h.set_leading(false);
    scale(&h.store, "s1", 1).await;
    h.assert_quiet().await;
    h.set_leading(true);
    h.until("the scale-down by the new leader", |t| {
        let removed = tasks_of(t, "s1")
            .iter()
            .filter(|x| x.desired_state == TaskState::Remove)
            .count();
        (removed == 1).then_some(())
    })
    .await;
    h.shutdown().await;
}

#[tokio::test]
async fn a_deleted_service_has_its_tasks_stopped_then_deleted() {
    let h = converged(2).await;
    h.store
        .update(|tx| tx.delete(Kind::Service, "s1"))
        .await
        .expect("deleted");
    h.until("every task told to REMOVE", |t| {
        let tasks = tasks_of(t, "s1");
        (tasks.len() == 2 && tasks.iter().all(|x| x.desired_state == TaskState::Remove))
            .then_some(())
    })
    .await;

    // The agents report the tasks stopped.
    h.store
        .update(|tx| {
            let tasks: Vec<Task> = tx.tasks_of_service("s1").into_iter().cloned().collect();
            for mut t in tasks {
                t.advance(TaskState::Shutdown, now(), "stopped")
                    .expect("forward");
                tx.update(t)?;
            }
            Ok(())
        })
        .await
        .expect("stopped");
    h.until("the tasks deleted", |t| {
        t.tasks_of_service("s1").is_empty().then_some(())
    })
    .await;
    h.shutdown().await;
}

#[tokio::test]
async fn a_new_leader_cleans_up_tasks_of_services_that_are_gone() {
    let store = MemStore::new();
    seed(&store, vec![node("n1").into(), task("t1", "gone").into()]).await;
    let h = Harness::start(&store, true);
    h.until("the orphaned task deleted", |t| {
        t.task("t1").is_none().then_some(())
    })
    .await;
    h.shutdown().await;
}

#[tokio::test]
async fn stopping_ends_the_follower_and_the_leader() {
    let store = MemStore::new();
    Harness::start(&store, false).shutdown().await;
    Harness::start(&store, true).shutdown().await;
}

#[test]
fn timestamps_and_durations() {
    let t = Timestamp(1_000);
    assert_eq!(after(t, Duration::from_nanos(5)), Timestamp(1_005));
    assert_eq!(until(t, Timestamp(1_500)), Duration::from_nanos(500));
    assert_eq!(until(t, Timestamp(10)), Duration::ZERO);
    assert!(is_stale(&StoreError::Conflict {
        kind: Kind::Task,
        id: "t".into(),
        given: flotilla_model::Version(1),
        current: flotilla_model::Version(2),
    }));
    assert!(!is_stale(&StoreError::Unavailable("x".into())));
}
