//! [`LocalGroup`]: a Raft group of several members in this process, each serving the Raft gRPC
//! service on its own loopback port, with plaintext transport. For tests and benchmarks only.
//!
//! Members can be stopped (their Raft and server shut down, as if the process died — the
//! on-disk log stays) and started again from the same directory and port.

use crate::RaftError;
use crate::network::Connector;
use crate::node::{RaftConfig, RaftNode};
use crate::store::RaftStore;
use crate::types::RaftId;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// One running member.
struct Running {
    node: RaftNode,
    stop: oneshot::Sender<()>,
    server: JoinHandle<()>,
}

/// A member slot: its id, address and directory, running or not.
pub struct Member {
    /// Raft id.
    pub id: RaftId,
    /// Loopback address of its Raft service.
    pub addr: SocketAddr,
    dir: PathBuf,
    running: Option<Running>,
}

/// Several Raft members in one process.
pub struct LocalGroup {
    /// The members, index `i` has Raft id `i + 1`.
    pub members: Vec<Member>,
    cfg: RaftConfig,
}

impl LocalGroup {
    /// Starts `n` members under `root` and forms a group with all of them as voters.
    pub async fn start(root: &Path, n: usize, cfg: RaftConfig) -> Result<Self, RaftError> {
        let mut members = Vec::new();
        for i in 0..n {
            let listener =
                std::net::TcpListener::bind("127.0.0.1:0").map_err(|source| RaftError::Io {
                    context: "binding a loopback port".into(),
                    source,
                })?;
            let addr = listener.local_addr().map_err(|source| RaftError::Io {
                context: "reading the bound address".into(),
                source,
            })?;
            drop(listener);
            let id = (i + 1) as RaftId;
            members.push(Member {
                id,
                addr,
                dir: root.join(format!("m{id}")),
                running: None,
            });
        }
        let mut group = Self { members, cfg };
        for i in 0..n {
            group.start_member(i).await?;
        }
        let first = group
            .node(0)
            .ok_or_else(|| RaftError::Fatal("member 1 did not start".into()))?;
        first.initialize(&group.members[0].addr.to_string()).await?;
        for i in 1..n {
            let (id, addr) = (group.members[i].id, group.members[i].addr.to_string());
            group.leader_node().await?.add_voter(id, &addr).await?;
        }
        Ok(group)
    }

    /// Starts (or restarts) member `i` from its directory.
    pub async fn start_member(&mut self, i: usize) -> Result<(), RaftError> {
        let m = &mut self.members[i];
        if m.running.is_some() {
            return Ok(());
        }
        let node = RaftNode::open(m.id, &m.dir, &self.cfg, Connector::insecure_plaintext()).await?;
        let listener = bind_retrying(m.addr).await?;
        let (stop, stopped) = oneshot::channel::<()>();
        let svc = node.service();
        let server = tokio::spawn(async move {
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
            let res = tonic::transport::Server::builder()
                .add_service(svc)
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = res {
                tracing::warn!(error = %e, "raft test server ended");
            }
        });
        m.running = Some(Running { node, stop, server });
        Ok(())
    }

    /// Stops member `i` as if its process died: Raft and server end, the disk stays.
    pub async fn stop_member(&mut self, i: usize) {
        if let Some(r) = self.members[i].running.take() {
            let _ = r.stop.send(());
            r.server.abort();
            let _ = r.server.await;
            if let Err(e) = r.node.shutdown().await {
                tracing::warn!(error = %e, "raft member did not shut down cleanly");
            }
        }
    }

    /// Member `i`'s node, if running.
    pub fn node(&self, i: usize) -> Option<&RaftNode> {
        self.members[i].running.as_ref().map(|r| &r.node)
    }

    /// Member `i`'s store, if running.
    pub fn store(&self, i: usize) -> Option<RaftStore> {
        self.node(i).map(RaftNode::store)
    }

    /// The index of the current leader among running members, waiting up to 10 s for one that
    /// every running member agrees on.
    pub async fn leader_index(&self) -> Result<usize, RaftError> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            // Members that know no leader yet (just started, not yet added) do not vote here.
            let leaders: Vec<RaftId> = self
                .members
                .iter()
                .filter_map(|m| m.running.as_ref())
                .filter_map(|r| r.node.metrics().current_leader)
                .collect();
            if let Some(&l) = leaders.first()
                && leaders.iter().all(|&x| x == l)
                && let Some(i) = self
                    .members
                    .iter()
                    .position(|m| m.id == l && m.running.is_some())
            {
                return Ok(i);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(RaftError::Fatal(
                    "no agreed leader among running members within 10 s".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The current leader's node.
    pub async fn leader_node(&self) -> Result<&RaftNode, RaftError> {
        let i = self.leader_index().await?;
        self.node(i)
            .ok_or_else(|| RaftError::Fatal("leader is not running".into()))
    }

    /// Stops every member.
    pub async fn shutdown(mut self) {
        for i in 0..self.members.len() {
            self.stop_member(i).await;
        }
    }
}

/// Binds `addr`, retrying briefly while a just-closed listener releases it.
async fn bind_retrying(addr: SocketAddr) -> Result<tokio::net::TcpListener, RaftError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => return Ok(l),
            Err(e) if tokio::time::Instant::now() >= deadline => {
                return Err(RaftError::Io {
                    context: format!("binding {addr}"),
                    source: e,
                });
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}
