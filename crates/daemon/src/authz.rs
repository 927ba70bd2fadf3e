//! Authorization of node-to-node calls by the role in the peer's certificate.
//!
//! Each service on the node-to-node listener is wrapped with the rule it needs: the CA's join
//! calls take anyone (the token is checked inside); the dispatcher takes any node of this
//! cluster; Raft and Control take managers only. A removed node is refused here too, so a
//! connection opened before its removal stops working at once.

use flotilla_ca::{Identity, Revocations, Role, peer_identity};
use std::sync::Arc;
use tonic::{Request, Status};

/// Who may call a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Anyone (the handler authenticates).
    Anyone,
    /// Any node of this cluster.
    AnyNode,
    /// Managers only.
    Managers,
}

/// The caller's identity, from its TLS certificate.
pub fn caller<T>(req: &Request<T>) -> Option<Identity> {
    let certs = req.peer_certs()?;
    peer_identity(&certs)
}

/// An interceptor enforcing `rule`.
pub fn interceptor(
    rule: Rule,
    revoked: Arc<Revocations>,
) -> impl FnMut(Request<()>) -> Result<Request<()>, Status> + Clone {
    move |req: Request<()>| {
        if rule == Rule::Anyone {
            return Ok(req);
        }
        let Some(id) = caller(&req) else {
            return Err(Status::unauthenticated(
                "a node certificate of this cluster is required",
            ));
        };
        if revoked.contains(&id.node_id) {
            tracing::warn!(node_id = %id.node_id, "refused a call from a removed node");
            return Err(Status::permission_denied(format!(
                "node {} was removed from the swarm",
                id.node_id
            )));
        }
        if rule == Rule::Managers && id.role != Role::Manager {
            tracing::warn!(node_id = %id.node_id, "refused a manager-only call from a worker certificate");
            return Err(Status::permission_denied(
                "a worker certificate cannot call manager services",
            ));
        }
        Ok(req)
    }
}
