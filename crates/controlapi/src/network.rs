//! Networks: create, get, list, remove.

use crate::error::{invalid, status, undecodable};
use flotilla_model::{Kind, Meta, Network, NetworkId, NetworkSpec};
use flotilla_proto::convert::required;
use flotilla_proto::pb;
use flotilla_state::{ReadTx, Store, StoreError};
use tonic::Status;

/// Validates and stores a new network (addresses are allocated later, by the allocator).
pub async fn create<S: Store>(s: &S, req: pb::CreateNetworkRequest) -> Result<pb::Network, Status> {
    let spec: NetworkSpec = required(req.spec, "spec").map_err(undecodable)?;
    spec.validate().map_err(invalid)?;
    let id = NetworkId::from_random(crate::new_id());
    let net = Network {
        id: id.clone(),
        meta: Meta::default(),
        spec,
        subnet: String::new(),
        vni: 0,
    };
    s.update(move |tx| tx.create(net)).await.map_err(status)?;
    get(s, id.as_str()).await
}

/// One network by id, name or id prefix.
pub async fn get<S: Store>(s: &S, reference: &str) -> Result<pb::Network, Status> {
    s.linearizable_view(|t| {
        t.resolve(Kind::Network, reference)
            .map(|o| o.as_network().cloned())
    })
    .await
    .map_err(status)?
    .map_err(status)?
    .map(Into::into)
    .ok_or_else(|| Status::internal("resolved object is not a network"))
}

/// Every network.
pub async fn list<S: Store>(s: &S) -> Result<pb::ListNetworksResponse, Status> {
    s.linearizable_view(|t| pb::ListNetworksResponse {
        networks: t.networks().into_iter().cloned().map(Into::into).collect(),
    })
    .await
    .map_err(status)
}

/// Removes a network no service uses.
pub async fn remove<S: Store>(s: &S, reference: &str) -> Result<pb::RemoveNetworkResponse, Status> {
    let reference = reference.to_owned();
    s.update(move |tx| {
        let net = tx
            .resolve(Kind::Network, &reference)?
            .as_network()
            .cloned()
            .ok_or_else(|| StoreError::NotFound {
                kind: Kind::Network,
                id: reference.clone(),
            })?;
        let users: Vec<String> = tx
            .services()
            .into_iter()
            .filter(|s| {
                s.spec
                    .networks
                    .iter()
                    .any(|n| *n == net.spec.name || *n == net.id.as_str())
            })
            .map(|s| s.spec.name.clone())
            .collect();
        if !users.is_empty() {
            return Err(StoreError::Invalid(flotilla_model::ValidationError::new(
                "network",
                format!(
                    "network {} is in use by service(s) {}",
                    net.spec.name,
                    users.join(", ")
                ),
            )));
        }
        tx.delete(Kind::Network, net.id.as_str())
    })
    .await
    .map_err(status)?;
    Ok(pb::RemoveNetworkResponse {})
}
