//! The content-addressed blob store: `<root>/blobs/sha256/<hex>`.
//!
//! A blob is written to a temporary file in the same directory, fsynced, checked against the
//! digest it was announced with (if any) and renamed into place, so a blob file, once visible
//! under its name, is complete and has that digest. Blobs are immutable; writing one that
//! exists already is a no-op. The store knows nothing of what the blobs are (configs,
//! manifests, layer tarballs): what references them is the image store's business.

use crate::digest::{Digest, Hashing, is_hex64};
use crate::error::{ImageError, Result};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Prefix of temporary files (never a valid digest name).
pub(crate) const TMP_PREFIX: &str = ".tmp-";

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A process-unique name for a temporary file or directory.
pub(crate) fn unique_name(prefix: &str) -> String {
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{}-{n}", std::process::id())
}

/// Flushes a directory's entries (a rename into it) to disk.
pub(crate) fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(ImageError::io("syncing directory", dir))
}

/// Writes `data` to `path` atomically: temporary file in the same directory, fsync, rename,
/// fsync of the directory.
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(unique_name(TMP_PREFIX));
    let res = (|| -> Result<()> {
        let mut f = File::create(&tmp).map_err(ImageError::io("creating", &tmp))?;
        f.write_all(data).map_err(ImageError::io("writing", &tmp))?;
        f.sync_all().map_err(ImageError::io("syncing", &tmp))?;
        fs::rename(&tmp, path).map_err(ImageError::io("renaming into place", path))
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res?;
    fsync_dir(dir)
}

/// Removes the temporary files an interrupted write left in `dir`.
pub(crate) fn remove_temporaries(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(ImageError::io("listing", dir))? {
        let entry = entry.map_err(ImageError::io("listing", dir))?;
        if entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
            let p = entry.path();
            tracing::debug!(path = %p.display(), "removing a stale temporary file");
            fs::remove_file(&p).map_err(ImageError::io("removing stale temporary", &p))?;
        }
    }
    Ok(())
}

/// The blob store under `<root>/blobs/sha256`.
#[derive(Debug, Clone)]
pub struct BlobStore {
    dir: PathBuf,
}

impl BlobStore {
    /// Opens (creating if needed) the blob store under `root`, and removes temporary files
    /// left by an interrupted write.
    pub fn new(root: &Path) -> Result<Self> {
        let dir = root.join("blobs").join("sha256");
        fs::create_dir_all(&dir).map_err(ImageError::io("creating blob directory", &dir))?;
        remove_temporaries(&dir)?;
        Ok(Self { dir })
    }

    /// Streams `reader` into the store and returns its digest and size. With `expected`, a
    /// blob whose content hashes to anything else is refused and nothing is stored.
    pub fn put(&self, reader: impl Read, expected: Option<&Digest>) -> Result<(Digest, u64)> {
        let tmp = self.dir.join(unique_name(TMP_PREFIX));
        let res = self.put_inner(&tmp, reader, expected);
        if res.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        res
    }

