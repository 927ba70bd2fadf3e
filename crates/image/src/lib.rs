//! Container images on a node: a content-addressed blob store, layers unpacked once into
//! overlay-ready directories, named references, `load` of `docker save` and OCI-layout
//! archives, `import` of root filesystem tarballs, and garbage collection.
//!
//! What it owns:
//! - [`BlobStore`]: configs, manifests and layer tarballs under `blobs/sha256/<hex>`, written
//!   atomically and checked against their digests.
//! - [`LayerStore`]: each layer unpacked once into `layers/<diff_id>/fs` (an overlay
//!   `lowerdir`), with OCI whiteouts turned into overlayfs ones and hostile tar entries
//!   (`..`, traversal of symlinks, escaping hard links, device nodes, absurd sizes) refused.
//! - [`ImageStore`]: image records and `repositories.json` (normalised reference → image id,
//!   the config digest as in Docker); `inspect`, `tag`, `untag`, `remove` and `prune` with
//!   Docker's semantics; [`ImageStore::rootfs_layers`] gives the lowerdirs to mount.
//! - [`load()`], [`load_with_name`] and [`import()`].
//! - [`pull()`]: an image from a registry (OCI distribution / registry v2, anonymous, with
//!   oci-client), through the same blob and layer stores.
//!
//! What it does not own: containers (callers pass an `in_use` predicate on image ids to
//! `remove` and `prune`); mounting overlays (the `container` crate mounts what
//! [`ImageStore::rootfs_layers`] returns); registry credentials (pulls are anonymous). Image
//! references are [`flotilla_model::ImageRef`]'s.
//!
//! Everything here but [`pull()`] is blocking file I/O; async callers use `spawn_blocking`
//! (`pull` is async and runs its storing step on a blocking thread itself). Whiteouts and
//! ownership need root, as the daemon runs.

pub mod blobs;
pub mod digest;
pub mod error;
pub mod import;
pub mod layers;
pub mod load;
pub mod pull;
pub mod store;

pub use blobs::BlobStore;
pub use digest::{Digest, Hashing, HashingWriter};
pub use error::{ImageError, RegistryFailure, Result};
pub use flotilla_model::ImageRef;
pub use import::import;
pub use layers::{LayerInfo, LayerStore, UnpackLimits};
pub use load::{LoadedImage, load, load_with_name};
pub use pull::{PullOptions, PullProgress, pull};
pub use store::{Image, ImageStore, Removed};
