//! The manager's duties. On every manager: refresh the set of refused (removed) node ids from
//! the store, and run the dispatcher's liveness check (which acts only on the leader).
//! On the leader only: keep each manager's status (leader flag, reachability) true to Raft,
//! shrink the Raft membership when a manager was demoted or removed, and — as child tasks with
//! the same lifetime — run the orchestrators and the scheduler (`flotilla-manager`) and commit
//! the batched task statuses (`flotilla-dispatcher`).

use crate::dispatcher::Dispatcher;
use flotilla_ca::Revocations;
use flotilla_model::{NodeRole, Reachability};
use flotilla_raft::RaftNode;
use flotilla_state::{ReadTx, Store};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How often the duties run.
const TICK: Duration = Duration::from_millis(500);
/// A manager is unreachable once its last heartbeat acknowledgement is older than this.
const REACHABLE_WITHIN: Duration = Duration::from_secs(3);

/// Runs until `stop` turns true.
pub async fn run(
    raft: Arc<RaftNode>,
    dispatcher: Arc<Dispatcher>,
    revoked: Arc<Revocations>,
    mut stop: watch::Receiver<bool>,
) {
    let store = raft.store();
    let leading = store.clone();
    let decisions = tokio::spawn(flotilla_manager::run(
        store,
        Arc::new(move || leading.is_leader()),
        stop.clone(),
    ));
    let statuses = tokio::spawn(dispatcher.statuses.clone().run(stop.clone()));
    duties(raft, dispatcher.clone(), revoked, &mut stop).await;
    dispatcher.close();
    // Without a quorum a write in flight never finishes: the children are ended, not awaited
    // (Raft keeps the store consistent whether or not that write lands).
    decisions.abort();
    statuses.abort();
    let _ = decisions.await;
    let _ = statuses.await;
}

async fn duties(
    raft: Arc<RaftNode>,
    dispatcher: Arc<Dispatcher>,
    revoked: Arc<Revocations>,
    stop: &mut watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(TICK) => {}
        }
        let store = raft.store();
        let removed: Vec<String> = store.view(|t| {
            t.cluster()
                .map(|c| c.removed_nodes.iter().map(ToString::to_string).collect())
                .unwrap_or_default()
        });
        revoked.replace_all(removed);
        dispatcher.check().await;
        if store.is_leader()
            && let Err(e) = reconcile_managers(&raft).await
        {
            tracing::debug!(error = %e, "manager reconciliation will retry");
        }
    }
}

async fn reconcile_managers(raft: &RaftNode) -> Result<(), String> {
    let store = raft.store();
    let leader = raft.leader();
    let reach = raft.peer_reachability(REACHABLE_WITHIN).unwrap_or_default();
    let me = raft.id();
    // Manager status: leader flag and reachability as Raft sees them.
    let changed: Vec<flotilla_model::Node> = store.view(|t| {
        t.nodes()
            .into_iter()
            .filter_map(|n| {
                let ms = n.manager_status.as_ref()?;
                let is_leader = leader == Some(n.raft_id);
                let reachable = n.raft_id == me || reach.get(&n.raft_id).copied().unwrap_or(false);
                let r = if reachable {
                    Reachability::Reachable
                } else {
                    Reachability::Unreachable
                };
                (ms.leader != is_leader || ms.reachability != r).then(|| {
                    let mut n = n.clone();
                    if let Some(ms) = n.manager_status.as_mut() {
                        ms.leader = is_leader;
                        ms.reachability = r;
                    }
                    n
                })
            })
            .collect()
    });
    if !changed.is_empty() {
        store
            .update(move |tx| {
                for n in changed {
                    tx.update(n)?;
                }
                Ok(())
            })
            .await
            .map_err(|e| e.to_string())?;
    }
    // Membership: voters whose node is gone or no longer a manager leave the group.
    let voters = raft.voters();
    let keep: std::collections::BTreeSet<u64> = store.view(|t| {
        t.nodes()
            .into_iter()
            .filter(|n| n.spec.role == NodeRole::Manager && n.raft_id != 0)
            .map(|n| n.raft_id)
            .collect()
    });
    for v in voters {
        if !keep.contains(&v) && v != me {
            tracing::info!(
                raft_id = v,
                "removing a demoted or removed manager from the raft group"
            );
            raft.remove_voter(v, false)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}
