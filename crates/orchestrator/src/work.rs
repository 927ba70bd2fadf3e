//! The working set one reconcile pass edits: the service's stored tasks plus the tasks the pass
//! creates, which desired states moved, which tasks are to be deleted and the earliest time the
//! pass must run again; turned into a [`Plan`] at the end. Also the vocabulary the other modules
//! share: groups, node fitness, live and ended tasks.

use crate::{PENDING_MESSAGE, Plan};
use flotilla_model::{
    Availability, Meta, Node, NodeId, NodeState, Service, Task, TaskId, TaskState, TaskStatus,
    Timestamp, Version,
};
use std::collections::BTreeMap;
use std::time::Duration;

/// What tasks are grouped by: a slot (replicated services and jobs) or a node (global ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroupBy {
    /// The task's slot number.
    Slot,
    /// The task's node.
    Node,
}

/// One group's key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Key {
    /// A slot number.
    Slot(u64),
    /// A node (`None` for a task of a global service without one, which should not exist).
    Node(Option<NodeId>),
}

impl Key {
    /// The slot and node a new task of this group gets.
    pub(crate) fn placement(&self) -> (u64, Option<NodeId>) {
        match self {
            Key::Slot(s) => (*s, None),
            Key::Node(n) => (0, n.clone()),
        }
    }
}

/// Where a task's node stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeFit {
    /// Not assigned to a node yet.
    Unassigned,
    /// Up (ready, unknown or disconnected) and active.
    Active,
    /// Up and paused: keeps its tasks, takes no new ones.
    Paused,
    /// Up and drained: its tasks move elsewhere.
    Drained,
    /// Down: its tasks are lost.
    Down,
    /// Removed from the cluster.
    Missing,
}

/// How a node stands, for placing tasks on it.
pub(crate) fn node_fit(node: Option<&Node>) -> NodeFit {
    match node {
        None => NodeFit::Missing,
        Some(n) if n.status.state == NodeState::Down => NodeFit::Down,
        Some(n) => match n.spec.availability {
            Availability::Active => NodeFit::Active,
            Availability::Pause => NodeFit::Paused,
            Availability::Drain => NodeFit::Drained,
        },
    }
}

/// Desired state at most RUNNING: the orchestrator still wants the task.
pub(crate) fn is_live(t: &Task) -> bool {
    t.desired_state <= TaskState::Running
}

/// Observed state terminal: the task stopped.
pub(crate) fn has_ended(t: &Task) -> bool {
    t.status.state.is_terminal()
}

/// The task stopped by itself: its container exited, failed or never started. (SHUTDOWN answers
/// a request, ORPHANED a lost node.)
pub(crate) fn ended_by_itself(t: &Task) -> bool {
    matches!(
        t.status.state,
        TaskState::Complete | TaskState::Failed | TaskState::Rejected
    )
}

/// `t + d`, saturating.
pub(crate) fn after(t: Timestamp, d: Duration) -> Timestamp {
    Timestamp(t.0.saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)))
}

/// `t - d`, saturating at the epoch.
pub(crate) fn before(t: Timestamp, d: Duration) -> Timestamp {
    Timestamp(t.0.saturating_sub(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)))
}

/// The tasks of one service being reconciled, and what the pass changed.
pub(crate) struct Work<'a, 'b> {
    /// The time of this pass.
    pub(crate) now: Timestamp,
    /// Stored tasks first, then the ones this pass created. Indexes never change.
    pub(crate) tasks: Vec<Task>,
    /// How many of `tasks` are stored ones.
    stored: usize,
    /// Desired states of the stored tasks as read.
    read_desired: Vec<TaskState>,
    nodes: BTreeMap<&'a str, &'a Node>,
    new_id: &'b mut dyn FnMut() -> TaskId,
    wake: Option<Timestamp>,
    delete: Vec<TaskId>,
}

impl<'a, 'b> Work<'a, 'b> {
    /// A working set over `tasks` (all of one service).
    pub(crate) fn new(
        tasks: Vec<Task>,
        nodes: &'a [Node],
        now: Timestamp,
        new_id: &'b mut dyn FnMut() -> TaskId,
    ) -> Self {
        Self {
            now,
            stored: tasks.len(),
            read_desired: tasks.iter().map(|t| t.desired_state).collect(),
            tasks,
            nodes: nodes.iter().map(|n| (n.id.as_str(), n)).collect(),
            new_id,
            wake: None,
            delete: Vec::new(),
        }
    }

