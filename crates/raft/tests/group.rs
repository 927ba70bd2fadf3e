//! Raft groups on loopback: conformance of `RaftStore`, leader loss, catch-up by snapshot,
//! crash recovery and damaged logs.

use flotilla_model::{Kind, Version};
use flotilla_raft::local_group::LocalGroup;
use flotilla_raft::{RaftConfig, RaftError, RaftStore};
use flotilla_state::conformance::service;
use flotilla_state::{ReadTx, Store, StoreError};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn cfg() -> RaftConfig {
    RaftConfig::default()
}

async fn create(store: &RaftStore, i: usize) -> Result<Version, StoreError> {
    let name = format!("svc-{i}");
    let id = format!("id{i:06}");
    store
        .update(move |tx| tx.create(service(&id, &name)))
        .await
        .map(|(_, v)| v)
}

async fn count_services(store: &RaftStore) -> usize {
    store
        .linearizable_view(|t| t.count(Kind::Service))
        .await
        .expect("linearizable read")
}

/// Runs the `Store` conformance suite, each check on a fresh group of `members`, through the
/// store of the leader or of a follower (whose writes are forwarded to the leader).
async fn conformance(members: usize, through_follower: bool) {
    let root = tempfile::tempdir().expect("tempdir");
    let n = AtomicUsize::new(0);
    let groups = Mutex::new(Vec::new());
    flotilla_state::conformance::run_all(|| async {
        let dir = root
            .path()
            .join(format!("g{}", n.fetch_add(1, Ordering::SeqCst)));
        let g = LocalGroup::start(&dir, members, cfg())
            .await
            .expect("group starts");
        let leader = g.leader_index().await.expect("leader");
        let pick = if through_follower {
            (leader + 1) % members
        } else {
            leader
        };
        let s = g.store(pick).expect("running");
        groups.lock().expect("lock").push(g);
        s
    })
    .await;
    for g in groups.into_inner().expect("lock") {
        g.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_member_store_passes_conformance() {
    conformance(1, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follower_store_passes_conformance_by_forwarding() {
    conformance(3, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_loss_keeps_every_acknowledged_write() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut g = LocalGroup::start(root.path(), 3, cfg())
        .await
        .expect("group starts");
    let mut acked = 0;
    for i in 0..30 {
        // Write through every member in turn: followers forward to the leader.
        let s = g.store(i % 3).expect("running");
        create(&s, i).await.expect("write acknowledged");
        acked += 1;
    }
    let old = g.leader_index().await.expect("leader");
    let killed_at = Instant::now();
    g.stop_member(old).await;
    let new = g.leader_index().await.expect("a new leader is elected");
    let elected_after = killed_at.elapsed();
    assert_ne!(new, old);
    let s = g.store(new).expect("running");
    create(&s, 1000)
        .await
        .expect("writes resume under the new leader");
    println!(
        "leader stopped -> new leader accepted a write after {:?}",
        killed_at.elapsed()
    );
    println!("(new leader agreed after {elected_after:?})");
    assert_eq!(
        count_services(&s).await,
        acked + 1,
        "every acknowledged write survives"
    );
    for i in 30..40 {
        create(&g.store(new).expect("running"), i)
            .await
            .expect("write");
    }
    // The old leader comes back as a follower and catches up.
    g.start_member(old).await.expect("restart");
    let back = g.store(old).expect("running");
    assert_eq!(
        count_services(&back).await,
        acked + 11,
        "restarted member catches up"
    );
    let leader = g.leader_index().await.expect("leader");
    assert_ne!(g.node(old).map(|n| n.metrics().current_leader), None);
    assert!(
        leader == new || leader == old,
        "a member of the group leads"
    );
    g.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_member_catches_up_by_snapshot() {
    let root = tempfile::tempdir().expect("tempdir");
    let small = RaftConfig {
        snapshot_every: 20,
        keep_after_snapshot: 5,
        purge_batch: 1,
        ..cfg()
    };
    let mut g = LocalGroup::start(root.path(), 3, small)
        .await
        .expect("group starts");
    let leader = g.leader_index().await.expect("leader");
    let lagging = (leader + 1) % 3;
    g.stop_member(lagging).await;
    let s = g.store(leader).expect("running");
    for i in 0..100 {
        create(&s, i).await.expect("write");
    }
    // Wait for the leader to compact its log past what the lagging member has.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let m = g.node(leader).expect("running").metrics();
        if m.purged.is_some_and(|p| p.index > 10) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "leader never purged its log: {:?}",
            m.purged
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    g.start_member(lagging).await.expect("restart");
    let back = g.store(lagging).expect("running");
    assert_eq!(count_services(&back).await, 100);
    let m = g.node(lagging).expect("running").metrics();
    assert!(
        m.snapshot.is_some_and(|s| s.index > 10),
        "caught up by snapshot: {:?}",
        m.snapshot
    );
    g.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_recovers_same_ids_and_versions() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut g = LocalGroup::start(root.path(), 1, cfg())
        .await
        .expect("group starts");
    let s = g.store(0).expect("running");
    let v = create(&s, 7).await.expect("write");
    let before = s.view(|t| t.service("id000007").cloned()).expect("present");
    assert_eq!(before.meta.version, v);
    drop(s);
    g.stop_member(0).await;
    g.start_member(0).await.expect("restart");
    let s = g.store(0).expect("running");
    let after = s
        .linearizable_view(|t| t.service("id000007").cloned())
        .await
        .expect("read");
    assert_eq!(
        after.as_ref(),
        Some(&before),
        "same id, version and spec after restart"
    );
    g.shutdown().await;
}

fn damage_entry(log: &Path, index: u64) {
    let db = redb::Database::create(log).expect("open log");
    let tx = db.begin_write().expect("tx");
    {
        let def: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("log");
        let mut t = tx.open_table(def).expect("table");
        t.insert(index, b"{not json".as_slice()).expect("insert");
    }
    tx.commit().expect("commit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_entry_refuses_to_start_with_a_clear_error() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut g = LocalGroup::start(root.path(), 1, cfg())
        .await
        .expect("group starts");
    let s = g.store(0).expect("running");
    for i in 0..5 {
        create(&s, i).await.expect("write");
    }
    let last = g
        .node(0)
        .expect("running")
        .metrics()
        .last_log_index
        .expect("has entries");
    drop(s);
    g.stop_member(0).await;
    damage_entry(&root.path().join("m1").join("raft-log.redb"), last);
    match g.start_member(0).await {
        Err(e @ RaftError::DamagedLog { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains(&format!("index {last}")),
                "names the index: {msg}"
            );
            assert!(
                msg.contains("refusing to start"),
                "says what it does: {msg}"
            );
        }
        Err(e) => panic!("expected a damaged-log error, got {e}"),
        Ok(()) => panic!("a damaged entry must not be served"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torn_tail_serves_committed_entries_or_refuses() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut g = LocalGroup::start(root.path(), 1, cfg())
        .await
        .expect("group starts");
    let s = g.store(0).expect("running");
    for i in 0..20 {
        create(&s, i).await.expect("write");
    }
    drop(s);
    g.stop_member(0).await;
    let log = root.path().join("m1").join("raft-log.redb");
    let len = std::fs::metadata(&log).expect("log exists").len();
    // Tear the file: the last 4 KiB are gone, as after a crash mid-write on a disk that lost them.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .expect("open");
    f.set_len(len.saturating_sub(4096)).expect("truncate");
    drop(f);
    match g.start_member(0).await {
        Ok(()) => {
            let s = g.store(0).expect("running");
            assert_eq!(
                count_services(&s).await,
                20,
                "if it starts, it serves every committed entry"
            );
            g.shutdown().await;
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains("raft log") && msg.contains("refusing to start"),
                "clear refusal: {msg}"
            );
        }
    }
}
