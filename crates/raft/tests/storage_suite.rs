//! openraft's own storage test suite, run against our redb log store and state machine.

use flotilla_raft::TypeConfig;
use flotilla_raft::log_store::LogStore;
use flotilla_raft::state_machine::StateMachine;
use flotilla_state::StoreCore;
use openraft::testing::log::{StoreBuilder, Suite};
use openraft::{ErrorSubject, ErrorVerb, StorageError};
use std::sync::Arc;

struct Builder;

fn sto(e: impl std::fmt::Display) -> StorageError<TypeConfig> {
    StorageError::from_io_error(
        ErrorSubject::Store,
        ErrorVerb::Write,
        std::io::Error::other(e.to_string()),
    )
}

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for Builder {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError<TypeConfig>> {
        let dir = tempfile::tempdir().map_err(sto)?;
        let log = LogStore::open(&dir.path().join("log.redb")).map_err(sto)?;
        let sm = StateMachine::open(
            Arc::new(StoreCore::default()),
            &dir.path().join("snapshots"),
        )
        .map_err(sto)?;
        Ok((dir, log, sm))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openraft_storage_suite() -> Result<(), StorageError<TypeConfig>> {
    Suite::test_all(Builder).await?;
    Ok(())
}
