//! Layer unpacking: a layer blob becomes `<root>/layers/<diff_id hex>/fs`, the directory an
//! overlay `lowerdir` points at.
//!
//! A layer is unpacked once and shared by every image that lists its diff_id. The blob may be
//! a plain tar, tar+gzip or tar+zstd, told apart by magic bytes (not by media type, which
//! docker-save archives do not carry). While streaming, the diff_id (sha256 of the
//! *uncompressed* tar) is computed and checked against the one the image config announces.
//! The unpack goes to `layers/<key>.partial/` and is renamed into place only when complete and
//! verified; on any error the partial directory is removed.
//!
//! Entries are handled here, not by `tar::Entry::unpack_in`, because a layer is hostile input
//! and needs overlay semantics:
//! - a leading `/` or `./` is stripped (as Docker does); any `..` component is refused;
//! - an entry whose parent is reached through a symlink inside the layer is refused (every
//!   ancestor is checked with `symlink_metadata`); a symlink's *target* text is kept as is
//!   and may point anywhere: it is only never traversed during the unpack;
//! - hard links must name an entry already unpacked in this layer, without `..`;
//! - device nodes are refused; fifos are kept;
//! - the total of entry sizes and of the uncompressed stream is capped
//!   ([`UnpackLimits::max_layer_bytes`]), and so is the number of entries;
//! - whiteouts follow the OCI image-spec (`layer.md`) in overlayfs form: `.wh.<name>` becomes a
//!   character device 0/0 named `<name>`, `.wh..wh..opq` sets `trusted.overlay.opaque=y` on
//!   its directory. Both need root (CAP_MKNOD, CAP_SYS_ADMIN). A whiteout hides only lower
//!   layers: one naming an entry of its own layer is ignored, and a directory that replaces
//!   a whiteout of its own layer is made opaque.
//!
//! Modes, ownership (when running as root), mtimes and the `user.*` and
//! `security.capability` extended attributes (PAX `SCHILY.xattr.*`) are preserved; other
//! xattrs (notably `trusted.*`, which could forge overlay metadata) are not.

use crate::blobs::{fsync_dir, unique_name};
use crate::digest::{Digest, Hashing, is_hex64};
use crate::error::{ImageError, Result};
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Timespec, Timestamps, XattrFlags};
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::collections::{BTreeMap, HashSet};
use std::ffi::OsStr;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;
use std::sync::{Condvar, Mutex, PoisonError};

/// The name of a layer's metadata file, beside its `fs` directory.
const LAYER_META: &str = "layer.json";
/// Suffix of a layer being unpacked.
const PARTIAL: &str = ".partial";
/// Infix of a layer being deleted.
const DELETING: &str = ".deleting-";
/// The overlayfs xattr marking a directory opaque.
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
/// The OCI whiteout prefix.
const WH_PREFIX: &[u8] = b".wh.";
/// The OCI opaque-directory marker.
const WH_OPAQUE: &[u8] = b".wh..wh..opq";
/// Prefix of AUFS-internal names (`.wh..wh.plnk`, ...), which carry nothing for overlay.
const WH_META_PREFIX: &[u8] = b".wh..wh.";

/// Limits that keep a hostile layer or archive from filling the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnpackLimits {
    /// The most bytes one layer may hold: both the sum of its entries' sizes and the length of
    /// its uncompressed tar stream. Default 8 GiB.
    pub max_layer_bytes: u64,
    /// The most entries one layer or archive may hold. Default 1,000,000.
    pub max_entries: u64,
    /// The most bytes an image archive given to `load` may hold, uncompressed.
    /// Default 32 GiB.
    pub max_archive_bytes: u64,
}

impl Default for UnpackLimits {
    fn default() -> Self {
        Self {
            max_layer_bytes: 8 << 30,
            max_entries: 1_000_000,
            max_archive_bytes: 32 << 30,
        }
    }
}

/// How a tar stream is unpacked: as an image layer or as an image archive given to `load`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TarOptions {
    /// Turn `.wh.*` markers into overlay whiteouts.
    pub whiteouts: bool,
    /// Preserve modes, ownership (as root), mtimes and xattrs.
    pub metadata: bool,
    /// Cap on entry sizes and on the uncompressed stream.
    pub max_bytes: u64,
    /// Cap on the number of entries.
    pub max_entries: u64,
    /// `layer` or `archive`, for messages ("escapes the layer").
    pub noun: &'static str,
}

/// What an unpack measured.
#[derive(Debug, Clone)]
pub(crate) struct TarStats {
    /// sha256 of the uncompressed tar stream (a layer's diff_id).
    pub digest: Digest,
    /// Sum of the entries' sizes.
    pub content_bytes: u64,
}

/// A layer in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    /// The layer's diff_id: sha256 of its uncompressed tar.
    pub diff_id: Digest,
    /// Sum of the sizes of the layer's entries.
    pub size: u64,
    /// The unpacked tree, for overlay's `lowerdir`.
    pub path: PathBuf,
}

#[derive(Debug, Serialize, Deserialize)]
struct LayerMeta {
    diff_id: Digest,
    size: u64,
}

/// The unpacked layers under `<root>/layers`.
#[derive(Debug)]
pub struct LayerStore {
    dir: PathBuf,
    limits: UnpackLimits,
    inflight: Mutex<HashSet<String>>,
    done: Condvar,
}

/// An exclusive claim on unpacking one layer in this process; released on drop.
struct Claim<'a> {
    store: &'a LayerStore,
    key: String,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut set = self
            .store
            .inflight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        set.remove(&self.key);
        self.store.done.notify_all();
    }
}

