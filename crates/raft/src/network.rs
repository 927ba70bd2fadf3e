//! The client side of the Raft transport: one cached gRPC channel per peer address.
//!
//! How a channel is made — TLS settings included — is injected as a [`Connector`]; this crate
//! never decides on security itself. [`Connector::insecure_plaintext`] exists for tests only.
//! openraft messages travel as JSON inside `RaftPayload.data`; snapshots stream as a meta chunk
//! followed by data chunks; appends may be pipelined over one bidirectional stream.

use crate::state_machine::SnapshotData;
use crate::types::{RaftId, TypeConfig, Vote};
use flotilla_proto::pb;
use flotilla_proto::pb::raft_client::RaftClient;
use futures::{FutureExt, StreamExt};
use openraft::errors::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::{BasicNode, OptionalSend};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tonic::transport::Channel;
#[cfg(feature = "insecure-plaintext")]
use tonic::transport::Endpoint;

type MakeChannel = dyn Fn(&str) -> Result<Channel, String> + Send + Sync;

/// Makes gRPC channels to peer addresses (`IP:PORT`). The daemon supplies one that speaks
/// mutual TLS; tests may use [`Connector::insecure_plaintext`].
#[derive(Clone)]
pub struct Connector {
    make: Arc<MakeChannel>,
}

impl Connector {
    /// A connector from a channel-making function.
    pub fn new(make: impl Fn(&str) -> Result<Channel, String> + Send + Sync + 'static) -> Self {
        Self {
            make: Arc::new(make),
        }
    }

    /// Plaintext HTTP/2. For tests on loopback only: it authenticates nobody.
    #[cfg(feature = "insecure-plaintext")]
    pub fn insecure_plaintext() -> Self {
        Self::new(|addr| {
            Ok(Endpoint::from_shared(format!("http://{addr}"))
                .map_err(|e| format!("bad peer address {addr:?}: {e}"))?
                .connect_timeout(Duration::from_secs(2))
                .tcp_nodelay(true)
                .http2_keep_alive_interval(Duration::from_secs(10))
                .connect_lazy())
        })
    }
}

/// Cached channels, one per peer address.
#[derive(Clone)]
pub struct Channels {
    connector: Connector,
    cache: Arc<Mutex<HashMap<String, Channel>>>,
}

impl Channels {
    /// An empty cache over `connector`.
    pub fn new(connector: Connector) -> Self {
        Self {
            connector,
            cache: Arc::default(),
        }
    }

    /// The channel to `addr`, made once and then reused.
    pub fn get(&self, addr: &str) -> Result<Channel, String> {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = cache.get(addr) {
            return Ok(c.clone());
        }
        let c = (self.connector.make)(addr)?;
        cache.insert(addr.to_owned(), c.clone());
        Ok(c)
    }

    /// A Raft RPC client for `addr`.
    pub fn raft_client(&self, addr: &str) -> Result<RaftClient<Channel>, String> {
        Ok(RaftClient::new(self.get(addr)?)
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(64 << 20))
    }
}

impl RaftNetworkFactory<TypeConfig> for Channels {
    type Network = PeerClient;

    async fn new_client(&mut self, target: RaftId, node: &BasicNode) -> PeerClient {
        PeerClient {
            target,
            addr: node.addr.clone(),
            channels: self.clone(),
        }
    }
}

/// The Raft client for one peer.
pub struct PeerClient {
    target: RaftId,
    addr: String,
    channels: Channels,
}

/// Encodes an openraft message as a payload.
pub fn encode<T: Serialize>(msg: &T) -> Result<pb::RaftPayload, String> {
    serde_json::to_vec(msg)
        .map(|data| pb::RaftPayload { data })
        .map_err(|e| e.to_string())
}

/// Decodes an openraft message from a payload.
pub fn decode<T: DeserializeOwned>(p: &pb::RaftPayload) -> Result<T, String> {
    serde_json::from_slice(&p.data).map_err(|e| e.to_string())
}

fn status_to_rpc(target: RaftId, s: tonic::Status) -> RPCError<TypeConfig> {
    match s.code() {
        tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => {
            RPCError::Unreachable(Unreachable::from_string(format!("raft peer {target}: {s}")))
        }
        _ => RPCError::Network(NetworkError::from_string(format!(
            "raft peer {target}: {s}"
        ))),
    }
}

impl PeerClient {
    fn client(&self) -> Result<RaftClient<Channel>, RPCError<TypeConfig>> {
        self.channels
            .raft_client(&self.addr)
            .map_err(|e| RPCError::Unreachable(Unreachable::from_string(e)))
    }

