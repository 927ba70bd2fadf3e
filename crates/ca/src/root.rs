//! The cluster root CA: a self-signed ECDSA P-256 certificate (20 years) that signs every
//! node certificate. Managers hold its key; workers hold only the certificate.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls::server::danger::ClientCertVerifier;
use rustls_pki_types::CertificateDer;
use sha2::{Digest, Sha256};

use crate::error::{CaError, Result};
use crate::node::{Identity, Role, cert_der_from_pem};

/// Subject CN of every flotilla root CA.
pub const ROOT_CA_COMMON_NAME: &str = "flotilla-root-ca";

/// Validity of a freshly generated root CA: 20 years (SwarmKit's `RootCAExpiration`,
/// 630720000 s).
pub const ROOT_CA_VALIDITY: Duration = Duration::from_secs(630_720_000);

/// How far a node certificate's `not_before` is backdated to tolerate clock skew.
pub const NODE_CERT_BACKDATE: Duration = Duration::from_secs(60);

/// How far the root CA's `not_before` is backdated.
pub const ROOT_CA_BACKDATE: Duration = Duration::from_secs(3600);

/// Largest UNIX time representable in a certificate (9999-12-31T23:59:59Z).
const MAX_CERT_UNIX_SECS: u64 = 253_402_300_799;

/// Maximum length of a node id or cluster id (the X.520 upper bound for a CN is 64).
const MAX_ID_LEN: usize = 64;

/// The cluster root certificate authority.
pub struct RootCa {
    cert_der: CertificateDer<'static>,
    cert_pem: String,
    cluster_id: String,
    digest: String,
    /// Present only on managers (loaded with the key).
    issuer: Option<Issuer<'static, KeyPair>>,
}

impl RootCa {
    /// Generates a new root CA for `cluster_id`: fresh ECDSA P-256 key, subject
    /// CN = "flotilla-root-ca", O = cluster id, CA:TRUE, key usages keyCertSign + cRLSign,
    /// valid from `now` - 1 h for 20 years.
    pub fn generate(cluster_id: &str, now: SystemTime) -> Result<RootCa> {
        validate_id("cluster id", cluster_id)?;
        let not_before = checked_sub(now, ROOT_CA_BACKDATE)?;
        let not_after = checked_add(now, ROOT_CA_VALIDITY)?;
        check_cert_time(not_before)?;
        check_cert_time(not_after)?;

        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, cluster_id);
        dn.push(DnType::CommonName, ROOT_CA_COMMON_NAME);
        params.distinguished_name = dn;
        // Unconstrained path length so a future rotated root can be cross-signed and used
        // as an intermediate.
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = not_before.into();
        params.not_after = not_after.into();

