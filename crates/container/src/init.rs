//! The helper: a fresh, single-threaded process (the daemon's own binary re-executed with a
//! hidden subcommand, `flotilla __container-init <state dir>/config.json`) that creates the
//! container and then stays as its shim.
//!
//! The daemon is a multi-threaded tokio process, so it never forks to run Rust code; it spawns
//! the helper with plain fork+exec ([`crate::Runtime`]). The helper:
//!
//! 1. starts a new session (`setsid`), so that neither a terminal nor the daemon's death takes it
//!    down, and forks the shim: the helper reports `shim <pid>` and exits at once, so the shim
//!    is re-parented to init (or the nearest subreaper) and is never left as the daemon's zombie.
//!    The shim blocks `SIGHUP`, `SIGINT`, `SIGTERM`, `SIGQUIT`, `SIGUSR1`, `SIGUSR2` and
//!    `SIGPIPE`;
//! 2. reads and checks the configuration, creates the cgroup `<cgroup_parent>/<id>` with its
//!    limits, opens the container's log file ([`crate::logs`]), listens on
//!    `<state dir>/attach.sock` if the container has a terminal or an open stdin
//!    ([`crate::attach`]), and creates the container's stdio: pipes for stdout and stderr, and
//!    for stdin with `open_stdin` (else `/dev/null`); with `tty`, a socket pair instead, over
//!    which PID 1 sends the terminal's master side;
//! 3. unshares its pid namespace for its children only (`CLONE_NEWPID`) and forks once — on
//!    cgroup v2 straight into the cgroup with `clone3(CLONE_INTO_CGROUP)`. The child is PID 1 of
//!    the new pid namespace; on v1 it moves itself into the cgroup (writing `0` to `tasks`: see
//!    [`Cgroup::join_self`] for why not `cgroup.procs`), takes its stdio, unshares the mount,
//!    uts, ipc, net and cgroup namespaces,
//!    builds its filesystem (the `mounts` module); with `tty` it opens a terminal on the
//!    container's own `/dev/pts` (so it is `/dev/pts/0` inside), makes it its stdin, stdout,
//!    stderr and controlling terminal (`setsid`, `TIOCSCTTY`) and sends the master side to the
//!    shim. It then sets the hostname, brings `lo` up, and goes through the steps shared with
//!    `exec` (`exec_process`): rlimits, every descriptor above 2 close-on-exec, the seccomp
//!    filter ([`crate::seccomp`]), capabilities and user ([`crate::caps`]), `no_new_privs`,
//!    default signal dispositions, `execve`. Any error on that way is written as one line to a
//!    close-on-exec pipe and the child exits with 127 (not found) or 126; a successful `execve`
//!    closes the pipe;
//! 4. as the parent, outside every container namespace, writes `state.json`, waits for the pipe
//!    to close, and reports on its stdout one line for the daemon, `ok <pid>` or
//!    `error <message>` (after removing the cgroup), then points its stdout at `/dev/null`;
//! 5. runs the I/O loop (the `pump` module) until PID 1 has exited and its output is drained:
//!    output to the log and to attached clients, their input to PID 1's stdin; reaps PID 1 and
//!    writes `exit.json` (exit code or signal, and `oom_killed` if the cgroup's OOM-kill count
//!    is non-zero), then sends attached clients the exit code and removes `attach.sock`. The
//!    cgroup is left for [`crate::Container::delete`].
//!
//! The shim never enters the container's namespaces, so no container process can see it or its
//! `/proc/<pid>/exe`.

use crate::caps;
use crate::config::{ContainerConfig, DEFAULT_PATH, User};
use crate::error::{ContainerError, Context, Result};
use crate::logs::{LogWriter, Stream};
use crate::mounts;
use crate::netlink;
use crate::pump::{Exited, Pump};
use crate::seccomp;
use crate::state::{
    self, ATTACH_SOCKET_FILE, CONTAINER_LOG_FILE, EXIT_FILE, ExitStatus, ProcState, STATE_FILE,
    write_json,
};
use crate::sys::{self, Forked};
use flotilla_cgroups::{Cgroup, Limits};
use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use std::convert::Infallible;
use std::ffi::CString;
use std::fs::{self, File};
use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The hidden subcommand the daemon routes to [`helper_main`]:
/// `<exe> __container-init <config.json>`.
pub const HELPER_SUBCOMMAND: &str = "__container-init";

