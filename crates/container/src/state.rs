//! The files of a container's state directory, `<state root>/<id>/`, and process identity.
//!
//! | file | written by | when |
//! |---|---|---|
//! | `config.json` | [`crate::Runtime`] | before the helper starts |
//! | `shim.log` | the helper (its stderr) | diagnostics |
//! | `state.json` | the helper | right after `fork`: shim and container pids with start times |
//! | `exit.json` | the helper | after the container's PID 1 is reaped |
//! | `container.log` | the shim (the container's stdout and stderr, [`crate::logs`]) | unless `log_path` says otherwise |
//! | `container.log.<n>` | the shim | rotated logs, `.1` the most recent |
//! | `attach.sock` | the shim | with `tty` or `open_stdin`, while the container runs ([`crate::attach`]) |
//! | `exec-<pid>-<n>.json` | [`crate::Runtime::exec`] | read and removed by the exec helper |
//!
//! The JSON files are written to a temporary name and renamed, so a reader sees all or nothing;
//! only `exit.json` is fsynced (the others are on the start path, and describe processes that a
//! host crash takes along anyway). A pid is identified by its start time (field 22 of `/proc/<pid>/stat`), so that
//! a pid reused after a reboot or a wrap-around is never mistaken for the container.

use crate::error::{ContainerError, Context, Result};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::path::Path;

/// The name of the configuration file in a state directory.
pub const CONFIG_FILE: &str = "config.json";
/// The name of the pid file in a state directory.
pub const STATE_FILE: &str = "state.json";
/// The name of the exit status file in a state directory.
pub const EXIT_FILE: &str = "exit.json";
/// The name of the helper's own log in a state directory.
pub const SHIM_LOG_FILE: &str = "shim.log";
/// The name of the default container log in a state directory.
pub const CONTAINER_LOG_FILE: &str = "container.log";
/// The name of the attach socket in a state directory.
pub const ATTACH_SOCKET_FILE: &str = "attach.sock";
/// The prefix of the exec requests in a state directory.
pub const EXEC_FILE_PREFIX: &str = "exec-";

/// The processes of a running container, as recorded by its helper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcState {
    /// The helper (shim) process, in the host's pid namespace.
    pub shim_pid: i32,
    /// Its start time, in clock ticks after boot.
    pub shim_start_time: u64,
    /// The container's PID 1, as seen from the host.
    pub pid: i32,
    /// Its start time, in clock ticks after boot.
    pub pid_start_time: u64,
}

/// How a container ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitStatus {
    /// The exit code, if PID 1 exited.
    pub code: Option<i32>,
    /// The signal that killed PID 1, if one did.
    pub signal: Option<i32>,
    /// Whether the kernel's OOM killer killed a process of the container's cgroup (as Docker's
    /// `OOMKilled`, whichever process it chose).
    pub oom_killed: bool,
    /// When the helper reaped PID 1, in milliseconds since the Unix epoch.
    pub finished_at_ms: u64,
}

impl ExitStatus {
    /// Docker's single number: the exit code, or 128 + the signal.
    pub fn code_or_signal(&self) -> i32 {
        match (self.code, self.signal) {
            (Some(code), _) => code,
            (None, Some(signal)) => 128 + signal,
            (None, None) => -1,
        }
    }

    /// Whether PID 1 exited with code 0 and nothing was OOM-killed.
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.oom_killed
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Writes `value` as JSON to `dir/name`, atomically (temporary file, rename), and durably
/// (fsync before the rename) if `durable`.
pub(crate) fn write_json<T: Serialize>(
    dir: &Path,
    name: &str,
    value: &T,
    durable: bool,
) -> Result<()> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let text = serde_json::to_vec_pretty(value).map_err(|e| ContainerError::Parse {
        path: path.clone(),
        reason: format!("cannot serialize: {e}"),
    })?;
    let mut file = fs::File::create(&tmp).ctx(|| format!("create {}", tmp.display()))?;
    file.write_all(&text)
        .and_then(|()| if durable { file.sync_all() } else { Ok(()) })
        .ctx(|| format!("write {}", tmp.display()))?;
    fs::rename(&tmp, &path).ctx(|| format!("rename {} to {}", tmp.display(), path.display()))
}

/// Reads JSON from `dir/name`; `None` if the file does not exist.
pub(crate) fn read_json<T: for<'de> Deserialize<'de>>(dir: &Path, name: &str) -> Result<Option<T>> {
    let path = dir.join(name);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).ctx(|| format!("read {}", path.display())),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| ContainerError::Parse {
            path,
            reason: e.to_string(),
        })
}

/// The start time (field 22 of `/proc/<pid>/stat`, clock ticks after boot) and state letter of
/// `pid`; `None` if there is no such process.
pub(crate) fn proc_stat(pid: i32) -> Option<(u64, char)> {
    if pid <= 0 {
        return None;
    }
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Parses the state and start time out of a `/proc/<pid>/stat` line (the command name, in
/// parentheses, may contain anything, so fields are counted after the last `)`).
fn parse_stat(text: &str) -> Option<(u64, char)> {
    let after = &text[text.rfind(')')? + 1..];
    let mut fields = after.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // Fields 4..=21 (18 of them) come between the state (3) and the start time (22).
    let start = fields.nth(18)?.parse().ok()?;
    Some((start, state))
}

/// Whether `pid` is alive (not a zombie) and is the process that started at `start_time`.
pub(crate) fn is_alive(pid: i32, start_time: u64) -> bool {
    matches!(proc_stat(pid), Some((start, state)) if start == start_time && state != 'Z' && state != 'X')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_stat_line() {
        let line = "4242 (we ird) name)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 18446744073709551615";
        assert_eq!(parse_stat(line), Some((987_654, 'S')));
        assert_eq!(parse_stat("garbage"), None);
        let own = proc_stat(std::process::id() as i32).expect("own stat");
        assert!(is_alive(std::process::id() as i32, own.0));
        assert!(!is_alive(std::process::id() as i32, own.0 + 1));
    }

    #[test]
    fn exit_status_numbers() {
        let exited = ExitStatus {
            code: Some(3),
            signal: None,
            oom_killed: false,
            finished_at_ms: 0,
        };
        assert_eq!(exited.code_or_signal(), 3);
        assert!(!exited.success());
        let killed = ExitStatus {
            code: None,
            signal: Some(9),
            oom_killed: true,
            finished_at_ms: 0,
        };
        assert_eq!(killed.code_or_signal(), 137);
    }

    #[test]
    fn json_files_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = ProcState {
            shim_pid: 1,
            shim_start_time: 2,
            pid: 3,
            pid_start_time: 4,
        };
        assert_eq!(
            read_json::<ProcState>(dir.path(), STATE_FILE).expect("absent"),
            None
        );
        write_json(dir.path(), STATE_FILE, &state, true).expect("write");
        assert_eq!(
            read_json::<ProcState>(dir.path(), STATE_FILE).expect("read"),
            Some(state)
        );
    }
}
