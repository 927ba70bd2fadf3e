//! [`DispatchError`]: why a submitted batch of statuses was not committed.

use flotilla_state::StoreError;

/// Why submitted statuses were not committed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DispatchError {
    /// The batcher is not running (it was stopped), so nothing will commit the statuses.
    #[error("task statuses cannot be committed: the status batcher has stopped")]
    Stopped,
    /// The store refused the batch (after retries, for version conflicts).
    #[error("committing task statuses failed: {0}")]
    Store(#[from] StoreError),
}
