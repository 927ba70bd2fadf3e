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
//!    The shim blocks `SIGHUP`, `SIGINT`, `SIGTERM`, `SIGQUIT`, `SIGUSR1` and `SIGUSR2`;
//! 2. reads and checks the configuration, creates the cgroup `<cgroup_parent>/<id>` with its
//!    limits, opens the container's log file;
//! 3. unshares its pid namespace for its children only (`CLONE_NEWPID`) and forks once. The child
//!    is PID 1 of the new pid namespace; it moves itself into the cgroup (writing `0` to
//!    `cgroup.procs`), unshares the mount, uts, ipc, net and cgroup namespaces, builds its
//!    filesystem (the `mounts` module), sets the hostname, brings `lo` up, sets rlimits, marks every
//!    descriptor above 2 close-on-exec, installs the seccomp filter ([`crate::seccomp`]), drops
//!    capabilities and switches user ([`crate::caps`]), sets `no_new_privs`, resets signal
//!    dispositions, and calls `execve`. Any error on that way is written as one line to a
//!    close-on-exec pipe and the child exits with 127; a successful `execve` closes the pipe;
//! 4. as the parent, outside every container namespace, writes `state.json`, waits for the pipe
//!    to close, and reports on its stdout one line for the daemon, `ok <pid>` or
//!    `error <message>` (after removing the cgroup), then points its stdout at `/dev/null`;
//! 5. waits for PID 1 and writes `exit.json`: exit code or signal, and `oom_killed` if the
//!    cgroup's OOM-kill count is non-zero. The cgroup is left for [`crate::Container::delete`].
//!
//! The shim never enters the container's namespaces, so no container process can see it or its
//! `/proc/<pid>/exe`.

use crate::caps;
use crate::config::{ContainerConfig, DEFAULT_PATH};
use crate::error::{ContainerError, Context, Result};
use crate::mounts;
use crate::netlink;
use crate::seccomp;
use crate::state::{
    self, CONTAINER_LOG_FILE, EXIT_FILE, ExitStatus, ProcState, STATE_FILE, write_json,
};
use crate::sys::{self, Forked};
use flotilla_cgroups::{Cgroup, Limits};
use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use std::convert::Infallible;
use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
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
fn report(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(line.as_bytes());
    let _ = out.flush();
}

/// A message on one line.
fn one_line(message: &str) -> String {
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
    let pid = match start(&config, &cgroup, state_dir, &log_path) {
        Ok(pid) => pid,
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

    let status = wait_for(pid, &cgroup)?;
    write_json(state_dir, EXIT_FILE, &status, true)
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

/// Forks the container's PID 1 and waits until it has called `execve`; returns its pid.
fn start(
    config: &ContainerConfig,
    cgroup: &Cgroup,
    state_dir: &Path,
    log_path: &Path,
) -> Result<i32> {
    if let Some(parent) = log_path.parent() {
        fs::create_dir_all(parent).ctx(|| format!("create directory {}", parent.display()))?;
    }
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(log_path)
        .ctx(|| format!("open log file {}", log_path.display()))?;
    let stdin = File::open("/dev/null").ctx(|| "open /dev/null")?;
    let (mut err_read, mut err_write) = std::io::pipe().ctx(|| "create the error pipe")?;
    if config.namespaces.pid {
        nix::sched::unshare(CloneFlags::CLONE_NEWPID).ctx(|| "unshare the pid namespace")?;
    }

    match sys::fork_single_threaded().ctx(|| "fork the container's first process")? {
        Forked::Child => {
            drop(err_read);
            // A panic must not look like a successful exec (the pipe would just close).
            let error = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                child(config, cgroup, log, stdin)
            }))
            .unwrap_or_else(|panic| {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                ContainerError::Io {
                    context: "the container's first process panicked".to_owned(),
                    source: std::io::Error::other(what),
                }
            });
            let mut message = one_line(&error.to_string());
            if message.len() > MAX_ERROR_LEN {
                let mut cut = MAX_ERROR_LEN;
                while !message.is_char_boundary(cut) {
                    cut -= 1;
                }
                message.truncate(cut);
            }
            let _ = err_write.write_all(message.as_bytes());
            std::process::exit(127);
        }
        Forked::Parent(pid) => {
            drop(err_write);
            drop(log);
            drop(stdin);
            let outcome = record_and_await(config, state_dir, pid, &mut err_read);
            if outcome.is_err() {
                let _ = sys::kill(pid, libc::SIGKILL);
            }
            let message = match outcome {
                Ok(message) => message,
                Err(e) => {
                    reap(pid);
                    return Err(e);
                }
            };
            if message.is_empty() {
                return Ok(pid);
            }
            reap(pid);
            Err(ContainerError::StartFailed {
                id: config.id.clone(),
                message,
            })
        }
    }
}

/// Writes `state.json`, then reads the error pipe until the child's `execve` closes it (empty
/// message) or the child reports an error.
fn record_and_await(
    config: &ContainerConfig,
    state_dir: &Path,
    pid: i32,
    err_read: &mut std::io::PipeReader,
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
    let mut message = Vec::new();
    err_read
        .read_to_end(&mut message)
        .ctx(|| format!("read the error pipe of container {}", config.id))?;
    Ok(String::from_utf8_lossy(&message).trim().to_owned())
}

