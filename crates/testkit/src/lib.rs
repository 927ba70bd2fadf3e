//! Test kit for flotilla: a [`Lab`] of real `flotilla daemon` processes, each in a network
//! namespace of its own, joined by a bridge in a namespace of its own, with helpers to start,
//! kill, stop and partition nodes and to drive them through the CLI.
//!
//! Everything here needs root (namespaces, veths, nftables) and the programs `ip`, `nsenter`
//! and `nft`; without them [`Lab::new`] fails with a [`LabError`] that says what is missing.

mod binary;
mod cmd;
mod error;
mod lab;

pub use binary::{binary, try_binary};
pub use error::LabError;
pub use lab::{Lab, LabConfig};
