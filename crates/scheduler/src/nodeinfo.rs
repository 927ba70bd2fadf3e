//! Per-node accounting: what a node has left for new tasks.
//!
//! A [`NodeInfo`] starts from a node's reported resources and subtracts the reservations of
//! every task that holds resources on it. Which tasks count follows SwarmKit:
//! - a task **holds resources** (CPU, memory, host ports) from ASSIGNED until it reaches a
//!   terminal state, whatever its desired state — a task being shut down still occupies the node
//!   until it stops;
//! - a task is **active** (counted per service, for spreading and for max replicas per node)
//!   when it holds resources and its desired state is at most RUNNING.
//!
//! Tasks still PENDING are not counted, even when pre-assigned to a node (global services): the
//! scheduler is what checks that they fit.

use flotilla_model::{
    EndpointSpec, Node, NodeId, PublishMode, Resources, ServiceId, Task, TaskState,
};
use std::collections::{BTreeMap, BTreeSet};

/// A port published in host mode: bound on the task's node itself, so two tasks publishing the
/// same one cannot share a node.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostPort {
    /// `tcp` or `udp`.
    pub protocol: String,
    /// The port on the node.
    pub port: u16,
}

impl HostPort {
    /// The host-mode ports an endpoint publishes. Ports published in ingress mode use the
    /// routing mesh and do not count; neither do host-mode ports with no published port
    /// (the node picks one), as they cannot collide.
    pub fn of_endpoint(endpoint: &EndpointSpec) -> Vec<HostPort> {
        let mut ports: Vec<HostPort> = endpoint
            .ports
            .iter()
            .filter(|p| p.publish_mode == PublishMode::Host && p.published_port != 0)
            .map(|p| HostPort {
                protocol: p.protocol.clone(),
                port: p.published_port,
            })
            .collect();
        ports.sort();
        ports.dedup();
        ports
    }
}

/// Whether `task` occupies resources on its node: it has a node and its observed state is
/// between ASSIGNED and RUNNING.
pub fn holds_resources(task: &Task) -> bool {
    task.node_id.is_some()
        && task.status.state >= TaskState::Assigned
        && !task.status.state.is_terminal()
}

/// Whether `task` counts as one of its service's tasks on its node: it holds resources and is
/// meant to keep running (desired state at most RUNNING).
pub fn is_active(task: &Task) -> bool {
    holds_resources(task) && task.desired_state <= TaskState::Running
}

/// A node with what its tasks use and what it has left.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeInfo {
    node: Node,
    available_nano_cpus: u64,
    available_memory_bytes: u64,
    active_tasks: u64,
    active_by_service: BTreeMap<ServiceId, u64>,
    used_host_ports: BTreeSet<HostPort>,
}

impl NodeInfo {
    /// A node with nothing on it yet: everything it reported is available.
    pub fn new(node: &Node) -> Self {
        Self {
            node: node.clone(),
            available_nano_cpus: node.description.nano_cpus,
            available_memory_bytes: node.description.memory_bytes,
            active_tasks: 0,
            active_by_service: BTreeMap::new(),
            used_host_ports: BTreeSet::new(),
        }
    }

    /// Records a task on this node: its reservations are subtracted (never below zero), its
    /// host ports marked used, and, if `active`, it is counted for its service.
    pub fn add_task(
        &mut self,
        service_id: &ServiceId,
        resources: &Resources,
        host_ports: &[HostPort],
        active: bool,
    ) {
        self.available_nano_cpus = self
            .available_nano_cpus
            .saturating_sub(resources.reserve_nano_cpus);
        self.available_memory_bytes = self
            .available_memory_bytes
            .saturating_sub(resources.reserve_memory_bytes);
        self.used_host_ports.extend(host_ports.iter().cloned());
        if active {
            self.active_tasks += 1;
            *self
                .active_by_service
                .entry(service_id.clone())
                .or_insert(0) += 1;
        }
    }

    /// The node.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The node's id.
    pub fn id(&self) -> &NodeId {
        &self.node.id
    }

