//! The [`Store`] trait and [`MemStore`], the unreplicated store used by tests and single-process
//! tools.

use crate::core::{StoreCore, Watch};
use crate::error::StoreError;
use crate::tables::Tables;
use crate::tx::WriteTx;
use flotilla_model::{Timestamp, Version};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

/// A store of the cluster state.
///
/// To implement it correctly:
/// - `update` runs `f` on a consistent state, turns its writes into one changeset and commits it
///   all-or-nothing; a change based on a stale version is refused with `StoreError::Conflict`.
/// - Versions of successive commits strictly increase.
/// - `watch(v)` yields every commit after `v` once, in version order.
pub trait Store: Send + Sync + 'static {
    /// Runs `f` on the locally committed state (possibly behind the leader's on a follower).
    fn view<R>(&self, f: impl FnOnce(&Tables) -> R) -> R;

    /// Runs `f` on a state that includes every write acknowledged before this call began.
    fn linearizable_view<R, F>(&self, f: F) -> impl Future<Output = Result<R, StoreError>> + Send
    where
        F: FnOnce(&Tables) -> R + Send,
        R: Send;

    /// Runs a write transaction and commits it; returns `f`'s result and the commit version
    /// (the current version if `f` wrote nothing).
    fn update<R, F>(&self, f: F) -> impl Future<Output = Result<(R, Version), StoreError>> + Send
    where
        F: FnOnce(&mut WriteTx<'_>) -> Result<R, StoreError> + Send,
        R: Send;

    /// Watches commits after `from`.
    fn watch(&self, from: Version) -> Result<Watch, StoreError>;
}

/// Wall-clock now, for stamping changesets.
pub fn now() -> Timestamp {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    Timestamp(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// An in-memory, unreplicated store.
#[derive(Clone, Default)]
pub struct MemStore {
    core: Arc<StoreCore>,
    /// Serialises writers so versions are assigned in commit order.
    write_lock: Arc<Mutex<()>>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Store for MemStore {
    fn view<R>(&self, f: impl FnOnce(&Tables) -> R) -> R {
        self.core.read(f)
    }

    async fn linearizable_view<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&Tables) -> R + Send,
        R: Send,
    {
        Ok(self.core.read(f))
    }

    async fn update<R, F>(&self, f: F) -> Result<(R, Version), StoreError>
    where
        F: FnOnce(&mut WriteTx<'_>) -> Result<R, StoreError> + Send,
        R: Send,
    {
        let _w = self
            .write_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (r, cs, version) = self.core.transact(f)?;
        if cs.is_empty() {
            return Ok((r, version));
        }
        let next = Version(version.0 + 1);
        self.core.commit(&cs, next)?;
        Ok((r, next))
    }

    fn watch(&self, from: Version) -> Result<Watch, StoreError> {
        self.core.watch(from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memstore_passes_conformance() {
        crate::conformance::run_all(|| async { MemStore::new() }).await;
    }
}
