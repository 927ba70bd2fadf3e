//! `exec`: running another command in a running container.
//!
//! [`crate::Runtime::exec`] writes the request ([`ExecConfig`]) to
//! `<state dir>/exec-<pid>-<n>.json` and spawns the daemon's binary with a second hidden
//! subcommand, [`EXEC_SUBCOMMAND`], routed to [`exec_main`]. That fresh, single-threaded helper:
//!
//! 1. reads and removes the request, reads the container's `config.json` and `state.json`, and
//!    checks that PID 1 is alive (pid **and** start time);
//! 2. with an attach socket, listens on it (mode 0600), prints `listening` on its stdout (for
//!    [`crate::Runtime::exec`], which returns then), waits up to 10 s for one client, and
//!    removes the socket file;
//! 3. opens `/proc/<pid>/ns/{ipc,uts,net,pid,cgroup,mnt}` of PID 1 (those the container has),
//!    checks again that PID 1 is the same process, moves itself into the container's cgroup,
//!    and joins the namespaces, the mount namespace last (from then on `/` is the container's);
//! 4. with a terminal, opens one on the container's `/dev/pts`; else, with an attach socket,
//!    creates pipes; else the command gets the helper's own stdin, stdout and stderr (the
//!    pipes of the [`std::process::Child`] the daemon holds);
//! 5. forks: the child is in the container's pid namespace; it takes its stdio (and the
//!    terminal as controlling terminal, in a new session), then goes through the same steps as
//!    the container's PID 1 (`init::exec_process`): rlimits, working directory,
//!    seccomp, capabilities and user, `no_new_privs`, and `execve` with the container's
//!    environment plus the exec's. It is `SIGKILL`ed if the helper dies (`PR_SET_PDEATHSIG`,
//!    so that a daemon killing the helper, say on a health-check timeout, kills the command);
//! 6. as the parent, serves the attach protocol ([`crate::attach`]) to the client if there is
//!    one, and exits with the command's exit code (128 + signal if killed).
//!
//! Failures before the command runs exit with 127 (something not found) or 126, with the
//! message on the helper's stderr and, once a client is attached, to the client as stderr
//! output followed by the exit frame.
//!
//! The helper stays in the container's cgroup (and so counts against its pids limit) until it
//! exits; stopping the container kills it with everything else in the cgroup.

use crate::attach::{self, Frame};
use crate::config::{ContainerConfig, ExecConfig, User};
use crate::error::{ContainerError, Context, Result};
use crate::init::{self, Process};
use crate::logs::Stream;
use crate::pump::{self, Exited, Pump};
use crate::state::{self, CONFIG_FILE, EXIT_FILE, ExitStatus, ProcState, STATE_FILE};
use crate::sys::{self, Forked};
use flotilla_cgroups::Cgroup;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use std::convert::Infallible;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// The hidden subcommand the daemon routes to [`exec_main`]:
/// `<exe> __container-exec <state dir>/exec-<pid>-<n>.json`.
pub const EXEC_SUBCOMMAND: &str = "__container-exec";

/// How long the helper waits for the client of its attach socket.
pub const ATTACH_WAIT: Duration = Duration::from_secs(10);

/// The line the helper prints on its stdout once its attach socket listens.
pub(crate) const LISTENING: &str = "listening";

/// The exec helper's entry point: runs the request at `request_path` (see the module
/// documentation) and exits with the command's exit code.
///
/// Call it at the very start of `main`, before any thread is started: it forks, and joins
/// namespaces, which a multi-threaded process cannot.
pub fn exec_main(request_path: &Path) -> ! {
    let mut blocked = SigSet::empty();
    blocked.add(Signal::SIGPIPE);
    let _ = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&blocked), None);
    let code = match run(request_path) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("flotilla exec: {}", init::one_line(&e.to_string()));
            failure_code(&e)
        }
    };
    std::process::exit(code)
}

/// The exit code of a failure before the command ran.
fn failure_code(error: &ContainerError) -> i32 {
    if error.io_kind() == Some(io::ErrorKind::NotFound) {
        127
    } else {
        126
    }
}

/// Everything the helper does; the command's exit code.
fn run(request_path: &Path) -> Result<i32> {
    let text = fs::read(request_path).ctx(|| format!("read {}", request_path.display()))?;
    let _ = fs::remove_file(request_path);
    let exec: ExecConfig = serde_json::from_slice(&text).map_err(|e| ContainerError::Parse {
        path: request_path.to_path_buf(),
        reason: e.to_string(),
    })?;
    exec.validate()?;
    let state_dir = request_path
        .parent()
        .filter(|p| p.is_absolute())
        .ok_or_else(|| {
            ContainerError::InvalidConfig(format!(
                "the exec request {} must be in a state directory",
                request_path.display()
            ))
        })?;
    let config = ContainerConfig::read(&state_dir.join(CONFIG_FILE))?;
    let proc = running(&config, state_dir)?;

    let mut client = match &exec.attach_socket {
        Some(path) => Some(accept_client(&config.id, path)?),
        None => None,
    };
    match enter_and_run(&config, &exec, proc, &mut client) {
        Ok(code) => Ok(code),
        Err(e) => {
            if let Some(client) = client.take() {
                tell_client(client, &format!("flotilla exec: {e}"), failure_code(&e));
            }
            Err(e)
        }
    }
}

