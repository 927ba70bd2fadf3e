//! This node's TLS material: the cluster's root certificate, its own certificate and key, kept
//! under `<data dir>/certs` (key mode 0600) and in memory as swappable rustls configurations, so
//! a renewed certificate is used by the next handshake without a restart.

use crate::fsutil::write_atomic;
use crate::transport::tls_channel;
use flotilla_ca::{CertStore, Identity, Revocations, Role, RootCa};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

/// Why TLS material could not be loaded or stored.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// Filesystem trouble.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The certificates or key do not parse or do not match.
    #[error("TLS material in {dir}: {reason}")]
    Bad {
        /// The directory.
        dir: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// A node's TLS state.
pub struct NodeTls {
    dir: PathBuf,
    root: RootCa,
    certs: Arc<CertStore>,
    revoked: Arc<Revocations>,
    client: Arc<rustls::ClientConfig>,
    server: Arc<rustls::ServerConfig>,
}

const CA: &str = "ca.crt";
const CERT: &str = "node.crt";
const KEY: &str = "node.key";

impl NodeTls {
    /// Loads `<dir>/{ca.crt,node.crt,node.key}`; `None` if there are none yet.
    pub fn load(dir: &Path) -> Result<Option<Self>, PkiError> {
        let read = |name: &str| -> Result<Option<String>, PkiError> {
            let path = dir.join(name);
            match std::fs::read_to_string(&path) {
                Ok(s) => Ok(Some(s)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(PkiError::Io { path, source }),
            }
        };
        let (Some(ca), Some(cert), Some(key)) = (read(CA)?, read(CERT)?, read(KEY)?) else {
            return Ok(None);
        };
        Self::build(dir, &ca, &cert, &key).map(Some)
    }

    /// Stores new TLS material in `dir` and loads it.
    pub fn save(dir: &Path, ca_pem: &str, cert_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        let tls = Self::build(dir, ca_pem, cert_pem, key_pem)?;
        std::fs::create_dir_all(dir).map_err(|source| PkiError::Io {
            path: dir.to_owned(),
            source,
        })?;
        for (name, content, mode) in [
            (CA, ca_pem, 0o644),
            (CERT, cert_pem, 0o644),
            (KEY, key_pem, 0o600),
        ] {
            let path = dir.join(name);
            write_atomic(&path, content.as_bytes(), mode)
                .map_err(|source| PkiError::Io { path, source })?;
        }
        Ok(tls)
    }

    fn build(dir: &Path, ca_pem: &str, cert_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        let bad = |reason: String| PkiError::Bad {
            dir: dir.to_owned(),
            reason,
        };
        let root =
            RootCa::from_pem(ca_pem, None).map_err(|e| bad(format!("root certificate: {e}")))?;
        let certs = Arc::new(
            CertStore::new(cert_pem, key_pem).map_err(|e| bad(format!("node certificate: {e}")))?,
        );
        let revoked = Arc::new(Revocations::default());
        let client = Arc::new(
            flotilla_ca::client_config(&root, certs.clone(), SystemTime::now)
                .map_err(|e| bad(e.to_string()))?,
        );
        let server = Arc::new(
            flotilla_ca::server_config(&root, certs.clone(), revoked.clone(), SystemTime::now)
                .map_err(|e| bad(e.to_string()))?,
        );
        Ok(Self {
            dir: dir.to_owned(),
            root,
            certs,
            revoked,
            client,
            server,
        })
    }

    /// Installs a renewed certificate: on disk first, then for the next handshakes.
    pub fn replace(&self, cert_pem: &str, key_pem: &str) -> Result<(), PkiError> {
        let bad = |reason: String| PkiError::Bad {
            dir: self.dir.clone(),
            reason,
        };
        // Check it loads before touching the files.
        CertStore::new(cert_pem, key_pem).map_err(|e| bad(format!("renewed certificate: {e}")))?;
        for (name, content, mode) in [(CERT, cert_pem, 0o644), (KEY, key_pem, 0o600)] {
            let path = self.dir.join(name);
            write_atomic(&path, content.as_bytes(), mode)
                .map_err(|source| PkiError::Io { path, source })?;
        }
        self.certs
            .replace(cert_pem, key_pem)
            .map_err(|e| bad(e.to_string()))
    }

    /// The identity in the current certificate.
    pub fn identity(&self) -> Identity {
        self.certs.identity()
    }

    /// The cluster's root certificate.
    pub fn root(&self) -> &RootCa {
        &self.root
    }

    /// Node ids whose certificates are refused.
    pub fn revoked(&self) -> Arc<Revocations> {
        self.revoked.clone()
    }

    /// The server configuration (client certificates optional, verified when given).
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        self.server.clone()
    }

    /// A channel to a manager at `addr`, authenticated both ways.
    pub fn manager_channel(&self, addr: &str) -> Result<tonic::transport::Channel, String> {
        tls_channel(addr, self.client.clone(), Role::Manager.server_name())
    }

    /// The Raft transport's connector: mutual TLS to other managers.
    pub fn connector(self: &Arc<Self>) -> flotilla_raft::Connector {
        let me = self.clone();
        flotilla_raft::Connector::new(move |addr| me.manager_channel(addr))
    }
}

/// A channel to the leader kept between calls (one TCP and TLS handshake, not one per call),
/// for a loop that calls the same manager again and again (heartbeats, status reports). It is
/// made anew when the address changes, when this node's TLS state or certificate changes (a
/// renewed certificate is shown from the next call on, a role change with it), and after a
/// failed call ([`ManagerChannel::reset`]).
#[derive(Default)]
pub struct ManagerChannel {
    /// The channel, and what it was made for: the TLS state, the certificate's serial, the
    /// address.
    cached: Option<(Arc<NodeTls>, String, String, tonic::transport::Channel)>,
}

impl ManagerChannel {
    /// The channel to `addr` with `tls`'s current certificate.
    pub fn get(
        &mut self,
        tls: &Arc<NodeTls>,
        addr: &str,
    ) -> Result<tonic::transport::Channel, String> {
        let serial = tls.identity().serial_hex;
        if let Some((t, s, a, channel)) = &self.cached
            && Arc::ptr_eq(t, tls)
            && *s == serial
            && a == addr
        {
            return Ok(channel.clone());
        }
        let channel = tls.manager_channel(addr)?;
        self.cached = Some((tls.clone(), serial, addr.to_owned(), channel.clone()));
        Ok(channel)
    }

    /// Forgets the channel: the next [`ManagerChannel::get`] connects again.
    pub fn reset(&mut self) {
        self.cached = None;
    }
}
