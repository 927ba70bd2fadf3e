//! The node's swarm life cycle and the `Swarm` gRPC service served on the CLI socket.
//!
//! A node is outside any swarm, a worker, or a manager. `swarm init` makes a new cluster — a
//! root CA, this node's manager certificate, a one-member Raft group holding the cluster and
//! node objects — and writes the identity file last, so a crash before it leaves nothing that a
//! new init would trip over. `swarm join` checks the manager's CA against the token's digest
//! before trusting it, then sends a CSR with the token's secret and receives a certificate;
//! a manager then joins the Raft group (learner first, voter once caught up). Every node runs
//! the agent session; managers also serve the node-to-node listener and run the supervisor.

use crate::agent;
use crate::authz::{Rule, interceptor};
use crate::ca_service::CaApi;
use crate::config::DaemonConfig;
use crate::dispatcher::{Dispatcher, DispatcherApi};
use crate::identity::Identity;
use crate::pki::NodeTls;
use crate::supervisor;
use crate::sysinfo;
use crate::tasks;
use crate::transport::{tls_channel, tls_incoming};
use flotilla_ca::{JoinToken, NodeKey, Role, RootCa};
use flotilla_controlapi::{ControlApi, Membership, StoreSlot};
use flotilla_executor::EngineExecutor;
use flotilla_model::{
    Cluster, ClusterCa, ClusterId, ClusterSpec, ManagerStatus, Meta, Node, NodeDescription, NodeId,
    NodeRole, NodeSpec, NodeState, NodeStatus, Reachability,
};
use flotilla_proto::pb;
use flotilla_proto::pb::ca_client::CaClient;
use flotilla_raft::{RaftConfig, RaftNode, RaftStore};
use flotilla_state::{ReadTx, Store};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::service::interceptor::InterceptedService;
use tonic::{Request, Response, Status};

/// Default validity of node certificates (SwarmKit's: 90 days).
const DEFAULT_CERT_EXPIRY: Duration = Duration::from_secs(90 * 24 * 3600);
/// Shortest certificate validity accepted (short values are for tests and are warned about).
const MIN_CERT_EXPIRY: Duration = Duration::from_secs(10);
/// Dispatcher heartbeat period.
const HEARTBEAT_PERIOD: Duration = Duration::from_secs(1);
/// Deadline of join-time RPCs.
const JOIN_TIMEOUT: Duration = Duration::from_secs(30);

/// A background task with its stop switch.
struct Task {
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

impl Task {
    fn spawn<F, Fut>(f: F) -> Self
    where
        F: FnOnce(watch::Receiver<bool>) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let (stop, rx) = watch::channel(false);
        Self {
            stop,
            handle: tokio::spawn(f(rx)),
        }
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.handle.await;
    }
}

/// What a manager runs besides the agent.
struct ManagerParts {
    raft: Arc<RaftNode>,
    dispatcher: Arc<Dispatcher>,
    listener: Task,
    supervisor: Task,
}

/// A node in a swarm.
struct Member {
    identity: Identity,
    tls: Arc<NodeTls>,
    manager: Option<ManagerParts>,
    agent: Option<Task>,
    /// When a demotion was first seen, while the Raft group lets this member go.
    demoted_at: Option<std::time::Instant>,
}

/// Daemon-wide state shared by the servers.
pub struct Daemon {
    cfg: DaemonConfig,
    me: Weak<Daemon>,
    slot: StoreSlot<RaftStore>,
    member: tokio::sync::Mutex<Option<Member>>,
    /// The current TLS state, readable without awaiting the member lock.
    tls: RwLock<Option<Arc<NodeTls>>>,
    /// The leader's node-to-node address, as the last heartbeat found it.
    leader: RwLock<Option<String>>,
    /// Runs this node's tasks.
    executor: Arc<EngineExecutor>,
}

/// Why the daemon could not restore its membership at start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The identity file is unreadable.
    #[error("cannot read the node identity: {0}")]
    Identity(std::io::Error),
    /// The TLS material is unreadable.
    #[error(transparent)]
    Pki(#[from] crate::pki::PkiError),
    /// The Raft member or the listener did not start.
    #[error("{0}")]
    Manager(String),
}

