//! The one error type of the test kit: every failure says what was being done and, where a
//! daemon is involved, ends with the tail of that node's log.

use std::path::PathBuf;
use std::time::Duration;

/// What went wrong while building, driving or tearing down a [`Lab`](crate::Lab).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LabError {
    /// The lab creates network namespaces, veths and nftables tables: it needs root.
    #[error(
        "the lab needs root (effective uid is {euid}): it creates network namespaces, veth pairs \
         and nftables tables; run the tests as root"
    )]
    NotRoot {
        /// The effective uid the process runs with.
        euid: u32,
    },

    /// Programs the lab runs are not installed.
    #[error(
        "the lab needs programs that are not installed: {missing} (searched PATH, /usr/sbin, /sbin)"
    )]
    MissingTools {
        /// Each missing program with the Debian package that has it, comma-separated.
        missing: String,
    },

    /// The `flotilla` binary was not found.
    #[error("no flotilla binary at {}: {hint}", .path.display())]
    BinaryMissing {
        /// Where it was looked for (the last place tried).
        path: PathBuf,
        /// What was tried and what to do.
        hint: String,
    },

    /// A [`LabConfig`](crate::LabConfig) value is out of range.
    #[error("bad lab configuration: {0}")]
    Config(String),

    /// A node index outside `1..=len`.
    #[error("no node {index}: the lab has nodes 1..={len}")]
    NoSuchNode {
        /// The index asked for.
        index: usize,
        /// How many nodes the lab has.
        len: usize,
    },

    /// An I/O operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A helper command (`ip`, `nft`, `nsenter` …) exited unsuccessfully.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// Its standard error, trimmed.
        stderr: String,
    },

    /// A command did not finish in time and was killed.
    #[error("`{command}` did not finish within {after:?} and was killed")]
    CommandTimeout {
        /// The command line.
        command: String,
        /// The time limit.
        after: Duration,
    },

    /// A node already has a running process.
    #[error("node {node} is already running (pid {pid})")]
    AlreadyRunning {
        /// The node index.
        node: usize,
        /// The running process.
        pid: u32,
    },

    /// A node has no running process.
    #[error("node {node} is not running: {detail}")]
    NotRunning {
        /// The node index.
        node: usize,
        /// Never started, or how it exited.
        detail: String,
    },

    /// The daemon exited while the lab waited for it to come up.
    #[error("node {node}'s daemon exited during start-up ({status}); log tail:\n{log_tail}")]
    Exited {
        /// The node index.
        node: usize,
        /// Its exit status.
        status: String,
        /// The last lines of the node's log.
        log_tail: String,
    },

    /// The daemon did not answer `info` in time.
    #[error(
        "node {node}'s daemon did not answer `info` within {after:?}; last error: {last}; log tail:\n{log_tail}"
    )]
    NotReady {
        /// The node index.
        node: usize,
        /// The time limit.
        after: Duration,
        /// The last attempt's failure.
        last: String,
        /// The last lines of the node's log.
        log_tail: String,
    },

    /// A CLI command against a node exited unsuccessfully.
    #[error(
        "`{command}` against node {node} failed ({status}): {stderr}\nnode log tail:\n{log_tail}"
    )]
    Cli {
        /// The node index.
        node: usize,
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// Its standard error, trimmed.
        stderr: String,
        /// The last lines of the node's log.
        log_tail: String,
    },

    /// A CLI command's output is not the JSON expected.
    #[error("`{command}` printed no valid JSON: {source}")]
    Json {
        /// The command line.
        command: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },

    /// Sending a signal failed.
    #[error("cannot send {signal} to pid {pid}: {source}")]
    Signal {
        /// The signal's name.
        signal: &'static str,
        /// The target process.
        pid: u32,
        /// The errno.
        #[source]
        source: nix::errno::Errno,
    },
}
