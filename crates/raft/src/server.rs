//! The server side of the Raft transport: the `flotilla.v1.Raft` gRPC service.
//!
//! It decodes openraft messages and hands them to the local Raft node; it also serves the two
//! requests followers send their leader: `Propose` (a forwarded changeset) and `ReadIndex` (for
//! linearizable reads), and `Join` (add a manager as learner, then voter).

use crate::Raft;
use crate::network::{decode, encode};
use crate::state_machine::SnapshotData;
use crate::store::ProposeReply;
use crate::types::{Request, SnapshotMeta, TypeConfig, Vote};
use flotilla_proto::pb;
use futures::{Stream, StreamExt};
use openraft::async_runtime::WatchReceiver;
use openraft::{BasicNode, ReadPolicy};
use std::pin::Pin;
use tonic::{Status, Streaming};

/// The gRPC service, over one Raft node.
#[derive(Clone)]
pub struct RaftService {
    raft: Raft,
    channels: crate::network::Channels,
}

impl RaftService {
    /// Serves `raft`; `channels` reach the leader when a request must be forwarded.
    pub fn new(raft: Raft, channels: crate::network::Channels) -> Self {
        Self { raft, channels }
    }
}

fn bad(e: String) -> Status {
    Status::invalid_argument(e)
}

fn reply<T: serde::Serialize>(v: &T) -> Result<tonic::Response<pb::RaftPayload>, Status> {
    encode(v)
        .map(tonic::Response::new)
        .map_err(Status::internal)
}

/// Decodes an openraft request, runs it, encodes the answer.
async fn handle<Req, Resp, E, Fut>(
    req: &tonic::Request<pb::RaftPayload>,
    f: impl FnOnce(Req) -> Fut,
) -> Result<tonic::Response<pb::RaftPayload>, Status>
where
    Req: serde::de::DeserializeOwned,
    Resp: serde::Serialize,
    E: std::fmt::Display,
    Fut: std::future::Future<Output = Result<Resp, E>>,
{
    let r = decode(req.get_ref()).map_err(bad)?;
    let resp = f(r).await.map_err(|e| Status::unavailable(e.to_string()))?;
    reply(&resp)
}