/// The longest error message sent through the error pipe (below `PIPE_BUF`, so one atomic write).
const MAX_ERROR_LEN: usize = 3000;

/// The helper's entry point: forks the shim and exits (code 0, or 1 if it cannot fork); the shim
/// creates the container described by `config_path` (`<state dir>/config.json`), reports on the
/// inherited stdout, stays until the container's PID 1 exits, records its exit status and exits.
///
/// Call it at the very start of `main`, before any thread is started: it forks.
pub fn helper_main(config_path: &Path) -> ! {
    // The helper was spawned by the daemon, so it is not a process group leader and setsid
    // succeeds; the shim forked below is then not a session leader and can never acquire a
    // controlling terminal.
    let _ = nix::unistd::setsid();
    match sys::fork_single_threaded() {
        Ok(Forked::Parent(shim)) => {
            report(&format!("shim {shim}\n"));
            std::process::exit(0);
        }
        Ok(Forked::Child) => {}
        Err(e) => {
            let message = one_line(&format!("cannot fork the shim: {e}"));
            report(&format!("error {message}\n"));
            eprintln!("flotilla container helper: {message}");
            std::process::exit(1);
        }
    }
    let code = match run_shim(config_path) {
        Ok(()) => 0,
        Err(e) => {
            let message = match &e {
                ContainerError::StartFailed { message, .. } => message.clone(),
                other => other.to_string(),
            };
            let message = one_line(&message);
            report(&format!("error {message}\n"));
            eprintln!("flotilla container helper: {message}");
            1
        }
    };
    std::process::exit(code)
}

/// Writes the status line for the daemon (stdout), ignoring a daemon that stopped listening.
pub(crate) fn report(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(line.as_bytes());
    let _ = out.flush();
}

/// A message on one line.
pub(crate) fn one_line(message: &str) -> String {
    message.replace(['\n', '\r'], " ")
}

/// Everything the shim does; see the module documentation.
fn run_shim(config_path: &Path) -> Result<()> {
    let mut blocked = SigSet::empty();
    for signal in [
        Signal::SIGHUP,
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        // A client or a stdin pipe gone away is an EPIPE, never a signal.
        Signal::SIGPIPE,
    ] {
        blocked.add(signal);
    }
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&blocked), None).ctx(|| "block signals")?;
    nix::unistd::chdir("/").ctx(|| "chdir /")?;

    let config = ContainerConfig::read(config_path)?;
    config.validate()?;
    let state_dir = config_path
        .parent()
        .filter(|p| p.is_absolute())
        .ok_or_else(|| {
            ContainerError::InvalidConfig(format!(
                "the configuration path {} must be absolute, in the state directory",
                config_path.display()
            ))
        })?;
    let log_path = config
        .log_path
        .clone()
        .unwrap_or_else(|| state_dir.join(CONTAINER_LOG_FILE));

    let cgroup = Cgroup::create(
        &config.cgroup_parent,
        &config.id,
        &Limits::from(config.resources),
    )?;
    let (pid, mut pump) = match start(&config, &cgroup, state_dir, &log_path) {
        Ok(started) => started,
        Err(e) => {
            discard(cgroup);
            return Err(e);
        }
    };
    report(&format!("ok {pid}\n"));
    if let Err(e) = File::options()
        .write(true)
        .open("/dev/null")
        .and_then(|null| nix::unistd::dup2_stdout(&null).map_err(Into::into))
    {
        eprintln!("flotilla container helper: cannot point stdout at /dev/null: {e}");
    }

    let exited = pump.run(pid)?;
    let status = exit_status(exited, &cgroup);
    let written = write_json(state_dir, EXIT_FILE, &status, true);
    // Gone before clients hear of the exit: none can connect to a finished container.
    if attached(&config) {
        let _ = fs::remove_file(state_dir.join(ATTACH_SOCKET_FILE));
    }
    pump.finish(status.code_or_signal());
    written
}

/// Whether the container has an attach socket.
fn attached(config: &ContainerConfig) -> bool {
    config.tty || config.open_stdin
}

