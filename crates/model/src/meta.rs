//! Object versions and timestamps.
//!
//! Every stored object carries a [`Meta`]. Its [`Version`] is the store's commit index of the
//! transaction that last wrote it; an update must carry the version it read, and a stale one is
//! refused (optimistic concurrency).

use serde::{Deserialize, Serialize};

/// The store commit index at which an object was last written. 0 means "never stored".
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Version(pub u64);

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Wall-clock time as nanoseconds since the Unix epoch, supplied by the caller.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// Nanoseconds since the epoch.
    pub fn as_nanos(self) -> u64 {
        self.0
    }
    /// Whole seconds since the epoch.
    pub fn as_secs(self) -> u64 {
        self.0 / 1_000_000_000
    }
}

/// Bookkeeping every stored object carries.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Meta {
    /// Version of the last write (see [`Version`]).
    pub version: Version,
    /// When the object was created.
    pub created_at: Timestamp,
    /// When the object was last written.
    pub updated_at: Timestamp,
}
