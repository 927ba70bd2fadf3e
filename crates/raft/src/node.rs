//! [`RaftNode`]: one manager's Raft member — log store, state machine, network and openraft —
//! assembled from a data directory, plus the membership operations.
//!
//! Membership follows Swarm's manager life cycle: a new manager joins as a learner, catches up,
//! and only then becomes a voter; removal and demotion are joint-consensus changes. Raft ids are
//! chosen by the caller and must never be reused.

use crate::Raft;
use crate::error::RaftError;
use crate::log_store::LogStore;
use crate::network::{Channels, Connector};
use crate::server::RaftService;
use crate::state_machine::StateMachine;
use crate::store::RaftStore;
use crate::types::RaftId;
use flotilla_proto::pb::raft_server::RaftServer;
use flotilla_state::StoreCore;
use openraft::async_runtime::WatchReceiver;
use openraft::{BasicNode, ChangeMembers, Config, RaftMetrics, SnapshotPolicy};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Tunables of the Raft group.
#[derive(Debug, Clone)]
pub struct RaftConfig {
    /// Leader heartbeat period (and the append RPC deadline), in ms.
    pub heartbeat_ms: u64,
    /// Election timeout range, in ms.
    pub election_timeout_ms: (u64, u64),
    /// Entries between snapshots.
    pub snapshot_every: u64,
    /// Entries kept in the log behind the snapshot, for slow followers.
    pub keep_after_snapshot: u64,
    /// Deadline of a snapshot transfer, in ms.
    pub snapshot_timeout_ms: u64,
    /// Entries purged at once, at least, once a snapshot allows it.
    pub purge_batch: u64,
}

impl Default for RaftConfig {
    fn default() -> Self {
        Self {
            heartbeat_ms: 100,
            election_timeout_ms: (500, 1000),
            snapshot_every: 10_000,
            keep_after_snapshot: 500,
            snapshot_timeout_ms: 30_000,
            purge_batch: 256,
        }
    }
}

/// One manager's Raft member.
pub struct RaftNode {
    id: RaftId,
    raft: Raft,
    core: Arc<StoreCore>,
    channels: Channels,
    dir: PathBuf,
    /// Kept to know when openraft has released the log database after shutdown.
    log: LogStore,
}

impl RaftNode {
    /// Opens the member with id `id` from `dir` (creating it if empty). The log is checked on
    /// open; a damaged log is refused with a clear error.
    pub async fn open(
        id: RaftId,
        dir: &Path,
        cfg: &RaftConfig,
        connector: Connector,
    ) -> Result<Self, RaftError> {
        std::fs::create_dir_all(dir).map_err(|source| RaftError::Io {
            context: format!("creating {}", dir.display()),
            source,
        })?;
        let log = LogStore::open(&dir.join("raft-log.redb"))?;
        let core = Arc::new(StoreCore::default());
        let sm = StateMachine::open(core.clone(), &dir.join("snapshots"))?;
        let config = Config {
            cluster_name: "flotilla".into(),
            heartbeat_interval: cfg.heartbeat_ms,
            election_timeout_min: cfg.election_timeout_ms.0,
            election_timeout_max: cfg.election_timeout_ms.1,
            install_snapshot_timeout: cfg.snapshot_timeout_ms,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(cfg.snapshot_every),
            max_in_snapshot_log_to_keep: cfg.keep_after_snapshot,
            purge_batch_size: cfg.purge_batch.max(1),
            enable_pre_vote: Some(true),
            ..Default::default()
        }
        .validate()
        .map_err(|e| RaftError::Config(e.to_string()))?;
        let channels = Channels::new(connector);
        let raft = Raft::new(id, Arc::new(config), channels.clone(), log.clone(), sm)
            .await
            .map_err(|e| RaftError::Fatal(e.to_string()))?;
        Ok(Self {
            id,
            raft,
            core,
            channels,
            dir: dir.to_owned(),
            log,
        })
    }

