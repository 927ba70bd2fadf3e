//! [`RaftStore`]: the `Store` whose commits go through the Raft log.
//!
//! A write runs its transaction on the local state, then proposes the resulting changeset. On the
//! leader that is `client_write`; on a follower the changeset is forwarded to the leader's
//! `Propose` RPC, after a read barrier so the transaction saw every acknowledged write. Either
//! way the version preconditions in the changeset are checked again when it is applied, so a
//! stale transaction is refused and nothing is lost or applied twice by the forwarding.
//!
//! Reads through `linearizable_view` wait for a read index confirmed by a quorum (asked of the
//! leader when this node follows) to be applied locally.

use crate::Raft;
use crate::network::{Channels, decode, encode};
use crate::types::{Request, Response};
use flotilla_model::Version;
use flotilla_proto::pb;
use flotilla_state::{StoreCore, StoreError, Tables, Watch, WriteTx};
use openraft::ReadPolicy;
use openraft::async_runtime::WatchReceiver;
use openraft::errors::{ClientWriteError, RaftError as OpenraftError};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// How long a write or read barrier may wait for the leader.
const LEADER_WAIT: Duration = Duration::from_secs(10);

/// The reply to a forwarded proposal.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProposeReply {
    /// The apply result, if this node was the leader.
    pub response: Option<Response>,
    /// The leader's address, if this node was not the leader.
    pub leader: Option<String>,
    /// A failure other than not being the leader.
    pub error: Option<String>,
}

/// Proposes on the local node, which should be the leader. Gives up after `LEADER_WAIT`
/// (a leader that lost its quorum cannot commit); the write may still commit later.
pub async fn propose_local(raft: &Raft, req: Request) -> ProposeReply {
    let Ok(res) = tokio::time::timeout(LEADER_WAIT, raft.client_write(req)).await else {
        return ProposeReply {
            response: None,
            leader: None,
            error: Some(format!(
                "the write was not committed within {LEADER_WAIT:?}: the managers may have lost their quorum (it may still be applied later)"
            )),
        };
    };
    match res {
        Ok(resp) => ProposeReply {
            response: Some(resp.data),
            leader: None,
            error: None,
        },
        Err(OpenraftError::APIError(ClientWriteError::ForwardToLeader(f))) => ProposeReply {
            response: None,
            leader: f.leader_node.map(|n| n.addr),
            error: None,
        },
        Err(e) => ProposeReply {
            response: None,
            leader: None,
            error: Some(e.to_string()),
        },
    }
}

/// A `Store` replicated by Raft.
#[derive(Clone)]
pub struct RaftStore {
    raft: Raft,
    core: Arc<StoreCore>,
    channels: Channels,
}

impl RaftStore {
    /// A store over a running Raft node and the core its state machine applies to.
    pub fn new(raft: Raft, core: Arc<StoreCore>, channels: Channels) -> Self {
        Self {
            raft,
            core,
            channels,
        }
    }

    /// The leader's address, if known.
    pub fn leader_addr(&self) -> Option<String> {
        let m = self.raft.metrics().borrow_watched().clone();
        let leader = m.current_leader?;
        m.membership_config
            .membership()
            .get_node(&leader)
            .map(|n| n.addr.clone())
    }

    /// Whether this node is the leader now.
    pub fn is_leader(&self) -> bool {
        let m = self.raft.metrics().borrow_watched().clone();
        m.current_leader == Some(m.id)
    }

    /// This node's Raft term while it leads, `None` otherwise. Stamped on every instruction the
    /// leader sends to nodes, so a node can tell a deposed leader's late messages from new ones.
    pub fn leader_term(&self) -> Option<u64> {
        let m = self.raft.metrics().borrow_watched().clone();
        (m.current_leader == Some(m.id)).then_some(m.current_term)
    }

    /// Waits until a leader is known, up to `LEADER_WAIT`.
    async fn leader(&self) -> Result<String, StoreError> {
        let wait = self
            .raft
            .wait(Some(LEADER_WAIT))
            .metrics(|m| m.current_leader.is_some(), "a leader is known")
            .await;
        if wait.is_err() {
            return Err(StoreError::Unavailable(format!(
                "no raft leader elected within {LEADER_WAIT:?}"
            )));
        }
        self.leader_addr()
            .ok_or_else(|| StoreError::Unavailable("the leader's address is unknown".into()))
    }

