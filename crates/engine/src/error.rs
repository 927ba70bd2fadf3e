//! The engine's error type: what a `container` command can fail with, each naming the container,
//! image or field involved.

use std::path::PathBuf;

/// Result with [`EngineError`].
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// Why an engine operation failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A field of the request is wrong; nothing was created.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field (`--memory`, `--volume`, …).
        field: String,
        /// Why.
        reason: String,
    },
    /// No container has that id, id prefix or name.
    #[error("No such container: {0}")]
    NotFound(String),
    /// An id prefix matches several containers.
    #[error("container prefix {0:?} is ambiguous: matches {1}")]
    Ambiguous(String, String),
    /// The name is taken.
    #[error(
        "the container name {name:?} is already in use by container {id}; remove or rename that container first"
    )]
    NameInUse {
        /// The name.
        name: String,
        /// The container holding it.
        id: String,
    },
    /// The container is in the wrong state for the operation.
    #[error("container {id} is {state}: {reason}")]
    State {
        /// The container.
        id: String,
        /// Its state.
        state: String,
        /// What cannot be done.
        reason: String,
    },
    /// The image could not be found or read.
    #[error(transparent)]
    Image(#[from] flotilla_image::ImageError),
    /// The runtime failed.
    #[error(transparent)]
    Runtime(#[from] flotilla_container::ContainerError),
    /// The cgroup could not be changed.
    #[error(transparent)]
    Cgroup(#[from] flotilla_cgroups::CgroupError),
    /// A file of the engine could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A record file is damaged.
    #[error("{}: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
}

impl EngineError {
    /// An [`EngineError::Invalid`].
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        EngineError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Adds the path to an I/O error.
pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> EngineError {
    let path = path.into();
    move |source| EngineError::Io { path, source }
}
