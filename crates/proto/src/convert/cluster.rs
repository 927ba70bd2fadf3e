//! The cluster object and its cluster-wide settings.

use crate::convert::{ConvertError, required};
use crate::pb;
use flotilla_model::{Cluster, ClusterId, ClusterSpec};

impl From<Cluster> for pb::Cluster {
    fn from(c: Cluster) -> Self {
        Self {
            id: c.id.0,
            meta: Some(c.meta.into()),
            spec: Some(c.spec.into()),
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
