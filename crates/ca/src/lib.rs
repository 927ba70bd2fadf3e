//! The flotilla cluster PKI, modelled on Docker SwarmKit's.
//!
//! What this crate owns:
//!
//! * the **root CA** ([`RootCa`]): a self-signed ECDSA P-256 certificate valid 20 years whose
//!   O is the cluster id; managers hold its key, workers only its certificate;
//! * **node certificates** issued from CSRs ([`RootCa::sign_node_csr`], [`NodeKey`]) that
//!   carry the node's [`Identity`]: CN = node id, OU = role (`swarm-manager` /
//!   `swarm-worker`), O = cluster id; the role string is also a DNS SAN, so the TLS server
//!   name `swarm-manager` authenticates "a manager of this cluster";
//! * **join tokens** ([`JoinToken`], `FLT-1-<root digest>-<secret>`) pinning the root CA for
//!   joining nodes and carrying the invitation secret;
//! * **renewal timing** ([`renewal_at`]: a random point between 50 % and 80 % of the
//!   lifetime) and validity limits;
//! * **revocation** of removed nodes by node id ([`Revocations`]);
//! * **rustls configurations** ([`server_config`], [`client_config`],
//!   [`pinned_client_config`], [`bootstrap_client_config`]) — TLS 1.3, ALPN `h2`, ring
//!   provider passed explicitly — with a hot-swappable node certificate ([`CertStore`]).
//!
//! What it does not do: no I/O (callers store and transport PEM strings) and no clock reads
//! (callers pass `now`, a [`Clock`] function for TLS, and the random bits for serials and
//! token secrets). Key generation uses the system RNG through rcgen/ring.

mod error;
mod node;
mod renew;
mod root;
mod tls;
mod token;

pub use error::{CaError, Result};
pub use node::{Identity, NodeCert, NodeKey, Role, serial_hex};
pub use renew::{
    DEFAULT_NODE_CERT_VALIDITY, MIN_NODE_CERT_VALIDITY, RENEWAL_FRACTION_MAX, RENEWAL_FRACTION_MIN,
    renewal_at, validate_validity,
};
pub use root::{
    NODE_CERT_BACKDATE, ROOT_CA_BACKDATE, ROOT_CA_COMMON_NAME, ROOT_CA_VALIDITY, RootCa,
};
pub use tls::{
    ALPN_H2, CertResolver, CertStore, Clock, Revocations, bootstrap_client_config, client_config,
    manager_server_name, peer_identity, pinned_client_config, server_config,
};
pub use token::{DIGEST_LEN, JoinToken, SECRET_LEN, TOKEN_PREFIX, TOKEN_VERSION};

/// Lowercase hex encoding.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_encoding() {
        assert_eq!(super::hex(&[]), "");
        assert_eq!(super::hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
    }
}
