//! The image store: which images a node holds, under which names, and what they are made of.
//!
//! Layout under the root directory the caller gives (e.g. `<data dir>/images`):
//!
//! ```text
//! lock                     flock'd by the one process that owns the store
//! repositories.json        normalised reference → image id (written atomically)
//! images/<id hex>.json     one record per image: manifest digest, diff_ids, layer blobs, size
//! blobs/sha256/<hex>       configs, manifests, layer tarballs (BlobStore)
//! layers/<diff_id hex>/fs  unpacked layers, overlay lowerdirs (LayerStore)
//! tmp/                     archives being loaded; emptied on open
//! ```
//!
//! An image's id is the digest of its config blob, as in Docker. There are no reference
//! counts: what a layer or blob is used by is derived from the image records, so removing an
//! image and collecting garbage cannot drift out of step. A layer or blob that no image
//! references is garbage; [`ImageStore::remove`] and [`ImageStore::prune`] collect it.
//! Containers are not known here: callers pass an `in_use` predicate on image ids.
//!
//! Loads and imports hold a shared lock for their whole run, removals and prunes an exclusive
//! one, so garbage collection never sees a half-imported image's blobs as garbage.
//! All methods block on disk I/O; async callers use `spawn_blocking`.

use crate::blobs::{BlobStore, remove_temporaries, unique_name, write_atomic};
use crate::digest::{Digest, is_hex64, is_lower_hex};
use crate::error::{ImageError, Result};
use crate::layers::{LayerStore, UnpackLimits, remove_tree};
use flotilla_model::ImageRef;
use oci_spec::image::{ImageConfiguration, Os};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard};

const REPOSITORIES: &str = "repositories.json";

/// An image as the store describes it (`docker image inspect`).
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// The image id: the digest of its config blob.
    pub id: Digest,
    /// The image config (entrypoint, env, diff_ids, history, ...).
    pub config: ImageConfiguration,
    /// The digest of the manifest it came with, when the source had one (OCI layout, registry).
    pub manifest_digest: Option<Digest>,
    /// Its layers' diff_ids, bottom first (as in the config).
    pub layers: Vec<Digest>,
    /// Normalised references pointing at it (`docker.io/library/busybox:latest`), sorted.
    /// Empty for a dangling image.
    pub refs: Vec<String>,
    /// Sum of its layers' sizes, in bytes.
    pub size: u64,
    /// When the image was built (RFC 3339, from the config).
    pub created: Option<String>,
}

/// What a removal or a prune did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removed {
    /// References removed (`Untagged: busybox:latest`).
    pub untagged: Vec<String>,
    /// Images deleted (`Deleted: sha256:…`).
    pub deleted: Vec<Digest>,
    /// Layers no image references any more, deleted.
    pub layers_deleted: Vec<Digest>,
    /// Blobs no image references any more, deleted.
    pub blobs_deleted: Vec<Digest>,
    /// Bytes freed by the deleted layers and blobs.
    pub space_reclaimed: u64,
}

/// What the store keeps about one image, in `images/<id hex>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ImageRecord {
    pub id: Digest,
    #[serde(default)]
    pub manifest_digest: Option<Digest>,
    pub diff_ids: Vec<Digest>,
    pub layer_blobs: Vec<Digest>,
    pub size: u64,
    #[serde(default)]
    pub created: Option<String>,
}

