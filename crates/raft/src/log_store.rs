//! The durable Raft log and vote, in one redb database.
//!
//! Tables: `log` maps an entry's index to its JSON-encoded openraft entry; `meta` holds the vote,
//! the last purged log id and the last committed log id. Every write that openraft must be able
//! to trust after a crash (entries, vote, purge) is a redb transaction with
//! `Durability::Immediate`: it is fsynced before the call returns, and only then is openraft told
//! the entries are flushed. redb commits are atomic with checksummed commit slots, so a crash in
//! the middle of a write leaves the previous commit intact. [`LogStore::open`] also reads every
//! entry once and refuses to start on an undecodable entry or a hole, rather than serve a wrong
//! state.

use crate::error::RaftError;
use crate::types::{Entry, LogId, TypeConfig, Vote};
use openraft::OptionalSend;
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const VOTE_KEY: &str = "vote";
const PURGED_KEY: &str = "last_purged";
const COMMITTED_KEY: &str = "committed";

/// The Raft log store. Cloning shares the database (readers and the writer).
#[derive(Clone)]
pub struct LogStore {
    db: Arc<Database>,
}

fn io_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

impl LogStore {
    /// Opens (or creates) the log at `path` and checks every entry decodes and that the indexes
    /// are contiguous.
    pub fn open(path: &Path) -> Result<Self, RaftError> {
        let db = Database::create(path).map_err(|e| RaftError::OpenLog {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        let store = Self { db: Arc::new(db) };
        store.init_tables().map_err(|e| RaftError::OpenLog {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        store.verify(path)?;
        Ok(store)
    }

    /// How many handles share the database (this one included).
    pub fn handles(&self) -> usize {
        Arc::strong_count(&self.db)
    }

    fn init_tables(&self) -> Result<(), redb::Error> {
        let tx = self.db.begin_write()?;
        tx.open_table(LOG)?;
        tx.open_table(META)?;
        tx.commit()?;
        Ok(())
    }

    fn verify(&self, path: &Path) -> Result<(), RaftError> {
        let damaged = |index: u64, reason: String| RaftError::DamagedLog {
            path: PathBuf::from(path),
            index,
            reason,
        };
        let read = self
            .db
            .begin_read()
            .map_err(|e| damaged(0, e.to_string()))?;
        let table = read
            .open_table(LOG)
            .map_err(|e| damaged(0, e.to_string()))?;
        let mut expected: Option<u64> = None;
        for item in table.iter().map_err(|e| damaged(0, e.to_string()))? {
            let (k, v) = item.map_err(|e| damaged(expected.unwrap_or(0), e.to_string()))?;
            let index = k.value();
            let entry: Entry = serde_json::from_slice(v.value())
                .map_err(|e| damaged(index, format!("entry does not decode: {e}")))?;
            if entry.log_id.index != index {
                return Err(damaged(
                    index,
                    format!("entry claims index {}", entry.log_id.index),
                ));
            }
            if let Some(exp) = expected
                && index != exp
            {
                return Err(damaged(
                    exp,
                    format!("hole in the log: next entry is {index}"),
                ));
            }
            expected = Some(index + 1);
        }
        for key in [VOTE_KEY, PURGED_KEY, COMMITTED_KEY] {
            let meta = read
                .open_table(META)
                .map_err(|e| damaged(0, e.to_string()))?;
            if let Some(v) = meta.get(key).map_err(|e| damaged(0, e.to_string()))? {
                serde_json::from_slice::<serde_json::Value>(v.value())
                    .map_err(|e| damaged(0, format!("{key} does not decode: {e}")))?;
            }
        }
        Ok(())
    }

    fn get_meta<T: serde::de::DeserializeOwned>(&self, key: &str) -> io::Result<Option<T>> {
        let read = self.db.begin_read().map_err(io_err)?;
        let t = read.open_table(META).map_err(io_err)?;
        match t.get(key).map_err(io_err)? {
            Some(v) => Ok(Some(serde_json::from_slice(v.value()).map_err(io_err)?)),
            None => Ok(None),
        }
    }

    fn put_meta<T: serde::Serialize>(
        &self,
        key: &str,
        value: &T,
        durability: Durability,
    ) -> io::Result<()> {
        let bytes = serde_json::to_vec(value).map_err(io_err)?;
        let mut tx = self.db.begin_write().map_err(io_err)?;
        tx.set_durability(durability).map_err(io_err)?;
        {
            let mut t = tx.open_table(META).map_err(io_err)?;
            t.insert(key, bytes.as_slice()).map_err(io_err)?;
        }
        tx.commit().map_err(io_err)
    }

    fn last_entry_id(&self) -> io::Result<Option<LogId>> {
        let read = self.db.begin_read().map_err(io_err)?;
        let t = read.open_table(LOG).map_err(io_err)?;
        match t.last().map_err(io_err)? {
            Some((_, v)) => {
                let e: Entry = serde_json::from_slice(v.value()).map_err(io_err)?;
                Ok(Some(e.log_id))
            }
            None => Ok(None),
        }
    }

    /// Runs blocking redb work off the async runtime.
    async fn blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&LogStore) -> io::Result<R> + Send + 'static,
    ) -> io::Result<R> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || f(&me))
            .await
            .map_err(io_err)?
    }
}

