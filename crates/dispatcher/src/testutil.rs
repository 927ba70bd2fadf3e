//! Object builders shared by the unit tests.

use flotilla_model::{
    Meta, NodeId, Service, ServiceId, ServiceSpec, Task, TaskId, TaskSpec, TaskState, TaskStatus,
};

/// A task of service `svc`, desired RUNNING, observed in `state`, on `node`.
pub(crate) fn task(id: &str, node: Option<&str>, state: TaskState) -> Task {
    Task {
        id: TaskId::from(id),
        meta: Meta::default(),
        service_id: ServiceId::from("svc"),
        slot: 1,
        node_id: node.map(NodeId::from),
        spec: TaskSpec::default(),
        spec_version: 1,
        desired_state: TaskState::Running,
        status: TaskStatus {
            state,
            ..TaskStatus::default()
        },
    }
}

/// A service with a default spec.
pub(crate) fn service(id: &str, name: &str) -> Service {
    Service {
        id: ServiceId::from(id),
        meta: Meta::default(),
        spec: ServiceSpec {
            name: name.to_owned(),
            ..ServiceSpec::default()
        },
        previous_spec: None,
        update_status: None,
    }
}