impl LayerStore {
    /// Opens (creating if needed) the layer store under `root`, removing what an interrupted
    /// unpack or deletion left behind.
    pub fn new(root: &Path, limits: UnpackLimits) -> Result<Self> {
        let dir = root.join("layers");
        fs::create_dir_all(&dir).map_err(ImageError::io("creating layer directory", &dir))?;
        for entry in fs::read_dir(&dir).map_err(ImageError::io("listing", &dir))? {
            let entry = entry.map_err(ImageError::io("listing", &dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(PARTIAL) || name.contains(DELETING) {
                let p = entry.path();
                tracing::info!(path = %p.display(), "removing an interrupted layer unpack or deletion");
                remove_tree(&p)?;
            }
        }
        Ok(Self {
            dir,
            limits,
            inflight: Mutex::new(HashSet::new()),
            done: Condvar::new(),
        })
    }

    /// The limits this store unpacks with.
    pub fn limits(&self) -> UnpackLimits {
        self.limits
    }

    /// The unpacked tree of layer `diff_id` (whether or not it exists).
    pub fn fs_path(&self, diff_id: &Digest) -> PathBuf {
        self.dir.join(diff_id.hex()).join("fs")
    }

    /// Whether layer `diff_id` is unpacked (completely: layers appear by rename).
    pub fn exists(&self, diff_id: &Digest) -> bool {
        self.dir.join(diff_id.hex()).join(LAYER_META).is_file()
    }

    /// The stored layer `diff_id`.
    pub fn info(&self, diff_id: &Digest) -> Result<LayerInfo> {
        let p = self.dir.join(diff_id.hex()).join(LAYER_META);
        let data = fs::read(&p).map_err(ImageError::io("reading layer metadata", &p))?;
        let meta: LayerMeta =
            serde_json::from_slice(&data).map_err(ImageError::json(p.display().to_string()))?;
        Ok(LayerInfo {
            diff_id: diff_id.clone(),
            size: meta.size,
            path: self.fs_path(diff_id),
        })
    }

    fn claim(&self, key: &str) -> Claim<'_> {
        let mut set = self.inflight.lock().unwrap_or_else(PoisonError::into_inner);
        while set.contains(key) {
            set = self.done.wait(set).unwrap_or_else(PoisonError::into_inner);
        }
        set.insert(key.to_owned());
        Claim {
            store: self,
            key: key.to_owned(),
        }
    }

    /// Unpacks the layer blob `reader` (tar, tar+gzip or tar+zstd), whose blob digest is
    /// `blob` (used in messages). With `expected`, the diff_id must match, and a layer already
    /// unpacked is not read again.
    pub fn unpack(
        &self,
        reader: impl Read,
        blob: &Digest,
        expected: Option<&Digest>,
    ) -> Result<LayerInfo> {
        if let Some(d) = expected
            && self.exists(d)
        {
            return self.info(d);
        }
        let key = match expected {
            Some(d) => d.hex().to_owned(),
            None => unique_name("import-"),
        };
        let _claim = self.claim(&key);
        if let Some(d) = expected
            && self.exists(d)
        {
            return self.info(d);
        }
        let partial = self.dir.join(format!("{key}{PARTIAL}"));
        if fs::symlink_metadata(&partial).is_ok() {
            remove_tree(&partial)?;
        }
        let res = self.unpack_into(&partial, reader, blob, expected);
        if res.is_err()
            && fs::symlink_metadata(&partial).is_ok()
            && let Err(e) = remove_tree(&partial)
        {
            tracing::warn!(error = %e, "could not remove a failed layer unpack");
        }
        res
    }

    fn unpack_into(
        &self,
        partial: &Path,
        reader: impl Read,
        blob: &Digest,
        expected: Option<&Digest>,
    ) -> Result<LayerInfo> {
        let fs_dir = partial.join("fs");
        DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&fs_dir)
            .map_err(ImageError::io("creating", &fs_dir))?;
        let opts = TarOptions {
            whiteouts: true,
            metadata: true,
            max_bytes: self.limits.max_layer_bytes,
            max_entries: self.limits.max_entries,
            noun: "layer",
        };
        let container = format!("layer {blob}");
        let stats = unpack_tar(reader, &fs_dir, &opts, &container)?;
        if let Some(exp) = expected
            && *exp != stats.digest
        {
            return Err(ImageError::DigestMismatch {
                what: format!("{container}: diff_id (sha256 of the uncompressed tar)"),
                expected: exp.clone(),
                actual: stats.digest,
            });
        }
        let meta = LayerMeta {
            diff_id: stats.digest.clone(),
            size: stats.content_bytes,
        };
        let meta_path = partial.join(LAYER_META);
        let json = serde_json::to_vec(&meta).map_err(ImageError::json("layer metadata"))?;
        fs::write(&meta_path, json).map_err(ImageError::io("writing", &meta_path))?;
        // One syncfs flushes the whole tree before it becomes visible under its name.
        let dirfd = rfs::open(
            partial,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(errno("opening", partial))?;
        rfs::syncfs(&dirfd).map_err(errno("syncing", partial))?;
        drop(dirfd);
        let final_dir = self.dir.join(stats.digest.hex());
        match fs::rename(partial, &final_dir) {
            Ok(()) => fsync_dir(&self.dir)?,
            Err(_) if self.exists(&stats.digest) => {
                // Unpacked meanwhile under its diff_id (an import of an existing layer).
                remove_tree(partial)?;
            }
            Err(e) => return Err(ImageError::io("renaming layer into place", &final_dir)(e)),
        }
        tracing::debug!(diff_id = %stats.digest, %blob, "layer unpacked");
        Ok(LayerInfo {
            path: self.fs_path(&stats.digest),
            diff_id: stats.digest,
            size: stats.content_bytes,
        })
    }

    /// Deletes layer `diff_id`; returns its size, or `None` if it was not stored.
    /// The caller makes sure no image references it.
    pub fn delete(&self, diff_id: &Digest) -> Result<Option<u64>> {
        let dir = self.dir.join(diff_id.hex());
        if fs::symlink_metadata(&dir).is_err() {
            return Ok(None);
        }
        let size = self.info(diff_id).map(|i| i.size).unwrap_or(0);
        let doomed = self
            .dir
            .join(format!("{}{DELETING}{}", diff_id.hex(), unique_name("")));
        fs::rename(&dir, &doomed).map_err(ImageError::io("moving aside layer", &dir))?;
        remove_tree(&doomed)?;
        Ok(Some(size))
    }

    /// Every unpacked layer, sorted.
    pub fn list(&self) -> Result<Vec<Digest>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(ImageError::io("listing", &self.dir))? {
            let entry = entry.map_err(ImageError::io("listing", &self.dir))?;
            if let Some(hex) = entry.file_name().to_str()
                && is_hex64(hex)
            {
                out.push(Digest::from_hex(hex)?);
            }
        }
        out.sort();
        Ok(out)
    }
}

/// Removes a directory tree without following symlinks (std's `remove_dir_all` does not
/// follow them). Directories a layer made read-only are no obstacle: the daemon runs as root.
pub(crate) fn remove_tree(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ImageError::io("removing", path)(e)),
    }
}

