//! `service logs`: the leader's log broker and the node side that answers it.
//!
//! Like Docker's, logs travel over the node sessions, not over connections to the nodes: every
//! node keeps a `Dispatcher.LogSubscriptions` stream open to the leader. A `Logs.ServiceLogs`
//! request reaching the leader becomes one subscription sent to each node that ran a task of
//! the service; each node reads those tasks' container logs and sends the lines back with
//! `Dispatcher.PublishLogs`, then `done` (without `--follow`). The broker relays the lines to
//! the requester and ends its stream once every node is done, or when the requester goes (the
//! nodes' publish calls then fail, which stops them). A follower manager relays the request to
//! the leader over mutual TLS.

use flotilla_executor::EngineExecutor;
use flotilla_model::{ServiceMode, Task};
use flotilla_proto::pb;
use flotilla_raft::RaftStore;
use flotilla_state::{ReadTx, Store};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

/// How often a followed log is read for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(200);
/// Most lines per published message.
const BATCH_LINES: usize = 256;

/// The stream a `ServiceLogs` caller reads.
pub type ServiceLogsStream = ReceiverStream<Result<pb::ServiceLogsMessage, Status>>;
/// The stream of subscriptions a node reads.
pub type SubscriptionStream = ReceiverStream<Result<pb::LogSubscription, Status>>;

/// One open `ServiceLogs` request on the leader.
struct Subscription {
    tx: mpsc::Sender<Result<pb::ServiceLogsMessage, Status>>,
    /// Nodes that have not said `done` yet.
    waiting: HashSet<String>,
    /// Task id → (task name, node host name).
    context: HashMap<String, (String, String)>,
}

/// The leader's log broker.
#[derive(Default)]
pub struct LogBroker {
    /// Each connected node's subscription stream.
    nodes: Mutex<HashMap<String, mpsc::Sender<Result<pb::LogSubscription, Status>>>>,
    subs: Mutex<HashMap<String, Subscription>>,
    /// Set when the manager stops: every stream ends, new ones are refused.
    closed: std::sync::atomic::AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Docker's task name: `web.3`, or `web.<node id>` for a global service's task.
fn task_name(service: &str, mode: ServiceMode, t: &Task) -> String {
    match (mode, &t.node_id) {
        (ServiceMode::Global | ServiceMode::GlobalJob, Some(node)) => format!("{service}.{node}"),
        _ => format!("{service}.{}", t.slot),
    }
}

impl LogBroker {
    /// Registers node `node_id`'s subscription stream (replacing an older one).
    pub fn connect_node(&self, node_id: &str) -> Result<SubscriptionStream, Status> {
        if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Status::unavailable("the manager is stopping"));
        }
        let (tx, rx) = mpsc::channel(16);
        lock(&self.nodes).insert(node_id.to_owned(), tx);
        Ok(ReceiverStream::new(rx))
    }

    /// Ends every node's subscription stream and every open request (the manager is
    /// stopping: the listener's graceful shutdown waits for open streams).
    pub fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        lock(&self.nodes).clear();
        lock(&self.subs).clear();
    }

    /// Opens a subscription for `req` and sends it to the nodes that ran the service's tasks.
    pub async fn subscribe(
        &self,
        store: &RaftStore,
        req: pb::ServiceLogsRequest,
    ) -> Result<ServiceLogsStream, Status> {
        let service = flotilla_controlapi::service::get(store, &req.service_ref).await?;
        let (by_node, context) = store.view(|t| {
            let mut by_node: HashMap<String, Vec<String>> = HashMap::new();
            let mut context = HashMap::new();
            let Some(svc) = t.service(&service.id).cloned() else {
                return (by_node, context);
            };
            for task in t.tasks_of_service(&service.id) {
                let Some(node) = &task.node_id else { continue };
                let host = t
                    .node(node.as_str())
                    .map(|n| n.description.hostname.clone())
                    .unwrap_or_else(|| node.to_string());
                context.insert(
                    task.id.to_string(),
                    (task_name(&svc.spec.name, svc.spec.mode, task), host),
                );
                by_node
                    .entry(node.to_string())
                    .or_default()
                    .push(task.id.to_string());
            }
            (by_node, context)
        });
        let (tx, rx) = mpsc::channel(64);
        let id = format!("{:032x}", rand::random::<u128>());
        let mut waiting = HashSet::new();
        let nodes: Vec<(String, mpsc::Sender<_>, Vec<String>)> = {
            let conns = lock(&self.nodes);
            by_node
                .into_iter()
                .filter_map(|(node, tasks)| {
                    let conn = conns.get(&node).cloned();
                    if conn.is_none() {
                        tracing::debug!(node_id = %node, "no log session with this node; its tasks' logs are left out");
                    }
                    conn.map(|c| (node, c, tasks))
                })
                .collect()
        };
        for (node, _, _) in &nodes {
            waiting.insert(node.clone());
        }
        if !waiting.is_empty() {
            lock(&self.subs).insert(
                id.clone(),
                Subscription {
                    tx,
                    waiting,
                    context,
                },
            );
        }
        for (node, conn, task_ids) in nodes {
            let sub = pb::LogSubscription {
                id: id.clone(),
                task_ids,
                follow: req.follow,
                tail: req.tail,
            };
            if conn.send(Ok(sub)).await.is_err() {
                lock(&self.nodes).remove(&node);
                self.node_done(&id, &node);
            }
        }
        Ok(ReceiverStream::new(rx))
    }

    /// Marks `node` done with subscription `id`; the last one ends the requester's stream.
    fn node_done(&self, id: &str, node: &str) {
        let mut subs = lock(&self.subs);
        if let Some(sub) = subs.get_mut(id) {
            sub.waiting.remove(node);
            if sub.waiting.is_empty() {
                subs.remove(id);
            }
        }
    }

    /// Relays lines from `node`; `Err` once the subscription is gone (the node stops sending).
    pub async fn publish(&self, node: &str, msg: pb::PublishLogsMessage) -> Result<(), Status> {
        let (tx, lines) = {
            let subs = lock(&self.subs);
            let Some(sub) = subs.get(&msg.subscription_id) else {
                return Err(Status::not_found("the log subscription has ended"));
            };
            let lines: Vec<pb::ServiceLogLine> = msg
                .lines
                .into_iter()
                .map(|line| {
                    let (task_name, node) =
                        sub.context.get(&line.task_id).cloned().unwrap_or_default();
                    pb::ServiceLogLine {
                        line: Some(line),
                        task_name,
                        node,
                    }
                })
                .collect();
            (sub.tx.clone(), lines)
        };
        if !lines.is_empty() && tx.send(Ok(pb::ServiceLogsMessage { lines })).await.is_err() {
            lock(&self.subs).remove(&msg.subscription_id);
            return Err(Status::cancelled("the log reader went away"));
        }
        if msg.done {
            self.node_done(&msg.subscription_id, node);
        }
        Ok(())
    }
}

