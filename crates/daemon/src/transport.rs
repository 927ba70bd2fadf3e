//! Mutual-TLS gRPC transport between nodes: channels out, an accepting stream in.
//!
//! Outgoing: a lazily connecting tonic channel per address whose connector dials TCP and runs
//! a TLS handshake with the given rustls client configuration and server name. Incoming: every
//! accepted TCP connection is handshaked in its own task (bounded in time, so a slow or hostile
//! peer cannot stall the listener); refusals are logged with the peer's address and the reason.

use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint, Uri};

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A channel to `addr` (`IP:PORT`) that speaks TLS with `config`, expecting the server to
/// present a certificate valid for `server_name`.
pub fn tls_channel(
    addr: &str,
    config: Arc<rustls::ClientConfig>,
    server_name: &'static str,
) -> Result<Channel, String> {
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| format!("bad address {addr:?}: {e}"))?
        .connect_timeout(Duration::from_secs(3))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(5))
        .keep_alive_timeout(Duration::from_secs(10));
    let connector = TlsConnector::from(config);
    let name = ServerName::try_from(server_name)
        .map_err(|e| format!("bad server name {server_name:?}: {e}"))?;
    Ok(
        endpoint.connect_with_connector_lazy(tower::service_fn(move |uri: Uri| {
            let connector = connector.clone();
            let name = name.clone();
            async move {
                let host = uri
                    .host()
                    .unwrap_or_default()
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned();
                let port = uri.port_u16().unwrap_or(4242);
                let tcp = TcpStream::connect((host.as_str(), port)).await?;
                tcp.set_nodelay(true)?;
                let tls = tokio::time::timeout(HANDSHAKE_TIMEOUT, connector.connect(name, tcp))
                    .await
                    .map_err(|_| {
                        std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out")
                    })??;
                Ok::<_, std::io::Error>(TokioIo::new(tls))
            }
        })),
    )
}

/// Accepts TCP connections on `listener` and yields those whose TLS handshake succeeded.
pub fn tls_incoming(
    listener: TcpListener,
    acceptor: TlsAcceptor,
) -> ReceiverStream<Result<TlsStream<TcpStream>, std::io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            // Stop accepting (and free the port) as soon as the server is gone.
            let accepted = tokio::select! {
                a = listener.accept() => a,
                () = tx.closed() => return,
            };
            let (tcp, peer) = match accepted {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a node connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                match handshake(acceptor, tcp, peer).await {
                    Ok(tls) => {
                        let _ = tx.send(Ok(tls)).await;
                    }
                    Err(reason) => tracing::warn!(%peer, %reason, "refused a node connection"),
                }
            });
        }
    });
    ReceiverStream::new(rx)
}

async fn handshake(
    acceptor: TlsAcceptor,
    tcp: TcpStream,
    peer: SocketAddr,
) -> Result<TlsStream<TcpStream>, String> {
    let _ = tcp.set_nodelay(true);
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => Ok(tls),
        Ok(Err(e)) => Err(format!("TLS handshake with {peer} failed: {e}")),
        Err(_) => Err(format!("TLS handshake with {peer} timed out")),
    }
}