/// The container's processes, if its PID 1 is alive.
fn running(config: &ContainerConfig, state_dir: &Path) -> Result<ProcState> {
    let proc: Option<ProcState> = state::read_json(state_dir, STATE_FILE)?;
    let exited = state::read_json::<ExitStatus>(state_dir, EXIT_FILE)?.is_some();
    match proc {
        Some(p) if !exited && state::is_alive(p.pid, p.pid_start_time) => Ok(p),
        _ => Err(ContainerError::NotRunning {
            id: config.id.clone(),
        }),
    }
}

/// Listens on `path`, tells the daemon, and waits for one client.
fn accept_client(id: &str, path: &Path) -> Result<UnixStream> {
    let listener = pump::listen(path)?;
    init::report(&format!("{LISTENING}\n"));
    let deadline = Instant::now() + ATTACH_WAIT;
    let result = loop {
        match listener.accept() {
            Ok((sock, _)) => break Ok(sock),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                break Err::<UnixStream, _>(e).ctx(|| format!("accept on {}", path.display()));
            }
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            break Err(ContainerError::Timeout {
                id: id.to_owned(),
                operation: "exec attach",
                waited: ATTACH_WAIT,
            });
        }
        let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        let timeout = PollTimeout::try_from(remaining).unwrap_or(PollTimeout::MAX);
        let _ = nix::poll::poll(&mut fds, timeout);
    };
    let _ = fs::remove_file(path);
    result
}

/// Sends a failure to the client: the message as stderr output, then the exit frame.
fn tell_client(mut client: UnixStream, message: &str, code: i32) {
    let _ = client.set_nonblocking(false);
    let _ = client.set_write_timeout(Some(Duration::from_secs(1)));
    let mut bytes = attach::encode(&Frame::Stderr(format!("{message}\n").into_bytes()));
    attach::encode_into(&Frame::Exit(code), &mut bytes);
    let _ = client.write_all(&bytes);
}

/// The command's ends of its stdio.
enum ChildIo {
    /// The helper's own.
    Inherit,
    /// A terminal's slave side.
    Tty(OwnedFd),
    /// Pipes.
    Pipes {
        /// Read end of stdin.
        stdin: OwnedFd,
        /// Write end of stdout.
        stdout: OwnedFd,
        /// Write end of stderr.
        stderr: OwnedFd,
    },
}

/// The helper's ends, served to the client.
enum ParentIo {
    /// A terminal's master side.
    Tty(OwnedFd),
    /// Pipes.
    Pipes {
        /// Write end of stdin.
        stdin: OwnedFd,
        /// Read end of stdout.
        stdout: OwnedFd,
        /// Read end of stderr.
        stderr: OwnedFd,
    },
}

