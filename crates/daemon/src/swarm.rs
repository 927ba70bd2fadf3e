//! The node's swarm life cycle — outside a swarm, or a manager of one — and the `Swarm` gRPC
//! service (`init`, `info`) served on the CLI socket.
//!
//! `swarm init` opens a fresh Raft group with this node as its only member, stores the cluster
//! and node objects through it, and only then writes the identity file; a crash before that
//! leaves no identity, and the next init starts over from an empty Raft directory.

use crate::config::DaemonConfig;
use crate::identity::Identity;
use crate::sysinfo;
use flotilla_controlapi::StoreSlot;
use flotilla_model::{
    Cluster, ClusterId, ClusterSpec, ManagerStatus, Meta, Node, NodeId, NodeRole, NodeSpec,
    NodeState, NodeStatus, Reachability,
};
use flotilla_proto::pb;
use flotilla_raft::{Connector, RaftConfig, RaftNode, RaftStore};
use flotilla_state::{ReadTx, Store};
use std::sync::{Arc, PoisonError};
use tonic::{Request, Response, Status};

/// Environment switch for plaintext node-to-node traffic. Tests on loopback only: it
/// authenticates nobody. Mutual TLS replaces it when the cluster has its own CA.
pub const INSECURE_PLAINTEXT_ENV: &str = "FLOTILLA_INSECURE_PLAINTEXT";

/// Whether the test-only plaintext switch is on.
pub fn insecure_plaintext() -> bool {
    std::env::var(INSECURE_PLAINTEXT_ENV).is_ok_and(|v| v == "1")
}

/// A running manager.
pub struct Manager {
    /// Who this node is.
    pub identity: Identity,
    /// Its Raft member.
    pub raft: RaftNode,
}

/// Daemon-wide state shared by the servers.
pub struct Daemon {
    cfg: DaemonConfig,
    slot: StoreSlot<RaftStore>,
    manager: tokio::sync::Mutex<Option<Manager>>,
}

/// Why the daemon could not start its manager.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The identity file is unreadable.
    #[error("cannot read the node identity: {0}")]
    Identity(std::io::Error),
    /// The Raft member did not open.
    #[error(transparent)]
    Raft(#[from] flotilla_raft::RaftError),
}

fn connector() -> Connector {
    if insecure_plaintext() {
        Connector::insecure_plaintext()
    } else {
        Connector::new(|addr| {
            Err(format!(
                "cannot reach manager {addr}: node-to-node TLS is not configured on this node"
            ))
        })
    }
}

impl Daemon {
    /// Loads the node's state; re-opens its manager if it is in a swarm.
    pub async fn start(cfg: DaemonConfig) -> Result<Arc<Self>, StartError> {
        let daemon = Arc::new(Self {
            cfg,
            slot: StoreSlot::default(),
            manager: tokio::sync::Mutex::new(None),
        });
        if let Some(identity) =
            Identity::load(&daemon.cfg.identity_path()).map_err(StartError::Identity)?
        {
            let raft = RaftNode::open(
                identity.raft_id,
                &daemon.cfg.raft_dir(),
                &RaftConfig::default(),
                connector(),
            )
            .await?;
            tracing::info!(node_id = %identity.node_id, cluster_id = %identity.cluster_id, "rejoined the swarm as a manager");
            daemon.set_store(Some(raft.store()));
            *daemon.manager.lock().await = Some(Manager { identity, raft });
        } else {
            tracing::info!("not part of a swarm: run \"flotilla swarm init\" to create one");
        }
        Ok(daemon)
    }

    /// The slot the Control API reads its store from.
    pub fn store_slot(&self) -> StoreSlot<RaftStore> {
        self.slot.clone()
    }

    /// The Raft gRPC service, if this node is a manager.
    pub async fn raft_service(
        &self,
    ) -> Option<pb::raft_server::RaftServer<flotilla_raft::server::RaftService>> {
        self.manager.lock().await.as_ref().map(|m| m.raft.service())
    }

    fn set_store(&self, store: Option<RaftStore>) {
        *self.slot.write().unwrap_or_else(PoisonError::into_inner) = store;
    }