/// The `Logs` service: on the leader it subscribes; elsewhere it relays to the leader once.
#[derive(Clone)]
pub struct LogsApi {
    daemon: Arc<crate::swarm::Daemon>,
    /// False on the node-to-node listener, so a relayed request is never relayed again.
    relay: bool,
}

impl LogsApi {
    /// The service for the CLI socket (`relay`) or the node-to-node listener.
    pub fn new(daemon: Arc<crate::swarm::Daemon>, relay: bool) -> Self {
        Self { daemon, relay }
    }
}

#[tonic::async_trait]
impl pb::logs_server::Logs for LogsApi {
    type ServiceLogsStream = ServiceLogsStream;

    async fn service_logs(
        &self,
        req: tonic::Request<pb::ServiceLogsRequest>,
    ) -> Result<tonic::Response<Self::ServiceLogsStream>, Status> {
        let req = req.into_inner();
        let Some((store, broker)) = self.daemon.log_broker().await else {
            return Err(Status::failed_precondition(
                "this node is not a manager; run it on a manager",
            ));
        };
        if store.is_leader() {
            return broker
                .subscribe(&store, req)
                .await
                .map(tonic::Response::new);
        }
        if !self.relay {
            return Err(Status::unavailable("not the leader"));
        }
        let leader = store
            .leader_addr()
            .ok_or_else(|| Status::unavailable("no leader is known"))?;
        let tls = self
            .daemon
            .tls()
            .await
            .ok_or_else(|| Status::unavailable("not in a swarm"))?;
        let channel = tls.manager_channel(&leader).map_err(Status::unavailable)?;
        let mut upstream = pb::logs_client::LogsClient::new(channel)
            .service_logs(req)
            .await?
            .into_inner();
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let item = upstream.message().await;
                let done = !matches!(item, Ok(Some(_)));
                let out = match item {
                    Ok(Some(m)) => Ok(m),
                    Ok(None) => return,
                    Err(e) => Err(e),
                };
                if tx.send(out).await.is_err() || done {
                    return;
                }
            }
        });
        Ok(tonic::Response::new(ReceiverStream::new(rx)))
    }
}

