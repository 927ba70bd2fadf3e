//! The cluster's desired state: indexed tables, transactions, changesets and watches.
//!
//! Every manager holds the whole state in memory as [`Tables`]. Writers describe what they want
//! in a [`WriteTx`]; the transaction becomes a [`Changeset`] whose every change carries the object
//! version it was based on, and [`Tables::apply`] commits it all-or-nothing, refusing any change
//! based on a stale version. A [`Store`] decides *how* a changeset reaches the tables: directly
//! ([`MemStore`]) or through a replicated log (the `raft` crate's `RaftStore`); both commit through
//! the same [`StoreCore`], so watchers see the same [`Commit`] stream either way.
//!
//! Layout:
//! - [`tables`]: the indexed tables and the all-or-nothing apply of a changeset.
//! - [`tx`]: read views ([`ReadTx`]) and write transactions ([`WriteTx`]).
//! - [`changeset`]: changes, changesets and commit events.
//! - [`core`]: committed tables plus the watch fan-out shared by every `Store`.
//! - [`store`]: the [`Store`] trait and [`MemStore`].
//! - [`conformance`]: the suite every `Store` implementation must pass.

pub mod changeset;
pub mod conformance;
pub mod core;
pub mod error;
pub mod store;
pub mod tables;
pub mod tx;

pub use changeset::{Change, Changeset, Commit, Event};
pub use core::{StoreCore, Watch};
pub use error::StoreError;
pub use store::{MemStore, Store};
pub use tables::Tables;
pub use tx::{ReadTx, WriteTx};
