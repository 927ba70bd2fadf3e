//! The filter pipeline: which nodes a task may go to, and why not.
//!
//! The filters run in SwarmKit's order and a node is rejected by the first one it fails; each
//! rejection is counted against that filter. When no node passes, [`Failures::no_suitable_node`]
//! words the reason as Docker does, most frequent failure first:
//! `no suitable node (insufficient resources on 2 nodes; 1 node not available for new tasks)`.
//!
//! SwarmKit's plugin filter (volume, network and log plugins) and platform filter (platforms of
//! the image's manifest) have nothing to check in flotilla and are left out.

use crate::constraint::{self, Constraint, ConstraintError};
use crate::nodeinfo::{HostPort, NodeInfo};
use flotilla_model::{Availability, Node, NodeState, Resources, ServiceId, Task, TaskSpec};

/// One filter of the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Filter {
    /// The node is READY and its availability ACTIVE.
    Ready,
    /// The task's CPU and memory reservations fit in what the node has left.
    Resources,
    /// The node satisfies every placement constraint.
    Constraints,
    /// None of the task's host-mode published ports is in use on the node.
    HostPorts,
    /// The node runs fewer of the service's tasks than `max_replicas_per_node`.
    MaxReplicas,
}

impl Filter {
    /// The filters in the order they run.
    pub const PIPELINE: [Filter; 5] = [
        Filter::Ready,
        Filter::Resources,
        Filter::Constraints,
        Filter::HostPorts,
        Filter::MaxReplicas,
    ];

    /// Position in [`Filter::PIPELINE`].
    fn index(self) -> usize {
        match self {
            Filter::Ready => 0,
            Filter::Resources => 1,
            Filter::Constraints => 2,
            Filter::HostPorts => 3,
            Filter::MaxReplicas => 4,
        }
    }

    /// Docker's explanation of this filter rejecting `nodes` nodes.
    pub fn explain(self, nodes: usize) -> String {
        let (one, many) = match self {
            Filter::Ready => (
                "1 node not available for new tasks",
                "nodes not available for new tasks",
            ),
            Filter::Resources => (
                "insufficient resources on 1 node",
                "insufficient resources on",
            ),
            Filter::Constraints => (
                "scheduling constraints not satisfied on 1 node",
                "scheduling constraints not satisfied on",
            ),
            Filter::HostPorts => (
                "host-mode port already in use on 1 node",
                "host-mode port already in use on",
            ),
            // Docker words this one without a count.
            Filter::MaxReplicas => return "max replicas per node limit exceed".to_owned(),
        };
        match (self, nodes) {
            (_, 1) => one.to_owned(),
            (Filter::Ready, n) => format!("{n} {many}"),
            (_, n) => format!("{many} {n} nodes"),
        }
    }

    /// Whether `node` passes this filter for a task with requirements `req`.
    pub fn check(self, req: &Requirements, node: &NodeInfo) -> bool {
        match self {
            Filter::Ready => is_ready(node.node()),
            Filter::Resources => node.fits(&req.resources),
            Filter::Constraints => constraint::all_match(&req.constraints, node.node()),
            Filter::HostPorts => !req.host_ports.iter().any(|p| node.port_in_use(p)),
            Filter::MaxReplicas => {
                req.max_replicas_per_node == 0
                    || node.active_tasks_of(&req.service_id) < req.max_replicas_per_node
            }
        }
    }
}

/// Whether a node takes new tasks: READY and ACTIVE (a paused or drained node keeps its tasks
/// but gets no new ones).
pub fn is_ready(node: &Node) -> bool {
    node.status.state == NodeState::Ready && node.spec.availability == Availability::Active
}

/// What the filters need to know about a task, prepared once per task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirements {
    /// The task's service.
    pub service_id: ServiceId,
    /// Its reservations.
    pub resources: Resources,
    /// Its parsed placement constraints.
    pub constraints: Vec<Constraint>,
    /// The host-mode ports it publishes.
    pub host_ports: Vec<HostPort>,
    /// Most tasks of the service per node (0 = unlimited).
    pub max_replicas_per_node: u64,
}

impl Requirements {
    /// The requirements of `task`, which publishes `host_ports` (from its service's endpoint,
    /// since tasks do not carry one). Fails if a constraint does not parse.
    pub fn of_task(task: &Task, host_ports: Vec<HostPort>) -> Result<Self, ConstraintError> {
        let placement = &task.spec.placement;
        Ok(Self {
            service_id: task.service_id.clone(),
            resources: task.spec.resources,
            constraints: Constraint::parse_all(&placement.constraints)?,
            host_ports,
            max_replicas_per_node: placement.max_replicas_per_node,
        })
    }

    /// The first filter `node` fails, or `None` if it passes them all.
    pub fn first_failure(&self, node: &NodeInfo) -> Option<Filter> {
        Filter::PIPELINE.into_iter().find(|f| !f.check(self, node))
    }
}

/// How many nodes each filter rejected while placing one task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Failures {
    counts: [usize; 5],
}

impl Failures {
    /// Counts one node rejected by `filter`.
    pub fn record(&mut self, filter: Filter) {
        self.counts[filter.index()] += 1;
    }

    /// How many nodes `filter` rejected.
    pub fn count(&self, filter: Filter) -> usize {
        self.counts[filter.index()]
    }

    /// Nodes rejected, all filters together.
    pub fn total(&self) -> usize {
        self.counts.iter().sum()
    }

