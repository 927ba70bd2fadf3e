//! The daemon's side: [`Runtime`] starts containers through the helper and re-adopts them after a
//! restart; [`Container`] waits for, signals, stops and removes one.
//!
//! Nothing here forks: the helper is started with `std::process::Command` (fork+exec, safe in a
//! multi-threaded process). The calls block (for at most the timeout given, or the runtime's start
//! timeout); from async code, run them with `tokio::task::spawn_blocking`.
//!
//! The helper daemonizes (it forks once more, in a new session), so the shim is never the
//! daemon's child: no zombie is left whether or not the daemon waits, and a container started by
//! this process is handled exactly like one re-adopted after a restart, through `state.json`.
//! Processes are identified by pid **and** start time, and signalled through pidfds
//! (`pidfd_open`, kernel ≥ 5.3; `kill` after a start-time check before that), so a reused pid is
//! never signalled.
//!
//! [`Runtime::exec`] is the exception to the daemonizing: its helper ([`crate::exec`]) is the
//! caller's child, returned as a [`std::process::Child`] whose exit status is the command's.

use crate::config::{ContainerConfig, ExecConfig, Rootfs, socket_path_fits, validate_id};
use crate::error::{ContainerError, Context, Result};
use crate::exec::{EXEC_SUBCOMMAND, LISTENING};
use crate::state::{
    self, ATTACH_SOCKET_FILE, CONFIG_FILE, CONTAINER_LOG_FILE, EXEC_FILE_PREFIX, EXIT_FILE,
    ExitStatus, ProcState, SHIM_LOG_FILE, STATE_FILE,
};
use crate::sys;
use flotilla_cgroups::{Cgroup, CgroupError};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use std::ffi::{OsStr, OsString};
use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long [`Runtime::create_and_start`] waits for the helper by default.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long [`Container::stop`] waits for the container to be gone after killing its cgroup.
pub const KILL_WAIT: Duration = Duration::from_secs(10);

/// How long [`Container::delete`] gives the shim to record the exit after the kill.
const SHIM_EXIT_WAIT: Duration = Duration::from_secs(5);

/// Starts and re-adopts the containers of one daemon.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// `<state root>/<id>/` holds each container's files.
    state_root: PathBuf,
    /// The cgroup parent of new containers.
    cgroup_parent: String,
    /// The helper executable (normally `/proc/self/exe`).
    helper_exe: PathBuf,
    /// The hidden subcommand that makes it the helper.
    helper_arg: OsString,
    /// The hidden subcommand that makes it the exec helper.
    exec_arg: OsString,
    /// How long a start may take.
    start_timeout: Duration,
}

impl Runtime {
    /// A runtime keeping its state under `state_root` (created, mode 0700) and creating cgroups
    /// under `cgroup_parent` (`flotilla-<node>/containers`). The helper is started as
    /// `<helper_exe> <helper_arg> <state dir>/config.json`; the daemon passes `/proc/self/exe`
    /// and [`crate::HELPER_SUBCOMMAND`]. The exec helper is started as
    /// `<helper_exe> __container-exec <state dir>/exec-<pid>-<n>.json`
    /// ([`crate::EXEC_SUBCOMMAND`], see [`Runtime::with_exec_subcommand`]).
    pub fn new(
        state_root: impl Into<PathBuf>,
        cgroup_parent: impl Into<String>,
        helper_exe: impl Into<PathBuf>,
        helper_arg: impl AsRef<OsStr>,
    ) -> Result<Runtime> {
        let state_root = state_root.into();
        if !state_root.is_absolute() {
            return Err(ContainerError::InvalidConfig(format!(
                "the state root {} must be an absolute path",
                state_root.display()
            )));
        }
        fs::create_dir_all(&state_root)
            .ctx(|| format!("create state root {}", state_root.display()))?;
        fs::set_permissions(&state_root, fs::Permissions::from_mode(0o700))
            .ctx(|| format!("chmod 700 {}", state_root.display()))?;
        Ok(Runtime {
            state_root,
            cgroup_parent: cgroup_parent.into(),
            helper_exe: helper_exe.into(),
            helper_arg: helper_arg.as_ref().to_owned(),
            exec_arg: OsString::from(EXEC_SUBCOMMAND),
            start_timeout: DEFAULT_START_TIMEOUT,
        })
    }

