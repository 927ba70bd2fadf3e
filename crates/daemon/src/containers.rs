//! The node-local `Containers` gRPC service (CLI socket only): `flotilla container …` over the
//! node's [`Engine`]. Engine calls block (files, processes), so each runs on a blocking thread;
//! `Logs` with follow polls the log every 100 ms until the container stops. `Exec` and
//! `Attach` bridge the client's stream to an attach socket ([`crate::attach`]); containers
//! with a health check are probed by [`HealthMonitor`] from their start.

use crate::attach::{self, OutputStream};
use flotilla_container::ContainerError;
use flotilla_container::logs::{self, Stream};
use flotilla_engine::{
    ContainerInfo, Engine, EngineError, ExecSession, ExecSpec, RunSpec, State, parse_signal,
};
use flotilla_executor::HealthMonitor;
use flotilla_proto::pb;
use flotilla_proto::pb::exec_output::Output;
use std::collections::HashSet;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio_stream::Stream as AsyncStream;
use tonic::{Request, Response, Status, Streaming};

/// How often a followed log is read again.
const FOLLOW_PERIOD: Duration = Duration::from_millis(100);

/// The service.
#[derive(Clone)]
pub struct ContainersApi {
    engine: Arc<Engine>,
    /// Containers a foreground `run --rm` waits on (the reaper leaves them to it).
    waiting: Arc<Mutex<HashSet<String>>>,
    /// The health-check probers.
    health: Arc<HealthMonitor>,
}

impl ContainersApi {
    /// Serves `engine`, probing health checks with `health` (shared with the task executor).
    pub fn new(engine: Arc<Engine>, health: Arc<HealthMonitor>) -> Self {
        Self {
            health,
            engine,
            waiting: Arc::default(),
        }
    }

    /// Starts the health checks of the running containers (re-adopted after a restart).
    pub async fn watch_health(&self) {
        self.health.watch_running().await;
    }

    /// Removes exited `--rm` containers nobody waits on, every half second, until dropped.
    pub async fn reap_forever(self) {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let this = self.clone();
            let _ = tokio::task::spawn_blocking(move || {
                let waiting = this.waiting.clone();
                let skip = move |id: &str| {
                    waiting
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .contains(id)
                };
                for id in this.engine.reap_auto_remove(&skip) {
                    tracing::info!(id = %id, "removed an exited --rm container");
                }
            })
            .await;
        }
    }

    /// Pauses or unpauses a container; its state afterwards.
    async fn set_paused(
        &self,
        key: String,
        pause: bool,
    ) -> Result<Response<pb::ContainerReply>, Status> {
        let info = self
            .blocking(move |e| {
                if pause {
                    e.pause(&key)?;
                } else {
                    e.unpause(&key)?;
                }
                e.inspect(&key)
            })
            .await?;
        Ok(Response::new(reply(&info)))
    }

    /// Runs `op` on the engine on a blocking thread.
    async fn blocking<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Engine) -> Result<T, EngineError> + Send + 'static,
    ) -> Result<T, Status> {
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || op(&engine))
            .await
            .map_err(|e| Status::internal(format!("engine task failed: {e}")))?
            .map_err(status)
    }
}

/// Maps an engine error to the status a client sees.
fn status(e: EngineError) -> Status {
    let msg = e.to_string();
    match e {
        EngineError::NotFound(_) => Status::not_found(msg),
        EngineError::Invalid { .. } => Status::invalid_argument(msg),
        EngineError::NameInUse { .. } => Status::already_exists(msg),
        EngineError::Ambiguous(..) | EngineError::State { .. } => Status::failed_precondition(msg),
        EngineError::Image(flotilla_image::ImageError::NotFound(_)) => Status::not_found(msg),
        EngineError::Runtime(ContainerError::InvalidConfig(_)) => Status::invalid_argument(msg),
        EngineError::Runtime(ContainerError::NotRunning { .. }) => Status::failed_precondition(msg),
        _ => Status::internal(msg),
    }
}

fn reply(info: &ContainerInfo) -> pb::ContainerReply {
    pb::ContainerReply {
        id: info.record.id.clone(),
        name: info.record.name.clone(),
        state: info.state.name().to_owned(),
        attach_socket: info
            .attach_socket
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    }
}

type LogStream = Pin<Box<dyn AsyncStream<Item = Result<pb::LogEntry, Status>> + Send>>;