    /// Makes sure every write acknowledged before now is applied locally.
    pub async fn read_barrier(&self) -> Result<(), StoreError> {
        let deadline = tokio::time::Instant::now() + LEADER_WAIT;
        loop {
            let res = if self.is_leader() {
                self.raft
                    .ensure_linearizable(ReadPolicy::ReadIndex)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            } else {
                self.remote_read_index().await
            };
            match res {
                Ok(()) => return Ok(()),
                Err(e) if tokio::time::Instant::now() >= deadline => {
                    return Err(StoreError::Unavailable(format!("read barrier failed: {e}")));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    async fn remote_read_index(&self) -> Result<(), String> {
        let leader = self.leader().await.map_err(|e| e.to_string())?;
        let mut client = self.channels.raft_client(&leader)?;
        let mut req = tonic::Request::new(pb::ReadIndexRequest {});
        req.set_timeout(LEADER_WAIT);
        let index = client
            .read_index(req)
            .await
            .map_err(|s| s.to_string())?
            .into_inner()
            .index;
        self.raft
            .wait(Some(LEADER_WAIT))
            .applied_index_at_least(Some(index), "read index applied")
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    async fn propose(&self, req: Request) -> Result<Version, StoreError> {
        let deadline = tokio::time::Instant::now() + LEADER_WAIT;
        loop {
            let reply = if self.is_leader() {
                propose_local(&self.raft, req.clone()).await
            } else {
                self.forward(&req).await?
            };
            match reply {
                ProposeReply {
                    response: Some(Response { result: Some(r) }),
                    ..
                } => return r,
                ProposeReply {
                    response: Some(Response { result: None }),
                    ..
                } => {
                    return Err(StoreError::Unavailable(
                        "the proposal was applied without a result".into(),
                    ));
                }
                ProposeReply { error: Some(e), .. } => return Err(StoreError::Unavailable(e)),
                // Leadership moved while proposing: try again with the new leader.
                _ if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                ProposeReply { leader, .. } => return Err(StoreError::NotLeader { leader }),
            }
        }
    }

    async fn forward(&self, req: &Request) -> Result<ProposeReply, StoreError> {
        let leader = self.leader().await?;
        let mut client = self
            .channels
            .raft_client(&leader)
            .map_err(StoreError::Unavailable)?;
        let payload = encode(req).map_err(StoreError::Unavailable)?;
        let mut request = tonic::Request::new(payload);
        request.set_timeout(LEADER_WAIT);
        match client.propose(request).await {
            Ok(resp) => decode(resp.get_ref()).map_err(StoreError::Unavailable),
            // The leader may be gone; the retry loop asks again once a new one is known.
            Err(s) => {
                tracing::debug!(error = %s, %leader, "forwarding a proposal failed; will retry");
                Ok(ProposeReply {
                    response: None,
                    leader: None,
                    error: None,
                })
            }
        }
    }
}

impl flotilla_state::Store for RaftStore {
    fn view<R>(&self, f: impl FnOnce(&Tables) -> R) -> R {
        self.core.read(f)
    }

    async fn linearizable_view<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&Tables) -> R + Send,
        R: Send,
    {
        self.read_barrier().await?;
        Ok(self.core.read(f))
    }

    async fn update<R, F>(&self, f: F) -> Result<(R, Version), StoreError>
    where
        F: FnOnce(&mut WriteTx<'_>) -> Result<R, StoreError> + Send,
        R: Send,
    {
        if !self.is_leader() {
            // Let the transaction see every acknowledged write, so it is not refused as stale
            // merely because this follower lags.
            self.read_barrier().await?;
        }
        let (r, changeset, version) = self.core.transact(f)?;
        if changeset.is_empty() {
            return Ok((r, version));
        }
        let v = self.propose(Request { changeset }).await?;
        // Read-your-writes on this node: a forwarded write returns once it is applied here too.
        let applied = self
            .raft
            .wait(Some(LEADER_WAIT))
            .applied_index_at_least(Some(v.0), "own write applied")
            .await;
        if let Err(e) = applied {
            tracing::warn!(error = %e, version = v.0, "write committed but not yet applied on this member");
        }
        Ok((r, v))
    }

    fn watch(&self, from: Version) -> Result<Watch, StoreError> {
        self.core.watch(from)
    }
}
