//! `image pull`: an image from a registry speaking the OCI distribution API (Docker's
//! registry v2), into the same blob and layer stores `load` feeds.
//!
//! The registry is not trusted: every manifest and blob is hashed here and checked against the
//! digest it was asked for (oci-client checks too), and a blob may not be longer than its
//! descriptor says. Steps:
//!
//! 1. The reference's manifest is fetched (Docker schema 2 and OCI media types). An index or
//!    Docker manifest list resolves to this node's platform, `linux/<arch>`, as `load` does.
//! 2. The config and each layer blob the store lacks are streamed to files under the store's
//!    `tmp/`; blobs already stored are not downloaded again.
//! 3. On a blocking thread, under the store's shared gc lock: the manifest and the downloaded
//!    blobs go into the blob store (hashed again), the layers are unpacked (diff_ids checked)
//!    and the image is recorded and tagged with the reference, by `ImageStore::commit`, as a
//!    load is. A failure anywhere before that leaves nothing tagged.
//!
//! Access is anonymous: a registry's bearer-token challenge is answered by oci-client without
//! credentials. Registries listed in [`PullOptions::insecure_registries`] are reached over
//! plain HTTP. Layers download one after the other.
//!
//! A pull by digest (`name@sha256:…`) records no tag, as Docker's; the image is then found by
//! that digest when it is the image manifest's (not a manifest list's).

use crate::digest::Digest;
use crate::error::{ImageError, RegistryFailure, Result};
use crate::load::{
    INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES, MAX_INDEX_DEPTH, MAX_JSON, TempDir, is_image_config,
    is_index, is_manifest, manifest_for_host,
};
use crate::store::{Image, ImageStore, host_arch};
use flotilla_model::ImageRef;
use flotilla_model::image_ref::DEFAULT_TAG;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{DigestError, OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
use serde::Deserialize;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::AsyncWrite;

/// How long connecting to a registry may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How registries are reached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullOptions {
    /// Registries (`host[:port]`, spelt as in references) reached over plain HTTP instead of
    /// HTTPS: Docker's `insecure-registries`.
    pub insecure_registries: Vec<String>,
}

/// What a pull is doing, reported as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PullProgress {
    /// The reference resolved to an image manifest.
    Resolved {
        /// The digest the registry serves for the reference: a manifest list's or an index's
        /// for a multi-platform image (what `docker pull` prints as `Digest:`).
        digest: Digest,
        /// The image manifest chosen for this node.
        manifest: Digest,
        /// How many layers the image has.
        layers: usize,
    },
    /// A layer blob is already stored: it is not downloaded.
    LayerExists {
        /// The layer blob's digest.
        blob: Digest,
    },
    /// A layer blob download starts.
    Downloading {
        /// The layer blob's digest.
        blob: Digest,
        /// Its size in bytes, as its descriptor says.
        size: u64,
    },
    /// A layer blob was downloaded and its digest checked.
    Downloaded {
        /// The layer blob's digest.
        blob: Digest,
    },
    /// Every blob is here: the layers are being unpacked and the image recorded.
    Extracting,
}

