//! The only bridge between the task model and Linux: [`EngineExecutor`] implements the agent's
//! [`Executor`](flotilla_agent::Executor) over the node's container engine.
//!
//! A task becomes a container named like Docker's (`<service>.<slot>.<task id>`, or
//! `<service>.<node id>.<task id>` for global services), labelled with the task, service and
//! node ids so a restarted agent finds its containers again ([`spec::run_spec`]). The engine is
//! synchronous; every call runs on tokio's blocking pool.
//!
//! Layout:
//! - [`spec`]: task → `RunSpec` (names, hostname templates, mounts, limits, labels).
//! - [`engine`]: [`EngineExecutor`], the operations on the engine.
//! - [`health`]: [`HealthMonitor`], the health-check probers of the node's containers (tasks'
//!   and the `container` CLI's alike).

pub mod engine;
pub mod health;
pub mod spec;

pub use engine::EngineExecutor;
pub use health::HealthMonitor;
pub use spec::{TASK_ID_LABEL, container_name, run_spec};
