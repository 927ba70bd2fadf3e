//! The orchestrators: pure decisions that turn one service and its tasks into task changes.
//!
//! [`reconcile`] looks at one service (or its absence once deleted), every task it owns and every
//! node, and returns a [`Plan`]: tasks to create, tasks whose desired state moves forward, tasks
//! to delete, the service itself when its update status (or, on an automatic rollback, its spec)
//! changes, and when it must be asked again. The leader's supervisor calls it after any change to
//! the service, its tasks or the nodes, and again at [`Plan::wake_at`], and writes the plan in one
//! store transaction; the versions the plan's objects carry make a plan computed from a stale
//! view fail instead of overwriting newer state.
//!
//! Architecture invariant: no I/O, no clock (`now` is passed in), no randomness (new task ids come
//! from the caller), and no memory between calls. Everything is derived from the stored objects:
//!
//! - **Groups.** A replicated service's tasks are grouped by slot (1-based), a global service's by
//!   node. Within a group tasks are ordered by `meta.created_at` (the store's commit time). A
//!   task is *live* while its desired state is at most RUNNING; the group's newest live task is
//!   its *occupant*.
//! - **Desired states.** Scaling down and deleting the service set REMOVE (Docker's choice: the
//!   reaper then deletes the task once it stopped). Restarts, updates, lost nodes and drained,
//!   paused or ineligible nodes set SHUTDOWN, which keeps the task as history.
//! - **Restarts** (`restart`). A live task that ended, or whose node is down, gone or (for
//!   replicated services) drained, is shut down and, if its restart policy allows, replaced in the
//!   same group by a *new* task with desired state READY, told to run once the restart delay has
//!   passed since the replacement was created and the task it replaces has stopped. A group whose
//!   newest task ended by itself and may not restart *rests*: it counts as occupied and is not
//!   refilled.
//! - **Rolling updates** (`update`). While the service's update status is `updating` or
//!   `rollback_started`, tasks whose spec differs from the service's task template are replaced,
//!   at most `parallelism` groups at a time. A task of the current template created at or after
//!   the update status's `started_at` belongs to the rollout; see `update` for how batches,
//!   delays, monitor windows and failures are read back from those tasks.
//! - **History** (`history`). Finished tasks beyond the retention limit are deleted, oldest
//!   first, per group.
//!
//! Modules: `replicated` (slots and scaling), `global` (one task per eligible node), `jobs`
//! (run-to-completion services), `restart` (restart policy and delayed starts), `update`
//! (rolling update and rollback), `history` (task reaper), and `work`, the working set they
//! edit.

mod global;
mod history;
mod jobs;
mod replicated;
mod restart;
mod update;
mod work;

#[cfg(test)]
mod sim;

use flotilla_model::{Node, Service, ServiceMode, Task, TaskId, TaskSpec, Timestamp};
use std::time::Duration;
use work::{GroupBy, Work};

/// Finished tasks kept per slot (per node for global services): Docker's `--task-history-limit`.
pub const DEFAULT_TASK_HISTORY_LIMIT: usize = 5;

/// How long a replacement waits for the task it replaces to stop before it starts anyway
/// (SwarmKit's `defaultOldTaskTimeout`).
pub const OLD_TASK_TIMEOUT: Duration = Duration::from_secs(60);

/// Status message of a task waiting for the scheduler.
pub const PENDING_MESSAGE: &str = "pending task scheduling";

/// Everything one reconcile pass looks at.
pub struct Input<'a> {
    /// The service; `None` once it was deleted (its tasks are then stopped and deleted).
    pub service: Option<&'a Service>,
    /// Every task of the service (tasks of other services are ignored).
    pub tasks: &'a [Task],
    /// Every node of the cluster.
    pub nodes: &'a [Node],
    /// Whether a node may run a task of this spec (constraints, platform, resources): supplied
    /// by the scheduler so this crate does not depend on it. Used for global services.
    pub eligible: &'a dyn Fn(&Node, &TaskSpec) -> bool,
    /// Finished tasks kept per slot or node (at least one is always kept).
    pub history_limit: usize,
}

