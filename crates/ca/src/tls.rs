//! rustls configurations for cluster traffic: TLS 1.3 only, ALPN `h2`, the ring crypto
//! provider passed explicitly (no process-wide default is consulted).
//!
//! * [`server_config`] — managers' servers: present the node certificate from a hot-swappable
//!   [`CertStore`]; client authentication is *optional* (joining nodes have no certificate
//!   yet), but a presented client certificate must chain to the cluster root, be unexpired,
//!   name this cluster and not belong to a removed node ([`Revocations`]).
//! * [`client_config`] — nodes talking to managers with their own certificate; the server
//!   must present a certificate from the cluster root valid for `swarm-manager`.
//! * [`pinned_client_config`] — a joining node that has verified the root CA against its join
//!   token and now sends its CSR and token secret (no client certificate).
//! * [`bootstrap_client_config`] — a joining node's first contact, which only fetches the root
//!   CA; it accepts any server certificate (see its docs).
//!
//! Session resumption is disabled on the server so that every connection is re-verified
//! against the current revocation list and validity window.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, WebPkiServerVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{
    ClientHello, NoServerSessionStorage, ResolvesServerCert, WebPkiClientVerifier,
};
use rustls::sign::CertifiedKey;
use rustls::time_provider::TimeProvider;
use rustls::{
    ClientConfig, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig,
    SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::error::{CaError, Result};
use crate::node::{Identity, NodeCert, Role, cert_der_from_pem};
use crate::root::RootCa;

/// The ALPN protocol offered and accepted by every configuration (gRPC over HTTP/2).
pub const ALPN_H2: &[u8] = b"h2";

/// A caller-supplied wall clock, used by rustls to check certificate validity windows
/// (pass `std::time::SystemTime::now`, or a skewed clock in fault-injection tests).
pub type Clock = fn() -> SystemTime;

/// The crypto provider used everywhere: rustls' ring provider.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Converts a `SystemTime` into rustls' `UnixTime` (times before 1970 become 1970).
pub(crate) fn unix_time(t: SystemTime) -> UnixTime {
    UnixTime::since_unix_epoch(t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO))
}

/// Adapts a [`Clock`] to rustls' `TimeProvider`.
#[derive(Debug)]
struct ClockTimeProvider(Clock);

impl TimeProvider for ClockTimeProvider {
    fn current_time(&self) -> Option<UnixTime> {
        Some(unix_time((self.0)()))
    }
}

/// A root store holding only the cluster root CA.
fn root_store(root: &RootCa) -> Result<Arc<RootCertStore>> {
    let mut roots = RootCertStore::empty();
    roots.add(root.cert_der().clone())?;
    Ok(Arc::new(roots))
}

/// webpki client-certificate verification against the cluster root, anonymous clients
/// allowed.
pub(crate) fn webpki_client_verifier(root: &RootCa) -> Result<Arc<dyn ClientCertVerifier>> {
    Ok(
        WebPkiClientVerifier::builder_with_provider(root_store(root)?, provider())
            .allow_unauthenticated()
            .build()?,
    )
}

/// The server name to connect to managers with: `swarm-manager` (only manager certificates
/// carry it).
pub fn manager_server_name() -> Result<ServerName<'static>> {
    ServerName::try_from(Role::Manager.server_name())
        .map_err(|e| CaError::BadCertificate(format!("invalid manager server name: {e}")))
}