/// Pulls `reference` into `store` and tags it with `reference` (unless it names a digest).
/// `progress` hears of each step. The store is an `Arc` because the storing step runs on a
/// blocking thread.
pub async fn pull(
    store: &Arc<ImageStore>,
    reference: &ImageRef,
    opts: &PullOptions,
    progress: &mut (dyn FnMut(PullProgress) + Send),
) -> Result<Image> {
    // oci-client is built without a rustls crypto provider (to keep aws-lc out): make sure
    // the process has one. Installing fails harmlessly when one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let remote = Remote {
        client: Client::new(ClientConfig {
            protocol: ClientProtocol::HttpsExcept(opts.insecure_registries.clone()),
            connect_timeout: Some(CONNECT_TIMEOUT),
            ..ClientConfig::default()
        }),
        reference,
        oref: oci_reference(reference),
        insecure: opts.insecure_registries.contains(&reference.registry),
    };

    let (top_digest, mut body) = remote.fetch_manifest(&remote.oref, None).await?;
    let mut manifest_digest = top_digest.clone();
    let mut depth = 0;
    while remote.is_index_doc(&manifest_digest, &body)? {
        if depth == MAX_INDEX_DEPTH {
            return Err(remote.invalid(format!("indexes nested more than {MAX_INDEX_DEPTH} deep")));
        }
        depth += 1;
        let index: ImageIndex = serde_json::from_slice(&body).map_err(ImageError::json(
            format!("index {manifest_digest} of {reference}"),
        ))?;
        let Some(desc) = manifest_for_host(&index) else {
            return Err(ImageError::Registry {
                failure: RegistryFailure::NotFound,
                message: format!(
                    "no matching manifest for linux/{} in the manifest list entries of {reference}",
                    host_arch()
                ),
            });
        };
        let d = Digest::parse(desc.digest().as_ref())?;
        let oref = remote.oref.clone_with_digest(d.to_string());
        (manifest_digest, body) = remote.fetch_manifest(&oref, Some(desc)).await?;
    }
    let manifest: ImageManifest = serde_json::from_slice(&body).map_err(ImageError::json(
        format!("manifest {manifest_digest} of {reference}"),
    ))?;
    let cfg_type = manifest.config().media_type().to_string();
    if !is_image_config(&cfg_type) {
        return Err(remote.invalid(format!(
            "not a container image: its config has media type {cfg_type}"
        )));
    }
    if manifest.config().size() > MAX_JSON {
        return Err(remote.invalid(format!(
            "its config is {} bytes, more than the {MAX_JSON} allowed",
            manifest.config().size()
        )));
    }
    progress(PullProgress::Resolved {
        digest: top_digest,
        manifest: manifest_digest.clone(),
        layers: manifest.layers().len(),
    });

    // Downloads land here; what was not moved into the store goes with the directory.
    let tmp = TempDir(store.temp_dir("pull-")?);
    let config = Digest::parse(manifest.config().digest().as_ref())?;
    let config_path = if store.blobs().exists(&config) {
        None
    } else {
        Some(
            remote
                .fetch_blob(&tmp.0, manifest.config(), &config, "config")
                .await?,
        )
    };
    let mut blobs = vec![(config, config_path)];
    let max_layer = store.layers().limits().max_layer_bytes;
    for l in manifest.layers() {
        let d = Digest::parse(l.digest().as_ref())?;
        let seen = blobs.iter().find(|(b, _)| *b == d).map(|(_, p)| p.clone());
        if let Some(path) = seen {
            // The same layer listed twice: fetched once.
            blobs.push((d, path));
            continue;
        }
        if store.blobs().exists(&d) {
            progress(PullProgress::LayerExists { blob: d.clone() });
            blobs.push((d, None));
            continue;
        }
        if l.size() > max_layer {
            return Err(ImageError::TooLarge {
                container: format!("layer {d} of {reference}"),
                limit: max_layer,
                unit: "bytes",
            });
        }
        progress(PullProgress::Downloading {
            blob: d.clone(),
            size: l.size(),
        });
        let path = remote.fetch_blob(&tmp.0, l, &d, "layer").await?;
        progress(PullProgress::Downloaded { blob: d.clone() });
        blobs.push((d, Some(path)));
    }

    progress(PullProgress::Extracting);
    let tags: Vec<ImageRef> = if reference.digest.is_none() {
        vec![reference.clone()]
    } else {
        Vec::new()
    };
    let job = Pulled {
        reference: reference.clone(),
        manifest_digest,
        manifest: body,
        blobs,
        tags,
    };
    let store = Arc::clone(store);
    let image = tokio::task::spawn_blocking(move || job.store(&store))
        .await
        .map_err(|e| ImageError::Io {
            context: format!("storing {reference}"),
            source: io::Error::other(e),
        })??;
    drop(tmp);
    Ok(image)
}

