//! The node's container engine: containers made from images, as `flotilla container …` and
//! the cluster's executor use them.
//!
//! [`Engine`] joins the image store (`flotilla-image`) and the runtime (`flotilla-container`):
//! it resolves the image's entrypoint, command, environment, working directory, user and stop
//! signal under the request's overrides ([`RunSpec`], Docker's `run` flags), gives each
//! container an overlay of the image's layers with its own writable layer, its `/etc/hosts`,
//! `/etc/hostname` and `/etc/resolv.conf`, bind and named volumes and tmpfs mounts, and keeps a
//! record of it ([`ContainerRecord`]) so names, states (created, running, paused, exited,
//! dead) and exit codes survive the daemon's restarts. Records are written before a container
//! starts; a runtime container without a record (a crash in between) is removed at open.
//!
//! In the runtime a container is named by the first [`record::RUNTIME_ID_LEN`] characters of
//! its id (state directory, attach socket, cgroup), so that its sockets fit a Unix socket
//! address. [`Engine::exec`] runs another command in a running container ([`exec`]), and
//! [`Engine::probe_health`] / [`Engine::record_health`] run and record Docker-style health
//! checks ([`health`]); the daemon drives them.

mod engine;
mod error;
pub mod exec;
pub mod health;
mod names;
pub mod record;
pub mod spec;
mod user;

pub use engine::{ContainerInfo, Engine, State, human_duration};
pub use error::{EngineError, Result};
pub use exec::{ExecSession, ExecSpec};
pub use health::{Health, HealthConfig, HealthResult, HealthStatus};
pub use record::ContainerRecord;
pub use spec::{RunSpec, parse_signal, parse_size};
