//! [`Object`], the sum of every stored kind, as carried by changesets and store snapshots; and
//! the [`Kind`] names used by `ObjectKey.kind`.

use crate::convert::{ConvertError, required};
use crate::pb;
use flotilla_model::{Kind, Object};

impl From<Object> for pb::Object {
    fn from(o: Object) -> Self {
        use pb::object::Object as W;
        let object = match o {
            Object::Cluster(c) => W::Cluster(c.into()),
            Object::Node(n) => W::Node(n.into()),
            Object::Service(s) => W::Service((*s).into()),
            Object::Task(t) => W::Task((*t).into()),
            Object::Network(n) => W::Network(n.into()),
            Object::Secret(s) => W::Secret(s.into()),
            Object::Config(c) => W::Config(c.into()),
        };
        Self {
            object: Some(object),
        }
    }
}

impl TryFrom<pb::Object> for Object {
    type Error = ConvertError;

    /// Errors are placed under the oneof member's name (`service.spec.mode`); an empty oneof
    /// is an error about `object`.
    fn try_from(p: pb::Object) -> Result<Self, ConvertError> {
        use pb::object::Object as W;
        Ok(match p.object {
            Some(W::Cluster(c)) => Object::Cluster(required(Some(c), "cluster")?),
            Some(W::Node(n)) => Object::Node(required(Some(n), "node")?),
            Some(W::Service(s)) => Object::Service(Box::new(required(Some(s), "service")?)),
            Some(W::Task(t)) => Object::Task(Box::new(required(Some(t), "task")?)),
            Some(W::Network(n)) => Object::Network(required(Some(n), "network")?),
            Some(W::Secret(s)) => Object::Secret(required(Some(s), "secret")?),
            Some(W::Config(c)) => Object::Config(required(Some(c), "config")?),
            None => {
                return Err(ConvertError::new(
                    "object",
                    "one of cluster, node, service, task, network, secret or config is required",
                ));
            }
        })
    }
}

/// A kind as `ObjectKey.kind` carries it: its lowercase name (`service`).
pub fn kind_to_wire(k: Kind) -> String {
    k.name().to_owned()
}

/// Parses a kind name; unknown names are errors naming `field`.
pub fn kind_from_wire(s: &str, field: &str) -> Result<Kind, ConvertError> {
    Kind::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| {
        ConvertError::new(
            field,
            format!(
                "unknown kind {s:?}; expected cluster, node, service, task, network, secret or config"
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::{node, service, task};
    use flotilla_model::{
        Cluster, ClusterId, ClusterSpec, Config, ConfigId, ConfigSpec, Meta, Network, NetworkId,
        NetworkSpec, Secret, SecretId, SecretSpec, ServiceMode, Timestamp, Version,
    };
    use prost::Message;
    use std::collections::BTreeMap;

    fn meta(v: u64) -> Meta {
        Meta {
            version: Version(v),
            created_at: Timestamp(v * 10),
            updated_at: Timestamp(v * 20),
        }
    }

    fn every_kind() -> Vec<Object> {
        let labels = BTreeMap::from([("k".to_owned(), "v".to_owned())]);
        vec![
            Object::Cluster(Cluster {
                id: ClusterId::from("c1"),
                meta: meta(1),
                spec: ClusterSpec {
                    name: "default".into(),
                    task_history_limit: 3,
                    snapshot_interval: 500,
                    heartbeat_period_ms: 2_000,
                },
                ca: flotilla_model::ClusterCa {
                    root_cert_pem: "cert".into(),
                    root_key_pem: "key".into(),
                    worker_secret: "w".into(),
                    manager_secret: "m".into(),
                    node_cert_validity_secs: 3600,
                },
                next_raft_id: 4,
                removed_nodes: vec!["gone".into()],
            }),
            Object::Node(node::tests::sample_node()),
            Object::from(service::tests::full_service()),
            Object::from(task::tests::sample_task()),
            Object::Network(Network {
                id: NetworkId::from("n1"),
                meta: meta(5),
                spec: NetworkSpec {
                    name: "backend".into(),
                    labels: labels.clone(),
                    driver: "overlay".into(),
                    subnet: "10.1.0.0/24".into(),
                    attachable: true,
                    ingress: false,
                    encrypted: true,
                },
                subnet: "10.1.0.0/24".into(),
                vni: 4097,
            }),
            Object::Secret(Secret {
                id: SecretId::from("s1"),
                meta: meta(6),
                spec: SecretSpec {
                    name: "db-password".into(),
                    labels: labels.clone(),
                    data: vec![0, 1, 2, 255],
                },
            }),
            Object::Config(Config {
                id: ConfigId::from("cf1"),
                meta: meta(7),
                spec: ConfigSpec {
                    name: "nginx.conf".into(),
                    labels,
                    data: b"events {}".to_vec(),
                },
            }),
        ]
    }

    #[test]
    fn every_kind_round_trips() {
        for o in every_kind() {
            let wire = pb::Object::from(o.clone());
            let decoded = pb::Object::decode(wire.encode_to_vec().as_slice()).expect("decodes");
            assert_eq!(Object::try_from(decoded).expect("converts back"), o);
        }
    }

    #[test]
    fn store_snapshot_round_trips() {
        let objects = every_kind();
        let snap = pb::StoreSnapshot {
            version: 99,
            objects: objects.iter().cloned().map(pb::Object::from).collect(),
        };
        let decoded = pb::StoreSnapshot::decode(snap.encode_to_vec().as_slice()).expect("decodes");
        assert_eq!(decoded.version, 99);
        let back: Vec<Object> =
            crate::convert::repeated(decoded.objects, "objects").expect("converts back");
        assert_eq!(back, objects);
    }

    #[test]
    fn bad_objects_are_named() {
        let e = Object::try_from(pb::Object { object: None }).expect_err("empty oneof");
        assert_eq!(e.field, "object");

        let mut s = service::tests::full_service();
        s.spec.mode = ServiceMode::Global;
        let mut wire = pb::Object::from(Object::from(s));
        if let Some(pb::object::Object::Service(svc)) = wire.object.as_mut() {
            svc.spec = None;
        }
        assert_eq!(
            Object::try_from(wire).expect_err("spec is required").field,
            "service.spec"
        );
    }

    #[test]
    fn kinds_round_trip() {
        for k in Kind::ALL {
            assert_eq!(
                kind_from_wire(&kind_to_wire(k), "kind").expect("known kind"),
                k
            );
        }
        assert_eq!(
            kind_from_wire("volume", "delete.kind")
                .expect_err("unknown")
                .field,
            "delete.kind"
        );
    }
}