/// Node side: follows the leader's subscriptions and answers each from the containers' logs.
pub async fn serve_subscriptions(
    daemon: Arc<crate::swarm::Daemon>,
    executor: Arc<EngineExecutor>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        if *stop.borrow() {
            return;
        }
        let opened = async {
            let tls = daemon.tls().await.ok_or("no certificate yet")?;
            let leader = daemon.leader_hint().ok_or("no leader known yet")?;
            let channel = tls.manager_channel(&leader)?;
            let stream = pb::dispatcher_client::DispatcherClient::new(channel.clone())
                .log_subscriptions(pb::LogSubscriptionsRequest {})
                .await
                .map_err(|e| e.to_string())?
                .into_inner();
            Ok::<_, String>((stream, channel))
        };
        let opened = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            r = opened => r,
        };
        let (mut stream, channel) = match opened {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(error = %e, "log subscriptions not open; retrying");
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        loop {
            let msg = tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                m = stream.message() => m,
            };
            match msg {
                Ok(Some(sub)) => {
                    tokio::spawn(publish(
                        executor.clone(),
                        channel.clone(),
                        sub,
                        stop.clone(),
                    ));
                }
                Ok(None) | Err(_) => break,
            }
        }
    }
}

/// Reads the subscription's tasks' logs and publishes them until done (or, following, until
/// the leader ends the call or the node stops).
async fn publish(
    executor: Arc<EngineExecutor>,
    channel: tonic::transport::Channel,
    sub: pb::LogSubscription,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let (tx, rx) = mpsc::channel::<pb::PublishLogsMessage>(16);
    let mut client = pb::dispatcher_client::DispatcherClient::new(channel);
    let mut call = tokio::spawn(async move { client.publish_logs(ReceiverStream::new(rx)).await });
    let tail = usize::try_from(sub.tail).ok();
    let mut followers = Vec::new();
    for task_id in &sub.task_ids {
        let Some(path) = executor.log_path(&task_id.as_str().into()).await else {
            continue;
        };
        let opened = tokio::task::spawn_blocking(move || {
            if path.exists() {
                flotilla_container::logs::follow(&path, tail).map(Some)
            } else {
                Ok(None)
            }
        })
        .await;
        match opened {
            Ok(Ok(Some((records, follower)))) => {
                if !send(&tx, &sub.id, task_id, records).await {
                    return;
                }
                followers.push((task_id.clone(), Some(follower)));
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => tracing::warn!(%task_id, error = %e, "cannot read a task's log"),
            Err(e) => tracing::warn!(%task_id, error = %e, "reading a task's log failed"),
        }
    }
    if sub.follow {
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                _ = &mut call => return,
                _ = tokio::time::sleep(FOLLOW_POLL) => {}
            }
            for (task_id, slot) in followers.iter_mut() {
                let Some(mut f) = slot.take() else { continue };
                let read = tokio::task::spawn_blocking(move || {
                    let batch = f.next_batch();
                    (f, batch)
                })
                .await;
                match read {
                    Ok((f, Ok(batch))) => {
                        *slot = Some(f);
                        if !send(&tx, &sub.id, task_id, batch).await {
                            return;
                        }
                    }
                    Ok((f, Err(e))) => {
                        *slot = Some(f);
                        tracing::debug!(%task_id, error = %e, "following a task's log failed");
                    }
                    Err(_) => return,
                }
            }
        }
    }
    let _ = tx
        .send(pb::PublishLogsMessage {
            subscription_id: sub.id.clone(),
            lines: Vec::new(),
            done: true,
        })
        .await;
    drop(tx);
    let _ = call.await;
}

/// Sends `records` of `task_id` in batches; false once the leader stopped listening.
async fn send(
    tx: &mpsc::Sender<pb::PublishLogsMessage>,
    sub: &str,
    task_id: &str,
    records: Vec<flotilla_container::logs::LogRecord>,
) -> bool {
    let lines: Vec<pb::LogLine> = records
        .into_iter()
        .map(|r| pb::LogLine {
            task_id: task_id.to_owned(),
            stream: r.stream.as_str().to_owned(),
            time: r.time,
            data: {
                let mut d = r.text;
                if !r.partial {
                    d.push(b'\n');
                }
                d
            },
        })
        .collect();
    for chunk in lines.chunks(BATCH_LINES) {
        let msg = pb::PublishLogsMessage {
            subscription_id: sub.to_owned(),
            lines: chunk.to_vec(),
            done: false,
        };
        if tx.send(msg).await.is_err() {
            return false;
        }
    }
    true
}
