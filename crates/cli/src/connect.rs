//! Reaching the daemon: a tonic channel over the daemon's Unix socket, and the `Control`,
//! `Swarm` and `Images` clients built on it.
//!
//! Only `unix://` hosts are accepted today; TCP access to the control API arrives with mutual
//! TLS.

use crate::error::CliError;
use flotilla_proto::pb::control_client::ControlClient;
use flotilla_proto::pb::images_client::ImagesClient;
use flotilla_proto::pb::swarm_client::SwarmClient;
use hyper_util::rt::TokioIo;
use std::path::PathBuf;
use std::time::Duration;
use tonic::transport::{Channel, Endpoint, Uri};

/// Where the daemon listens when neither `-H` nor `FLOTILLA_HOST` says otherwise.
pub const DEFAULT_HOST: &str = "unix:///run/flotilla/flotilla.sock";

/// How long connecting to the socket may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The socket path of a `unix:///abs/path` host; other schemes are usage errors.
pub fn socket_path(host: &str) -> Result<PathBuf, CliError> {
    let Some(path) = host.strip_prefix("unix://") else {
        return Err(CliError::Usage(format!(
            "unsupported host {host:?}: only unix:// sockets are supported for now \
             (TCP access to the control API arrives with mutual TLS)"
        )));
    };
    if !path.starts_with('/') {
        return Err(CliError::Usage(format!(
            "invalid host {host:?}: expected unix:///absolute/path/to.sock"
        )));
    }
    Ok(PathBuf::from(path))
}

/// Connects a channel to the daemon at `host` (`unix:///path/to.sock`).
pub async fn channel(host: &str) -> Result<Channel, CliError> {
    let path = socket_path(host)?;
    let connect_error = |reason: String| CliError::Connect {
        host: host.to_owned(),
        reason,
    };
    // The URI is never dialled: the connector below ignores it and opens the socket.
    let endpoint = Endpoint::try_from("http://[::]:50051")
        .map_err(|e| connect_error(root_cause(&e)))?
        .connect_timeout(CONNECT_TIMEOUT);
    endpoint
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(path).await?;
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }
        }))
        .await
        .map_err(|e| connect_error(root_cause(&e)))
}

/// A `Control` client on a fresh channel to `host`.
pub async fn control(host: &str) -> Result<ControlClient<Channel>, CliError> {
    Ok(ControlClient::new(channel(host).await?))
}

/// A `Swarm` client on a fresh channel to `host`.
pub async fn swarm(host: &str) -> Result<SwarmClient<Channel>, CliError> {
    Ok(SwarmClient::new(channel(host).await?))
}

/// A `Containers` client (the node's own containers) on a fresh channel to `host`.
pub async fn containers(
    host: &str,
) -> Result<flotilla_proto::pb::containers_client::ContainersClient<Channel>, CliError> {
    Ok(flotilla_proto::pb::containers_client::ContainersClient::new(channel(host).await?))
}

/// An `Images` client (the node's image store) on a fresh channel to `host`.
pub async fn images(host: &str) -> Result<ImagesClient<Channel>, CliError> {
    Ok(ImagesClient::new(channel(host).await?))
}

/// Both clients, sharing one channel to `host`.
pub async fn both(host: &str) -> Result<(ControlClient<Channel>, SwarmClient<Channel>), CliError> {
    let ch = channel(host).await?;
    Ok((ControlClient::new(ch.clone()), SwarmClient::new(ch)))
}

/// The innermost error's message: tonic wraps the useful part ("No such file or directory",
/// "Connection refused") under a generic "transport error".
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut current = e;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_absolute_unix_hosts_are_accepted() {
        assert_eq!(
            socket_path("unix:///run/flotilla/flotilla.sock").ok(),
            Some(PathBuf::from("/run/flotilla/flotilla.sock"))
        );
        for bad in [
            "tcp://10.0.0.1:2377",
            "/run/x.sock",
            "unix://relative.sock",
            "unix://",
        ] {
            assert!(
                matches!(socket_path(bad), Err(CliError::Usage(_))),
                "{bad} must be refused"
            );
        }
    }
}