/// Wraps `reader` in the decompressor its magic bytes call for.
pub(crate) fn decompress<'a>(
    mut reader: impl Read + 'a,
    container: &str,
) -> Result<Box<dyn Read + 'a>> {
    let mut magic = Vec::with_capacity(6);
    (&mut reader)
        .take(6)
        .read_to_end(&mut magic)
        .map_err(ImageError::io_ctx(format!("reading {container}")))?;
    let refuse = |compression| ImageError::UnsupportedCompression {
        container: container.to_owned(),
        compression,
    };
    let compression = match magic.as_slice() {
        [0x1f, 0x8b, ..] => "gzip",
        [0x28, 0xb5, 0x2f, 0xfd, ..] => "zstd",
        [0xfd, b'7', b'z', b'X', b'Z', 0x00] => return Err(refuse("xz")),
        [b'B', b'Z', b'h', ..] => return Err(refuse("bzip2")),
        _ => "none",
    };
    let whole = io::Cursor::new(magic).chain(reader);
    let decoded: Box<dyn Read + 'a> = match compression {
        "gzip" => Box::new(flate2::read::MultiGzDecoder::new(whole)),
        "zstd" => Box::new(
            zstd::stream::read::Decoder::new(whole)
                .map_err(ImageError::io_ctx(format!("starting zstd for {container}")))?,
        ),
        _ => Box::new(whole),
    };
    Ok(decoded)
}

/// A reader that fails once more than `remaining` bytes come through, and says so in `hit`.
struct Limited<R> {
    inner: R,
    remaining: u64,
    hit: Rc<Cell<bool>>,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = (buf.len() as u64).min(self.remaining.saturating_add(1)) as usize;
        let n = self.inner.read(&mut buf[..want])?;
        if n as u64 > self.remaining {
            self.hit.set(true);
            return Err(io::Error::other("size limit exceeded"));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// Unpacks the (possibly compressed) tar stream `reader` into the existing directory `dest`,
/// refusing hostile entries, and returns the digest of the uncompressed stream.
/// On error, `dest` holds a partial tree the caller removes.
pub(crate) fn unpack_tar(
    reader: impl Read,
    dest: &Path,
    opts: &TarOptions,
    container: &str,
) -> Result<TarStats> {
    let decoded = decompress(reader, container)?;
    let hit = Rc::new(Cell::new(false));
    let limited = Limited {
        inner: decoded,
        remaining: opts.max_bytes,
        hit: hit.clone(),
    };
    let mut archive = tar::Archive::new(Hashing::new(limited));
    let mut unpacker = Unpacker::new(dest, opts, container);
    let too_large = || ImageError::TooLarge {
        container: container.to_owned(),
        limit: opts.max_bytes,
        unit: "bytes",
    };
    let res = (|| -> Result<()> {
        let entries = archive
            .entries()
            .map_err(ImageError::io_ctx(format!("reading {container}")))?;
        for entry in entries {
            let mut entry = entry.map_err(ImageError::io_ctx(format!("reading {container}")))?;
            unpacker.entry(&mut entry)?;
        }
        unpacker.finish()
    })();
    if hit.get() {
        return Err(too_large());
    }
    res?;
    // The diff_id covers the whole stream, including the end-of-archive blocks the tar reader
    // stops before.
    let mut hashing = archive.into_inner();
    let drained = io::copy(&mut hashing, &mut io::sink());
    if hit.get() {
        return Err(too_large());
    }
    drained.map_err(ImageError::io_ctx(format!("reading {container}")))?;
    let (digest, _, _) = hashing.finish();
    Ok(TarStats {
        digest,
        content_bytes: unpacker.content_bytes,
    })
}

/// Mode and mtime of a directory, applied once all its children are in place.
#[derive(Debug, Clone, Copy)]
struct DirMeta {
    mode: u32,
    mtime: i64,
}

/// The state of one tar stream's unpack.
struct Unpacker<'o> {
    root: PathBuf,
    opts: &'o TarOptions,
    container: &'o str,
    chown: bool,
    entries: u64,
    content_bytes: u64,
    /// Relative paths checked to be real directories (not symlinks) in this unpack.
    safe_dirs: HashSet<PathBuf>,
    /// Directories whose mode and mtime are applied at the end.
    dirs: BTreeMap<PathBuf, DirMeta>,
    /// Whiteouts created by this layer.
    whiteouts: HashSet<PathBuf>,
}

/// Maps a rustix error on `path` to an [`ImageError::Io`].
fn errno(what: &str, path: &Path) -> impl FnOnce(rustix::io::Errno) -> ImageError + use<> {
    let f = ImageError::io(what, path);
    move |e| f(e.into())
}

/// Owner of an entry, when ownership is preserved.
type Owner = Option<(rfs::Uid, rfs::Gid)>;

impl<'o> Unpacker<'o> {
    fn new(root: &Path, opts: &'o TarOptions, container: &'o str) -> Self {
        let chown = opts.metadata && rustix::process::geteuid().is_root();
        if opts.metadata && !chown {
            tracing::debug!("not running as root: file ownership in layers is not preserved");
        }
        Self {
            root: root.to_owned(),
            opts,
            container,
            chown,
            entries: 0,
            content_bytes: 0,
            safe_dirs: HashSet::new(),
            dirs: BTreeMap::new(),
            whiteouts: HashSet::new(),
        }
    }

    fn refuse(&self, entry: &str, reason: impl Into<String>) -> ImageError {
        ImageError::Refused {
            container: self.container.to_owned(),
            entry: entry.to_owned(),
            reason: reason.into(),
        }
    }

