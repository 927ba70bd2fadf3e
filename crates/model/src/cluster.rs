//! The cluster object: one per cluster, holding cluster-wide settings.

use crate::ClusterId;
use crate::meta::Meta;
use crate::validate::{ValidationError, check_name};
use serde::{Deserialize, Serialize};

/// The stored cluster object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    /// Its id.
    pub id: ClusterId,
    /// Version and timestamps.
    pub meta: Meta,
    /// Settings.
    pub spec: ClusterSpec,
}

/// Cluster-wide settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSpec {
    /// Name (Docker's is always `default`).
    pub name: String,
    /// Finished tasks kept per slot.
    pub task_history_limit: u64,
    /// Raft log entries between snapshots.
    pub snapshot_interval: u64,
    /// Dispatcher heartbeat period, in milliseconds.
    pub heartbeat_period_ms: u64,
}

impl Default for ClusterSpec {
    fn default() -> Self {
        Self {
            name: "default".into(),
            task_history_limit: 5,
            snapshot_interval: 10_000,
            heartbeat_period_ms: 5_000,
        }
    }
}

impl ClusterSpec {
    /// Checks the spec.
    pub fn validate(&self) -> Result<(), ValidationError> {
        check_name("spec.name", &self.name)?;
        if self.task_history_limit > 1000 {
            return Err(ValidationError::new(
                "spec.task_history_limit",
                "must be at most 1000",
            ));
        }
        if self.snapshot_interval == 0 {
            return Err(ValidationError::new(
                "spec.snapshot_interval",
                "must be positive",
            ));
        }
        if !(100..=3_600_000).contains(&self.heartbeat_period_ms) {
            return Err(ValidationError::new(
                "spec.heartbeat_period_ms",
                "must be between 100 ms and 1 h",
            ));
        }
        Ok(())
    }
}
