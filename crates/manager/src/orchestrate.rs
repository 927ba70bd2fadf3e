//! The orchestrator side of a pass: what one service looks like in a consistent view, the
//! [`Plan`] the pure orchestrator makes of it, and the one transaction that writes that plan.
//!
//! The transaction refuses to write a plan made from a stale view: the service must still be at
//! the version read (or still absent), updated tasks carry the version they were read at, and a
//! task is deleted only if it is still at the version read. A refusal is a
//! [`StoreError::Conflict`] or [`StoreError::NotFound`]; the supervisor retries with a fresh view.

use flotilla_model::{
    Kind, Node, Object, Service, ServiceId, Task, TaskId, TaskSpec, Timestamp, Version,
};
use flotilla_orchestrator::{Input, Plan, reconcile};
use flotilla_state::{ReadTx, Store, StoreError, Tables, WriteTx};
use std::collections::{BTreeSet, HashMap};

/// One service (or what is left of a deleted one) as read.
#[derive(Debug, Clone)]
pub(crate) struct Unit {
    /// The service id.
    pub(crate) id: ServiceId,
    /// The service; `None` once it was deleted.
    pub(crate) service: Option<Service>,
    /// Every task of the service.
    pub(crate) tasks: Vec<Task>,
}

/// What one orchestrator pass reads, from one consistent view.
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    /// Every node.
    pub(crate) nodes: Vec<Node>,
    /// The services to reconcile, in id order.
    pub(crate) units: Vec<Unit>,
}

/// Reads the services in `services` (every service and every task's service if `all`), their
/// tasks and every node. Services that neither exist nor have tasks are left out.
pub(crate) fn snapshot(t: &Tables, all: bool, services: &BTreeSet<ServiceId>) -> Snapshot {
    let mut ids = services.clone();
    if all {
        ids.extend(t.services().into_iter().map(|s| s.id.clone()));
        ids.extend(
            Tables::list(t, Kind::Task)
                .filter_map(Object::as_task)
                .map(|task| task.service_id.clone()),
        );
    }
    let mut units = Vec::with_capacity(ids.len());
    for id in ids {
        let service = t.service(id.as_str()).cloned();
        let tasks: Vec<Task> = t
            .tasks_of_service(id.as_str())
            .into_iter()
            .cloned()
            .collect();
        if service.is_some() || !tasks.is_empty() {
            units.push(Unit { id, service, tasks });
        }
    }
    let nodes = if units.is_empty() {
        Vec::new()
    } else {
        t.nodes().into_iter().cloned().collect()
    };
    Snapshot { nodes, units }
}

/// What the orchestrator wants done for `unit` at `now`; new tasks get fresh random ids.
pub(crate) fn plan(unit: &Unit, nodes: &[Node], now: Timestamp, history_limit: usize) -> Plan {
    let eligible: &dyn Fn(&Node, &TaskSpec) -> bool = &flotilla_scheduler::node_eligible;
    let input = Input {
        service: unit.service.as_ref(),
        tasks: &unit.tasks,
        nodes,
        eligible,
        history_limit,
    };
    let mut new_id = || TaskId::from_random(rand::random::<u128>());
    reconcile(&input, now, &mut new_id)
}

/// Writes `plan`, made from `unit`, in one transaction.
pub(crate) async fn commit<S: Store>(store: &S, unit: &Unit, plan: Plan) -> Result<(), StoreError> {
    let service_id = unit.id.clone();
    let service_read = unit.service.as_ref().map(|s| s.meta.version);
    let read: HashMap<&str, Version> = unit
        .tasks
        .iter()
        .map(|t| (t.id.as_str(), t.meta.version))
        .collect();
    let Plan {
        create,
        update,
        delete,
        service,
        ..
    } = plan;
    let mut deletes: Vec<(TaskId, Version)> = Vec::with_capacity(delete.len());
    for id in delete {
        match read.get(id.as_str()) {
            Some(v) => deletes.push((id, *v)),
            None => {
                tracing::debug!(task_id = %id, "the orchestrator deleted a task it was not shown")
            }
        }
    }
    store
        .update(move |tx| {
            check_service(tx, &service_id, service_read)?;
            for task in update {
                tx.update(task)?;
            }
            for (id, version) in &deletes {
                check_task(tx, id, *version)?;
                tx.delete(Kind::Task, id.as_str())?;
            }
            for task in create {
                tx.create(task)?;
            }
            if let Some(s) = service {
                tx.update(s)?;
            }
            Ok(())
        })
        .await
        .map(|((), _version)| ())
}

