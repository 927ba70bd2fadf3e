//! The errors a CLI command ends with, worded for the person at the terminal.
//!
//! Refusals by the daemon keep Docker's wording ("Error response from daemon: …"); failures to
//! reach it say where the CLI looked and what to check.

use crate::units::UnitError;
use flotilla_proto::ConvertError;
use tonic::Code;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The daemon's socket could not be reached.
    #[error("cannot reach the flotilla daemon at {host}: {reason}; is `flotilla daemon` running?")]
    Connect {
        /// The host as given (`unix:///run/flotilla/flotilla.sock`).
        host: String,
        /// What went wrong (the root cause of the connection failure).
        reason: String,
    },
    /// The daemon refused or failed the call (boxed: a `Status` is large).
    #[error("{}", rpc_message(.0))]
    Rpc(Box<tonic::Status>),
    /// A flag value clap accepted but the command cannot use (`-e NOVALUE`, `--replicas -1`).
    #[error("{0}")]
    Usage(String),
    /// The daemon sent a message that does not make a valid object.
    #[error("unexpected response from the daemon: {0}")]
    Convert(#[from] ConvertError),
    /// Encoding output as JSON failed.
    #[error("cannot encode JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Reading an input (an archive to load, standard input) failed.
    #[error("cannot read {path}: {source}")]
    Input {
        /// The file as given, or `standard input`.
        path: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The service did not converge: its update or rollback paused, or an update rolled back by
    /// itself (`service update paused: …`, `service rolled back: rollback completed`).
    #[error("{0}")]
    Converge(String),
    /// The command worked and ends with this exit code (a container's, for `container run`).
    #[error("")]
    ExitCode(i32),
    /// Writing to standard output failed (a closed pipe, a full disk).
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}

impl From<tonic::Status> for CliError {
    fn from(status: tonic::Status) -> Self {
        CliError::Rpc(Box::new(status))
    }
}

impl From<UnitError> for CliError {
    fn from(e: UnitError) -> Self {
        CliError::Usage(e.to_string())
    }
}

impl From<flotilla_model::ValidationError> for CliError {
    fn from(e: flotilla_model::ValidationError) -> Self {
        CliError::Usage(e.to_string())
    }
}

impl CliError {
    /// The gRPC status code, when the daemon answered with an error.
    pub fn code(&self) -> Option<Code> {
        match self {
            CliError::Rpc(s) => Some(s.code()),
            _ => None,
        }
    }

    /// True when standard output was closed under us (`flotilla service ls | head -1`); the
    /// binary may then exit quietly.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, CliError::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

/// How a daemon error reads: the daemon's refusals (bad input, missing or duplicate objects,
/// conflicts) are prefixed like Docker's; anything else is the bare message.
fn rpc_message(status: &tonic::Status) -> String {
    let message = if status.message().is_empty() {
        status.code().description()
    } else {
        status.message()
    };
    match status.code() {
        Code::InvalidArgument
        | Code::NotFound
        | Code::AlreadyExists
        | Code::FailedPrecondition
        | Code::Aborted => format!("Error response from daemon: {message}"),
        _ => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_read_like_docker() {
        let e = CliError::from(tonic::Status::not_found("service web not found"));
        assert_eq!(
            e.to_string(),
            "Error response from daemon: service web not found"
        );
        let e = CliError::from(tonic::Status::unavailable("no leader"));
        assert_eq!(e.to_string(), "no leader");
        assert_eq!(e.code(), Some(Code::Unavailable));
    }

    #[test]
    fn connect_error_says_what_to_check() {
        let e = CliError::Connect {
            host: "unix:///run/flotilla/flotilla.sock".into(),
            reason: "No such file or directory (os error 2)".into(),
        };
        assert_eq!(
            e.to_string(),
            "cannot reach the flotilla daemon at unix:///run/flotilla/flotilla.sock: \
             No such file or directory (os error 2); is `flotilla daemon` running?"
        );
    }
}