/// Waits for `pid` (a child) without looking at its status.
fn reap(pid: i32) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid) {
        while let Err(rustix::io::Errno::INTR) =
            rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty())
        {}
    }
}

/// Waits until the container's PID 1 has terminated, and says how.
fn wait_for(pid: i32, cgroup: &Cgroup) -> Result<ExitStatus> {
    let target = rustix::process::Pid::from_raw(pid)
        .ok_or_else(|| ContainerError::InvalidConfig(format!("invalid pid {pid}")))?;
    let (code, signal) = loop {
        match rustix::process::waitpid(Some(target), rustix::process::WaitOptions::empty()) {
            Ok(Some((_, status))) => {
                if let Some(code) = status.exit_status() {
                    break (Some(code), None);
                }
                if let Some(signal) = status.terminating_signal() {
                    break (None, Some(signal));
                }
            }
            Ok(None) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e).ctx(|| format!("wait for pid {pid}")),
        }
    };
    let oom_killed = match cgroup.oom_kills() {
        Ok(n) => n > 0,
        Err(e) => {
            eprintln!("flotilla container helper: cannot read the OOM-kill count: {e}");
            false
        }
    };
    Ok(ExitStatus {
        code,
        signal,
        oom_killed,
        finished_at_ms: state::now_ms(),
    })
}

/// The container's first process, from `fork` to `execve`; returns only on failure.
fn child(config: &ContainerConfig, cgroup: &Cgroup, log: File, stdin: File) -> ContainerError {
    match setup_and_exec(config, cgroup, log, stdin) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

/// See [`child`].
fn setup_and_exec(
    config: &ContainerConfig,
    cgroup: &Cgroup,
    log: File,
    stdin: File,
) -> Result<Infallible> {
    let _ = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    // Join the cgroup before anything is allocated in the container's name; `0` is the writer.
    for dir in cgroup.paths() {
        let procs = dir.join("cgroup.procs");
        fs::write(&procs, "0").ctx(|| format!("write 0 to {}", procs.display()))?;
    }
    nix::unistd::dup2_stdin(&stdin).ctx(|| "dup2 stdin")?;
    nix::unistd::dup2_stdout(&log).ctx(|| "dup2 stdout")?;
    nix::unistd::dup2_stderr(&log).ctx(|| "dup2 stderr")?;
    drop(stdin);
    drop(log);

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
    let hostname = config.effective_hostname();
    if ns.uts {
        nix::unistd::sethostname(&hostname).ctx(|| format!("sethostname {hostname}"))?;
    }
    if ns.net {
        netlink::loopback_up()?;
    }
    for rlimit in &config.rlimits {
        let resource = crate::config::rlimit_resource(&rlimit.resource)?;
        nix::sys::resource::setrlimit(resource, rlimit.soft, rlimit.hard).ctx(|| {
            format!(
                "setrlimit {} {} {}",
                rlimit.resource, rlimit.soft, rlimit.hard
            )
        })?;
    }

    let env = environment(config, &hostname);
    let exe = find_executable(&config.args[0], &env)?;
    let argv = cstrings(&config.args)?;
    let envp = cstrings(&env)?;
    nix::unistd::chdir(config.cwd.as_str()).ctx(|| format!("chdir {}", config.cwd))?;
    sys::cloexec_from_3().ctx(|| "mark inherited descriptors close-on-exec")?;

    let mask = config.capability_mask()?;
    if config.seccomp {
        // While every capability is still held: without no_new_privs, installing a filter needs
        // CAP_SYS_ADMIN. Nothing the filter denies is called from here to execve.
        seccomp::install()?;
    }
    caps::drop_to(mask, &config.user)?;
    if config.no_new_privs {
        rustix::thread::set_no_new_privs(true).ctx(|| "prctl(PR_SET_NO_NEW_PRIVS)")?;
    }
    sys::reset_signals().ctx(|| "reset signal dispositions")?;
    let Err(errno) = nix::unistd::execve(&exe, &argv, &envp);
    Err(errno).ctx(|| format!("exec {}", exe.to_string_lossy()))
}

/// The container's environment: the configured one, plus `PATH`, `HOSTNAME` and `HOME` when
/// missing.
fn environment(config: &ContainerConfig, hostname: &str) -> Vec<String> {
    fn has(env: &[String], key: &str) -> bool {
        env.iter()
            .any(|e| e.split_once('=').is_some_and(|(k, _)| k == key))
    }
    let mut env = config.env.clone();
    if !has(&env, "PATH") {
        env.push(format!("PATH={DEFAULT_PATH}"));
    }
    if config.namespaces.uts && !has(&env, "HOSTNAME") {
        env.push(format!("HOSTNAME={hostname}"));
    }
    if !has(&env, "HOME") {
        let home = if config.user.uid == 0 { "/root" } else { "/" };
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
        let env = environment(&config, "c1");
        assert!(env.contains(&format!("PATH={DEFAULT_PATH}")));
        assert!(env.contains(&"HOSTNAME=c1".to_owned()));
        assert!(env.contains(&"HOME=/root".to_owned()));
        config.env = vec!["PATH=/bin".to_owned(), "HOME=/home/x".to_owned()];
        config.user.uid = 1000;
        let env = environment(&config, "c1");
        assert_eq!(env.iter().filter(|e| e.starts_with("PATH=")).count(), 1);
        assert!(env.contains(&"HOME=/home/x".to_owned()));
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