impl<'a> Input<'a> {
    /// An input with the default history limit.
    pub fn new(
        service: Option<&'a Service>,
        tasks: &'a [Task],
        nodes: &'a [Node],
        eligible: &'a dyn Fn(&Node, &TaskSpec) -> bool,
    ) -> Self {
        Self {
            service,
            tasks,
            nodes,
            eligible,
            history_limit: DEFAULT_TASK_HISTORY_LIMIT,
        }
    }
}

/// What a reconcile pass decided; empty when nothing needs to change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// New tasks (status PENDING, desired READY or RUNNING), with fresh ids.
    pub create: Vec<Task>,
    /// Stored tasks whose desired state moved forward, in full, carrying the version they were
    /// read at.
    pub update: Vec<Task>,
    /// Stored tasks to delete.
    pub delete: Vec<TaskId>,
    /// The service, when its update status or (after an automatic rollback) its spec changed.
    pub service: Option<Service>,
    /// When reconcile must run again even if nothing else changes (restart delays, update
    /// delays, monitor windows, waits for old tasks to stop).
    pub wake_at: Option<Timestamp>,
}

impl Plan {
    /// True when the plan changes nothing (a wake-up time alone is not a change).
    pub fn is_empty(&self) -> bool {
        self.create.is_empty()
            && self.update.is_empty()
            && self.delete.is_empty()
            && self.service.is_none()
    }
}

/// Decides what must change for the service's tasks to match its spec at `now`.
///
/// `new_id` is called once per task created. The result depends only on the arguments.
pub fn reconcile(input: &Input<'_>, now: Timestamp, new_id: &mut dyn FnMut() -> TaskId) -> Plan {
    let tasks: Vec<Task> = match input.service {
        Some(s) => input
            .tasks
            .iter()
            .filter(|t| t.service_id == s.id)
            .cloned()
            .collect(),
        None => input.tasks.to_vec(),
    };
    let mut w = Work::new(tasks, input.nodes, now, new_id);
    let Some(original) = input.service else {
        history::remove_all(&mut w);
        return w.into_plan(None);
    };
    let mut svc = original.clone();
    match svc.spec.mode {
        ServiceMode::Replicated { replicas } => {
            if let Some(next) = update::check(&w, &svc, GroupBy::Slot) {
                svc = next;
            }
            let scope = replicated::reconcile(&mut w, &svc, replicas);
            restart::promote(&mut w, GroupBy::Slot);
            update::retire_replaced(&mut w, GroupBy::Slot);
            update::advance(&mut w, &mut svc, GroupBy::Slot, &scope);
            history::retain(&mut w, GroupBy::Slot, input.history_limit, &svc);
        }
        ServiceMode::Global => {
            if let Some(next) = update::check(&w, &svc, GroupBy::Node) {
                svc = next;
            }
            let scope = global::reconcile(&mut w, &svc, input.eligible);
            restart::promote(&mut w, GroupBy::Node);
            update::retire_replaced(&mut w, GroupBy::Node);
            update::advance(&mut w, &mut svc, GroupBy::Node, &scope);
            history::retain(&mut w, GroupBy::Node, input.history_limit, &svc);
        }
        ServiceMode::ReplicatedJob {
            max_concurrent,
            total_completions,
        } => {
            jobs::finish_update(&mut svc, now);
            jobs::replicated(&mut w, &svc, max_concurrent, total_completions);
            restart::promote(&mut w, GroupBy::Slot);
            history::retain(&mut w, GroupBy::Slot, input.history_limit, &svc);
        }
        ServiceMode::GlobalJob => {
            jobs::finish_update(&mut svc, now);
            jobs::global(&mut w, &svc, input.eligible);
            restart::promote(&mut w, GroupBy::Node);
            history::retain(&mut w, GroupBy::Node, input.history_limit, &svc);
        }
    }
    let changed = (svc != *original).then_some(svc);
    w.into_plan(changed)
}