/// Kills whatever is left in the cgroup and removes it, after a failed start.
fn discard(cgroup: Cgroup) {
    if let Err(e) = cgroup.kill_all() {
        eprintln!("flotilla container helper: cannot kill the container's processes: {e}");
    }
    if let Err(e) = cgroup.delete() {
        eprintln!("flotilla container helper: cannot remove the container's cgroup: {e}");
    }
}

/// PID 1's ends of its stdio, until it takes them.
enum ChildIo {
    /// Stdin (`/dev/null` or a pipe), stdout and stderr pipes.
    Pipes {
        /// Read end of stdin.
        stdin: OwnedFd,
        /// Write end of stdout.
        stdout: OwnedFd,
        /// Write end of stderr.
        stderr: OwnedFd,
    },
    /// A terminal, opened by PID 1 itself once `/dev/pts` is mounted.
    Tty {
        /// Where PID 1 sends the master side.
        console: OwnedFd,
        /// `/dev/null`, PID 1's stdio until then.
        null: File,
    },
}

/// The shim's ends.
enum ShimIo {
    /// See [`ChildIo::Pipes`].
    Pipes {
        /// Read end of stdout.
        stdout: OwnedFd,
        /// Read end of stderr.
        stderr: OwnedFd,
        /// Write end of stdin, with `open_stdin`.
        stdin: Option<OwnedFd>,
    },
    /// See [`ChildIo::Tty`].
    Tty {
        /// Where the master side arrives.
        console: OwnedFd,
    },
}

/// A close-on-exec pipe: (read end, write end).
pub(crate) fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).ctx(|| "create a pipe")
}

/// Creates the container's stdio.
fn make_stdio(config: &ContainerConfig) -> Result<(ChildIo, ShimIo)> {
    if config.tty {
        let (shim_end, child_end) = rustix::net::socketpair(
            rustix::net::AddressFamily::UNIX,
            rustix::net::SocketType::STREAM,
            rustix::net::SocketFlags::CLOEXEC,
            None,
        )
        .ctx(|| "create the console socket pair")?;
        let null = File::options()
            .read(true)
            .write(true)
            .open("/dev/null")
            .ctx(|| "open /dev/null")?;
        return Ok((
            ChildIo::Tty {
                console: child_end,
                null,
            },
            ShimIo::Tty { console: shim_end },
        ));
    }
    let (stdout_read, stdout_write) = pipe()?;
    let (stderr_read, stderr_write) = pipe()?;
    let (stdin, stdin_write) = if config.open_stdin {
        let (read, write) = pipe()?;
        (read, Some(write))
    } else {
        let null = File::open("/dev/null").ctx(|| "open /dev/null")?;
        (OwnedFd::from(null), None)
    };
    Ok((
        ChildIo::Pipes {
            stdin,
            stdout: stdout_write,
            stderr: stderr_write,
        },
        ShimIo::Pipes {
            stdout: stdout_read,
            stderr: stderr_read,
            stdin: stdin_write,
        },
    ))
}

/// Forks the container's PID 1 and waits until it has called `execve`; returns its pid and
/// the I/O loop, ready to run.
fn start(
    config: &ContainerConfig,
    cgroup: &Cgroup,
    state_dir: &Path,
    log_path: &Path,
) -> Result<(i32, Pump)> {
    let mut pump = Pump::new();
    pump.log_to(LogWriter::open(log_path, config.log_config)?);
    if attached(config) {
        pump.listener(crate::pump::listen(&state_dir.join(ATTACH_SOCKET_FILE))?);
    }
    let (child_io, shim_io) = make_stdio(config)?;
    let (err_read, err_write) = pipe()?;
    if config.namespaces.pid {
        nix::sched::unshare(CloneFlags::CLONE_NEWPID).ctx(|| "unshare the pid namespace")?;
    }

    let (forked, joined) = fork_first_process(cgroup)?;
    match forked {
        Forked::Child => {
            drop(err_read);
            drop(shim_io);
            drop(pump);
            run_child(err_write, || child(config, cgroup, joined, child_io))
        }
        Forked::Parent(pid) => {
            drop(err_write);
            drop(child_io);
            let mut err_read = File::from(err_read);
            let outcome =
                record_and_await(config, state_dir, pid, &mut err_read).and_then(|message| {
                    if !message.is_empty() {
                        return Ok(Err(message));
                    }
                    connect_io(config, &mut pump, shim_io).map(Ok)
                });
            match outcome {
                Ok(Ok(())) => Ok((pid, pump)),
                Ok(Err(message)) => {
                    reap(pid);
                    Err(ContainerError::StartFailed {
                        id: config.id.clone(),
                        message,
                    })
                }
                Err(e) => {
                    let _ = sys::kill(pid, libc::SIGKILL);
                    reap(pid);
                    Err(e)
                }
            }
        }
    }
}

