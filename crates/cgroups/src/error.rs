//! The single error type of the `cgroups` crate.
//!
//! Every variant names the cgroup directory or the cgroup file involved, and the operation that
//! failed, so that a message can be printed as is:
//! `cannot write "67108864" to /sys/fs/cgroup/memory/flotilla-n1/containers/abc/memory.limit_in_bytes: Device or resource busy (os error 16)`.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Shorthand for results whose error is [`CgroupError`].
pub type Result<T, E = CgroupError> = std::result::Result<T, E>;

/// Everything that can go wrong while managing a cgroup.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CgroupError {
    /// `/proc/self/mountinfo` could not be read.
    #[error("cannot read {path} to find the cgroup filesystems: {source}")]
    Mountinfo {
        /// The file read (`/proc/self/mountinfo`).
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// No cgroup filesystem (v1 or v2) is mounted.
    #[error("no cgroup filesystem is mounted (according to {path})")]
    NoCgroupFs {
        /// The file that was searched (`/proc/self/mountinfo`).
        path: PathBuf,
    },

    /// A cgroup v1 controller that flotilla needs has no mounted hierarchy.
    #[error(
        "cgroup v1 controller `{controller}` is not mounted (according to {path}); flotilla needs memory, cpu, cpuacct, pids and freezer"
    )]
    ControllerNotMounted {
        /// The controller (`memory`, `cpu`, `cpuacct`, `pids` or `freezer`).
        controller: &'static str,
        /// The file that was searched (`/proc/self/mountinfo`).
        path: PathBuf,
    },

    /// A cgroup v2 controller is not available to a cgroup of the unified hierarchy, so it cannot be
    /// enabled in that cgroup's `cgroup.subtree_control`.
    #[error(
        "cgroup v2 controller `{controller}` is not available in {path} (its cgroup.controllers lists {available:?}); it must be enabled in the parent's cgroup.subtree_control, or delegated to this part of the tree"
    )]
    ControllerUnavailable {
        /// The controller (`memory`, `cpu` or `pids`).
        controller: &'static str,
        /// The cgroup directory whose `cgroup.controllers` lacks it.
        path: PathBuf,
        /// What that `cgroup.controllers` lists.
        available: String,
    },

    /// A parent or name given for a cgroup is not a plain relative path.
    #[error("invalid cgroup path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// Why it was refused.
        reason: &'static str,
    },

    /// A combination of limits cannot be written.
    #[error("invalid limits for cgroup {path}: {reason}")]
    InvalidLimits {
        /// The cgroup directory.
        path: PathBuf,
        /// Why the limits were refused.
        reason: String,
    },

    /// A pid that must not be moved into, or signalled in, a cgroup.
    #[error("pid {pid} refused for cgroup {path}: {reason}")]
    InvalidPid {
        /// The cgroup directory.
        path: PathBuf,
        /// The pid.
        pid: i32,
        /// Why it was refused.
        reason: &'static str,
    },

    /// The cgroup does not exist (in at least one of the hierarchies it should be in).
    #[error("cgroup {path} does not exist")]
    NotFound {
        /// The missing cgroup directory.
        path: PathBuf,
    },

    /// The cgroup to create already exists.
    #[error("cgroup {path} already exists")]
    AlreadyExists {
        /// The existing cgroup directory.
        path: PathBuf,
    },

    /// A cgroup directory could not be created.
    #[error("cannot create cgroup directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// A cgroup directory could not be removed.
    #[error("cannot remove cgroup directory {path}: {source}")]
    RemoveDir {
        /// The directory.
        path: PathBuf,
        /// The underlying error (`EBUSY` while processes or child cgroups remain).
        #[source]
        source: io::Error,
    },

    /// A cgroup directory could not be listed.
    #[error("cannot list cgroup directory {path}: {source}")]
    ReadDir {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// A cgroup directory could not be opened (for `CLONE_INTO_CGROUP`).
    #[error("cannot open cgroup directory {path}: {source}")]
    OpenDir {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// A cgroup file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// A value could not be written to a cgroup file (opening it, or the kernel refused the value).
    #[error("cannot write {value:?} to {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The value that was written.
        value: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// A cgroup file holds something that is not in the expected format.
    #[error("cannot parse {path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },

    /// A process of the cgroup could not be sent `SIGKILL`.
    #[error("cannot send SIGKILL to pid {pid} of cgroup {path}: {source}")]
    Signal {
        /// The cgroup directory whose `cgroup.procs` listed the pid.
        path: PathBuf,
        /// The pid.
        pid: i32,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// An operation that waits for the kernel did not finish in time.
    #[error("{operation} of cgroup {path} did not finish within {waited:?}: {detail}")]
    Timeout {
        /// The cgroup directory.
        path: PathBuf,
        /// The operation (`freeze`, `kill_all`, `delete`).
        operation: &'static str,
        /// How long it waited.
        waited: Duration,
        /// What was still not done.
        detail: String,
    },
}

impl CgroupError {
    /// The underlying I/O error's kind, when there is one.
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            CgroupError::Mountinfo { source, .. }
            | CgroupError::CreateDir { source, .. }
            | CgroupError::RemoveDir { source, .. }
            | CgroupError::ReadDir { source, .. }
            | CgroupError::OpenDir { source, .. }
            | CgroupError::Read { source, .. }
            | CgroupError::Write { source, .. }
            | CgroupError::Signal { source, .. } => Some(source.kind()),
            _ => None,
        }
    }
}
