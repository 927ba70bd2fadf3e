//! The cluster object (always redacted) and join tokens.

use crate::error::status;
use flotilla_ca::{JoinToken, RootCa};
use flotilla_proto::pb;
use flotilla_state::{ReadTx, Store, StoreError};
use tonic::Status;

/// The cluster object, without its key or join secrets.
pub async fn get<S: Store>(s: &S) -> Result<pb::Cluster, Status> {
    let c = s
        .linearizable_view(|t| t.cluster().map(flotilla_model::Cluster::redacted))
        .await
        .map_err(status)?;
    c.map(Into::into)
        .ok_or_else(|| Status::failed_precondition("the swarm has no cluster object yet"))
}

/// A fresh join secret: 25 base-36 characters from 128 random bits.
pub fn new_secret() -> String {
    flotilla_model::id::encode_id(crate::new_id())
}

/// The join token for `role` ("worker" or "manager"), after replacing its secret if `rotate`.
pub async fn join_token<S: Store>(
    s: &S,
    role: &str,
    rotate: bool,
) -> Result<pb::JoinTokenResponse, Status> {
    let manager = match role {
        "worker" => false,
        "manager" => true,
        other => {
            return Err(Status::invalid_argument(format!(
                "invalid role {other:?}: expected worker or manager"
            )));
        }
    };
    if rotate {
        s.update(move |tx| {
            let mut c = tx
                .cluster()
                .cloned()
                .ok_or_else(|| StoreError::Unavailable("no cluster object".into()))?;
            let secret = new_secret();
            if manager {
                c.ca.manager_secret = secret;
            } else {
                c.ca.worker_secret = secret;
            }
            tx.update(c)
        })
        .await
        .map_err(status)?;
        tracing::info!(role, "join token rotated");
    }
    let c = s
        .linearizable_view(|t| t.cluster().cloned())
        .await
        .map_err(status)?
        .ok_or_else(|| Status::failed_precondition("the swarm has no cluster object yet"))?;
    let root =
        RootCa::from_pem(&c.ca.root_cert_pem, None).map_err(|e| Status::internal(e.to_string()))?;
    let secret = if manager {
        c.ca.manager_secret
    } else {
        c.ca.worker_secret
    };
    Ok(pb::JoinTokenResponse {
        token: JoinToken {
            ca_digest: root.digest(),
            secret,
        }
        .to_string(),
    })
}
