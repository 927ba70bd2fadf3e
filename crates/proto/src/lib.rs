//! The wire layer: generated gRPC code and the conversions between it and the domain model.
//!
//! This crate owns everything protobuf. [`pb`] holds the messages and the tonic clients and
//! servers generated at build time from `proto/flotilla/v1/*.proto` (`objects.proto`: the
//! model; `control.proto`: the `Control` cluster API and the node-local `Swarm` API;
//! `raft.proto`: the `Raft` transport and the replicated log/snapshot encodings).
//!
//! [`convert`] maps model types to and from their messages, one file per message family
//! (services, tasks, nodes, cluster, networks, secrets and configs, objects). Model to wire is
//! infallible (`From`); wire to model is checked (`TryFrom`, failing with a [`ConvertError`]
//! that names the offending field, such as `spec.mode` or `status.state`).

pub mod convert;

pub use convert::ConvertError;

/// Messages, enums, clients and servers generated from `proto/flotilla/v1/*.proto`.
#[allow(
    missing_docs,
    unreachable_pub,
    clippy::all,
    clippy::pedantic,
    clippy::nursery,
    clippy::unwrap_used
)]
pub mod pb {
    tonic::include_proto!("flotilla.v1");
}
