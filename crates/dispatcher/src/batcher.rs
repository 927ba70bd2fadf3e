//! [`StatusBatcher`]: task statuses from agents, committed in batches.
//!
//! Agents' reports are queued by [`StatusBatcher::submit`], which resolves once the batch holding
//! them is committed. [`StatusBatcher::run`] commits everything queued as one transaction (one
//! Raft proposal): at once when the previous batch is at least a tick old, otherwise a tick after
//! it, so a steady stream of reports costs one proposal per tick. Within the transaction each
//! report must pass [`apply_status`] against the task as it is then, and is skipped, without
//! failing the batch, when the task is gone, is assigned to another node than the reporter, or
//! would not move forward. Reports are applied in the order they were submitted, so for a task
//! reported several times in a batch the furthest state wins. A batch refused for a version
//! conflict is retried from a fresh read a couple of times before its submitters get the error.

use crate::error::DispatchError;
use flotilla_model::{NodeId, Task, TaskId, TaskStatus, Version};
use flotilla_state::{ReadTx, Store, StoreError, WriteTx};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::{Notify, oneshot, watch};
use tokio::time::Instant;

/// The default least time between the starts of two batches: at most 200 proposals a second
/// however many nodes report, and a report that finds the batcher idle for 5 ms is committed at
/// once (a task's RUNNING, reported right after its STARTING, waits at most this long).
pub const DEFAULT_TICK: Duration = Duration::from_millis(5);

/// Attempts at committing one batch (the first plus retries after version conflicts).
const ATTEMPTS: u32 = 3;

/// Reported statuses, by task.
type Updates = Vec<(TaskId, TaskStatus)>;
/// Where a submitter waits for its batch.
type Reply = oneshot::Sender<Result<(), DispatchError>>;

/// One node's reports, waiting for the next batch.
struct Submission {
    node_id: NodeId,
    updates: Updates,
    reply: Reply,
}

#[derive(Default)]
struct Queue {
    /// Set when `run` ended: nothing will commit new submissions.
    stopped: bool,
    submissions: Vec<Submission>,
}

/// Queues task statuses and commits them in batches; see the module documentation.
pub struct StatusBatcher<S> {
    store: S,
    tick: Duration,
    queue: Mutex<Queue>,
    queued: Notify,
}

/// What one batch did.
#[derive(Debug, Default)]
struct Outcome {
    applied: usize,
    missing: usize,
    unchanged: usize,
    /// Refused reports: (task, reporter, the node the task is assigned to).
    foreign: Vec<(TaskId, NodeId, Option<NodeId>)>,
}

/// `task` with `status` applied, or `None` if the status would not move it forward.
///
/// A later state is taken with its timestamp, message, error and exit code (the state moves as
/// [`Task::advance`] moves it). The same state is taken only if something else about it changed
/// (a progress message, say) and the state is not terminal: a finished task's status is final.
/// An earlier state is refused.
pub fn apply_status(task: &Task, status: &TaskStatus) -> Option<Task> {
    let current = &task.status;
    if status.state < current.state {
        return None;
    }
    if status.state == current.state {
        let same = status.message == current.message
            && status.err == current.err
            && status.exit_code == current.exit_code;
        if same || current.state.is_terminal() {
            return None;
        }
        let mut next = task.clone();
        next.status = status.clone();
        return Some(next);
    }
    let mut next = task.clone();
    next.advance(status.state, status.timestamp, status.message.clone())
        .ok()?;
    next.status.err = status.err.clone();
    next.status.exit_code = status.exit_code;
    Some(next)
}

/// Applies every report of the batch inside one transaction.
fn apply_batch(tx: &mut WriteTx<'_>, work: &[(NodeId, Updates)]) -> Result<Outcome, StoreError> {
    let mut out = Outcome::default();
    for (node_id, updates) in work {
        for (task_id, status) in updates {
            let Some(current) = tx.task(task_id.as_str()) else {
                out.missing += 1;
                continue;
            };
            if current.node_id.as_ref() != Some(node_id) {
                out.foreign
                    .push((task_id.clone(), node_id.clone(), current.node_id.clone()));
                continue;
            }
            let Some(next) = apply_status(current, status) else {
                out.unchanged += 1;
                continue;
            };
            tx.update(next)?;
            out.applied += 1;
        }
    }
    Ok(out)
}