/// The identity in a peer's certificate chain (the first certificate is the leaf), e.g. from
/// `ServerConnection::peer_certificates()`. `None` if there is no certificate or it cannot be
/// read. Only meaningful on connections built with this module's configurations, which have
/// already verified the chain.
pub fn peer_identity(certs: &[CertificateDer<'_>]) -> Option<Identity> {
    certs
        .first()
        .and_then(|leaf| Identity::from_der(leaf.as_ref()).ok())
}

// ---------------------------------------------------------------------------------------
// Hot-swappable node certificate
// ---------------------------------------------------------------------------------------

struct Current {
    certified: Arc<CertifiedKey>,
    identity: Identity,
    cert_pem: String,
}

/// This node's current certificate and key, shared by its TLS servers and clients and
/// replaceable at runtime (certificate renewal, role change) without rebuilding configs.
/// New handshakes use the new certificate; established connections are unaffected.
pub struct CertStore {
    current: RwLock<Arc<Current>>,
}

impl CertStore {
    /// Loads a PEM certificate (the first CERTIFICATE block is the leaf; the chain sent is
    /// just the leaf) and its PEM private key; checks that they match.
    pub fn new(cert_pem: &str, key_pem: &str) -> Result<CertStore> {
        Ok(CertStore {
            current: RwLock::new(Arc::new(load(cert_pem, key_pem)?)),
        })
    }

    /// [`CertStore::new`] from a [`NodeCert`].
    pub fn from_node_cert(cert: &NodeCert) -> Result<CertStore> {
        CertStore::new(&cert.cert_pem, &cert.key_pem())
    }

    /// Atomically replaces the certificate and key (after renewal). On error the current
    /// certificate stays in place.
    pub fn replace(&self, cert_pem: &str, key_pem: &str) -> Result<()> {
        let next = Arc::new(load(cert_pem, key_pem)?);
        let mut guard = self.current.write().unwrap_or_else(|e| e.into_inner());
        *guard = next;
        Ok(())
    }

    fn snapshot(&self) -> Arc<Current> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The identity in the current certificate.
    pub fn identity(&self) -> Identity {
        self.snapshot().identity.clone()
    }

    /// The current certificate as PEM.
    pub fn cert_pem(&self) -> String {
        self.snapshot().cert_pem.clone()
    }

    /// The current certificate and signing key in rustls form.
    pub fn certified_key(&self) -> Arc<CertifiedKey> {
        self.snapshot().certified.clone()
    }
}

impl fmt::Debug for CertStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertStore")
            .field("identity", &self.snapshot().identity)
            .finish_non_exhaustive()
    }
}

fn load(cert_pem: &str, key_pem: &str) -> Result<Current> {
    let cert_der = cert_der_from_pem(cert_pem, "node certificate")?;
    let identity = Identity::from_der(cert_der.as_ref())?;
    let key_der = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| CaError::Pem {
        what: "node private key",
        reason: e.to_string(),
    })?;
    let certified = CertifiedKey::from_der(vec![cert_der], key_der, &provider())?;
    Ok(Current {
        certified: Arc::new(certified),
        identity,
        cert_pem: cert_pem.to_owned(),
    })
}

/// Presents the current certificate of a [`CertStore`] — as a server
/// ([`ResolvesServerCert`]) and as a client ([`ResolvesClientCert`]).
#[derive(Debug, Clone)]
pub struct CertResolver(
    /// The store whose current certificate is presented.
    pub Arc<CertStore>,
);

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.certified_key())
    }
}

impl ResolvesClientCert for CertResolver {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.0.certified_key())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

// ---------------------------------------------------------------------------------------
// Revocation (removed nodes)
// ---------------------------------------------------------------------------------------

/// Node ids whose certificates are refused (removed nodes), shared between the servers and
/// whatever keeps it in sync with cluster state.
#[derive(Debug, Default)]
pub struct Revocations {
    ids: RwLock<HashSet<String>>,
}

impl Revocations {
    /// An empty set.
    pub fn new() -> Revocations {
        Revocations::default()
    }

    /// Refuses `node_id` from now on. Returns false if it was already refused.
    pub fn insert(&self, node_id: impl Into<String>) -> bool {
        self.ids
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(node_id.into())
    }

    /// Stops refusing `node_id`. Returns false if it was not refused.
    pub fn remove(&self, node_id: &str) -> bool {
        self.ids
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(node_id)
    }

    /// Replaces the whole set (e.g. from replicated cluster state).
    pub fn replace_all(&self, node_ids: impl IntoIterator<Item = String>) {
        let next: HashSet<String> = node_ids.into_iter().collect();
        *self.ids.write().unwrap_or_else(|e| e.into_inner()) = next;
    }

    /// True if `node_id` is refused.
    pub fn contains(&self, node_id: &str) -> bool {
        self.ids
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(node_id)
    }

