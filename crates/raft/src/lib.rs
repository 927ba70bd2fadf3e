//! The replicated store: openraft wired to redb, the store's state machine and a gRPC transport.
//!
//! This is the only crate that names openraft. Outside it, the cluster state is a
//! [`RaftStore`], which implements `flotilla_state::Store`; a manager's Raft member is a
//! [`RaftNode`], opened from a data directory.
//!
//! Layout:
//! - [`types`]: the openraft type configuration; log entries carry protobuf changesets.
//! - [`log_store`]: the durable log and vote in redb, fsynced before openraft hears of it.
//! - [`state_machine`]: applies changesets at their log index; snapshots as files.
//! - [`codec`]: protobuf encodings of changesets and snapshots.
//! - [`network`]: the transport client, one cached channel per peer, security injected.
//! - [`server`]: the `flotilla.v1.Raft` gRPC service.
//! - [`store`]: [`RaftStore`], with forwarding to the leader and linearizable reads.
//! - [`node`]: [`RaftNode`], assembly and membership changes.

pub mod codec;
pub mod error;
#[cfg(feature = "insecure-plaintext")]
pub mod local_group;
pub mod log_store;
pub mod network;
pub mod node;
pub mod server;
pub mod state_machine;
pub mod store;
pub mod types;

pub use error::RaftError;
pub use network::{Channels, Connector};
pub use node::{RaftConfig, RaftNode};
pub use store::RaftStore;
pub use types::{RaftId, TypeConfig};

/// The openraft handle with our state machine.
pub type Raft = openraft::Raft<TypeConfig, state_machine::StateMachine>;
