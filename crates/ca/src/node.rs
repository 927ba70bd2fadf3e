//! Node keys, certificate signing requests, roles and the identity carried by a node
//! certificate (CN = node id, OU = role, O = cluster id, as in SwarmKit).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::{Deserialize, Serialize};
use x509_parser::x509::AttributeTypeAndValue;

use crate::error::{CaError, Result};

/// The role a node certificate grants. Encoded in the certificate's OU with SwarmKit's
/// strings and also used as a DNS subject alternative name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A manager: Raft member, may call every API.
    Manager,
    /// A worker: runs tasks, may only call the worker-facing APIs.
    Worker,
}

impl Role {
    /// The certificate OU for this role: `"swarm-manager"` or `"swarm-worker"`.
    pub fn as_ou(self) -> &'static str {
        match self {
            Role::Manager => "swarm-manager",
            Role::Worker => "swarm-worker",
        }
    }

    /// Parses a certificate OU produced by [`Role::as_ou`].
    pub fn from_ou(ou: &str) -> Option<Role> {
        match ou {
            "swarm-manager" => Some(Role::Manager),
            "swarm-worker" => Some(Role::Worker),
            _ => None,
        }
    }

    /// The TLS server name a certificate of this role is valid for (same string as the OU).
    ///
    /// Clients connect to managers with `Role::Manager.server_name()`; since only manager
    /// certificates carry that name, webpki's ordinary server-name check authenticates
    /// "a manager of this cluster".
    pub fn server_name(self) -> &'static str {
        self.as_ou()
    }
}

impl fmt::Display for Role {
    /// Formats as `manager` / `worker` (the serde form).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Manager => "manager",
            Role::Worker => "worker",
        })
    }
}

/// A node's private key (ECDSA P-256). Generated locally; never leaves the node.
pub struct NodeKey {
    key: KeyPair,
}

impl NodeKey {
    /// Generates a fresh ECDSA P-256 key from the system RNG.
    pub fn generate() -> Result<NodeKey> {
        Ok(NodeKey {
            key: KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?,
        })
    }

    /// Loads a PKCS#8 PEM private key (as written by [`NodeKey::key_pem`]).
    pub fn from_pem(key_pem: &str) -> Result<NodeKey> {
        Ok(NodeKey {
            key: KeyPair::from_pem(key_pem)?,
        })
    }

    /// The private key as PKCS#8 PEM. Secret: store it with restrictive permissions.
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    /// A PEM certificate signing request for this key. Its subject (CN "flotilla-node") is a
    /// placeholder: the CA ignores it and sets node id, role and cluster id itself.
    pub fn csr_pem(&self) -> Result<String> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "flotilla-node");
        params.distinguished_name = dn;
        let csr = params.serialize_request(&self.key)?;
        Ok(csr.pem()?)
    }

    /// The raw public key bytes (uncompressed EC point for P-256).
    pub fn public_key_raw(&self) -> &[u8] {
        self.key.public_key_raw()
    }
}

impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeKey").finish_non_exhaustive()
    }
}

/// A node certificate together with its private key.
#[derive(Debug)]
pub struct NodeCert {
    /// The PEM certificate issued by the cluster root CA.
    pub cert_pem: String,
    /// The private key the certificate was issued for.
    pub key: NodeKey,
}

impl NodeCert {
    /// Pairs a certificate with its key, checking that the certificate's public key is the
    /// key's public key.
    pub fn new(cert_pem: String, key: NodeKey) -> Result<NodeCert> {
        let der = cert_der_from_pem(&cert_pem, "node certificate")?;
        let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
            .map_err(|e| CaError::BadCertificate(format!("cannot parse certificate: {e}")))?;
        let spki_bits: &[u8] = &cert.public_key().subject_public_key.data;
        if spki_bits != key.public_key_raw() {
            return Err(CaError::KeyMismatch);
        }
        Ok(NodeCert { cert_pem, key })
    }

    /// The identity (node id, role, cluster id, serial, validity) in the certificate.
    pub fn identity(&self) -> Result<Identity> {
        Identity::from_pem(&self.cert_pem)
    }

    /// The private key as PKCS#8 PEM.
    pub fn key_pem(&self) -> String {
        self.key.key_pem()
    }
}

/// What a node certificate says about its holder.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    /// Node id (certificate CN).
    pub node_id: String,
    /// Role (certificate OU).
    pub role: Role,
    /// Cluster id (certificate O).
    pub cluster_id: String,
    /// Serial number as lowercase hex without leading zero bytes (see [`serial_hex`]).
    pub serial_hex: String,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
}