type PayloadStream = Pin<Box<dyn Stream<Item = Result<pb::RaftPayload, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl pb::raft_server::Raft for RaftService {
    async fn vote(
        &self,
        req: tonic::Request<pb::RaftPayload>,
    ) -> Result<tonic::Response<pb::RaftPayload>, Status> {
        handle(&req, |r| self.raft.vote(r)).await
    }

    async fn pre_vote(
        &self,
        req: tonic::Request<pb::RaftPayload>,
    ) -> Result<tonic::Response<pb::RaftPayload>, Status> {
        handle(&req, |r| self.raft.pre_vote(r)).await
    }

    async fn append_entries(
        &self,
        req: tonic::Request<pb::RaftPayload>,
    ) -> Result<tonic::Response<pb::RaftPayload>, Status> {
        handle(&req, |r| self.raft.append_entries(r)).await
    }

    type StreamAppendStream = PayloadStream;

    async fn stream_append(
        &self,
        req: tonic::Request<Streaming<pb::RaftPayload>>,
    ) -> Result<tonic::Response<Self::StreamAppendStream>, Status> {
        // Requests that fail to decode end the inbound stream; the leader then sees the stream
        // end early and falls back to retrying.
        let inbound = req
            .into_inner()
            .take_while(|r| std::future::ready(r.is_ok()))
            .filter_map(|r| async move {
                r.ok().and_then(|p| {
                    decode::<openraft::raft::AppendEntriesRequest<TypeConfig>>(&p).ok()
                })
            });
        let out = self
            .raft
            .stream_append(Box::pin(inbound))
            .map(|res| match res {
                Ok(r) => encode(&r).map_err(Status::internal),
                Err(fatal) => Err(Status::unavailable(fatal.to_string())),
            });
        Ok(tonic::Response::new(Box::pin(out)))
    }

    async fn install_snapshot(
        &self,
        req: tonic::Request<Streaming<pb::SnapshotChunk>>,
    ) -> Result<tonic::Response<pb::RaftPayload>, Status> {
        let mut stream = req.into_inner();
        let first = stream
            .message()
            .await?
            .ok_or_else(|| bad("empty snapshot stream".into()))?;
        let Some(pb::snapshot_chunk::Chunk::Meta(m)) = first.chunk else {
            return Err(bad("a snapshot stream must start with its meta".into()));
        };
        let vote: Vote = serde_json::from_slice(&m.vote).map_err(|e| bad(e.to_string()))?;
        let meta: SnapshotMeta = serde_json::from_slice(&m.meta).map_err(|e| bad(e.to_string()))?;
        let total = usize::try_from(m.total_size).map_err(|e| bad(e.to_string()))?;
        let mut data = Vec::with_capacity(total.min(1 << 30));
        while let Some(chunk) = stream.message().await? {
            match chunk.chunk {
                Some(pb::snapshot_chunk::Chunk::Data(d)) => data.extend_from_slice(&d),
                _ => return Err(bad("only data chunks may follow the snapshot meta".into())),
            }
            if data.len() > total {
                return Err(bad(format!(
                    "snapshot is longer than the announced {total} bytes"
                )));
            }
        }
        if data.len() != total {
            return Err(bad(format!(
                "snapshot ended after {} of {total} bytes",
                data.len()
            )));
        }
        let snapshot = openraft::type_config::alias::SnapshotOf::<TypeConfig, SnapshotData> {
            meta,
            snapshot: std::io::Cursor::new(data),
        };
        let resp = self
            .raft
            .install_full_snapshot(vote, snapshot)
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        reply(&resp)
    }

    async fn join(
        &self,
        req: tonic::Request<pb::JoinRaftRequest>,
    ) -> Result<tonic::Response<pb::JoinRaftResponse>, Status> {
        let r = req.into_inner();
        let m = self.raft.metrics().borrow_watched().clone();
        let leader = m.current_leader;
        if leader != Some(m.id) {
            // Only the leader changes the membership: pass the request on.
            let addr = leader
                .and_then(|l| {
                    m.membership_config
                        .membership()
                        .get_node(&l)
                        .map(|n| n.addr.clone())
                })
                .ok_or_else(|| Status::unavailable("no raft leader is known right now; retry"))?;
            let mut client = self
                .channels
                .raft_client(&addr)
                .map_err(Status::unavailable)?;
            let mut fwd = tonic::Request::new(r);
            fwd.set_timeout(std::time::Duration::from_secs(60));
            return client.join(fwd).await;
        }
        crate::node::join_as_voter(&self.raft, r.raft_id, BasicNode::new(r.addr))
            .await
            .map_err(|e| Status::failed_precondition(e.to_string()))?;
        Ok(tonic::Response::new(pb::JoinRaftResponse {}))
    }

    async fn propose(
        &self,
        req: tonic::Request<pb::RaftPayload>,
    ) -> Result<tonic::Response<pb::RaftPayload>, Status> {
        let r: Request = decode(req.get_ref()).map_err(bad)?;
        let reply_msg = crate::store::propose_local(&self.raft, r).await;
        let reply_msg: ProposeReply = reply_msg;
        reply(&reply_msg)
    }

    async fn read_index(
        &self,
        _req: tonic::Request<pb::ReadIndexRequest>,
    ) -> Result<tonic::Response<pb::ReadIndexResponse>, Status> {
        let read = self
            .raft
            .ensure_linearizable(ReadPolicy::ReadIndex)
            .await
            .map_err(|e| Status::failed_precondition(e.to_string()))?;
        Ok(tonic::Response::new(pb::ReadIndexResponse {
            index: read.index(),
        }))
    }
}