/// The start message of an exec or attach stream, which must come first.
async fn first_start(inbound: &mut Streaming<pb::ExecInput>) -> Result<pb::ExecStart, Status> {
    match inbound.message().await? {
        Some(pb::ExecInput {
            input: Some(pb::exec_input::Input::Start(start)),
        }) => Ok(start),
        _ => Err(Status::invalid_argument(
            "an exec or attach stream must start with its ExecStart message",
        )),
    }
}

/// What an attach to a container that has already exited gets: its log, then its exit code.
async fn replay(info: ContainerInfo) -> Result<Response<OutputStream>, Status> {
    let path = info.log_path.clone();
    let records = tokio::task::spawn_blocking(move || {
        if path.exists() {
            logs::read_logs(&path, None)
        } else {
            Ok(Vec::new())
        }
    })
    .await
    .map_err(|e| Status::internal(format!("log task failed: {e}")))?
    .map_err(|e| Status::internal(e.to_string()))?;
    let mut out: Vec<Result<pb::ExecOutput, Status>> = records
        .into_iter()
        .map(|r| {
            let e = entry(r);
            let output = if e.stream == 2 {
                Output::Stderr(e.data)
            } else {
                Output::Stdout(e.data)
            };
            Ok(pb::ExecOutput {
                output: Some(output),
            })
        })
        .collect();
    if let Some(exit) = info.exit {
        out.push(Ok(attach::exit_message(exit.code_or_signal())));
    }
    Ok(Response::new(Box::pin(tokio_stream::iter(out))))
}

fn entry(r: logs::LogRecord) -> pb::LogEntry {
    let mut data = r.text;
    if !r.partial {
        data.push(b'\n');
    }
    pb::LogEntry {
        stream: match r.stream {
            Stream::Stdout => 1,
            Stream::Stderr => 2,
        },
        data,
        time: r.time,
    }
}

#[tonic::async_trait]
impl pb::containers_server::Containers for ContainersApi {
    async fn create(
        &self,
        req: Request<pb::CreateContainerRequest>,
    ) -> Result<Response<pb::ContainerReply>, Status> {
        let req = req.into_inner();
        let spec: RunSpec = serde_json::from_str(&req.spec_json)
            .map_err(|e| Status::invalid_argument(format!("container spec: {e}")))?;
        let waiting = req.foreground.then(|| self.waiting.clone());
        let info = self
            .blocking(move |e| {
                let rec = e.create(spec)?;
                if let Some(w) = &waiting {
                    w.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(rec.id.clone());
                }
                if req.start {
                    e.start(&rec.id)
                } else {
                    e.inspect(&rec.id)
                }
            })
            .await?;
        self.health.watch(&info);
        Ok(Response::new(reply(&info)))
    }

    async fn start(
        &self,
        req: Request<pb::ContainerKey>,
    ) -> Result<Response<pb::ContainerReply>, Status> {
        let key = req.into_inner().key;
        let info = self.blocking(move |e| e.start(&key)).await?;
        self.health.watch(&info);
        Ok(Response::new(reply(&info)))
    }

    async fn list(
        &self,
        req: Request<pb::ListContainersRequest>,
    ) -> Result<Response<pb::ListContainersResponse>, Status> {
        let all = req.into_inner().all;
        let infos = self.blocking(move |e| e.list(all)).await?;
        let now = flotilla_engine::record::now_ms();
        let containers = infos
            .iter()
            .map(|i| pb::ContainerSummary {
                id: i.record.id.clone(),
                name: i.record.name.clone(),
                image: i.record.spec.image.clone(),
                command: i.record.args.join(" "),
                created_ms: i.record.created_at_ms,
                status: i.status_line(now),
                state: i.state.name().to_owned(),
            })
            .collect();
        Ok(Response::new(pb::ListContainersResponse { containers }))
    }

    async fn inspect(
        &self,
        req: Request<pb::ContainerKey>,
    ) -> Result<Response<pb::InspectContainerResponse>, Status> {
        let key = req.into_inner().key;
        let info = self.blocking(move |e| e.inspect(&key)).await?;
        let json = serde_json::to_string_pretty(&info)
            .map_err(|e| Status::internal(format!("encoding the container: {e}")))?;
        Ok(Response::new(pb::InspectContainerResponse { json }))
    }