    /// Sets the hidden subcommand that makes the helper executable an exec helper (by default
    /// [`crate::EXEC_SUBCOMMAND`]).
    pub fn with_exec_subcommand(mut self, arg: impl AsRef<OsStr>) -> Runtime {
        self.exec_arg = arg.as_ref().to_owned();
        self
    }

    /// Sets how long [`Runtime::create_and_start`] waits for the helper's report.
    pub fn with_start_timeout(mut self, timeout: Duration) -> Runtime {
        self.start_timeout = timeout;
        self
    }

    /// The state root.
    pub fn state_root(&self) -> &Path {
        &self.state_root
    }

    /// The cgroup parent of new containers.
    pub fn cgroup_parent(&self) -> &str {
        &self.cgroup_parent
    }

    /// Creates and starts a container: writes `<state root>/<id>/config.json` (with this
    /// runtime's cgroup parent, and `<state dir>/container.log` as the log unless one is set),
    /// spawns the helper and waits until the command has been `execve`d or has failed.
    ///
    /// With [`ContainerConfig::tty`] or [`ContainerConfig::open_stdin`], the attach socket
    /// ([`Container::attach_socket`]) listens before this returns; a client connecting right
    /// after gets the output produced so far (up to 64 KiB) and everything after (see
    /// [`crate::attach`]). The log has all of it whether a client attaches or not.
    ///
    /// On any failure nothing is left: no process, cgroup or state directory.
    pub fn create_and_start(&self, mut config: ContainerConfig) -> Result<Container> {
        validate_id(&config.id)?;
        let dir = self.state_root.join(&config.id);
        config.cgroup_parent = self.cgroup_parent.clone();
        if config.log_path.is_none() {
            config.log_path = Some(dir.join(CONTAINER_LOG_FILE));
        }
        config.validate()?;
        if config.tty || config.open_stdin {
            socket_path_fits(&dir.join(ATTACH_SOCKET_FILE))?;
        }
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(ContainerError::AlreadyExists {
                    id: config.id.clone(),
                    path: dir,
                });
            }
            Err(e) => return Err(e).ctx(|| format!("create state directory {}", dir.display())),
        }
        let result = fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
            .ctx(|| format!("chmod 700 {}", dir.display()))
            .and_then(|()| self.spawn(config, &dir));
        if result.is_err()
            && let Err(e) = fs::remove_dir_all(&dir)
        {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot remove the state directory of a failed start");
        }
        result
    }

    /// Writes the configuration, runs the helper and reads its report.
    fn spawn(&self, config: ContainerConfig, dir: &Path) -> Result<Container> {
        state::write_json(dir, CONFIG_FILE, &config, false)?;
        let shim_log_path = dir.join(SHIM_LOG_FILE);
        let shim_log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&shim_log_path)
            .ctx(|| format!("open {}", shim_log_path.display()))?;
        let started = Instant::now();
        let mut helper = Command::new(&self.helper_exe)
            .arg(&self.helper_arg)
            .arg(dir.join(CONFIG_FILE))
            .env_clear()
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(shim_log))
            .spawn()
            .ctx(|| format!("start the helper {}", self.helper_exe.display()))?;
        let report = match helper.stdout.take() {
            Some(stdout) => read_report(stdout, started + self.start_timeout),
            None => Err(ContainerError::Io {
                context: "the helper's stdout".to_owned(),
                source: io::ErrorKind::BrokenPipe.into(),
            }),
        };
        // The helper itself exits as soon as it has forked the shim.
        let helper_status = reap_helper(&mut helper);
        let fail = |shim: Option<i32>| {
            if let Some(pid) = shim {
                // The shim has just been started by us; its pid cannot have been reused yet.
                let _ = sys::kill(pid, libc::SIGKILL);
            }
            if let Err(e) = Cgroup::destroy(&config.cgroup_parent, &config.id) {
                tracing::warn!(id = %config.id, error = %e, "cannot remove the cgroup of a failed start");
            }
        };
        match report {
            Ok(Report::Started { pid }) => {
                tracing::trace!(id = %config.id, pid, "helper reported the start");
            }
            Ok(Report::Failed { message, .. }) => {
                return Err(ContainerError::StartFailed {
                    id: config.id,
                    message,
                });
            }
            Ok(Report::Silent { shim }) => {
                fail(shim);
                let log = fs::read_to_string(&shim_log_path).unwrap_or_default();
                return Err(ContainerError::StartFailed {
                    id: config.id,
                    message: format!(
                        "the helper exited ({helper_status}) without reporting; its log: {}",
                        log.trim()
                    ),
                });
            }
            Ok(Report::TimedOut { shim }) => {
                fail(shim);
                return Err(ContainerError::Timeout {
                    id: config.id,
                    operation: "start",
                    waited: started.elapsed(),
                });
            }
            Err(e) => {
                fail(None);
                return Err(e);
            }
        }
        let proc: ProcState =
            state::read_json(dir, STATE_FILE)?.ok_or_else(|| ContainerError::StartFailed {
                id: config.id.clone(),
                message: format!("the helper reported a start but wrote no {STATE_FILE}"),
            })?;
        tracing::debug!(id = %config.id, pid = proc.pid, shim = proc.shim_pid, elapsed = ?started.elapsed(), "container started");
        Ok(Container {
            id: config.id.clone(),
            state_dir: dir.to_path_buf(),
            config,
            proc: Some(proc),
            shim_pidfd: None,
        })
    }

    /// Runs a command in the running container `id` (see [`crate::exec`]): spawns the exec
    /// helper as a child of the caller and returns it; its exit status is the command's (128 +
    /// signal if killed; 126 or 127 if the command could not be started, with the reason on
    /// its stderr). Killing the child kills the command.
    ///
    /// Without [`ExecConfig::attach_socket`], the child's stdin, stdout and stderr are pipes
    /// (take them from the [`Child`]) that the command uses directly: drop the stdin to give
    /// it end-of-file. With one, this returns once the socket listens (stdin and stdout are
    /// then unused; stderr carries the helper's diagnostics), and the command starts when a
    /// client connects (within [`crate::exec::ATTACH_WAIT`]).
    pub fn exec(&self, id: &str, exec: ExecConfig) -> Result<Child> {
        static SEQUENCE: AtomicU64 = AtomicU64::new(0);
        let container = self.get(id)?;
        exec.validate()?;
        if container.read_exit()?.is_some() || !container.container_alive() {
            return Err(ContainerError::NotRunning { id: id.to_owned() });
        }
        let dir = container.state_dir();
        let name = format!(
            "{EXEC_FILE_PREFIX}{}-{}.json",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        );
        state::write_json(dir, &name, &exec, false)?;
        let request = dir.join(&name);
        let attach = exec.attach_socket.is_some();
        let spawned = Command::new(&self.helper_exe)
            .arg(&self.exec_arg)
            .arg(&request)
            .env_clear()
            .current_dir("/")
            .stdin(if attach {
                Stdio::null()
            } else {
                Stdio::piped()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                let _ = fs::remove_file(&request);
                return Err(e)
                    .ctx(|| format!("start the exec helper {}", self.helper_exe.display()));
            }
        };
        if !attach {
            return Ok(child);
        }
        let listening = match child.stdout.as_mut() {
            Some(stdout) => wait_for_line(stdout, LISTENING, Instant::now() + self.start_timeout),
            None => Ok(false),
        };
        if let Ok(true) = listening {
            return Ok(child);
        }
        let _ = child.kill();
        let status = child.wait();
        let _ = fs::remove_file(&request);
        let mut diagnostics = String::new();
        if let Some(mut stderr) = child.stderr.take() {
            let _ = stderr.read_to_string(&mut diagnostics);
        }
        listening?;
        let message = match diagnostics.trim() {
            "" => match status {
                Ok(status) => format!("the exec helper ended ({status}) before listening"),
                Err(e) => format!("the exec helper did not listen: {e}"),
            },
            text => text.to_owned(),
        };
        Err(ContainerError::ExecFailed {
            id: id.to_owned(),
            message,
        })
    }

    /// The container `id`, re-adopted from its state directory.
    pub fn get(&self, id: &str) -> Result<Container> {
        validate_id(id)?;
        let dir = self.state_root.join(id);
        if !dir.join(CONFIG_FILE).exists() {
            return Err(ContainerError::NotFound {
                id: id.to_owned(),
                root: self.state_root.clone(),
            });
        }
        Container::adopt(&dir)
    }

    /// Every container with a state directory, sorted by id: what a restarted daemon re-adopts.
    /// Use [`Container::status`] to tell running ones from exited or lost ones. Directories whose
    /// `config.json` cannot be read are skipped with a warning (remove them with
    /// [`Runtime::force_remove`]).
    pub fn list(&self) -> Result<Vec<Container>> {
        let mut out = Vec::new();
        let entries =
            fs::read_dir(&self.state_root).ctx(|| format!("list {}", self.state_root.display()))?;
        for entry in entries {
            let entry = entry.ctx(|| format!("list {}", self.state_root.display()))?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if validate_id(&name).is_err() || !entry.path().join(CONFIG_FILE).exists() {
                continue;
            }
            match Container::adopt(&entry.path()) {
                Ok(container) => out.push(container),
                Err(e) => {
                    tracing::warn!(id = %name, error = %e, "cannot re-adopt container");
                }
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Removes whatever is left of container `id` without reading its configuration: kills and
    /// removes its cgroup under this runtime's cgroup parent, and removes its state directory.
    /// For state directories [`Runtime::list`] cannot read. An overlay left mounted on the host
    /// (none is, normally: the overlay lives in the container's mount namespace) is not handled.
    pub fn force_remove(&self, id: &str) -> Result<()> {
        validate_id(id)?;
        Cgroup::destroy(&self.cgroup_parent, id)?;
        let dir = self.state_root.join(id);
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).ctx(|| format!("remove {}", dir.display())),
        }
    }
}

