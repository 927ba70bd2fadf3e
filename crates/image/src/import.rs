//! `image import`: a single-layer image from a root filesystem tarball (`docker import`).
//!
//! The tarball (plain, gzip or zstd) becomes the image's only layer blob and is unpacked like
//! any layer (same refusals); the config is minimal: this node's architecture, `linux`, the
//! layer's diff_id, an empty runtime config and one history entry. As in Docker, the config
//! carries the import time, so importing the same tarball twice gives two image ids.

use crate::digest::Digest;
use crate::error::Result;
use crate::load::LoadedImage;
use crate::store::{ImageStore, host_arch};
use flotilla_model::ImageRef;
use std::io::Read;
use std::time::{SystemTime, UNIX_EPOCH};

/// Imports the root filesystem tarball `reader` as a one-layer image, tagged `reference` if
/// given (Docker leaves an import without a reference untagged).
pub fn import(
    store: &ImageStore,
    reader: impl Read,
    reference: Option<&ImageRef>,
) -> Result<LoadedImage> {
    let _gc = store.gc_shared();
    let (blob, _) = store.blobs().put(reader, None)?;
    let info = store
        .layers()
        .unpack(store.blobs().open(&blob)?, &blob, None)?;
    let config = import_config(&info.diff_id, &rfc3339(SystemTime::now()));
    let cfg = store.blobs().put_bytes(&config, None)?;
    let tags: Vec<ImageRef> = reference.into_iter().cloned().collect();
    let id = store.commit(&cfg, None, vec![blob], &tags)?;
    Ok(LoadedImage {
        id,
        refs: tags.iter().map(ToString::to_string).collect(),
    })
}

/// The config of an imported image.
fn import_config(diff_id: &Digest, created: &str) -> Vec<u8> {
    let config = serde_json::json!({
        "architecture": host_arch(),
        "os": "linux",
        "created": created,
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created, "created_by": "flotilla image import",
                     "comment": "Imported from tarball"}],
    });
    // A `Value`'s Display is its compact JSON.
    config.to_string().into_bytes()
}

/// `t` as an RFC 3339 UTC timestamp with second precision (`2020-09-13T12:26:40Z`).
fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::tests::{TarBuf, gzip};
    use std::fs;
    use std::time::Duration;

    #[test]
    fn timestamps() {
        let at = |s: u64| rfc3339(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(1_600_000_000), "2020-09-13T12:26:40Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn rootfs_tarball_becomes_an_image() {
        let rootfs = TarBuf::new()
            .dir("bin/")
            .file("bin/sh", b"#!")
            .symlink("bin/ls", "sh")
            .finish();
        let diff_id = Digest::of_bytes(&rootfs);
        let root = tempfile::tempdir().unwrap();
        let store = ImageStore::open(root.path()).unwrap();
        let r = ImageRef::parse("myimport:v1").unwrap();
        let loaded = import(&store, &gzip(&rootfs)[..], Some(&r)).unwrap();
        assert_eq!(loaded.refs, vec!["docker.io/library/myimport:v1"]);
        let img = store.inspect("myimport:v1").unwrap();
        assert_eq!(img.id, loaded.id);
        assert_eq!(img.layers, vec![diff_id.clone()]);
        assert_eq!(img.config.architecture().to_string(), host_arch());
        assert_eq!(img.config.os().to_string(), "linux");
        assert_eq!(img.config.rootfs().diff_ids(), &vec![diff_id.to_string()]);
        assert!(img.created.is_some());
        let lowers = store.rootfs_layers(&img.id).unwrap();
        assert_eq!(lowers, vec![store.layers().fs_path(&diff_id)]);
        assert_eq!(fs::read(lowers[0].join("bin/sh")).unwrap(), b"#!");

        // An untagged import of another rootfs is dangling: prune removes it and its layer,
        // and leaves the tagged image and its layer alone. (Importing the same rootfs within
        // the same second would give the same config, hence the same image id.)
        let other = TarBuf::new()
            .dir("bin/")
            .file("bin/sh", b"#!other")
            .finish();
        let again = import(&store, &other[..], None).unwrap();
        assert!(again.refs.is_empty());
        assert_ne!(again.id, loaded.id);
        assert_eq!(store.layers().list().unwrap().len(), 2);
        let out = store.prune(false, &|_: &Digest| false).unwrap();
        assert_eq!(out.deleted, vec![again.id]);
        assert_eq!(out.layers_deleted, vec![Digest::of_bytes(&other)]);
        assert_eq!(store.layers().list().unwrap(), vec![diff_id]);
        assert_eq!(store.inspect("myimport:v1").unwrap().id, loaded.id);
    }

    #[test]
    fn hostile_rootfs_refused() {
        let rootfs = TarBuf::new().file("../../x", b"x").finish();
        let root = tempfile::tempdir().unwrap();
        let store = ImageStore::open(root.path()).unwrap();
        let msg = import(&store, &rootfs[..], None).unwrap_err().to_string();
        assert!(msg.contains("escapes the layer: refused"), "{msg}");
        assert!(store.list().unwrap().is_empty());
    }
}
