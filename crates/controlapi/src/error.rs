//! The one mapping from store, validation and wire errors to gRPC statuses.

use flotilla_model::ValidationError;
use flotilla_proto::ConvertError;
use flotilla_state::StoreError;
use tonic::Status;

/// Maps a store error to the status a client sees.
pub fn status(e: StoreError) -> Status {
    let msg = e.to_string();
    match e {
        StoreError::NotFound { .. } => Status::not_found(msg),
        StoreError::AlreadyExists { .. } | StoreError::NameConflict { .. } => {
            Status::already_exists(msg)
        }
        StoreError::Conflict { .. } => Status::aborted(msg),
        StoreError::Invalid(_) | StoreError::Ambiguous { .. } => Status::invalid_argument(msg),
        StoreError::NotLeader { .. } | StoreError::Unavailable(_) => Status::unavailable(msg),
        StoreError::Compacted { .. } => Status::internal(msg),
    }
}

/// A refused spec.
pub fn invalid(e: ValidationError) -> Status {
    Status::invalid_argument(e.to_string())
}

/// A request that does not decode into the model.
pub fn undecodable(e: ConvertError) -> Status {
    Status::invalid_argument(e.to_string())
}