impl ImageRecord {
    /// Every blob the image needs kept: config, manifest, layer tarballs.
    fn blobs(&self) -> impl Iterator<Item = &Digest> {
        std::iter::once(&self.id)
            .chain(self.manifest_digest.iter())
            .chain(self.layer_blobs.iter())
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct RepositoriesFile {
    refs: BTreeMap<String, Digest>,
}

#[derive(Debug, Default)]
struct State {
    refs: BTreeMap<String, Digest>,
    images: BTreeMap<Digest, ImageRecord>,
}

impl State {
    fn refs_of(&self, id: &Digest) -> Vec<String> {
        self.refs
            .iter()
            .filter(|(_, v)| *v == id)
            .map(|(k, _)| k.clone())
            .collect()
    }
}

/// How a string given by a user resolved.
enum Resolved {
    /// Through a tag: the normalised reference and the image it points at.
    Ref(String, Digest),
    /// Through an id, id prefix or digest reference.
    Id(Digest),
}

/// A node's images. Share it (e.g. in an `Arc`): one process owns a store directory.
#[derive(Debug)]
pub struct ImageStore {
    root: PathBuf,
    blobs: BlobStore,
    layers: LayerStore,
    state: Mutex<State>,
    gc: RwLock<()>,
    _lock: File,
}

impl ImageStore {
    /// Opens (creating if needed) the store at `root` with the default unpack limits.
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        Self::open_with_limits(root, UnpackLimits::default())
    }

    /// Opens (creating if needed) the store at `root`. Refuses a store another process holds,
    /// and cleans up what an interrupted load, unpack or deletion left behind.
    pub fn open_with_limits(root: impl AsRef<Path>, limits: UnpackLimits) -> Result<Self> {
        let root = root.as_ref().to_owned();
        for d in [root.clone(), root.join("images"), root.join("tmp")] {
            fs::create_dir_all(&d).map_err(ImageError::io("creating", &d))?;
        }
        let lock_path = root.join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(ImageError::io("opening", &lock_path))?;
        match rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => return Err(ImageError::Locked(root)),
            Err(e) => return Err(ImageError::io("locking", &lock_path)(e.into())),
        }
        let tmp = root.join("tmp");
        for entry in fs::read_dir(&tmp).map_err(ImageError::io("listing", &tmp))? {
            let entry = entry.map_err(ImageError::io("listing", &tmp))?;
            remove_tree(&entry.path())?;
        }
        remove_temporaries(&root)?;
        remove_temporaries(&root.join("images"))?;
        let blobs = BlobStore::new(&root)?;
        let layers = LayerStore::new(&root, limits)?;
        let state = load_state(&root)?;
        tracing::debug!(
            root = %root.display(),
            images = state.images.len(),
            refs = state.refs.len(),
            "image store opened"
        );
        Ok(Self {
            root,
            blobs,
            layers,
            state: Mutex::new(state),
            gc: RwLock::new(()),
            _lock: lock,
        })
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The blob store.
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// The layer store.
    pub fn layers(&self) -> &LayerStore {
        &self.layers
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Held by loads and imports from their first blob to their commit.
    pub(crate) fn gc_shared(&self) -> RwLockReadGuard<'_, ()> {
        self.gc.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// A fresh directory under `tmp/`, removed by the caller (and by the next `open`).
    pub(crate) fn temp_dir(&self, prefix: &str) -> Result<PathBuf> {
        let d = self.root.join("tmp").join(unique_name(prefix));
        fs::create_dir(&d).map_err(ImageError::io("creating", &d))?;
        Ok(d)
    }

    /// Every image, newest first.
    pub fn list(&self) -> Result<Vec<Image>> {
        let st = self.state();
        let mut out = st
            .images
            .values()
            .map(|r| self.describe(&st, r))
            .collect::<Result<Vec<_>>>()?;
        out.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    /// The image a reference, id, `sha256:` id prefix or bare id prefix names.
    pub fn inspect(&self, reference_or_id: &str) -> Result<Image> {
        let st = self.state();
        let id = match resolve(&st, reference_or_id)? {
            Resolved::Ref(_, id) | Resolved::Id(id) => id,
        };
        let rec = st
            .images
            .get(&id)
            .ok_or_else(|| ImageError::NotFound(reference_or_id.to_owned()))?;
        self.describe(&st, rec)
    }

    /// The id of the image a reference, id or id prefix names.
    pub fn resolve(&self, reference_or_id: &str) -> Result<Digest> {
        match resolve(&self.state(), reference_or_id)? {
            Resolved::Ref(_, id) | Resolved::Id(id) => Ok(id),
        }
    }

    fn describe(&self, st: &State, rec: &ImageRecord) -> Result<Image> {
        Ok(Image {
            id: rec.id.clone(),
            config: self.config(&rec.id)?,
            manifest_digest: rec.manifest_digest.clone(),
            layers: rec.diff_ids.clone(),
            refs: st.refs_of(&rec.id),
            size: rec.size,
            created: rec.created.clone(),
        })
    }

    /// The config of image `id`.
    pub fn config(&self, id: &Digest) -> Result<ImageConfiguration> {
        let data = self.blobs.read(id)?;
        serde_json::from_slice(&data).map_err(ImageError::json(format!("image config {id}")))
    }

    /// The unpacked layers of image `id`, in overlay `lowerdir` order: topmost first.
    /// A layer listed twice appears once, at its topmost place (overlayfs refuses a repeated
    /// lowerdir, and the lower copy is hidden by the upper one anyway).
    pub fn rootfs_layers(&self, id: &Digest) -> Result<Vec<PathBuf>> {
        let st = self.state();
        let rec = st
            .images
            .get(id)
            .ok_or_else(|| ImageError::NotFound(id.to_string()))?;
        let mut seen = HashSet::new();
        let mut out = Vec::with_capacity(rec.diff_ids.len());
        for d in rec.diff_ids.iter().rev() {
            if !seen.insert(d) {
                continue;
            }
            if !self.layers.exists(d) {
                return Err(ImageError::MissingLayer {
                    id: id.clone(),
                    diff_id: d.clone(),
                });
            }
            out.push(self.layers.fs_path(d));
        }
        Ok(out)
    }

    /// Points `reference` at image `id` (moving it from another image, which may then be
    /// left dangling, as `docker tag` does).
    pub fn tag(&self, id: &Digest, reference: &ImageRef) -> Result<()> {
        if reference.digest.is_some() {
            return Err(ImageError::TagWithDigest(reference.to_string()));
        }
        let mut st = self.state();
        if !st.images.contains_key(id) {
            return Err(ImageError::NotFound(id.to_string()));
        }
        st.refs.insert(reference.to_string(), id.clone());
        self.save_refs(&st)
    }

    /// Removes `reference`; the image stays, dangling if that was its last tag.
    /// Returns the id it pointed at.
    pub fn untag(&self, reference: &ImageRef) -> Result<Digest> {
        let mut st = self.state();
        let key = reference.to_string();
        let Some(id) = st.refs.remove(&key) else {
            return Err(ImageError::NotFound(key));
        };
        self.save_refs(&st)?;
        Ok(id)
    }

    /// `docker rmi`: removes a tag, or an image with its tags, then the layers and blobs no
    /// image references any more.
    ///
    /// - A tag of an image that has other tags: only the tag goes.
    /// - The last tag, or the image's id: the image goes too, unless `in_use(id)`, which is
    ///   refused without `force`; with `force` the tags go and the image stays, dangling, for
    ///   the containers that use it.
    /// - An id of an image with several tags is refused without `force`.
    pub fn remove(
        &self,
        reference_or_id: &str,
        force: bool,
        in_use: &dyn Fn(&Digest) -> bool,
    ) -> Result<Removed> {
        let _gc = self.gc.write().unwrap_or_else(PoisonError::into_inner);
        let mut st = self.state();
        let mut out = Removed::default();
        let (id, tags) = match resolve(&st, reference_or_id)? {
            Resolved::Ref(key, id) => {
                if st.refs_of(&id).len() > 1 {
                    st.refs.remove(&key);
                    self.save_refs(&st)?;
                    out.untagged.push(key);
                    return Ok(out);
                }
                (id, vec![key])
            }
            Resolved::Id(id) => {
                let tags = st.refs_of(&id);
                if tags.len() > 1 && !force {
                    return Err(ImageError::MultipleRefs {
                        id,
                        count: tags.len(),
                    });
                }
                (id, tags)
            }
        };
        let used = in_use(&id);
        if used && !force {
            return Err(ImageError::InUse {
                reference: reference_or_id.to_owned(),
                id,
            });
        }
        for t in tags {
            st.refs.remove(&t);
            out.untagged.push(t);
        }
        self.save_refs(&st)?;
        if used {
            tracing::info!(%id, "image in use: tags removed, image kept for its containers");
            return Ok(out);
        }
        self.delete_image(&mut st, &id)?;
        out.deleted.push(id);
        self.collect_garbage(&st, &mut out)?;
        Ok(out)
    }

    /// `docker image prune`: removes dangling images (no tags) that no container uses — with
    /// `all`, every image no container uses — then the layers and blobs no image references.
    pub fn prune(&self, all: bool, in_use: &dyn Fn(&Digest) -> bool) -> Result<Removed> {
        let _gc = self.gc.write().unwrap_or_else(PoisonError::into_inner);
        let mut st = self.state();
        let mut out = Removed::default();
        let doomed: Vec<Digest> = st
            .images
            .keys()
            .filter(|&id| (all || st.refs_of(id).is_empty()) && !in_use(id))
            .cloned()
            .collect();
        for id in &doomed {
            for t in st.refs_of(id) {
                st.refs.remove(&t);
                out.untagged.push(t);
            }
        }
        if !out.untagged.is_empty() {
            self.save_refs(&st)?;
        }
        for id in doomed {
            self.delete_image(&mut st, &id)?;
            out.deleted.push(id);
        }
        self.collect_garbage(&st, &mut out)?;
        Ok(out)
    }

    fn record_path(&self, id: &Digest) -> PathBuf {
        self.root.join("images").join(format!("{}.json", id.hex()))
    }

    fn delete_image(&self, st: &mut State, id: &Digest) -> Result<()> {
        st.images.remove(id);
        let p = self.record_path(id);
        match fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(ImageError::io("removing image record", &p)(e)),
        }
        tracing::info!(%id, "image deleted");
        Ok(())
    }

    /// Deletes every layer and blob no remaining image references. Runs under the exclusive
    /// gc lock, so no load is between its first blob and its commit.
    fn collect_garbage(&self, st: &State, out: &mut Removed) -> Result<()> {
        let live_layers: HashSet<&Digest> =
            st.images.values().flat_map(|r| r.diff_ids.iter()).collect();
        let live_blobs: HashSet<&Digest> = st.images.values().flat_map(|r| r.blobs()).collect();
        for l in self.layers.list()? {
            if !live_layers.contains(&l)
                && let Some(size) = self.layers.delete(&l)?
            {
                out.space_reclaimed += size;
                out.layers_deleted.push(l);
            }
        }
        for b in self.blobs.list()? {
            if !live_blobs.contains(&b)
                && let Some(size) = self.blobs.delete(&b)?
            {
                out.space_reclaimed += size;
                out.blobs_deleted.push(b);
            }
        }
        Ok(())
    }

    fn save_refs(&self, st: &State) -> Result<()> {
        let file = RepositoriesFile {
            refs: st.refs.clone(),
        };
        let json = serde_json::to_vec_pretty(&file).map_err(ImageError::json(REPOSITORIES))?;
        write_atomic(&self.root.join(REPOSITORIES), &json)
    }

    /// Records an image whose config blob `config` and layer blobs are in the blob store:
    /// unpacks its layers (checking their diff_ids against the config), writes its record and
    /// points `tags` at it. Callers hold [`Self::gc_shared`] since their first blob was put.
    pub(crate) fn commit(
        &self,
        config: &Digest,
        manifest_digest: Option<Digest>,
        layer_blobs: Vec<Digest>,
        tags: &[ImageRef],
    ) -> Result<Digest> {
        let cfg = self.config(config)?;
        if *cfg.os() != Os::Linux {
            return Err(ImageError::BadArchive(format!(
                "image {config} is for os {:?}, not linux",
                cfg.os().to_string()
            )));
        }
        let host = host_arch();
        if cfg.architecture().to_string() != host {
            tracing::warn!(
                id = %config,
                image = %cfg.architecture(),
                host,
                "image architecture does not match this node"
            );
        }
        for t in tags {
            if t.digest.is_some() {
                return Err(ImageError::TagWithDigest(t.to_string()));
            }
        }
        let diff_ids = cfg
            .rootfs()
            .diff_ids()
            .iter()
            .map(|d| Digest::parse(d))
            .collect::<Result<Vec<_>>>()?;
        if diff_ids.len() != layer_blobs.len() {
            return Err(ImageError::BadArchive(format!(
                "image config {config} lists {} diff_ids but the image has {} layers",
                diff_ids.len(),
                layer_blobs.len()
            )));
        }
        let mut size = 0u64;
        for (blob, diff_id) in layer_blobs.iter().zip(&diff_ids) {
            let info = if self.layers.exists(diff_id) {
                self.layers.info(diff_id)?
            } else {
                self.layers
                    .unpack(self.blobs.open(blob)?, blob, Some(diff_id))?
            };
            size += info.size;
        }
        let mut rec = ImageRecord {
            id: config.clone(),
            manifest_digest,
            diff_ids,
            layer_blobs,
            size,
            created: cfg.created().clone(),
        };
        let mut st = self.state();
        if rec.manifest_digest.is_none() {
            // Loading again from a source without a manifest keeps the one known.
            rec.manifest_digest = st
                .images
                .get(config)
                .and_then(|old| old.manifest_digest.clone());
        }
        if st.images.get(config) != Some(&rec) {
            let json = serde_json::to_vec_pretty(&rec).map_err(ImageError::json("image record"))?;
            write_atomic(&self.record_path(config), &json)?;
            st.images.insert(config.clone(), rec);
        }
        if !tags.is_empty() {
            for t in tags {
                st.refs.insert(t.to_string(), config.clone());
            }
            self.save_refs(&st)?;
        }
        tracing::info!(id = %config, ?tags, "image stored");
        Ok(config.clone())
    }
}

/// This node's architecture, with OCI's (Go's) names.
pub(crate) fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    }
}

