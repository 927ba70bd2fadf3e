//! flotilla's own container runtime: no runc, no containerd. It turns a [`ContainerConfig`]
//! (root filesystem, command, user, limits, mounts, hardening) into a running, isolated process,
//! keeps it alive across daemon restarts, and records how it ended.
//!
//! How it runs (research note `crates.md` §7): the daemon, a multi-threaded tokio process, never
//! forks to run Rust code. [`Runtime::create_and_start`] writes `<state root>/<id>/config.json`
//! and spawns the daemon's own binary with a hidden subcommand ([`HELPER_SUBCOMMAND`]), routed to
//! [`helper_main`]. That fresh, single-threaded helper forks a per-container shim, which creates
//! the cgroup and forks the container's PID 1 into new pid, mount, uts, ipc, net and cgroup
//! namespaces; PID 1 builds its filesystem, `pivot_root`s, masks `/proc` and `/sys` paths, sets
//! hostname and rlimits, installs a seccomp filter, drops to Docker's capability set with
//! `no_new_privs`, switches user and `execve`s. The shim stays outside the container: it reads
//! the container's stdout and stderr (pipes, or a terminal with [`ContainerConfig::tty`]) into a
//! rotated log in the CRI format ([`logs`]), serves `<state dir>/attach.sock` to clients that
//! want the output live or send stdin and terminal sizes ([`attach`]; with `tty` or
//! [`ContainerConfig::open_stdin`]), waits for PID 1 and writes `exit.json` (exit code or
//! signal, OOM kill). [`Runtime::exec`] runs another command in a running container through a
//! second hidden subcommand ([`EXEC_SUBCOMMAND`], [`exec_main`]): it joins the container's
//! cgroup and namespaces and gets PID 1's hardening. See [`init`] for the sequence, [`exec`]
//! for `exec`, the `mounts` module for the filesystem and the device policy (every filesystem
//! `nodev` but the six default device nodes, in place of a device cgroup), [`seccomp`] for what
//! the filter denies, and [`state`] for the files of a state directory.
//!
//! What this crate owns: the container's cgroup (through `flotilla-cgroups`), namespaces, mounts,
//! hardening, the shim, stdio (logs with rotation, terminals, attach), `exec`, exit status, and
//! re-adoption ([`Runtime::list`]; a restarted daemon finds logs and attach sockets where they
//! were).
//!
//! What it does not: images (the caller unpacks layers and passes their directories, see
//! [`Rootfs::Overlay`]), networks beyond an isolated `lo` (later), `/etc/hosts`,
//! `/etc/resolv.conf` and `/etc/hostname` (the caller adds them as bind [`Mount`]s), health
//! checks themselves (the daemon runs them with [`Runtime::exec`]), the client side of attach
//! beyond the frame codec (the CLI's loop), log drivers other than the CRI file, user
//! namespaces, and a cgroup filesystem inside the container.
//!
//! ```no_run
//! use flotilla_container::{ContainerConfig, HELPER_SUBCOMMAND, Rootfs, Runtime};
//! use std::time::Duration;
//! # fn main() -> Result<(), flotilla_container::ContainerError> {
//! let runtime = Runtime::new(
//!     "/var/lib/flotilla/containers",
//!     "flotilla-node1/containers",
//!     "/proc/self/exe",
//!     HELPER_SUBCOMMAND,
//! )?;
//! let config = ContainerConfig::new(
//!     "3f2a9c",
//!     Rootfs::Directory { path: "/srv/rootfs".into() },
//!     vec!["echo".into(), "hi".into()],
//! );
//! let mut container = runtime.create_and_start(config)?;
//! let exit = container.wait_exit(Duration::from_secs(10))?;
//! println!("{exit:?}, log in {}", container.log_path().display());
//! container.delete()?;
//! # Ok(())
//! # }
//! ```
//!
//! The daemon's `main` must route `<exe> __container-init <config.json>` to [`helper_main`] and
//! `<exe> __container-exec <exec.json>` to [`exec_main`] before it starts any thread (before
//! building the tokio runtime): both fork, and the exec helper joins namespaces, which a
//! multi-threaded process cannot. Their paths are the only arguments.

pub mod attach;
mod caps;
pub mod config;
mod error;
pub mod exec;
pub mod init;
pub mod logs;
mod mounts;
mod netlink;
mod pump;
pub mod runtime;
pub mod seccomp;
pub mod state;
mod sys;

pub use caps::{number as capability_number, parse as capability_mask};
pub use config::{
    ContainerConfig, DEFAULT_CAPABILITIES, DEFAULT_LOG_MAX_FILES, DEFAULT_LOG_MAX_SIZE,
    DEFAULT_MASKED_PATHS, DEFAULT_PATH, DEFAULT_READONLY_PATHS, ExecConfig, LogConfig, Mount,
    Namespaces, Resources, Rlimit, Rootfs, User,
};
pub use error::{ContainerError, Result};
pub use exec::{EXEC_SUBCOMMAND, exec_main};
#[doc(hidden)]
pub use init::{CLONE_CHECK_SUBCOMMAND, clone_into_cgroup_check};
pub use init::{HELPER_SUBCOMMAND, helper_main};
pub use logs::{LogFollower, LogRecord, Stream, read_logs};
pub use runtime::{Container, DEFAULT_START_TIMEOUT, KILL_WAIT, Runtime, Status};
pub use state::{ExitStatus, ProcState};
