//! The node's identity on disk: who it is in which swarm, written once at `swarm init` (or
//! join) and read at every start. Written atomically: a crash leaves the old file or the new.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

/// What a node remembers about its swarm membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// This node's id.
    pub node_id: String,
    /// The cluster's id.
    pub cluster_id: String,
    /// This manager's Raft id (never reused).
    pub raft_id: u64,
    /// Address other managers reach this node's Raft service at.
    pub raft_addr: String,
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
        let tmp = path.with_extension("json.tmp");
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}
