//! The node's task session, run by every node (managers too): it follows the leader's
//! assignment stream into the agent and sends the statuses the agent observes back.
//!
//! Two loops share one leader address, learnt from the heartbeat session (`agent.rs`):
//! - the *assignment* loop opens `Dispatcher.Assignments` on the leader and hands each message to
//!   the agent; when the stream breaks (leader gone, network) it reconnects with backoff and the
//!   new stream starts with a complete set again;
//! - the *status* loop keeps every status the agent reported until the leader acknowledged it,
//!   merging newer reports for the same task, so a report is never lost to a leader change.

use crate::pki::ManagerChannel;
use crate::swarm::Daemon;
use flotilla_agent::{Agent, AssignedTask, AssignmentUpdate};
use flotilla_executor::EngineExecutor;
use flotilla_model::{TaskId, TaskStatus};
use flotilla_proto::pb;
use flotilla_proto::pb::dispatcher_client::DispatcherClient;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Deadline of one status report.
const RPC_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Runs the session until `stop` turns true.
pub async fn run(daemon: Arc<Daemon>, executor: Arc<EngineExecutor>, stop: watch::Receiver<bool>) {
    let (updates_tx, updates_rx) = mpsc::channel(64);
    let (status_tx, status_rx) = mpsc::channel(256);
    let agent = tokio::spawn(Agent::new(executor).run(updates_rx, status_tx, stop.clone()));
    let reporter = tokio::spawn(report(daemon.clone(), status_rx, stop.clone()));
    follow(daemon, updates_tx, stop).await;
    let _ = agent.await;
    let _ = reporter.await;
}

/// The assignment loop.
async fn follow(
    daemon: Arc<Daemon>,
    updates: mpsc::Sender<AssignmentUpdate>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(50);
    loop {
        if *stop.borrow() {
            return;
        }
        match stream_once(&daemon, &updates, &mut stop).await {
            Ok(()) => return,
            Err(e) => {
                tracing::debug!(error = %e, "assignment stream ended; reconnecting");
                sleep_or_stop(&mut stop, backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// One assignment stream, until it breaks (`Err`) or `stop` (`Ok`).
async fn stream_once(
    daemon: &Daemon,
    updates: &mpsc::Sender<AssignmentUpdate>,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), String> {
    let Some(tls) = daemon.tls().await else {
        return Err("no certificate yet".into());
    };
    let Some(leader) = daemon.leader_hint() else {
        return Err("no leader known yet".into());
    };
    let channel = tls.manager_channel(&leader)?;
    let mut client = DispatcherClient::new(channel);
    let mut stream = tokio::select! {
        _ = stop.wait_for(|s| *s) => return Ok(()),
        r = client.assignments(pb::AssignmentsRequest {}) => r.map_err(|e| e.to_string())?.into_inner(),
    };
    tracing::debug!(%leader, "assignment stream open");
    let mut expected = 1;
    loop {
        let msg = tokio::select! {
            _ = stop.wait_for(|s| *s) => return Ok(()),
            m = stream.message() => m.map_err(|e| e.to_string())?,
        };
        let Some(msg) = msg else {
            return Err("the leader closed the assignment stream".into());
        };
        if msg.sequence != expected {
            return Err(format!(
                "assignment message {} arrived where {expected} was expected",
                msg.sequence
            ));
        }
        expected += 1;
        let update = convert(msg)?;
        if updates.send(update).await.is_err() {
            return Ok(());
        }
    }
}

fn convert(msg: pb::AssignmentsMessage) -> Result<AssignmentUpdate, String> {
    let changed = msg
        .changed
        .into_iter()
        .map(|a| {
            let task = a
                .task
                .ok_or("an assignment without its task")?
                .try_into()
                .map_err(|e: flotilla_proto::ConvertError| e.to_string())?;
            Ok(AssignedTask {
                task,
                service_name: a.service_name,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(AssignmentUpdate {
        complete: msg.complete,
        sequence: msg.sequence,
        term: msg.term,
        index: msg.index,
        changed,
        removed: msg.removed.into_iter().map(TaskId::from).collect(),
    })
}

/// The status loop: collects reports and delivers them to the leader, retrying until
/// acknowledged.
async fn report(
    daemon: Arc<Daemon>,
    mut reports: mpsc::Receiver<Vec<(TaskId, TaskStatus)>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut pending: BTreeMap<TaskId, TaskStatus> = BTreeMap::new();
    let mut backoff = Duration::from_millis(50);
    let mut channel = ManagerChannel::default();
    loop {
        if pending.is_empty() {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                batch = reports.recv() => match batch {
                    Some(b) => merge(&mut pending, b),
                    None => return,
                },
            }
        }
        // Take whatever else is already queued, so one RPC carries it all.
        while let Ok(b) = reports.try_recv() {
            merge(&mut pending, b);
        }
        match send(&daemon, &mut channel, &pending).await {
            Ok(()) => {
                pending.clear();
                backoff = Duration::from_millis(50);
            }
            Err(e) => {
                channel.reset();
                tracing::debug!(error = %e, tasks = pending.len(), "status report not delivered; will retry");
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => return,
                    _ = tokio::time::sleep(backoff) => {}
                    batch = reports.recv() => if let Some(b) = batch { merge(&mut pending, b) },
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Keeps the furthest status of each task (statuses only move forward).
fn merge(pending: &mut BTreeMap<TaskId, TaskStatus>, batch: Vec<(TaskId, TaskStatus)>) {
    for (id, status) in batch {
        match pending.get(&id) {
            Some(old) if old.state > status.state => {}
            _ => {
                pending.insert(id, status);
            }
        }
    }
}

async fn send(
    daemon: &Daemon,
    channel: &mut ManagerChannel,
    pending: &BTreeMap<TaskId, TaskStatus>,
) -> Result<(), String> {
    let tls = daemon.tls().await.ok_or("no certificate yet")?;
    let leader = daemon.leader_hint().ok_or("no leader known yet")?;
    let mut client = DispatcherClient::new(channel.get(&tls, &leader)?);
    let mut req = tonic::Request::new(pb::UpdateTaskStatusRequest {
        updates: pending
            .iter()
            .map(|(id, s)| pb::TaskStatusUpdate {
                task_id: id.to_string(),
                status: Some(s.clone().into()),
            })
            .collect(),
    });
    req.set_timeout(RPC_TIMEOUT);
    client
        .update_task_status(req)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

async fn sleep_or_stop(stop: &mut watch::Receiver<bool>, d: Duration) {
    tokio::select! {
        _ = stop.wait_for(|s| *s) => {}
        _ = tokio::time::sleep(d) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_model::TaskState;

    fn status(state: TaskState) -> TaskStatus {
        TaskStatus {
            state,
            ..TaskStatus::default()
        }
    }

    #[test]
    fn merge_keeps_the_furthest_status() {
        let mut p = BTreeMap::new();
        let id = TaskId::from("t1".to_owned());
        merge(&mut p, vec![(id.clone(), status(TaskState::Running))]);
        merge(&mut p, vec![(id.clone(), status(TaskState::Starting))]);
        assert_eq!(p[&id].state, TaskState::Running);
        merge(&mut p, vec![(id.clone(), status(TaskState::Failed))]);
        assert_eq!(p[&id].state, TaskState::Failed);
    }
}