/// The service must be as read: at the same version, or still absent.
fn check_service(
    tx: &WriteTx<'_>,
    id: &ServiceId,
    read: Option<Version>,
) -> Result<(), StoreError> {
    let current = tx.service(id.as_str()).map(|s| s.meta.version);
    match (read, current) {
        (r, c) if r == c => Ok(()),
        (_, None) => Err(StoreError::NotFound {
            kind: Kind::Service,
            id: id.to_string(),
        }),
        (r, Some(current)) => Err(StoreError::Conflict {
            kind: Kind::Service,
            id: id.to_string(),
            given: r.unwrap_or_default(),
            current,
        }),
    }
}

/// The task must still be at the version read.
fn check_task(tx: &WriteTx<'_>, id: &TaskId, read: Version) -> Result<(), StoreError> {
    match tx.task(id.as_str()) {
        None => Err(StoreError::NotFound {
            kind: Kind::Task,
            id: id.to_string(),
        }),
        Some(t) if t.meta.version != read => Err(StoreError::Conflict {
            kind: Kind::Task,
            id: id.to_string(),
            given: read,
            current: t.meta.version,
        }),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{node, service, task};
    use flotilla_model::TaskState;
    use flotilla_state::MemStore;

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

    #[tokio::test]
    async fn snapshot_includes_orphaned_tasks_on_a_full_pass() {
        let store = MemStore::new();
        seed(
            &store,
            vec![
                node("n1").into(),
                service("s1", "web", 1).into(),
                task("t1", "s1").into(),
                task("t2", "gone").into(),
            ],
        )
        .await;
        let full = store.view(|t| snapshot(t, true, &BTreeSet::new()));
        let ids: Vec<&str> = full.units.iter().map(|u| u.id.as_str()).collect();
        assert_eq!(ids, ["gone", "s1"]);
        assert!(full.units[0].service.is_none());
        assert_eq!(full.units[1].tasks.len(), 1);
        assert_eq!(full.nodes.len(), 1);

        let some = store.view(|t| snapshot(t, false, &BTreeSet::from([ServiceId::from("nope")])));
        assert!(some.units.is_empty());
    }

    #[tokio::test]
    async fn a_plan_from_a_stale_view_is_refused() {
        let store = MemStore::new();
        seed(
            &store,
            vec![node("n1").into(), service("s1", "web", 2).into()],
        )
        .await;
        let snap = store.view(|t| snapshot(t, false, &BTreeSet::from([ServiceId::from("s1")])));
        let unit = &snap.units[0];
        let p = plan(unit, &snap.nodes, flotilla_state::store::now(), 5);
        assert_eq!(p.create.len(), 2);
        assert!(
            p.create
                .iter()
                .all(|t| t.status.state == TaskState::Pending)
        );

        // The service changes after it was read: the plan must not be written.
        store
            .update(|tx| {
                let mut s = tx.service("s1").cloned().expect("service");
                s.spec.mode = flotilla_model::ServiceMode::Replicated { replicas: 1 };
                tx.update(s)
            })
            .await
            .expect("scaled");
        let err = commit(&store, unit, p.clone()).await.expect_err("stale");
        assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
        assert_eq!(store.view(|t| t.tasks_of_service("s1").len()), 0);

        // From a fresh view it goes through.
        let snap = store.view(|t| snapshot(t, false, &BTreeSet::from([ServiceId::from("s1")])));
        let p = plan(&snap.units[0], &snap.nodes, flotilla_state::store::now(), 5);
        commit(&store, &snap.units[0], p).await.expect("committed");
        assert_eq!(store.view(|t| t.tasks_of_service("s1").len()), 1);
    }
}
