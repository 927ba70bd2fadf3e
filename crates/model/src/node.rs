//! Nodes: the machines of the cluster, each a worker and possibly a manager.

use crate::NodeId;
use crate::meta::Meta;
use crate::validate::{ValidationError, check_labels};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A stored node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Its id.
    pub id: NodeId,
    /// Version and timestamps.
    pub meta: Meta,
    /// What the administrator set.
    pub spec: NodeSpec,
    /// What the node reported about itself.
    pub description: NodeDescription,
    /// Whether it is up.
    pub status: NodeStatus,
    /// Set on managers.
    pub manager_status: Option<ManagerStatus>,
    /// Raft member id, for managers (never reused).
    pub raft_id: u64,
}

/// What an administrator controls about a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct NodeSpec {
    /// Node labels, used by constraints.
    pub labels: BTreeMap<String, String>,
    /// Desired role.
    pub role: NodeRole,
    /// Whether it takes tasks.
    pub availability: Availability,
}

impl NodeSpec {
    /// Checks the spec.
    pub fn validate(&self) -> Result<(), ValidationError> {
        check_labels("spec.labels", &self.labels)
    }
}

/// A node's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NodeRole {
    /// Runs tasks only.
    #[default]
    Worker,
    /// Also replicates state and makes decisions.
    Manager,
}

impl NodeRole {
    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            NodeRole::Worker => "worker",
            NodeRole::Manager => "manager",
        }
    }
}

/// Whether a node takes tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Availability {
    /// Takes new tasks.
    #[default]
    Active,
    /// Keeps its tasks, takes no new ones.
    Pause,
    /// Its tasks move elsewhere.
    Drain,
}

impl Availability {
    /// Docker's capitalised name, as `node ls` shows it.
    pub fn display_name(self) -> &'static str {
        match self {
            Availability::Active => "Active",
            Availability::Pause => "Pause",
            Availability::Drain => "Drain",
        }
    }
}

/// What a node says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct NodeDescription {
    /// Host name (or `--node-name`).
    pub hostname: String,
    /// OS and architecture.
    pub platform: Platform,
    /// Total CPU in billionths of a CPU.
    pub nano_cpus: u64,
    /// Total memory in bytes.
    pub memory_bytes: u64,
    /// flotilla version.
    pub engine_version: String,
}

/// OS and architecture, in Go's names (`linux`, `x86_64`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Platform {
    /// Operating system.
    pub os: String,
    /// Architecture.
    pub architecture: String,
}

/// Observed node state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NodeState {
    /// Not heard from yet.
    #[default]
    Unknown,
    /// Heartbeating.
    Ready,
    /// Missed its heartbeats.
    Down,
    /// Leaving.
    Disconnected,
}

impl NodeState {
    /// Docker's capitalised name.
    pub fn display_name(self) -> &'static str {
        match self {
            NodeState::Unknown => "Unknown",
            NodeState::Ready => "Ready",
            NodeState::Down => "Down",
            NodeState::Disconnected => "Disconnected",
        }
    }
}

/// Observed node status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct NodeStatus {
    /// State.
    pub state: NodeState,
    /// Why, if not ready.
    pub message: String,
    /// Address the node is reached at.
    pub addr: String,
}

/// Raft membership of a manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ManagerStatus {
    /// Whether this manager is the leader.
    pub leader: bool,
    /// Whether peers can reach it.
    pub reachability: Reachability,
    /// Address other managers reach it at (`IP:PORT`).
    pub addr: String,
}

/// Manager reachability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Reachability {
    /// Not yet known.
    #[default]
    Unknown,
    /// Peers reach it.
    Reachable,
    /// Peers cannot reach it.
    Unreachable,
}

impl Node {
    /// What `node ls` shows under MANAGER STATUS: `Leader`, `Reachable`, `Unreachable` or empty.
    pub fn manager_status_display(&self) -> &'static str {
        match &self.manager_status {
            None => "",
            Some(m) if m.leader => "Leader",
            Some(m) => match m.reachability {
                Reachability::Reachable => "Reachable",
                Reachability::Unreachable => "Unreachable",
                Reachability::Unknown => "Unknown",
            },
        }
    }
}
