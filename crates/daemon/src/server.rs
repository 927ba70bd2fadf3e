//! The daemon's listeners: the CLI's Unix socket (Swarm and Control) and, on managers, the
//! node-to-node listener (Raft and Control), and the orderly shutdown of both.

use crate::swarm::{Daemon, SwarmApi};
use flotilla_controlapi::ControlApi;
use flotilla_proto::pb;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use tokio::net::UnixListener;
use tokio::sync::watch;
use tokio_stream::wrappers::UnixListenerStream;

/// Why a listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Another daemon answers on the socket.
    #[error("another flotilla daemon is listening on {0}")]
    SocketInUse(String),
    /// Filesystem or bind failure.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The gRPC server failed.
    #[error("server error: {0}")]
    Transport(#[from] tonic::transport::Error),
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServeError {
    let context = context.into();
    move |source| ServeError::Io { context, source }
}

/// Binds the CLI socket: creates its directory, refuses if a live daemon answers, removes a
/// stale socket file, and leaves the socket at mode 0660.
pub async fn bind_socket(path: &Path) -> Result<UnixListener, ServeError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    }
    if path.exists() {
        if tokio::net::UnixStream::connect(path).await.is_ok() {
            return Err(ServeError::SocketInUse(path.display().to_string()));
        }
        std::fs::remove_file(path)
            .map_err(io(format!("removing stale socket {}", path.display())))?;
    }
    let listener = UnixListener::bind(path).map_err(io(format!("binding {}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .map_err(io(format!("setting the mode of {}", path.display())))?;
    Ok(listener)
}

/// Serves the CLI socket until `shutdown` turns true. (Managers serve the node-to-node
/// listener themselves, over mutual TLS: see `swarm.rs`.)
pub async fn serve(
    daemon: Arc<Daemon>,
    images: crate::images::ImagesApi,
    containers: crate::containers::ContainersApi,
    socket: UnixListener,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ServeError> {
    let control = ControlApi::new(daemon.store_slot());
    tonic::transport::Server::builder()
        .add_service(pb::swarm_server::SwarmServer::new(SwarmApi(daemon.clone())))
        .add_service(pb::control_server::ControlServer::new(control))
        .add_service(
            pb::images_server::ImagesServer::new(images).max_decoding_message_size(8 << 20),
        )
        .add_service(pb::containers_server::ContainersServer::new(containers))
        .add_service(pb::logs_server::LogsServer::new(crate::logs::LogsApi::new(
            daemon.clone(),
            true,
        )))
        .serve_with_incoming_shutdown(UnixListenerStream::new(socket), async move {
            let _ = shutdown.wait_for(|s| *s).await;
        })
        .await?;
    Ok(())
}
