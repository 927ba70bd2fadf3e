//! Changesets (what a transaction asks for) and commits (what a store applied).

use flotilla_model::{Kind, Object, Timestamp, Version};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One requested change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Change {
    /// Create an object; its id and (if it has one) name must be free.
    Create(Object),
    /// Replace an object; `meta.version` is the version the writer read and must still be current.
    Update(Object),
    /// Delete an object that must still be at `expected`.
    Delete {
        /// Kind.
        kind: Kind,
        /// Id.
        id: String,
        /// Version the writer read.
        expected: Version,
    },
}

/// The changes of one transaction, applied all-or-nothing.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Changeset {
    /// The changes, in order.
    pub changes: Vec<Change>,
    /// Wall-clock time of the transaction, stamped by the proposer so every replica records the
    /// same `created_at`/`updated_at`.
    pub timestamp: Timestamp,
}

impl Changeset {
    /// True if there is nothing to apply.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// What one applied change did.
// Events are short-lived and moved once into a shared commit; boxing would only add allocations.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An object appeared.
    Created(Object),
    /// An object changed from `old` to `new`.
    Updated {
        /// Before.
        old: Object,
        /// After.
        new: Object,
    },
    /// An object went away.
    Deleted(Object),
}

impl Event {
    /// The object as it is after the event (or was, for deletions).
    pub fn object(&self) -> &Object {
        match self {
            Event::Created(o) | Event::Deleted(o) => o,
            Event::Updated { new, .. } => new,
        }
    }
}

/// One committed changeset, as watchers see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    /// The store version this commit produced.
    pub version: Version,
    /// What changed.
    pub events: Vec<Event>,
}

/// Commits are shared between watchers.
pub type SharedCommit = Arc<Commit>;
