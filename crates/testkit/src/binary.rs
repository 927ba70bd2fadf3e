//! Finding the `flotilla` binary that tests start as daemons and use as the CLI.

use crate::error::LabError;
use std::path::PathBuf;

/// What to do when the binary is missing.
const HINT: &str = "build it first: cargo build -p flotilla-daemon (or set FLOTILLA_BIN)";

/// Finds the `flotilla` binary for tests.
///
/// `FLOTILLA_BIN` wins if set (and must name a file). Otherwise the binary is looked for beside
/// the running test executable (`target/debug/deps/x` → `target/debug/flotilla`), then in
/// `$CARGO_TARGET_DIR/debug/`, then in the workspace's `target/debug/`.
pub fn try_binary() -> Result<PathBuf, LabError> {
    if let Some(p) = std::env::var_os("FLOTILLA_BIN") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(LabError::BinaryMissing {
                path: p,
                hint: "FLOTILLA_BIN names no file".to_owned(),
            })
        };
    }

    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        let dir = if dir.file_name().is_some_and(|n| n == "deps") {
            dir.parent().unwrap_or(dir)
        } else {
            dir
        };
        candidates.push(dir.join("flotilla"));
    }
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(PathBuf::from(t).join("debug").join("flotilla"));
    }
    // crates/testkit → the workspace root.
    candidates.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/flotilla"));

    if let Some(found) = candidates.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    let tried = candidates
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    Err(LabError::BinaryMissing {
        path: candidates.pop().unwrap_or_default(),
        hint: format!("tried {tried}; {HINT}"),
    })
}

/// Like [`try_binary`], for tests that cannot go on without the binary.
///
/// # Panics
///
/// If the binary is not found, with a message saying where it was looked for and how to build it.
pub fn binary() -> PathBuf {
    match try_binary() {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}
