//! Services: create, get, list, update (or roll back), remove.

use crate::error::{invalid, status, undecodable};
use flotilla_model::{
    Kind, Meta, Object, Service, ServiceId, ServiceSpec, TaskState, UpdateState, UpdateStatus,
    Version,
};
use flotilla_proto::convert::required;
use flotilla_proto::pb;
use flotilla_state::{ReadTx, Store, StoreError};
use std::collections::BTreeMap;
use tonic::Status;

fn spec_from(p: Option<pb::ServiceSpec>) -> Result<ServiceSpec, Status> {
    let spec: ServiceSpec = required(p, "spec").map_err(undecodable)?;
    spec.validate().map_err(invalid)?;
    Ok(spec)
}

/// Validates and stores a new service.
pub async fn create<S: Store>(s: &S, req: pb::CreateServiceRequest) -> Result<pb::Service, Status> {
    let spec = spec_from(req.spec)?;
    let id = ServiceId::from_random(crate::new_id());
    let svc = Service {
        id: id.clone(),
        meta: Meta::default(),
        spec,
        previous_spec: None,
        update_status: None,
    };
    s.update(move |tx| tx.create(svc)).await.map_err(status)?;
    get(s, id.as_str()).await
}

/// One service by id, name or id prefix.
pub async fn get<S: Store>(s: &S, reference: &str) -> Result<pb::Service, Status> {
    s.linearizable_view(|t| {
        t.resolve(Kind::Service, reference)
            .map(|o| o.as_service().cloned())
    })
    .await
    .map_err(status)?
    .map_err(status)?
    .map(Into::into)
    .ok_or_else(|| Status::internal("resolved object is not a service"))
}

/// Every service, with its running task count.
pub async fn list<S: Store>(s: &S) -> Result<pb::ListServicesResponse, Status> {
    s.linearizable_view(|t| {
        let mut running_tasks = BTreeMap::new();
        let services = t
            .services()
            .into_iter()
            .map(|svc| {
                let running = t
                    .tasks_of_service(svc.id.as_str())
                    .iter()
                    .filter(|task| task.status.state == TaskState::Running)
                    .count() as u64;
                running_tasks.insert(svc.id.to_string(), running);
                pb::Service::from(svc.clone())
            })
            .collect();
        pb::ListServicesResponse {
            services,
            running_tasks,
        }
    })
    .await
    .map_err(status)
}

/// Replaces a service's spec (or restores the previous one), refusing a stale version.
pub async fn update<S: Store>(s: &S, req: pb::UpdateServiceRequest) -> Result<pb::Service, Status> {
    let given = Version(req.version);
    let new_spec = if req.rollback {
        None
    } else {
        Some(spec_from(req.spec)?)
    };
    let reference = req.service_ref;
    let (id, _) = s
        .update(move |tx| {
            let cur = tx
                .resolve(Kind::Service, &reference)?
                .as_service()
                .cloned()
                .ok_or_else(|| StoreError::NotFound {
                    kind: Kind::Service,
                    id: reference.clone(),
                })?;
            if cur.meta.version != given {
                return Err(StoreError::Conflict {
                    kind: Kind::Service,
                    id: cur.id.to_string(),
                    given,
                    current: cur.meta.version,
                });
            }
            let rollback = new_spec.is_none();
            let spec = match new_spec {
                Some(spec) => spec,
                None => cur.previous_spec.clone().ok_or_else(|| {
                    StoreError::Invalid(flotilla_model::ValidationError::new(
                        "rollback",
                        format!(
                            "service {} has no previous spec to roll back to",
                            cur.spec.name
                        ),
                    ))
                })?,
            };
            check_immutable(&cur.spec, &spec)?;
            let mut next = cur.clone();
            if let Some(status) = rollout_status(&cur.spec, &spec, rollback) {
                next.update_status = Some(status);
            }
            next.previous_spec = Some(cur.spec);
            next.spec = spec;
            let id = next.id.clone();
            tx.update(next)?;
            Ok(id)
        })
        .await
        .map_err(status)?;
    get(s, id.as_str()).await
}

/// The update status a spec change starts, or `None` to leave the current one: a rollback that
/// changes the spec is a manually requested rollback; an update that changes the task template
/// (what makes running tasks out of date) starts a rolling update. Other changes (a new replica
/// count, labels) replace no task, and an unchanged spec changes nothing, so the status is kept.
fn rollout_status(cur: &ServiceSpec, next: &ServiceSpec, rollback: bool) -> Option<UpdateStatus> {
    let (state, message) = match rollback {
        true if cur != next => (UpdateState::RollbackStarted, "manually requested rollback"),
        false if cur.task_template != next.task_template => {
            (UpdateState::Updating, "update in progress")
        }
        _ => return None,
    };
    Some(UpdateStatus {
        state,
        started_at: flotilla_state::store::now(),
        completed_at: None,
        message: message.to_owned(),
    })
}

/// What `service update` may not change: the name and the kind of mode.
fn check_immutable(cur: &ServiceSpec, next: &ServiceSpec) -> Result<(), StoreError> {
    if cur.name != next.name {
        return Err(StoreError::Invalid(flotilla_model::ValidationError::new(
            "spec.name",
            "renaming a service is not supported",
        )));
    }
    if std::mem::discriminant(&cur.mode) != std::mem::discriminant(&next.mode) {
        return Err(StoreError::Invalid(flotilla_model::ValidationError::new(
            "spec.mode",
            format!(
                "service mode change is not allowed ({} to {})",
                cur.mode.name(),
                next.mode.name()
            ),
        )));
    }
    Ok(())
}

/// Removes a service; its tasks are marked for removal.
pub async fn remove<S: Store>(s: &S, reference: &str) -> Result<pb::RemoveServiceResponse, Status> {
    let reference = reference.to_owned();
    s.update(move |tx| {
        let svc = tx.resolve(Kind::Service, &reference)?.id().to_owned();
        let tasks: Vec<_> = tx.tasks_of_service(&svc).into_iter().cloned().collect();
        for mut task in tasks {
            if task.desired_state < TaskState::Remove {
                task.desired_state = TaskState::Remove;
                tx.update(Object::from(task))?;
            }
        }
        tx.delete(Kind::Service, &svc)
    })
    .await
    .map_err(status)?;
    Ok(pb::RemoveServiceResponse {})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollout_status_follows_what_changed() {
        let cur = ServiceSpec::default();
        let mut new_image = cur.clone();
        new_image.task_template.container_spec.image = "busybox:2".into();
        let mut scaled = cur.clone();
        scaled.mode = flotilla_model::ServiceMode::Replicated { replicas: 7 };

        let s = rollout_status(&cur, &new_image, false).expect("template change starts an update");
        assert_eq!(s.state, UpdateState::Updating);
        assert_eq!(s.message, "update in progress");
        assert_eq!(s.completed_at, None);
        assert!(
            rollout_status(&cur, &scaled, false).is_none(),
            "scaling replaces no task"
        );
        assert!(
            rollout_status(&cur, &cur, false).is_none(),
            "no change, status kept"
        );

        let s = rollout_status(&new_image, &cur, true).expect("rollback that changes the spec");
        assert_eq!(s.state, UpdateState::RollbackStarted);
        assert_eq!(s.message, "manually requested rollback");
        assert!(rollout_status(&cur, &cur, true).is_none());
    }
}