    /// Creates a new swarm with this node as its only manager.
    pub async fn init(&self, req: pb::InitRequest) -> Result<pb::InitResponse, Status> {
        let mut manager = self.manager.lock().await;
        if manager.is_some() {
            return Err(Status::failed_precondition(
                "this node is already part of a swarm: use \"flotilla swarm leave\" to leave it first",
            ));
        }
        if req.force_new_cluster {
            return Err(Status::failed_precondition(
                "--force-new-cluster needs an existing swarm on this node; there is none",
            ));
        }
        let ip = if req.advertise_addr.is_empty() {
            self.cfg.advertise_addr.unwrap_or_else(|| {
                if self.cfg.listen_addr.ip().is_unspecified() {
                    sysinfo::default_ip()
                } else {
                    self.cfg.listen_addr.ip()
                }
            })
        } else {
            req.advertise_addr.parse().map_err(|e| {
                Status::invalid_argument(format!(
                    "invalid advertise_addr {:?}: {e}",
                    req.advertise_addr
                ))
            })?
        };
        let raft_addr = std::net::SocketAddr::new(ip, self.cfg.listen_addr.port()).to_string();
        // A Raft directory without an identity is what a crash during an earlier init leaves.
        let raft_dir = self.cfg.raft_dir();
        if raft_dir.exists() {
            std::fs::remove_dir_all(&raft_dir).map_err(|e| {
                Status::internal(format!("cannot clear {}: {e}", raft_dir.display()))
            })?;
        }
        let identity = Identity {
            node_id: NodeId::from_random(flotilla_controlapi::new_id()).to_string(),
            cluster_id: ClusterId::from_random(flotilla_controlapi::new_id()).to_string(),
            raft_id: 1,
            raft_addr: raft_addr.clone(),
        };
        let internal = |e: flotilla_raft::RaftError| Status::internal(e.to_string());
        let raft = RaftNode::open(
            identity.raft_id,
            &raft_dir,
            &RaftConfig::default(),
            connector(),
        )
        .await
        .map_err(internal)?;
        raft.initialize(&raft_addr).await.map_err(internal)?;
        let store = raft.store();
        let cluster = Cluster {
            id: ClusterId::from(identity.cluster_id.as_str()),
            meta: Meta::default(),
            spec: ClusterSpec::default(),
        };
        let node = Node {
            id: NodeId::from(identity.node_id.as_str()),
            meta: Meta::default(),
            spec: NodeSpec {
                role: NodeRole::Manager,
                ..Default::default()
            },
            description: sysinfo::describe(&self.cfg.node_name),
            status: NodeStatus {
                state: NodeState::Ready,
                message: String::new(),
                addr: ip.to_string(),
            },
            manager_status: Some(ManagerStatus {
                leader: true,
                reachability: Reachability::Reachable,
                addr: raft_addr,
            }),
            raft_id: identity.raft_id,
        };
        store
            .update(move |tx| {
                tx.create(cluster)?;
                tx.create(node)
            })
            .await
            .map_err(flotilla_controlapi::status)?;
        identity
            .save(&self.cfg.identity_path())
            .map_err(|e| Status::internal(format!("cannot write the node identity: {e}")))?;
        tracing::info!(node_id = %identity.node_id, cluster_id = %identity.cluster_id, "swarm initialized");
        let resp = pb::InitResponse {
            node_id: identity.node_id.clone(),
            cluster_id: identity.cluster_id.clone(),
        };
        self.set_store(Some(store));
        *manager = Some(Manager { identity, raft });
        Ok(resp)
    }

    /// What `flotilla info` shows.
    pub async fn info(&self) -> pb::InfoResponse {
        let version = env!("CARGO_PKG_VERSION").to_owned();
        let manager = self.manager.lock().await;
        let Some(m) = manager.as_ref() else {
            return pb::InfoResponse {
                node_name: self.cfg.node_name.clone(),
                swarm_state: "inactive".into(),
                version,
                ..Default::default()
            };
        };
        let store = m.raft.store();
        let (managers, nodes) = store.view(|t| {
            let nodes = t.nodes();
            (
                nodes.iter().filter(|n| n.manager_status.is_some()).count(),
                nodes.len(),
            )
        });
        let metrics = m.raft.metrics();
        let membership = metrics.membership_config.membership();
        pb::InfoResponse {
            node_id: m.identity.node_id.clone(),
            node_name: self.cfg.node_name.clone(),
            swarm_state: "active".into(),
            is_manager: true,
            cluster_id: m.identity.cluster_id.clone(),
            node_addr: m.identity.raft_addr.clone(),
            managers: managers as u64,
            nodes: nodes as u64,
            leader_addr: store.leader_addr().unwrap_or_default(),
            raft: Some(pb::RaftInfo {
                raft_id: m.identity.raft_id,
                term: metrics.current_term,
                leader_id: metrics.current_leader,
                last_log_index: metrics.last_log_index.unwrap_or(0),
                last_applied: metrics.last_applied.map_or(0, |l| l.index),
                snapshot_index: metrics.snapshot.map_or(0, |l| l.index),
                voters: membership.voter_ids().collect(),
                learners: membership.learner_ids().collect(),
            }),
            version,
        }
    }

    /// Stops the manager, if any.
    pub async fn shutdown(&self) {
        self.set_store(None);
        let manager = self.manager.lock().await.take();
        if let Some(m) = manager
            && let Err(e) = m.raft.shutdown().await
        {
            tracing::warn!(error = %e, "raft did not shut down cleanly");
        }
    }
}

/// The `Swarm` gRPC service.
#[derive(Clone)]
pub struct SwarmApi(pub Arc<Daemon>);

#[tonic::async_trait]
impl pb::swarm_server::Swarm for SwarmApi {
    async fn init(
        &self,
        r: Request<pb::InitRequest>,
    ) -> Result<Response<pb::InitResponse>, Status> {
        self.0.init(r.into_inner()).await.map(Response::new)
    }

    async fn info(
        &self,
        _r: Request<pb::InfoRequest>,
    ) -> Result<Response<pb::InfoResponse>, Status> {
        Ok(Response::new(self.0.info().await))
    }
}