/// Forks the container's first process: on cgroup v2 straight into its cgroup
/// (`clone3(CLONE_INTO_CGROUP)`), else (v1, hybrid, or a kernel without it) as a plain fork that
/// joins the cgroup itself. Also returns whether the child is in the cgroup already.
fn fork_first_process(cgroup: &Cgroup) -> Result<(Forked, bool)> {
    let probe = sys::thread_probe().ctx(|| "open /proc/self/status")?;
    if let Some(dir) = cgroup.open_dir_v2()?
        && let Some(forked) = sys::fork_into_cgroup(&probe, dir.as_fd())
            .ctx(|| "clone3 the container's first process into its cgroup")?
    {
        return Ok((forked, true));
    }
    let forked =
        sys::fork_single_threaded_with(&probe).ctx(|| "fork the container's first process")?;
    Ok((forked, false))
}

/// The hidden subcommand of the test helper binary that runs [`clone_into_cgroup_check`].
#[doc(hidden)]
pub const CLONE_CHECK_SUBCOMMAND: &str = "__clone-into-cgroup-check";

/// Checks the path [`fork_first_process`] takes on cgroup v2 hosts: from this process (which
/// must be single-threaded: a fresh one), starts a child with `clone3(CLONE_INTO_CGROUP)` into
/// the cgroup v2 directory `dir` and returns the cgroup the child finds itself in (the path of
/// its `0::` line in `/proc/self/cgroup`); `None` if the kernel has no `clone3` or refuses the
/// flag. For tests on hybrid hosts, whose runtime never takes this path (their unified
/// hierarchy has no controller).
#[doc(hidden)]
pub fn clone_into_cgroup_check(dir: &Path) -> Result<Option<String>> {
    let cgroup = File::open(dir).ctx(|| format!("open {}", dir.display()))?;
    let probe = sys::thread_probe().ctx(|| "open /proc/self/status")?;
    let (read, write) = pipe()?;
    let forked = sys::fork_into_cgroup(&probe, cgroup.as_fd())
        .ctx(|| format!("clone3 into {}", dir.display()))?;
    match forked {
        None => Ok(None),
        Some(Forked::Child) => {
            let line = fs::read_to_string("/proc/self/cgroup")
                .ok()
                .and_then(|t| {
                    t.lines()
                        .find_map(|l| l.strip_prefix("0::").map(str::to_owned))
                })
                .unwrap_or_default();
            let _ = rustix::io::write(&write, line.as_bytes());
            std::process::exit(0)
        }
        Some(Forked::Parent(pid)) => {
            drop(write);
            let mut found = String::new();
            File::from(read)
                .read_to_string(&mut found)
                .ctx(|| "read the child's cgroup")?;
            reap(pid);
            Ok(Some(found))
        }
    }
}

/// Hands the shim's ends of the container's stdio to the I/O loop (receiving the terminal's
/// master side from PID 1, which sent it before `execve`).
fn connect_io(config: &ContainerConfig, pump: &mut Pump, io: ShimIo) -> Result<()> {
    match io {
        ShimIo::Pipes {
            stdout,
            stderr,
            stdin,
        } => {
            pump.output(stdout, Stream::Stdout)?;
            pump.output(stderr, Stream::Stderr)?;
            if let Some(stdin) = stdin {
                pump.input(stdin, false, true)?;
            }
        }
        ShimIo::Tty { console } => {
            let master = recv_fd(&console)?;
            let dup = |fd: &OwnedFd| fd.try_clone().ctx(|| "duplicate the terminal descriptor");
            pump.terminal(dup(&master)?);
            pump.input(dup(&master)?, true, config.open_stdin)?;
            pump.output(master, Stream::Stdout)?;
        }
    }
    Ok(())
}

