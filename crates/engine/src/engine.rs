//! [`Engine`]: the node's containers made from images — create, start, stop, kill, pause,
//! remove, prune, list and inspect — on top of the image store and the runtime. Every
//! operation is blocking (files, processes); async callers run it on a blocking thread.

use crate::error::{EngineError, Result, io};
use crate::health::{Health, HealthConfig};
use crate::names;
use crate::record::{ContainerRecord, RUNTIME_ID_LEN, RecordDir, now_ms};
use crate::spec::{DEFAULT_STOP_TIMEOUT, RunSpec, Tmpfs, Volume, VolumeSource, parse_signal};
use crate::user;
use flotilla_container::{
    Container, ContainerConfig, ContainerError, ExitStatus, Mount, Resources, Rootfs, Runtime,
    Status,
};
use flotilla_image::{Digest, ImageStore};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Docker's container states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Made, never started.
    Created,
    /// Its command runs.
    Running,
    /// Frozen.
    Paused,
    /// Its command ended; the exit is known.
    Exited,
    /// It ended and nothing recorded how (its shim was killed), or it could not be read.
    Dead,
}

impl State {
    /// Docker's lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            State::Created => "created",
            State::Running => "running",
            State::Paused => "paused",
            State::Exited => "exited",
            State::Dead => "dead",
        }
    }
}

/// A container as `ls` and `inspect` show it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ContainerInfo {
    /// What the engine recorded.
    pub record: ContainerRecord,
    /// Its state now.
    pub state: State,
    /// PID 1 on the host, while running.
    pub pid: Option<i32>,
    /// How it ended, once exited.
    pub exit: Option<ExitStatus>,
    /// Its log file.
    pub log_path: PathBuf,
    /// The attach socket, when it was started with `-i` or `-t`.
    pub attach_socket: Option<PathBuf>,
    /// Its health, when it has a health check (see [`crate::health`]).
    pub health: Option<Health>,
}

impl ContainerInfo {
    /// Docker's `STATUS` column: `Up`, `Up (healthy)`, `Up (health: starting)`,
    /// `Up (unhealthy)`, `Exited (0)`, `Created`, `Up (Paused)`, `Dead`.
    pub fn status_line(&self, now_ms: u64) -> String {
        match self.state {
            State::Created => "Created".into(),
            State::Running | State::Paused => {
                let since = self.record.started_at_ms.unwrap_or(now_ms);
                let up = format!("Up {}", human_duration(now_ms.saturating_sub(since)));
                match (&self.health, self.state) {
                    (_, State::Paused) => format!("{up} (Paused)"),
                    (Some(h), _) => format!("{up} {}", h.status_suffix()),
                    (None, _) => up,
                }
            }
            State::Exited => match &self.exit {
                Some(e) => format!(
                    "Exited ({}) {} ago",
                    e.code_or_signal(),
                    human_duration(now_ms.saturating_sub(e.finished_at_ms))
                ),
                None => "Exited".into(),
            },
            State::Dead => "Dead".into(),
        }
    }
}

/// Docker's coarse "2 minutes" style.
pub fn human_duration(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{s} seconds"),
        60..=119 => "About a minute".into(),
        120..=3599 => format!("{} minutes", s / 60),
        3600..=7199 => "About an hour".into(),
        7200..=172_799 => format!("{} hours", s / 3600),
        _ => format!("{} days", s / 86_400),
    }
}

