//! The CA gRPC service on managers: hands out the root certificate, admits nodes that present a
//! valid join token, and renews certificates of nodes that are still members — with the role the
//! cluster now wants them to have (that is how promotion and demotion reach a node).

use crate::authz::caller;
use flotilla_ca::{JoinToken, Role, RootCa};
use flotilla_model::{
    Cluster, ManagerStatus, Meta, Node, NodeDescription, NodeId, NodeRole, NodeSpec, NodeState,
    NodeStatus, Reachability,
};
use flotilla_proto::pb;
use flotilla_raft::RaftStore;
use flotilla_state::{ReadTx, Store, StoreError};
use std::time::{Duration, SystemTime};
use tonic::{Request, Response, Status};

/// The CA service.
#[derive(Clone)]
pub struct CaApi {
    store: RaftStore,
    root_pem: String,
}

impl CaApi {
    /// Serves the CA of the cluster in `store`, whose root certificate is `root_pem`.
    pub fn new(store: RaftStore, root_pem: String) -> Self {
        Self { store, root_pem }
    }
}

/// Maps a model role to the certificate role.
pub fn cert_role(r: NodeRole) -> Role {
    match r {
        NodeRole::Manager => Role::Manager,
        NodeRole::Worker => Role::Worker,
    }
}

/// A random certificate serial number (a positive DER integer).
pub fn serial() -> [u8; 16] {
    // Positive DER integer: clear the top bit.
    (rand::random::<u128>() & !(1u128 << 127)).to_be_bytes()
}

/// Signs `csr_pem` for `node_id` with the cluster's root.
pub fn sign(cluster: &Cluster, csr_pem: &str, node_id: &str, role: Role) -> Result<String, Status> {
    let root = RootCa::from_pem(&cluster.ca.root_cert_pem, Some(&cluster.ca.root_key_pem))
        .map_err(|e| Status::internal(format!("the cluster CA cannot be loaded: {e}")))?;
    let validity = Duration::from_secs(cluster.ca.node_cert_validity_secs.max(1));
    root.sign_node_csr(
        csr_pem,
        node_id,
        role,
        cluster.id.as_str(),
        validity,
        SystemTime::now(),
        serial(),
    )
    .map_err(|e| Status::invalid_argument(format!("cannot sign the certificate request: {e}")))
}

async fn cluster(store: &RaftStore) -> Result<Cluster, Status> {
    store
        .linearizable_view(|t| t.cluster().cloned())
        .await
        .map_err(flotilla_controlapi::status)?
        .ok_or_else(|| Status::unavailable("the swarm has no cluster object yet"))
}

fn peer(req: &Request<impl Sized>) -> String {
    req.remote_addr()
        .map_or_else(|| "unknown".into(), |a| a.to_string())
}

#[tonic::async_trait]
impl pb::ca_server::Ca for CaApi {
    async fn get_root_ca(
        &self,
        _r: Request<pb::GetRootCaRequest>,
    ) -> Result<Response<pb::GetRootCaResponse>, Status> {
        Ok(Response::new(pb::GetRootCaResponse {
            cert_pem: self.root_pem.clone(),
        }))
    }

    async fn join(
        &self,
        req: Request<pb::NodeJoinRequest>,
    ) -> Result<Response<pb::NodeJoinResponse>, Status> {
        let from = peer(&req);
        let r = req.into_inner();
        let refuse = |why: String| {
            tracing::warn!(peer = %from, reason = %why, "join refused");
            Status::permission_denied(why)
        };
        let token: JoinToken = r
            .token
            .parse()
            .map_err(|e| refuse(format!("invalid join token: {e}")))?;
        let c = cluster(&self.store).await?;
        let root = RootCa::from_pem(&c.ca.root_cert_pem, None)
            .map_err(|e| Status::internal(e.to_string()))?;
        if token.ca_digest != root.digest() {
            return Err(refuse(
                "the join token was issued by another swarm's CA".into(),
            ));
        }
        let role = if token.matches_secret(&c.ca.manager_secret) {
            NodeRole::Manager
        } else if token.matches_secret(&c.ca.worker_secret) {
            NodeRole::Worker
        } else {
            return Err(refuse(
                "invalid join token: the secret is wrong or was rotated".into(),
            ));
        };
        let description: NodeDescription =
            flotilla_proto::convert::required(r.description, "description")
                .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let ip: std::net::IpAddr = r
            .addr
            .parse()
            .map_err(|e| Status::invalid_argument(format!("invalid addr {:?}: {e}", r.addr)))?;
        let port =
            u16::try_from(r.port).map_err(|_| Status::invalid_argument("port out of range"))?;
        let node_addr = std::net::SocketAddr::new(ip, port).to_string();
        let node_id = NodeId::from_random(flotilla_controlapi::new_id());
        let id = node_id.clone();
        let ((raft_id, cluster_after), _) = self
            .store
            .update(move |tx| {
                let mut c = tx
                    .cluster()
                    .cloned()
                    .ok_or_else(|| StoreError::Unavailable("no cluster object".into()))?;
                let raft_id = if role == NodeRole::Manager {
                    let id = c.next_raft_id.max(2);
                    c.next_raft_id = id + 1;
                    tx.update(c.clone())?;
                    id
                } else {
                    0
                };
                let node = Node {
                    id: id.clone(),
                    meta: Meta::default(),
                    spec: NodeSpec {
                        role,
                        ..Default::default()
                    },
                    description,
                    status: NodeStatus {
                        state: NodeState::Unknown,
                        message: "joined".into(),
                        addr: ip.to_string(),
                    },
                    manager_status: (role == NodeRole::Manager).then(|| ManagerStatus {
                        leader: false,
                        reachability: Reachability::Unknown,
                        addr: node_addr.clone(),
                    }),
                    raft_id,
                };
                tx.create(node)?;
                Ok((raft_id, c))
            })
            .await
            .map_err(flotilla_controlapi::status)?;
        let cert_pem = sign(
            &cluster_after,
            &r.csr_pem,
            node_id.as_str(),
            cert_role(role),
        )?;
        tracing::info!(peer = %from, node_id = %node_id, role = role.name(), "node joined");
        Ok(Response::new(pb::NodeJoinResponse {
            node_id: node_id.to_string(),
            role: role.name().into(),
            cert_pem,
            cluster_id: cluster_after.id.to_string(),
            raft_id,
        }))
    }

    async fn renew(
        &self,
        req: Request<pb::RenewRequest>,
    ) -> Result<Response<pb::RenewResponse>, Status> {
        let id = caller(&req)
            .ok_or_else(|| Status::unauthenticated("renewal needs the current certificate"))?;
        let r = req.into_inner();
        let c = cluster(&self.store).await?;
        let node = self
            .store
            .view(|t| t.node(&id.node_id).cloned())
            .ok_or_else(|| {
                Status::permission_denied(format!(
                    "node {} is not a member of the swarm",
                    id.node_id
                ))
            })?;
        let role = cert_role(node.spec.role);
        let cert_pem = sign(&c, &r.csr_pem, &id.node_id, role)?;
        tracing::info!(node_id = %id.node_id, role = node.spec.role.name(), "certificate renewed");
        Ok(Response::new(pb::RenewResponse {
            cert_pem,
            role: node.spec.role.name().into(),
        }))
    }
}
