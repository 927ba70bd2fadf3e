//! The [`Executor`] trait: what the agent needs from a node's container runtime, and the
//! observations and errors that cross it.
//!
//! The agent is generic over its executor (no trait objects), so the methods are plain
//! `impl Future + Send` methods; implementations may write them as `async fn`. Every method is
//! keyed by the task: an executor finds a task's container by the task's id and must never make
//! two containers for one task.

use crate::assignment::AssignedTask;
use flotilla_model::TaskId;
use std::future::Future;

/// A node's container runtime as the agent drives it.
pub trait Executor: Send + Sync + 'static {
    /// Every container this node already has for a task (to re-adopt them after an agent or
    /// daemon restart). Containers that belong to no task are not listed.
    fn list(&self) -> impl Future<Output = Result<Vec<Observed>, ExecError>> + Send;

    /// Makes the task's container ready to start: the image present (pulled when missing) and
    /// the container created. Idempotent: an existing container of the task is reused.
    fn prepare(&self, task: &AssignedTask) -> impl Future<Output = Result<(), ExecError>> + Send;

    /// Starts the task's (prepared) container. Starting a running container does nothing.
    fn start(&self, task: &AssignedTask) -> impl Future<Output = Result<(), ExecError>> + Send;

    /// The task's container as it is now; `None` when the task has no container.
    fn observe(
        &self,
        task: &TaskId,
    ) -> impl Future<Output = Result<Option<Observed>, ExecError>> + Send;

    /// Stops the task's container with the task's stop signal and grace period. Idempotent:
    /// a stopped or missing container is not an error.
    fn stop(&self, task: &AssignedTask) -> impl Future<Output = Result<(), ExecError>> + Send;

    /// Removes the task's container and what it had. Idempotent: a missing container is not an
    /// error.
    fn remove(&self, task: &TaskId) -> impl Future<Output = Result<(), ExecError>> + Send;
}

/// A task's container as the executor saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// The task the container belongs to.
    pub task_id: TaskId,
    /// Its state.
    pub state: ContainerState,
}

/// The state of a task's container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerState {
    /// Created, never started.
    Created,
    /// Its command runs.
    Running {
        /// What its health check says.
        health: Health,
    },
    /// Its command ended.
    Exited {
        /// The exit code (128 + signal when a signal killed it).
        code: i32,
        /// Whether the kernel's OOM killer killed a process of the container.
        oom_killed: bool,
    },
}

impl ContainerState {
    /// Whether the container's command runs.
    pub fn is_running(self) -> bool {
        matches!(self, ContainerState::Running { .. })
    }
}

/// A running container's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// The container has no health check.
    None,
    /// Checks run but none has passed yet.
    Starting,
    /// The last check passed.
    Healthy,
    /// Enough consecutive checks failed.
    Unhealthy,
}

/// Why an executor operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExecError {
    /// What failed, as the task's `err` should show it (`No such image: busybox:nope`).
    pub message: String,
    /// True when the task never ran and cannot (missing image, bad spec): the task is
    /// REJECTED; false for a failure (FAILED).
    pub rejected: bool,
}

impl ExecError {
    /// A rejection: the task cannot run on this node as specified.
    pub fn rejection(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            rejected: true,
        }
    }

    /// A failure of the operation.
    pub fn failure(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            rejected: false,
        }
    }

    /// Whether this is a rejection.
    pub fn is_rejection(&self) -> bool {
        self.rejected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_show_their_message_and_kind() {
        let e = ExecError::rejection("No such image: x");
        assert!(e.is_rejection());
        assert_eq!(e.to_string(), "No such image: x");
        assert!(!ExecError::failure("boom").is_rejection());
        assert!(
            ContainerState::Running {
                health: Health::None
            }
            .is_running()
        );
        assert!(!ContainerState::Created.is_running());
    }
}
