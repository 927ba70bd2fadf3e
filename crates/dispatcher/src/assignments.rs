//! Assignment sets: which tasks a node must know about, and the numbered messages that keep a
//! session's view of them current.
//!
//! A node's set is every task assigned to it that the scheduler released, i.e. observed
//! ASSIGNED or later ([`node_tasks`]); a PENDING task that already names a node (a global
//! service's) is not the node's yet. An [`AssignmentTracker`] remembers the last set it sent: the
//! first message of a session is [`AssignmentKind::Complete`], later ones
//! [`AssignmentKind::Incremental`] with only the tasks that changed and the ids that left. Each
//! message takes the next sequence number; the daemon adds the leader's (term, index) and the
//! services' names.

use flotilla_model::{ServiceId, Task, TaskId, TaskState};
use flotilla_state::{ReadTx, Tables};
use std::collections::BTreeMap;

/// Every task assigned to `node_id` and observed ASSIGNED or later, by id.
pub fn node_tasks(tables: &Tables, node_id: &str) -> BTreeMap<TaskId, Task> {
    tables
        .task_ids_of_node(node_id)
        .filter_map(|id| tables.task(id))
        .filter(|t| {
            t.status.state >= TaskState::Assigned
                && t.node_id.as_ref().is_some_and(|n| n.as_str() == node_id)
        })
        .map(|t| (t.id.clone(), t.clone()))
        .collect()
}

/// The names of the services of `tasks` (services that no longer exist are left out).
pub fn service_names(tables: &Tables, tasks: &[Task]) -> BTreeMap<ServiceId, String> {
    tasks
        .iter()
        .filter_map(|t| tables.service(t.service_id.as_str()))
        .map(|s| (s.id.clone(), s.spec.name.clone()))
        .collect()
}

/// Whether an assignment message carries the whole set or only what changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignmentKind {
    /// The node's whole set: anything the node knows and is not in it is gone.
    Complete,
    /// Only the tasks that changed or left since the previous message.
    Incremental,
}

/// One assignment message, before the daemon adds (term, index) and service names.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// Complete or incremental.
    pub kind: AssignmentKind,
    /// Position in the session, from 1, one more per message.
    pub sequence: u64,
    /// Tasks new or changed (every task, for a complete message), in id order.
    pub changed: Vec<Task>,
    /// Tasks no longer assigned (always empty for a complete message), in id order.
    pub removed: Vec<TaskId>,
}

/// One session's memory of what it sent.
#[derive(Debug, Clone, Default)]
pub struct AssignmentTracker {
    sequence: u64,
    last: BTreeMap<TaskId, Task>,
}

impl AssignmentTracker {
    /// A tracker that has sent nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// The sequence number of the last message made (0 before the first).
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// A complete message with the whole set `tasks`.
    pub fn complete(&mut self, tasks: BTreeMap<TaskId, Task>) -> Assignment {
        self.sequence += 1;
        let changed = tasks.values().cloned().collect();
        self.last = tasks;
        Assignment {
            kind: AssignmentKind::Complete,
            sequence: self.sequence,
            changed,
            removed: Vec::new(),
        }
    }

    /// An incremental message from the last set to `tasks`, or `None` if nothing changed.
    pub fn incremental(&mut self, tasks: BTreeMap<TaskId, Task>) -> Option<Assignment> {
        let changed: Vec<Task> = tasks
            .iter()
            .filter(|(id, t)| self.last.get(*id) != Some(*t))
            .map(|(_, t)| t.clone())
            .collect();
        let removed: Vec<TaskId> = self
            .last
            .keys()
            .filter(|id| !tasks.contains_key(*id))
            .cloned()
            .collect();
        if changed.is_empty() && removed.is_empty() {
            return None;
        }
        self.sequence += 1;
        self.last = tasks;
        Some(Assignment {
            kind: AssignmentKind::Incremental,
            sequence: self.sequence,
            changed,
            removed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{service, task};
    use flotilla_model::{Object, Version};

    fn set(tasks: &[Task]) -> BTreeMap<TaskId, Task> {
        tasks.iter().map(|t| (t.id.clone(), t.clone())).collect()
    }

    #[test]
    fn a_node_gets_its_released_tasks_only() {
        let mine = task("t1", Some("n1"), TaskState::Running);
        let pending_here = task("t2", Some("n1"), TaskState::Pending);
        let elsewhere = task("t3", Some("n2"), TaskState::Assigned);
        let nowhere = task("t4", None, TaskState::Pending);
        let t = Tables::from_objects(
            Version(3),
            [mine, pending_here, elsewhere, nowhere].map(Object::from),
        );
        let ids: Vec<TaskId> = node_tasks(&t, "n1").into_keys().collect();
        assert_eq!(ids, [TaskId::from("t1")]);
        assert!(node_tasks(&t, "n9").is_empty());
    }

    #[test]
    fn service_names_cover_the_tasks_services() {
        let t = Tables::from_objects(Version(1), [Object::from(service("svc", "web"))]);
        let tasks = [
            task("t1", Some("n1"), TaskState::Running),
            task("t2", Some("n1"), TaskState::Running),
        ];
        let mut orphan = task("t3", Some("n1"), TaskState::Running);
        orphan.service_id = "gone".into();
        let names = service_names(&t, &[tasks[0].clone(), tasks[1].clone(), orphan]);
        assert_eq!(names.len(), 1);
        assert_eq!(
            names.get(&ServiceId::from("svc")).map(String::as_str),
            Some("web")
        );
    }

    #[test]
    fn complete_then_only_changes() {
        let a = task("a", Some("n1"), TaskState::Assigned);
        let b = task("b", Some("n1"), TaskState::Assigned);
        let mut tr = AssignmentTracker::new();
        let first = tr.complete(set(&[a.clone(), b.clone()]));
        assert_eq!(first.kind, AssignmentKind::Complete);
        assert_eq!(first.sequence, 1);
        assert_eq!(first.changed, [a.clone(), b.clone()]);
        assert!(first.removed.is_empty());

        assert_eq!(tr.incremental(set(&[a.clone(), b.clone()])), None);
        assert_eq!(tr.sequence(), 1);

        let mut b2 = b.clone();
        b2.desired_state = TaskState::Shutdown;
        let c = task("c", Some("n1"), TaskState::Assigned);
        let next = tr
            .incremental(set(&[b2.clone(), c.clone()]))
            .expect("something changed");
        assert_eq!(next.kind, AssignmentKind::Incremental);
        assert_eq!(next.sequence, 2);
        assert_eq!(next.changed, [b2.clone(), c.clone()]);
        assert_eq!(next.removed, [TaskId::from("a")]);

        // A new complete message starts from the set it carries.
        let again = tr.complete(set(std::slice::from_ref(&c)));
        assert_eq!(again.sequence, 3);
        assert_eq!(tr.incremental(set(&[c])), None);
    }
}