        let cert = params.self_signed(&key)?;
        let cert_der = cert.der().clone();
        let cert_pem = cert.pem();
        let digest = digest_of(cert_der.as_ref());
        Ok(RootCa {
            cert_der,
            cert_pem,
            cluster_id: cluster_id.to_owned(),
            digest,
            issuer: Some(Issuer::new(params, key)),
        })
    }

    /// Loads a root CA from its PEM certificate and, on managers, its PEM private key.
    /// Checks that the certificate is a self-signed CA naming a cluster (O) and that the
    /// key matches it.
    pub fn from_pem(cert_pem: &str, key_pem: Option<&str>) -> Result<RootCa> {
        let cert_der = cert_der_from_pem(cert_pem, "root CA certificate")?;
        let (cluster_id, spki_bits) = {
            let (_, cert) = x509_parser::parse_x509_certificate(cert_der.as_ref())
                .map_err(|e| CaError::BadCertificate(format!("cannot parse root CA: {e}")))?;
            if !cert.is_ca() {
                return Err(CaError::NotACa);
            }
            cert.verify_signature(None).map_err(|e| {
                CaError::BadCertificate(format!("root CA is not validly self-signed: {e}"))
            })?;
            let org = cert.subject().iter_organization().next().ok_or_else(|| {
                CaError::BadCertificate("root CA subject has no O (cluster id)".to_owned())
            })?;
            let cluster_id = org
                .as_str()
                .map_err(|e| CaError::BadCertificate(format!("root CA O is not a string: {e}")))?
                .to_owned();
            let spki_bits: Vec<u8> = cert.public_key().subject_public_key.data.to_vec();
            (cluster_id, spki_bits)
        };

        let issuer = match key_pem {
            None => None,
            Some(key_pem) => {
                let key = KeyPair::from_pem(key_pem)?;
                if key.public_key_raw() != spki_bits.as_slice() {
                    return Err(CaError::KeyMismatch);
                }
                Some(Issuer::from_ca_cert_der(&cert_der, key)?)
            }
        };

        let digest = digest_of(cert_der.as_ref());
        Ok(RootCa {
            cert_der,
            cert_pem: cert_pem.to_owned(),
            cluster_id,
            digest,
            issuer,
        })
    }

    /// The root certificate as PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The root certificate as DER.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// The root private key as PKCS#8 PEM, if this node holds it (managers only).
    pub fn key_pem(&self) -> Option<String> {
        self.issuer
            .as_ref()
            .map(|issuer| issuer.key().serialize_pem())
    }

    /// The cluster id (the root certificate's O).
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// Lowercase hex SHA-256 of the DER root certificate (64 characters); pinned by join
    /// tokens.
    pub fn digest(&self) -> String {
        self.digest.clone()
    }

    /// True if this root CA holds its private key and can sign node certificates.
    pub fn can_sign(&self) -> bool {
        self.issuer.is_some()
    }

    /// Issues a node certificate for the public key in `csr_pem`.
    ///
    /// The CSR's own signature is verified, but everything it asks for (subject, SANs,
    /// extensions) is ignored. The certificate gets CN = `node_id`, OU = role
    /// (`swarm-manager`/`swarm-worker`), O = `cluster_id`, DNS SANs = [role string, node id],
    /// validity [`now` - 1 min, `now` + `validity`], the given serial, EKU server + client
    /// auth, CA:FALSE. No minimum validity is enforced here (see
    /// [`crate::validate_validity`] for user-facing configuration).
    ///
    /// Fails if `cluster_id` is not this root's cluster, if the ids are unusable
    /// (1–64 characters of `[A-Za-z0-9._-]`, not a role string), or if this root CA has no
    /// key.
    #[allow(clippy::too_many_arguments)]
    pub fn sign_node_csr(
        &self,
        csr_pem: &str,
        node_id: &str,
        role: Role,
        cluster_id: &str,
        validity: Duration,
        now: SystemTime,
        serial: [u8; 16],
    ) -> Result<String> {
        if cluster_id != self.cluster_id {
            return Err(CaError::ClusterMismatch {
                expected: self.cluster_id.clone(),
                actual: cluster_id.to_owned(),
            });
        }
        self.sign_node_csr_unchecked(csr_pem, node_id, role, cluster_id, validity, now, serial)
    }

    /// [`RootCa::sign_node_csr`] without the cluster id check (tests use it to forge a
    /// certificate that chains to this root but names another cluster).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn sign_node_csr_unchecked(
        &self,
        csr_pem: &str,
        node_id: &str,
        role: Role,
        cluster_id: &str,
        validity: Duration,
        now: SystemTime,
        serial: [u8; 16],
    ) -> Result<String> {
        let issuer = self.issuer.as_ref().ok_or(CaError::NoSigningKey)?;
        validate_id("node id", node_id)?;
        validate_id("cluster id", cluster_id)?;
        if Role::from_ou(node_id).is_some() {
            return Err(CaError::InvalidName {
                kind: "node id",
                value: node_id.to_owned(),
                reason: "must not equal a role name",
            });
        }
        let not_before = checked_sub(now, NODE_CERT_BACKDATE)?;
        let not_after = checked_add(now, validity)?;
        check_cert_time(not_before)?;
        check_cert_time(not_after)?;

        // Verifies the CSR's self-signature (proof of possession of the key).
        let csr = CertificateSigningRequestParams::from_pem(csr_pem)?;

        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, cluster_id);
        dn.push(DnType::OrganizationalUnitName, role.as_ou());
        dn.push(DnType::CommonName, node_id);
        params.distinguished_name = dn;
        params.subject_alt_names = vec![
            SanType::DnsName(role.server_name().try_into()?),
            SanType::DnsName(node_id.try_into()?),
        ];
        params.not_before = not_before.into();
        params.not_after = not_after.into();
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;

        let cert = params.signed_by(&csr.public_key, issuer)?;
        Ok(cert.pem())
    }

    /// Verifies that a DER node certificate chains to this root, is valid at `now`, allows
    /// client authentication and names this root's cluster; returns its identity.
    /// (Revocation is the caller's business: see [`crate::Revocations`].)
    pub fn verify_node_cert(&self, cert_der: &[u8], now: SystemTime) -> Result<Identity> {
        let verifier = crate::tls::webpki_client_verifier(self)?;
        let der = CertificateDer::from(cert_der);
        ClientCertVerifier::verify_client_cert(&*verifier, &der, &[], crate::tls::unix_time(now))?;
        let identity = Identity::from_der(cert_der)?;
        if identity.cluster_id != self.cluster_id {
            return Err(CaError::ClusterMismatch {
                expected: self.cluster_id.clone(),
                actual: identity.cluster_id,
            });
        }
        Ok(identity)
    }

    /// [`RootCa::verify_node_cert`] for a PEM certificate.
    pub fn verify_node_cert_pem(&self, cert_pem: &str, now: SystemTime) -> Result<Identity> {
        let der = cert_der_from_pem(cert_pem, "node certificate")?;
        self.verify_node_cert(der.as_ref(), now)
    }
}