    /// CPU not reserved by its tasks, in billionths of a CPU.
    pub fn available_nano_cpus(&self) -> u64 {
        self.available_nano_cpus
    }

    /// Memory not reserved by its tasks, in bytes.
    pub fn available_memory_bytes(&self) -> u64 {
        self.available_memory_bytes
    }

    /// Whether reservations `resources` fit in what is left.
    pub fn fits(&self, resources: &Resources) -> bool {
        resources.reserve_nano_cpus <= self.available_nano_cpus
            && resources.reserve_memory_bytes <= self.available_memory_bytes
    }

    /// Active tasks on the node, all services together.
    pub fn active_tasks(&self) -> u64 {
        self.active_tasks
    }

    /// Active tasks of `service` on the node.
    pub fn active_tasks_of(&self, service: &ServiceId) -> u64 {
        self.active_by_service.get(service).copied().unwrap_or(0)
    }

    /// Whether a task on this node already publishes `port` in host mode.
    pub fn port_in_use(&self, port: &HostPort) -> bool {
        self.used_host_ports.contains(port)
    }

    /// The host-mode ports in use on the node.
    pub fn used_host_ports(&self) -> impl Iterator<Item = &HostPort> {
        self.used_host_ports.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{GIB, node, running_on, task};
    use flotilla_model::{EndpointMode, PortConfig};

    #[test]
    fn which_tasks_count() {
        let mut t = task("t1", "s1");
        assert!(!holds_resources(&t), "pending, no node");
        t.node_id = Some("n1".into());
        assert!(!holds_resources(&t), "pending, pre-assigned");
        t.status.state = TaskState::Assigned;
        assert!(holds_resources(&t) && is_active(&t));
        t.status.state = TaskState::Running;
        assert!(holds_resources(&t) && is_active(&t));
        t.desired_state = TaskState::Shutdown;
        assert!(holds_resources(&t), "still running while shutting down");
        assert!(!is_active(&t));
        t.status.state = TaskState::Shutdown;
        assert!(!holds_resources(&t));
        let mut t = running_on("t2", "s1", "n1");
        t.status.state = TaskState::Failed;
        assert!(!holds_resources(&t));
    }

    #[test]
    fn accounting() {
        let n = node("n1", "h");
        let mut info = NodeInfo::new(&n);
        assert_eq!(info.available_memory_bytes(), 8 * GIB);
        let r = Resources {
            reserve_nano_cpus: 1_000_000_000,
            reserve_memory_bytes: 3 * GIB,
            ..Default::default()
        };
        let s1 = ServiceId::from("s1");
        let port = HostPort {
            protocol: "tcp".into(),
            port: 80,
        };
        info.add_task(&s1, &r, std::slice::from_ref(&port), true);
        info.add_task(&s1, &r, &[], false);
        assert_eq!(info.available_memory_bytes(), 2 * GIB);
        assert_eq!(info.available_nano_cpus(), 2_000_000_000);
        assert!(!info.fits(&r));
        assert_eq!(info.active_tasks(), 1);
        assert_eq!(info.active_tasks_of(&s1), 1);
        assert_eq!(info.active_tasks_of(&ServiceId::from("s2")), 0);
        assert!(info.port_in_use(&port));
        assert!(!info.port_in_use(&HostPort {
            protocol: "udp".into(),
            port: 80
        }));
        // Overcommitted nodes bottom out at zero.
        info.add_task(&s1, &r, &[], true);
        assert_eq!(info.available_memory_bytes(), 0);
    }

    #[test]
    fn host_ports_of_an_endpoint() {
        let port = |mode, published| PortConfig {
            protocol: "tcp".into(),
            target_port: 80,
            published_port: published,
            publish_mode: mode,
        };
        let e = EndpointSpec {
            mode: EndpointMode::Vip,
            ports: vec![
                port(PublishMode::Host, 8080),
                port(PublishMode::Ingress, 9090),
                port(PublishMode::Host, 0),
            ],
        };
        assert_eq!(
            HostPort::of_endpoint(&e),
            vec![HostPort {
                protocol: "tcp".into(),
                port: 8080
            }]
        );
    }
}