    /// Strips leading `/` and `./`, refuses `..`; the empty path is the root itself.
    fn normalize(&self, raw: &[u8], shown: &str) -> Result<PathBuf> {
        let mut out = PathBuf::new();
        for c in Path::new(OsStr::from_bytes(raw)).components() {
            match c {
                Component::RootDir | Component::CurDir => {}
                Component::Normal(n) => out.push(n),
                Component::ParentDir | Component::Prefix(_) => {
                    return Err(self.refuse(shown, format!("escapes the {}", self.opts.noun)));
                }
            }
        }
        Ok(out)
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<()> {
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            return Ok(());
        }
        self.entries += 1;
        if self.entries > self.opts.max_entries {
            return Err(ImageError::TooLarge {
                container: self.container.to_owned(),
                limit: self.opts.max_entries,
                unit: "entries",
            });
        }
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let rel = self.normalize(&raw, &shown)?;
        let size = entry.size();
        self.content_bytes = self.content_bytes.saturating_add(size);
        if self.content_bytes > self.opts.max_bytes {
            return Err(self.refuse(
                &shown,
                format!(
                    "is {size} bytes, which takes the {} over its limit of {} bytes",
                    self.opts.noun, self.opts.max_bytes
                ),
            ));
        }

        if self.opts.whiteouts
            && let Some(name) = rel.file_name()
        {
            let name = name.as_bytes();
            let parent = rel.parent().unwrap_or(Path::new("")).to_owned();
            if name == WH_OPAQUE {
                return self.opaque(&parent, &shown);
            }
            if name.starts_with(WH_META_PREFIX) {
                tracing::debug!(entry = %shown, "ignoring AUFS metadata entry");
                return Ok(());
            }
            if let Some(hidden) = name.strip_prefix(WH_PREFIX) {
                return self.whiteout(&parent, hidden, &shown);
            }
        }

        if rel.as_os_str().is_empty() {
            return if kind.is_dir() {
                self.root_dir(entry, &shown)
            } else {
                Err(self.refuse(&shown, format!("names the {} root", self.opts.noun)))
            };
        }

        if kind.is_dir() || (kind.is_file() && raw.ends_with(b"/")) {
            self.dir(entry, &rel, &shown)
        } else if kind.is_file() || kind.is_contiguous() || kind.is_gnu_sparse() {
            self.file(entry, &rel, &shown)
        } else if kind.is_symlink() {
            self.symlink(entry, &rel, &shown)
        } else if kind.is_hard_link() {
            self.hard_link(entry, &rel, &shown)
        } else if kind.is_fifo() {
            self.fifo(entry, &rel, &shown)
        } else if kind.is_character_special() {
            Err(self.refuse(
                &shown,
                "is a character device node (device nodes are refused)",
            ))
        } else if kind.is_block_special() {
            Err(self.refuse(&shown, "is a block device node (device nodes are refused)"))
        } else {
            Err(self.refuse(
                &shown,
                format!("has unsupported tar entry type {:#04x}", kind.as_byte()),
            ))
        }
    }

    /// Makes sure every ancestor of `rel` is a real directory of this tree, creating missing
    /// ones (mode 0755). Refuses a path that goes through a symlink or a non-directory.
    fn prepare_parent(&mut self, rel: &Path, shown: &str) -> Result<()> {
        let Some(parent) = rel.parent() else {
            return Ok(());
        };
        let mut cur = PathBuf::new();
        for c in parent.components() {
            cur.push(c);
            if self.safe_dirs.contains(&cur) {
                continue;
            }
            let abs = self.root.join(&cur);
            match fs::symlink_metadata(&abs) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(self.refuse(
                        shown,
                        format!(
                            "has a parent {:?} that is a symlink inside the {}",
                            cur.display().to_string(),
                            self.opts.noun
                        ),
                    ));
                }
                Ok(m) if m.is_dir() => {}
                Ok(m) if m.file_type().is_char_device() && self.whiteouts.contains(&cur) => {
                    // A directory recreated under a name this layer whited out: it replaces
                    // the lower one entirely.
                    fs::remove_file(&abs).map_err(ImageError::io("removing whiteout", &abs))?;
                    self.whiteouts.remove(&cur);
                    self.mkdir(&abs)?;
                    self.set_opaque(&abs)?;
                }
                Ok(_) => {
                    return Err(self.refuse(
                        shown,
                        format!(
                            "has a parent {:?} that is not a directory",
                            cur.display().to_string()
                        ),
                    ));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => self.mkdir(&abs)?,
                Err(e) => return Err(ImageError::io("inspecting", &abs)(e)),
            }
            self.safe_dirs.insert(cur.clone());
        }
        Ok(())
    }

    fn mkdir(&self, abs: &Path) -> Result<()> {
        DirBuilder::new()
            .mode(0o755)
            .create(abs)
            .map_err(ImageError::io("creating directory", abs))
    }