fn resolve(st: &State, s: &str) -> Result<Resolved> {
    if let Ok(d) = Digest::parse(s)
        && st.images.contains_key(&d)
    {
        return Ok(Resolved::Id(d));
    }
    if let Ok(r) = ImageRef::parse(s) {
        if let Some(d) = &r.digest {
            let hit = st.images.values().find(|rec| {
                rec.id.as_str() == d
                    || rec
                        .manifest_digest
                        .as_ref()
                        .is_some_and(|m| m.as_str() == d)
            });
            if let Some(rec) = hit {
                return Ok(Resolved::Id(rec.id.clone()));
            }
        } else {
            let key = r.to_string();
            if let Some(id) = st.refs.get(&key) {
                return Ok(Resolved::Ref(key, id.clone()));
            }
        }
    }
    let prefix = s.strip_prefix("sha256:").unwrap_or(s);
    if !prefix.is_empty() && prefix.len() <= 64 && prefix.bytes().all(is_lower_hex) {
        let hits: Vec<&Digest> = st
            .images
            .keys()
            .filter(|id| id.hex().starts_with(prefix))
            .collect();
        match hits.as_slice() {
            [one] => return Ok(Resolved::Id((*one).clone())),
            [] => {}
            many => {
                return Err(ImageError::Ambiguous {
                    prefix: s.to_owned(),
                    count: many.len(),
                });
            }
        }
    }
    Err(ImageError::NotFound(s.to_owned()))
}

