//! The dispatcher on managers: node heartbeats and liveness, task assignments, task statuses.
//!
//! Only the leader answers (others name the leader). Heartbeats: it keeps when each node was
//! last heard from in memory, and writes to the store only when a node's state changes: READY
//! when it is heard from, DOWN after three missed periods. A new leader gives every node a full
//! grace period before judging it. Assignments: one stream per node, the full set of its tasks
//! first, then only what changed, each message numbered and stamped with the leader's (term,
//! index); the stream ends when this manager stops leading. Statuses: queued and committed in
//! one proposal per tick by the `flotilla-dispatcher` batcher.

use crate::authz::caller;
use flotilla_dispatcher::{
    Assignment, AssignmentTracker, StatusBatcher, node_tasks, service_names,
};
use flotilla_model::{NodeId, NodeState, NodeStatus, TaskId, TaskStatus};
use flotilla_proto::pb;
use flotilla_raft::RaftStore;
use flotilla_state::{ReadTx, Store};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tonic::{Request, Response, Status};

/// Heartbeats missed before a node is DOWN.
pub const MISSED_HEARTBEATS: u32 = 3;

/// How often an assignment stream checks that this manager still leads.
const LEADERSHIP_CHECK: Duration = Duration::from_millis(250);
/// Status batches are committed at most this often (the batcher's default: a status that
/// arrives when the last batch is older waits for nothing).
pub const STATUS_TICK: Duration = flotilla_dispatcher::batcher::DEFAULT_TICK;

/// The dispatcher.
pub struct Dispatcher {
    store: RaftStore,
    period: Duration,
    seen: Mutex<Seen>,
    /// Commits task statuses in batches.
    pub statuses: Arc<StatusBatcher<RaftStore>>,
    /// Routes `service logs` requests to nodes and their lines back.
    pub logs: Arc<crate::logs::LogBroker>,
    /// Turns true when the manager stops: open assignment streams end, so the listener's
    /// graceful shutdown does not wait for them forever.
    closing: tokio::sync::watch::Sender<bool>,
}

#[derive(Default)]
struct Seen {
    /// When this manager became leader (None while it follows).
    leading_since: Option<Instant>,
    last: HashMap<String, Instant>,
}

impl Dispatcher {
    /// A dispatcher over `store` asking nodes to heartbeat every `period`.
    pub fn new(store: RaftStore, period: Duration) -> Arc<Self> {
        Arc::new(Self {
            statuses: StatusBatcher::new(store.clone(), STATUS_TICK),
            logs: Arc::default(),
            closing: tokio::sync::watch::Sender::new(false),
            store,
            period,
            seen: Mutex::new(Seen::default()),
        })
    }