    /// Number of refused node ids.
    pub fn len(&self) -> usize {
        self.ids.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// True if no node id is refused.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

// ---------------------------------------------------------------------------------------
// Server side
// ---------------------------------------------------------------------------------------

/// Client-certificate verifier for cluster servers: optional client auth; webpki chain
/// verification against the root, then the cluster id and revocation checks.
#[derive(Debug)]
struct NodeClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    cluster_id: String,
    revoked: Arc<Revocations>,
}

impl ClientCertVerifier for NodeClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> std::result::Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let identity = Identity::from_der(end_entity.as_ref())
            .map_err(|e| rustls::Error::General(format!("unreadable node certificate: {e}")))?;
        if identity.cluster_id != self.cluster_id {
            tracing::warn!(
                node_id = %identity.node_id,
                cluster_id = %identity.cluster_id,
                expected_cluster_id = %self.cluster_id,
                "refusing certificate of another cluster"
            );
            return Err(rustls::Error::General(format!(
                "certificate of node {} belongs to cluster {}, not {}",
                identity.node_id, identity.cluster_id, self.cluster_id
            )));
        }
        if self.revoked.contains(&identity.node_id) {
            tracing::warn!(
                node_id = %identity.node_id,
                cluster_id = %identity.cluster_id,
                "refusing certificate of removed node"
            );
            return Err(rustls::Error::General(format!(
                "certificate of removed node {} refused",
                identity.node_id
            )));
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Server configuration for a node's cluster-facing server (managers).
///
/// Presents the current certificate of `certs`. Client certificates are optional; one that
/// is presented must chain to `root`, be within its validity window at `now()`, carry this
/// root's cluster id (O) and not belong to a node in `revoked` — otherwise the handshake
/// fails (and a warning naming the node is logged). Authorisation by role/node id is the
/// caller's job, using [`peer_identity`]. TLS 1.3 only, ALPN `h2`, no session resumption.
pub fn server_config(
    root: &RootCa,
    certs: Arc<CertStore>,
    revoked: Arc<Revocations>,
    now: Clock,
) -> Result<ServerConfig> {
    let provider = provider();
    let verifier = NodeClientVerifier {
        inner: webpki_client_verifier(root)?,
        cluster_id: root.cluster_id().to_owned(),
        revoked,
    };
    let mut config = ServerConfig::builder_with_details(provider, Arc::new(ClockTimeProvider(now)))
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_cert_resolver(Arc::new(CertResolver(certs)));
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
    // Resumed sessions skip client-certificate verification: disable them so revocation
    // and expiry apply to every connection.
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(config)
}

// ---------------------------------------------------------------------------------------
// Client side
// ---------------------------------------------------------------------------------------

/// Server verification against the cluster root (server name checked by webpki).
fn webpki_server_verifier(root: &RootCa) -> Result<Arc<WebPkiServerVerifier>> {
    Ok(WebPkiServerVerifier::builder_with_provider(root_store(root)?, provider()).build()?)
}

/// Client configuration for a node that has its certificate: authenticates with the
/// current certificate of `certs` and requires the server to present a certificate from
/// `root` valid (at `now()`) for the server name used when connecting — use
/// [`manager_server_name`] (`swarm-manager`) to talk to managers. TLS 1.3 only, ALPN `h2`.
pub fn client_config(root: &RootCa, certs: Arc<CertStore>, now: Clock) -> Result<ClientConfig> {
    let mut config =
        ClientConfig::builder_with_details(provider(), Arc::new(ClockTimeProvider(now)))
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_webpki_verifier(webpki_server_verifier(root)?)
            .with_client_cert_resolver(Arc::new(CertResolver(certs)));
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
    Ok(config)
}

/// Client configuration for a joining node that has fetched the root CA and checked it with
/// [`crate::JoinToken::check_root`]: verifies the server against the pinned `root` (connect
/// with [`manager_server_name`]), presents no client certificate. Used to send the CSR and
/// the token secret. TLS 1.3 only, ALPN `h2`.
pub fn pinned_client_config(root: &RootCa, now: Clock) -> Result<ClientConfig> {
    let mut config =
        ClientConfig::builder_with_details(provider(), Arc::new(ClockTimeProvider(now)))
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_webpki_verifier(webpki_server_verifier(root)?)
            .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
    Ok(config)
}

/// Accepts any server certificate; still checks handshake signatures.
#[derive(Debug)]
struct AcceptAnyServerCert {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// **Dangerous**: client configuration that accepts ANY server certificate, for a joining
/// node's very first contact, which only downloads the root CA certificate.
///
/// The connection is unauthenticated: anything received over it is untrusted. The caller
/// must parse the downloaded root with [`RootCa::from_pem`], compare it with the join token
/// ([`crate::JoinToken::check_root`]) and only then send anything secret — over a new
/// connection built with [`pinned_client_config`]. Never send the token secret, a CSR or
/// any other data over this configuration. TLS 1.3 only, ALPN `h2`, no client certificate.
pub fn bootstrap_client_config() -> Result<ClientConfig> {
    let provider = provider();
    let verifier = AcceptAnyServerCert {
        algorithms: provider.signature_verification_algorithms,
    };
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::NodeKey;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::{TlsAcceptor, TlsConnector};

    const DAY: Duration = Duration::from_secs(86_400);
    const CLUSTER: &str = "cluster-a";

    fn real_now() -> SystemTime {
        SystemTime::now()
    }

    fn issue(
        root: &RootCa,
        node_id: &str,
        role: Role,
        validity: Duration,
        now: SystemTime,
    ) -> Arc<CertStore> {
        let key = NodeKey::generate().unwrap();
        let pem = root
            .sign_node_csr(
                &key.csr_pem().unwrap(),
                node_id,
                role,
                root.cluster_id(),
                validity,
                now,
                [0x11; 16],
            )
            .unwrap();
        Arc::new(CertStore::new(&pem, &key.key_pem()).unwrap())
    }

    struct Outcome {
        /// What the server saw: the client identity (if any) or the handshake error.
        server: std::io::Result<Option<Identity>>,
        /// Whether the client completed handshake + one round trip.
        client: std::io::Result<Option<Identity>>,
    }

    /// Runs a handshake over an in-memory pipe plus a one-byte round trip.
    async fn handshake(server_cfg: ServerConfig, client_cfg: ClientConfig) -> Outcome {
        let (server_io, client_io) = tokio::io::duplex(64 * 1024);
        let acceptor = TlsAcceptor::from(Arc::new(server_cfg));
        let connector = TlsConnector::from(Arc::new(client_cfg));
        let name = manager_server_name().unwrap();

        let server = async move {
            let mut stream = acceptor.accept(server_io).await?;
            let identity = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(peer_identity);
            let alpn = stream.get_ref().1.alpn_protocol().map(|p| p.to_vec());
            assert_eq!(alpn.as_deref(), Some(ALPN_H2));
            let mut buf = [0u8; 1];
            stream.read_exact(&mut buf).await?;
            stream.write_all(b"k").await?;
            stream.flush().await?;
            Ok::<_, std::io::Error>(identity)
        };
        let client = async move {
            let mut stream = connector.connect(name, client_io).await?;
            let identity = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(peer_identity);
            stream.write_all(b"p").await?;
            stream.flush().await?;
            let mut buf = [0u8; 1];
            stream.read_exact(&mut buf).await?;
            Ok::<_, std::io::Error>(identity)
        };
        let (server, client) = tokio::time::timeout(Duration::from_secs(20), async {
            tokio::join!(server, client)
        })
        .await
        .expect("handshake timed out");
        Outcome { server, client }
    }

    struct Cluster {
        root: RootCa,
        manager: Arc<CertStore>,
        revoked: Arc<Revocations>,
    }

    fn cluster() -> Cluster {
        let now = real_now();
        let root = RootCa::generate(CLUSTER, now).unwrap();
        let manager = issue(&root, "mgr1", Role::Manager, DAY, now);
        Cluster {
            root,
            manager,
            revoked: Arc::new(Revocations::new()),
        }
    }

    impl Cluster {
        fn server(&self) -> ServerConfig {
            server_config(
                &self.root,
                self.manager.clone(),
                self.revoked.clone(),
                real_now,
            )
            .unwrap()
        }
    }

    #[tokio::test]
    async fn worker_handshake_and_identity() {
        let c = cluster();
        let worker = issue(&c.root, "wrk1", Role::Worker, DAY, real_now());
        let out = handshake(
            c.server(),
            client_config(&c.root, worker, real_now).unwrap(),
        )
        .await;
        let seen = out.server.unwrap().unwrap();
        assert_eq!(seen.node_id, "wrk1");
        assert_eq!(seen.role, Role::Worker);
        assert_eq!(seen.cluster_id, CLUSTER);
        let server_identity = out.client.unwrap().unwrap();
        assert_eq!(server_identity.node_id, "mgr1");
        assert_eq!(server_identity.role, Role::Manager);
    }

    #[tokio::test]
    async fn revoked_worker_is_refused() {
        let c = cluster();
        let worker = issue(&c.root, "wrk1", Role::Worker, DAY, real_now());
        assert!(c.revoked.insert("wrk1"));
        let out = handshake(
            c.server(),
            client_config(&c.root, worker.clone(), real_now).unwrap(),
        )
        .await;
        let err = out.server.unwrap_err();
        assert!(err.to_string().contains("removed node wrk1"), "{err}");
        assert!(out.client.is_err());

        // Un-revoking lets it back in (the set is consulted on every handshake).
        c.revoked.replace_all(Vec::new());
        let out = handshake(
            c.server(),
            client_config(&c.root, worker, real_now).unwrap(),
        )
        .await;
        assert_eq!(out.server.unwrap().unwrap().node_id, "wrk1");
    }

    #[tokio::test]
    async fn revocation_applies_to_existing_configs() {
        let c = cluster();
        let worker = issue(&c.root, "wrk1", Role::Worker, DAY, real_now());
        let server = Arc::new(c.server());
        let client = Arc::new(client_config(&c.root, worker, real_now).unwrap());
        let out = handshake((*server).clone(), (*client).clone()).await;
        assert!(out.server.is_ok());
        c.revoked.insert("wrk1".to_owned());
        let out = handshake((*server).clone(), (*client).clone()).await;
        assert!(out.server.is_err());
    }

    #[tokio::test]
    async fn client_from_other_cluster_is_refused() {
        let c = cluster();
        let other_root = RootCa::generate("cluster-b", real_now()).unwrap();
        let foreign = issue(&other_root, "wrk9", Role::Worker, DAY, real_now());
        // The client trusts our root (so it accepts our server) but presents a foreign cert.
        let out = handshake(
            c.server(),
            client_config(&c.root, foreign, real_now).unwrap(),
        )
        .await;
        assert!(out.server.is_err());
        assert!(out.client.is_err());
    }

    #[tokio::test]
    async fn forged_cluster_id_is_refused() {
        let c = cluster();
        let key = NodeKey::generate().unwrap();
        let pem = c
            .root
            .sign_node_csr_unchecked(
                &key.csr_pem().unwrap(),
                "wrk2",
                Role::Worker,
                "cluster-z",
                DAY,
                real_now(),
                [0x22; 16],
            )
            .unwrap();
        let store = Arc::new(CertStore::new(&pem, &key.key_pem()).unwrap());
        let out = handshake(c.server(), client_config(&c.root, store, real_now).unwrap()).await;
        let err = out.server.unwrap_err();
        assert!(err.to_string().contains("cluster-z"), "{err}");
    }

    #[tokio::test]
    async fn expired_client_cert_is_refused() {
        let c = cluster();
        let long_ago = real_now() - 200 * DAY;
        let expired = issue(&c.root, "wrk3", Role::Worker, DAY, long_ago);
        let out = handshake(
            c.server(),
            client_config(&c.root, expired, real_now).unwrap(),
        )
        .await;
        let err = out.server.unwrap_err();
        assert!(err.to_string().to_lowercase().contains("expired"), "{err}");
    }

    #[tokio::test]
    async fn server_clock_decides_expiry() {
        // A certificate that expired 199 days ago is accepted by a server whose clock is
        // 200 days behind: the validity check uses the injected clock.
        fn past() -> SystemTime {
            SystemTime::now() - Duration::from_secs(200 * 86_400)
        }
        let now = real_now();
        let root = RootCa::generate(CLUSTER, now - 400 * DAY).unwrap();
        let manager = issue(&root, "mgr1", Role::Manager, 400 * DAY, now - 300 * DAY);
        let worker = issue(&root, "wrk4", Role::Worker, DAY, now - 200 * DAY);
        let server = server_config(&root, manager, Arc::new(Revocations::new()), past).unwrap();
        let out = handshake(server, client_config(&root, worker, past).unwrap()).await;
        assert_eq!(out.server.unwrap().unwrap().node_id, "wrk4");
    }

    #[tokio::test]
    async fn anonymous_client_is_allowed() {
        let c = cluster();
        let out = handshake(c.server(), pinned_client_config(&c.root, real_now).unwrap()).await;
        assert_eq!(out.server.unwrap(), None);
        assert_eq!(out.client.unwrap().unwrap().role, Role::Manager);
    }

    #[tokio::test]
    async fn bootstrap_accepts_unknown_server_but_pinned_does_not() {
        let c = cluster();
        let stranger = RootCa::generate("cluster-b", real_now()).unwrap();
        // The bootstrap client talks to any server…
        let out = handshake(c.server(), bootstrap_client_config().unwrap()).await;
        assert!(out.client.is_ok());
        assert_eq!(out.server.unwrap(), None);
        // …but a client pinned to another root refuses ours.
        let out = handshake(
            c.server(),
            pinned_client_config(&stranger, real_now).unwrap(),
        )
        .await;
        assert!(out.client.is_err());
    }

    #[tokio::test]
    async fn worker_cert_cannot_serve_as_manager() {
        let c = cluster();
        let worker_as_server = issue(&c.root, "wrk5", Role::Worker, DAY, real_now());
        let server = server_config(&c.root, worker_as_server, c.revoked.clone(), real_now).unwrap();
        let out = handshake(server, pinned_client_config(&c.root, real_now).unwrap()).await;
        let err = out.client.unwrap_err();
        assert!(
            err.to_string()
                .to_lowercase()
                .contains("not valid for name")
                || err.to_string().to_lowercase().contains("name"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn certificate_hot_swap() {
        let c = cluster();
        let key = NodeKey::generate().unwrap();
        let pem1 = c
            .root
            .sign_node_csr(
                &key.csr_pem().unwrap(),
                "wrk6",
                Role::Worker,
                CLUSTER,
                DAY,
                real_now(),
                [1; 16],
            )
            .unwrap();
        let store = Arc::new(CertStore::new(&pem1, &key.key_pem()).unwrap());
        let client = client_config(&c.root, store.clone(), real_now).unwrap();
        let server = c.server();
        let out = handshake(server.clone(), client.clone()).await;
        assert_eq!(out.server.unwrap().unwrap().serial_hex, "01".repeat(16));

        // Renew as a manager with a new key and serial; same config objects.
        let key2 = NodeKey::generate().unwrap();
        let pem2 = c
            .root
            .sign_node_csr(
                &key2.csr_pem().unwrap(),
                "wrk6",
                Role::Manager,
                CLUSTER,
                DAY,
                real_now(),
                [2; 16],
            )
            .unwrap();
        // Mismatched key is rejected and leaves the old certificate in place.
        assert!(store.replace(&pem2, &key.key_pem()).is_err());
        assert_eq!(store.identity().role, Role::Worker);
        store.replace(&pem2, &key2.key_pem()).unwrap();
        assert_eq!(store.identity().role, Role::Manager);
        let out = handshake(server, client).await;
        let seen = out.server.unwrap().unwrap();
        assert_eq!(seen.role, Role::Manager);
        assert_eq!(seen.serial_hex, "02".repeat(16));
    }

    #[test]
    fn revocations_set() {
        let r = Revocations::new();
        assert!(r.is_empty());
        assert!(r.insert("a"));
        assert!(!r.insert("a"));
        assert!(r.contains("a"));
        r.replace_all(vec!["b".to_owned(), "c".to_owned()]);
        assert!(!r.contains("a"));
        assert_eq!(r.len(), 2);
        assert!(r.remove("b"));
        assert!(!r.remove("b"));
    }

    #[test]
    fn peer_identity_of_nothing() {
        assert_eq!(peer_identity(&[]), None);
        assert_eq!(
            peer_identity(&[CertificateDer::from(vec![1u8, 2, 3])]),
            None
        );
    }
}