/// Waits (briefly: it exits right after forking the shim) for the helper process, killing it if
/// it is stuck; describes how it ended.
fn reap_helper(helper: &mut std::process::Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match helper.try_wait() {
            Ok(Some(status)) => return status.to_string(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
            Ok(None) => {
                let _ = helper.kill();
                return match helper.wait() {
                    Ok(status) => format!("killed, {status}"),
                    Err(e) => format!("killed, cannot wait: {e}"),
                };
            }
            Err(e) => return format!("cannot wait: {e}"),
        }
    }
}

/// What the helper reported on its stdout.
enum Report {
    /// `ok <pid>`.
    Started {
        /// The container's PID 1.
        pid: i32,
    },
    /// `error <message>`.
    Failed {
        /// The message.
        message: String,
    },
    /// The pipe closed without either.
    Silent {
        /// The shim's pid, if it was reported.
        shim: Option<i32>,
    },
    /// Nothing final before the deadline.
    TimedOut {
        /// The shim's pid, if it was reported.
        shim: Option<i32>,
    },
}

/// Reads `stdout` up to a newline: whether the line is `expected` (`false` at end-of-file or at
/// the deadline).
fn wait_for_line(stdout: &mut ChildStdout, expected: &str, deadline: Instant) -> Result<bool> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Ok(false);
        }
        let ready = poll_readable(&stdout, remaining, "the exec helper's stdout")?;
        if !ready {
            continue;
        }
        match stdout.read(&mut byte) {
            Ok(0) => return Ok(false),
            Ok(_) if byte[0] == b'\n' => return Ok(line == expected.as_bytes()),
            Ok(_) => line.push(byte[0]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).ctx(|| "read the exec helper's stdout"),
        }
    }
}

