//! The batcher over a `MemStore`. Every wait is bounded by [`PATIENCE`].

use super::*;
use crate::testutil::task;
use flotilla_model::{Object, TaskState, Timestamp};
use flotilla_state::{MemStore, Tables};
use tokio::task::JoinHandle;

const PATIENCE: Duration = Duration::from_secs(5);
const TICK: Duration = Duration::from_millis(10);

async fn seeded(tasks: Vec<Task>) -> MemStore {
    let store = MemStore::new();
    store
        .update(move |tx| {
            for t in tasks {
                tx.create(Object::from(t))?;
            }
            Ok(())
        })
        .await
        .expect("seeded");
    store
}

fn status(state: TaskState, message: &str) -> TaskStatus {
    TaskStatus {
        state,
        timestamp: Timestamp(42),
        message: message.to_owned(),
        err: String::new(),
        exit_code: None,
    }
}

fn get(store: &MemStore, id: &str) -> Task {
    store
        .view(|t| t.task(id).cloned())
        .expect("the task exists")
}

fn version(store: &MemStore) -> Version {
    store.view(Tables::version)
}

struct Running {
    batcher: Arc<StatusBatcher<MemStore>>,
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

fn start(batcher: &Arc<StatusBatcher<MemStore>>) -> Running {
    let (stop, rx) = watch::channel(false);
    let handle = tokio::spawn(batcher.clone().run(rx));
    Running {
        batcher: batcher.clone(),
        stop,
        handle,
    }
}

impl Running {
    async fn submit(&self, node: &str, updates: Updates) -> Result<(), DispatchError> {
        tokio::time::timeout(PATIENCE, self.batcher.submit(&NodeId::from(node), updates))
            .await
            .expect("the batch commits in time")
    }