/// Runs `body` in a freshly forked child that must end in `execve`: an error (or a panic) is
/// written as one line to `err_write`, and the child exits with 127 if something was not
/// found, else 126.
pub(crate) fn run_child(err_write: OwnedFd, body: impl FnOnce() -> ContainerError) -> ! {
    // A panic must not look like a successful exec (the pipe would just close).
    let error =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            ContainerError::Io {
                context: "the process panicked before execve".to_owned(),
                source: std::io::Error::other(what),
            }
        });
    let code = if error.io_kind() == Some(std::io::ErrorKind::NotFound) {
        127
    } else {
        126
    };
    let mut message = one_line(&error.to_string());
    if message.len() > MAX_ERROR_LEN {
        let mut cut = MAX_ERROR_LEN;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
    }
    let _ = rustix::io::write(&err_write, message.as_bytes());
    std::process::exit(code);
}

/// Reads a child's error pipe to its end: empty once `execve` closed it, else the error.
pub(crate) fn read_error_pipe(err_read: &mut File, what: &str) -> Result<String> {
    let mut message = Vec::new();
    err_read
        .read_to_end(&mut message)
        .ctx(|| format!("read the error pipe of {what}"))?;
    Ok(String::from_utf8_lossy(&message).trim().to_owned())
}

/// Writes `state.json`, then reads the error pipe until the child's `execve` closes it (empty
/// message) or the child reports an error.
fn record_and_await(
    config: &ContainerConfig,
    state_dir: &Path,
    pid: i32,
    err_read: &mut File,
) -> Result<String> {
    let shim_pid = i32::try_from(std::process::id()).unwrap_or(i32::MAX);
    let shim_start_time = state::proc_stat(shim_pid).map_or(0, |(start, _)| start);
    let pid_start_time = state::proc_stat(pid).map_or(0, |(start, _)| start);
    // Not fsynced: it is on the start path, and only matters while the processes live (a host
    // crash takes them along).
    write_json(
        state_dir,
        STATE_FILE,
        &ProcState {
            shim_pid,
            shim_start_time,
            pid,
            pid_start_time,
        },
        false,
    )?;
    read_error_pipe(err_read, &format!("container {}", config.id))
}

/// Waits for `pid` (a child) without looking at its status.
pub(crate) fn reap(pid: i32) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid) {
        while let Err(rustix::io::Errno::INTR) =
            rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty())
        {}
    }
}

/// What `exit.json` says of PID 1's end.
fn exit_status(exited: Exited, cgroup: &Cgroup) -> ExitStatus {
    let oom_killed = match cgroup.oom_kills() {
        Ok(n) => n > 0,
        Err(e) => {
            eprintln!("flotilla container helper: cannot read the OOM-kill count: {e}");
            false
        }
    };
    ExitStatus {
        code: exited.code,
        signal: exited.signal,
        oom_killed,
        finished_at_ms: state::now_ms(),
    }
}

/// Sends `fd` over the Unix socket `socket` (`SCM_RIGHTS`, with one byte of data).
fn send_fd(socket: &OwnedFd, fd: &OwnedFd) -> Result<()> {
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    let fds = [fd.as_fd()];
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(ContainerError::Io {
            context: "send the terminal to the shim".to_owned(),
            source: std::io::Error::other("control buffer too small"),
        });
    }
    rustix::net::sendmsg(
        socket,
        &[IoSlice::new(b"t")],
        &mut control,
        SendFlags::NOSIGNAL,
    )
    .ctx(|| "send the terminal to the shim")?;
    Ok(())
}

/// Receives the descriptor [`send_fd`] sent (already there: PID 1 sent it before `execve`).
fn recv_fd(socket: &OwnedFd) -> Result<OwnedFd> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut byte = [0u8; 1];
    rustix::net::recvmsg(
        socket,
        &mut [IoSliceMut::new(&mut byte)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC | RecvFlags::DONTWAIT,
    )
    .ctx(|| "receive the container's terminal")?;
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = message
            && let Some(fd) = fds.next()
        {
            return Ok(fd);
        }
    }
    Err(ContainerError::Io {
        context: "receive the container's terminal".to_owned(),
        source: std::io::Error::other("no descriptor in the message"),
    })
}