    /// Checks, without creating anything, that every ancestor of a hard link's target `rel`
    /// is a real directory.
    fn check_existing_parent(&self, rel: &Path, shown: &str, target: &str) -> Result<()> {
        let Some(parent) = rel.parent() else {
            return Ok(());
        };
        let mut cur = PathBuf::new();
        for c in parent.components() {
            cur.push(c);
            if self.safe_dirs.contains(&cur) {
                continue;
            }
            let abs = self.root.join(&cur);
            match fs::symlink_metadata(&abs) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(self.refuse(
                        shown,
                        format!(
                            "is a hard link to {target:?}, whose parent {:?} is not a directory of the {}",
                            cur.display().to_string(),
                            self.opts.noun
                        ),
                    ));
                }
                Err(_) => {
                    return Err(self.refuse(
                        shown,
                        format!(
                            "is a hard link to {target:?}, which is not in the {} (yet)",
                            self.opts.noun
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Clears the way for a new entry at `rel`. An existing directory is kept when `keep_dir`
    /// (tar semantics: a directory entry over a directory only updates its metadata); returns
    /// whether it was.
    fn clear_target(&mut self, rel: &Path, keep_dir: bool) -> Result<bool> {
        let abs = self.root.join(rel);
        let meta = match fs::symlink_metadata(&abs) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(ImageError::io("inspecting", &abs)(e)),
        };
        if meta.is_dir() {
            if keep_dir {
                return Ok(true);
            }
            fs::remove_dir_all(&abs).map_err(ImageError::io("replacing directory", &abs))?;
        } else {
            fs::remove_file(&abs).map_err(ImageError::io("replacing", &abs))?;
        }
        self.safe_dirs.retain(|p| !p.starts_with(rel));
        self.dirs.retain(|p, _| !p.starts_with(rel));
        self.whiteouts.retain(|p| !p.starts_with(rel));
        Ok(false)
    }

    fn header_meta<R: Read>(
        &self,
        entry: &tar::Entry<'_, R>,
        shown: &str,
    ) -> Result<(u32, i64, Owner)> {
        let h = entry.header();
        let bad =
            |what: &str, e: io::Error| self.refuse(shown, format!("has an invalid {what}: {e}"));
        let mode = h.mode().map_err(|e| bad("mode", e))? & 0o7777;
        let mtime = h.mtime().map_err(|e| bad("mtime", e))?;
        let mtime = i64::try_from(mtime).unwrap_or(i64::MAX);
        let owner = if self.chown {
            let uid = h.uid().map_err(|e| bad("uid", e))?;
            let gid = h.gid().map_err(|e| bad("gid", e))?;
            let id = |v: u64, what: &str| -> Result<u32> {
                u32::try_from(v)
                    .ok()
                    .filter(|&x| x != u32::MAX)
                    .ok_or_else(|| self.refuse(shown, format!("has {what} {v}, out of range")))
            };
            Some((
                rfs::Uid::from_raw(id(uid, "uid")?),
                rfs::Gid::from_raw(id(gid, "gid")?),
            ))
        } else {
            None
        };
        Ok((mode, mtime, owner))
    }

    fn timestamps(mtime: i64) -> Timestamps {
        let t = Timespec {
            tv_sec: mtime,
            tv_nsec: 0,
        };
        Timestamps {
            last_access: t,
            last_modification: t,
        }
    }

    /// Applies `user.*` and `security.capability` xattrs from PAX records; others (notably
    /// `trusted.*`, which could forge overlay metadata) are ignored.
    fn xattrs<R: Read>(&self, entry: &mut tar::Entry<'_, R>, abs: &Path) -> Result<()> {
        if !self.opts.metadata {
            return Ok(());
        }
        let Some(exts) = entry
            .pax_extensions()
            .map_err(ImageError::io_ctx(format!("reading {}", self.container)))?
        else {
            return Ok(());
        };
        for ext in exts {
            let ext = ext.map_err(ImageError::io_ctx(format!("reading {}", self.container)))?;
            let Some(name) = ext.key().ok().and_then(|k| k.strip_prefix("SCHILY.xattr.")) else {
                continue;
            };
            if name != "security.capability" && !name.starts_with("user.") {
                tracing::debug!(xattr = name, path = %abs.display(), "ignoring xattr from layer");
                continue;
            }
            if let Err(e) = rfs::lsetxattr(abs, name, ext.value_bytes(), XattrFlags::empty()) {
                tracing::warn!(xattr = name, path = %abs.display(), error = %e, "cannot set xattr");
            }
        }
        Ok(())
    }

    fn lchown(&self, abs: &Path, owner: Owner) -> Result<()> {
        if let Some((uid, gid)) = owner {
            rfs::chownat(
                rfs::CWD,
                abs,
                Some(uid),
                Some(gid),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(errno("changing owner of", abs))?;
        }
        Ok(())
    }

    fn root_dir<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>, shown: &str) -> Result<()> {
        let (mode, mtime, owner) = self.header_meta(entry, shown)?;
        let abs = self.root.clone();
        self.lchown(&abs, owner)?;
        self.xattrs(entry, &abs)?;
        self.dirs.insert(PathBuf::new(), DirMeta { mode, mtime });
        Ok(())
    }

    fn dir<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        rel: &Path,
        shown: &str,
    ) -> Result<()> {
        let (mode, mtime, owner) = self.header_meta(entry, shown)?;
        self.prepare_parent(rel, shown)?;
        let was_whiteout = self.whiteouts.remove(rel);
        let abs = self.root.join(rel);
        if !self.clear_target(rel, true)? {
            self.mkdir(&abs)?;
            if was_whiteout {
                self.set_opaque(&abs)?;
            }
        }
        self.lchown(&abs, owner)?;
        self.xattrs(entry, &abs)?;
        self.safe_dirs.insert(rel.to_owned());
        self.dirs.insert(rel.to_owned(), DirMeta { mode, mtime });
        Ok(())
    }

    fn file<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        rel: &Path,
        shown: &str,
    ) -> Result<()> {
        let (mode, mtime, owner) = self.header_meta(entry, shown)?;
        self.prepare_parent(rel, shown)?;
        self.clear_target(rel, false)?;
        let abs = self.root.join(rel);
        // create_new (O_EXCL) never follows a symlink at the last component.
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&abs)
            .map_err(ImageError::io("creating", &abs))?;
        io::copy(&mut *entry, &mut f).map_err(ImageError::io("writing", &abs))?;
        if !self.opts.metadata {
            return Ok(());
        }
        // chown first: it clears set-id bits and capabilities, which come after.
        if let Some((uid, gid)) = owner {
            rfs::fchown(&f, Some(uid), Some(gid)).map_err(errno("changing owner of", &abs))?;
        }
        f.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(ImageError::io("changing mode of", &abs))?;
        rfs::futimens(&f, &Self::timestamps(mtime)).map_err(errno("setting mtime of", &abs))?;
        drop(f);
        self.xattrs(entry, &abs)
    }

    fn symlink<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        rel: &Path,
        shown: &str,
    ) -> Result<()> {
        let (_, mtime, owner) = self.header_meta(entry, shown)?;
        let target = match entry.link_name_bytes() {
            Some(t) if !t.is_empty() => t.into_owned(),
            _ => return Err(self.refuse(shown, "is a symlink without a target")),
        };
        self.prepare_parent(rel, shown)?;
        self.clear_target(rel, false)?;
        let abs = self.root.join(rel);
        // The target text is kept as is: it is resolved only inside the container.
        rfs::symlinkat(OsStr::from_bytes(&target), rfs::CWD, &abs)
            .map_err(errno("creating symlink", &abs))?;
        if !self.opts.metadata {
            return Ok(());
        }
        self.lchown(&abs, owner)?;
        rfs::utimensat(
            rfs::CWD,
            &abs,
            &Self::timestamps(mtime),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(errno("setting mtime of", &abs))?;
        self.xattrs(entry, &abs)
    }

    fn hard_link<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        rel: &Path,
        shown: &str,
    ) -> Result<()> {
        let raw = match entry.link_name_bytes() {
            Some(t) if !t.is_empty() => t.into_owned(),
            _ => return Err(self.refuse(shown, "is a hard link without a target")),
        };
        let target_shown = String::from_utf8_lossy(&raw).into_owned();
        let mut target = PathBuf::new();
        for c in Path::new(OsStr::from_bytes(&raw)).components() {
            match c {
                Component::RootDir | Component::CurDir => {}
                Component::Normal(n) => target.push(n),
                Component::ParentDir | Component::Prefix(_) => {
                    return Err(self.refuse(
                        shown,
                        format!(
                            "is a hard link to {target_shown:?}, which escapes the {}",
                            self.opts.noun
                        ),
                    ));
                }
            }
        }
        if target.as_os_str().is_empty() {
            return Err(self.refuse(
                shown,
                format!("is a hard link to the {} root", self.opts.noun),
            ));
        }
        if target == rel {
            return Ok(());
        }
        self.check_existing_parent(&target, shown, &target_shown)?;
        let target_abs = self.root.join(&target);
        match fs::symlink_metadata(&target_abs) {
            Ok(m) if !m.is_dir() => {}
            Ok(_) => {
                return Err(self.refuse(
                    shown,
                    format!("is a hard link to {target_shown:?}, which is a directory"),
                ));
            }
            Err(_) => {
                return Err(self.refuse(
                    shown,
                    format!(
                        "is a hard link to {target_shown:?}, which is not in the {} (yet)",
                        self.opts.noun
                    ),
                ));
            }
        }
        if target.starts_with(rel) {
            return Err(self.refuse(
                shown,
                format!("is a hard link to {target_shown:?}, which it would replace"),
            ));
        }
        self.prepare_parent(rel, shown)?;
        self.clear_target(rel, false)?;
        let abs = self.root.join(rel);
        // linkat without AT_SYMLINK_FOLLOW: a symlink target is linked itself, not followed.
        rfs::linkat(rfs::CWD, &target_abs, rfs::CWD, &abs, AtFlags::empty())
            .map_err(errno("creating hard link", &abs))?;
        Ok(())
    }

