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
    /// The cluster's certificate authority and join secrets. Replicated to every manager, never
    /// shown to clients (the Control API redacts it).
    pub ca: ClusterCa,
    /// The next Raft id to hand out; Raft ids are never reused.
    pub next_raft_id: u64,
    /// Nodes removed from the cluster: their certificates are refused everywhere.
    pub removed_nodes: Vec<crate::NodeId>,
}

/// The cluster's PKI state, as opaque PEM and secret strings (this crate does no crypto).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ClusterCa {
    /// Root CA certificate, PEM.
    pub root_cert_pem: String,
    /// Root CA private key, PEM (managers sign with it).
    pub root_key_pem: String,
    /// Secret part of the worker join token.
    pub worker_secret: String,
    /// Secret part of the manager join token.
    pub manager_secret: String,
    /// Validity of node certificates, in seconds.
    pub node_cert_validity_secs: u64,
}

impl Cluster {
    /// A copy safe to show a client: key and join secrets removed.
    pub fn redacted(&self) -> Cluster {
        let mut c = self.clone();
        c.ca.root_key_pem.clear();
        c.ca.worker_secret.clear();
        c.ca.manager_secret.clear();
        c
    }
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