    async fn unary<Req, Resp, F, Fut>(
        &self,
        req: &Req,
        ttl: Duration,
        call: F,
    ) -> Result<Resp, RPCError<TypeConfig>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        F: FnOnce(RaftClient<Channel>, tonic::Request<pb::RaftPayload>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<pb::RaftPayload>, tonic::Status>>,
    {
        let payload = encode(req).map_err(|e| RPCError::Network(NetworkError::from_string(e)))?;
        let mut request = tonic::Request::new(payload);
        request.set_timeout(ttl);
        let resp = call(self.client()?, request)
            .await
            .map_err(|s| status_to_rpc(self.target, s))?;
        decode(resp.get_ref()).map_err(|e| RPCError::Network(NetworkError::from_string(e)))
    }
}

impl RaftNetworkV2<TypeConfig> for PeerClient {
    type SnapshotData = SnapshotData;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.unary(&rpc, option.hard_ttl(), |mut c, r| async move {
            c.append_entries(r).await
        })
        .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.unary(&rpc, option.hard_ttl(), |mut c, r| async move {
            c.vote(r).await
        })
        .await
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.unary(&rpc, option.hard_ttl(), |mut c, r| async move {
            c.pre_vote(r).await
        })
        .await
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: openraft::type_config::alias::SnapshotOf<TypeConfig, SnapshotData>,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let net = |e: String| StreamingError::Network(NetworkError::from_string(e));
        let data = snapshot.snapshot.into_inner();
        let chunk = option.snapshot_chunk_size().unwrap_or(1 << 20).max(1);
        let meta = pb::SnapshotMeta {
            vote: serde_json::to_vec(&vote).map_err(|e| net(e.to_string()))?,
            meta: serde_json::to_vec(&snapshot.meta).map_err(|e| net(e.to_string()))?,
            total_size: data.len() as u64,
        };
        let mut chunks = vec![pb::SnapshotChunk {
            chunk: Some(pb::snapshot_chunk::Chunk::Meta(meta)),
        }];
        chunks.extend(data.chunks(chunk).map(|c| pb::SnapshotChunk {
            chunk: Some(pb::snapshot_chunk::Chunk::Data(c.to_vec())),
        }));
        let mut client = self.client()?;
        let mut request = tonic::Request::new(futures::stream::iter(chunks));
        request.set_timeout(option.hard_ttl());
        let target = self.target;
        let send = async move { client.install_snapshot(request).await };
        tokio::select! {
            closed = cancel => Err(StreamingError::Closed(closed)),
            resp = send => {
                let resp = resp.map_err(|s| StreamingError::from(status_to_rpc(target, s)))?;
                decode(resp.get_ref()).map_err(net)
            }
        }
    }

    fn stream_append<'s, S>(
        &'s mut self,
        input: S,
        option: RPCOption,
    ) -> futures::future::BoxFuture<
        's,
        Result<
            futures::stream::BoxStream<
                's,
                Result<openraft::raft::StreamAppendResult<TypeConfig>, RPCError<TypeConfig>>,
            >,
            RPCError<TypeConfig>,
        >,
    >
    where
        S: futures::Stream<Item = AppendEntriesRequest<TypeConfig>>
            + OptionalSend
            + Unpin
            + 'static,
    {
        let target = self.target;
        let client = self.client();
        async move {
            let mut client = client?;
            // Take the first request before connecting: producing it is where openraft applies
            // its backoff, so a peer that is down is retried at that pace, not in a busy loop.
            let mut input = input;
            let Some(first) = input.next().await else {
                return Ok(futures::stream::empty().boxed());
            };
            let outbound = futures::stream::once(async move { first })
                .chain(input)
                .filter_map(|req| async move { encode(&req).ok() });
            let mut request = tonic::Request::new(outbound);
            // The stream lives as long as replication does; only connection set-up is bounded.
            let _ = option;
            request.set_timeout(Duration::from_secs(24 * 3600));
            let inbound = client
                .stream_append(request)
                .await
                .map_err(|s| status_to_rpc(target, s))?
                .into_inner();
            let out = inbound.map(move |item| match item {
                Ok(p) => decode::<openraft::raft::StreamAppendResult<TypeConfig>>(&p)
                    .map_err(|e| RPCError::Network(NetworkError::from_string(e))),
                Err(s) => Err(status_to_rpc(target, s)),
            });
            Ok(out.boxed())
        }
        .boxed()
    }
}
