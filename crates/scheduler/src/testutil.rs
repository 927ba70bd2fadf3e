//! Builders shared by the unit tests.

use flotilla_model::{
    EndpointMode, EndpointSpec, Meta, Node, NodeDescription, NodeSpec, NodeState, NodeStatus,
    Platform, PortConfig, PublishMode, Service, ServiceSpec, Task, TaskSpec, TaskState, TaskStatus,
};

/// One GiB in bytes.
pub(crate) const GIB: u64 = 1024 * 1024 * 1024;

/// A READY, ACTIVE worker with 4 CPUs and 8 GiB, on linux/x86_64.
pub(crate) fn node(id: &str, hostname: &str) -> Node {
    Node {
        id: id.into(),
        meta: Meta::default(),
        spec: NodeSpec::default(),
        description: NodeDescription {
            hostname: hostname.to_owned(),
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

/// A PENDING task of `service`, desired RUNNING, with no node.
pub(crate) fn task(id: &str, service: &str) -> Task {
    Task {
        id: id.into(),
        meta: Meta::default(),
        service_id: service.into(),
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

/// A RUNNING task of `service` on `node`.
pub(crate) fn running_on(id: &str, service: &str, node: &str) -> Task {
    let mut t = task(id, service);
    t.node_id = Some(node.into());
    t.status.state = TaskState::Running;
    t
}

/// A service publishing `port`/tcp in host mode.
pub(crate) fn service_with_host_port(id: &str, port: u16) -> Service {
    Service {
        id: id.into(),
        meta: Meta::default(),
        spec: ServiceSpec {
            name: id.to_owned(),
            endpoint_spec: EndpointSpec {
                mode: EndpointMode::Vip,
                ports: vec![PortConfig {
                    protocol: "tcp".to_owned(),
                    target_port: 80,
                    published_port: port,
                    publish_mode: PublishMode::Host,
                }],
            },
            ..ServiceSpec::default()
        },
        previous_spec: None,
        update_status: None,
    }
}