    /// This member's id.
    pub fn id(&self) -> RaftId {
        self.id
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The openraft handle.
    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    /// The replicated store.
    pub fn store(&self) -> RaftStore {
        RaftStore::new(self.raft.clone(), self.core.clone(), self.channels.clone())
    }

    /// The gRPC service to serve to other managers.
    pub fn service(&self) -> RaftServer<RaftService> {
        RaftServer::new(RaftService::new(self.raft.clone(), self.channels.clone()))
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(64 << 20)
    }

    /// The channel cache, shared with whoever else talks to peers.
    pub fn channels(&self) -> &Channels {
        &self.channels
    }

    /// Whether the group was ever initialised (on this member's disk).
    pub async fn is_initialized(&self) -> Result<bool, RaftError> {
        self.raft
            .is_initialized()
            .await
            .map_err(|e| RaftError::Fatal(e.to_string()))
    }

    /// Starts a new group with this member as its only voter, reachable at `addr`.
    pub async fn initialize(&self, addr: &str) -> Result<(), RaftError> {
        let members = BTreeMap::from([(self.id, BasicNode::new(addr))]);
        self.raft
            .initialize(members)
            .await
            .map_err(|e| RaftError::Membership(e.to_string()))?;
        self.raft
            .wait(Some(Duration::from_secs(10)))
            .current_leader(self.id, "the new group elects its only member")
            .await
            .map_err(|e| RaftError::Membership(e.to_string()))?;
        // The leader's first (blank) entry at index 1 commits the initial membership.
        self.raft
            .wait(Some(Duration::from_secs(10)))
            .applied_index_at_least(Some(1), "the initial membership commits")
            .await
            .map_err(|e| RaftError::Membership(e.to_string()))?;
        Ok(())
    }

    /// Adds `id` at `addr` as a learner, waits for it to catch up, then makes it a voter. Call
    /// on the leader.
    pub async fn add_voter(&self, id: RaftId, addr: &str) -> Result<(), RaftError> {
        join_as_voter(&self.raft, id, BasicNode::new(addr)).await
    }

    /// Removes `id` from the voters (it stays a learner if `keep_as_learner`).
    pub async fn remove_voter(&self, id: RaftId, keep_as_learner: bool) -> Result<(), RaftError> {
        self.raft
            .change_membership(
                ChangeMembers::RemoveVoters(BTreeSet::from([id])),
                keep_as_learner,
            )
            .await
            .map_err(|e| RaftError::Membership(e.to_string()))?;
        if !keep_as_learner {
            self.raft
                .change_membership(ChangeMembers::RemoveNodes(BTreeSet::from([id])), false)
                .await
                .map_err(|e| RaftError::Membership(e.to_string()))?;
        }
        Ok(())
    }

    /// Current voters.
    pub fn voters(&self) -> BTreeSet<RaftId> {
        self.metrics()
            .membership_config
            .membership()
            .voter_ids()
            .collect()
    }

    /// Current leader, if known.
    pub fn leader(&self) -> Option<RaftId> {
        self.metrics().current_leader
    }

    /// On the leader: for each other member, whether it acknowledged a heartbeat within
    /// `max_age`. `None` on followers.
    pub fn peer_reachability(&self, max_age: Duration) -> Option<BTreeMap<RaftId, bool>> {
        use openraft::Instant as _;
        let m = self.metrics();
        let hb = m.heartbeat.as_ref()?;
        Some(
            hb.iter()
                .map(|(id, at)| (*id, at.as_ref().is_some_and(|t| t.elapsed() <= max_age)))
                .collect(),
        )
    }

    /// The latest metrics.
    pub fn metrics(&self) -> RaftMetrics<crate::TypeConfig> {
        self.raft.metrics().borrow_watched().clone()
    }

    /// Stops the member, and waits (up to 10 s) until openraft's workers have let go of the log
    /// database, so the directory can be opened again at once.
    pub async fn shutdown(self) -> Result<(), RaftError> {
        self.raft
            .shutdown()
            .await
            .map_err(|e| RaftError::Fatal(e.to_string()))?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.log.handles() > 1 {
            if tokio::time::Instant::now() >= deadline {
                return Err(RaftError::Fatal(
                    "the raft log is still in use 10 s after shutdown".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(())
    }
}

/// Adds `id` as a learner (blocking until it caught up), then promotes it to voter.
pub async fn join_as_voter(raft: &Raft, id: RaftId, node: BasicNode) -> Result<(), RaftError> {
    let m = raft.metrics().borrow_watched().clone();
    if m.membership_config
        .membership()
        .voter_ids()
        .any(|v| v == id)
    {
        return Ok(());
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    // A membership change still in flight (ours or another) makes the next one wait its turn.
    let retrying = |e: String| async move {
        if e.contains("already undergoing a configuration change")
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(())
        } else {
            Err(RaftError::Membership(e))
        }
    };
    loop {
        match raft.add_learner(id, node.clone(), true).await {
            Ok(_) => break,
            Err(e) => retrying(e.to_string()).await?,
        }
    }
    loop {
        match raft
            .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) => retrying(e.to_string()).await?,
        }
    }
}
