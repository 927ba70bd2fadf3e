//! The task state machine.
//!
//! States are ordered and only move forward, like SwarmKit's (where the state is "a Lamport
//! clock"): NEW → PENDING → ASSIGNED → ACCEPTED → PREPARING → READY → STARTING → RUNNING, then one
//! of the terminal states COMPLETE, SHUTDOWN, FAILED, REJECTED, REMOVE, ORPHANED. A transition may
//! skip states (a task can fail while PREPARING) but never go back, and nothing leaves a terminal
//! state except the bookkeeping moves to REMOVE or ORPHANED that come later in the order.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The observed (or desired) state of a task. The numeric values are SwarmKit's and are also
/// the wire values, so ordering by value is ordering by progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[repr(u32)]
pub enum TaskState {
    /// Created by an orchestrator.
    New = 0,
    /// Resources allocated; waiting for the scheduler.
    Pending = 64,
    /// A node was chosen.
    Assigned = 192,
    /// The node's agent took the task.
    Accepted = 256,
    /// Pulling the image, creating the container.
    Preparing = 320,
    /// Prepared; waits for desired state RUNNING.
    Ready = 384,
    /// Starting; waits for the health check.
    Starting = 448,
    /// Running (and healthy).
    Running = 512,
    /// Exited with status 0.
    Complete = 576,
    /// Stopped because it was asked to.
    Shutdown = 640,
    /// Exited non-zero, turned unhealthy, or its controller failed.
    Failed = 704,
    /// Never ran (image pull failure, port conflict, …).
    Rejected = 768,
    /// Marked for removal (service deleted or scaled down).
    Remove = 800,
    /// Its node was down for too long.
    Orphaned = 832,
}

/// A refused state transition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("task state cannot move from {from} to {to}: states only move forward")]
pub struct TransitionError {
    /// The current state.
    pub from: TaskState,
    /// The refused target.
    pub to: TaskState,
}

impl TaskState {
    /// Every state, in order.
    pub const ALL: [TaskState; 14] = [
        TaskState::New,
        TaskState::Pending,
        TaskState::Assigned,
        TaskState::Accepted,
        TaskState::Preparing,
        TaskState::Ready,
        TaskState::Starting,
        TaskState::Running,
        TaskState::Complete,
        TaskState::Shutdown,
        TaskState::Failed,
        TaskState::Rejected,
        TaskState::Remove,
        TaskState::Orphaned,
    ];

    /// The wire value.
    pub fn as_u32(self) -> u32 {
        self as u32
    }

    /// Parses a wire value; unknown values give `None`.
    pub fn from_u32(v: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_u32() == v)
    }

    /// True once the task has stopped for good (COMPLETE and later).
    pub fn is_terminal(self) -> bool {
        self >= TaskState::Complete
    }

    /// Whether the task may move from `self` to `to`: strictly forward only.
    pub fn can_transition_to(self, to: TaskState) -> bool {
        to > self
    }

    /// Checks a transition, returning the target on success.
    pub fn transition(self, to: TaskState) -> Result<TaskState, TransitionError> {
        if self.can_transition_to(to) {
            Ok(to)
        } else {
            Err(TransitionError { from: self, to })
        }
    }

    /// Lowercase name, as `service ps` shows it.
    pub fn name(self) -> &'static str {
        match self {
            TaskState::New => "new",
            TaskState::Pending => "pending",
            TaskState::Assigned => "assigned",
            TaskState::Accepted => "accepted",
            TaskState::Preparing => "preparing",
            TaskState::Ready => "ready",
            TaskState::Starting => "starting",
            TaskState::Running => "running",
            TaskState::Complete => "complete",
            TaskState::Shutdown => "shutdown",
            TaskState::Failed => "failed",
            TaskState::Rejected => "rejected",
            TaskState::Remove => "remove",
            TaskState::Orphaned => "orphaned",
        }
    }

    /// Parses a lowercase name.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.name() == s)
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn happy_path_is_forward() {
        let mut s = TaskState::New;
        for next in [
            TaskState::Pending,
            TaskState::Assigned,
            TaskState::Accepted,
            TaskState::Preparing,
            TaskState::Ready,
            TaskState::Starting,
            TaskState::Running,
            TaskState::Complete,
        ] {
            s = s.transition(next).expect("forward move is allowed");
        }
        assert!(s.is_terminal());
        assert!(TaskState::Running.transition(TaskState::Starting).is_err());
        assert!(TaskState::Running.transition(TaskState::Running).is_err());
        assert!(TaskState::Failed.transition(TaskState::Running).is_err());
        assert!(TaskState::Preparing.transition(TaskState::Failed).is_ok());
    }

    #[test]
    fn wire_values_round_trip() {
        for s in TaskState::ALL {
            assert_eq!(TaskState::from_u32(s.as_u32()), Some(s));
            assert_eq!(TaskState::from_name(s.name()), Some(s));
        }
        assert_eq!(TaskState::from_u32(1), None);
    }

    proptest! {
        /// Any sequence of attempted transitions leaves a non-decreasing history.
        #[test]
        fn never_moves_back(steps in proptest::collection::vec(0usize..14, 0..40)) {
            let mut s = TaskState::New;
            for i in steps {
                let to = TaskState::ALL[i];
                match s.transition(to) {
                    Ok(next) => { prop_assert!(next > s); s = next; }
                    Err(e) => { prop_assert!(to <= s); prop_assert_eq!(e.from, s); }
                }
            }
        }
    }
}
