//! The cluster object and its cluster-wide settings.

use crate::convert::{ConvertError, required};
use crate::pb;
use flotilla_model::{Cluster, ClusterCa, ClusterId, ClusterSpec, NodeId};

impl From<Cluster> for pb::Cluster {
    fn from(c: Cluster) -> Self {
        Self {
            id: c.id.0,
            meta: Some(c.meta.into()),
            spec: Some(c.spec.into()),
            ca: Some(pb::ClusterCa {
                root_cert_pem: c.ca.root_cert_pem,
                root_key_pem: c.ca.root_key_pem,
                worker_secret: c.ca.worker_secret,
                manager_secret: c.ca.manager_secret,
                node_cert_validity_secs: c.ca.node_cert_validity_secs,
            }),
            next_raft_id: c.next_raft_id,
            removed_nodes: c.removed_nodes.into_iter().map(|n| n.0).collect(),
        }
    }
}

impl TryFrom<pb::Cluster> for Cluster {
    type Error = ConvertError;

    fn try_from(p: pb::Cluster) -> Result<Self, ConvertError> {
        Ok(Self {
            id: ClusterId(p.id),
            meta: required(p.meta, "meta")?,
            spec: required(p.spec, "spec")?,
            ca: p
                .ca
                .map(|c| ClusterCa {
                    root_cert_pem: c.root_cert_pem,
                    root_key_pem: c.root_key_pem,
                    worker_secret: c.worker_secret,
                    manager_secret: c.manager_secret,
                    node_cert_validity_secs: c.node_cert_validity_secs,
                })
                .unwrap_or_default(),
            next_raft_id: p.next_raft_id,
            removed_nodes: p.removed_nodes.into_iter().map(NodeId).collect(),
        })
    }
}

impl From<ClusterSpec> for pb::ClusterSpec {
    fn from(s: ClusterSpec) -> Self {
        Self {
            name: s.name,
            task_history_limit: s.task_history_limit,
            snapshot_interval: s.snapshot_interval,
            heartbeat_period_ms: s.heartbeat_period_ms,
        }
    }
}

impl TryFrom<pb::ClusterSpec> for ClusterSpec {
    type Error = ConvertError;

    fn try_from(p: pb::ClusterSpec) -> Result<Self, ConvertError> {
        Ok(Self {
            name: p.name,
            task_history_limit: p.task_history_limit,
            snapshot_interval: p.snapshot_interval,
            heartbeat_period_ms: p.heartbeat_period_ms,
        })
    }
}
