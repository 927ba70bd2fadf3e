//! Errors of opening and running the replicated store.

use std::path::PathBuf;

/// Why the Raft node could not be opened or run.
#[derive(Debug, thiserror::Error)]
pub enum RaftError {
    /// The log database could not be opened; it may be corrupt.
    #[error(
        "cannot open the raft log at {path}: {reason}; refusing to start rather than serve a wrong state"
    )]
    OpenLog {
        /// The log file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The log database holds an entry that cannot be decoded, or has a hole.
    #[error(
        "the raft log at {path} is damaged at index {index}: {reason}; refusing to start rather than serve a wrong state"
    )]
    DamagedLog {
        /// The log file.
        path: PathBuf,
        /// The index of the damaged entry.
        index: u64,
        /// What is wrong.
        reason: String,
    },
    /// A snapshot file cannot be read.
    #[error("the raft snapshot at {path} is damaged: {reason}")]
    DamagedSnapshot {
        /// The snapshot file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Filesystem trouble.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The Raft configuration was refused.
    #[error("invalid raft configuration: {0}")]
    Config(String),
    /// openraft stopped with a fatal error.
    #[error("raft stopped: {0}")]
    Fatal(String),
    /// A membership change failed.
    #[error("membership change failed: {0}")]
    Membership(String),
}
