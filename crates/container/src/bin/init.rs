//! `flotilla-container-init`: the container helper and the exec helper as a stand-alone binary,
//! for the integration tests (a test binary cannot re-exec itself as a helper). The daemon routes
//! its own hidden subcommands to the same [`flotilla_container::helper_main`] and
//! [`flotilla_container::exec_main`].
//!
//! Usage: `flotilla-container-init __container-init <state dir>/config.json` or
//! `flotilla-container-init __container-exec <state dir>/exec-<pid>-<n>.json`.

use std::path::PathBuf;

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    match args.as_slice() {
        [_, sub, config] if sub.as_os_str() == flotilla_container::HELPER_SUBCOMMAND => {
            flotilla_container::helper_main(&PathBuf::from(config))
        }
        [_, sub, request] if sub.as_os_str() == flotilla_container::EXEC_SUBCOMMAND => {
            flotilla_container::exec_main(&PathBuf::from(request))
        }
        // For the tests only: the clone3(CLONE_INTO_CGROUP) path of cgroup v2 hosts.
        [_, sub, dir] if sub.as_os_str() == flotilla_container::CLONE_CHECK_SUBCOMMAND => {
            match flotilla_container::clone_into_cgroup_check(std::path::Path::new(dir)) {
                Ok(Some(cgroup)) => println!("{cgroup}"),
                Ok(None) => {
                    eprintln!("clone3(CLONE_INTO_CGROUP) is not supported by this kernel");
                    std::process::exit(3);
                }
                Err(e) => {
                    eprintln!("{e}");
                    std::process::exit(1);
                }
            }
        }
        _ => {
            eprintln!(
                "usage: flotilla-container-init {} <state dir>/config.json\n       \
                 flotilla-container-init {} <state dir>/exec-<pid>-<n>.json",
                flotilla_container::HELPER_SUBCOMMAND,
                flotilla_container::EXEC_SUBCOMMAND
            );
            std::process::exit(2);
        }
    }
}