impl fmt::Debug for RootCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RootCa")
            .field("cluster_id", &self.cluster_id)
            .field("digest", &self.digest)
            .field("can_sign", &self.can_sign())
            .finish_non_exhaustive()
    }
}

/// Lowercase hex SHA-256 of `der`.
fn digest_of(der: &[u8]) -> String {
    crate::hex(Sha256::digest(der).as_slice())
}

/// Node ids and cluster ids end up in CN/O and in a DNS SAN: keep them short and plain.
fn validate_id(kind: &'static str, value: &str) -> Result<()> {
    let reason = if value.is_empty() {
        Some("must not be empty")
    } else if value.len() > MAX_ID_LEN {
        Some("must be at most 64 characters")
    } else if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        Some("may only contain ASCII letters, digits, '-', '_' and '.'")
    } else {
        None
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(CaError::InvalidName {
            kind,
            value: value.to_owned(),
            reason,
        }),
    }
}

fn checked_sub(t: SystemTime, d: Duration) -> Result<SystemTime> {
    t.checked_sub(d)
        .ok_or_else(|| CaError::TimeOutOfRange(format!("{t:?} - {d:?}")))
}

fn checked_add(t: SystemTime, d: Duration) -> Result<SystemTime> {
    t.checked_add(d)
        .ok_or_else(|| CaError::TimeOutOfRange(format!("{t:?} + {d:?}")))
}

