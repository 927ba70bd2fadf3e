//! `image load`: importing a `docker save` tarball or an OCI image-layout archive.
//!
//! The archive (plain, gzip or zstd) is first unpacked into a fresh directory under the
//! store's `tmp/`, with the same hostile-path checks as layers (no `..`, no traversal of
//! symlinks, no devices, size and entry caps). Files named by the archive's own JSON are then
//! resolved inside that directory, refusing any that a symlink leads outside of. Each image's
//! config and layer blobs go into the blob store (checked against their digests wherever the
//! format names them), its layers are unpacked (diff_ids checked against the config) and its
//! references recorded. The temporary directory is removed in every case.
//!
//! - docker save: `manifest.json` = `[{"Config", "RepoTags", "Layers"}]`; layers are
//!   `<v1 id>/layer.tar` (possibly symlinks to another image's) or, since Docker 25,
//!   `blobs/sha256/<hex>`. When both `manifest.json` and `index.json` are present (Docker 25+),
//!   `manifest.json` is used.
//! - OCI layout: `oci-layout`, `index.json`, `blobs/sha256/<hex>`. Nested indexes
//!   (multi-platform) resolve to this node's platform. Names come from
//!   `io.containerd.image.name` (a full reference) or `org.opencontainers.image.ref.name`: a
//!   full reference when it contains `/`, `:` or `@`, else a bare tag, combined with the
//!   repository given to [`load_with_name`] (without one, the image is loaded untagged, as
//!   Docker does).

use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::layers::{TarOptions, remove_tree, unpack_tar};
use crate::store::{ImageStore, host_arch};
use flotilla_model::ImageRef;
use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, Os};
use serde::Deserialize;
use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// The largest JSON document (manifest, index, config) read from an archive or a registry.
pub(crate) const MAX_JSON: u64 = 16 << 20;
/// How deep nested indexes may go.
pub(crate) const MAX_INDEX_DEPTH: usize = 4;

/// Media types of image indexes: OCI's and Docker's manifest list.
pub(crate) const INDEX_MEDIA_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];
/// Media types of image manifests: OCI's and Docker's schema 2.
pub(crate) const MANIFEST_MEDIA_TYPES: [&str; 2] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

const ANN_REF_NAME: &str = "org.opencontainers.image.ref.name";
const ANN_CONTAINERD_NAME: &str = "io.containerd.image.name";

/// One image a load or import stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedImage {
    /// The image id (config digest).
    pub id: Digest,
    /// The normalised references now pointing at it; empty when loaded untagged
    /// (Docker prints `Loaded image ID: sha256:…` then, else `Loaded image: <ref>`).
    pub refs: Vec<String>,
}

/// Loads every image of a `docker save` tarball or OCI image-layout archive.
pub fn load(store: &ImageStore, reader: impl Read) -> Result<Vec<LoadedImage>> {
    load_with_name(store, reader, None)
}

/// Like [`load`]; `name` (a repository such as `myapp` or `registry.local/team/app`) names
/// images whose OCI annotation is only a tag, or that carry no name at all.
pub fn load_with_name(
    store: &ImageStore,
    reader: impl Read,
    name: Option<&str>,
) -> Result<Vec<LoadedImage>> {
    let repo = name.map(ImageRef::parse).transpose()?;
    let _gc = store.gc_shared();
    let dir = TempDir(store.temp_dir("load-")?);
    let limits = store.layers().limits();
    let opts = TarOptions {
        whiteouts: false,
        metadata: false,
        max_bytes: limits.max_archive_bytes,
        max_entries: limits.max_entries,
        noun: "archive",
    };
    unpack_tar(reader, &dir.0, &opts, "image archive")?;
    let archive = Extracted::new(&dir.0)?;
    let loaded = if archive.has("manifest.json") {
        load_docker(store, &archive, repo.as_ref())?
    } else if archive.has("index.json") && archive.has("oci-layout") {
        load_oci(store, &archive, repo.as_ref())?
    } else {
        return Err(ImageError::BadArchive(
            "it has neither manifest.json (docker save) nor oci-layout and index.json \
             (OCI image layout)"
                .into(),
        ));
    };
    Ok(merge(loaded))
}