/// Joins the container, starts the command and waits for it; its exit code.
fn enter_and_run(
    config: &ContainerConfig,
    exec: &ExecConfig,
    proc: ProcState,
    client: &mut Option<UnixStream>,
) -> Result<i32> {
    let ns = &config.namespaces;
    let wanted = [
        ("ipc", CloneFlags::CLONE_NEWIPC, ns.ipc),
        ("uts", CloneFlags::CLONE_NEWUTS, ns.uts),
        ("net", CloneFlags::CLONE_NEWNET, ns.net),
        ("pid", CloneFlags::CLONE_NEWPID, ns.pid),
        (
            "cgroup",
            CloneFlags::CLONE_NEWCGROUP,
            ns.cgroup && flotilla_cgroups::cgroup_namespace_supported(),
        ),
        ("mnt", CloneFlags::CLONE_NEWNS, true),
    ];
    // Every file first, then a check that they are PID 1's, then the joins.
    let mut namespaces = Vec::new();
    for (name, flag, used) in wanted {
        if !used {
            continue;
        }
        let path = format!("/proc/{}/ns/{name}", proc.pid);
        let file = File::open(&path).ctx(|| format!("open {path}"))?;
        namespaces.push((name, flag, file));
    }
    if !state::is_alive(proc.pid, proc.pid_start_time) {
        return Err(ContainerError::NotRunning {
            id: config.id.clone(),
        });
    }
    let probe = sys::thread_probe().ctx(|| "open /proc/self/status")?;
    // Joining through v1's `tasks` moves only the calling thread.
    sys::ensure_single_threaded(&probe).ctx(|| "join the container's cgroup")?;
    Cgroup::open(&config.cgroup_parent, &config.id)?.join_self()?;
    let helper = i32::try_from(std::process::id()).unwrap_or(i32::MAX);
    for (name, flag, file) in &namespaces {
        nix::sched::setns(file, *flag)
            .ctx(|| format!("join the {name} namespace of container {}", config.id))?;
    }
    drop(namespaces);

    let user: &User = exec.user.as_ref().unwrap_or(&config.user);
    let cwd = exec.cwd.as_deref().unwrap_or(config.cwd.as_str());
    let env = init::environment(config, &exec.env, user.uid, &config.effective_hostname());
    let (child_io, parent_io) = if client.is_none() {
        (ChildIo::Inherit, None)
    } else if exec.tty {
        // In the container's mount namespace by now: a terminal of its own /dev/pts.
        let (master, slave) = init::open_terminal(user.uid)?;
        (ChildIo::Tty(slave), Some(ParentIo::Tty(master)))
    } else {
        let (stdin_read, stdin_write) = init::pipe()?;
        let (stdout_read, stdout_write) = init::pipe()?;
        let (stderr_read, stderr_write) = init::pipe()?;
        (
            ChildIo::Pipes {
                stdin: stdin_read,
                stdout: stdout_write,
                stderr: stderr_write,
            },
            Some(ParentIo::Pipes {
                stdin: stdin_write,
                stdout: stdout_read,
                stderr: stderr_read,
            }),
        )
    };
    let (err_read, err_write) = init::pipe()?;

    let pid = match sys::fork_single_threaded_with(&probe).ctx(|| "fork the exec'd process")? {
        Forked::Child => {
            drop(err_read);
            drop(parent_io);
            let process = Process {
                config,
                args: &exec.args,
                env,
                cwd,
                user,
                parent: Some(helper),
            };
            init::run_child(err_write, || child(process, child_io))
        }
        Forked::Parent(pid) => pid,
    };
    drop(err_write);
    drop(child_io);
    let message = init::read_error_pipe(&mut File::from(err_read), "the exec'd process")?;
    if !message.is_empty() {
        let code = wait(pid)?.code_or_signal();
        eprintln!("flotilla exec: {message}");
        if let Some(client) = client.take() {
            tell_client(client, &format!("flotilla exec: {message}"), code);
        }
        return Ok(code);
    }

    let Some(parent_io) = parent_io else {
        return Ok(wait(pid)?.code_or_signal());
    };
    let mut pump = Pump::new();
    match parent_io {
        ParentIo::Tty(master) => {
            let dup = |fd: &OwnedFd| fd.try_clone().ctx(|| "duplicate the terminal descriptor");
            pump.terminal(dup(&master)?);
            pump.input(dup(&master)?, true, true)?;
            pump.output(master, Stream::Stdout)?;
        }
        ParentIo::Pipes {
            stdin,
            stdout,
            stderr,
        } => {
            pump.output(stdout, Stream::Stdout)?;
            pump.output(stderr, Stream::Stderr)?;
            pump.input(stdin, false, true)?;
        }
    }
    if let Some(client) = client.take() {
        pump.client(client)?;
    }
    let code = pump.run(pid)?.code_or_signal();
    pump.finish(code);
    Ok(code)
}

/// The exec'd process, from `fork` to `execve`; returns only on failure.
fn child(process: Process<'_>, io: ChildIo) -> ContainerError {
    let result = (|| -> Result<Infallible> {
        let _ = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
        match io {
            ChildIo::Inherit => {}
            ChildIo::Tty(slave) => init::take_terminal(&slave)?,
            ChildIo::Pipes {
                stdin,
                stdout,
                stderr,
            } => {
                nix::unistd::dup2_stdin(&stdin).ctx(|| "dup2 stdin")?;
                nix::unistd::dup2_stdout(&stdout).ctx(|| "dup2 stdout")?;
                nix::unistd::dup2_stderr(&stderr).ctx(|| "dup2 stderr")?;
            }
        }
        init::exec_process(process)
    })();
    match result {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

/// Waits for the child `pid` to terminate.
fn wait(pid: i32) -> Result<Exited> {
    let target = rustix::process::Pid::from_raw(pid)
        .ok_or_else(|| ContainerError::InvalidConfig(format!("invalid pid {pid}")))?;
    loop {
        match rustix::process::waitpid(Some(target), rustix::process::WaitOptions::empty()) {
            Ok(Some((_, status))) => {
                if let Some(code) = status.exit_status() {
                    return Ok(Exited {
                        code: Some(code),
                        signal: None,
                    });
                }
                if let Some(signal) = status.terminating_signal() {
                    return Ok(Exited {
                        code: None,
                        signal: Some(signal),
                    });
                }
            }
            Ok(None) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e).ctx(|| format!("wait for pid {pid}")),
        }
    }
}