/// Certificates can only carry times between 1970 (our choice) and 9999 (X.509).
fn check_cert_time(t: SystemTime) -> Result<()> {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) if d.as_secs() <= MAX_CERT_UNIX_SECS => Ok(()),
        _ => Err(CaError::TimeOutOfRange(format!(
            "{t:?} is outside 1970..=9999 and cannot be put in a certificate"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::{NodeKey, serial_hex};

    const DAY: Duration = Duration::from_secs(86_400);

    fn serial(n: u8) -> [u8; 16] {
        let mut s = [n; 16];
        s[0] = 0x8f; // high bit set: DER adds a leading zero that serial_hex must hide
        s
    }

    #[test]
    fn generate_root_properties() {
        let now = SystemTime::now();
        let root = RootCa::generate("cluster-a", now).unwrap();
        assert!(root.can_sign());
        assert_eq!(root.cluster_id(), "cluster-a");
        assert_eq!(root.digest().len(), 64);
        assert!(
            root.digest()
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );

        let (_, cert) = x509_parser::parse_x509_certificate(root.cert_der().as_ref()).unwrap();
        assert!(cert.is_ca());
        let cn = cert.subject().iter_common_name().next().unwrap();
        assert_eq!(cn.as_str().unwrap(), ROOT_CA_COMMON_NAME);
        let o = cert.subject().iter_organization().next().unwrap();
        assert_eq!(o.as_str().unwrap(), "cluster-a");
        let ku = cert.key_usage().unwrap().unwrap().value;
        assert!(ku.key_cert_sign());
        assert!(ku.crl_sign());
        let lifetime =
            cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp();
        assert_eq!(
            lifetime as u64,
            ROOT_CA_VALIDITY.as_secs() + ROOT_CA_BACKDATE.as_secs()
        );
    }

    #[test]
    fn root_pem_round_trip() {
        let now = SystemTime::now();
        let root = RootCa::generate("cluster-a", now).unwrap();
        let key_pem = root.key_pem().unwrap();

        let worker_view = RootCa::from_pem(root.cert_pem(), None).unwrap();
        assert!(!worker_view.can_sign());
        assert!(worker_view.key_pem().is_none());
        assert_eq!(worker_view.digest(), root.digest());
        assert_eq!(worker_view.cluster_id(), "cluster-a");

        let manager_view = RootCa::from_pem(root.cert_pem(), Some(&key_pem)).unwrap();
        assert!(manager_view.can_sign());
        assert_eq!(manager_view.digest(), root.digest());

        // A certificate signed by the reloaded root verifies against the original.
        let key = NodeKey::generate().unwrap();
        let pem = manager_view
            .sign_node_csr(
                &key.csr_pem().unwrap(),
                "node1",
                Role::Worker,
                "cluster-a",
                DAY,
                now,
                serial(1),
            )
            .unwrap();
        let id = root.verify_node_cert_pem(&pem, now).unwrap();
        assert_eq!(id.node_id, "node1");

        // A worker cannot sign.
        let err = worker_view
            .sign_node_csr(
                &key.csr_pem().unwrap(),
                "node1",
                Role::Worker,
                "cluster-a",
                DAY,
                now,
                serial(1),
            )
            .unwrap_err();
        assert!(matches!(err, CaError::NoSigningKey));
    }

    #[test]
    fn mismatched_key_is_rejected() {
        let now = SystemTime::now();
        let a = RootCa::generate("cluster-a", now).unwrap();
        let b = RootCa::generate("cluster-a", now).unwrap();
        let err = RootCa::from_pem(a.cert_pem(), b.key_pem().as_deref()).unwrap_err();
        assert!(matches!(err, CaError::KeyMismatch), "{err}");
    }

    #[test]
    fn leaf_is_not_a_root() {
        let now = SystemTime::now();
        let root = RootCa::generate("cluster-a", now).unwrap();
        let key = NodeKey::generate().unwrap();
        let pem = root
            .sign_node_csr(
                &key.csr_pem().unwrap(),
                "node1",
                Role::Manager,
                "cluster-a",
                DAY,
                now,
                serial(2),
            )
            .unwrap();
        assert!(matches!(
            RootCa::from_pem(&pem, None).unwrap_err(),
            CaError::NotACa
        ));
    }

    #[test]
    fn sign_worker_and_read_identity() {
        let now = SystemTime::now();
        let root = RootCa::generate("cluster-a", now).unwrap();
        let key = NodeKey::generate().unwrap();
        let s = serial(7);
        let pem = root
            .sign_node_csr(
                &key.csr_pem().unwrap(),
                "abc123node",
                Role::Worker,
                "cluster-a",
                30 * DAY,
                now,
                s,
            )
            .unwrap();

        let id = Identity::from_pem(&pem).unwrap();
        assert_eq!(id.node_id, "abc123node");
        assert_eq!(id.role, Role::Worker);
        assert_eq!(id.cluster_id, "cluster-a");
        assert_eq!(id.serial_hex, serial_hex(&s));
        assert_eq!(id.serial_hex.len(), 32);
        assert!(id.serial_hex.starts_with("8f"));
        // Second precision in certificates.
        let nb = now - NODE_CERT_BACKDATE;
        let na = now + 30 * DAY;
        let close = |a: SystemTime, b: SystemTime| {
            let d = a.duration_since(b).unwrap_or_else(|e| e.duration());
            d < Duration::from_secs(2)
        };
        assert!(close(id.not_before, nb));
        assert!(close(id.not_after, na));
        assert!(id.is_valid_at(now));

        // SANs and extensions.
        let der = cert_der_from_pem(&pem, "test").unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).unwrap();
        assert!(!cert.is_ca());
        let san = cert.subject_alternative_name().unwrap().unwrap().value;
        let names: Vec<String> = san.general_names.iter().map(|n| format!("{n}")).collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names[0].contains("swarm-worker"), "{names:?}");
        assert!(names[1].contains("abc123node"), "{names:?}");
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && eku.client_auth);

        let verified = root.verify_node_cert_pem(&pem, now).unwrap();
        assert_eq!(verified, id);
    }

    #[test]
    fn csr_subject_and_sans_are_ignored() {
        let now = SystemTime::now();
        let root = RootCa::generate("cluster-a", now).unwrap();
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::new(vec!["swarm-manager".to_owned()]).unwrap();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "evil");
        dn.push(DnType::OrganizationalUnitName, "swarm-manager");
        dn.push(DnType::OrganizationName, "other-cluster");
        params.distinguished_name = dn;
        let csr = params.serialize_request(&key).unwrap().pem().unwrap();

        let pem = root
            .sign_node_csr(&csr, "n1", Role::Worker, "cluster-a", DAY, now, serial(3))
            .unwrap();
        let id = Identity::from_pem(&pem).unwrap();
        assert_eq!(id.node_id, "n1");
        assert_eq!(id.role, Role::Worker);
        assert_eq!(id.cluster_id, "cluster-a");
        assert!(!pem.is_empty());
        let der = cert_der_from_pem(&pem, "test").unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).unwrap();
        let san = cert.subject_alternative_name().unwrap().unwrap().value;
        let names: Vec<String> = san.general_names.iter().map(|n| format!("{n}")).collect();
        assert!(
            !names.iter().any(|n| n.contains("swarm-manager")),
            "{names:?}"
        );
    }

    #[test]
    fn tampered_csr_is_rejected() {
        let now = SystemTime::now();
        let root = RootCa::generate("cluster-a", now).unwrap();
        assert!(
            root.sign_node_csr(
                "garbage",
                "n1",
                Role::Worker,
                "cluster-a",
                DAY,
                now,
                serial(1)
            )
            .is_err()
        );
    }

    #[test]
    fn bad_ids_and_cluster_are_rejected() {
        let now = SystemTime::now();
        let root = RootCa::generate("cluster-a", now).unwrap();
        let csr = NodeKey::generate().unwrap().csr_pem().unwrap();
        let sign = |node: &str, cluster: &str| {
            root.sign_node_csr(&csr, node, Role::Worker, cluster, DAY, now, serial(1))
        };
        assert!(matches!(
            sign("n1", "cluster-b").unwrap_err(),
            CaError::ClusterMismatch { .. }
        ));
        assert!(matches!(
            sign("", "cluster-a").unwrap_err(),
            CaError::InvalidName { .. }
        ));
        assert!(matches!(
            sign("has space", "cluster-a").unwrap_err(),
            CaError::InvalidName { .. }
        ));
        assert!(matches!(
            sign("x".repeat(65).as_str(), "cluster-a").unwrap_err(),
            CaError::InvalidName { .. }
        ));
        assert!(matches!(
            sign("swarm-manager", "cluster-a").unwrap_err(),
            CaError::InvalidName { .. }
        ));
        assert!(RootCa::generate("bad cluster", now).is_err());
    }

    #[test]
    fn cert_from_other_cluster_root_fails_verification() {
        let now = SystemTime::now();
        let ours = RootCa::generate("cluster-a", now).unwrap();
        let theirs = RootCa::generate("cluster-b", now).unwrap();
        let csr = NodeKey::generate().unwrap().csr_pem().unwrap();
        let pem = theirs
            .sign_node_csr(&csr, "n1", Role::Manager, "cluster-b", DAY, now, serial(4))
            .unwrap();
        assert!(theirs.verify_node_cert_pem(&pem, now).is_ok());
        let err = ours.verify_node_cert_pem(&pem, now).unwrap_err();
        assert!(matches!(err, CaError::Tls(_)), "{err}");

        // Same cluster id, different root key: still refused.
        let impostor = RootCa::generate("cluster-a", now).unwrap();
        let pem = impostor
            .sign_node_csr(&csr, "n1", Role::Manager, "cluster-a", DAY, now, serial(5))
            .unwrap();
        assert!(ours.verify_node_cert_pem(&pem, now).is_err());
    }

    #[test]
    fn expired_and_not_yet_valid_certs_fail_verification() {
        let now = SystemTime::now();
        let root = RootCa::generate("cluster-a", now - 400 * DAY).unwrap();
        let csr = NodeKey::generate().unwrap().csr_pem().unwrap();
        let old = root
            .sign_node_csr(
                &csr,
                "n1",
                Role::Worker,
                "cluster-a",
                DAY,
                now - 200 * DAY,
                serial(6),
            )
            .unwrap();
        assert!(root.verify_node_cert_pem(&old, now).is_err());
        assert!(root.verify_node_cert_pem(&old, now - 200 * DAY).is_ok());

        let future = root
            .sign_node_csr(
                &csr,
                "n1",
                Role::Worker,
                "cluster-a",
                DAY,
                now + 10 * DAY,
                serial(6),
            )
            .unwrap();
        assert!(root.verify_node_cert_pem(&future, now).is_err());
    }

    #[test]
    fn forged_cluster_is_caught_by_verify() {
        let now = SystemTime::now();
        let root = RootCa::generate("cluster-a", now).unwrap();
        let csr = NodeKey::generate().unwrap().csr_pem().unwrap();
        let pem = root
            .sign_node_csr_unchecked(&csr, "n1", Role::Worker, "cluster-z", DAY, now, serial(8))
            .unwrap();
        assert!(matches!(
            root.verify_node_cert_pem(&pem, now).unwrap_err(),
            CaError::ClusterMismatch { .. }
        ));
    }

    #[test]
    fn times_out_of_range_are_rejected() {
        let root = RootCa::generate("cluster-a", SystemTime::now()).unwrap();
        let csr = NodeKey::generate().unwrap().csr_pem().unwrap();
        let err = root
            .sign_node_csr(
                &csr,
                "n1",
                Role::Worker,
                "cluster-a",
                Duration::from_secs(u64::MAX / 4),
                SystemTime::now(),
                serial(1),
            )
            .unwrap_err();
        assert!(matches!(err, CaError::TimeOutOfRange(_)), "{err}");
    }
}