    async fn shutdown(self) {
        let _ = self.stop.send(true);
        tokio::time::timeout(PATIENCE, self.handle)
            .await
            .expect("the batcher stops")
            .expect("the batcher did not panic");
    }
}

#[test]
fn apply_status_moves_forward_only() {
    let mut running = task("t1", Some("n1"), TaskState::Running);
    running.status.message = "started".into();
    assert_eq!(
        apply_status(&running, &status(TaskState::Starting, "x")),
        None
    );
    assert_eq!(
        apply_status(&running, &status(TaskState::Running, "started")),
        None
    );

    let progress = apply_status(&running, &status(TaskState::Running, "healthy"))
        .expect("a new message in the same state is taken");
    assert_eq!(progress.status.message, "healthy");

    let mut failed = status(TaskState::Failed, "exited");
    failed.err = "boom".into();
    failed.exit_code = Some(3);
    let done = apply_status(&running, &failed).expect("forward");
    assert_eq!(done.status.state, TaskState::Failed);
    assert_eq!(done.status.err, "boom");
    assert_eq!(done.status.exit_code, Some(3));
    assert_eq!(done.status.timestamp, Timestamp(42));
    assert_eq!(done.desired_state, running.desired_state);

    // A finished task's status is final.
    let mut again = failed.clone();
    again.err = "other".into();
    assert_eq!(apply_status(&done, &again), None);
}

#[tokio::test]
async fn statuses_only_move_forward() {
    let mut t1 = task("t1", Some("n1"), TaskState::Running);
    t1.status.message = "started".into();
    let store = seeded(vec![t1]).await;
    let b = StatusBatcher::new(store.clone(), TICK);
    let r = start(&b);

    let v0 = version(&store);
    r.submit(
        "n1",
        vec![("t1".into(), status(TaskState::Starting, "late"))],
    )
    .await
    .expect("skipped, not failed");
    r.submit(
        "n1",
        vec![("t1".into(), status(TaskState::Running, "started"))],
    )
    .await
    .expect("skipped, not failed");
    assert_eq!(version(&store), v0, "nothing was written");
    assert_eq!(get(&store, "t1").status.state, TaskState::Running);

    let mut failed = status(TaskState::Failed, "exited");
    failed.exit_code = Some(1);
    failed.err = "task: non-zero exit (1)".into();
    r.submit("n1", vec![("t1".into(), failed)])
        .await
        .expect("committed");
    let t = get(&store, "t1");
    assert_eq!(t.status.state, TaskState::Failed);
    assert_eq!(t.status.exit_code, Some(1));
    assert_eq!(t.status.err, "task: non-zero exit (1)");
    r.shutdown().await;
}

#[tokio::test]
async fn a_status_from_another_node_is_ignored() {
    let store = seeded(vec![task("t1", Some("n2"), TaskState::Assigned)]).await;
    let b = StatusBatcher::new(store.clone(), TICK);
    let r = start(&b);
    let v0 = version(&store);
    r.submit(
        "n1",
        vec![("t1".into(), status(TaskState::Running, "mine?"))],
    )
    .await
    .expect("skipped, not failed");
    assert_eq!(version(&store), v0);
    assert_eq!(get(&store, "t1").status.state, TaskState::Assigned);
    r.shutdown().await;
}

#[tokio::test]
async fn a_missing_task_does_not_fail_the_batch() {
    let store = seeded(vec![task("t1", Some("n1"), TaskState::Assigned)]).await;
    let b = StatusBatcher::new(store.clone(), TICK);
    let r = start(&b);
    r.submit(
        "n1",
        vec![
            ("gone".into(), status(TaskState::Running, "running")),
            ("t1".into(), status(TaskState::Accepted, "accepted")),
        ],
    )
    .await
    .expect("committed");
    assert_eq!(get(&store, "t1").status.state, TaskState::Accepted);
    r.shutdown().await;
}

#[tokio::test]
async fn everything_queued_commits_as_one_transaction() {
    let store = seeded(vec![
        task("t1", Some("n1"), TaskState::Assigned),
        task("t2", Some("n1"), TaskState::Assigned),
        task("t3", Some("n2"), TaskState::Assigned),
    ])
    .await;
    let b = StatusBatcher::new(store.clone(), TICK);
    let submissions: Vec<(&str, Updates)> = vec![
        (
            "n1",
            vec![
                ("t1".into(), status(TaskState::Preparing, "preparing")),
                ("t1".into(), status(TaskState::Running, "started")),
            ],
        ),
        (
            "n1",
            vec![("t2".into(), status(TaskState::Running, "started"))],
        ),
        // Later but behind: the furthest state wins.
        (
            "n1",
            vec![("t2".into(), status(TaskState::Starting, "starting"))],
        ),
        (
            "n2",
            vec![("t3".into(), status(TaskState::Complete, "finished"))],
        ),
    ];
    let count = submissions.len();
    let mut waiting = Vec::new();
    for (node, updates) in submissions {
        let b = b.clone();
        let node = NodeId::from(node);
        waiting.push(tokio::spawn(async move { b.submit(&node, updates).await }));
    }
    let deadline = Instant::now() + PATIENCE;
    while b.queued_len() < count {
        assert!(Instant::now() < deadline, "the submissions were not queued");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }

    let v0 = version(&store);
    let mut watch = store.watch(v0).expect("watch");
    let r = start(&b);
    for w in waiting {
        tokio::time::timeout(PATIENCE, w)
            .await
            .expect("answered in time")
            .expect("no panic")
            .expect("committed");
    }
    assert_eq!(
        version(&store),
        Version(v0.0 + 1),
        "one commit for the whole batch"
    );
    let commit = tokio::time::timeout(PATIENCE, watch.next())
        .await
        .expect("the commit is seen")
        .expect("watch");
    assert_eq!(commit.events.len(), 3, "one change per task");

    assert_eq!(get(&store, "t1").status.state, TaskState::Running);
    assert_eq!(get(&store, "t2").status.state, TaskState::Running);
    assert_eq!(get(&store, "t3").status.state, TaskState::Complete);
    r.shutdown().await;
}

#[tokio::test]
async fn a_stopped_batcher_refuses_submissions() {
    let store = seeded(vec![task("t1", Some("n1"), TaskState::Assigned)]).await;
    let b = StatusBatcher::new(store.clone(), TICK);
    start(&b).shutdown().await;
    let err = b
        .submit(
            &NodeId::from("n1"),
            vec![("t1".into(), status(TaskState::Accepted, "accepted"))],
        )
        .await
        .expect_err("stopped");
    assert_eq!(err, DispatchError::Stopped);
    assert!(b.submit(&NodeId::from("n1"), Vec::new()).await.is_ok());
}