    /// A node by id.
    pub(crate) fn node(&self, id: &NodeId) -> Option<&'a Node> {
        self.nodes.get(id.as_str()).copied()
    }

    /// Every node, in id order.
    pub(crate) fn all_nodes(&self) -> Vec<&'a Node> {
        self.nodes.values().copied().collect()
    }

    /// Where the task at `i` stands with its node.
    pub(crate) fn fit(&self, i: usize) -> NodeFit {
        match &self.tasks[i].node_id {
            None => NodeFit::Unassigned,
            Some(id) => node_fit(self.node(id)),
        }
    }

    /// Whether the task at `i` was created by this pass.
    pub(crate) fn is_new(&self, i: usize) -> bool {
        i >= self.stored
    }

    /// Whether this pass moved the desired state of the stored task at `i`.
    pub(crate) fn is_changed(&self, i: usize) -> bool {
        self.read_desired
            .get(i)
            .is_some_and(|d| *d != self.tasks[i].desired_state)
    }

    /// Moves the desired state of the task at `i` forward to `to`; never backward.
    pub(crate) fn set_desired(&mut self, i: usize, to: TaskState) {
        let t = &mut self.tasks[i];
        if to > t.desired_state {
            t.desired_state = to;
        }
    }

    /// Creates a task of the service's current template in `key`'s group (slot, or node for
    /// global services), PENDING, with the given desired state; returns its index.
    pub(crate) fn create(&mut self, svc: &Service, key: &Key, desired: TaskState) -> usize {
        let (slot, node_id) = key.placement();
        let task = Task {
            id: (self.new_id)(),
            meta: Meta {
                version: Version::default(),
                created_at: self.now,
                updated_at: self.now,
            },
            service_id: svc.id.clone(),
            slot,
            node_id,
            spec: svc.spec.task_template.clone(),
            spec_version: svc.meta.version.0,
            desired_state: desired,
            status: TaskStatus {
                state: TaskState::Pending,
                timestamp: self.now,
                message: PENDING_MESSAGE.to_owned(),
                err: String::new(),
                exit_code: None,
            },
        };
        self.tasks.push(task);
        self.tasks.len() - 1
    }

    /// Marks the stored task at `i` for deletion.
    pub(crate) fn delete(&mut self, i: usize) {
        if !self.is_new(i) {
            self.delete.push(self.tasks[i].id.clone());
        }
    }

    /// Asks for another pass at `t` (the earliest asked for wins; times not after now are
    /// ignored, as this pass already saw them).
    pub(crate) fn wake_at(&mut self, t: Timestamp) {
        if t > self.now {
            self.wake = Some(self.wake.map_or(t, |w| w.min(t)));
        }
    }

    /// Task indexes by group, each group oldest first (by creation time, then id; tasks created
    /// by this pass last).
    pub(crate) fn groups(&self, by: GroupBy) -> BTreeMap<Key, Vec<usize>> {
        let mut groups: BTreeMap<Key, Vec<usize>> = BTreeMap::new();
        for (i, t) in self.tasks.iter().enumerate() {
            let key = match by {
                GroupBy::Slot => Key::Slot(t.slot),
                GroupBy::Node => Key::Node(t.node_id.clone()),
            };
            groups.entry(key).or_default().push(i);
        }
        for g in groups.values_mut() {
            g.sort_by(|&a, &b| {
                let ka = (
                    self.is_new(a),
                    self.tasks[a].meta.created_at,
                    &self.tasks[a].id,
                );
                let kb = (
                    self.is_new(b),
                    self.tasks[b].meta.created_at,
                    &self.tasks[b].id,
                );
                ka.cmp(&kb)
            });
        }
        groups
    }

    /// The plan: created tasks, stored tasks whose desired state moved, deletions, the service
    /// if it changed, and the wake-up time.
    pub(crate) fn into_plan(mut self, service: Option<Service>) -> Plan {
        let create = self.tasks.split_off(self.stored);
        let update = self
            .tasks
            .into_iter()
            .zip(self.read_desired)
            .filter(|(t, d)| t.desired_state != *d)
            .map(|(t, _)| t)
            .collect();
        Plan {
            create,
            update,
            delete: self.delete,
            service,
            wake_at: self.wake,
        }
    }
}
