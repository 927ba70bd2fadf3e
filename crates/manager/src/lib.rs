//! The leader-only supervisor that drives the pure decision engines.
//!
//! On the manager that leads, [`run`] keeps the cluster's tasks in line with its services: it
//! watches the store, and after every burst of commits (or when an orchestrator asked to be woken)
//! it runs the orchestrator over each service the commits touched and writes each service's
//! [`Plan`](flotilla_orchestrator::Plan) as one transaction, then places pending tasks with the
//! scheduler and writes every decision of that pass as one more transaction. The engines are
//! pure; this crate owns the I/O around them: the view they read, the clock, fresh task ids, the
//! transactions, and retrying when a write was based on a stale view. On other managers it only
//! waits to become leader.
//!
//! Layout:
//! - [`config`]: the [`Config`] knobs (history limit, timings).
//! - `supervisor`: the follower wait, the leader loop, wake-ups and retries.
//! - `dirty`: which services a batch of commits touched.
//! - `orchestrate`: one service's snapshot, plan and transaction.
//! - `schedule`: the scheduler pass and its transaction.

pub mod config;
mod dirty;
mod orchestrate;
mod schedule;
mod supervisor;

#[cfg(test)]
mod testutil;

pub use config::Config;
pub use supervisor::{IsLeader, run, run_with};
