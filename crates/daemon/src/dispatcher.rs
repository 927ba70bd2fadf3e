//! The dispatcher on managers: node heartbeats and node liveness.
//!
//! Only the leader answers heartbeats (others name the leader), keeps when each node was last
//! heard from in memory, and writes to the store only when a node's state changes: READY when it
//! is heard from, DOWN after three missed periods. A new leader gives every node a full grace
//! period before judging it.

use crate::authz::caller;
use flotilla_model::{NodeState, NodeStatus};
use flotilla_proto::pb;
use flotilla_raft::RaftStore;
use flotilla_state::{ReadTx, Store};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tonic::{Request, Response, Status};

/// Heartbeats missed before a node is DOWN.
pub const MISSED_HEARTBEATS: u32 = 3;

/// The dispatcher.
pub struct Dispatcher {
    store: RaftStore,
    period: Duration,
    seen: Mutex<Seen>,
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
            store,
            period,
            seen: Mutex::new(Seen::default()),
        })
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

#[tonic::async_trait]
impl pb::dispatcher_server::Dispatcher for DispatcherApi {
    async fn heartbeat(
        &self,
        req: Request<pb::HeartbeatRequest>,
    ) -> Result<Response<pb::HeartbeatResponse>, Status> {
        let d = &self.0;
        let id = caller(&req)
            .ok_or_else(|| Status::unauthenticated("a node certificate is required"))?;
        if !d.store.is_leader() {
            let leader = d.store.leader_addr().unwrap_or_default();
            return Err(Status::failed_precondition(format!(
                "not the leader; the leader is at {leader}"
            )));
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