/// The oci-client reference for `r` (by digest when it has one, as Docker pulls).
fn oci_reference(r: &ImageRef) -> Reference {
    match &r.digest {
        Some(d) => Reference::with_digest(r.registry.clone(), r.repository.clone(), d.clone()),
        None => Reference::with_tag(
            r.registry.clone(),
            r.repository.clone(),
            r.tag.clone().unwrap_or_else(|| DEFAULT_TAG.to_owned()),
        ),
    }
}

/// The registry side of one pull.
struct Remote<'a> {
    client: Client,
    reference: &'a ImageRef,
    oref: Reference,
    /// Whether the registry is reached over plain HTTP.
    insecure: bool,
}

/// The fields of a manifest that say what it is.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Versioned {
    schema_version: u32,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
}

impl Remote<'_> {
    fn invalid(&self, reason: String) -> ImageError {
        ImageError::Registry {
            failure: RegistryFailure::Invalid,
            message: format!("pulling {}: {reason}: refused", self.reference),
        }
    }

    /// Fetches the manifest `oref` names; checks its digest (and its size, against the
    /// descriptor that led to it).
    async fn fetch_manifest(
        &self,
        oref: &Reference,
        desc: Option<&Descriptor>,
    ) -> Result<(Digest, Vec<u8>)> {
        let accept: Vec<&str> = MANIFEST_MEDIA_TYPES
            .into_iter()
            .chain(INDEX_MEDIA_TYPES)
            .collect();
        let (body, _) = self
            .client
            .pull_manifest_raw(oref, &RegistryAuth::Anonymous, &accept)
            .await
            .map_err(|e| self.registry_error(e))?;
        let len = body.len() as u64;
        if len > MAX_JSON {
            return Err(self.invalid(format!(
                "a manifest of {len} bytes, more than the {MAX_JSON} allowed"
            )));
        }
        let digest = Digest::of_bytes(&body);
        if let Some(want) = oref.digest()
            && want != digest.as_str()
        {
            return Err(ImageError::DigestMismatch {
                what: format!("manifest of {}", self.reference),
                expected: Digest::parse(want)?,
                actual: digest,
            });
        }
        if let Some(desc) = desc
            && desc.size() != len
        {
            return Err(self.invalid(format!(
                "manifest {digest} is {len} bytes, its descriptor says {}",
                desc.size()
            )));
        }
        Ok((digest, body.to_vec()))
    }

    /// Whether a manifest is an index (or Docker manifest list) rather than an image manifest.
    fn is_index_doc(&self, digest: &Digest, body: &[u8]) -> Result<bool> {
        let v: Versioned = serde_json::from_slice(body).map_err(ImageError::json(format!(
            "manifest {digest} of {}",
            self.reference
        )))?;
        if v.schema_version != 2 {
            return Err(self.invalid(format!(
                "manifest {digest} has schema version {}; only schema 2 (Docker v2, OCI) is \
                 supported",
                v.schema_version
            )));
        }
        match v.media_type.as_deref() {
            Some(mt) if is_index(mt) => Ok(true),
            Some(mt) if is_manifest(mt) => Ok(false),
            Some(mt) => Err(self.invalid(format!(
                "manifest {digest} has media type {mt}, which is neither an image manifest nor \
                 an index"
            ))),
            None => Ok(v.manifests.is_some()),
        }
    }

    /// Streams the blob `desc` names (`what`: config or layer) to `dir/<hex>`; the content
    /// must hash to `digest` and be exactly as long as the descriptor says.
    async fn fetch_blob(
        &self,
        dir: &Path,
        desc: &Descriptor,
        digest: &Digest,
        what: &str,
    ) -> Result<PathBuf> {
        let path = dir.join(digest.hex());
        let file = tokio::fs::File::create(&path)
            .await
            .map_err(ImageError::io("creating", &path))?;
        let mut out = Bounded {
            file,
            limit: desc.size(),
            written: 0,
            overflow: false,
        };
        let res = self
            .client
            .pull_blob(&self.oref, digest.as_str(), &mut out)
            .await;
        let name = format!("{what} {digest} of {}", self.reference);
        if out.overflow {
            return Err(self.invalid(format!(
                "{name} is longer than the {} bytes its descriptor says",
                desc.size()
            )));
        }
        match res {
            Ok(()) => {}
            Err(OciDistributionError::DigestError(DigestError::VerificationError {
                expected,
                actual,
            })) => {
                return Err(match (Digest::parse(&expected), Digest::parse(&actual)) {
                    (Ok(expected), Ok(actual)) => ImageError::DigestMismatch {
                        what: name,
                        expected,
                        actual,
                    },
                    _ => self.invalid(format!(
                        "{name}: expected digest {expected}, but the content hashes to {actual}"
                    )),
                });
            }
            Err(e) => {
                return Err(match self.registry_error(e) {
                    ImageError::Registry { failure, message } => ImageError::Registry {
                        failure,
                        message: format!("{name}: {message}"),
                    },
                    other => other,
                });
            }
        }
        if out.written != desc.size() {
            return Err(self.invalid(format!(
                "{name} is {} bytes, its descriptor says {}",
                out.written,
                desc.size()
            )));
        }
        Ok(path)
    }

    /// An oci-client error as the CLI shows it, naming the reference and the reason.
    fn registry_error(&self, e: OciDistributionError) -> ImageError {
        let r = self.reference;
        let denied = |detail: &str| {
            (
                RegistryFailure::Denied,
                format!("pull access denied or repository does not exist: {r}: {detail}"),
            )
        };
        let (failure, message) = match &e {
            OciDistributionError::RegistryError { envelope, .. } => {
                let has = |c: OciErrorCode| envelope.errors.iter().any(|x| x.code == c);
                let detail = envelope
                    .errors
                    .iter()
                    .map(|x| {
                        if x.message.is_empty() {
                            format!("{:?}", x.code)
                        } else {
                            x.message.clone()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                if has(OciErrorCode::ManifestUnknown) || has(OciErrorCode::NotFound) {
                    let mut m = format!("manifest for {r} not found: manifest unknown");
                    if !detail.is_empty() && detail != "manifest unknown" {
                        m.push_str(&format!(": {detail}"));
                    }
                    (RegistryFailure::NotFound, m)
                } else if has(OciErrorCode::NameUnknown)
                    || has(OciErrorCode::Unauthorized)
                    || has(OciErrorCode::Denied)
                {
                    denied(&detail)
                } else if has(OciErrorCode::Toomanyrequests) {
                    (
                        RegistryFailure::Unreachable,
                        format!("pulling {r}: the registry refused: {detail}"),
                    )
                } else {
                    (
                        RegistryFailure::Invalid,
                        format!("pulling {r}: the registry refused: {detail}"),
                    )
                }
            }
            OciDistributionError::UnauthorizedError { .. }
            | OciDistributionError::AuthenticationFailure(_) => denied(&chain(&e)),
            OciDistributionError::ServerError {
                code: 401 | 403, ..
            } => denied(&chain(&e)),
            OciDistributionError::ServerError { code: 404, .. }
            | OciDistributionError::ImageManifestNotFoundError(_) => (
                RegistryFailure::NotFound,
                format!("manifest for {r} not found: {}", chain(&e)),
            ),
            OciDistributionError::ServerError { .. } | OciDistributionError::RequestError(_) => {
                let mut m = format!(
                    "cannot reach registry {} to pull {r}: {}",
                    r.registry,
                    chain(&e)
                );
                if !self.insecure
                    && (m.contains("InvalidContentType") || m.contains("corrupt message"))
                {
                    m.push_str(&format!(
                        " (if {} serves plain HTTP, list it in insecure-registries)",
                        r.registry
                    ));
                }
                (RegistryFailure::Unreachable, m)
            }
            _ => (
                RegistryFailure::Invalid,
                format!("pulling {r}: {}", chain(&e)),
            ),
        };
        ImageError::Registry { failure, message }
    }
}

/// An error's message followed by its sources' (reqwest hides "Connection refused" there).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let m = s.to_string();
        if !out.contains(&m) {
            out.push_str(": ");
            out.push_str(&m);
        }
        source = s.source();
    }
    out
}