    /// The filters' explanations joined with `; `, the filter that rejected the most nodes first
    /// (ties in pipeline order); empty if nothing was rejected.
    pub fn explain(&self) -> String {
        let mut rejected: Vec<(Filter, usize)> = Filter::PIPELINE
            .into_iter()
            .map(|f| (f, self.count(f)))
            .filter(|&(_, n)| n > 0)
            .collect();
        // Stable sort: equal counts keep pipeline order.
        rejected.sort_by_key(|r| std::cmp::Reverse(r.1));
        rejected
            .into_iter()
            .map(|(f, n)| f.explain(n))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The task's error when no node passed: `no suitable node (…)`, or just `no suitable node`
    /// when there were no nodes to reject.
    pub fn no_suitable_node(&self) -> String {
        let why = self.explain();
        if why.is_empty() {
            "no suitable node".to_owned()
        } else {
            format!("no suitable node ({why})")
        }
    }
}

/// Whether `node` may run a new task of `spec` as far as the node itself goes: it is READY and
/// ACTIVE and satisfies every placement constraint (a constraint that does not parse makes no
/// node eligible). Resources, ports and max replicas are left to the scheduler.
///
/// This is the global orchestrator's test for which nodes get a task.
pub fn node_eligible(node: &Node, spec: &TaskSpec) -> bool {
    is_ready(node)
        && Constraint::parse_all(&spec.placement.constraints)
            .is_ok_and(|cs| constraint::all_match(&cs, node))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{GIB, node, task};

    #[test]
    fn explanations_are_dockers() {
        assert_eq!(
            Filter::Ready.explain(1),
            "1 node not available for new tasks"
        );
        assert_eq!(
            Filter::Ready.explain(3),
            "3 nodes not available for new tasks"
        );
        assert_eq!(
            Filter::Resources.explain(1),
            "insufficient resources on 1 node"
        );
        assert_eq!(
            Filter::Resources.explain(2),
            "insufficient resources on 2 nodes"
        );
        assert_eq!(
            Filter::Constraints.explain(1),
            "scheduling constraints not satisfied on 1 node"
        );
        assert_eq!(
            Filter::Constraints.explain(4),
            "scheduling constraints not satisfied on 4 nodes"
        );
        assert_eq!(
            Filter::HostPorts.explain(1),
            "host-mode port already in use on 1 node"
        );
        assert_eq!(
            Filter::HostPorts.explain(2),
            "host-mode port already in use on 2 nodes"
        );
        assert_eq!(
            Filter::MaxReplicas.explain(5),
            "max replicas per node limit exceed"
        );
    }

    #[test]
    fn failures_most_first_ties_in_pipeline_order() {
        let mut f = Failures::default();
        assert_eq!(f.no_suitable_node(), "no suitable node");
        f.record(Filter::Ready);
        f.record(Filter::Constraints);
        f.record(Filter::Constraints);
        f.record(Filter::Resources);
        assert_eq!(f.total(), 4);
        assert_eq!(f.count(Filter::Constraints), 2);
        assert_eq!(
            f.no_suitable_node(),
            "no suitable node (scheduling constraints not satisfied on 2 nodes; \
             1 node not available for new tasks; insufficient resources on 1 node)"
        );
    }

    #[test]
    fn first_failure_follows_pipeline_order() {
        let mut n = node("n1", "h");
        n.status.state = NodeState::Down;
        let mut t = task("t1", "s1");
        t.spec.resources.reserve_memory_bytes = 100 * GIB;
        t.spec.placement.constraints = vec!["node.role==manager".into()];
        let req = Requirements::of_task(&t, vec![]).expect("valid");
        let mut info = NodeInfo::new(&n);
        assert_eq!(req.first_failure(&info), Some(Filter::Ready));
        n.status.state = NodeState::Ready;
        info = NodeInfo::new(&n);
        assert_eq!(req.first_failure(&info), Some(Filter::Resources));
        t.spec.resources.reserve_memory_bytes = GIB;
        let req = Requirements::of_task(&t, vec![]).expect("valid");
        assert_eq!(req.first_failure(&info), Some(Filter::Constraints));
        t.spec.placement.constraints.clear();
        let req = Requirements::of_task(&t, vec![]).expect("valid");
        assert_eq!(req.first_failure(&info), None);
    }

    #[test]
    fn eligibility_for_global_services() {
        let mut n = node("n1", "h");
        n.spec.labels.insert("gpu".into(), "yes".into());
        let mut spec = TaskSpec::default();
        assert!(node_eligible(&n, &spec));
        spec.placement.constraints = vec!["node.labels.gpu==yes".into()];
        assert!(node_eligible(&n, &spec));
        spec.placement.constraints = vec!["node.labels.gpu!=yes".into()];
        assert!(!node_eligible(&n, &spec));
        spec.placement.constraints = vec!["not a constraint".into()];
        assert!(!node_eligible(&n, &spec));
        spec.placement.constraints.clear();
        for availability in [Availability::Pause, Availability::Drain] {
            n.spec.availability = availability;
            assert!(!node_eligible(&n, &spec));
        }
        n.spec.availability = Availability::Active;
        for state in [NodeState::Down, NodeState::Unknown, NodeState::Disconnected] {
            n.status.state = state;
            assert!(!node_eligible(&n, &spec));
        }
    }
}
