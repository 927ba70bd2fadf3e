//! Networks: the user's spec and the allocated subnet and VNI.

use crate::convert::{ConvertError, required};
use crate::pb;
use flotilla_model::{Network, NetworkId, NetworkSpec};

impl From<Network> for pb::Network {
    fn from(n: Network) -> Self {
        Self {
            id: n.id.0,
            meta: Some(n.meta.into()),
            spec: Some(n.spec.into()),
            subnet: n.subnet,
            vni: n.vni,
        }
    }
}

impl TryFrom<pb::Network> for Network {
    type Error = ConvertError;

    fn try_from(p: pb::Network) -> Result<Self, ConvertError> {
        Ok(Self {
            id: NetworkId(p.id),
            meta: required(p.meta, "meta")?,
            spec: required(p.spec, "spec")?,
            subnet: p.subnet,
            vni: p.vni,
        })
    }
}

impl From<NetworkSpec> for pb::NetworkSpec {
    fn from(s: NetworkSpec) -> Self {
        Self {
            name: s.name,
            labels: s.labels,
            driver: s.driver,
            subnet: s.subnet,
            attachable: s.attachable,
            ingress: s.ingress,
            encrypted: s.encrypted,
        }
    }
}

impl TryFrom<pb::NetworkSpec> for NetworkSpec {
    type Error = ConvertError;

    fn try_from(p: pb::NetworkSpec) -> Result<Self, ConvertError> {
        Ok(Self {
            name: p.name,
            labels: p.labels,
            driver: p.driver,
            subnet: p.subnet,
            attachable: p.attachable,
            ingress: p.ingress,
            encrypted: p.encrypted,
        })
    }
}
