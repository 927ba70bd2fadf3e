//! `flotilla-container-init`: the container helper as a stand-alone binary, for the integration
//! tests (a test binary cannot re-exec itself as the helper). The daemon routes its own hidden
//! subcommand to the same [`flotilla_container::helper_main`].
//!
//! Usage: `flotilla-container-init __container-init <state dir>/config.json`.

use std::path::PathBuf;

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    match args.as_slice() {
        [_, sub, config] if sub.as_os_str() == flotilla_container::HELPER_SUBCOMMAND => {
            flotilla_container::helper_main(&PathBuf::from(config))
        }
        _ => {
            eprintln!(
                "usage: flotilla-container-init {} <state dir>/config.json",
                flotilla_container::HELPER_SUBCOMMAND
            );
            std::process::exit(2);
        }
    }
}