/// Resolves once a stop is asked for or the sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        if stop.changed().await.is_err() {
            return;
        }
    }
}

impl<S: Store> StatusBatcher<S> {
    /// A batcher committing to `store` at most once per `tick`; it commits nothing until
    /// [`run`](Self::run) is running.
    pub fn new(store: S, tick: Duration) -> Arc<Self> {
        Arc::new(Self {
            store,
            tick,
            queue: Mutex::new(Queue::default()),
            queued: Notify::new(),
        })
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `node_id`'s reported statuses and waits until the batch holding them committed.
    /// Reports that are skipped (see the module documentation) still answer `Ok`.
    pub async fn submit(
        &self,
        node_id: &NodeId,
        updates: Vec<(TaskId, TaskStatus)>,
    ) -> Result<(), DispatchError> {
        if updates.is_empty() {
            return Ok(());
        }
        let (reply, answer) = oneshot::channel();
        {
            let mut q = self.queue();
            if q.stopped {
                return Err(DispatchError::Stopped);
            }
            q.submissions.push(Submission {
                node_id: node_id.clone(),
                updates,
                reply,
            });
        }
        self.queued.notify_one();
        answer.await.unwrap_or(Err(DispatchError::Stopped))
    }

    /// Commits queued statuses until `stop` turns true (or its sender is dropped). Submissions
    /// still queued then, and any made later, fail with [`DispatchError::Stopped`]. Run it once.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut last: Option<Instant> = None;
        loop {
            tokio::select! {
                () = stopped(&mut stop) => break,
                () = self.queued.notified() => {}
            }
            if let Some(at) = last.map(|l| l + self.tick)
                && at > Instant::now()
            {
                tokio::select! {
                    () = stopped(&mut stop) => break,
                    () = tokio::time::sleep_until(at) => {}
                }
            }
            let batch = std::mem::take(&mut self.queue().submissions);
            if batch.is_empty() {
                continue;
            }
            last = Some(Instant::now());
            self.commit(batch).await;
        }
        let left = {
            let mut q = self.queue();
            q.stopped = true;
            std::mem::take(&mut q.submissions)
        };
        for s in left {
            let _ = s.reply.send(Err(DispatchError::Stopped));
        }
    }

    /// Commits one batch and answers its submitters.
    async fn commit(&self, batch: Vec<Submission>) {
        let (work, replies): (Vec<(NodeId, Updates)>, Vec<Reply>) = batch
            .into_iter()
            .map(|s| ((s.node_id, s.updates), s.reply))
            .unzip();
        let result = self.commit_with_retries(&work).await;
        match &result {
            Ok((outcome, version)) => {
                for (task_id, node_id, assigned) in &outcome.foreign {
                    tracing::warn!(
                        task_id = %task_id,
                        node_id = %node_id,
                        assigned_to = assigned.as_ref().map_or("no node", NodeId::as_str),
                        "ignored a task status from a node the task is not assigned to"
                    );
                }
                tracing::debug!(
                    submissions = replies.len(),
                    applied = outcome.applied,
                    missing = outcome.missing,
                    unchanged = outcome.unchanged,
                    version = version.0,
                    "committed a batch of task statuses"
                );
            }
            Err(e) => tracing::warn!(
                error = %e,
                submissions = replies.len(),
                "committing a batch of task statuses failed"
            ),
        }
        let answer = result.map(|_| ()).map_err(DispatchError::from);
        for reply in replies {
            // A submitter that went away no longer waits for the answer.
            let _ = reply.send(answer.clone());
        }
    }

    /// Runs the batch's transaction, again from a fresh read after a version conflict.
    async fn commit_with_retries(
        &self,
        work: &[(NodeId, Updates)],
    ) -> Result<(Outcome, Version), StoreError> {
        let mut attempt = 1;
        loop {
            match self.store.update(|tx| apply_batch(tx, work)).await {
                Err(e) if attempt < ATTEMPTS && is_conflict(&e) => {
                    tracing::debug!(attempt, error = %e, "a status batch met a conflict; retrying");
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    #[cfg(test)]
    fn queued_len(&self) -> usize {
        self.queue().submissions.len()
    }
}

/// Whether the batch was refused because the state moved under it.
fn is_conflict(e: &StoreError) -> bool {
    matches!(e, StoreError::Conflict { .. } | StoreError::NotFound { .. })
}

#[cfg(test)]
mod tests;
