//! The single error type of the `image` crate.
//!
//! Every message says what was refused or what failed, and why, so that the CLI can print it
//! as is: `layer sha256:… entry "../etc/passwd" escapes the layer: refused`.

use crate::digest::Digest;
use flotilla_model::image_ref::ImageRefError;
use std::io;
use std::path::{Path, PathBuf};

/// Shorthand for results whose error is [`ImageError`].
pub type Result<T, E = ImageError> = std::result::Result<T, E>;

/// Everything that can go wrong while storing, loading, unpacking or removing images.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// A filesystem operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the path.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// A string is not a `sha256:<64 lowercase hex>` digest.
    #[error("{0:?} is not a sha256 digest (expected sha256:<64 lowercase hex digits>): refused")]
    BadDigest(String),

    /// Content does not hash to the digest it was announced with.
    #[error("{what}: expected digest {expected}, but the content hashes to {actual}: refused")]
    DigestMismatch {
        /// What was checked (a blob, a layer's diff_id, ...).
        what: String,
        /// The digest the content was announced with.
        expected: Digest,
        /// The digest of the content actually received.
        actual: Digest,
    },

    /// A tar entry (of a layer or of an image archive) was refused.
    #[error("{container} entry {entry:?} {reason}: refused")]
    Refused {
        /// The tar stream: `layer sha256:…` or `image archive`.
        container: String,
        /// The entry's path as written in the tar stream.
        entry: String,
        /// Why it was refused (`escapes the layer`, ...).
        reason: String,
    },

    /// A layer or archive is larger than the configured limit.
    #[error("{container} is larger than the limit of {limit} {unit}: refused")]
    TooLarge {
        /// The tar stream: `layer sha256:…` or `image archive`.
        container: String,
        /// The limit that was exceeded.
        limit: u64,
        /// `bytes` or `entries`.
        unit: &'static str,
    },

    /// A compressed stream uses a compression this crate does not read.
    #[error(
        "{container} is compressed with {compression}, which is not supported (only tar, gzip and zstd): refused"
    )]
    UnsupportedCompression {
        /// The stream: `layer sha256:…` or `image archive`.
        container: String,
        /// The compression recognised by its magic bytes.
        compression: &'static str,
    },

    /// An image archive given to `load` is neither a docker-save tarball nor an OCI layout,
    /// or is inconsistent.
    #[error("image archive refused: {0}")]
    BadArchive(String),

    /// A JSON document (config, manifest, index, store metadata) could not be parsed or written.
    #[error("{what}: invalid JSON: {source}")]
    Json {
        /// Which document.
        what: String,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },

    /// An image reference does not parse.
    #[error("invalid image reference: {0}")]
    Reference(#[from] ImageRefError),

    /// A tag was requested with a reference that carries a digest.
    #[error("{0}: a tag cannot carry a digest: refused")]
    TagWithDigest(String),

    /// No image matches a reference or id.
    #[error("no such image: {0}")]
    NotFound(String),

    /// An id prefix matches several images.
    #[error("image id prefix {prefix:?} is ambiguous: it matches {count} images: refused")]
    Ambiguous {
        /// The prefix given.
        prefix: String,
        /// How many images it matches.
        count: usize,
    },

    /// The image is used by a container and removal was not forced.
    #[error(
        "unable to remove {reference}: image {id} is in use by a container (must force): refused"
    )]
    InUse {
        /// What the caller asked to remove.
        reference: String,
        /// The image's id.
        id: Digest,
    },

    /// Removal by id of an image that has several tags, without force.
    #[error(
        "unable to remove image {id}: it is referenced by {count} tags (remove them by name, or force): refused"
    )]
    MultipleRefs {
        /// The image's id.
        id: Digest,
        /// How many tags point at it.
        count: usize,
    },

    /// A layer an image needs is missing from the store (the store was damaged).
    #[error("layer {diff_id} of image {id} is missing from the store")]
    MissingLayer {
        /// The image's id.
        id: Digest,
        /// The missing layer's diff_id.
        diff_id: Digest,
    },

    /// Another process holds the store.
    #[error("image store {0} is locked by another process: refused")]
    Locked(PathBuf),

    /// A pull from a registry failed; the message names the reference and the reason
    /// (`manifest for … not found: manifest unknown`).
    #[error("{message}")]
    Registry {
        /// What kind of failure it was.
        failure: RegistryFailure,
        /// The whole message.
        message: String,
    },
}

/// What kind of failure a pull met, for callers that map errors to statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistryFailure {
    /// The registry has no such tag or digest (`manifest unknown`).
    NotFound,
    /// The registry refused anonymous access, or the repository does not exist.
    Denied,
    /// The registry could not be reached, or failed (5xx, too many requests).
    Unreachable,
    /// The registry sent something that is not a usable image for this node.
    Invalid,
}

impl ImageError {
    /// An [`ImageError::Io`] whose context is `what` followed by the path.
    pub(crate) fn io(what: &str, path: &Path) -> impl FnOnce(io::Error) -> ImageError + use<> {
        let context = format!("{what} {}", path.display());
        move |source| ImageError::Io { context, source }
    }

    /// An [`ImageError::Io`] with a free-form context.
    pub(crate) fn io_ctx(context: String) -> impl FnOnce(io::Error) -> ImageError {
        move |source| ImageError::Io { context, source }
    }

    /// An [`ImageError::Json`] for the document `what`.
    pub(crate) fn json(what: impl Into<String>) -> impl FnOnce(serde_json::Error) -> ImageError {
        let what = what.into();
        move |source| ImageError::Json { what, source }
    }
}
