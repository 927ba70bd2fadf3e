//! [`StoreError`]: every way a store operation can fail.

use flotilla_model::{Kind, ValidationError, Version};

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum StoreError {
    /// No object of that kind has that id (or name).
    #[error("{kind} {id} not found")]
    NotFound {
        /// Kind looked up.
        kind: Kind,
        /// Id or name looked up.
        id: String,
    },
    /// A short id prefix matches more than one object.
    #[error("{kind} reference {reference:?} is ambiguous: it matches {matches} objects")]
    Ambiguous {
        /// Kind.
        kind: Kind,
        /// The reference given.
        reference: String,
        /// How many objects match.
        matches: usize,
    },
    /// An object with that id already exists.
    #[error("{kind} {id} already exists")]
    AlreadyExists {
        /// Kind.
        kind: Kind,
        /// Id.
        id: String,
    },
    /// Another object of the kind already has that name.
    #[error("{kind} name {name:?} is already in use by {existing_id}")]
    NameConflict {
        /// Kind.
        kind: Kind,
        /// The contested name.
        name: String,
        /// The object that holds it.
        existing_id: String,
    },
    /// The write was based on a version that is no longer current.
    #[error(
        "update out of sequence: {kind} {id} is at version {current}, the update was based on version {given}"
    )]
    Conflict {
        /// Kind.
        kind: Kind,
        /// Id.
        id: String,
        /// Version the writer read.
        given: Version,
        /// Version now stored.
        current: Version,
    },
    /// A spec failed validation.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// This node cannot accept writes; the leader (if known) can.
    #[error("not the leader{}", leader.as_ref().map(|l| format!("; the leader is at {l}")).unwrap_or_default())]
    NotLeader {
        /// Address of the current leader, if known.
        leader: Option<String>,
    },
    /// A watcher fell too far behind, or asked for history that is gone.
    #[error("watch from version {from} is no longer possible: history starts at {oldest}")]
    Compacted {
        /// Version asked for.
        from: Version,
        /// Oldest version still available.
        oldest: Version,
    },
    /// The store is shutting down or its replication failed.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}
