//! The cluster object.

use crate::error::status;
use flotilla_proto::pb;
use flotilla_state::{ReadTx, Store};
use tonic::Status;

/// The cluster object.
pub async fn get<S: Store>(s: &S) -> Result<pb::Cluster, Status> {
    let c = s
        .linearizable_view(|t| t.cluster().cloned())
        .await
        .map_err(status)?;
    c.map(Into::into)
        .ok_or_else(|| Status::failed_precondition("the swarm has no cluster object yet"))
}