/// A download file that refuses more bytes than the blob's descriptor announced.
struct Bounded {
    file: tokio::fs::File,
    limit: u64,
    written: u64,
    overflow: bool,
}

impl AsyncWrite for Bounded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.written + buf.len() as u64 > this.limit {
            this.overflow = true;
            return Poll::Ready(Err(io::Error::other(
                "the blob is longer than its descriptor says",
            )));
        }
        let n = ready!(Pin::new(&mut this.file).poll_write(cx, buf))?;
        this.written += n as u64;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.file).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.file).poll_shutdown(cx)
    }
}

/// What a pull fetched, to be stored on a blocking thread.
struct Pulled {
    reference: ImageRef,
    manifest_digest: Digest,
    manifest: Vec<u8>,
    /// The config blob, then each layer blob: the downloaded file, or `None` when the store
    /// had it already.
    blobs: Vec<(Digest, Option<PathBuf>)>,
    tags: Vec<ImageRef>,
}

impl Pulled {
    /// Stores the blobs (checking their digests once more), unpacks the layers and records
    /// and tags the image, as a load does.
    fn store(self, store: &ImageStore) -> Result<Image> {
        let _gc = store.gc_shared();
        store
            .blobs()
            .put_bytes(&self.manifest, Some(&self.manifest_digest))?;
        for (d, path) in &self.blobs {
            match path {
                Some(p) => {
                    store.blobs().put_file(p, Some(d))?;
                }
                None if store.blobs().exists(d) => {}
                None => {
                    return Err(ImageError::Io {
                        context: format!(
                            "blob {d} was removed by a prune while {} was being pulled; pull again",
                            self.reference
                        ),
                        source: io::ErrorKind::NotFound.into(),
                    });
                }
            }
        }
        let mut digests = self.blobs.into_iter().map(|(d, _)| d);
        let Some(config) = digests.next() else {
            return Err(ImageError::NotFound(self.reference.to_string()));
        };
        let id = store.commit(
            &config,
            Some(self.manifest_digest),
            digests.collect(),
            &self.tags,
        )?;
        store.inspect(id.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[test]
    fn references_map_to_oci_client() {
        let r = oci_reference(&ImageRef::parse("busybox").unwrap());
        assert_eq!(
            (r.registry(), r.repository(), r.tag(), r.digest()),
            ("docker.io", "library/busybox", Some("latest"), None)
        );
        assert_eq!(r.resolve_registry(), "index.docker.io");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = oci_reference(&ImageRef::parse(&format!("localhost:5000/x/y:1@{d}")).unwrap());
        assert_eq!(
            (r.registry(), r.repository(), r.tag(), r.digest()),
            ("localhost:5000", "x/y", None, Some(d.as_str()))
        );
    }

    #[tokio::test]
    async fn bounded_refuses_more_than_announced() {
        let dir = tempfile::tempdir().unwrap();
        let file = tokio::fs::File::create(dir.path().join("b")).await.unwrap();
        let mut out = Bounded {
            file,
            limit: 4,
            written: 0,
            overflow: false,
        };
        out.write_all(b"abc").await.unwrap();
        assert!(out.write_all(b"de").await.is_err());
        assert!(out.overflow);
        assert_eq!(out.written, 3);
    }
}
