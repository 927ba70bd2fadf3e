//! Nodes: spec (role, availability, labels), self-description, status and manager status.

use crate::convert::{ConvertError, enum_value, optional, required};
use crate::pb;
use flotilla_model::{
    ManagerStatus, Node, NodeDescription, NodeId, NodeSpec, NodeStatus, Platform,
};

enum_map!(NodeRole <=> NodeRole {
    Worker <=> Worker,
    Manager <=> Manager,
});

enum_map!(Availability <=> Availability {
    Active <=> Active,
    Pause <=> Pause,
    Drain <=> Drain,
});

enum_map!(NodeState <=> NodeState {
    Unknown <=> Unknown,
    Ready <=> Ready,
    Down <=> Down,
    Disconnected <=> Disconnected,
});

enum_map!(Reachability <=> Reachability {
    Unknown <=> Unknown,
    Reachable <=> Reachable,
    Unreachable <=> Unreachable,
});

impl From<Node> for pb::Node {
    fn from(n: Node) -> Self {
        Self {
            id: n.id.0,
            meta: Some(n.meta.into()),
            spec: Some(n.spec.into()),
            description: Some(n.description.into()),
            status: Some(n.status.into()),
            manager_status: n.manager_status.map(Into::into),
            raft_id: n.raft_id,
        }
    }
}

impl TryFrom<pb::Node> for Node {
    type Error = ConvertError;

    fn try_from(p: pb::Node) -> Result<Self, ConvertError> {
        Ok(Self {
            id: NodeId(p.id),
            meta: required(p.meta, "meta")?,
            spec: required(p.spec, "spec")?,
            description: required(p.description, "description")?,
            status: required(p.status, "status")?,
            manager_status: optional(p.manager_status, "manager_status")?,
            raft_id: p.raft_id,
        })
    }
}

impl From<NodeSpec> for pb::NodeSpec {
    fn from(s: NodeSpec) -> Self {
        Self {
            labels: s.labels,
            role: pb::NodeRole::from(s.role).into(),
            availability: pb::Availability::from(s.availability).into(),
        }
    }
}

impl TryFrom<pb::NodeSpec> for NodeSpec {
    type Error = ConvertError;

    fn try_from(p: pb::NodeSpec) -> Result<Self, ConvertError> {
        Ok(Self {
            labels: p.labels,
            role: enum_value::<pb::NodeRole>(p.role, "role")?.into(),
            availability: enum_value::<pb::Availability>(p.availability, "availability")?.into(),
        })
    }
}

impl From<NodeDescription> for pb::NodeDescription {
    fn from(d: NodeDescription) -> Self {
        Self {
            hostname: d.hostname,
            platform: Some(d.platform.into()),
            nano_cpus: d.nano_cpus,
            memory_bytes: d.memory_bytes,
            engine_version: d.engine_version,
        }
    }
}

impl TryFrom<pb::NodeDescription> for NodeDescription {
    type Error = ConvertError;

    fn try_from(p: pb::NodeDescription) -> Result<Self, ConvertError> {
        Ok(Self {
            hostname: p.hostname,
            platform: required(p.platform, "platform")?,
            nano_cpus: p.nano_cpus,
            memory_bytes: p.memory_bytes,
            engine_version: p.engine_version,
        })
    }
}

impl From<Platform> for pb::Platform {
    fn from(p: Platform) -> Self {
        Self {
            os: p.os,
            architecture: p.architecture,
        }
    }
}

impl TryFrom<pb::Platform> for Platform {
    type Error = ConvertError;

    fn try_from(p: pb::Platform) -> Result<Self, ConvertError> {
        Ok(Self {
            os: p.os,
            architecture: p.architecture,
        })
    }
}

impl From<NodeStatus> for pb::NodeStatus {
    fn from(s: NodeStatus) -> Self {
        Self {
            state: pb::NodeState::from(s.state).into(),
            message: s.message,
            addr: s.addr,
        }
    }
}

impl TryFrom<pb::NodeStatus> for NodeStatus {
    type Error = ConvertError;

    fn try_from(p: pb::NodeStatus) -> Result<Self, ConvertError> {
        Ok(Self {
            state: enum_value::<pb::NodeState>(p.state, "state")?.into(),
            message: p.message,
            addr: p.addr,
        })
    }
}

impl From<ManagerStatus> for pb::ManagerStatus {
    fn from(m: ManagerStatus) -> Self {
        Self {
            leader: m.leader,
            reachability: pb::Reachability::from(m.reachability).into(),
            addr: m.addr,
        }
    }
}

impl TryFrom<pb::ManagerStatus> for ManagerStatus {
    type Error = ConvertError;

    fn try_from(p: pb::ManagerStatus) -> Result<Self, ConvertError> {
        Ok(Self {
            leader: p.leader,
            reachability: enum_value::<pb::Reachability>(p.reachability, "reachability")?.into(),
            addr: p.addr,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use flotilla_model::{
        Availability, Meta, NodeRole, NodeState, Reachability, Timestamp, Version,
    };
    use prost::Message;
    use std::collections::BTreeMap;

    pub(crate) fn sample_node() -> Node {
        Node {
            id: NodeId::from("node00000000000000000001"),
            meta: Meta {
                version: Version(3),
                created_at: Timestamp(1),
                updated_at: Timestamp(2),
            },
            spec: NodeSpec {
                labels: BTreeMap::from([("zone".to_owned(), "a".to_owned())]),
                role: NodeRole::Manager,
                availability: Availability::Drain,
            },
            description: NodeDescription {
                hostname: "m1".into(),
                platform: Platform {
                    os: "linux".into(),
                    architecture: "x86_64".into(),
                },
                nano_cpus: 4_000_000_000,
                memory_bytes: 8 << 30,
                engine_version: "0.1.0".into(),
            },
            status: NodeStatus {
                state: NodeState::Ready,
                message: String::new(),
                addr: "10.0.0.1".into(),
            },
            manager_status: Some(ManagerStatus {
                leader: true,
                reachability: Reachability::Reachable,
                addr: "10.0.0.1:2377".into(),
            }),
            raft_id: 0x1234_5678_9abc,
        }
    }

    #[test]
    fn node_round_trips() {
        let n = sample_node();
        let wire = pb::Node::from(n.clone());
        let decoded = pb::Node::decode(wire.encode_to_vec().as_slice()).expect("decodes");
        assert_eq!(Node::try_from(decoded).expect("converts back"), n);

        let mut worker = sample_node();
        worker.manager_status = None;
        worker.spec = NodeSpec::default();
        worker.status = NodeStatus {
            state: NodeState::Down,
            ..Default::default()
        };
        let back = Node::try_from(pb::Node::from(worker.clone())).expect("converts back");
        assert_eq!(back, worker);
    }

    #[test]
    fn bad_fields_are_named() {
        let mut wire = pb::Node::from(sample_node());
        if let Some(d) = wire.description.as_mut() {
            d.platform = None;
        }
        assert_eq!(
            Node::try_from(wire)
                .expect_err("platform is required")
                .field,
            "description.platform"
        );

        let mut wire = pb::Node::from(sample_node());
        if let Some(m) = wire.manager_status.as_mut() {
            m.reachability = 7;
        }
        assert_eq!(
            Node::try_from(wire)
                .expect_err("unknown reachability")
                .field,
            "manager_status.reachability"
        );
    }
}
