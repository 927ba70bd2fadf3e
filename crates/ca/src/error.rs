//! The single error type of the `ca` crate.

use std::time::Duration;

/// Shorthand for results whose error is [`CaError`].
pub type Result<T, E = CaError> = std::result::Result<T, E>;

/// Everything that can go wrong while handling the cluster PKI.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaError {
    /// rcgen failed to generate, parse or sign a key, CSR or certificate
    /// (this includes a CSR whose self-signature does not verify).
    #[error("certificate operation failed: {0}")]
    Rcgen(#[from] rcgen::Error),

    /// rustls refused a certificate, key or configuration.
    #[error("TLS error: {0}")]
    Tls(#[from] rustls::Error),

    /// The webpki certificate verifier could not be built.
    #[error("cannot build certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),

    /// A PEM document could not be decoded.
    #[error("invalid PEM ({what}): {reason}")]
    Pem {
        /// Which document was being decoded.
        what: &'static str,
        /// Why decoding failed.
        reason: String,
    },

    /// A certificate is malformed or lacks a field this crate relies on.
    #[error("invalid certificate: {0}")]
    BadCertificate(String),

    /// The root CA certificate is not a CA certificate.
    #[error("the root CA certificate is not a CA (basic constraints CA:TRUE missing)")]
    NotACa,

    /// The root CA private key does not belong to the root CA certificate.
    #[error("the root CA private key does not match the root CA certificate")]
    KeyMismatch,

    /// Signing was requested from a root CA loaded without its private key
    /// (workers only hold the certificate).
    #[error("this node holds only the root CA certificate, not its key; only managers can sign")]
    NoSigningKey,

    /// A node id or cluster id is unusable in a certificate.
    #[error("invalid {kind} {value:?}: {reason}")]
    InvalidName {
        /// `"node id"` or `"cluster id"`.
        kind: &'static str,
        /// The offending value.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A certificate or signing request names another cluster than the root CA's.
    #[error("cluster mismatch: the root CA belongs to cluster {expected:?}, not {actual:?}")]
    ClusterMismatch {
        /// The root CA's cluster id.
        expected: String,
        /// The cluster id that was presented.
        actual: String,
    },

    /// A join token string is malformed; the message says which part.
    #[error("invalid join token: {0}")]
    BadToken(String),

    /// The root CA fetched from a manager does not have the digest pinned by the join token.
    #[error("root CA digest {actual} does not match the join token's digest {expected}")]
    RootDigestMismatch {
        /// Digest carried by the join token.
        expected: String,
        /// Digest of the root CA certificate actually received.
        actual: String,
    },

    /// A configured certificate validity is below [`crate::MIN_NODE_CERT_VALIDITY`].
    #[error("certificate validity {requested:?} is below the minimum of {minimum:?}")]
    ValidityTooShort {
        /// The requested validity.
        requested: Duration,
        /// The minimum allowed validity.
        minimum: Duration,
    },

    /// A timestamp cannot be represented in a certificate (before 1970 or after 9999).
    #[error("time out of range: {0}")]
    TimeOutOfRange(String),
}