/// Opens a new terminal on the `/dev/pts` of the caller's mount namespace: (master, slave),
/// both close-on-exec, the slave owned by `uid` (as `runc` does, so that the user can
/// reopen it).
pub(crate) fn open_terminal(uid: u32) -> Result<(OwnedFd, OwnedFd)> {
    use rustix::pty::OpenptFlags;
    let flags = OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC;
    let master = rustix::pty::openpt(flags).ctx(|| "open /dev/ptmx")?;
    rustix::pty::grantpt(&master).ctx(|| "grantpt")?;
    rustix::pty::unlockpt(&master).ctx(|| "unlockpt")?;
    // TIOCGPTPEER (Linux ≥ 4.13) opens the slave without a path lookup.
    let slave = match rustix::pty::ioctl_tiocgptpeer(&master, flags) {
        Ok(slave) => slave,
        Err(_) => {
            let name = rustix::pty::ptsname(&master, Vec::new()).ctx(|| "ptsname")?;
            let path = Path::new(std::ffi::OsStr::from_bytes(name.as_bytes()));
            let file = File::options()
                .read(true)
                .write(true)
                .custom_flags(libc::O_NOCTTY)
                .open(path)
                .ctx(|| format!("open {}", path.display()))?;
            OwnedFd::from(file)
        }
    };
    nix::unistd::fchown(&slave, Some(nix::unistd::Uid::from_raw(uid)), None)
        .ctx(|| format!("chown the terminal to uid {uid}"))?;
    Ok((master, slave))
}

/// Makes `slave` the calling process's stdin, stdout, stderr and controlling terminal (in a
/// new session).
pub(crate) fn take_terminal(slave: &OwnedFd) -> Result<()> {
    nix::unistd::setsid().ctx(|| "setsid")?;
    rustix::process::ioctl_tiocsctty(slave).ctx(|| "make the terminal the controlling terminal")?;
    nix::unistd::dup2_stdin(slave).ctx(|| "dup2 stdin")?;
    nix::unistd::dup2_stdout(slave).ctx(|| "dup2 stdout")?;
    nix::unistd::dup2_stderr(slave).ctx(|| "dup2 stderr")?;
    Ok(())
}