fn bounds<RB: RangeBounds<u64>>(range: &RB) -> (u64, Option<u64>) {
    let start = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => Some(e),
        Bound::Excluded(&e) => e.checked_sub(1),
        Bound::Unbounded => None,
    };
    (start, end)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let (start, end) = bounds(&range);
        if range.end_bound() == Bound::Excluded(&0) {
            return Ok(Vec::new());
        }
        self.blocking(move |s| {
            let read = s.db.begin_read().map_err(io_err)?;
            let t = read.open_table(LOG).map_err(io_err)?;
            let iter = match end {
                Some(e) if e < start => return Ok(Vec::new()),
                Some(e) => t.range(start..=e).map_err(io_err)?,
                None => t.range(start..).map_err(io_err)?,
            };
            let mut out = Vec::new();
            for item in iter {
                let (_, v) = item.map_err(io_err)?;
                out.push(serde_json::from_slice::<Entry>(v.value()).map_err(io_err)?);
            }
            Ok(out)
        })
        .await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        self.get_meta(VOTE_KEY)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let last_purged_log_id: Option<LogId> = self.get_meta(PURGED_KEY)?;
        let last_log_id = self.last_entry_id()?.or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        let vote = *vote;
        self.blocking(move |s| s.put_meta(VOTE_KEY, &vote, Durability::Immediate))
            .await
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        // Not needed for safety (openraft recovers the commit index from a quorum), so it rides
        // on the next durable commit instead of paying an fsync of its own.
        self.blocking(move |s| s.put_meta(COMMITTED_KEY, &committed, Durability::None))
            .await
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        Ok(self.get_meta::<Option<LogId>>(COMMITTED_KEY)?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut encoded = Vec::new();
        for e in entries {
            encoded.push((e.log_id.index, serde_json::to_vec(&e).map_err(io_err)?));
        }
        let res = self
            .blocking(move |s| {
                let mut tx = s.db.begin_write().map_err(io_err)?;
                tx.set_durability(Durability::Immediate).map_err(io_err)?;
                {
                    let mut t = tx.open_table(LOG).map_err(io_err)?;
                    for (index, bytes) in &encoded {
                        t.insert(*index, bytes.as_slice()).map_err(io_err)?;
                    }
                }
                // Commit with Immediate durability returns only after fsync.
                tx.commit().map_err(io_err)
            })
            .await;
        match res {
            Ok(()) => {
                callback.io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.io_completed(Err(io::Error::new(e.kind(), e.to_string())));
                Err(e)
            }
        }
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let from = last_log_id.map_or(0, |l| l.index + 1);
        self.blocking(move |s| {
            let mut tx = s.db.begin_write().map_err(io_err)?;
            tx.set_durability(Durability::Immediate).map_err(io_err)?;
            {
                let mut t = tx.open_table(LOG).map_err(io_err)?;
                t.retain_in(from.., |_, _| false).map_err(io_err)?;
            }
            tx.commit().map_err(io_err)
        })
        .await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        self.blocking(move |s| {
            let bytes = serde_json::to_vec(&log_id).map_err(io_err)?;
            let mut tx = s.db.begin_write().map_err(io_err)?;
            tx.set_durability(Durability::Immediate).map_err(io_err)?;
            {
                let mut meta = tx.open_table(META).map_err(io_err)?;
                meta.insert(PURGED_KEY, bytes.as_slice()).map_err(io_err)?;
                let mut t = tx.open_table(LOG).map_err(io_err)?;
                t.retain_in(..=log_id.index, |_, _| false).map_err(io_err)?;
            }
            tx.commit().map_err(io_err)
        })
        .await
    }
}