    /// Ends every open assignment stream and refuses new ones (the manager is stopping).
    pub fn close(&self) {
        self.closing.send_replace(true);
        self.logs.close();
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks nodes DOWN that missed their heartbeats; call periodically on every manager (it
    /// acts only while this manager leads).
    pub async fn check(&self) {
        if !self.store.is_leader() {
            self.seen().leading_since = None;
            return;
        }
        let now = Instant::now();
        let grace = self.period * MISSED_HEARTBEATS;
        let late: Vec<String> = {
            let mut seen = self.seen();
            let since = *seen.leading_since.get_or_insert(now);
            let last = &seen.last;
            self.store.view(|t| {
                t.nodes()
                    .into_iter()
                    .filter(|n| n.status.state == NodeState::Ready)
                    .filter(|n| {
                        let heard = last.get(n.id.as_str()).copied().unwrap_or(since).max(since);
                        now.duration_since(heard) > grace
                    })
                    .map(|n| n.id.to_string())
                    .collect()
            })
        };
        for id in late {
            let node = id.clone();
            let res = self
                .store
                .update(move |tx| {
                    if let Some(mut n) = tx.node(&node).cloned()
                        && n.status.state == NodeState::Ready
                    {
                        n.status.state = NodeState::Down;
                        n.status.message = "heartbeat failure".into();
                        tx.update(n)?;
                    }
                    Ok(())
                })
                .await;
            match res {
                Ok(_) => {
                    tracing::warn!(node_id = %id, "node missed {MISSED_HEARTBEATS} heartbeats and is now down")
                }
                Err(e) => tracing::debug!(error = %e, "marking a node down failed; will retry"),
            }
        }
    }
}

/// The gRPC face of the dispatcher.
#[derive(Clone)]
pub struct DispatcherApi(pub Arc<Dispatcher>);

/// The stream of one node's assignments.
pub type AssignmentStream =
    tokio_stream::wrappers::ReceiverStream<Result<pb::AssignmentsMessage, Status>>;

fn not_leader(store: &RaftStore) -> Status {
    let leader = store.leader_addr().unwrap_or_default();
    Status::failed_precondition(format!("not the leader; the leader is at {leader}"))
}

impl Dispatcher {
    /// Feeds one node's assignment stream until the node goes away or this manager stops
    /// leading.
    async fn stream_assignments(
        self: Arc<Self>,
        node_id: String,
        tx: tokio::sync::mpsc::Sender<Result<pb::AssignmentsMessage, Status>>,
    ) {
        let mut tracker = AssignmentTracker::default();
        let (tasks, version) = self.store.view(|t| (node_tasks(t, &node_id), t.version()));
        let mut watch = match self.store.watch(version) {
            Ok(w) => w,
            Err(e) => {
                let _ = tx.send(Err(Status::unavailable(e.to_string()))).await;
                return;
            }
        };
        let first = tracker.complete(tasks);
        if !self.send(&tx, first, version.0).await {
            return;
        }
        let mut check = tokio::time::interval(LEADERSHIP_CHECK);
        let mut closing = self.closing.subscribe();
        loop {
            let version = tokio::select! {
                _ = tx.closed() => return,
                () = wait_closed(&mut closing) => {
                    let _ = tx.send(Err(Status::unavailable("the manager is stopping"))).await;
                    return;
                }
                _ = check.tick() => {
                    if !self.store.is_leader() {
                        let _ = tx.send(Err(not_leader(&self.store))).await;
                        return;
                    }
                    continue;
                }
                commit = watch.next() => match commit {
                    Ok(c) => {
                        let touches = c.events.iter().any(|e| touches_node(e, &node_id));
                        if !touches {
                            continue;
                        }
                        c.version
                    }
                    Err(e) => {
                        let _ = tx.send(Err(Status::unavailable(e.to_string()))).await;
                        return;
                    }
                },
            };
            // Later commits already queued are folded into this message.
            let (tasks, seen) = self.store.view(|t| (node_tasks(t, &node_id), t.version()));
            let at = seen.max(version);
            if let Some(update) = tracker.incremental(tasks)
                && !self.send(&tx, update, at.0).await
            {
                return;
            }
        }
    }

    /// Sends one assignment message; false once the stream is gone or leadership was lost.
    async fn send(
        &self,
        tx: &tokio::sync::mpsc::Sender<Result<pb::AssignmentsMessage, Status>>,
        a: Assignment,
        index: u64,
    ) -> bool {
        let Some(term) = self.store.leader_term() else {
            let _ = tx.send(Err(not_leader(&self.store))).await;
            return false;
        };
        let names = self.store.view(|t| service_names(t, &a.changed));
        let msg = pb::AssignmentsMessage {
            complete: matches!(a.kind, flotilla_dispatcher::AssignmentKind::Complete),
            sequence: a.sequence,
            term,
            index,
            changed: a
                .changed
                .into_iter()
                .map(|task| pb::AssignedTask {
                    service_name: names.get(&task.service_id).cloned().unwrap_or_default(),
                    task: Some(task.into()),
                })
                .collect(),
            removed: a.removed.iter().map(ToString::to_string).collect(),
        };
        tx.send(Ok(msg)).await.is_ok()
    }
}

/// Returns once the dispatcher is closing (the guard `wait_for` yields is dropped here, so the
/// caller's future stays `Send`).
async fn wait_closed(closing: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = closing.wait_for(|c| *c).await;
}

/// Whether a committed event concerns a task that is (or was) on `node`.
fn touches_node(e: &flotilla_state::Event, node: &str) -> bool {
    use flotilla_model::Object;
    let on = |o: &Object| matches!(o, Object::Task(t) if t.node_id.as_ref().is_some_and(|n| n.as_str() == node));
    match e {
        flotilla_state::Event::Created(o) | flotilla_state::Event::Deleted(o) => on(o),
        flotilla_state::Event::Updated { old, new } => on(old) || on(new),
    }
}

#[tonic::async_trait]
impl pb::dispatcher_server::Dispatcher for DispatcherApi {
    type AssignmentsStream = AssignmentStream;
    type LogSubscriptionsStream = crate::logs::SubscriptionStream;

    async fn log_subscriptions(
        &self,
        req: Request<pb::LogSubscriptionsRequest>,
    ) -> Result<Response<Self::LogSubscriptionsStream>, Status> {
        let d = &self.0;
        let id = caller(&req)
            .ok_or_else(|| Status::unauthenticated("a node certificate is required"))?;
        if !d.store.is_leader() {
            return Err(not_leader(&d.store));
        }
        Ok(Response::new(d.logs.connect_node(&id.node_id)?))
    }

    async fn publish_logs(
        &self,
        req: Request<tonic::Streaming<pb::PublishLogsMessage>>,
    ) -> Result<Response<pb::PublishLogsResponse>, Status> {
        let d = &self.0;
        let id = caller(&req)
            .ok_or_else(|| Status::unauthenticated("a node certificate is required"))?;
        let mut stream = req.into_inner();
        let mut closing = d.closing.subscribe();
        loop {
            let msg = tokio::select! {
                () = wait_closed(&mut closing) => {
                    return Err(Status::unavailable("the manager is stopping"));
                }
                m = stream.message() => m?,
            };
            let Some(msg) = msg else { break };
            d.logs.publish(&id.node_id, msg).await?;
        }
        Ok(Response::new(pb::PublishLogsResponse {}))
    }

    async fn assignments(
        &self,
        req: Request<pb::AssignmentsRequest>,
    ) -> Result<Response<Self::AssignmentsStream>, Status> {
        let d = &self.0;
        let id = caller(&req)
            .ok_or_else(|| Status::unauthenticated("a node certificate is required"))?;
        if !d.store.is_leader() {
            return Err(not_leader(&d.store));
        }
        if *d.closing.borrow() {
            return Err(Status::unavailable("the manager is stopping"));
        }
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(d.clone().stream_assignments(id.node_id, tx));
        Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(
            rx,
        )))
    }

