//! Services: create, get, list, update (or roll back), remove.

use crate::error::{invalid, status, undecodable};
use flotilla_model::{Kind, Meta, Object, Service, ServiceId, ServiceSpec, TaskState, Version};
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
