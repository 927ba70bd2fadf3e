//! The openraft type configuration and the application data carried in log entries.
//!
//! A log entry's application data is a [`Request`]: one store changeset, encoded as the
//! `flotilla.v1.Changeset` protobuf message (field numbers are forever, so managers of different
//! versions read each other's logs). In human-readable serde formats (the JSON envelopes of the
//! log store and the Raft RPCs) those bytes travel as base64.

use base64::Engine;
use flotilla_model::Version;
use flotilla_state::{Changeset, StoreError};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A Raft member id. Never reused within a cluster.
pub type RaftId = u64;

openraft::declare_raft_types!(
    /// flotilla's Raft types.
    pub TypeConfig:
        D = Request,
        R = Response,
        NodeId = RaftId,
        Node = openraft::BasicNode,
);

/// Log entry alias.
pub type Entry = openraft::type_config::alias::EntryOf<TypeConfig>;
/// Log id alias.
pub type LogId = openraft::type_config::alias::LogIdOf<TypeConfig>;
/// Vote alias.
pub type Vote = openraft::type_config::alias::VoteOf<TypeConfig>;
/// Stored membership alias.
pub type StoredMembership = openraft::type_config::alias::StoredMembershipOf<TypeConfig>;
/// Snapshot meta alias.
pub type SnapshotMeta = openraft::type_config::alias::SnapshotMetaOf<TypeConfig>;

/// A proposed write: one changeset.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The changes.
    pub changeset: Changeset,
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "changeset({} changes)", self.changeset.changes.len())
    }
}

impl Serialize for Request {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let bytes = crate::codec::encode_changeset(&self.changeset);
        if s.is_human_readable() {
            s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
        } else {
            s.serialize_bytes(&bytes)
        }
    }
}

impl<'de> Deserialize<'de> for Request {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let bytes: Vec<u8> = if d.is_human_readable() {
            let s = String::deserialize(d)?;
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(D::Error::custom)?
        } else {
            serde_bytes_vec(d)?
        };
        let changeset = crate::codec::decode_changeset(&bytes).map_err(D::Error::custom)?;
        Ok(Request { changeset })
    }
}

fn serde_bytes_vec<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("bytes")
        }
        fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }
        fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut out = Vec::new();
            while let Some(b) = seq.next_element::<u8>()? {
                out.push(b);
            }
            Ok(out)
        }
    }
    d.deserialize_byte_buf(V)
}

/// The result of applying one entry.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Response {
    /// For a changeset: the commit version, or why it was refused. `None` for blank and
    /// membership entries.
    pub result: Option<Result<Version, StoreError>>,
}