    fn fifo<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        rel: &Path,
        shown: &str,
    ) -> Result<()> {
        let (mode, mtime, owner) = self.header_meta(entry, shown)?;
        self.prepare_parent(rel, shown)?;
        self.clear_target(rel, false)?;
        let abs = self.root.join(rel);
        rfs::mknodat(
            rfs::CWD,
            &abs,
            FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .map_err(errno("creating fifo", &abs))?;
        if !self.opts.metadata {
            return Ok(());
        }
        self.lchown(&abs, owner)?;
        // mknod applies the umask: set the mode explicitly (the path is a fifo just made).
        rfs::chmodat(rfs::CWD, &abs, Mode::from_raw_mode(mode), AtFlags::empty())
            .map_err(errno("changing mode of", &abs))?;
        rfs::utimensat(
            rfs::CWD,
            &abs,
            &Self::timestamps(mtime),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(errno("setting mtime of", &abs))?;
        self.xattrs(entry, &abs)
    }

    /// `.wh.<name>`: a character device 0/0 named `<name>` hides `<name>` of lower layers.
    fn whiteout(&mut self, parent: &Path, hidden: &[u8], shown: &str) -> Result<()> {
        if hidden.is_empty() || hidden == b"." || hidden == b".." || hidden.contains(&b'/') {
            return Err(self.refuse(shown, "is a whiteout for an invalid name"));
        }
        let rel = parent.join(OsStr::from_bytes(hidden));
        self.prepare_parent(&rel, shown)?;
        let abs = self.root.join(&rel);
        if fs::symlink_metadata(&abs).is_ok() {
            // A whiteout hides only lower layers, never an entry of its own layer.
            tracing::debug!(
                entry = shown,
                "whiteout for an entry of the same layer: ignored"
            );
            return Ok(());
        }
        rfs::mknodat(
            rfs::CWD,
            &abs,
            FileType::CharacterDevice,
            Mode::empty(),
            rfs::makedev(0, 0),
        )
        .map_err(errno(
            "creating whiteout (character device 0/0, needs CAP_MKNOD)",
            &abs,
        ))?;
        self.whiteouts.insert(rel);
        Ok(())
    }

    /// `.wh..wh..opq`: the containing directory hides everything of lower layers.
    fn opaque(&mut self, dir: &Path, shown: &str) -> Result<()> {
        // Validates (and creates) `dir` itself, as the marker's parent.
        self.prepare_parent(&dir.join(OsStr::from_bytes(WH_OPAQUE)), shown)?;
        let abs = self.root.join(dir);
        self.set_opaque(&abs)
    }

    fn set_opaque(&self, abs: &Path) -> Result<()> {
        rfs::lsetxattr(abs, OPAQUE_XATTR, b"y", XattrFlags::empty()).map_err(errno(
            "setting trusted.overlay.opaque=y (needs CAP_SYS_ADMIN) on",
            abs,
        ))
    }

    /// Applies directories' modes and mtimes, children before parents.
    fn finish(&mut self) -> Result<()> {
        if !self.opts.metadata {
            return Ok(());
        }
        for (rel, meta) in self.dirs.iter().rev() {
            let abs = self.root.join(rel);
            let fd = rfs::open(
                &abs,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(errno("opening directory", &abs))?;
            rfs::fchmod(&fd, Mode::from_raw_mode(meta.mode))
                .map_err(errno("changing mode of", &abs))?;
            rfs::futimens(&fd, &Self::timestamps(meta.mtime))
                .map_err(errno("setting mtime of", &abs))?;
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::MetadataExt;

    /// Fails (never skips) a test that needs root.
    pub(crate) fn require_root(what: &str) {
        assert!(
            rustix::process::geteuid().is_root(),
            "this test needs root ({what}); run the tests as root"
        );
    }

    /// Builds tar streams entry by entry, writing names verbatim (the `tar` crate's own setters
    /// refuse `..` and absolute paths, which these tests need).
    pub(crate) struct TarBuf(tar::Builder<Vec<u8>>);

    impl TarBuf {
        pub(crate) fn new() -> Self {
            Self(tar::Builder::new(Vec::new()))
        }

        fn header(path: &str, kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
            let mut h = tar::Header::new_gnu();
            let name = &mut h.as_old_mut().name;
            assert!(path.len() < name.len(), "test path too long");
            name[..path.len()].copy_from_slice(path.as_bytes());
            h.set_entry_type(kind);
            h.set_size(size);
            h.set_mode(mode);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(1_600_000_000);
            h
        }

        fn push(&mut self, mut h: tar::Header, data: &[u8]) -> &mut Self {
            h.set_cksum();
            self.0.append(&h, data).unwrap();
            self
        }

        pub(crate) fn file(&mut self, path: &str, data: &[u8]) -> &mut Self {
            let h = Self::header(path, tar::EntryType::Regular, data.len() as u64, 0o644);
            self.push(h, data)
        }

        pub(crate) fn file_owned(
            &mut self,
            path: &str,
            data: &[u8],
            mode: u32,
            uid: u64,
        ) -> &mut Self {
            let mut h = Self::header(path, tar::EntryType::Regular, data.len() as u64, mode);
            h.set_uid(uid);
            h.set_gid(uid);
            self.push(h, data)
        }

        pub(crate) fn dir(&mut self, path: &str) -> &mut Self {
            let h = Self::header(path, tar::EntryType::Directory, 0, 0o755);
            self.push(h, &[])
        }

        pub(crate) fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
            let mut h = Self::header(path, tar::EntryType::Symlink, 0, 0o777);
            h.set_link_name_literal(target).unwrap();
            self.push(h, &[])
        }

        pub(crate) fn hard_link(&mut self, path: &str, target: &str) -> &mut Self {
            let mut h = Self::header(path, tar::EntryType::Link, 0, 0o644);
            h.set_link_name_literal(target).unwrap();
            self.push(h, &[])
        }

        pub(crate) fn device(&mut self, path: &str, kind: tar::EntryType) -> &mut Self {
            let mut h = Self::header(path, kind, 0, 0o600);
            h.set_device_major(8).unwrap();
            h.set_device_minor(0).unwrap();
            self.push(h, &[])
        }

        pub(crate) fn fifo(&mut self, path: &str) -> &mut Self {
            let h = Self::header(path, tar::EntryType::Fifo, 0, 0o640);
            self.push(h, &[])
        }

        pub(crate) fn finish(&mut self) -> Vec<u8> {
            self.0.finish().unwrap();
            self.0.get_ref().clone()
        }
    }

    pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    pub(crate) fn zstd_bytes(data: &[u8]) -> Vec<u8> {
        zstd::stream::encode_all(data, 3).unwrap()
    }

    fn store(root: &Path) -> LayerStore {
        LayerStore::new(root, UnpackLimits::default()).unwrap()
    }

    fn blob(data: &[u8]) -> Digest {
        Digest::of_bytes(data)
    }

    /// Lists everything under `dir`, for "nothing changed" checks.
    fn snapshot(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_owned()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if fs::symlink_metadata(&p).unwrap().is_dir() {
                    stack.push(p.clone());
                }
                out.push(p);
            }
        }
        out.sort();
        out
    }

    fn no_partials(layers: &LayerStore) {
        let left: Vec<_> = fs::read_dir(&layers.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().contains(PARTIAL))
            .collect();
        assert!(left.is_empty(), "partial directories left: {left:?}");
    }

    #[test]
    fn normal_layer() {
        let root = tempfile::tempdir().unwrap();
        let layers = store(root.path());
        let tar = TarBuf::new()
            .dir("./")
            .dir("bin/")
            .file("bin/sh", b"#!shell")
            .file_owned("bin/su", b"su", 0o4755, 0)
            .symlink("bin/ls", "/bin/busybox")
            .hard_link("bin/sh2", "bin/sh")
            .file("etc/deep/conf", b"x=1")
            .fifo("run/fifo")
            .finish();
        let diff_id = blob(&tar);
        let info = layers.unpack(&tar[..], &diff_id, Some(&diff_id)).unwrap();
        assert_eq!(info.diff_id, diff_id);
        assert_eq!(info.size, 7 + 2 + 3);
        let fs_dir = layers.fs_path(&diff_id);
        assert_eq!(info.path, fs_dir);
        assert!(layers.exists(&diff_id));
        assert_eq!(fs::read(fs_dir.join("bin/sh")).unwrap(), b"#!shell");
        assert_eq!(
            fs::read_link(fs_dir.join("bin/ls")).unwrap(),
            Path::new("/bin/busybox")
        );
        let sh = fs::metadata(fs_dir.join("bin/sh")).unwrap();
        let sh2 = fs::metadata(fs_dir.join("bin/sh2")).unwrap();
        assert_eq!(sh.ino(), sh2.ino());
        assert_eq!(sh.mode() & 0o7777, 0o644);
        assert_eq!(sh.mtime(), 1_600_000_000);
        assert_eq!(
            fs::metadata(fs_dir.join("bin/su")).unwrap().mode() & 0o7777,
            0o4755
        );
        let fifo = fs::symlink_metadata(fs_dir.join("run/fifo")).unwrap();
        assert!(fifo.file_type().is_fifo());
        assert_eq!(fifo.mode() & 0o7777, 0o640);
        assert_eq!(
            fs::metadata(fs_dir.join("bin")).unwrap().mtime(),
            1_600_000_000
        );
        assert_eq!(layers.list().unwrap(), vec![diff_id.clone()]);
        no_partials(&layers);

        // Shared: a second unpack does not read the stream at all.
        let again = layers
            .unpack(&b"not a tar"[..], &diff_id, Some(&diff_id))
            .unwrap();
        assert_eq!(again, info);

        assert_eq!(layers.delete(&diff_id).unwrap(), Some(12));
        assert!(!layers.exists(&diff_id));
        assert_eq!(layers.delete(&diff_id).unwrap(), None);
    }

    /// Unpacks `tar` into a store inside a directory holding other files, and checks it is
    /// refused with `needle` in the message, leaving no partial directory and nothing changed.
    fn refused(tar: &[u8], needle: &str) {
        let root = tempfile::tempdir().unwrap();
        let outside = root.path().join("outside");
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("keep"), b"keep").unwrap();
        let store_root = outside.join("store");
        let layers = store(&store_root);
        let before = snapshot(root.path());
        let d = blob(tar);
        let err = layers.unpack(tar, &d, None).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(needle), "{msg:?} should contain {needle:?}");
        assert!(msg.contains("refused"), "{msg}");
        assert!(msg.contains(&format!("layer {d}")), "{msg}");
        no_partials(&layers);
        assert_eq!(snapshot(root.path()), before, "something was written");
        assert!(layers.list().unwrap().is_empty());
    }

    #[test]
    fn parent_dir_escape_refused() {
        let tar = TarBuf::new()
            .file("ok", b"1")
            .file("../escape", b"evil")
            .finish();
        refused(&tar, "entry \"../escape\" escapes the layer: refused");
        let tar = TarBuf::new().file("a/../../escape", b"evil").finish();
        refused(&tar, "escapes the layer");
    }

    #[test]
    fn absolute_path_lands_inside() {
        let root = tempfile::tempdir().unwrap();
        let layers = store(root.path());
        let tar = TarBuf::new().file("/etc/x", b"inside").finish();
        let d = blob(&tar);
        let info = layers.unpack(&tar[..], &d, None).unwrap();
        assert_eq!(fs::read(info.path.join("etc/x")).unwrap(), b"inside");
        assert_eq!(info.diff_id, d);
        assert!(!Path::new("/etc/x").exists() || fs::read("/etc/x").unwrap() != b"inside");
    }

    #[test]
    fn symlink_parent_refused() {
        let tar = TarBuf::new()
            .symlink("evil", "/")
            .file("evil/etc/passwd", b"root::0:0::/:/bin/sh")
            .finish();
        refused(
            &tar,
            "has a parent \"evil\" that is a symlink inside the layer",
        );
        // A relative symlink pointing up is just as refused.
        let tar = TarBuf::new()
            .dir("d/")
            .symlink("d/up", "../../..")
            .file("d/up/x", b"x")
            .finish();
        refused(&tar, "that is a symlink");
        // A directory replaced by a symlink later in the layer.
        let tar = TarBuf::new()
            .dir("a/")
            .file("a/f", b"1")
            .symlink("a", "/tmp")
            .file("a/g", b"2")
            .finish();
        refused(&tar, "has a parent \"a\" that is a symlink");
    }

    #[test]
    fn hard_link_escape_refused() {
        let tar = TarBuf::new().hard_link("x", "../../x").finish();
        refused(
            &tar,
            "is a hard link to \"../../x\", which escapes the layer",
        );
        let tar = TarBuf::new().hard_link("x", "/etc/passwd").finish();
        refused(&tar, "which is not in the layer");
        let tar = TarBuf::new()
            .symlink("l", "/etc")
            .hard_link("x", "l/passwd")
            .finish();
        refused(&tar, "whose parent \"l\" is not a directory");
    }

    #[test]
    fn devices_refused() {
        let tar = TarBuf::new()
            .device("dev/sda", tar::EntryType::Block)
            .finish();
        refused(&tar, "is a block device node (device nodes are refused)");
        let tar = TarBuf::new()
            .device("dev/mem", tar::EntryType::Char)
            .finish();
        refused(&tar, "device nodes are refused");
    }

    #[test]
    fn size_limits() {
        let root = tempfile::tempdir().unwrap();
        let limits = UnpackLimits {
            max_layer_bytes: 1024,
            ..UnpackLimits::default()
        };
        let layers = LayerStore::new(root.path(), limits).unwrap();
        let tar = TarBuf::new().file("big", &[7u8; 4096]).finish();
        let d = blob(&tar);
        let msg = layers.unpack(&tar[..], &d, None).unwrap_err().to_string();
        assert!(
            msg.contains(
                "entry \"big\" is 4096 bytes, which takes the layer over its limit of 1024 bytes: refused"
            ),
            "{msg}"
        );
        no_partials(&layers);

        // The uncompressed stream itself is capped too (a decompression bomb of headers).
        let mut t = TarBuf::new();
        for i in 0..10 {
            t.dir(&format!("d{i}/"));
        }
        let tar = gzip(&t.finish());
        let msg = layers
            .unpack(&tar[..], &blob(&tar), None)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("larger than the limit of 1024 bytes"), "{msg}");
        no_partials(&layers);

        let limits = UnpackLimits {
            max_entries: 3,
            ..UnpackLimits::default()
        };
        let root2 = tempfile::tempdir().unwrap();
        let layers = LayerStore::new(root2.path(), limits).unwrap();
        let tar = TarBuf::new()
            .file("a", b"")
            .file("b", b"")
            .file("c", b"")
            .file("d", b"")
            .finish();
        let msg = layers
            .unpack(&tar[..], &blob(&tar), None)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("limit of 3 entries"), "{msg}");
        no_partials(&layers);
    }

    #[test]
    fn whiteouts_become_overlay_markers() {
        require_root("whiteouts are character devices 0/0 and trusted.* xattrs");
        let root = tempfile::tempdir().unwrap();
        let layers = store(root.path());
        let tar = TarBuf::new()
            .file("etc/.wh.passwd", b"")
            .dir("var/")
            .file("var/.wh..wh..opq", b"")
            .file("var/new", b"n")
            .file("opt/.wh..wh..opq", b"")
            .file(".wh.gone", b"")
            .file("kept", b"k")
            .file(".wh.kept", b"")
            .file(".wh.again", b"")
            .dir("again/")
            .file("again/f", b"f")
            .finish();
        let d = blob(&tar);
        let info = layers.unpack(&tar[..], &d, Some(&d)).unwrap();
        let fs_dir = info.path;
        for wh in ["etc/passwd", "gone"] {
            let m = fs::symlink_metadata(fs_dir.join(wh)).unwrap();
            assert!(m.file_type().is_char_device(), "{wh} is not a char device");
            assert_eq!(m.rdev(), 0, "{wh} is not 0/0");
        }
        for marker in ["etc/.wh.passwd", ".wh.gone", "var/.wh..wh..opq"] {
            assert!(
                fs::symlink_metadata(fs_dir.join(marker)).is_err(),
                "{marker} extracted"
            );
        }
        let opaque = |p: &str| {
            let mut buf = [0u8; 8];
            rfs::lgetxattr(fs_dir.join(p), OPAQUE_XATTR, &mut buf[..])
                .ok()
                .map(|n| buf[..n].to_vec())
        };
        assert_eq!(opaque("var"), Some(b"y".to_vec()));
        assert_eq!(opaque("opt"), Some(b"y".to_vec()));
        assert_eq!(opaque("etc"), None);
        assert_eq!(fs::read(fs_dir.join("var/new")).unwrap(), b"n");
        // A whiteout never hides an entry of its own layer.
        assert_eq!(fs::read(fs_dir.join("kept")).unwrap(), b"k");
        // A directory recreated over its own whiteout hides the lower one: opaque.
        assert!(fs::metadata(fs_dir.join("again")).unwrap().is_dir());
        assert_eq!(opaque("again"), Some(b"y".to_vec()));
    }

    #[test]
    fn compressed_layers_have_the_plain_diff_id() {
        let tar = TarBuf::new()
            .dir("etc/")
            .file("etc/hostname", b"flotilla")
            .finish();
        let diff_id = blob(&tar);
        for (name, data) in [
            ("plain", tar.clone()),
            ("gzip", gzip(&tar)),
            ("zstd", zstd_bytes(&tar)),
        ] {
            let root = tempfile::tempdir().unwrap();
            let layers = store(root.path());
            let info = layers
                .unpack(&data[..], &blob(&data), Some(&diff_id))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(info.diff_id, diff_id, "{name}");
            assert_eq!(
                fs::read(info.path.join("etc/hostname")).unwrap(),
                b"flotilla"
            );
        }
    }

    #[test]
    fn diff_id_mismatch_refused() {
        let root = tempfile::tempdir().unwrap();
        let layers = store(root.path());
        let tar = TarBuf::new().file("a", b"a").finish();
        let wrong = Digest::of_bytes(b"other");
        let err = layers
            .unpack(&tar[..], &blob(&tar), Some(&wrong))
            .unwrap_err();
        assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err}");
        assert!(!layers.exists(&wrong));
        no_partials(&layers);
        assert!(layers.list().unwrap().is_empty());
    }

    #[test]
    fn other_compressions_refused() {
        let root = tempfile::tempdir().unwrap();
        let layers = store(root.path());
        let xz = [0xfd, b'7', b'z', b'X', b'Z', 0, 1, 2];
        let msg = layers
            .unpack(&xz[..], &blob(&xz), None)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("compressed with xz"), "{msg}");
        no_partials(&layers);
    }

    #[test]
    fn stale_partials_removed_on_open() {
        let root = tempfile::tempdir().unwrap();
        let stale = root
            .path()
            .join("layers")
            .join(format!("{}{PARTIAL}", "a".repeat(64)));
        fs::create_dir_all(stale.join("fs/x")).unwrap();
        let layers = store(root.path());
        assert!(!stale.exists());
        assert!(layers.list().unwrap().is_empty());
    }
}