/// Reads the helper's report: `shim <pid>` (from the helper, once it has forked the shim) and,
/// in any order, the final `ok <pid>` or `error <message>` (from the shim).
fn read_report(mut stdout: ChildStdout, deadline: Instant) -> Result<Report> {
    let mut shim = None;
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(&buf[..pos]).into_owned();
            buf.drain(..=pos);
            if let Some(pid) = line.strip_prefix("shim ") {
                shim = pid.trim().parse().ok();
            } else if let Some(pid) = line.strip_prefix("ok ") {
                if let Ok(pid) = pid.trim().parse() {
                    return Ok(Report::Started { pid });
                }
            } else if let Some(message) = line.strip_prefix("error ") {
                return Ok(Report::Failed {
                    message: message.to_owned(),
                });
            }
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Ok(Report::TimedOut { shim });
        }
        let ready = poll_readable(&stdout, remaining, "the helper's stdout")?;
        if !ready {
            continue;
        }
        let n = match stdout.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).ctx(|| "read the helper's stdout"),
        };
        if n == 0 {
            return Ok(Report::Silent { shim });
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// What a container is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Its PID 1 is alive.
    Running {
        /// PID 1, as seen from the host.
        pid: i32,
    },
    /// It has exited and its shim recorded how.
    Exited(ExitStatus),
    /// It is gone and nothing recorded how: its shim was killed, or the start never completed.
    Lost,
}