    type LogsStream = LogStream;

    async fn logs(
        &self,
        req: Request<pb::ContainerLogsRequest>,
    ) -> Result<Response<Self::LogsStream>, Status> {
        let req = req.into_inner();
        let key = req.key.clone();
        let info = self.blocking(move |e| e.inspect(&key)).await?;
        let tail = usize::try_from(req.tail).ok();
        let path = info.log_path.clone();
        let (first, follower) = if path.exists() {
            let (records, follower) =
                tokio::task::spawn_blocking(move || logs::follow(&path, tail))
                    .await
                    .map_err(|e| Status::internal(e.to_string()))?
                    .map_err(|e| Status::internal(e.to_string()))?;
            (records, Some(follower))
        } else {
            (Vec::new(), None)
        };
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let engine = self.engine.clone();
        let id = info.record.id.clone();
        tokio::spawn(async move {
            for r in first {
                if tx.send(Ok(entry(r))).await.is_err() {
                    return;
                }
            }
            let (true, Some(mut follower)) = (req.follow, follower) else {
                return;
            };
            loop {
                let running = {
                    let (engine, id) = (engine.clone(), id.clone());
                    tokio::task::spawn_blocking(move || {
                        engine
                            .inspect(&id)
                            .map(|i| matches!(i.state, State::Running | State::Paused))
                            .unwrap_or(false)
                    })
                    .await
                    .unwrap_or(false)
                };
                let batch = match tokio::task::spawn_blocking(move || {
                    let b = follower.next_batch();
                    (follower, b)
                })
                .await
                {
                    Ok((f, Ok(b))) => {
                        follower = f;
                        b
                    }
                    Ok((_, Err(e))) => {
                        let _ = tx.send(Err(Status::internal(e.to_string()))).await;
                        return;
                    }
                    Err(_) => return,
                };
                for r in batch {
                    if tx.send(Ok(entry(r))).await.is_err() {
                        return;
                    }
                }
                if !running {
                    return;
                }
                tokio::time::sleep(FOLLOW_PERIOD).await;
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn wait(
        &self,
        req: Request<pb::WaitContainerRequest>,
    ) -> Result<Response<pb::WaitContainerResponse>, Status> {
        let req = req.into_inner();
        let key = req.key.clone();
        let rec = self.blocking(move |e| e.lookup(&key)).await?;
        let id = rec.id.clone();
        // Detached, so that a client going away (Ctrl-C) still gets its container removed and
        // released to the reaper.
        let this = self.clone();
        let remove = req.remove;
        let result = tokio::spawn(async move {
            let result = loop {
                let id = id.clone();
                match this
                    .blocking(move |e| e.wait(&id, Duration::from_millis(500)))
                    .await
                {
                    Ok(Some(exit)) => break Ok(exit),
                    Ok(None) => continue,
                    Err(e) => break Err(e),
                }
            };
            if remove {
                let rid = id.clone();
                let removed = this.blocking(move |e| e.remove(&rid, true)).await;
                this.waiting
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&id);
                removed?;
            }
            result
        })
        .await
        .map_err(|e| Status::internal(format!("wait task failed: {e}")))?;
        let exit = result?;
        Ok(Response::new(pb::WaitContainerResponse {
            exit_code: exit.code_or_signal(),
            oom_killed: exit.oom_killed,
        }))
    }

    async fn stop(
        &self,
        req: Request<pb::StopContainerRequest>,
    ) -> Result<Response<pb::ContainerReply>, Status> {
        let req = req.into_inner();
        let timeout = u64::try_from(req.timeout_secs)
            .ok()
            .map(Duration::from_secs);
        let info = self.blocking(move |e| e.stop(&req.key, timeout)).await?;
        Ok(Response::new(reply(&info)))
    }

    async fn kill(
        &self,
        req: Request<pb::KillContainerRequest>,
    ) -> Result<Response<pb::ContainerReply>, Status> {
        let req = req.into_inner();
        let signal = if req.signal.is_empty() {
            libc::SIGKILL
        } else {
            parse_signal("--signal", &req.signal).map_err(status)?
        };
        let info = self
            .blocking(move |e| {
                e.kill(&req.key, signal)?;
                e.inspect(&req.key)
            })
            .await?;
        Ok(Response::new(reply(&info)))
    }

    async fn pause(
        &self,
        req: Request<pb::ContainerKey>,
    ) -> Result<Response<pb::ContainerReply>, Status> {
        self.set_paused(req.into_inner().key, true).await
    }

    async fn unpause(
        &self,
        req: Request<pb::ContainerKey>,
    ) -> Result<Response<pb::ContainerReply>, Status> {
        self.set_paused(req.into_inner().key, false).await
    }

    async fn remove(
        &self,
        req: Request<pb::RemoveContainerRequest>,
    ) -> Result<Response<pb::ContainerReply>, Status> {
        let req = req.into_inner();
        let id = self
            .blocking(move |e| e.remove(&req.key, req.force))
            .await?;
        self.health.unwatch(&id);
        Ok(Response::new(pb::ContainerReply {
            id,
            ..Default::default()
        }))
    }

    async fn prune(
        &self,
        _req: Request<pb::PruneContainersRequest>,
    ) -> Result<Response<pb::PruneContainersResponse>, Status> {
        let ids = self.blocking(|e| e.prune()).await?;
        for id in &ids {
            self.health.unwatch(id);
        }
        Ok(Response::new(pb::PruneContainersResponse { ids }))
    }

    type ExecStream = OutputStream;

    async fn exec(
        &self,
        req: Request<Streaming<pb::ExecInput>>,
    ) -> Result<Response<Self::ExecStream>, Status> {
        let mut inbound = req.into_inner();
        let start = first_start(&mut inbound).await?;
        let spec = ExecSpec {
            args: start.args,
            env: start.env,
            user: start.user,
            workdir: start.workdir,
            tty: start.tty,
        };
        let key = start.container;
        let ExecSession {
            container_id,
            mut child,
            socket,
        } = self.blocking(move |e| e.exec(&key, &spec)).await?;
        let sock = match tokio::net::UnixStream::connect(&socket).await {
            Ok(sock) => sock,
            Err(e) => {
                let _ = tokio::task::spawn_blocking(move || {
                    let _ = child.kill();
                    child.wait()
                })
                .await;
                return Err(Status::internal(format!(
                    "cannot connect to the exec socket {}: {e}",
                    socket.display()
                )));
            }
        };
        let options = attach::Options {
            interactive: start.interactive,
            close_stdin_now: !start.interactive,
            size: if start.tty {
                attach::terminal_size(start.size.as_ref())
            } else {
                None
            },
        };
        let label = format!("exec in {}", &container_id[..container_id.len().min(12)]);
        Ok(Response::new(attach::bridge(
            sock,
            inbound,
            options,
            Some(child),
            label,
        )))
    }

    type AttachStream = OutputStream;

    async fn attach(
        &self,
        req: Request<Streaming<pb::ExecInput>>,
    ) -> Result<Response<Self::AttachStream>, Status> {
        let mut inbound = req.into_inner();
        let start = first_start(&mut inbound).await?;
        let key = start.container.clone();
        let info = self.blocking(move |e| e.inspect(&key)).await?;
        let short = info.record.short_id().to_owned();
        let Some(socket) = info.attach_socket.clone() else {
            if matches!(info.state, State::Exited | State::Dead) {
                return replay(info).await;
            }
            return Err(Status::failed_precondition(format!(
                "container {short} is {} and was {}started with -i or -t: nothing to attach to",
                info.state.name(),
                if info.record.spec.tty || info.record.spec.interactive {
                    ""
                } else {
                    "not "
                }
            )));
        };
        let sock = match tokio::net::UnixStream::connect(&socket).await {
            Ok(sock) => sock,
            Err(e) => {
                // It may have exited between the two looks: then its log is what it said.
                let id = info.record.id.clone();
                let now = self.blocking(move |en| en.inspect(&id)).await?;
                if matches!(now.state, State::Exited | State::Dead) {
                    return replay(now).await;
                }
                return Err(Status::unavailable(format!(
                    "cannot attach to container {short} at {}: {e}",
                    socket.display()
                )));
            }
        };
        let options = attach::Options {
            interactive: start.interactive && info.record.spec.interactive,
            close_stdin_now: false,
            size: if info.record.spec.tty {
                attach::terminal_size(start.size.as_ref())
            } else {
                None
            },
        };
        Ok(Response::new(attach::bridge(
            sock,
            inbound,
            options,
            None,
            format!("attach to {short}"),
        )))
    }
}