fn internal(e: impl std::fmt::Display) -> Status {
    Status::internal(e.to_string())
}

impl Daemon {
    /// Loads the node's state and resumes its membership, if any.
    pub async fn start(
        cfg: DaemonConfig,
        executor: Arc<EngineExecutor>,
    ) -> Result<Arc<Self>, StartError> {
        let daemon = Arc::new_cyclic(|me| Self {
            cfg,
            me: me.clone(),
            slot: StoreSlot::default(),
            member: tokio::sync::Mutex::new(None),
            tls: RwLock::new(None),
            leader: RwLock::new(None),
            executor,
        });
        let identity = Identity::load(&daemon.cfg.identity_path()).map_err(StartError::Identity)?;
        let tls = NodeTls::load(&daemon.certs_dir())?;
        match (identity, tls) {
            (Some(identity), Some(tls)) => {
                let tls = Arc::new(tls);
                let manager = if identity.raft_id != 0 {
                    let raft = daemon
                        .open_raft(identity.raft_id, &tls)
                        .await
                        .map_err(StartError::Manager)?;
                    Some(
                        daemon
                            .start_manager(raft, &tls)
                            .await
                            .map_err(StartError::Manager)?,
                    )
                } else {
                    None
                };
                tracing::info!(node_id = %identity.node_id, manager = manager.is_some(), "resuming swarm membership");
                daemon
                    .enter(Member {
                        identity,
                        tls,
                        manager,
                        agent: None,
                        demoted_at: None,
                    })
                    .await;
            }
            _ => tracing::info!(
                "not part of a swarm: run \"flotilla swarm init\" or \"flotilla swarm join\""
            ),
        }
        Ok(daemon)
    }

    fn arc(&self) -> Option<Arc<Daemon>> {
        self.me.upgrade()
    }

    fn certs_dir(&self) -> std::path::PathBuf {
        self.cfg.data_dir.join("certs")
    }

    /// The slot the Control API reads its store from.
    pub fn store_slot(&self) -> StoreSlot<RaftStore> {
        self.slot.clone()
    }

    fn set_slot(&self, m: Membership<RaftStore>) {
        *self.slot.write().unwrap_or_else(PoisonError::into_inner) = m;
    }

    /// Installs `member` as this node's membership and starts its agent.
    async fn enter(&self, mut member: Member) {
        *self.tls.write().unwrap_or_else(PoisonError::into_inner) = Some(member.tls.clone());
        self.set_slot(match &member.manager {
            Some(m) => Membership::Manager(m.raft.store()),
            None => Membership::Worker,
        });
        if let Some(me) = self.arc() {
            let executor = self.executor.clone();
            member.agent = Some(Task::spawn(move |stop| async move {
                let session = tokio::spawn(agent::run(me.clone(), stop.clone()));
                let logs = tokio::spawn(crate::logs::serve_subscriptions(
                    me.clone(),
                    executor.clone(),
                    stop.clone(),
                ));
                tasks::run(me, executor, stop).await;
                let _ = session.await;
                let _ = logs.await;
            }));
        }
        *self.member.lock().await = Some(member);
    }

    /// This manager's store and log broker (`None` on workers).
    pub async fn log_broker(&self) -> Option<(RaftStore, Arc<crate::logs::LogBroker>)> {
        let member = self.member.lock().await;
        let parts = member.as_ref()?.manager.as_ref()?;
        Some((parts.raft.store(), parts.dispatcher.logs.clone()))
    }