impl Identity {
    /// Reads the identity from a DER certificate. Does NOT verify the certificate: only use
    /// it on certificates that were verified (e.g. by the TLS layer) or that you issued.
    pub fn from_der(cert_der: &[u8]) -> Result<Identity> {
        let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
            .map_err(|e| CaError::BadCertificate(format!("cannot parse certificate: {e}")))?;
        let subject = cert.subject();
        let node_id = first_attr(subject.iter_common_name(), "CN (node id)")?;
        let ou = first_attr(subject.iter_organizational_unit(), "OU (role)")?;
        let role = Role::from_ou(&ou)
            .ok_or_else(|| CaError::BadCertificate(format!("unknown role OU {ou:?}")))?;
        let cluster_id = first_attr(subject.iter_organization(), "O (cluster id)")?;
        let validity = cert.validity();
        Ok(Identity {
            node_id,
            role,
            cluster_id,
            serial_hex: serial_hex(cert.raw_serial()),
            not_before: system_time_from_unix(validity.not_before.timestamp()),
            not_after: system_time_from_unix(validity.not_after.timestamp()),
        })
    }

    /// Reads the identity from a PEM certificate (the first CERTIFICATE block).
    /// Same caveat as [`Identity::from_der`].
    pub fn from_pem(cert_pem: &str) -> Result<Identity> {
        let der = cert_der_from_pem(cert_pem, "node certificate")?;
        Identity::from_der(der.as_ref())
    }

    /// True if `now` lies within the certificate's validity window.
    pub fn is_valid_at(&self, now: SystemTime) -> bool {
        self.not_before <= now && now <= self.not_after
    }
}

/// Formats certificate serial bytes the way [`Identity::serial_hex`] does: lowercase hex,
/// leading zero bytes removed (DER integers drop them), `"00"` for zero.
pub fn serial_hex(serial: &[u8]) -> String {
    let start = serial.iter().position(|b| *b != 0).unwrap_or(serial.len());
    let trimmed = &serial[start..];
    if trimmed.is_empty() {
        return "00".to_owned();
    }
    crate::hex(trimmed)
}

fn first_attr<'b, 'a: 'b>(
    mut attrs: impl Iterator<Item = &'b AttributeTypeAndValue<'a>>,
    what: &str,
) -> Result<String> {
    let attr = attrs
        .next()
        .ok_or_else(|| CaError::BadCertificate(format!("subject has no {what}")))?;
    let value = attr
        .as_str()
        .map_err(|e| CaError::BadCertificate(format!("subject {what} is not a string: {e}")))?;
    Ok(value.to_owned())
}

/// Converts a UNIX timestamp (seconds, possibly negative) into a `SystemTime`.
pub(crate) fn system_time_from_unix(secs: i64) -> SystemTime {
    let magnitude = Duration::from_secs(secs.unsigned_abs());
    let t = if secs >= 0 {
        UNIX_EPOCH.checked_add(magnitude)
    } else {
        UNIX_EPOCH.checked_sub(magnitude)
    };
    t.unwrap_or(UNIX_EPOCH)
}

/// Decodes the first CERTIFICATE block of a PEM document.
pub(crate) fn cert_der_from_pem(pem: &str, what: &'static str) -> Result<CertificateDer<'static>> {
    CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| CaError::Pem {
        what,
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_strings_round_trip() {
        for role in [Role::Manager, Role::Worker] {
            assert_eq!(Role::from_ou(role.as_ou()), Some(role));
            assert_eq!(role.server_name(), role.as_ou());
        }
        assert_eq!(Role::Manager.as_ou(), "swarm-manager");
        assert_eq!(Role::Worker.as_ou(), "swarm-worker");
        assert_eq!(Role::from_ou("swarm-admin"), None);
        assert_eq!(Role::Manager.to_string(), "manager");
    }

    #[test]
    fn serial_hex_strips_leading_zeros() {
        assert_eq!(serial_hex(&[0, 0, 0x1a, 0xff]), "1aff");
        assert_eq!(serial_hex(&[0, 0]), "00");
        assert_eq!(serial_hex(&[]), "00");
        assert_eq!(serial_hex(&[0x80, 0x01]), "8001");
    }

    #[test]
    fn key_pem_round_trip_and_csr() {
        let key = NodeKey::generate().unwrap();
        let again = NodeKey::from_pem(&key.key_pem()).unwrap();
        assert_eq!(key.public_key_raw(), again.public_key_raw());
        let csr = key.csr_pem().unwrap();
        assert!(csr.contains("BEGIN CERTIFICATE REQUEST"));
        let parsed = rcgen::CertificateSigningRequestParams::from_pem(&csr).unwrap();
        assert_eq!(
            rcgen::PublicKeyData::der_bytes(&parsed.public_key),
            key.public_key_raw()
        );
    }

    #[test]
    fn garbage_pem_is_rejected() {
        assert!(NodeKey::from_pem("not a key").is_err());
        assert!(Identity::from_pem("not a cert").is_err());
        assert!(Identity::from_der(b"\x30\x03\x02\x01\x00").is_err());
    }

    #[test]
    fn unix_conversion() {
        assert_eq!(system_time_from_unix(0), UNIX_EPOCH);
        assert_eq!(
            system_time_from_unix(90),
            UNIX_EPOCH + Duration::from_secs(90)
        );
        assert_eq!(
            system_time_from_unix(-90),
            UNIX_EPOCH - Duration::from_secs(90)
        );
    }
}
