//! Nodes: list, get, update (availability, labels, role), remove.

use crate::error::{invalid, status, undecodable};
use flotilla_model::{
    Kind, ManagerStatus, Node, NodeRole, NodeSpec, NodeState, Reachability, ValidationError,
    Version,
};
use flotilla_proto::convert::required;
use flotilla_proto::pb;
use flotilla_state::{ReadTx, Store, StoreError};
use tonic::Status;

/// Every node.
pub async fn list<S: Store>(s: &S) -> Result<pb::ListNodesResponse, Status> {
    s.linearizable_view(|t| pb::ListNodesResponse {
        nodes: t.nodes().into_iter().cloned().map(Into::into).collect(),
    })
    .await
    .map_err(status)
}

/// One node by id, hostname-free reference or id prefix.
pub async fn get<S: Store>(s: &S, reference: &str) -> Result<pb::Node, Status> {
    s.linearizable_view(|t| resolve(t, reference).map(|n| n.clone().into()))
        .await
        .map_err(status)?
        .map_err(status)
}

/// Resolves a node by id, id prefix, or hostname.
fn resolve<'t>(
    t: &'t impl ReadTx,
    reference: &str,
) -> Result<&'t flotilla_model::Node, StoreError> {
    match t.resolve(Kind::Node, reference) {
        Ok(o) => o.as_node().ok_or_else(|| StoreError::NotFound {
            kind: Kind::Node,
            id: reference.to_owned(),
        }),
        Err(StoreError::NotFound { .. }) => {
            let mut by_host = t
                .nodes()
                .into_iter()
                .filter(|n| n.description.hostname == reference);
            match (by_host.next(), by_host.count()) {
                (Some(n), 0) => Ok(n),
                (Some(_), more) => Err(StoreError::Ambiguous {
                    kind: Kind::Node,
                    reference: reference.to_owned(),
                    matches: more + 1,
                }),
                (None, _) => Err(StoreError::NotFound {
                    kind: Kind::Node,
                    id: reference.to_owned(),
                }),
            }
        }
        Err(e) => Err(e),
    }
}

/// Replaces a node's spec, refusing a stale version. A role change is a promotion (the node
/// gets a Raft id, never reused, and joins the Raft group itself once it holds a manager
/// certificate) or a demotion (refused if the remaining managers could not keep a quorum,
/// unless `force`; the leader then removes it from the Raft group).
pub async fn update<S: Store>(s: &S, req: pb::UpdateNodeRequest) -> Result<pb::Node, Status> {
    let spec: NodeSpec = required(req.spec, "spec").map_err(undecodable)?;
    spec.validate().map_err(invalid)?;
    let given = Version(req.version);
    let reference = req.node_ref;
    let force = req.force;
    let (node, _) = s
        .update(move |tx| {
            let mut node = resolve(tx, &reference)?.clone();
            if node.meta.version != given {
                return Err(StoreError::Conflict {
                    kind: Kind::Node,
                    id: node.id.to_string(),
                    given,
                    current: node.meta.version,
                });
            }
            match (node.spec.role, spec.role) {
                (NodeRole::Worker, NodeRole::Manager) => {
                    let mut c = tx
                        .cluster()
                        .cloned()
                        .ok_or_else(|| StoreError::Unavailable("no cluster object".into()))?;
                    if node.raft_id == 0 {
                        node.raft_id = c.next_raft_id.max(2);
                        c.next_raft_id = node.raft_id + 1;
                        tx.update(c)?;
                    }
                    node.manager_status = Some(ManagerStatus::default());
                }
                (NodeRole::Manager, NodeRole::Worker) => {
                    check_quorum_without(tx, &node, force)?;
                    node.manager_status = None;
                }
                _ => {}
            }
            node.spec = spec;
            let id = node.id.clone();
            tx.update(node)?;
            Ok(id)
        })
        .await
        .map_err(status)?;
    get(s, node.as_str()).await
}

/// Refuses to take `leaving` out of the managers if the rest could not keep a quorum.
fn check_quorum_without(tx: &impl ReadTx, leaving: &Node, force: bool) -> Result<(), StoreError> {
    let remaining: Vec<&Node> = tx
        .nodes()
        .into_iter()
        .filter(|n| n.spec.role == NodeRole::Manager && n.id != leaving.id)
        .collect();
    if remaining.is_empty() {
        return Err(StoreError::Invalid(ValidationError::new(
            "node",
            format!(
                "{} is the last manager of the swarm and cannot be demoted",
                leaving.id
            ),
        )));
    }
    let reachable = remaining
        .iter()
        .filter(|n| {
            n.manager_status
                .as_ref()
                .is_some_and(|m| m.leader || m.reachability == Reachability::Reachable)
        })
        .count();
    let quorum = remaining.len() / 2 + 1;
    if reachable < quorum && !force {
        return Err(StoreError::Invalid(ValidationError::new(
            "node",
            format!(
                "demoting {} would leave the swarm without a quorum: {reachable} of the {} remaining managers are reachable, {quorum} are needed (use --force to demote anyway)",
                leaving.id,
                remaining.len()
            ),
        )));
    }
    Ok(())
}

/// Removes a node that is down (or any worker, with `force`). Managers must be demoted first.
pub async fn remove<S: Store>(
    s: &S,
    req: pb::RemoveNodeRequest,
) -> Result<pb::RemoveNodeResponse, Status> {
    let reference = req.node_ref;
    let force = req.force;
    s.update(move |tx| {
        let node = resolve(tx, &reference)?.clone();
        if node.manager_status.is_some() {
            return Err(StoreError::Invalid(flotilla_model::ValidationError::new(
                "node",
                format!("{} is a cluster manager and is a member of the raft cluster: demote it before removal", node.id),
            )));
        }
        if node.status.state == NodeState::Ready && !force {
            return Err(StoreError::Invalid(flotilla_model::ValidationError::new(
                "node",
                format!("{} is not down and can't be removed (use --force)", node.id),
            )));
        }
        // Its certificate is refused from now on, everywhere.
        let mut c = tx.cluster().cloned().ok_or_else(|| StoreError::Unavailable("no cluster object".into()))?;
        if !c.removed_nodes.contains(&node.id) {
            c.removed_nodes.push(node.id.clone());
            tx.update(c)?;
        }
        tx.delete(Kind::Node, node.id.as_str())
    })
    .await
    .map_err(status)?;
    Ok(pb::RemoveNodeResponse {})
}
