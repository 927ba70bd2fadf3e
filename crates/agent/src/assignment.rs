//! What the dispatcher sends a node: its tasks ([`AssignedTask`]) in updates
//! ([`AssignmentUpdate`]) stamped with the leader's Raft (term, index), and the [`Cursor`] that
//! refuses stale ones.

use flotilla_model::{Task, TaskId};

/// A task assigned to this node, with what the executor needs beyond the task itself.
#[derive(Debug, Clone, PartialEq)]
pub struct AssignedTask {
    /// The task as stored by the managers.
    pub task: Task,
    /// The name of its service (container names and labels carry it).
    pub service_name: String,
}

/// One message of the assignment stream.
#[derive(Debug, Clone, PartialEq)]
pub struct AssignmentUpdate {
    /// A complete update replaces the whole set; an incremental one applies `changed` and
    /// `removed`.
    pub complete: bool,
    /// The stream's sequence number (for logs).
    pub sequence: u64,
    /// The leader's Raft term when it sent this.
    pub term: u64,
    /// The Raft log index the update reflects.
    pub index: u64,
    /// Tasks new or changed (all of them, for a complete update).
    pub changed: Vec<AssignedTask>,
    /// Tasks no longer assigned (empty for a complete update).
    pub removed: Vec<TaskId>,
}

/// The (term, index) of the last update applied; refuses anything older.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    last: Option<(u64, u64)>,
}

impl Cursor {
    /// Whether an update stamped (`term`, `index`) may be applied: not lower than the last
    /// applied one, compared term first. Accepting it moves the cursor.
    pub fn accept(&mut self, term: u64, index: u64) -> bool {
        let at = (term, index);
        if self.last.is_some_and(|last| at < last) {
            return false;
        }
        self.last = Some(at);
        true
    }

    /// The last (term, index) applied.
    pub fn last(&self) -> Option<(u64, u64)> {
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_refuses_older_stamps_only() {
        let mut c = Cursor::default();
        assert!(c.accept(2, 10));
        assert!(c.accept(2, 10), "the same stamp again is not stale");
        assert!(c.accept(2, 11));
        assert!(!c.accept(2, 9));
        assert!(!c.accept(1, 100), "an older term loses whatever its index");
        assert!(c.accept(3, 1), "a newer term wins whatever its index");
        assert_eq!(c.last(), Some((3, 1)));
    }
}