fn load_state(root: &Path) -> Result<State> {
    let mut st = State::default();
    let images = root.join("images");
    for entry in fs::read_dir(&images).map_err(ImageError::io("listing", &images))? {
        let entry = entry.map_err(ImageError::io("listing", &images))?;
        let p = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(hex) = name.strip_suffix(".json").filter(|h| is_hex64(h)) else {
            continue;
        };
        let data = fs::read(&p).map_err(ImageError::io("reading image record", &p))?;
        match serde_json::from_slice::<ImageRecord>(&data) {
            Ok(rec) if rec.id.hex() == hex => {
                st.images.insert(rec.id.clone(), rec);
            }
            Ok(_) => {
                tracing::warn!(path = %p.display(), "image record names another image: ignored");
            }
            Err(e) => {
                tracing::warn!(path = %p.display(), error = %e, "unreadable image record: ignored");
            }
        }
    }
    let repos = root.join(REPOSITORIES);
    match fs::read(&repos) {
        Ok(data) => {
            let file: RepositoriesFile = serde_json::from_slice(&data)
                .map_err(ImageError::json(repos.display().to_string()))?;
            for (r, id) in file.refs {
                if st.images.contains_key(&id) {
                    st.refs.insert(r, id);
                } else {
                    tracing::warn!(reference = %r, %id, "reference to an unknown image: dropped");
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(ImageError::io("reading", &repos)(e)),
    }
    Ok(st)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::tests::TarBuf;

    /// Stores an image made of `layers` (plain tars) with a minimal config; returns its id.
    fn add_image(store: &ImageStore, layers: &[Vec<u8>], tags: &[&str], salt: &str) -> Digest {
        let _gc = store.gc_shared();
        let mut blobs = Vec::new();
        let mut diff_ids = Vec::new();
        for l in layers {
            let (d, _) = store.blobs().put(&l[..], None).unwrap();
            diff_ids.push(d.to_string());
            blobs.push(d);
        }
        let config = serde_json::json!({
            "architecture": host_arch(),
            "os": "linux",
            "created": format!("2024-01-0{}T00:00:00Z", 1 + salt.len() % 9),
            "config": {"Env": [format!("SALT={salt}")]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        let cfg = store
            .blobs()
            .put_bytes(&serde_json::to_vec(&config).unwrap(), None)
            .unwrap();
        let tags: Vec<ImageRef> = tags.iter().map(|t| ImageRef::parse(t).unwrap()).collect();
        store.commit(&cfg, None, blobs, &tags).unwrap()
    }

    fn layer(name: &str) -> Vec<u8> {
        TarBuf::new().file(name, name.as_bytes()).finish()
    }

    fn nobody(_: &Digest) -> bool {
        false
    }

    #[test]
    fn tag_inspect_list_and_reopen() {
        let root = tempfile::tempdir().unwrap();
        let store = ImageStore::open(root.path()).unwrap();
        let id = add_image(&store, &[layer("a"), layer("b")], &["busybox"], "x");
        let img = store.inspect("busybox").unwrap();
        assert_eq!(img.id, id);
        assert_eq!(img.refs, vec!["docker.io/library/busybox:latest"]);
        assert_eq!(img.layers.len(), 2);
        assert_eq!(img.size, 2);
        assert_eq!(img.created.as_deref(), Some("2024-01-02T00:00:00Z"));
        assert_eq!(
            store
                .inspect("docker.io/library/busybox:latest")
                .unwrap()
                .id,
            id
        );
        assert_eq!(store.inspect(id.as_str()).unwrap().id, id);
        assert_eq!(store.inspect(&id.hex()[..6]).unwrap().id, id);
        assert_eq!(
            store
                .inspect(&format!("sha256:{}", &id.hex()[..8]))
                .unwrap()
                .id,
            id
        );
        assert_eq!(store.resolve("busybox:latest").unwrap(), id);
        assert!(matches!(
            store.inspect("nope"),
            Err(ImageError::NotFound(_))
        ));

        store
            .tag(&id, &ImageRef::parse("example.com/app:v1").unwrap())
            .unwrap();
        assert_eq!(store.inspect("example.com/app:v1").unwrap().refs.len(), 2);
        let with_digest = ImageRef::parse(&format!("app@{id}")).unwrap();
        assert!(matches!(
            store.tag(&id, &with_digest),
            Err(ImageError::TagWithDigest(_))
        ));
        assert_eq!(store.inspect(&format!("busybox@{id}")).unwrap().id, id);

        // Layers in overlay order: topmost first.
        let lowers = store.rootfs_layers(&id).unwrap();
        assert_eq!(lowers.len(), 2);
        assert!(lowers[0].join("b").is_file());
        assert!(lowers[1].join("a").is_file());

        drop(store);
        let store = ImageStore::open(root.path()).unwrap();
        assert_eq!(store.list().unwrap().len(), 1);
        assert!(store.inspect("app:v1").is_err());
        assert_eq!(store.inspect("example.com/app:v1").unwrap().id, id);
        assert_eq!(
            store.untag(&ImageRef::parse("busybox").unwrap()).unwrap(),
            id
        );
        assert_eq!(
            store.inspect(id.as_str()).unwrap().refs,
            vec!["example.com/app:v1"]
        );
        assert!(matches!(
            store.untag(&ImageRef::parse("busybox").unwrap()),
            Err(ImageError::NotFound(_))
        ));
    }

    #[test]
    fn second_open_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let _store = ImageStore::open(root.path()).unwrap();
        assert!(matches!(
            ImageStore::open(root.path()),
            Err(ImageError::Locked(_))
        ));
    }

    #[test]
    fn repeated_layer_appears_once() {
        let root = tempfile::tempdir().unwrap();
        let store = ImageStore::open(root.path()).unwrap();
        let (a, b) = (layer("a"), layer("b"));
        let id = add_image(&store, &[a.clone(), b, a], &["dup"], "d");
        let lowers = store.rootfs_layers(&id).unwrap();
        assert_eq!(lowers.len(), 2);
        assert!(lowers[0].join("a").is_file(), "the topmost copy is kept");
    }

    #[test]
    fn dangling_and_prune() {
        let root = tempfile::tempdir().unwrap();
        let store = ImageStore::open(root.path()).unwrap();
        let base = layer("base");
        let one = add_image(&store, &[base.clone(), layer("one")], &["one"], "1");
        let two = add_image(&store, &[base.clone(), layer("two")], &["two"], "22");
        assert_eq!(store.list().unwrap().len(), 2);

        store.untag(&ImageRef::parse("two").unwrap()).unwrap();
        assert!(store.inspect(two.as_str()).unwrap().refs.is_empty());
        let out = store.prune(false, &nobody).unwrap();
        assert_eq!(out.deleted, vec![two.clone()]);
        assert!(out.untagged.is_empty());
        // Its own layer goes; the shared base stays.
        assert_eq!(out.layers_deleted, vec![Digest::of_bytes(&layer("two"))]);
        assert!(out.blobs_deleted.contains(&two));
        assert!(out.space_reclaimed > 0);
        assert!(store.layers().exists(&Digest::of_bytes(&base)));
        assert_eq!(store.list().unwrap().len(), 1);
        assert_eq!(store.inspect("one").unwrap().id, one);
        assert_eq!(store.rootfs_layers(&one).unwrap().len(), 2);

        // Nothing dangling any more: a second prune frees nothing.
        assert_eq!(store.prune(false, &nobody).unwrap(), Removed::default());

        // prune --all spares images in use.
        let out = store.prune(true, &|id: &Digest| *id == one).unwrap();
        assert!(out.deleted.is_empty());
        let out = store.prune(true, &nobody).unwrap();
        assert_eq!(out.deleted, vec![one]);
        assert_eq!(out.untagged, vec!["docker.io/library/one:latest"]);
        assert!(store.layers().list().unwrap().is_empty());
        assert!(store.blobs().list().unwrap().is_empty());
    }

    #[test]
    fn shared_layer_survives_removing_one_image() {
        let root = tempfile::tempdir().unwrap();
        let store = ImageStore::open(root.path()).unwrap();
        let base = layer("base");
        let base_id = Digest::of_bytes(&base);
        let one = add_image(&store, &[base.clone(), layer("one")], &["one"], "1");
        let two = add_image(&store, std::slice::from_ref(&base), &["two"], "22");
        let out = store.remove("one", false, &nobody).unwrap();
        assert_eq!(out.untagged, vec!["docker.io/library/one:latest"]);
        assert_eq!(out.deleted, vec![one]);
        assert_eq!(out.layers_deleted, vec![Digest::of_bytes(&layer("one"))]);
        assert!(store.layers().exists(&base_id));
        assert_eq!(
            store.rootfs_layers(&two).unwrap(),
            vec![store.layers().fs_path(&base_id)]
        );
        let out = store.remove("two", false, &nobody).unwrap();
        assert_eq!(out.layers_deleted, vec![base_id]);
    }

    #[test]
    fn remove_semantics() {
        let root = tempfile::tempdir().unwrap();
        let store = ImageStore::open(root.path()).unwrap();
        let id = add_image(&store, &[layer("a")], &["app:1", "app:2"], "r");
        let in_use = |d: &Digest| *d == id;

        // By id with two tags: refused without force.
        let err = store.remove(id.as_str(), false, &nobody).unwrap_err();
        assert!(
            matches!(err, ImageError::MultipleRefs { count: 2, .. }),
            "{err}"
        );
        // One of two tags: only the tag goes, even in use.
        let out = store.remove("app:1", false, &in_use).unwrap();
        assert_eq!(out.untagged, vec!["docker.io/library/app:1"]);
        assert!(out.deleted.is_empty());
        // The last tag of an image in use: refused without force.
        let err = store.remove("app:2", false, &in_use).unwrap_err();
        assert!(matches!(err, ImageError::InUse { .. }), "{err}");
        assert!(err.to_string().contains("in use by a container"), "{err}");
        assert_eq!(store.inspect("app:2").unwrap().id, id);
        // Forced: the tag goes, the image stays for its container, dangling.
        let out = store.remove("app:2", true, &in_use).unwrap();
        assert_eq!(out.untagged, vec!["docker.io/library/app:2"]);
        assert!(out.deleted.is_empty());
        assert!(store.inspect(id.as_str()).unwrap().refs.is_empty());
        assert!(store.prune(false, &in_use).unwrap().deleted.is_empty());
        // Once unused, removing it by id prefix deletes it and its layer.
        let out = store.remove(&id.hex()[..12], false, &nobody).unwrap();
        assert_eq!(out.deleted, vec![id.clone()]);
        assert_eq!(out.layers_deleted.len(), 1);
        assert!(matches!(
            store.inspect(id.as_str()),
            Err(ImageError::NotFound(_))
        ));
    }

    #[test]
    fn ambiguous_prefix() {
        let root = tempfile::tempdir().unwrap();
        let store = ImageStore::open(root.path()).unwrap();
        let mut ids = Vec::new();
        for i in 0..20 {
            ids.push(add_image(&store, &[layer("a")], &[], &"s".repeat(i + 1)));
        }
        // Among 20 ids, two share a first hex digit (pigeonhole over 16 digits).
        let first = |d: &Digest| d.hex()[..1].to_owned();
        let shared = ids
            .iter()
            .find(|d| ids.iter().filter(|e| first(e) == first(d)).count() > 1)
            .unwrap();
        let p = first(shared);
        // A one-character prefix that is also a valid repository name: not tagged, so an id.
        assert!(matches!(
            store.inspect(&p),
            Err(ImageError::Ambiguous { .. })
        ));
    }
}
