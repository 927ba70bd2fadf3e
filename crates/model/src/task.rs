//! Tasks: one scheduled unit of a service, bound to one container on one node.
//!
//! A task is immutable once created except for its status (observed, moves forward only) and
//! desired state (set by orchestrators, also forward only).

use crate::meta::{Meta, Timestamp};
use crate::service::TaskSpec;
use crate::task_state::{TaskState, TransitionError};
use crate::{NodeId, ServiceId, TaskId};
use serde::{Deserialize, Serialize};

/// A stored task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Its id.
    pub id: TaskId,
    /// Version and timestamps.
    pub meta: Meta,
    /// The service it belongs to.
    pub service_id: ServiceId,
    /// Slot number for replicated services (1-based); 0 for global ones.
    pub slot: u64,
    /// The node it runs on, once assigned (always set for global services).
    pub node_id: Option<NodeId>,
    /// The spec it was created from (a copy of the service's task template then).
    pub spec: TaskSpec,
    /// The service spec version it was created from.
    pub spec_version: u64,
    /// Where the orchestrator wants it to be.
    pub desired_state: TaskState,
    /// What was last observed.
    pub status: TaskStatus,
}

/// The observed status of a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStatus {
    /// Current state.
    pub state: TaskState,
    /// When it entered that state.
    pub timestamp: Timestamp,
    /// Short human message ("started", "pulling image").
    pub message: String,
    /// Error, for FAILED/REJECTED or an unschedulable task.
    pub err: String,
    /// Container exit code, once it exited.
    pub exit_code: Option<i32>,
}

impl Default for TaskStatus {
    fn default() -> Self {
        Self {
            state: TaskState::New,
            timestamp: Timestamp::default(),
            message: String::new(),
            err: String::new(),
            exit_code: None,
        }
    }
}

impl Task {
    /// Moves the observed state forward; a backward move is refused and changes nothing.
    pub fn advance(
        &mut self,
        to: TaskState,
        at: Timestamp,
        message: impl Into<String>,
    ) -> Result<(), TransitionError> {
        self.status.state = self.status.state.transition(to)?;
        self.status.timestamp = at;
        self.status.message = message.into();
        Ok(())
    }

    /// Moves the desired state forward; a backward move is refused and changes nothing.
    pub fn set_desired(&mut self, to: TaskState) -> Result<(), TransitionError> {
        if to == self.desired_state {
            return Ok(());
        }
        self.desired_state = self.desired_state.transition(to)?;
        Ok(())
    }
}