/// One container, started by [`Runtime::create_and_start`] or re-adopted by [`Runtime::list`].
///
/// Dropping the handle leaves the container alone (its shim keeps it); [`Container::delete`]
/// removes it.
#[derive(Debug)]
pub struct Container {
    /// The id.
    id: String,
    /// `<state root>/<id>`.
    state_dir: PathBuf,
    /// Its configuration, as started.
    config: ContainerConfig,
    /// Its processes; `None` if the helper never got as far as forking.
    proc: Option<ProcState>,
    /// A pidfd of the shim, opened on first wait.
    shim_pidfd: Option<OwnedFd>,
}

impl Container {
    /// Re-adopts the container whose state directory is `dir`.
    fn adopt(dir: &Path) -> Result<Container> {
        let config = ContainerConfig::read(&dir.join(CONFIG_FILE))?;
        let proc = state::read_json(dir, STATE_FILE)?;
        Ok(Container {
            id: config.id.clone(),
            state_dir: dir.to_path_buf(),
            config,
            proc,
            shim_pidfd: None,
        })
    }

    /// The id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The host pid of the container's PID 1 (which may have exited since).
    pub fn pid(&self) -> Option<i32> {
        self.proc.map(|p| p.pid)
    }

    /// The pid of the shim (which may have exited since).
    pub fn shim_pid(&self) -> Option<i32> {
        self.proc.map(|p| p.shim_pid)
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// The configuration the container was started with.
    pub fn config(&self) -> &ContainerConfig {
        &self.config
    }

    /// The log file holding the container's stdout and stderr (the current one; see
    /// [`crate::logs::read_logs`] and [`crate::logs::follow`] to read it).
    pub fn log_path(&self) -> PathBuf {
        self.config
            .log_path
            .clone()
            .unwrap_or_else(|| self.state_dir.join(CONTAINER_LOG_FILE))
    }

    /// The attach socket ([`crate::attach`]) of a container started with a terminal or an open
    /// stdin; it exists while the container runs.
    pub fn attach_socket(&self) -> Option<PathBuf> {
        (self.config.tty || self.config.open_stdin).then(|| self.state_dir.join(ATTACH_SOCKET_FILE))
    }

    /// The container's cgroup (for stats), if it still exists.
    pub fn cgroup(&self) -> Result<Cgroup> {
        Ok(Cgroup::open(&self.config.cgroup_parent, &self.id)?)
    }

    /// The recorded exit status, if the shim wrote one.
    fn read_exit(&self) -> Result<Option<ExitStatus>> {
        state::read_json(&self.state_dir, EXIT_FILE)
    }

    /// Whether PID 1 is alive (and is the container's).
    fn container_alive(&self) -> bool {
        self.proc
            .is_some_and(|p| state::is_alive(p.pid, p.pid_start_time))
    }

    /// Whether the shim is alive (and is the container's).
    fn shim_alive(&self) -> bool {
        self.proc
            .is_some_and(|p| state::is_alive(p.shim_pid, p.shim_start_time))
    }

    /// What the container is doing now.
    pub fn status(&mut self) -> Result<Status> {
        if let Some(exit) = self.read_exit()? {
            return Ok(Status::Exited(exit));
        }
        if let (true, Some(p)) = (self.container_alive(), self.proc) {
            return Ok(Status::Running { pid: p.pid });
        }
        // PID 1 is gone: the shim is about to record the exit, or is gone too.
        match self.wait_exit(Duration::from_millis(500)) {
            Ok(Some(exit)) => Ok(Status::Exited(exit)),
            Ok(None) => Ok(match self.proc {
                Some(p) if self.container_alive() => Status::Running { pid: p.pid },
                _ => Status::Lost,
            }),
            Err(ContainerError::ShimLost { .. }) => Ok(Status::Lost),
            Err(e) => Err(e),
        }
    }

    /// Waits up to `timeout` for the container to exit and its shim to record how; `None` if it
    /// is still running then. Fails with [`ContainerError::ShimLost`] if the container is gone
    /// and its shim died without recording the exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(exit) = self.read_exit()? {
                return Ok(Some(exit));
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if !self.shim_alive() {
                // The shim writes exit.json before it exits.
                if let Some(exit) = self.read_exit()? {
                    return Ok(Some(exit));
                }
                if !self.container_alive() {
                    return Err(ContainerError::ShimLost {
                        id: self.id.clone(),
                    });
                }
                // An orphaned container: nobody will record its exit; wait for it to go.
                if remaining.is_zero() {
                    return Ok(None);
                }
                std::thread::sleep(remaining.min(Duration::from_millis(20)));
                continue;
            }
            if remaining.is_zero() {
                return Ok(None);
            }
            self.wait_shim(remaining)?;
        }
    }

    /// Blocks until the shim exits or `timeout` passes (pidfd when the kernel has them).
    fn wait_shim(&mut self, timeout: Duration) -> Result<()> {
        let Some(p) = self.proc else {
            return Ok(());
        };
        if self.shim_pidfd.is_none() {
            match open_pidfd(p.shim_pid, p.shim_start_time) {
                Ok(Some(fd)) => self.shim_pidfd = Some(fd),
                Ok(None) => return Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                    std::thread::sleep(timeout.min(Duration::from_millis(20)));
                    return Ok(());
                }
                Err(e) => return Err(e).ctx(|| format!("pidfd_open {}", p.shim_pid)),
            }
        }
        if let Some(fd) = &self.shim_pidfd {
            let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
            let timeout = PollTimeout::try_from(timeout.max(Duration::from_millis(1)))
                .unwrap_or(PollTimeout::MAX);
            match nix::poll::poll(&mut fds, timeout) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(e).ctx(|| format!("poll the pidfd of {}", p.shim_pid)),
            }
        }
        Ok(())
    }

    /// Sends `signal` (a number; real-time signals included) to the container's PID 1. `false` if
    /// it is not running. As for any PID 1 of a pid namespace, a signal it has no handler for is
    /// ignored, except `SIGKILL`.
    pub fn kill(&self, signal: i32) -> Result<bool> {
        let Some(p) = self.proc else {
            return Ok(false);
        };
        match open_pidfd(p.pid, p.pid_start_time) {
            Ok(None) => Ok(false),
            Ok(Some(fd)) => match sys::pidfd_send_signal(fd.as_fd(), signal) {
                Ok(()) => Ok(true),
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(false),
                Err(e) => Err(e).ctx(|| format!("send signal {signal} to pid {}", p.pid)),
            },
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                if !self.container_alive() {
                    return Ok(false);
                }
                match sys::kill(p.pid, signal) {
                    Ok(()) => Ok(true),
                    Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(false),
                    Err(e) => Err(e).ctx(|| format!("send signal {signal} to pid {}", p.pid)),
                }
            }
            Err(e) => Err(e).ctx(|| format!("pidfd_open {}", p.pid)),
        }
    }

    /// Stops the container: sends `signal` to PID 1, waits up to `grace`, then kills everything
    /// in its cgroup and waits (up to [`KILL_WAIT`]) for the shim to record the exit. Returns how
    /// the container ended. [`ContainerError::ShimLost`]: it is stopped, but how it ended is not
    /// known.
    pub fn stop(&mut self, signal: i32, grace: Duration) -> Result<ExitStatus> {
        if let Some(exit) = self.read_exit()? {
            return Ok(exit);
        }
        if self.kill(signal)?
            && !grace.is_zero()
            && let Some(exit) = self.wait_exit(grace)?
        {
            return Ok(exit);
        }
        self.kill_everything()?;
        match self.wait_exit(KILL_WAIT)? {
            Some(exit) => Ok(exit),
            None => Err(ContainerError::Timeout {
                id: self.id.clone(),
                operation: "stop",
                waited: grace + KILL_WAIT,
            }),
        }
    }

    /// Stops the container with its configured stop signal.
    pub fn stop_default(&mut self, grace: Duration) -> Result<ExitStatus> {
        self.stop(self.config.stop_signal, grace)
    }

    /// `SIGKILL` to PID 1 (which takes its whole pid namespace along) and to everything in the
    /// cgroup.
    fn kill_everything(&self) -> Result<()> {
        self.kill(libc::SIGKILL)?;
        match Cgroup::open(&self.config.cgroup_parent, &self.id) {
            Ok(cgroup) => cgroup.kill_all()?,
            Err(CgroupError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    /// Removes the container: kills whatever still runs, waits for the shim, removes the cgroup,
    /// unmounts the overlay target if it is mounted in the daemon's mount namespace (it normally
    /// is not: the helper mounts it in the container's), and removes the state directory. The
    /// log file goes with the state directory when it is the default one; overlay layer, upper
    /// and work directories belong to the caller and are left alone.
    pub fn delete(mut self) -> Result<()> {
        // Whatever else is left in the cgroup (an exec helper, say) is killed with it below.
        if self.container_alive() {
            self.kill_everything()?;
        }
        // The shim records the exit and exits right after PID 1 is gone.
        let deadline = Instant::now() + SHIM_EXIT_WAIT;
        while self.shim_alive() {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                if let Some(p) = self.proc {
                    tracing::warn!(id = %self.id, shim = p.shim_pid, "shim still alive after the container's end; killing it");
                    if let Ok(Some(fd)) = open_pidfd(p.shim_pid, p.shim_start_time) {
                        let _ = sys::pidfd_send_signal(fd.as_fd(), libc::SIGKILL);
                    }
                }
                break;
            }
            self.wait_shim(remaining)?;
        }
        self.shim_pidfd = None;
        Cgroup::destroy(&self.config.cgroup_parent, &self.id)?;
        if let Rootfs::Overlay { target, .. } = &self.config.rootfs
            && is_mount_point(target)?
        {
            nix::mount::umount2(target.as_path(), nix::mount::MntFlags::MNT_DETACH)
                .ctx(|| format!("unmount {}", target.display()))?;
        }
        match fs::remove_dir_all(&self.state_dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).ctx(|| format!("remove {}", self.state_dir.display())),
        }
    }
}

