//! The replicated state machine: applies committed changesets to the shared [`StoreCore`], and
//! builds and installs snapshots.
//!
//! Each committed changeset is applied at the store version equal to its log index, so object
//! versions are Raft indexes and identical on every manager. A changeset whose preconditions fail
//! at apply time (a stale version, a taken name) changes nothing and its refusal is returned to
//! the proposer; every replica refuses it the same way.
//!
//! Snapshots are files under the snapshot directory: a JSON header with openraft's meta, then the
//! store as a `flotilla.v1.StoreSnapshot` message. They are written to a temporary file, fsynced
//! and renamed into place, so a crash leaves either the old or the new snapshot.

use crate::codec;
use crate::types::{LogId, Response, SnapshotMeta, StoredMembership, TypeConfig};
use flotilla_model::Version;
use flotilla_state::StoreCore;
use futures::TryStreamExt;
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder};
use std::io::{self, Cursor, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Snapshot data travels and is held as bytes.
pub type SnapshotData = Cursor<Vec<u8>>;
type Snapshot = openraft::type_config::alias::SnapshotOf<TypeConfig, SnapshotData>;

const SNAPSHOT_FILE: &str = "snapshot.bin";

/// The state machine.
pub struct StateMachine {
    core: Arc<StoreCore>,
    last_applied: Option<LogId>,
    last_membership: StoredMembership,
    dir: PathBuf,
    current: Option<(SnapshotMeta, Arc<Vec<u8>>)>,
}

fn io_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

impl StateMachine {
    /// A state machine over `core`, keeping snapshots in `dir`. A snapshot already in `dir` is
    /// offered to openraft at start-up, which installs it and replays the log after it.
    pub fn open(core: Arc<StoreCore>, dir: &Path) -> Result<Self, crate::RaftError> {
        std::fs::create_dir_all(dir).map_err(|source| crate::RaftError::Io {
            context: format!("creating {}", dir.display()),
            source,
        })?;
        let path = dir.join(SNAPSHOT_FILE);
        let current = match std::fs::read(&path) {
            Ok(bytes) => {
                let (meta, data) =
                    split_snapshot(&bytes).map_err(|e| crate::RaftError::DamagedSnapshot {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
                // Check now that the store part decodes, rather than fail later inside openraft.
                codec::decode_tables(&data).map_err(|e| crate::RaftError::DamagedSnapshot {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
                Some((meta, Arc::new(data)))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(crate::RaftError::Io {
                    context: format!("reading {}", path.display()),
                    source,
                });
            }
        };
        Ok(Self {
            core,
            last_applied: None,
            last_membership: StoredMembership::default(),
            dir: dir.to_owned(),
            current,
        })
    }

    fn save_snapshot(&mut self, meta: &SnapshotMeta, data: Vec<u8>) -> io::Result<()> {
        persist_snapshot(&self.dir, meta, &data)?;
        self.current = Some((meta.clone(), Arc::new(data)));
        Ok(())
    }
}

/// Writes a snapshot file atomically: temporary file, fsync, rename, fsync of the directory.
fn persist_snapshot(dir: &Path, meta: &SnapshotMeta, data: &[u8]) -> io::Result<()> {
    let header = serde_json::to_vec(meta).map_err(io_err)?;
    let tmp = dir.join(format!("{SNAPSHOT_FILE}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        let len = u32::try_from(header.len()).map_err(io_err)?;
        f.write_all(&len.to_le_bytes())?;
        f.write_all(&header)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(SNAPSHOT_FILE))?;
    std::fs::File::open(dir)?.sync_all()
}

/// Splits a snapshot file into its meta header and store bytes.
fn split_snapshot(bytes: &[u8]) -> io::Result<(SnapshotMeta, Vec<u8>)> {
    let short = || io::Error::new(io::ErrorKind::InvalidData, "snapshot file is truncated");
    let len_bytes: [u8; 4] = bytes
        .get(..4)
        .ok_or_else(short)?
        .try_into()
        .map_err(|_| short())?;
    let len = u32::from_le_bytes(len_bytes) as usize;
    let header = bytes.get(4..4 + len).ok_or_else(short)?;
    let meta: SnapshotMeta = serde_json::from_slice(header).map_err(io_err)?;
    Ok((meta, bytes[4 + len..].to_vec()))
}

/// Builds a snapshot from a copy of the state taken when the builder was made.
pub struct SnapshotBuilder {
    meta: SnapshotMeta,
    data: Vec<u8>,
    dir: PathBuf,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    type SnapshotData = SnapshotData;

    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        persist_snapshot(&self.dir, &self.meta, &self.data)?;
        Ok(Snapshot {
            meta: self.meta.clone(),
            snapshot: Cursor::new(self.data.clone()),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        Ok((self.last_applied, self.last_membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: futures::Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>>
            + Unpin
            + OptionalSend,
    {
        while let Some((entry, responder)) = entries.try_next().await? {
            self.last_applied = Some(entry.log_id);
            let response = match entry.payload {
                EntryPayload::Blank => Response::default(),
                EntryPayload::Normal(req) => {
                    let result = self
                        .core
                        .commit(&req.changeset, Version(entry.log_id.index))
                        .map(|c| c.version);
                    Response {
                        result: Some(result),
                    }
                }
                EntryPayload::Membership(m) => {
                    self.last_membership = StoredMembership::new(Some(entry.log_id), m);
                    Response::default()
                }
            };
            if let Some(r) = responder {
                r.send(response);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        let data = self.core.read(codec::encode_tables);
        let meta = SnapshotMeta {
            last_log_id: self.last_applied,
            last_membership: self.last_membership.clone(),
        };
        self.current = Some((meta.clone(), Arc::new(data.clone())));
        SnapshotBuilder {
            meta,
            data,
            dir: self.dir.clone(),
        }
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: SnapshotData,
    ) -> Result<(), io::Error> {
        let data = snapshot.into_inner();
        let tables = codec::decode_tables(&data).map_err(io_err)?;
        self.core.replace(tables);
        self.last_applied = meta.last_log_id;
        self.last_membership = meta.last_membership.clone();
        self.save_snapshot(meta, data)?;
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        Ok(self.current.as_ref().map(|(meta, data)| Snapshot {
            meta: meta.clone(),
            snapshot: Cursor::new(data.as_ref().clone()),
        }))
    }
}