/// The container's first process, from `fork` to `execve`; returns only on failure.
fn child(config: &ContainerConfig, cgroup: &Cgroup, joined: bool, io: ChildIo) -> ContainerError {
    match setup_and_exec(config, cgroup, joined, io) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

/// See [`child`].
fn setup_and_exec(
    config: &ContainerConfig,
    cgroup: &Cgroup,
    joined: bool,
    io: ChildIo,
) -> Result<Infallible> {
    let _ = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    // Join the cgroup, unless cloned into it, before anything is allocated in the container's
    // name (this process has one thread: it was forked from the single-threaded shim).
    if !joined {
        cgroup.join_self()?;
    }
    let console = match io {
        ChildIo::Pipes {
            stdin,
            stdout,
            stderr,
        } => {
            nix::unistd::dup2_stdin(&stdin).ctx(|| "dup2 stdin")?;
            nix::unistd::dup2_stdout(&stdout).ctx(|| "dup2 stdout")?;
            nix::unistd::dup2_stderr(&stderr).ctx(|| "dup2 stderr")?;
            None
        }
        ChildIo::Tty { console, null } => {
            // Until the terminal exists (and so that nothing of the shim's stdio is held).
            nix::unistd::dup2_stdin(&null).ctx(|| "dup2 stdin")?;
            nix::unistd::dup2_stdout(&null).ctx(|| "dup2 stdout")?;
            nix::unistd::dup2_stderr(&null).ctx(|| "dup2 stderr")?;
            Some(console)
        }
    };

    let ns = &config.namespaces;
    let mut flags = CloneFlags::CLONE_NEWNS;
    if ns.uts {
        flags |= CloneFlags::CLONE_NEWUTS;
    }
    if ns.ipc {
        flags |= CloneFlags::CLONE_NEWIPC;
    }
    if ns.net {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    if ns.cgroup && flotilla_cgroups::cgroup_namespace_supported() {
        flags |= CloneFlags::CLONE_NEWCGROUP;
    }
    nix::sched::unshare(flags).ctx(|| format!("unshare {flags:?}"))?;

    mounts::setup(config)?;
    if let Some(console) = console {
        // After the mounts: the terminal is one of the container's own /dev/pts.
        let (master, slave) = open_terminal(config.user.uid)?;
        take_terminal(&slave)?;
        drop(slave);
        send_fd(&console, &master)?;
    }
    let hostname = config.effective_hostname();
    if ns.uts {
        nix::unistd::sethostname(&hostname).ctx(|| format!("sethostname {hostname}"))?;
    }
    if ns.net {
        netlink::loopback_up()?;
    }
    exec_process(Process {
        config,
        args: &config.args,
        env: environment(config, &[], config.user.uid, &hostname),
        cwd: &config.cwd,
        user: &config.user,
        parent: None,
    })
}

/// What the steps shared by a container's PID 1 and `exec`'d processes need.
pub(crate) struct Process<'a> {
    /// The container (rlimits, capabilities, seccomp, `no_new_privs`).
    pub(crate) config: &'a ContainerConfig,
    /// The command.
    pub(crate) args: &'a [String],
    /// The complete environment.
    pub(crate) env: Vec<String>,
    /// The working directory.
    pub(crate) cwd: &'a str,
    /// The user.
    pub(crate) user: &'a User,
    /// For an `exec`: the helper's pid (as the caller sees it); the process is killed when the
    /// helper dies.
    pub(crate) parent: Option<i32>,
}

/// The last steps before `execve`, in a process that has its namespaces, filesystem and stdio:
/// rlimits, working directory, close-on-exec, seccomp, capabilities and user, `no_new_privs`,
/// signal dispositions. Returns only on failure.
pub(crate) fn exec_process(process: Process<'_>) -> Result<Infallible> {
    let config = process.config;
    for rlimit in &config.rlimits {
        let resource = crate::config::rlimit_resource(&rlimit.resource)?;
        nix::sys::resource::setrlimit(resource, rlimit.soft, rlimit.hard).ctx(|| {
            format!(
                "setrlimit {} {} {}",
                rlimit.resource, rlimit.soft, rlimit.hard
            )
        })?;
    }

    let exe = find_executable(&process.args[0], &process.env)?;
    let argv = cstrings(process.args)?;
    let envp = cstrings(&process.env)?;
    nix::unistd::chdir(process.cwd).ctx(|| format!("chdir {}", process.cwd))?;
    sys::cloexec_from_3().ctx(|| "mark inherited descriptors close-on-exec")?;

    let mask = config.capability_mask()?;
    if config.seccomp {
        // While every capability is still held: without no_new_privs, installing a filter needs
        // CAP_SYS_ADMIN. The filter is the one for the capabilities the container keeps (`mask`);
        // nothing it denies is called from here to execve, whatever `mask` is.
        seccomp::install(mask)?;
    }
    caps::drop_to(mask, process.user)?;
    if let Some(parent) = process.parent {
        // After the credential change, which clears the parent-death signal.
        die_with_parent(parent)?;
    }
    if config.no_new_privs {
        rustix::thread::set_no_new_privs(true).ctx(|| "prctl(PR_SET_NO_NEW_PRIVS)")?;
    }
    sys::reset_signals().ctx(|| "reset signal dispositions")?;
    let Err(errno) = nix::unistd::execve(&exe, &argv, &envp);
    Err(errno).ctx(|| format!("exec {}", exe.to_string_lossy()))
}

/// Has the kernel `SIGKILL` the caller when its parent (`parent`) dies, and fails if that has
/// already happened.
fn die_with_parent(parent: i32) -> Result<()> {
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
        .ctx(|| "prctl(PR_SET_PDEATHSIG)")?;
    // Inside the container's pid namespace the parent is invisible (`getppid` is 0); without
    // one it is `parent`. Anything else means it died and the process was re-parented.
    match rustix::process::getppid() {
        None => Ok(()),
        Some(p) if p.as_raw_pid() == parent => Ok(()),
        Some(_) => Err(ContainerError::Io {
            context: "the exec helper is gone".to_owned(),
            source: std::io::ErrorKind::BrokenPipe.into(),
        }),
    }
}

/// The environment of a process of the container: the configured one, `extra` (replacing the
/// same keys), plus `PATH`, `HOSTNAME` (with a uts namespace) and `HOME` (from `uid`) when
/// missing.
pub(crate) fn environment(
    config: &ContainerConfig,
    extra: &[String],
    uid: u32,
    hostname: &str,
) -> Vec<String> {
    fn key(entry: &str) -> &str {
        entry.split_once('=').map_or(entry, |(k, _)| k)
    }
    fn has(env: &[String], k: &str) -> bool {
        env.iter().any(|e| key(e) == k)
    }
    let mut env = config.env.clone();
    for entry in extra {
        env.retain(|e| key(e) != key(entry));
        env.push(entry.clone());
    }
    if !has(&env, "PATH") {
        env.push(format!("PATH={DEFAULT_PATH}"));
    }
    if config.namespaces.uts && !has(&env, "HOSTNAME") {
        env.push(format!("HOSTNAME={hostname}"));
    }
    if !has(&env, "HOME") {
        let home = if uid == 0 { "/root" } else { "/" };
        env.push(format!("HOME={home}"));
    }
    env
}

/// Converts strings for `execve` (NUL bytes were refused by validation).
fn cstrings(values: &[String]) -> Result<Vec<CString>> {
    values
        .iter()
        .map(|v| {
            CString::new(v.as_bytes())
                .map_err(|_| ContainerError::InvalidConfig(format!("{v:?} contains a NUL byte")))
        })
        .collect()
}

/// The program to `execve`: `name` itself if it contains a `/`, else the first executable
/// regular file called `name` in the directories of the container's `PATH`.
fn find_executable(name: &str, env: &[String]) -> Result<CString> {
    let to_cstring = |bytes: &[u8]| {
        CString::new(bytes)
            .map_err(|_| ContainerError::InvalidConfig(format!("{name:?} contains a NUL byte")))
    };
    if name.contains('/') {
        return to_cstring(name.as_bytes());
    }
    let path = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = Path::new(dir).join(name);
        let executable = fs::metadata(&candidate)
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
        if executable {
            return to_cstring(candidate.as_os_str().as_bytes());
        }
    }
    Err(ContainerError::Io {
        context: format!("exec {name:?}: executable file not found in $PATH ({path})"),
        source: std::io::ErrorKind::NotFound.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Rootfs;
    use std::path::PathBuf;

    #[test]
    fn environment_gets_defaults_once() {
        let mut config = ContainerConfig::new(
            "c1",
            Rootfs::Directory {
                path: PathBuf::from("/r"),
            },
            vec!["sh".to_owned()],
        );
        let env = environment(&config, &[], 0, "c1");
        assert!(env.contains(&format!("PATH={DEFAULT_PATH}")));
        assert!(env.contains(&"HOSTNAME=c1".to_owned()));
        assert!(env.contains(&"HOME=/root".to_owned()));
        config.env = vec!["PATH=/bin".to_owned(), "HOME=/home/x".to_owned()];
        let env = environment(&config, &[], 1000, "c1");
        assert_eq!(env.iter().filter(|e| e.starts_with("PATH=")).count(), 1);
        assert!(env.contains(&"HOME=/home/x".to_owned()));
        // An exec's variables replace the container's; HOME follows the exec's user.
        config.env = vec!["A=1".to_owned(), "B=2".to_owned()];
        let env = environment(&config, &["B=3".to_owned(), "C=4".to_owned()], 1000, "c1");
        assert_eq!(
            env,
            vec![
                "A=1".to_owned(),
                "B=3".to_owned(),
                "C=4".to_owned(),
                format!("PATH={DEFAULT_PATH}"),
                "HOSTNAME=c1".to_owned(),
                "HOME=/".to_owned(),
            ]
        );
    }

    #[test]
    fn executable_lookup() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let bin = tmp.path().join("bin");
        fs::create_dir(&bin).expect("mkdir");
        let tool = bin.join("tool");
        fs::write(&tool, "#!/bin/sh\n").expect("write");
        fs::set_permissions(&tool, fs::Permissions::from_mode(0o755)).expect("chmod");
        fs::write(bin.join("data"), "x").expect("write");
        let env = vec![format!("PATH=/nonexistent:{}", bin.display())];
        assert_eq!(
            find_executable("tool", &env).expect("found"),
            CString::new(tool.as_os_str().as_bytes()).expect("cstring")
        );
        let missing = find_executable("data", &env).expect_err("not executable");
        assert!(
            missing.to_string().contains("executable file not found"),
            "{missing}"
        );
        assert_eq!(
            find_executable("./x/y", &env).expect("as is"),
            CString::new("./x/y").expect("cstring")
        );
    }
}