    fn put_inner(
        &self,
        tmp: &Path,
        reader: impl Read,
        expected: Option<&Digest>,
    ) -> Result<(Digest, u64)> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(tmp)
            .map_err(ImageError::io("creating", tmp))?;
        let mut hashing = Hashing::new(reader);
        io::copy(&mut hashing, &mut file).map_err(ImageError::io("writing blob", tmp))?;
        let (digest, size, _) = hashing.finish();
        check_expected(&digest, expected)?;
        file.sync_all().map_err(ImageError::io("syncing", tmp))?;
        drop(file);
        let dst = self.get_path(&digest);
        if dst.exists() {
            fs::remove_file(tmp).map_err(ImageError::io("removing", tmp))?;
        } else {
            fs::rename(tmp, &dst).map_err(ImageError::io("renaming blob into place", &dst))?;
            fsync_dir(&self.dir)?;
        }
        Ok((digest, size))
    }

    /// Stores the bytes `data`.
    pub fn put_bytes(&self, data: &[u8], expected: Option<&Digest>) -> Result<Digest> {
        self.put(data, expected).map(|(d, _)| d)
    }

    /// Stores the file at `path`, which should be on the same filesystem as the store, without
    /// copying it when possible (a hard link after hashing it); `path` itself is left alone.
    pub fn put_file(&self, path: &Path, expected: Option<&Digest>) -> Result<(Digest, u64)> {
        let file = File::open(path).map_err(ImageError::io("opening", path))?;
        let mut hashing = Hashing::new(file);
        io::copy(&mut hashing, &mut io::sink()).map_err(ImageError::io("reading", path))?;
        let (digest, size, file) = hashing.finish();
        check_expected(&digest, expected)?;
        let dst = self.get_path(&digest);
        if dst.exists() {
            return Ok((digest, size));
        }
        match fs::hard_link(path, &dst) {
            Ok(()) => {
                file.sync_all().map_err(ImageError::io("syncing", path))?;
                fsync_dir(&self.dir)?;
                Ok((digest, size))
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok((digest, size)),
            Err(e) => {
                tracing::debug!(error = %e, path = %path.display(), "hard link failed, copying");
                let reopened = File::open(path).map_err(ImageError::io("opening", path))?;
                self.put(reopened, Some(&digest))
            }
        }
    }

    /// Where the blob `digest` lives (whether or not it exists).
    pub fn get_path(&self, digest: &Digest) -> PathBuf {
        self.dir.join(digest.hex())
    }

    /// Opens the blob `digest` for reading.
    pub fn open(&self, digest: &Digest) -> Result<File> {
        let p = self.get_path(digest);
        File::open(&p).map_err(ImageError::io("opening blob", &p))
    }

    /// Reads the whole blob `digest` into memory (for configs and manifests).
    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>> {
        let p = self.get_path(digest);
        fs::read(&p).map_err(ImageError::io("reading blob", &p))
    }

    /// Whether the blob `digest` is stored.
    pub fn exists(&self, digest: &Digest) -> bool {
        self.get_path(digest).is_file()
    }

    /// The size of the stored blob `digest`.
    pub fn size(&self, digest: &Digest) -> Result<u64> {
        let p = self.get_path(digest);
        fs::metadata(&p)
            .map(|m| m.len())
            .map_err(ImageError::io("inspecting blob", &p))
    }

    /// Deletes the blob `digest`; returns the bytes freed, or `None` if it was not stored.
    pub fn delete(&self, digest: &Digest) -> Result<Option<u64>> {
        let p = self.get_path(digest);
        let size = match fs::metadata(&p) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ImageError::io("inspecting blob", &p)(e)),
        };
        match fs::remove_file(&p) {
            Ok(()) => Ok(Some(size)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ImageError::io("deleting blob", &p)(e)),
        }
    }

    /// Every stored blob, sorted.
    pub fn list(&self) -> Result<Vec<Digest>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(ImageError::io("listing", &self.dir))? {
            let entry = entry.map_err(ImageError::io("listing", &self.dir))?;
            let name = entry.file_name();
            if let Some(hex) = name.to_str()
                && is_hex64(hex)
            {
                out.push(Digest::from_hex(hex)?);
            }
        }
        out.sort();
        Ok(out)
    }
}

fn check_expected(actual: &Digest, expected: Option<&Digest>) -> Result<()> {
    match expected {
        Some(e) if e != actual => Err(ImageError::DigestMismatch {
            what: format!("blob {e}"),
            expected: e.clone(),
            actual: actual.clone(),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_list_delete() {
        let root = tempfile::tempdir().unwrap();
        let store = BlobStore::new(root.path()).unwrap();
        let (d, n) = store.put(&b"config"[..], None).unwrap();
        assert_eq!(n, 6);
        assert_eq!(d, Digest::of_bytes(b"config"));
        assert!(store.exists(&d));
        assert_eq!(store.read(&d).unwrap(), b"config");
        let mut s = String::new();
        store.open(&d).unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "config");
        // Idempotent.
        assert_eq!(store.put_bytes(b"config", Some(&d)).unwrap(), d);
        assert_eq!(store.list().unwrap(), vec![d.clone()]);
        assert_eq!(store.size(&d).unwrap(), 6);
        assert_eq!(store.delete(&d).unwrap(), Some(6));
        assert_eq!(store.delete(&d).unwrap(), None);
        assert!(!store.exists(&d));
        assert!(store.list().unwrap().is_empty());
    }

    #[test]
    fn mismatch_is_refused_and_leaves_nothing() {
        let root = tempfile::tempdir().unwrap();
        let store = BlobStore::new(root.path()).unwrap();
        let wrong = Digest::of_bytes(b"something else");
        let err = store.put(&b"config"[..], Some(&wrong)).unwrap_err();
        assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err}");
        assert!(err.to_string().contains("refused"));
        let names: Vec<_> = fs::read_dir(root.path().join("blobs/sha256"))
            .unwrap()
            .collect();
        assert!(names.is_empty(), "temporary file left behind: {names:?}");
    }

    #[test]
    fn put_file_links_without_consuming_source() {
        let root = tempfile::tempdir().unwrap();
        let store = BlobStore::new(root.path()).unwrap();
        let src = root.path().join("src");
        fs::write(&src, b"layer bytes").unwrap();
        let (d, n) = store.put_file(&src, None).unwrap();
        assert_eq!((d.clone(), n), (Digest::of_bytes(b"layer bytes"), 11));
        assert!(src.exists());
        assert_eq!(store.read(&d).unwrap(), b"layer bytes");
        let bad = Digest::of_bytes(b"x");
        assert!(store.put_file(&src, Some(&bad)).is_err());
    }

    #[test]
    fn atomic_write_replaces() {
        let root = tempfile::tempdir().unwrap();
        let p = root.path().join("index.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(root.path()).unwrap().count(), 1);
    }
}