/// One entry per image id, references merged, in first-seen order.
fn merge(loaded: Vec<LoadedImage>) -> Vec<LoadedImage> {
    let mut out: Vec<LoadedImage> = Vec::new();
    for l in loaded {
        match out.iter_mut().find(|o| o.id == l.id) {
            Some(o) => {
                for r in l.refs {
                    if !o.refs.contains(&r) {
                        o.refs.push(r);
                    }
                }
            }
            None => out.push(l),
        }
    }
    out
}

/// Removes a load's (or pull's) temporary directory, whatever happens.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Err(e) = remove_tree(&self.0) {
            tracing::warn!(error = %e, "could not remove a load's temporary directory");
        }
    }
}

/// The unpacked archive; paths its JSON names are resolved strictly inside it.
struct Extracted {
    root: PathBuf,
}

impl Extracted {
    fn new(dir: &Path) -> Result<Self> {
        let root = fs::canonicalize(dir).map_err(ImageError::io("resolving", dir))?;
        Ok(Self { root })
    }

    fn has(&self, name: &str) -> bool {
        fs::symlink_metadata(self.root.join(name)).is_ok()
    }

    /// The file the archive calls `rel`: no absolute path or `..`, and no symlink leading
    /// out of the archive.
    fn path(&self, rel: &str) -> Result<PathBuf> {
        let mut p = self.root.clone();
        for c in Path::new(rel).components() {
            match c {
                Component::Normal(n) => p.push(n),
                Component::CurDir => {}
                _ => {
                    return Err(ImageError::BadArchive(format!(
                        "{rel:?} points outside the archive"
                    )));
                }
            }
        }
        let canon = fs::canonicalize(&p).map_err(|_| {
            ImageError::BadArchive(format!("{rel:?} is named but missing from the archive"))
        })?;
        if !canon.starts_with(&self.root) {
            return Err(ImageError::BadArchive(format!(
                "{rel:?} leads outside the archive through a symlink"
            )));
        }
        if !canon.is_file() {
            return Err(ImageError::BadArchive(format!("{rel:?} is not a file")));
        }
        Ok(canon)
    }

    /// A small JSON document of the archive.
    fn read_json(&self, rel: &str) -> Result<Vec<u8>> {
        let p = self.path(rel)?;
        let len = fs::metadata(&p)
            .map_err(ImageError::io("inspecting", &p))?
            .len();
        if len > MAX_JSON {
            return Err(ImageError::BadArchive(format!(
                "{rel:?} is {len} bytes, more than the {MAX_JSON} allowed for a JSON document"
            )));
        }
        fs::read(&p).map_err(ImageError::io("reading", &p))
    }
}

/// The blob path `blobs/sha256/<hex>` of an OCI/Docker-25 archive, as a digest.
fn digest_of_blob_path(rel: &str) -> Option<Digest> {
    let rel = rel.strip_prefix("./").unwrap_or(rel);
    rel.strip_prefix("blobs/sha256/")
        .and_then(|hex| Digest::from_hex(hex).ok())
}