/// A pidfd for `pid` if it is alive and started at `start_time`: `Ok(None)` if it is not.
/// The start time is checked after opening, so the pidfd refers to the right process.
fn open_pidfd(pid: i32, start_time: u64) -> io::Result<Option<OwnedFd>> {
    let Some(raw) = rustix::process::Pid::from_raw(pid) else {
        return Ok(None);
    };
    match rustix::process::pidfd_open(raw, rustix::process::PidfdFlags::empty()) {
        Ok(fd) => Ok(state::is_alive(pid, start_time).then_some(fd)),
        Err(rustix::io::Errno::SRCH) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Whether `path` is a mount point in the calling process's mount namespace.
fn is_mount_point(path: &Path) -> Result<bool> {
    let text = fs::read_to_string("/proc/self/mountinfo").ctx(|| "read /proc/self/mountinfo")?;
    Ok(text.lines().any(|line| {
        line.split(' ')
            .nth(4)
            .is_some_and(|field| Path::new(&unescape_mountinfo(field)) == path)
    }))
}

/// Undoes mountinfo's octal escapes (`\040` for a space, …).
fn unescape_mountinfo(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let digits = &bytes[i + 1..i + 4];
            if digits.iter().all(|b| (b'0'..=b'7').contains(b)) {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, &d| acc * 8 + u32::from(d - b'0'));
                if let Ok(byte) = u8::try_from(value) {
                    out.push(byte);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Waits up to `remaining` (at least 1 ms) for `fd` to be readable; `false` on timeout or EINTR.
fn poll_readable(fd: &impl AsFd, remaining: Duration, what: &str) -> Result<bool> {
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    let timeout =
        PollTimeout::try_from(remaining.max(Duration::from_millis(1))).unwrap_or(PollTimeout::MAX);
    match nix::poll::poll(&mut fds, timeout) {
        Ok(n) => Ok(n > 0),
        Err(nix::errno::Errno::EINTR) => Ok(false),
        Err(e) => Err(e).ctx(|| format!("poll {what}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_unescape() {
        assert_eq!(unescape_mountinfo("/a\\040b"), "/a b");
        assert_eq!(unescape_mountinfo("/plain"), "/plain");
        assert_eq!(unescape_mountinfo("/end\\04"), "/end\\04");
        assert!(is_mount_point(Path::new("/proc")).expect("mountinfo"));
    }
}
