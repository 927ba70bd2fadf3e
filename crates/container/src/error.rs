//! The single error type of the `container` crate.
//!
//! Every variant says what was being done and on which path or container, so that a message can
//! be shown as is: `mount proc on /proc: Operation not permitted (os error 1)`.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Shorthand for results whose error is [`ContainerError`].
pub type Result<T, E = ContainerError> = std::result::Result<T, E>;

/// Everything that can go wrong while creating, running or removing a container.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContainerError {
    /// The container configuration is not acceptable.
    #[error("invalid container configuration: {0}")]
    InvalidConfig(String),

    /// A system call or file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done (`mount proc on /proc`, `write /run/x/exit.json`).
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// The container's cgroup could not be created, used or removed.
    #[error(transparent)]
    Cgroup(#[from] flotilla_cgroups::CgroupError),

    /// A state file of a container could not be parsed.
    #[error("cannot parse {path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },

    /// A container with this id already has a state directory.
    #[error("container {id} already exists (state directory {path})")]
    AlreadyExists {
        /// The container id.
        id: String,
        /// Its state directory.
        path: PathBuf,
    },

    /// No container with this id has a state directory.
    #[error("container {id} not found under {root}")]
    NotFound {
        /// The container id.
        id: String,
        /// The runtime's state root.
        root: PathBuf,
    },

    /// The helper reported that the container could not be started; nothing of it is left.
    #[error("container {id} failed to start: {message}")]
    StartFailed {
        /// The container id.
        id: String,
        /// The helper's one-line message (the first error on its way to `execve`).
        message: String,
    },

    /// The container is not running (it exited, or never started), so nothing can be run in it.
    #[error("container {id} is not running")]
    NotRunning {
        /// The container id.
        id: String,
    },

    /// An `exec` could not be started (the helper's message).
    #[error("exec in container {id} failed: {message}")]
    ExecFailed {
        /// The container id.
        id: String,
        /// What went wrong.
        message: String,
    },

    /// The per-container shim died without recording the container's exit status (it was
    /// killed), and the container is gone too: the exit status is lost.
    #[error("the shim of container {id} died without recording an exit status")]
    ShimLost {
        /// The container id.
        id: String,
    },

    /// An operation that waits did not finish in time.
    #[error("container {id}: {operation} did not finish within {waited:?}")]
    Timeout {
        /// The container id.
        id: String,
        /// What was waited for (`start`, `stop`).
        operation: &'static str,
        /// How long it waited.
        waited: Duration,
    },

    /// The feature is not available on this host (architecture or kernel).
    #[error("not supported on this host: {0}")]
    Unsupported(String),
}

impl ContainerError {
    /// The underlying I/O error's kind, when there is one.
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            ContainerError::Io { source, .. } => Some(source.kind()),
            ContainerError::Cgroup(e) => e.io_kind(),
            _ => None,
        }
    }
}

/// Adds a context to the error of a fallible system call or file operation.
pub(crate) trait Context<T> {
    /// Turns the error into [`ContainerError::Io`] with the context `what()`.
    fn ctx<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T>;
}

impl<T, E: Into<io::Error>> Context<T> for std::result::Result<T, E> {
    fn ctx<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| ContainerError::Io {
            context: what().into(),
            source: e.into(),
        })
    }
}
