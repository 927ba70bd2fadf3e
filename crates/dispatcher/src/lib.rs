//! The store side of worker sessions: batched task status commits and assignment sets.
//!
//! The gRPC part of the dispatcher lives in the daemon; this crate owns what it does with the
//! store. Statuses reported by agents are queued by a [`StatusBatcher`] and committed together,
//! one transaction (one Raft proposal) per tick, forward-only and only from the node a task is
//! assigned to. A node's assignment set is [`node_tasks`]; an [`AssignmentTracker`] per session
//! turns successive sets into a complete message first and incremental ones after, numbered.
//!
//! Layout:
//! - [`batcher`]: [`StatusBatcher`] and the rules a reported status must pass.
//! - [`assignments`]: [`node_tasks`], [`service_names`], [`AssignmentTracker`], [`Assignment`].
//! - [`error`]: the error type, [`DispatchError`].

pub mod assignments;
pub mod batcher;
pub mod error;

#[cfg(test)]
mod testutil;

pub use assignments::{Assignment, AssignmentKind, AssignmentTracker, node_tasks, service_names};
pub use batcher::{DEFAULT_TICK, StatusBatcher, apply_status};
pub use error::DispatchError;
