//! The conformance suite every [`Store`] implementation must pass.
//!
//! Call [`run_all`] from a test with a factory that makes a fresh, empty, writable store. The
//! checks are behavioural: they fail if a store loses writes, accepts stale versions, applies a
//! refused transaction partly, or delivers watch events out of order.

use crate::error::StoreError;
use crate::store::Store;
use crate::tx::ReadTx;
use flotilla_model::{
    ContainerSpec, Kind, Meta, NodeId, Object, Service, ServiceId, ServiceSpec, Task, TaskId,
    TaskSpec, TaskState, TaskStatus, Version,
};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// A service object named `name` with id `id`, not yet stored.
pub fn service(id: &str, name: &str) -> Service {
    Service {
        id: ServiceId::from(id),
        meta: Meta::default(),
        spec: ServiceSpec {
            name: name.to_owned(),
            task_template: TaskSpec {
                container_spec: ContainerSpec {
                    image: "busybox".into(),
                    ..Default::default()
                },
                ..Default::default()
            },
            ..Default::default()
        },
        previous_spec: None,
        update_status: None,
    }
}

/// A task of `service` with id `id`, not yet stored.
pub fn task(id: &str, service: &str, node: Option<&str>) -> Task {
    Task {
        id: TaskId::from(id),
        meta: Meta::default(),
        service_id: ServiceId::from(service),
        slot: 1,
        node_id: node.map(NodeId::from),
        spec: TaskSpec::default(),
        spec_version: 1,
        desired_state: TaskState::Running,
        status: TaskStatus::default(),
    }
}

/// Runs every check, each on a fresh store from `make`.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: Store,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    create_then_read(&make().await).await;
    duplicate_name_refused_and_nothing_written(&make().await).await;
    stale_update_refused(&make().await).await;
    delete_checks_version(&make().await).await;
    versions_increase(&make().await).await;
    resolve_by_id_name_prefix(&make().await).await;
    task_indexes_follow_updates(&make().await).await;
    watch_sees_every_commit_in_order(&make().await).await;
    concurrent_read_modify_write_loses_nothing(Arc::new(make().await)).await;
}

async fn create_then_read<S: Store>(s: &S) {
    let ((), v) = s
        .update(|tx| tx.create(service("s1", "web")))
        .await
        .expect("create");
    assert!(v > Version(0), "a commit must produce a positive version");
    let got = s
        .linearizable_view(|t| t.service("s1").cloned())
        .await
        .expect("read");
    let got = got.expect("created service must be readable");
    assert_eq!(got.spec.name, "web");
    assert_eq!(got.meta.version, v, "meta.version is the commit version");
    assert!(got.meta.created_at.as_nanos() > 0, "created_at is stamped");
}

async fn duplicate_name_refused_and_nothing_written<S: Store>(s: &S) {
    s.update(|tx| tx.create(service("s1", "web")))
        .await
        .expect("create");
    let before = s.view(|t| t.version());
    let err = s
        .update(|tx| {
            tx.create(service("s2", "api"))?;
            tx.create(service("s3", "web"))
        })
        .await
        .expect_err("a second service named web must be refused");
    assert!(
        matches!(err, StoreError::NameConflict { .. }),
        "got {err:?}"
    );
    s.view(|t| {
        assert!(
            t.service("s2").is_none(),
            "refused transaction must write nothing"
        );
        assert_eq!(t.version(), before);
    });
    // The same refusal when the conflict is only discovered at commit: two creates in one
    // changeset that the transaction itself let through cannot both land.
    let err = s
        .update(|tx| tx.create(service("s1", "other")))
        .await
        .expect_err("id reuse");
    assert!(
        matches!(err, StoreError::AlreadyExists { .. }),
        "got {err:?}"
    );
}

async fn stale_update_refused<S: Store>(s: &S) {
    s.update(|tx| tx.create(service("s1", "web")))
        .await
        .expect("create");
    let stale = s.view(|t| t.service("s1").cloned()).expect("exists");
    let mut first = stale.clone();
    first.spec.labels.insert("a".into(), "1".into());
    s.update(move |tx| tx.update(first))
        .await
        .expect("first update");
    let mut second = stale;
    second.spec.labels.insert("b".into(), "2".into());
    let err = s
        .update(move |tx| tx.update(second))
        .await
        .expect_err("stale update");
    assert!(matches!(err, StoreError::Conflict { .. }), "got {err:?}");
    let now = s.view(|t| t.service("s1").cloned()).expect("exists");
    assert_eq!(now.spec.labels.get("a").map(String::as_str), Some("1"));
    assert!(
        !now.spec.labels.contains_key("b"),
        "refused update must leave the service as it was"
    );
}

async fn delete_checks_version<S: Store>(s: &S) {
    s.update(|tx| tx.create(service("s1", "web")))
        .await
        .expect("create");
    s.update(|tx| tx.delete(Kind::Service, "s1"))
        .await
        .expect("delete");
    assert!(s.view(|t| t.service("s1").is_none()));
    let err = s
        .update(|tx| tx.delete(Kind::Service, "s1"))
        .await
        .expect_err("gone");
    assert!(matches!(err, StoreError::NotFound { .. }), "got {err:?}");
    // The name is free again.
    s.update(|tx| tx.create(service("s2", "web")))
        .await
        .expect("name reuse after delete");
}

