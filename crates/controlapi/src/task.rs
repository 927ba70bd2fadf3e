//! Tasks: list with filters, get.

use crate::error::{status, undecodable};
use flotilla_model::{Kind, TaskState};
use flotilla_proto::convert::task::task_state_from_wire;
use flotilla_proto::pb;
use flotilla_state::{ReadTx, Store};
use tonic::Status;

/// Tasks matching every filter given.
pub async fn list<S: Store>(
    s: &S,
    req: pb::ListTasksRequest,
) -> Result<pb::ListTasksResponse, Status> {
    let desired: Vec<TaskState> = req
        .desired_states
        .iter()
        .enumerate()
        .map(|(i, v)| task_state_from_wire(*v, &format!("desired_states[{i}]")))
        .collect::<Result<_, _>>()
        .map_err(undecodable)?;
    s.linearizable_view(move |t| {
        let service = match &req.service_ref {
            Some(r) => Some(t.resolve(Kind::Service, r)?.id().to_owned()),
            None => None,
        };
        let node = match &req.node_ref {
            Some(r) => Some(t.resolve(Kind::Node, r)?.id().to_owned()),
            None => None,
        };
        let candidates = match (&service, &node) {
            (Some(s), _) => t.tasks_of_service(s),
            (None, Some(n)) => t.tasks_of_node(n),
            (None, None) => t.tasks(),
        };
        let tasks = candidates
            .into_iter()
            .filter(|task| {
                node.as_deref()
                    .is_none_or(|n| task.node_id.as_ref().is_some_and(|x| x.as_str() == n))
            })
            .filter(|task| desired.is_empty() || desired.contains(&task.desired_state))
            .cloned()
            .map(Into::into)
            .collect();
        Ok(pb::ListTasksResponse { tasks })
    })
    .await
    .map_err(status)?
    .map_err(status)
}

/// One task by id or id prefix.
pub async fn get<S: Store>(s: &S, reference: &str) -> Result<pb::Task, Status> {
    s.linearizable_view(|t| {
        t.resolve(Kind::Task, reference)
            .map(|o| o.as_task().cloned())
    })
    .await
    .map_err(status)?
    .map_err(status)?
    .map(Into::into)
    .ok_or_else(|| Status::internal("resolved object is not a task"))
}