    async fn update_task_status(
        &self,
        req: Request<pb::UpdateTaskStatusRequest>,
    ) -> Result<Response<pb::UpdateTaskStatusResponse>, Status> {
        let d = &self.0;
        let id = caller(&req)
            .ok_or_else(|| Status::unauthenticated("a node certificate is required"))?;
        if !d.store.is_leader() {
            return Err(not_leader(&d.store));
        }
        let updates = req
            .into_inner()
            .updates
            .into_iter()
            .map(|u| {
                let status = u
                    .status
                    .ok_or_else(|| {
                        Status::invalid_argument(format!("task {}: status is missing", u.task_id))
                    })
                    .and_then(|s| {
                        TaskStatus::try_from(s).map_err(|e| {
                            Status::invalid_argument(format!("task {}: {e}", u.task_id))
                        })
                    })?;
                Ok((TaskId::from(u.task_id), status))
            })
            .collect::<Result<Vec<_>, Status>>()?;
        d.statuses
            .submit(&NodeId::from(id.node_id), updates)
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        Ok(Response::new(pb::UpdateTaskStatusResponse {}))
    }

    async fn heartbeat(
        &self,
        req: Request<pb::HeartbeatRequest>,
    ) -> Result<Response<pb::HeartbeatResponse>, Status> {
        let d = &self.0;
        let id = caller(&req)
            .ok_or_else(|| Status::unauthenticated("a node certificate is required"))?;
        if !d.store.is_leader() {
            return Err(not_leader(&d.store));
        }
        d.seen().last.insert(id.node_id.clone(), Instant::now());
        let r = req.into_inner();
        let description = r
            .description
            .map(flotilla_model::NodeDescription::try_from)
            .transpose()
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let node = d
            .store
            .view(|t| t.node(&id.node_id).cloned())
            .ok_or_else(|| {
                Status::not_found(format!("node {} is not part of the swarm", id.node_id))
            })?;
        let stale = node.status.state != NodeState::Ready
            || node.status.addr != r.addr
            || description.as_ref().is_some_and(|d| *d != node.description);
        if stale {
            let node_id = id.node_id.clone();
            let addr = r.addr.clone();
            d.store
                .update(move |tx| {
                    if let Some(mut n) = tx.node(&node_id).cloned() {
                        n.status = NodeStatus {
                            state: NodeState::Ready,
                            message: String::new(),
                            addr,
                        };
                        if let Some(desc) = description {
                            n.description = desc;
                        }
                        tx.update(n)?;
                    }
                    Ok(())
                })
                .await
                .map_err(flotilla_controlapi::status)?;
        }
        let managers = d.store.view(|t| {
            t.nodes()
                .into_iter()
                .filter_map(|n| n.manager_status.as_ref().map(|m| m.addr.clone()))
                .collect()
        });
        Ok(Response::new(pb::HeartbeatResponse {
            period_ms: d.period.as_millis() as u64,
            role: node.spec.role.name().into(),
            raft_id: node.raft_id,
            leader_addr: d.store.leader_addr().unwrap_or_default(),
            managers,
        }))
    }
}