async fn versions_increase<S: Store>(s: &S) {
    let mut last = Version(0);
    for i in 0..5 {
        let ((), v) = s
            .update(move |tx| tx.create(service(&format!("s{i}"), &format!("n{i}"))))
            .await
            .expect("create");
        assert!(
            v > last,
            "versions must strictly increase: {v:?} after {last:?}"
        );
        last = v;
    }
    let ((), v) = s.update(|_| Ok(())).await.expect("empty tx");
    assert_eq!(v, last, "an empty transaction commits nothing");
}

async fn resolve_by_id_name_prefix<S: Store>(s: &S) {
    s.update(|tx| {
        tx.create(service("abc123", "web"))?;
        tx.create(service("abd456", "api"))
    })
    .await
    .expect("create");
    s.view(|t| {
        assert_eq!(
            t.resolve(Kind::Service, "abc123").map(Object::id),
            Ok("abc123")
        );
        assert_eq!(
            t.resolve(Kind::Service, "api").map(Object::id),
            Ok("abd456")
        );
        assert_eq!(
            t.resolve(Kind::Service, "abc").map(Object::id),
            Ok("abc123")
        );
        assert!(matches!(
            t.resolve(Kind::Service, "ab"),
            Err(StoreError::Ambiguous { matches: 2, .. })
        ));
        assert!(matches!(
            t.resolve(Kind::Service, "zzz"),
            Err(StoreError::NotFound { .. })
        ));
    });
}

async fn task_indexes_follow_updates<S: Store>(s: &S) {
    s.update(|tx| {
        tx.create(service("s1", "web"))?;
        tx.create(task("t1", "s1", None))?;
        tx.create(task("t2", "s1", Some("n1")))
    })
    .await
    .expect("create");
    s.view(|t| {
        assert_eq!(t.tasks_of_service("s1").len(), 2);
        assert_eq!(t.tasks_of_node("n1").len(), 1);
    });
    let mut t1 = s.view(|t| t.task("t1").cloned()).expect("t1");
    t1.node_id = Some(NodeId::from("n1"));
    s.update(move |tx| {
        tx.update(t1)?;
        // Reads inside the transaction see its own write.
        assert_eq!(tx.tasks_of_node("n1").len(), 2);
        Ok(())
    })
    .await
    .expect("assign");
    s.view(|t| assert_eq!(t.tasks_of_node("n1").len(), 2));
    s.update(|tx| tx.delete(Kind::Task, "t2"))
        .await
        .expect("delete");
    s.view(|t| {
        assert_eq!(t.tasks_of_node("n1").len(), 1);
        assert_eq!(t.tasks_of_service("s1").len(), 1);
    });
}

async fn watch_sees_every_commit_in_order<S: Store>(s: &S) {
    let ((), v1) = s
        .update(|tx| tx.create(service("s1", "a")))
        .await
        .expect("create");
    let mut from_start = s
        .watch(Version(v1.0.saturating_sub(1)))
        .expect("watch from before v1");
    let mut live = s.watch(v1).expect("watch from v1");
    let ((), v2) = s
        .update(|tx| tx.create(service("s2", "b")))
        .await
        .expect("create");
    let ((), v3) = s
        .update(|tx| tx.delete(Kind::Service, "s1"))
        .await
        .expect("delete");
    let c = next(&mut from_start).await;
    assert_eq!(c.version, v1);
    assert_eq!(next(&mut from_start).await.version, v2);
    assert_eq!(next(&mut from_start).await.version, v3);
    let c2 = next(&mut live).await;
    assert_eq!(c2.version, v2);
    assert_eq!(c2.events.len(), 1);
    assert_eq!(c2.events[0].object().id(), "s2");
    let c3 = next(&mut live).await;
    assert_eq!(c3.version, v3);
    assert!(matches!(c3.events[0], crate::Event::Deleted(_)));
}

async fn next(w: &mut crate::Watch) -> crate::changeset::SharedCommit {
    tokio::time::timeout(Duration::from_secs(10), w.next())
        .await
        .expect("watch event within 10 s")
        .expect("watch ok")
}

async fn concurrent_read_modify_write_loses_nothing<S: Store>(s: Arc<S>) {
    s.update(|tx| tx.create(service("s1", "counter")))
        .await
        .expect("create");
    let writers = 8;
    let per_writer = 5;
    let mut handles = Vec::new();
    for w in 0..writers {
        let s = s.clone();
        handles.push(tokio::spawn(async move {
            for i in 0..per_writer {
                loop {
                    let cur = s.view(|t| t.service("s1").cloned()).expect("exists");
                    let mut next = cur.clone();
                    next.spec.labels.insert(format!("w{w}-{i}"), String::new());
                    match s.update(move |tx| tx.update(next)).await {
                        Ok(_) => break,
                        Err(StoreError::Conflict { .. }) => tokio::task::yield_now().await,
                        Err(e) => panic!("unexpected error {e}"),
                    }
                }
            }
        }));
    }
    for h in handles {
        h.await.expect("writer task");
    }
    let labels = s.view(|t| t.service("s1").map(|s| s.spec.labels.len()));
    assert_eq!(
        labels,
        Some(writers * per_writer),
        "every acknowledged write must survive"
    );
}
