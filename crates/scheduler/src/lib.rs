//! The scheduler: decides which node each pending task goes to.
//!
//! Pure and deterministic, like the rest of the decision-making crates: it does no I/O, reads no
//! clock and uses no randomness. Given the same nodes, tasks and services it gives the same
//! answer, with every tie broken by node id. The leader's scheduler component feeds it a
//! snapshot of the store and writes the [`Decision`]s back as one transaction.
//!
//! It follows Docker Swarm's scheduler (SwarmKit `manager/scheduler`):
//! 1. A pipeline of filters, in SwarmKit's order, rejects the nodes a task cannot go to:
//!    ready (node READY and availability ACTIVE), resources (CPU and memory reservations fit in
//!    what is left), constraints, host-mode published ports, and max replicas per node. SwarmKit's
//!    plugin and platform filters have nothing to check here and are left out.
//! 2. Among the nodes that pass, placement preferences (`node.labels.<key>`) spread the tasks of
//!    a service over the label's values, level by level; then the node with the fewest tasks of
//!    the service wins, then the one with the fewest tasks overall, then the lowest node id.
//! 3. When no node passes, the reason reads like Docker's: `no suitable node (insufficient
//!    resources on 2 nodes; scheduling constraints not satisfied on 1 node)`.
//!
//! A batch of pending tasks is scheduled one task at a time, each assignment updating the
//! accounting (resources, task counts, ports) the next task sees.
//!
//! Layout:
//! - [`constraint`]: placement constraints, parsed once and matched against nodes (also used by
//!   the global orchestrator, through [`node_eligible`]).
//! - [`nodeinfo`]: what each node has left: resources, tasks per service, host ports in use.
//! - [`filter`]: the filter pipeline and Docker's explanations of a failure.
//! - [`spread`]: ranking of the nodes that passed, with placement preferences.
//! - [`scheduler`]: the [`Scheduler`] and the [`Decision`]s it makes.

pub mod constraint;
pub mod filter;
pub mod nodeinfo;
pub mod scheduler;
pub mod spread;

#[cfg(test)]
pub(crate) mod testutil;

pub use constraint::{Constraint, ConstraintError, ConstraintKey, Operator, constraint_matches};
pub use filter::{Failures, Filter, Requirements, node_eligible};
pub use nodeinfo::{HostPort, NodeInfo};
pub use scheduler::{Decision, Scheduler, schedule};