/// The node's container engine.
pub struct Engine {
    images: Arc<ImageStore>,
    pub(crate) runtime: Runtime,
    /// `<root>/rw/<id>/`: the container's upper and work dirs and its etc files.
    rw_root: PathBuf,
    /// `<root>/volumes/<name>/_data`.
    volumes_root: PathBuf,
    records: RecordDir,
    /// Every container, by id.
    index: Mutex<BTreeMap<String, ContainerRecord>>,
    /// The health of containers with a health check, by id (in memory only).
    pub(crate) health: Mutex<HashMap<String, Health>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("rw_root", &self.rw_root)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Opens the engine rooted at `root` (`<data dir>/containers`) over `images`, with `runtime`
    /// keeping its state under `<root>/run`. Containers the runtime has but no record names
    /// (a crash between the two writes) are removed.
    pub fn open(root: &Path, images: Arc<ImageStore>, runtime: Runtime) -> Result<Engine> {
        let rw_root = root.join("rw");
        let volumes_root = root.join("volumes");
        for d in [&rw_root, &volumes_root] {
            std::fs::create_dir_all(d).map_err(io(d))?;
        }
        let records = RecordDir::open(root.join("meta"))?;
        let mut index = BTreeMap::new();
        for rec in records.load_all()? {
            index.insert(rec.id.clone(), rec);
        }
        let known: HashSet<String> = index.values().map(|r| r.runtime_key().to_owned()).collect();
        for c in runtime.list()? {
            if !known.contains(c.id()) {
                tracing::warn!(id = %c.id(), "removing a runtime container the engine has no record of");
                if let Err(e) = runtime.force_remove(c.id()) {
                    tracing::warn!(id = %c.id(), error = %e, "cannot remove a leftover runtime container");
                }
            }
        }
        Ok(Engine {
            images,
            runtime,
            rw_root,
            volumes_root,
            records,
            index: Mutex::new(index),
            health: Mutex::default(),
        })
    }

    /// A runtime keeping state under `<root>/run`, for [`Engine::open`].
    pub fn runtime_for(
        root: &Path,
        cgroup_parent: &str,
        helper_exe: impl Into<PathBuf>,
        helper_arg: &str,
    ) -> Result<Runtime> {
        Ok(Runtime::new(
            root.join("run"),
            cgroup_parent,
            helper_exe,
            helper_arg,
        )?)
    }

    /// The image store.
    pub fn images(&self) -> &Arc<ImageStore> {
        &self.images
    }

    fn index(&self) -> MutexGuard<'_, BTreeMap<String, ContainerRecord>> {
        self.index.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Finds a container by full id, name, or unique id prefix (Docker's order).
    pub fn lookup(&self, key: &str) -> Result<ContainerRecord> {
        let key = key.trim_start_matches('/');
        let index = self.index();
        if let Some(r) = index.get(key) {
            return Ok(r.clone());
        }
        if let Some(r) = index.values().find(|r| r.name == key) {
            return Ok(r.clone());
        }
        let found: Vec<&ContainerRecord> = if key.is_empty() {
            Vec::new()
        } else {
            index.values().filter(|r| r.id.starts_with(key)).collect()
        };
        match found.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(EngineError::NotFound(key.to_owned())),
            many => Err(EngineError::Ambiguous(
                key.to_owned(),
                many.iter()
                    .map(|r| r.id[..12].to_owned())
                    .collect::<Vec<_>>()
                    .join(", "),
            )),
        }
    }

    /// Whether any container was made from image `id` (for `image rm` and `image prune`).
    pub fn uses_image(&self, id: &Digest) -> bool {
        let id = id.to_string();
        self.index().values().any(|r| r.image_id == id)
    }

    /// Creates a container (state `created`): checks the request, resolves the image and the
    /// command, reserves the name and writes the record. Nothing runs yet.
    pub fn create(&self, spec: RunSpec) -> Result<ContainerRecord> {
        spec.validate()?;
        let image_id = self.images.resolve(&spec.image)?;
        let config = self.images.config(&image_id)?;
        let healthcheck =
            HealthConfig::effective(spec.healthcheck.as_ref(), self.image_healthcheck(&image_id));
        let img = config.config().clone().unwrap_or_default();
        let entrypoint = match &spec.entrypoint {
            Some(e) => e.clone(),
            None => img.entrypoint().clone().unwrap_or_default(),
        };
        // Docker: an overridden entrypoint drops the image's Cmd.
        let cmd = if !spec.cmd.is_empty() {
            spec.cmd.clone()
        } else if spec.entrypoint.is_some() {
            Vec::new()
        } else {
            img.cmd().clone().unwrap_or_default()
        };
        let args: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
        if args.is_empty() {
            return Err(EngineError::invalid(
                "command",
                "no command specified: the image has no Entrypoint or Cmd; give one after the image",
            ));
        }
        let mut index = self.index();
        // Unique in its first RUNTIME_ID_LEN characters too: they name it in the runtime.
        let id = loop {
            let id = format!(
                "{:032x}{:032x}",
                rand::random::<u128>(),
                rand::random::<u128>()
            );
            let short = &id[..RUNTIME_ID_LEN];
            if !index
                .values()
                .any(|r| r.runtime_key() == short || r.id.starts_with(short))
            {
                break id;
            }
        };
        let name = if spec.name.is_empty() {
            let mut n = names::generate();
            while index.values().any(|r| r.name == n) {
                n = format!("{}_{}", names::generate(), rand::random_range(0..1000u32));
            }
            n
        } else {
            spec.name.clone()
        };
        if let Some(other) = index.values().find(|r| r.name == name) {
            return Err(EngineError::NameInUse {
                name,
                id: other.id.clone(),
            });
        }
        let rec = ContainerRecord {
            runtime_id: Some(id[..RUNTIME_ID_LEN].to_owned()),
            id: id.clone(),
            name,
            spec,
            image_id: image_id.to_string(),
            args,
            created_at_ms: now_ms(),
            started_at_ms: None,
            paused: false,
            anonymous_volumes: Vec::new(),
            healthcheck,
        };
        self.records.save(&rec)?;
        index.insert(id, rec.clone());
        Ok(rec)
    }

