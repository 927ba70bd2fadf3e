//! Object builders shared by the unit tests.

use flotilla_model::{
    ContainerSpec, Meta, Node, NodeDescription, NodeId, NodeSpec, NodeState, NodeStatus, Platform,
    Service, ServiceId, ServiceMode, ServiceSpec, Task, TaskId, TaskSpec, TaskState, TaskStatus,
};

/// One GiB in bytes.
pub(crate) const GIB: u64 = 1024 * 1024 * 1024;

/// A READY, ACTIVE worker with 4 CPUs and 8 GiB, on linux/x86_64.
pub(crate) fn node(id: &str) -> Node {
    Node {
        id: NodeId::from(id),
        meta: Meta::default(),
        spec: NodeSpec::default(),
        description: NodeDescription {
            hostname: format!("host-{id}"),
            platform: Platform {
                os: "linux".to_owned(),
                architecture: "x86_64".to_owned(),
            },
            nano_cpus: 4_000_000_000,
            memory_bytes: 8 * GIB,
            engine_version: String::new(),
        },
        status: NodeStatus {
            state: NodeState::Ready,
            message: String::new(),
            addr: String::new(),
        },
        manager_status: None,
        raft_id: 0,
    }
}

/// A replicated service of image `busybox`.
pub(crate) fn service(id: &str, name: &str, replicas: u64) -> Service {
    Service {
        id: ServiceId::from(id),
        meta: Meta::default(),
        spec: ServiceSpec {
            name: name.to_owned(),
            task_template: TaskSpec {
                container_spec: ContainerSpec {
                    image: "busybox".to_owned(),
                    ..Default::default()
                },
                ..Default::default()
            },
            mode: ServiceMode::Replicated { replicas },
            ..Default::default()
        },
        previous_spec: None,
        update_status: None,
    }
}

/// A PENDING task of `service` in slot 1, desired RUNNING, on no node.
pub(crate) fn task(id: &str, service: &str) -> Task {
    Task {
        id: TaskId::from(id),
        meta: Meta::default(),
        service_id: ServiceId::from(service),
        slot: 1,
        node_id: None,
        spec: TaskSpec::default(),
        spec_version: 0,
        desired_state: TaskState::Running,
        status: TaskStatus {
            state: TaskState::Pending,
            ..TaskStatus::default()
        },
    }
}