/// The config path of a docker-save archive (`<hex>.json` or `blobs/sha256/<hex>`) as a digest.
fn digest_of_config_path(rel: &str) -> Option<Digest> {
    digest_of_blob_path(rel).or_else(|| {
        rel.strip_suffix(".json")
            .and_then(|hex| Digest::from_hex(hex).ok())
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

fn load_docker(
    store: &ImageStore,
    archive: &Extracted,
    repo: Option<&ImageRef>,
) -> Result<Vec<LoadedImage>> {
    let entries: Vec<DockerManifestEntry> =
        serde_json::from_slice(&archive.read_json("manifest.json")?)
            .map_err(ImageError::json("manifest.json of the image archive"))?;
    if entries.is_empty() {
        return Err(ImageError::BadArchive(
            "manifest.json lists no image".into(),
        ));
    }
    // Layers shared between images (or symlinked, in the legacy format) are stored once.
    let mut stored: HashMap<PathBuf, Digest> = HashMap::new();
    let mut out = Vec::new();
    for e in entries {
        let cfg_path = archive.path(&e.config)?;
        let (cfg, _) = store
            .blobs()
            .put_file(&cfg_path, digest_of_config_path(&e.config).as_ref())?;
        let mut layer_blobs = Vec::with_capacity(e.layers.len());
        for l in &e.layers {
            let p = archive.path(l)?;
            let d = match stored.get(&p) {
                Some(d) => d.clone(),
                None => {
                    let (d, _) = store
                        .blobs()
                        .put_file(&p, digest_of_blob_path(l).as_ref())?;
                    stored.insert(p, d.clone());
                    d
                }
            };
            layer_blobs.push(d);
        }
        let mut tags = Vec::new();
        for t in e.repo_tags.unwrap_or_default() {
            tags.push(ImageRef::parse(&t)?);
        }
        if tags.is_empty()
            && let Some(r) = repo
        {
            tags.push(r.clone());
        }
        let id = store.commit(&cfg, None, layer_blobs, &tags)?;
        out.push(LoadedImage {
            id,
            refs: tags.iter().map(ToString::to_string).collect(),
        });
    }
    Ok(out)
}

fn load_oci(
    store: &ImageStore,
    archive: &Extracted,
    repo: Option<&ImageRef>,
) -> Result<Vec<LoadedImage>> {
    let layout: serde_json::Value = serde_json::from_slice(&archive.read_json("oci-layout")?)
        .map_err(ImageError::json("oci-layout of the image archive"))?;
    if !layout
        .get("imageLayoutVersion")
        .is_some_and(|v| v.is_string())
    {
        return Err(ImageError::BadArchive(
            "oci-layout has no imageLayoutVersion".into(),
        ));
    }
    let index: ImageIndex = serde_json::from_slice(&archive.read_json("index.json")?)
        .map_err(ImageError::json("index.json of the image archive"))?;
    let mut out = Vec::new();
    for desc in index.manifests() {
        let Some((manifest_digest, manifest)) = resolve_manifest(store, archive, desc, 0)? else {
            tracing::debug!(
                digest = %desc.digest(),
                media_type = %desc.media_type(),
                "skipping a non-image entry of index.json"
            );
            continue;
        };
        let tags = oci_tags(desc, repo)?;
        let cfg = oci_digest(manifest.config())?;
        put_blob(store, archive, manifest.config(), &cfg)?;
        let mut layer_blobs = Vec::with_capacity(manifest.layers().len());
        for l in manifest.layers() {
            let d = oci_digest(l)?;
            put_blob(store, archive, l, &d)?;
            layer_blobs.push(d);
        }
        let id = store.commit(&cfg, Some(manifest_digest), layer_blobs, &tags)?;
        out.push(LoadedImage {
            id,
            refs: tags.iter().map(ToString::to_string).collect(),
        });
    }
    if out.is_empty() {
        return Err(ImageError::BadArchive(
            "index.json lists no image manifest".into(),
        ));
    }
    Ok(out)
}

/// The references an `index.json` entry names.
fn oci_tags(desc: &Descriptor, repo: Option<&ImageRef>) -> Result<Vec<ImageRef>> {
    let ann = desc.annotations().as_ref();
    let get = |k: &str| ann.and_then(|a| a.get(k)).map(String::as_str);
    if let Some(full) = get(ANN_CONTAINERD_NAME) {
        return Ok(vec![ImageRef::parse(full)?]);
    }
    match (get(ANN_REF_NAME), repo) {
        (Some(r), _) if r.contains(['/', ':', '@']) => Ok(vec![ImageRef::parse(r)?]),
        (Some(tag), Some(repo)) => Ok(vec![ImageRef::parse(&format!("{}:{tag}", repo.name()))?]),
        (Some(tag), None) => {
            tracing::warn!(
                tag,
                "the archive names only a tag and no repository was given: loaded untagged"
            );
            Ok(Vec::new())
        }
        (None, Some(repo)) => Ok(vec![repo.clone()]),
        (None, None) => Ok(Vec::new()),
    }
}

fn oci_digest(desc: &Descriptor) -> Result<Digest> {
    Digest::parse(desc.digest().as_ref())
}

fn blob_rel(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

/// Reads a JSON blob the descriptor names, checking its digest and size.
fn read_blob_json(archive: &Extracted, desc: &Descriptor) -> Result<(Digest, Vec<u8>)> {
    let d = oci_digest(desc)?;
    let data = archive.read_json(&blob_rel(&d))?;
    let actual = Digest::of_bytes(&data);
    if actual != d {
        return Err(ImageError::DigestMismatch {
            what: format!("blob {d} of the image archive"),
            expected: d,
            actual,
        });
    }
    if data.len() as u64 != desc.size() {
        return Err(ImageError::BadArchive(format!(
            "blob {d} is {} bytes, its descriptor says {}",
            data.len(),
            desc.size()
        )));
    }
    Ok((d, data))
}

/// Stores the blob a descriptor names (unless already stored), checking digest and size.
fn put_blob(store: &ImageStore, archive: &Extracted, desc: &Descriptor, d: &Digest) -> Result<()> {
    if store.blobs().exists(d) {
        return Ok(());
    }
    let p = archive.path(&blob_rel(d))?;
    let (_, size) = store.blobs().put_file(&p, Some(d))?;
    if size != desc.size() {
        return Err(ImageError::BadArchive(format!(
            "blob {d} is {size} bytes, its descriptor says {}",
            desc.size()
        )));
    }
    Ok(())
}

pub(crate) fn is_index(media_type: &str) -> bool {
    INDEX_MEDIA_TYPES.contains(&media_type)
}

pub(crate) fn is_manifest(media_type: &str) -> bool {
    MANIFEST_MEDIA_TYPES.contains(&media_type)
}

pub(crate) fn is_image_config(media_type: &str) -> bool {
    media_type == "application/vnd.oci.image.config.v1+json"
        || media_type == "application/vnd.docker.container.image.v1+json"
}

/// The entry of an index for this node's platform (`linux/<arch>`), or its only entry when
/// that one names no platform.
pub(crate) fn manifest_for_host(index: &ImageIndex) -> Option<&Descriptor> {
    let host = host_arch();
    let for_host = |m: &&Descriptor| {
        m.platform()
            .as_ref()
            .is_some_and(|p| *p.os() == Os::Linux && p.architecture().to_string() == host)
    };
    index
        .manifests()
        .iter()
        .find(for_host)
        .or_else(|| match index.manifests().as_slice() {
            [only] if only.platform().is_none() => Some(only),
            _ => None,
        })
}

/// The image manifest a descriptor leads to (through nested indexes, choosing this node's
/// platform), stored in the blob store; `None` for entries that are not images.
fn resolve_manifest(
    store: &ImageStore,
    archive: &Extracted,
    desc: &Descriptor,
    depth: usize,
) -> Result<Option<(Digest, ImageManifest)>> {
    let mt = desc.media_type().to_string();
    if is_index(&mt) {
        if depth >= MAX_INDEX_DEPTH {
            return Err(ImageError::BadArchive(format!(
                "indexes nested more than {MAX_INDEX_DEPTH} deep"
            )));
        }
        let (d, data) = read_blob_json(archive, desc)?;
        let index: ImageIndex =
            serde_json::from_slice(&data).map_err(ImageError::json(format!("index {d}")))?;
        let Some(chosen) = manifest_for_host(&index) else {
            return Err(ImageError::BadArchive(format!(
                "index {d} has no image for linux/{}",
                host_arch()
            )));
        };
        return resolve_manifest(store, archive, chosen, depth + 1);
    }
    if !is_manifest(&mt) {
        return Ok(None);
    }
    let (d, data) = read_blob_json(archive, desc)?;
    let manifest: ImageManifest =
        serde_json::from_slice(&data).map_err(ImageError::json(format!("manifest {d}")))?;
    let cfg_mt = manifest.config().media_type().to_string();
    if !is_image_config(&cfg_mt) {
        tracing::debug!(manifest = %d, config = %cfg_mt, "not an image (artifact): skipped");
        return Ok(None);
    }
    store.blobs().put_bytes(&data, Some(&d))?;
    Ok(Some((d, manifest)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::tests::{TarBuf, gzip, require_root};
    use serde_json::json;
    use std::os::unix::fs::FileTypeExt;

    fn config(diff_ids: &[&Digest]) -> Vec<u8> {
        let ids: Vec<String> = diff_ids.iter().map(|d| d.to_string()).collect();
        serde_json::to_vec(&json!({
            "architecture": host_arch(),
            "os": "linux",
            "created": "2024-05-01T10:00:00Z",
            "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": ids},
            "docker_version": "kept verbatim in the config blob",
        }))
        .unwrap()
    }

    fn tmp_is_empty(store: &ImageStore) {
        let left: Vec<_> = fs::read_dir(store.root().join("tmp")).unwrap().collect();
        assert!(left.is_empty(), "temporary files left: {left:?}");
    }

    #[test]
    fn docker_save_tarball() {
        require_root("the upper layer has a whiteout (character device 0/0)");
        let lower = TarBuf::new()
            .dir("bin/")
            .file("bin/sh", b"#!/bin/busybox")
            .dir("etc/")
            .file("etc/passwd", b"root:x:0:0")
            .finish();
        let upper = TarBuf::new()
            .dir("etc/")
            .file("etc/.wh.passwd", b"")
            .file("etc/hosts", b"127.0.0.1 localhost")
            .finish();
        let (ld, ud) = (Digest::of_bytes(&lower), Digest::of_bytes(&upper));
        let cfg = config(&[&ld, &ud]);
        let cfg_id = Digest::of_bytes(&cfg);
        let base_cfg = config(&[&ld]);
        let base_id = Digest::of_bytes(&base_cfg);
        let manifest = json!([
            {"Config": format!("{}.json", cfg_id.hex()), "RepoTags": ["busybox:latest"],
             "Layers": ["aaaa/layer.tar", "bbbb/layer.tar"]},
            {"Config": format!("{}.json", base_id.hex()), "RepoTags": ["example.com/base:1", "base"],
             "Layers": ["cccc/layer.tar"]},
        ]);
        let mut t = TarBuf::new();
        t.dir("aaaa/")
            .file("aaaa/layer.tar", &lower)
            .file("aaaa/VERSION", b"1.0")
            .dir("bbbb/")
            .file("bbbb/layer.tar", &upper)
            .dir("cccc/")
            .symlink("cccc/layer.tar", "../aaaa/layer.tar")
            .file(&format!("{}.json", cfg_id.hex()), &cfg)
            .file(&format!("{}.json", base_id.hex()), &base_cfg)
            .file("manifest.json", manifest.to_string().as_bytes())
            .file("repositories", b"{}");
        let archive = gzip(&t.finish());

        let root = tempfile::tempdir().unwrap();
        let store = ImageStore::open(root.path()).unwrap();
        let loaded = load(&store, &archive[..]).unwrap();
        assert_eq!(
            loaded,
            vec![
                LoadedImage {
                    id: cfg_id.clone(),
                    refs: vec!["docker.io/library/busybox:latest".into()]
                },
                LoadedImage {
                    id: base_id.clone(),
                    refs: vec![
                        "example.com/base:1".into(),
                        "docker.io/library/base:latest".into()
                    ]
                },
            ]
        );
        tmp_is_empty(&store);
        let img = store.inspect("busybox").unwrap();
        assert_eq!(img.id, cfg_id);
        assert_eq!(img.layers, vec![ld.clone(), ud.clone()]);
        assert_eq!(img.manifest_digest, None);
        // The config blob is kept byte for byte (fields oci-spec does not know included).
        assert_eq!(store.blobs().read(&cfg_id).unwrap(), cfg);
        let lowers = store.rootfs_layers(&cfg_id).unwrap();
        assert_eq!(lowers.len(), 2);
        let wh = fs::symlink_metadata(lowers[0].join("etc/passwd")).unwrap();
        assert!(wh.file_type().is_char_device());
        assert!(lowers[0].join("etc/hosts").is_file());
        assert_eq!(
            fs::read(lowers[1].join("bin/sh")).unwrap(),
            b"#!/bin/busybox"
        );
        // The symlinked layer is the same, shared, layer.
        assert_eq!(
            store.rootfs_layers(&base_id).unwrap(),
            vec![lowers[1].clone()]
        );
        assert_eq!(store.layers().list().unwrap().len(), 2);

        // Loading again is idempotent.
        assert_eq!(load(&store, &archive[..]).unwrap().len(), 2);
        assert_eq!(store.list().unwrap().len(), 2);
        tmp_is_empty(&store);
    }

    /// An OCI layout: a nested index with this node's manifest and another platform's (whose
    /// blobs are absent: choosing it would fail). Returns (archive, config digest, manifest
    /// digest).
    fn oci_archive(ref_name: Option<&str>) -> (Vec<u8>, Digest, Digest) {
        let layer = TarBuf::new().file("hello", b"world").finish();
        let diff_id = Digest::of_bytes(&layer);
        let layer_gz = gzip(&layer);
        let layer_d = Digest::of_bytes(&layer_gz);
        let cfg = config(&[&diff_id]);
        let cfg_d = Digest::of_bytes(&cfg);
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": cfg_d, "size": cfg.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": layer_d, "size": layer_gz.len()}],
        }))
        .unwrap();
        let manifest_d = Digest::of_bytes(&manifest);
        let other_arch = if host_arch() == "s390x" {
            "amd64"
        } else {
            "s390x"
        };
        let nested = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                 "digest": format!("sha256:{}", "0".repeat(64)), "size": 10,
                 "platform": {"architecture": other_arch, "os": "linux"}},
                {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                 "digest": manifest_d, "size": manifest.len(),
                 "platform": {"architecture": host_arch(), "os": "linux"}},
            ],
        }))
        .unwrap();
        let nested_d = Digest::of_bytes(&nested);
        let mut entry = json!({"mediaType": "application/vnd.oci.image.index.v1+json",
                               "digest": nested_d, "size": nested.len()});
        if let Some(r) = ref_name {
            entry["annotations"] = json!({ ANN_REF_NAME: r });
        }
        let index = json!({"schemaVersion": 2, "manifests": [entry]});
        let mut t = TarBuf::new();
        t.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)
            .file("index.json", index.to_string().as_bytes())
            .dir("blobs/")
            .dir("blobs/sha256/");
        for (d, data) in [
            (&layer_d, &layer_gz),
            (&cfg_d, &cfg),
            (&manifest_d, &manifest),
            (&nested_d, &nested),
        ] {
            t.file(&blob_rel(d), data);
        }
        (t.finish(), cfg_d, manifest_d)
    }

    #[test]
    fn oci_layout_with_bare_tag_and_name() {
        let (archive, cfg_d, manifest_d) = oci_archive(Some("1.0"));
        let root = tempfile::tempdir().unwrap();
        let store = ImageStore::open(root.path()).unwrap();
        let loaded = load_with_name(&store, &archive[..], Some("myapp")).unwrap();
        assert_eq!(
            loaded,
            vec![LoadedImage {
                id: cfg_d.clone(),
                refs: vec!["docker.io/library/myapp:1.0".into()]
            }]
        );
        tmp_is_empty(&store);
        let img = store.inspect("myapp:1.0").unwrap();
        assert_eq!(img.manifest_digest, Some(manifest_d.clone()));
        assert!(store.blobs().exists(&manifest_d));
        let lowers = store.rootfs_layers(&cfg_d).unwrap();
        assert_eq!(fs::read(lowers[0].join("hello")).unwrap(), b"world");
        assert_eq!(
            store.inspect(&format!("myapp@{manifest_d}")).unwrap().id,
            cfg_d
        );

        // Without a name, a bare tag loads untagged.
        let root2 = tempfile::tempdir().unwrap();
        let store2 = ImageStore::open(root2.path()).unwrap();
        let loaded = load(&store2, &archive[..]).unwrap();
        assert!(loaded[0].refs.is_empty());
        assert!(store2.inspect(cfg_d.as_str()).unwrap().refs.is_empty());
    }

    #[test]
    fn oci_layout_with_full_name() {
        let (archive, cfg_d, _) = oci_archive(Some("registry.local:5000/team/app:v2"));
        let root = tempfile::tempdir().unwrap();
        let store = ImageStore::open(root.path()).unwrap();
        let loaded = load(&store, &archive[..]).unwrap();
        assert_eq!(loaded[0].refs, vec!["registry.local:5000/team/app:v2"]);
        assert_eq!(
            store.inspect("registry.local:5000/team/app:v2").unwrap().id,
            cfg_d
        );
    }

    #[test]
    fn hostile_archive_refused_and_cleaned() {
        let root = tempfile::tempdir().unwrap();
        let store_dir = root.path().join("store");
        let store = ImageStore::open(&store_dir).unwrap();
        let mut t = TarBuf::new();
        t.file("manifest.json", b"[]").file("../../evil", b"x");
        let err = load(&store, &t.finish()[..]).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("image archive entry \"../../evil\" escapes the archive: refused"),
            "{msg}"
        );
        tmp_is_empty(&store);
        assert!(!root.path().join("evil").exists());
        assert!(!store_dir.join("evil").exists());

        // A manifest naming a file through a symlink that leaves the archive.
        let mut t = TarBuf::new();
        let m = json!([{"Config": "cfg.json", "RepoTags": [], "Layers": []}]);
        t.symlink("cfg.json", "/")
            .file("manifest.json", m.to_string().as_bytes());
        let msg = load(&store, &t.finish()[..]).unwrap_err().to_string();
        assert!(msg.contains("outside the archive"), "{msg}");
        tmp_is_empty(&store);

        let mut t = TarBuf::new();
        t.file("random", b"x");
        let msg = load(&store, &t.finish()[..]).unwrap_err().to_string();
        assert!(msg.contains("neither manifest.json"), "{msg}");
        assert!(store.list().unwrap().is_empty());
    }

    #[test]
    fn wrong_diff_id_refused() {
        let layer = TarBuf::new().file("a", b"a").finish();
        let wrong = Digest::of_bytes(b"not the layer");
        let cfg = config(&[&wrong]);
        let cfg_d = Digest::of_bytes(&cfg);
        let m = json!([{"Config": format!("{}.json", cfg_d.hex()), "RepoTags": ["x:1"],
                        "Layers": ["l/layer.tar"]}]);
        let mut t = TarBuf::new();
        t.file("l/layer.tar", &layer)
            .file(&format!("{}.json", cfg_d.hex()), &cfg)
            .file("manifest.json", m.to_string().as_bytes());
        let root = tempfile::tempdir().unwrap();
        let store = ImageStore::open(root.path()).unwrap();
        let err = load(&store, &t.finish()[..]).unwrap_err();
        assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err}");
        assert!(store.list().unwrap().is_empty());
        assert!(store.layers().list().unwrap().is_empty());
        tmp_is_empty(&store);
        // What it put in the blob store is garbage the next prune collects.
        let out = store.prune(false, &|_: &Digest| false).unwrap();
        assert_eq!(out.blobs_deleted.len(), 2);
    }
}
