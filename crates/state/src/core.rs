//! [`StoreCore`]: the committed tables and the watch fan-out every `Store` shares.
//!
//! Commits are applied under the tables' write lock and published to watchers while that lock is
//! still held; [`StoreCore::watch`] takes the read lock to copy the retained history and subscribe,
//! so a watcher sees every commit after its starting version exactly once, in order.

use crate::changeset::{Changeset, Commit, SharedCommit};
use crate::error::StoreError;
use crate::tables::Tables;
use crate::tx::WriteTx;
use flotilla_model::Version;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use tokio::sync::broadcast;

/// Commits kept for watchers that start from an older version.
pub const HISTORY_LEN: usize = 4096;
/// Commits a live watcher may lag behind before it is cut off.
const CHANNEL_LEN: usize = 4096;

/// Committed state plus watchers.
pub struct StoreCore {
    tables: RwLock<Tables>,
    fanout: Mutex<Fanout>,
}

struct Fanout {
    history: VecDeque<SharedCommit>,
    sender: broadcast::Sender<SharedCommit>,
}

impl Default for StoreCore {
    fn default() -> Self {
        Self::new(Tables::new())
    }
}

impl StoreCore {
    /// A core over existing tables (empty history).
    pub fn new(tables: Tables) -> Self {
        let (sender, _) = broadcast::channel(CHANNEL_LEN);
        Self {
            tables: RwLock::new(tables),
            fanout: Mutex::new(Fanout {
                history: VecDeque::new(),
                sender,
            }),
        }
    }

    /// Runs `f` on the committed tables.
    pub fn read<R>(&self, f: impl FnOnce(&Tables) -> R) -> R {
        let t = self.tables.read().unwrap_or_else(PoisonError::into_inner);
        f(&t)
    }

    /// Runs a write transaction on the committed tables and returns its result, the changeset
    /// it asks for (stamped now) and the version it read. Nothing is committed here.
    pub fn transact<R>(
        &self,
        f: impl FnOnce(&mut WriteTx<'_>) -> Result<R, StoreError>,
    ) -> Result<(R, Changeset, Version), StoreError> {
        self.read(|t| {
            let mut tx = WriteTx::new(t);
            let r = f(&mut tx)?;
            Ok((r, tx.into_changeset(crate::store::now()), t.version()))
        })
    }

    /// The version of the last commit.
    pub fn version(&self) -> Version {
        self.read(Tables::version)
    }

    /// Applies `cs` as version `version` and publishes it. Nothing changes if it is refused.
    pub fn commit(&self, cs: &Changeset, version: Version) -> Result<SharedCommit, StoreError> {
        let mut t = self.tables.write().unwrap_or_else(PoisonError::into_inner);
        let events = t.apply(cs, version)?;
        let commit = Arc::new(Commit { version, events });
        let mut f = self.fanout();
        if f.history.len() == HISTORY_LEN {
            f.history.pop_front();
        }
        f.history.push_back(commit.clone());
        // No receivers is fine: nobody is watching.
        let _ = f.sender.send(commit.clone());
        drop(f);
        drop(t);
        Ok(commit)
    }

    /// Replaces the whole state (a snapshot was installed). Watchers are cut off and must
    /// start again from the new version.
    pub fn replace(&self, tables: Tables) {
        let mut t = self.tables.write().unwrap_or_else(PoisonError::into_inner);
        *t = tables;
        let mut f = self.fanout();
        f.history.clear();
        let (sender, _) = broadcast::channel(CHANNEL_LEN);
        f.sender = sender;
    }

    /// Watches every commit after `from`.
    pub fn watch(&self, from: Version) -> Result<Watch, StoreError> {
        let t = self.tables.read().unwrap_or_else(PoisonError::into_inner);
        let f = self.fanout();
        let current = t.version();
        let backlog: VecDeque<SharedCommit> = if from >= current {
            VecDeque::new()
        } else {
            let oldest = f
                .history
                .front()
                .map_or(current, |c| Version(c.version.0.saturating_sub(1)));
            // History must hold the commit right after `from`; versions may have gaps (Raft
            // indexes of membership entries), so compare against the predecessor of the oldest.
            if from < oldest {
                return Err(StoreError::Compacted { from, oldest });
            }
            f.history
                .iter()
                .filter(|c| c.version > from)
                .cloned()
                .collect()
        };
        Ok(Watch {
            backlog,
            rx: f.sender.subscribe(),
            last: from.max(Version(0)),
        })
    }

    fn fanout(&self) -> MutexGuard<'_, Fanout> {
        self.fanout.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A stream of commits after some version.
pub struct Watch {
    backlog: VecDeque<SharedCommit>,
    rx: broadcast::Receiver<SharedCommit>,
    last: Version,
}

impl Watch {
    /// The next commit. Fails with `Compacted` if this watcher fell too far behind, or with
    /// `Unavailable` if the state was replaced wholesale; either way, read the state again and
    /// start a new watch.
    pub async fn next(&mut self) -> Result<SharedCommit, StoreError> {
        loop {
            let c = match self.backlog.pop_front() {
                Some(c) => c,
                None => match self.rx.recv().await {
                    Ok(c) => c,
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        return Err(StoreError::Compacted {
                            from: self.last,
                            oldest: self.last,
                        });
                    }
                    Err(broadcast::error::RecvError::Closed) => {
                        return Err(StoreError::Unavailable(
                            "the state was replaced by a snapshot".into(),
                        ));
                    }
                },
            };
            if c.version > self.last {
                self.last = c.version;
                return Ok(c);
            }
        }
    }

    /// Version of the last commit returned.
    pub fn last_version(&self) -> Version {
        self.last
    }
}