    /// The leader's node-to-node address, if a heartbeat found it.
    pub fn leader_hint(&self) -> Option<String> {
        self.leader
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Records where the leader is (`None` once it stopped answering).
    pub fn set_leader_hint(&self, addr: Option<String>) {
        *self.leader.write().unwrap_or_else(PoisonError::into_inner) = addr;
    }

    /// The address this node advertises.
    pub fn advertise_ip(&self) -> IpAddr {
        self.cfg.advertise_addr.unwrap_or_else(|| {
            if self.cfg.listen_addr.ip().is_unspecified() {
                sysinfo::default_ip()
            } else {
                self.cfg.listen_addr.ip()
            }
        })
    }

    /// What this node says about itself.
    pub fn description(&self) -> NodeDescription {
        sysinfo::describe(&self.cfg.node_name)
    }

    /// The current TLS state (for the agent).
    pub async fn tls(&self) -> Option<Arc<NodeTls>> {
        self.tls_now()
    }

    /// The current TLS state, without waiting.
    pub fn tls_now(&self) -> Option<Arc<NodeTls>> {
        self.tls
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Managers this node knows, its own address first if it is one.
    pub async fn manager_addrs(&self) -> Vec<String> {
        let member = self.member.lock().await;
        let Some(m) = member.as_ref() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if m.manager.is_some() {
            out.push(m.identity.raft_addr.clone());
        }
        out.extend(
            m.identity
                .managers
                .iter()
                .filter(|a| **a != m.identity.raft_addr)
                .cloned(),
        );
        out
    }

    async fn open_raft(&self, raft_id: u64, tls: &Arc<NodeTls>) -> Result<RaftNode, String> {
        RaftNode::open(
            raft_id,
            &self.cfg.raft_dir(),
            &RaftConfig::default(),
            tls.connector(),
        )
        .await
        .map_err(|e| e.to_string())
    }

    /// Starts the node-to-node listener and the supervisor around an open Raft member.
    async fn start_manager(
        &self,
        raft: RaftNode,
        tls: &Arc<NodeTls>,
    ) -> Result<ManagerParts, String> {
        let raft = Arc::new(raft);
        let store = raft.store();
        let listener = tokio::net::TcpListener::bind(self.cfg.listen_addr)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", self.cfg.listen_addr))?;
        let dispatcher = Dispatcher::new(store.clone(), HEARTBEAT_PERIOD);
        let revoked = tls.revoked();
        let ca = CaApi::new(store.clone(), tls.root().cert_pem().to_owned());
        let control = ControlApi::new(self.slot.clone());
        let acceptor = tokio_rustls::TlsAcceptor::from(tls.server_config());
        let raft_svc = raft.service();
        let rv = revoked.clone();
        let disp = DispatcherApi(dispatcher.clone());
        let log_dispatcher = dispatcher.clone();
        let logs = self
            .arc()
            .map(|d| crate::logs::LogsApi::new(d, false))
            .ok_or_else(|| "the daemon is shutting down".to_owned())?;
        let listener = Task::spawn(move |mut stop| async move {
            let router = tonic::transport::Server::builder()
                .add_service(InterceptedService::new(
                    pb::ca_server::CaServer::new(ca),
                    interceptor(Rule::Anyone, rv.clone()),
                ))
                .add_service(InterceptedService::new(
                    pb::dispatcher_server::DispatcherServer::new(disp),
                    interceptor(Rule::AnyNode, rv.clone()),
                ))
                .add_service(InterceptedService::new(
                    raft_svc,
                    interceptor(Rule::Managers, rv.clone()),
                ))
                .add_service(InterceptedService::new(
                    pb::logs_server::LogsServer::new(logs),
                    interceptor(Rule::Managers, rv.clone()),
                ))
                .add_service(InterceptedService::new(
                    pb::control_server::ControlServer::new(control),
                    interceptor(Rule::Managers, rv),
                ));
            let res = router
                .serve_with_incoming_shutdown(tls_incoming(listener, acceptor), async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await;
            if let Err(e) = res {
                tracing::error!(error = %e, "the node-to-node listener stopped");
            }
        });
        let sup_raft = raft.clone();
        let supervisor =
            Task::spawn(move |stop| supervisor::run(sup_raft, dispatcher, revoked, stop));
        tracing::info!(listen_addr = %self.cfg.listen_addr, "serving node-to-node traffic over mutual TLS");
        Ok(ManagerParts {
            raft,
            dispatcher: log_dispatcher,
            listener,
            supervisor,
        })
    }

    async fn stop_manager(parts: ManagerParts) {
        parts.supervisor.stop().await;
        parts.listener.stop().await;
        match Arc::try_unwrap(parts.raft) {
            Ok(raft) => {
                if let Err(e) = raft.shutdown().await {
                    tracing::warn!(error = %e, "raft did not shut down cleanly");
                }
            }
            Err(raft) => {
                let _ = raft.raft().shutdown().await;
            }
        }
    }

    fn raft_addr(&self) -> String {
        SocketAddr::new(self.advertise_ip(), self.cfg.listen_addr.port()).to_string()
    }

    /// Creates a new swarm with this node as its only manager.
    pub async fn init(&self, req: pb::InitRequest) -> Result<pb::InitResponse, Status> {
        let mut guard = self.member.lock().await;
        if req.force_new_cluster {
            let member = guard.as_mut().ok_or_else(|| {
                Status::failed_precondition(
                    "--force-new-cluster needs an existing swarm on this node; there is none",
                )
            })?;
            return self.force_new_cluster(member).await;
        }
        if guard.is_some() {
            return Err(Status::failed_precondition(
                "this node is already part of a swarm: use \"flotilla swarm leave\" to leave it first",
            ));
        }
        let expiry = match req.cert_expiry_secs {
            0 => DEFAULT_CERT_EXPIRY,
            s => Duration::from_secs(s),
        };
        if expiry < MIN_CERT_EXPIRY {
            return Err(Status::invalid_argument(format!(
                "--cert-expiry must be at least {MIN_CERT_EXPIRY:?}"
            )));
        }
        if expiry < Duration::from_secs(3600) {
            tracing::warn!(
                ?expiry,
                "node certificates expire in under an hour: meant for tests"
            );
        }
        if !req.advertise_addr.is_empty() {
            let ip: IpAddr = req.advertise_addr.parse().map_err(|e| {
                Status::invalid_argument(format!(
                    "invalid --advertise-addr {:?}: {e}",
                    req.advertise_addr
                ))
            })?;
            if ip != self.advertise_ip() {
                return Err(Status::invalid_argument(format!(
                    "--advertise-addr {ip} differs from the daemon's ({}); set it on the daemon with --advertise-addr",
                    self.advertise_ip()
                )));
            }
        }
        let raft_addr = self.raft_addr();
        // Leftovers of an init or join that crashed before writing the identity.
        self.clear_state().map_err(internal)?;
        let node_id = NodeId::from_random(flotilla_controlapi::new_id());
        let cluster_id = ClusterId::from_random(flotilla_controlapi::new_id());
        let now = SystemTime::now();
        let root = RootCa::generate(cluster_id.as_str(), now).map_err(internal)?;
        let key = NodeKey::generate().map_err(internal)?;
        let csr = key.csr_pem().map_err(internal)?;
        let serial = crate::ca_service::serial();
        let cert = root
            .sign_node_csr(
                &csr,
                node_id.as_str(),
                Role::Manager,
                cluster_id.as_str(),
                expiry,
                now,
                serial,
            )
            .map_err(internal)?;
        let tls = Arc::new(
            NodeTls::save(&self.certs_dir(), root.cert_pem(), &cert, &key.key_pem())
                .map_err(internal)?,
        );
        let raft = self.open_raft(1, &tls).await.map_err(internal)?;
        raft.initialize(&raft_addr).await.map_err(internal)?;
        let store = raft.store();
        let cluster = Cluster {
            id: cluster_id.clone(),
            meta: Meta::default(),
            spec: ClusterSpec::default(),
            ca: ClusterCa {
                root_cert_pem: root.cert_pem().to_owned(),
                root_key_pem: root
                    .key_pem()
                    .ok_or_else(|| internal("the new root CA has no key"))?,
                worker_secret: flotilla_controlapi::cluster::new_secret(),
                manager_secret: flotilla_controlapi::cluster::new_secret(),
                node_cert_validity_secs: expiry.as_secs(),
            },
            next_raft_id: 2,
            removed_nodes: Vec::new(),
        };
        let node = Node {
            id: node_id.clone(),
            meta: Meta::default(),
            spec: NodeSpec {
                role: NodeRole::Manager,
                ..Default::default()
            },
            description: self.description(),
            status: NodeStatus {
                state: NodeState::Ready,
                message: String::new(),
                addr: self.advertise_ip().to_string(),
            },
            manager_status: Some(ManagerStatus {
                leader: true,
                reachability: Reachability::Reachable,
                addr: raft_addr.clone(),
            }),
            raft_id: 1,
        };
        store
            .update(move |tx| {
                tx.create(cluster)?;
                tx.create(node)
            })
            .await
            .map_err(flotilla_controlapi::status)?;
        let identity = Identity {
            node_id: node_id.to_string(),
            cluster_id: cluster_id.to_string(),
            raft_id: 1,
            raft_addr: raft_addr.clone(),
            managers: vec![raft_addr],
        };
        let parts = self.start_manager(raft, &tls).await.map_err(internal)?;
        identity.save(&self.cfg.identity_path()).map_err(internal)?;
        tracing::info!(node_id = %identity.node_id, cluster_id = %identity.cluster_id, "swarm initialized");
        let resp = pb::InitResponse {
            node_id: identity.node_id.clone(),
            cluster_id: identity.cluster_id.clone(),
        };
        drop(guard);
        self.enter(Member {
            identity,
            tls,
            manager: Some(parts),
            agent: None,
            demoted_at: None,
        })
        .await;
        Ok(resp)
    }

    /// Restarts the swarm from this manager's state as its only manager: the Raft group is
    /// recreated with this member alone and every object this member had applied is written
    /// into it again; the other managers become workers (they rejoin the Raft group only if
    /// promoted again). Object versions restart from the new group's log.
    async fn force_new_cluster(&self, member: &mut Member) -> Result<pb::InitResponse, Status> {
        let parts = member.manager.take().ok_or_else(|| {
            Status::failed_precondition("--force-new-cluster must run on a manager")
        })?;
        let objects: Vec<flotilla_model::Object> = parts.raft.store().view(|t| {
            flotilla_model::Kind::ALL
                .iter()
                .flat_map(|k| t.list(*k))
                .cloned()
                .collect()
        });
        self.set_slot(Membership::Worker);
        Self::stop_manager(parts).await;
        std::fs::remove_dir_all(self.cfg.raft_dir()).map_err(internal)?;
        let raft = self
            .open_raft(member.identity.raft_id, &member.tls)
            .await
            .map_err(internal)?;
        raft.initialize(&member.identity.raft_addr)
            .await
            .map_err(internal)?;
        let me = member.identity.node_id.clone();
        let count = objects.len();
        raft.store()
            .update(move |tx| {
                for mut o in objects {
                    if let flotilla_model::Object::Node(n) = &mut o {
                        if n.id.as_str() == me {
                            if let Some(ms) = n.manager_status.as_mut() {
                                ms.leader = true;
                                ms.reachability = Reachability::Reachable;
                            }
                        } else if n.manager_status.is_some() {
                            n.spec.role = NodeRole::Worker;
                            n.manager_status = None;
                            n.status.state = NodeState::Down;
                        }
                    }
                    o.meta_mut().version = flotilla_model::Version(0);
                    tx.create(o)?;
                }
                Ok(())
            })
            .await
            .map_err(flotilla_controlapi::status)?;
        let parts = self
            .start_manager(raft, &member.tls)
            .await
            .map_err(internal)?;
        self.set_slot(Membership::Manager(parts.raft.store()));
        member.manager = Some(parts);
        member.identity.managers = vec![member.identity.raft_addr.clone()];
        member
            .identity
            .save(&self.cfg.identity_path())
            .map_err(internal)?;
        tracing::warn!(
            objects = count,
            "forced a new cluster from this manager's state"
        );
        Ok(pb::InitResponse {
            node_id: member.identity.node_id.clone(),
            cluster_id: member.identity.cluster_id.clone(),
        })
    }

    /// Removes identity, certificates and Raft state.
    fn clear_state(&self) -> std::io::Result<()> {
        for dir in [self.cfg.raft_dir(), self.certs_dir()] {
            if dir.exists() {
                std::fs::remove_dir_all(&dir)?;
            }
        }
        match std::fs::remove_file(self.cfg.identity_path()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Joins an existing swarm through the manager at `remote_addr`.
    pub async fn join(&self, req: pb::JoinSwarmRequest) -> Result<pb::JoinSwarmResponse, Status> {
        let guard = self.member.lock().await;
        if guard.is_some() {
            return Err(Status::failed_precondition(
                "this node is already part of a swarm: use \"flotilla swarm leave\" to leave it first",
            ));
        }
        drop(guard);
        let token: JoinToken = req
            .token
            .parse()
            .map_err(|e| Status::invalid_argument(format!("invalid join token: {e}")))?;
        let remote: SocketAddr = req.remote_addr.parse().map_err(|e| {
            Status::invalid_argument(format!(
                "invalid manager address {:?}: {e}",
                req.remote_addr
            ))
        })?;
        let remote = remote.to_string();
        // 1. Fetch the CA without trusting it, and check it against the token.
        let bootstrap = tls_channel(
            &remote,
            Arc::new(flotilla_ca::bootstrap_client_config().map_err(internal)?),
            Role::Manager.server_name(),
        )
        .map_err(Status::invalid_argument)?;
        let mut ca = CaClient::new(bootstrap);
        let mut r = Request::new(pb::GetRootCaRequest {});
        r.set_timeout(JOIN_TIMEOUT);
        let root_pem = ca
            .get_root_ca(r)
            .await
            .map_err(|s| {
                Status::unavailable(format!(
                    "cannot reach the manager at {remote}: {}",
                    s.message()
                ))
            })?
            .into_inner()
            .cert_pem;
        let root = RootCa::from_pem(&root_pem, None)
            .map_err(|e| Status::invalid_argument(format!("the manager sent a bad CA: {e}")))?;
        if root.digest() != token.ca_digest {
            tracing::warn!(%remote, "the manager's CA does not match the join token; not joining");
            return Err(Status::permission_denied(format!(
                "the manager at {remote} presented a CA whose digest does not match the join token: refusing to trust it"
            )));
        }
        // 2. With the CA pinned, send the CSR and the token's secret.
        let pinned = tls_channel(
            &remote,
            Arc::new(flotilla_ca::pinned_client_config(&root, SystemTime::now).map_err(internal)?),
            Role::Manager.server_name(),
        )
        .map_err(Status::invalid_argument)?;
        let key = NodeKey::generate().map_err(internal)?;
        let mut r = Request::new(pb::NodeJoinRequest {
            token: req.token.clone(),
            csr_pem: key.csr_pem().map_err(internal)?,
            description: Some(self.description().into()),
            addr: self.advertise_ip().to_string(),
            port: u32::from(self.cfg.listen_addr.port()),
        });
        r.set_timeout(JOIN_TIMEOUT);
        let resp = CaClient::new(pinned).join(r).await?.into_inner();
        self.clear_state().map_err(internal)?;
        let tls = Arc::new(
            NodeTls::save(&self.certs_dir(), &root_pem, &resp.cert_pem, &key.key_pem())
                .map_err(internal)?,
        );
        let mut identity = Identity {
            node_id: resp.node_id.clone(),
            cluster_id: resp.cluster_id.clone(),
            raft_id: 0,
            raft_addr: self.raft_addr(),
            managers: vec![remote.clone()],
        };
        let manager = if resp.role == "manager" {
            let parts = self
                .become_manager(resp.raft_id, &tls, &remote)
                .await
                .map_err(Status::unavailable)?;
            identity.raft_id = resp.raft_id;
            Some(parts)
        } else {
            None
        };
        identity.save(&self.cfg.identity_path()).map_err(internal)?;
        tracing::info!(node_id = %identity.node_id, role = %resp.role, "joined the swarm");
        self.enter(Member {
            identity,
            tls,
            manager,
            agent: None,
            demoted_at: None,
        })
        .await;
        Ok(pb::JoinSwarmResponse {
            node_id: resp.node_id,
            role: resp.role,
        })
    }

    /// Opens an empty Raft member, serves it, and asks the group (through `via`) to take it in
    /// as a learner and then a voter. Records this manager's address in its node object.
    async fn become_manager(
        &self,
        raft_id: u64,
        tls: &Arc<NodeTls>,
        via: &str,
    ) -> Result<ManagerParts, String> {
        if self.cfg.raft_dir().exists() {
            std::fs::remove_dir_all(self.cfg.raft_dir()).map_err(|e| e.to_string())?;
        }
        let raft = self.open_raft(raft_id, tls).await?;
        let parts = self.start_manager(raft, tls).await?;
        let addr = self.raft_addr();
        let mut client = pb::raft_client::RaftClient::new(tls.manager_channel(via)?);
        let mut r = Request::new(pb::JoinRaftRequest {
            raft_id,
            addr: addr.clone(),
        });
        r.set_timeout(JOIN_TIMEOUT);
        if let Err(s) = client.join(r).await {
            Self::stop_manager(parts).await;
            return Err(format!(
                "the raft group did not take this manager in: {}",
                s.message()
            ));
        }
        let store = parts.raft.store();
        let node_id = tls.identity().node_id;
        let res = store
            .update(move |tx| {
                if let Some(mut n) = tx.node(&node_id).cloned() {
                    let ms = n.manager_status.get_or_insert_with(ManagerStatus::default);
                    if ms.addr != addr {
                        ms.addr = addr;
                        tx.update(n)?;
                    }
                }
                Ok(())
            })
            .await;
        if let Err(e) = res {
            tracing::warn!(error = %e, "could not record this manager's address");
        }
        Ok(parts)
    }

    /// Leaves the swarm.
    pub async fn leave(
        &self,
        req: pb::LeaveSwarmRequest,
    ) -> Result<pb::LeaveSwarmResponse, Status> {
        let mut guard = self.member.lock().await;
        let Some(member) = guard.as_ref() else {
            return Err(Status::failed_precondition(
                "this node is not part of a swarm",
            ));
        };
        if member.manager.is_some() && !req.force {
            return Err(Status::failed_precondition(
                "this node is a manager: leaving may cost the swarm its quorum. Demote it first (\"flotilla node demote\"), or use --force",
            ));
        }
        let Some(member) = guard.take() else {
            return Err(Status::internal("membership vanished"));
        };
        drop(guard);
        self.set_slot(Membership::Inactive);
        *self.tls.write().unwrap_or_else(PoisonError::into_inner) = None;
        if let Some(a) = member.agent {
            a.stop().await;
        }
        if let Some(m) = member.manager {
            Self::stop_manager(m).await;
        }
        self.clear_state().map_err(internal)?;
        tracing::info!("left the swarm");
        Ok(pb::LeaveSwarmResponse {})
    }

    /// Replaces this node's certificate with a fresh one carrying the role the swarm wants.
    pub async fn renew_certificate(&self) -> Result<(), String> {
        let tls = self.tls_now().ok_or("not in a swarm")?;
        let key = NodeKey::generate().map_err(|e| e.to_string())?;
        let csr = key.csr_pem().map_err(|e| e.to_string())?;
        let mut last = String::from("no manager known");
        for addr in self.manager_addrs().await {
            let ch = tls.manager_channel(&addr)?;
            let mut r = Request::new(pb::RenewRequest {
                csr_pem: csr.clone(),
            });
            r.set_timeout(Duration::from_secs(10));
            match CaClient::new(ch).renew(r).await {
                Ok(resp) => {
                    let resp = resp.into_inner();
                    tls.replace(&resp.cert_pem, &key.key_pem())
                        .map_err(|e| e.to_string())?;
                    let id = tls.identity();
                    tracing::info!(role = %resp.role, not_after = ?id.not_after, "certificate renewed");
                    return Ok(());
                }
                Err(s) => last = format!("{addr}: {}", s.message()),
            }
        }
        Err(last)
    }

    /// Acts on what the leader said: remember the managers, and follow a role change once the
    /// certificate carries the new role.
    pub async fn on_heartbeat(&self, resp: &pb::HeartbeatResponse) {
        let mut guard = self.member.lock().await;
        let Some(member) = guard.as_mut() else { return };
        let cert_role = member.tls.identity().role;
        let mut dirty = false;
        if !resp.managers.is_empty() && resp.managers != member.identity.managers {
            member.identity.managers = resp.managers.clone();
            dirty = true;
        }
        if resp.role == "manager" && member.manager.is_none() && cert_role == Role::Manager {
            let via = if resp.leader_addr.is_empty() {
                member
                    .identity
                    .managers
                    .first()
                    .cloned()
                    .unwrap_or_default()
            } else {
                resp.leader_addr.clone()
            };
            match self.become_manager(resp.raft_id, &member.tls, &via).await {
                Ok(parts) => {
                    tracing::info!(
                        raft_id = resp.raft_id,
                        "promoted: this node is now a manager"
                    );
                    member.identity.raft_id = resp.raft_id;
                    self.set_slot(Membership::Manager(parts.raft.store()));
                    member.manager = Some(parts);
                    dirty = true;
                }
                Err(e) => tracing::warn!(error = %e, "promotion not complete yet; will retry"),
            }
        } else if resp.role == "worker" && cert_role == Role::Worker && member.manager.is_some() {
            // The leader takes a demoted manager out of the Raft group; stop once this member
            // sees itself out, or after a grace period (it may never receive the final config).
            let since = *member
                .demoted_at
                .get_or_insert_with(std::time::Instant::now);
            let out = member
                .manager
                .as_ref()
                .is_some_and(|m| !m.raft.voters().contains(&m.raft.id()));
            if (out || since.elapsed() > Duration::from_secs(10))
                && let Some(parts) = member.manager.take()
            {
                self.set_slot(Membership::Worker);
                Self::stop_manager(parts).await;
                if let Err(e) = std::fs::remove_dir_all(self.cfg.raft_dir()) {
                    tracing::warn!(error = %e, "could not remove the old raft state");
                }
                member.identity.raft_id = 0;
                member.demoted_at = None;
                dirty = true;
                tracing::info!("demoted: this node is now a worker");
            }
        }
        if dirty && let Err(e) = member.identity.save(&self.cfg.identity_path()) {
            tracing::warn!(error = %e, "could not save the node identity");
        }
    }

    /// What `flotilla info` shows.
    pub async fn info(&self) -> pb::InfoResponse {
        let version = env!("CARGO_PKG_VERSION").to_owned();
        let guard = self.member.lock().await;
        let Some(m) = guard.as_ref() else {
            return pb::InfoResponse {
                node_name: self.cfg.node_name.clone(),
                swarm_state: "inactive".into(),
                version,
                ..Default::default()
            };
        };
        let mut info = pb::InfoResponse {
            node_id: m.identity.node_id.clone(),
            node_name: self.cfg.node_name.clone(),
            swarm_state: "active".into(),
            is_manager: m.manager.is_some(),
            cluster_id: m.identity.cluster_id.clone(),
            node_addr: m.identity.raft_addr.clone(),
            version,
            ..Default::default()
        };
        if let Some(parts) = &m.manager {
            let store = parts.raft.store();
            let (managers, nodes) = store.view(|t| {
                let nodes = t.nodes();
                (
                    nodes.iter().filter(|n| n.manager_status.is_some()).count(),
                    nodes.len(),
                )
            });
            let metrics = parts.raft.metrics();
            let membership = metrics.membership_config.membership();
            info.managers = managers as u64;
            info.nodes = nodes as u64;
            info.leader_addr = store.leader_addr().unwrap_or_default();
            info.raft = Some(pb::RaftInfo {
                raft_id: m.identity.raft_id,
                term: metrics.current_term,
                leader_id: metrics.current_leader,
                last_log_index: metrics.last_log_index.unwrap_or(0),
                last_applied: metrics.last_applied.map_or(0, |l| l.index),
                snapshot_index: metrics.snapshot.map_or(0, |l| l.index),
                voters: membership.voter_ids().collect(),
                learners: membership.learner_ids().collect(),
            });
        }
        info
    }

    /// Stops everything.
    pub async fn shutdown(&self) {
        self.set_slot(Membership::Inactive);
        let member = self.member.lock().await.take();
        if let Some(member) = member {
            if let Some(a) = member.agent {
                a.stop().await;
            }
            if let Some(m) = member.manager {
                Self::stop_manager(m).await;
            }
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

    async fn join(
        &self,
        r: Request<pb::JoinSwarmRequest>,
    ) -> Result<Response<pb::JoinSwarmResponse>, Status> {
        self.0.join(r.into_inner()).await.map(Response::new)
    }

    async fn leave(
        &self,
        r: Request<pb::LeaveSwarmRequest>,
    ) -> Result<Response<pb::LeaveSwarmResponse>, Status> {
        self.0.leave(r.into_inner()).await.map(Response::new)
    }

    async fn info(
        &self,
        _r: Request<pb::InfoRequest>,
    ) -> Result<Response<pb::InfoResponse>, Status> {
        Ok(Response::new(self.0.info().await))
    }
}