    /// Creates and starts a container; a failed start of an `--rm` container removes it.
    pub fn run(&self, spec: RunSpec) -> Result<ContainerInfo> {
        let auto_remove = spec.auto_remove;
        let rec = self.create(spec)?;
        match self.start(&rec.id) {
            Ok(info) => Ok(info),
            Err(e) => {
                if auto_remove {
                    let _ = self.remove(&rec.id, true);
                }
                Err(e)
            }
        }
    }

    /// The `Healthcheck` of image `id`'s configuration, if it has one (unreadable: none).
    fn image_healthcheck(&self, id: &Digest) -> Option<HealthConfig> {
        let bytes = match self.images.blobs().read(id) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(image = %id, error = %e, "cannot read the image config for its healthcheck");
                return None;
            }
        };
        let document: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        HealthConfig::from_image_config(&document)
    }

    /// Starts a created or exited container (a running one is left alone).
    pub fn start(&self, key: &str) -> Result<ContainerInfo> {
        let mut rec = self.lookup(key)?;
        match self.runtime.get(rec.runtime_key()) {
            Ok(mut c) => match c.status()? {
                Status::Running { .. } => return self.info(rec),
                Status::Exited(_) | Status::Lost => c.delete()?,
            },
            Err(ContainerError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let config = self.container_config(&mut rec)?;
        self.runtime.create_and_start(config)?;
        // Recorded only once started: a failed start leaves the container `created`.
        rec.started_at_ms = Some(now_ms());
        rec.paused = false;
        self.records.save(&rec)?;
        self.index().insert(rec.id.clone(), rec.clone());
        self.reset_health(&rec.id);
        self.info(rec)
    }

    /// Turns a record into the runtime's configuration, preparing the container's files
    /// (overlay dirs, `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf`, volumes).
    fn container_config(&self, rec: &mut ContainerRecord) -> Result<ContainerConfig> {
        let spec = rec.spec.clone();
        let image_id: Digest = rec
            .image_id
            .parse()
            .map_err(|_| EngineError::invalid("image", format!("bad image id {}", rec.image_id)))?;
        let layers = self.images.rootfs_layers(&image_id)?;
        let img = self
            .images
            .config(&image_id)?
            .config()
            .clone()
            .unwrap_or_default();
        let rw = self.rw_root.join(&rec.id);
        let (upper, work, merged) = (rw.join("upper"), rw.join("work"), rw.join("merged"));
        for d in [&upper, &work, &merged] {
            std::fs::create_dir_all(d).map_err(io(d))?;
        }
        let hostname = if spec.hostname.is_empty() {
            rec.id[..12].to_owned()
        } else {
            spec.hostname.clone()
        };
        let etc = |name: &str, text: String| -> Result<PathBuf> {
            let p = rw.join(name);
            std::fs::write(&p, text).map_err(io(&p))?;
            Ok(p)
        };
        let hosts = etc(
            "hosts",
            format!(
                "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n"
            ),
        )?;
        let hostname_file = etc("hostname", format!("{hostname}\n"))?;
        let resolv = etc(
            "resolv.conf",
            std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
        )?;
        let mut mounts = vec![
            bind(hosts, "/etc/hosts", false),
            bind(hostname_file, "/etc/hostname", false),
            bind(resolv, "/etc/resolv.conf", false),
        ];
        for v in &spec.volumes {
            let v = Volume::parse(v)?;
            let source = match &v.source {
                VolumeSource::Host(p) => {
                    let p = PathBuf::from(p);
                    if !p.exists() {
                        std::fs::create_dir_all(&p).map_err(io(&p))?;
                    }
                    p
                }
                VolumeSource::Named(n) => self.volume_dir(n)?,
                VolumeSource::Anonymous => {
                    let n = format!("{:064x}", rand::random::<u128>());
                    let dir = self.volume_dir(&n)?;
                    rec.anonymous_volumes.push(n);
                    dir
                }
            };
            mounts.push(bind(source, &v.destination, v.readonly));
        }
        for t in &spec.tmpfs {
            let t = Tmpfs::parse(t)?;
            mounts.push(Mount::Tmpfs {
                destination: t.destination,
                size_bytes: t.size_bytes,
                mode: t.mode,
                readonly: t.readonly,
                noexec: t.noexec,
            });
        }
        let mut env: Vec<String> = img.env().clone().unwrap_or_default();
        for e in &spec.env {
            let key = e.split_once('=').map_or(e.as_str(), |(k, _)| k);
            env.retain(|x| x.split_once('=').map_or(x.as_str(), |(k, _)| k) != key);
            env.push(e.clone());
        }
        let cwd = if !spec.workdir.is_empty() {
            spec.workdir.clone()
        } else {
            img.working_dir()
                .clone()
                .filter(|w| !w.is_empty())
                .unwrap_or_else(|| "/".into())
        };
        let user_spec = if spec.user.is_empty() {
            img.user().clone().unwrap_or_default()
        } else {
            spec.user.clone()
        };
        let user = user::resolve(&user_spec, &layers)?;
        let stop_signal = if !spec.stop_signal.is_empty() {
            parse_signal("--stop-signal", &spec.stop_signal)?
        } else if let Some(s) = img.stop_signal().clone().filter(|s| !s.is_empty()) {
            parse_signal("image StopSignal", &s)?
        } else {
            libc::SIGTERM
        };
        let mut config = ContainerConfig::new(
            rec.runtime_key().to_owned(),
            Rootfs::Overlay {
                lowerdirs: layers,
                upperdir: upper,
                workdir: work,
                target: merged,
            },
            rec.args.clone(),
        );
        config.env = env;
        config.cwd = cwd;
        config.user = user;
        config.hostname = Some(hostname);
        config.mounts = mounts;
        config.readonly_rootfs = spec.read_only;
        config.stop_signal = stop_signal;
        // Kept beside the writable layer, so a restart (which replaces the runtime's state
        // directory) keeps the container's earlier output, as Docker does.
        config.log_path = Some(self.log_path(&rec.id));
        config.tty = spec.tty;
        config.open_stdin = spec.interactive;
        config.resources = Resources {
            memory_bytes: (spec.memory_bytes > 0).then_some(spec.memory_bytes),
            // Docker's default with only `-m`: as much swap again as memory.
            memory_swap_bytes: (spec.memory_bytes > 0)
                .then(|| i64::try_from(spec.memory_bytes.saturating_mul(2)).unwrap_or(i64::MAX)),
            cpu_quota_us: (spec.nano_cpus > 0)
                .then(|| i64::try_from(spec.nano_cpus / 10_000).unwrap_or(i64::MAX)),
            cpu_period_us: (spec.nano_cpus > 0).then_some(100_000),
            cpu_shares: None,
            pids_max: (spec.pids_limit != 0).then_some(spec.pids_limit),
        };
        Ok(config)
    }

    /// The container's log file.
    fn log_path(&self, id: &str) -> PathBuf {
        self.rw_root.join(id).join("container.log")
    }

    fn volume_dir(&self, name: &str) -> Result<PathBuf> {
        let dir = self.volumes_root.join(name).join("_data");
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        Ok(dir)
    }

    /// The container's state now.
    fn info(&self, rec: ContainerRecord) -> Result<ContainerInfo> {
        let mut socket = None;
        let (state, pid, exit, log_path) = match self.runtime.get(rec.runtime_key()) {
            Ok(mut c) => {
                let log = c.log_path();
                socket = c.attach_socket();
                match c.status()? {
                    Status::Running { pid } if rec.paused => (State::Paused, Some(pid), None, log),
                    Status::Running { pid } => (State::Running, Some(pid), None, log),
                    Status::Exited(e) => (State::Exited, None, Some(e), log),
                    Status::Lost => (State::Dead, None, None, log),
                }
            }
            Err(ContainerError::NotFound { .. }) => {
                let state = if rec.started_at_ms.is_some() {
                    State::Dead
                } else {
                    State::Created
                };
                let log = self.log_path(&rec.id);
                (state, None, None, log)
            }
            Err(e) => return Err(e.into()),
        };
        let attach_socket = socket.filter(|_| state == State::Running);
        let health = self.health_of(&rec, state);
        Ok(ContainerInfo {
            record: rec,
            state,
            pid,
            exit,
            log_path,
            attach_socket,
            health,
        })
    }

    /// One container's state.
    pub fn inspect(&self, key: &str) -> Result<ContainerInfo> {
        let rec = self.lookup(key)?;
        self.info(rec)
    }

    /// Every container (`all`) or the running and paused ones, newest first.
    pub fn list(&self, all: bool) -> Result<Vec<ContainerInfo>> {
        let recs: Vec<ContainerRecord> = self.index().values().cloned().collect();
        let mut out = Vec::with_capacity(recs.len());
        for rec in recs {
            let info = match self.info(rec.clone()) {
                Ok(i) => i,
                Err(e) => {
                    tracing::warn!(id = %rec.id, error = %e, "cannot read a container's state");
                    ContainerInfo {
                        log_path: PathBuf::new(),
                        record: rec,
                        state: State::Dead,
                        pid: None,
                        exit: None,
                        attach_socket: None,
                        health: None,
                    }
                }
            };
            if all || matches!(info.state, State::Running | State::Paused) {
                out.push(info);
            }
        }
        out.sort_by_key(|i| std::cmp::Reverse(i.record.created_at_ms));
        Ok(out)
    }

    /// The runtime's handle of `rec` if it is running (paused included).
    pub(crate) fn running(&self, rec: &ContainerRecord) -> Result<Option<Container>> {
        match self.runtime.get(rec.runtime_key()) {
            Ok(mut c) => match c.status()? {
                Status::Running { .. } => Ok(Some(c)),
                _ => Ok(None),
            },
            Err(ContainerError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn set_paused(&self, rec: &mut ContainerRecord, paused: bool) -> Result<()> {
        rec.paused = paused;
        self.records.save(rec)?;
        self.index().insert(rec.id.clone(), rec.clone());
        Ok(())
    }

    /// Stops a container: its stop signal, then after `timeout` (default: the container's
    /// `--stop-timeout`, else 10 s) SIGKILL to its whole cgroup. Stopping a stopped container
    /// is not an error.
    pub fn stop(&self, key: &str, timeout: Option<Duration>) -> Result<ContainerInfo> {
        let mut rec = self.lookup(key)?;
        if let Some(mut c) = self.running(&rec)? {
            if rec.paused {
                c.cgroup()?.thaw()?;
                self.set_paused(&mut rec, false)?;
            }
            let grace = timeout
                .or(rec.spec.stop_timeout)
                .unwrap_or(DEFAULT_STOP_TIMEOUT);
            let signal = c.config().stop_signal;
            c.stop(signal, grace)?;
        }
        self.info(rec)
    }

    /// Sends `signal` to the container's PID 1.
    pub fn kill(&self, key: &str, signal: i32) -> Result<()> {
        let rec = self.lookup(key)?;
        match self.running(&rec)? {
            Some(c) => {
                c.kill(signal)?;
                Ok(())
            }
            None => Err(EngineError::State {
                id: rec.id[..12].to_owned(),
                state: "not running".into(),
                reason: "cannot kill it".into(),
            }),
        }
    }

    /// Freezes every process of the container.
    pub fn pause(&self, key: &str) -> Result<()> {
        let mut rec = self.lookup(key)?;
        let c = self.running(&rec)?.ok_or_else(|| EngineError::State {
            id: rec.id[..12].to_owned(),
            state: "not running".into(),
            reason: "cannot pause it".into(),
        })?;
        if rec.paused {
            return Err(EngineError::State {
                id: rec.id[..12].to_owned(),
                state: "paused".into(),
                reason: "it is already paused".into(),
            });
        }
        c.cgroup()?.freeze()?;
        self.set_paused(&mut rec, true)
    }

    /// Thaws a paused container.
    pub fn unpause(&self, key: &str) -> Result<()> {
        let mut rec = self.lookup(key)?;
        if !rec.paused {
            return Err(EngineError::State {
                id: rec.id[..12].to_owned(),
                state: "not paused".into(),
                reason: "cannot unpause it".into(),
            });
        }
        if let Some(c) = self.running(&rec)? {
            c.cgroup()?.thaw()?;
        }
        self.set_paused(&mut rec, false)
    }

    /// Waits up to `timeout` for the container to exit.
    pub fn wait(&self, key: &str, timeout: Duration) -> Result<Option<ExitStatus>> {
        let rec = self.lookup(key)?;
        match self.runtime.get(rec.runtime_key()) {
            Ok(mut c) => match c.wait_exit(timeout) {
                Ok(e) => Ok(e),
                Err(ContainerError::ShimLost { .. }) => Err(EngineError::State {
                    id: rec.id[..12].to_owned(),
                    state: "dead".into(),
                    reason: "its shim died without recording the exit".into(),
                }),
                Err(e) => Err(e.into()),
            },
            Err(ContainerError::NotFound { .. }) => Err(EngineError::State {
                id: rec.id[..12].to_owned(),
                state: "created".into(),
                reason: "it was never started".into(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes a container and everything it had (cgroup, state, writable layer, anonymous
    /// volumes). A running container needs `force`, which kills it first.
    pub fn remove(&self, key: &str, force: bool) -> Result<String> {
        let rec = self.lookup(key)?;
        if let Some(mut c) = self.running(&rec)? {
            if !force {
                return Err(EngineError::State {
                    id: rec.id[..12].to_owned(),
                    state: "running".into(),
                    reason: "cannot remove a running container: stop it first, or use --force"
                        .into(),
                });
            }
            if rec.paused {
                c.cgroup()?.thaw()?;
            }
            c.stop(libc::SIGKILL, Duration::ZERO)?;
        }
        match self.runtime.get(rec.runtime_key()) {
            Ok(c) => c.delete()?,
            Err(ContainerError::NotFound { .. }) => {}
            Err(_) => self.runtime.force_remove(rec.runtime_key())?,
        }
        let rw = self.rw_root.join(&rec.id);
        match std::fs::remove_dir_all(&rw) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&rw)(e)),
        }
        for v in &rec.anonymous_volumes {
            let dir = self.volumes_root.join(v);
            let _ = std::fs::remove_dir_all(&dir);
        }
        self.records.remove(&rec.id)?;
        self.index().remove(&rec.id);
        self.reset_health(&rec.id);
        Ok(rec.id)
    }

    /// Removes every container that is not running or paused; returns their ids.
    pub fn prune(&self) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        for info in self.list(true)? {
            if matches!(info.state, State::Created | State::Exited | State::Dead) {
                match self.remove(&info.record.id, false) {
                    Ok(id) => removed.push(id),
                    Err(e) => {
                        tracing::warn!(id = %info.record.id, error = %e, "prune: cannot remove a container");
                    }
                }
            }
        }
        Ok(removed)
    }

    /// Removes `--rm` containers that have exited; returns their ids. The daemon calls it
    /// periodically.
    /// Containers for which `skip` holds are left (someone waits to remove them itself).
    pub fn reap_auto_remove(&self, skip: &dyn Fn(&str) -> bool) -> Vec<String> {
        let candidates: Vec<String> = self
            .index()
            .values()
            .filter(|r| r.spec.auto_remove && r.started_at_ms.is_some() && !skip(&r.id))
            .map(|r| r.id.clone())
            .collect();
        let mut out = Vec::new();
        for id in candidates {
            let exited = matches!(
                self.inspect(&id).map(|i| i.state),
                Ok(State::Exited | State::Dead)
            );
            if exited {
                match self.remove(&id, false) {
                    Ok(id) => out.push(id),
                    Err(e) => {
                        tracing::warn!(id = %id, error = %e, "cannot remove an --rm container")
                    }
                }
            }
        }
        out
    }
}

fn bind(source: PathBuf, destination: &str, readonly: bool) -> Mount {
    Mount::Bind {
        source,
        destination: destination.to_owned(),
        readonly,
        recursive: true,
    }
}
