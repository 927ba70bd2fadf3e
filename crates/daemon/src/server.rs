//! The daemon's listeners: the CLI's Unix socket (Swarm and Control) and, on managers, the
//! node-to-node listener (Raft and Control), and the orderly shutdown of both.

use crate::config::DaemonConfig;
use crate::swarm::{Daemon, SwarmApi, insecure_plaintext};
use flotilla_controlapi::ControlApi;
use flotilla_proto::pb;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use tokio::net::UnixListener;
use tokio::sync::watch;
use tokio_stream::wrappers::{TcpListenerStream, UnixListenerStream};

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

/// Serves until `shutdown` turns true.
pub async fn serve(
    cfg: &DaemonConfig,
    daemon: Arc<Daemon>,
    socket: UnixListener,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ServeError> {
    let control = ControlApi::new(daemon.store_slot());
    let mut uds_shutdown = shutdown.clone();
    let uds = tonic::transport::Server::builder()
        .add_service(pb::swarm_server::SwarmServer::new(SwarmApi(daemon.clone())))
        .add_service(pb::control_server::ControlServer::new(control.clone()))
        .serve_with_incoming_shutdown(UnixListenerStream::new(socket), async move {
            let _ = uds_shutdown.wait_for(|s| *s).await;
        });

    // Node-to-node traffic needs the cluster's certificates; until a node has them it serves
    // this listener only under the test-only plaintext switch.
    let tcp = async {
        if !insecure_plaintext() {
            tracing::info!(
                listen_addr = %cfg.listen_addr,
                "node-to-node listener not started: it needs the cluster's TLS certificates"
            );
            let _ = shutdown.wait_for(|s| *s).await;
            return Ok(());
        }
        tracing::warn!(listen_addr = %cfg.listen_addr, "serving node-to-node traffic in PLAINTEXT (test-only switch)");
        let listener = tokio::net::TcpListener::bind(cfg.listen_addr)
            .await
            .map_err(io(format!("binding {}", cfg.listen_addr)))?;
        let mut router = tonic::transport::Server::builder()
            .add_service(pb::control_server::ControlServer::new(control));
        if let Some(raft) = daemon.raft_service().await {
            router = router.add_service(raft);
        }
        router
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async move {
                let _ = shutdown.wait_for(|s| *s).await;
            })
            .await
            .map_err(ServeError::from)
    };
    // If either listener fails, the other is dropped with it and the daemon stops.
    tokio::try_join!(async { uds.await.map_err(ServeError::from) }, tcp)?;
    Ok(())
}
