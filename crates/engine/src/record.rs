//! The engine's own record of each container (name, image, command as resolved, times), kept
//! as one JSON file per container beside the runtime's state, written atomically so a crash
//! leaves either the old or the new record.

use crate::error::{EngineError, Result, io};
use crate::health::HealthConfig;
use crate::spec::RunSpec;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// How many hex characters of a container's id name it in the runtime (its state directory,
/// which holds the attach socket, and its cgroup): short enough that
/// `<data dir>/containers/run/<runtime id>/attach.sock` fits a Unix socket address
/// (107 bytes) under any reasonable data directory.
pub const RUNTIME_ID_LEN: usize = 16;

/// What the engine remembers of a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// 64 hex characters.
    pub id: String,
    /// The id in the runtime (state directory and cgroup name): the first [`RUNTIME_ID_LEN`]
    /// characters of `id`. `None` in records written before it existed, whose runtime id is
    /// the whole `id` (see [`ContainerRecord::runtime_key`]).
    #[serde(default)]
    pub runtime_id: Option<String>,
    /// Unique name.
    pub name: String,
    /// The request, as given.
    pub spec: RunSpec,
    /// The image id (`sha256:…`) the container was made from.
    pub image_id: String,
    /// The command as resolved from the image and the request.
    pub args: Vec<String>,
    /// Creation time, ms since the epoch.
    pub created_at_ms: u64,
    /// Last start, ms since the epoch.
    #[serde(default)]
    pub started_at_ms: Option<u64>,
    /// Frozen by `container pause`.
    #[serde(default)]
    pub paused: bool,
    /// Anonymous volumes made for it (removed with it).
    #[serde(default)]
    pub anonymous_volumes: Vec<String>,
    /// The health check in effect (the request's over the image's), resolved at creation;
    /// `None`: no health check (none given, or disabled with `NONE`).
    #[serde(default)]
    pub healthcheck: Option<HealthConfig>,
}

impl ContainerRecord {
    /// The container's id in the runtime: [`ContainerRecord::runtime_id`], else (older
    /// records) the full id. A restarted daemon finds the runtime's state directory by it.
    pub fn runtime_key(&self) -> &str {
        self.runtime_id.as_deref().unwrap_or(&self.id)
    }

    /// The first 12 characters of the id, as Docker shows it.
    pub fn short_id(&self) -> &str {
        self.id.get(..12).unwrap_or(&self.id)
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The record files under one directory.
#[derive(Debug, Clone)]
pub struct RecordDir {
    dir: PathBuf,
}

impl RecordDir {
    /// Records kept in `dir` (created).
    pub fn open(dir: PathBuf) -> Result<Self> {
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        Ok(Self { dir })
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// Writes `rec` atomically (temporary file, fsync, rename).
    pub fn save(&self, rec: &ContainerRecord) -> Result<()> {
        let path = self.path(&rec.id);
        let tmp = self.dir.join(format!(".{}.tmp", rec.id));
        let data = serde_json::to_vec_pretty(rec).map_err(|source| EngineError::Json {
            path: path.clone(),
            source,
        })?;
        let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(&data).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        Ok(())
    }

    /// Removes the record of `id` (absent is fine).
    pub fn remove(&self, id: &str) -> Result<()> {
        let path = self.path(id);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// Every record; leftover temporary files are removed, unreadable records are reported
    /// and skipped.
    pub fn load_all(&self) -> Result<Vec<ContainerRecord>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let entry = entry.map_err(io(&self.dir))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') && name.ends_with(".tmp") {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            if !name.ends_with(".json") {
                continue;
            }
            match read(&path) {
                Ok(rec) => out.push(rec),
                Err(e) => tracing::warn!(error = %e, "skipping an unreadable container record"),
            }
        }
        out.sort_by_key(|r| r.created_at_ms);
        Ok(out)
    }
}

fn read(path: &Path) -> Result<ContainerRecord> {
    let data = std::fs::read(path).map_err(io(path))?;
    serde_json::from_slice(&data).map_err(|source| EngineError::Json {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_remove() {
        let dir = tempfile::tempdir().unwrap();
        let rd = RecordDir::open(dir.path().join("meta")).unwrap();
        let rec = ContainerRecord {
            id: "a".repeat(64),
            runtime_id: Some("a".repeat(RUNTIME_ID_LEN)),
            name: "web".into(),
            spec: RunSpec::default(),
            image_id: "sha256:00".into(),
            args: vec!["sh".into()],
            created_at_ms: 5,
            started_at_ms: None,
            paused: false,
            anonymous_volumes: vec![],
            healthcheck: None,
        };
        rd.save(&rec).unwrap();
        std::fs::write(dir.path().join("meta/.x.tmp"), b"half").unwrap();
        std::fs::write(dir.path().join("meta/bad.json"), b"{").unwrap();
        assert_eq!(rd.load_all().unwrap(), vec![rec.clone()]);
        assert!(!dir.path().join("meta/.x.tmp").exists());
        rd.remove(&rec.id).unwrap();
        rd.remove(&rec.id).unwrap();
        assert!(rd.load_all().unwrap().is_empty());
    }

    #[test]
    fn older_records_use_the_full_id_in_the_runtime() {
        let json = format!(
            r#"{{"id":"{}","name":"old","spec":{{}},"image_id":"sha256:00","args":["sh"],"created_at_ms":1}}"#,
            "b".repeat(64)
        );
        let rec: ContainerRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(rec.runtime_id, None);
        assert_eq!(rec.runtime_key(), "b".repeat(64));
        assert_eq!(rec.healthcheck, None);
        let new = ContainerRecord {
            runtime_id: Some("b".repeat(RUNTIME_ID_LEN)),
            ..rec
        };
        assert_eq!(new.runtime_key().len(), RUNTIME_ID_LEN);
        assert_eq!(new.short_id(), "b".repeat(12));
    }
}
