//! The worker side of task execution: what a node does with the tasks the leader assigns it,
//! independent of Linux and of the wire.
//!
//! The daemon feeds an [`Agent`] the node's assignment stream ([`AssignmentUpdate`]s, stale ones
//! — by the leader's (term, index) — ignored) and forwards the statuses it reports. Per task a
//! controller decides, from (desired state, last reported status, observed container), the next
//! status transitions and at most one operation on the [`Executor`] — the only bridge to a
//! container runtime, implemented for real by `flotilla-executor` and by a fake in the tests.
//!
//! Layout:
//! - [`assignment`]: assigned tasks, assignment updates and the (term, index) cursor.
//! - [`executor`]: the [`Executor`] trait and what crosses it.
//! - `controller`: one task's pure decisions.
//! - [`agent`]: the loop that runs controllers' operations and reports statuses.
//! - `clock`: the wall-clock timestamps statuses carry.

pub mod agent;
pub mod assignment;
mod clock;
mod controller;
pub mod executor;

#[cfg(test)]
mod fake;

pub use agent::{Agent, DEFAULT_TICK, StatusBatch};
pub use assignment::{AssignedTask, AssignmentUpdate, Cursor};
pub use executor::{ContainerState, ExecError, Executor, Health, Observed};
