//! Networks: overlay networks services attach to.

use crate::NetworkId;
use crate::meta::Meta;
use crate::validate::{ValidationError, check_labels, check_name};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A stored network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    /// Its id.
    pub id: NetworkId,
    /// Version and timestamps.
    pub meta: Meta,
    /// What the user asked for.
    pub spec: NetworkSpec,
    /// Allocated subnet (CIDR), once the allocator ran.
    pub subnet: String,
    /// Allocated VXLAN network identifier.
    pub vni: u32,
}

/// What the user asks of a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkSpec {
    /// Unique name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Driver (`overlay`).
    pub driver: String,
    /// Requested subnet (CIDR), empty to allocate one.
    pub subnet: String,
    /// Whether standalone containers may attach.
    pub attachable: bool,
    /// Whether it is the routing-mesh network.
    pub ingress: bool,
    /// Whether traffic is encrypted.
    pub encrypted: bool,
}

impl Default for NetworkSpec {
    fn default() -> Self {
        Self {
            name: String::new(),
            labels: BTreeMap::new(),
            driver: "overlay".into(),
            subnet: String::new(),
            attachable: false,
            ingress: false,
            encrypted: false,
        }
    }
}

impl NetworkSpec {
    /// Checks the spec.
    pub fn validate(&self) -> Result<(), ValidationError> {
        check_name("spec.name", &self.name)?;
        check_labels("spec.labels", &self.labels)?;
        if self.driver != "overlay" {
            return Err(ValidationError::new(
                "spec.driver",
                format!("{:?} is not supported: only overlay", self.driver),
            ));
        }
        if !self.subnet.is_empty() && !is_ipv4_cidr(&self.subnet) {
            return Err(ValidationError::new(
                "spec.subnet",
                format!("{:?} is not an IPv4 CIDR such as 10.1.0.0/24", self.subnet),
            ));
        }
        Ok(())
    }
}

fn is_ipv4_cidr(s: &str) -> bool {
    let Some((ip, len)) = s.split_once('/') else {
        return false;
    };
    ip.parse::<std::net::Ipv4Addr>().is_ok()
        && len.parse::<u8>().is_ok_and(|l| (8..=30).contains(&l))
}
