//! One module per command family; each owns its clap arguments and how they run. [`kv`] holds
//! the `KEY=VALUE` parsing (and label edits) several families share.

pub mod container;
pub mod image;
pub mod info;
pub mod kv;
pub mod node;
pub mod service;
pub mod session;
pub mod swarm;

use crate::error::CliError;

/// Ends a command that worked through several objects (`service rm a b c`): like Docker, every
/// failure but the last is reported on standard error as it goes, and the last one is returned
/// so the process exits non-zero.
pub fn finish(errors: Vec<CliError>) -> Result<(), CliError> {
    let mut errors = errors.into_iter().peekable();
    while let Some(e) = errors.next() {
        if errors.peek().is_none() {
            return Err(e);
        }
        eprintln!("{e}");
    }
    Ok(())
}
