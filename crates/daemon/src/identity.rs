//! The node's identity on disk: who it is in which swarm, written once at `swarm init` (or
//! join) and read at every start. Written atomically: a crash leaves the old file or the new.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// What a node remembers about its swarm membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// This node's id.
    pub node_id: String,
    /// The cluster's id.
    pub cluster_id: String,
    /// This node's Raft id while it is a manager (never reused); 0 for workers.
    pub raft_id: u64,
    /// Address other nodes reach this node's node-to-node listener at (`IP:PORT`).
    pub raft_addr: String,
    /// Managers last known (`IP:PORT`), for finding the swarm again after a restart.
    #[serde(default)]
    pub managers: Vec<String>,
}

impl Identity {
    /// Reads the identity, `None` if this node is in no swarm.
    pub fn load(path: &Path) -> std::io::Result<Option<Self>> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes the identity durably.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        crate::fsutil::write_atomic(path, &bytes, 0o600)
    }
}
