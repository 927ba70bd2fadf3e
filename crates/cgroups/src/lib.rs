//! cgroup v1 and v2 drivers for flotilla's container runtime: create a container's cgroup, set its
//! limits (memory, memory+swap, CPU quota/period/shares or weight, pids), read its usage and OOM
//! kills, freeze and thaw it, kill everything in it, and delete it.
//!
//! The host decides the hierarchy ([`detect`]): unified v2 (production distributions), legacy v1,
//! or hybrid (v1 controllers plus a controller-less `cgroup2` at `/sys/fs/cgroup/unified`), where
//! the v1 controllers are used. A container's cgroup lives at `<parent>/<name>` in every hierarchy
//! used: the unified one on v2; memory, cpu, cpuacct, pids, freezer and, when mounted, devices on
//! v1 (cpuset is avoided, so nothing needs copying from the parent).
//!
//! Everything is done with plain reads and writes of the cgroup files, found from
//! `/proc/self/mountinfo`. `libcgroups` 0.7 was read and not wrapped: its v2 manager only creates
//! a cgroup when the first pid is added (no empty cgroup with limits to `CLONE_INTO_CGROUP` into)
//! and ignores failures to enable controllers; its v1 manager joins every mounted controller
//! (devices, blkio, cpuset, net_cls, ...); its stats fail where the swap accounting files
//! (`memory.memsw.*`, `memory.swap.*`) are absent; it has no OOM-kill count, no bounded
//! kill-until-empty, and `remove` retries for only ~0.1 s.
//! The few files flotilla needs are simpler to write directly than to work around.
//!
//! ```no_run
//! use flotilla_cgroups::{Cgroup, Limits};
//! # fn main() -> Result<(), flotilla_cgroups::CgroupError> {
//! let limits = Limits { memory_bytes: Some(64 << 20), pids_max: Some(16), ..Limits::default() }
//!     .with_nano_cpus(500_000_000);
//! let cgroup = Cgroup::create("flotilla-node1/containers", "3f2a", &limits)?;
//! cgroup.add_pid(4242)?;
//! // ... later
//! cgroup.kill_all()?;
//! cgroup.delete()?;
//! # Ok(())
//! # }
//! ```

mod cgroup;
mod error;
mod format;
mod fsio;
mod limits;
mod mountinfo;
mod stats;
mod v1;
mod v2;

pub use cgroup::{Cgroup, DELETE_TIMEOUT, FREEZE_TIMEOUT, KILL_TIMEOUT, remove_tree};
pub use error::{CgroupError, Result};
pub use limits::{DEFAULT_CPU_PERIOD_US, Limits, shares_to_weight};
pub use stats::Stats;

use std::fmt;
use std::path::Path;

/// How the cgroup filesystems of this host are organised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hierarchy {
    /// Legacy: one v1 hierarchy per controller (or co-mounted group), no unified hierarchy.
    V1,
    /// Unified: a single `cgroup2` hierarchy at `/sys/fs/cgroup`.
    V2,
    /// v1 controller hierarchies plus a `cgroup2` hierarchy without the controllers flotilla needs;
    /// the v1 controllers are used.
    Hybrid,
}

impl fmt::Display for Hierarchy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Hierarchy::V1 => "v1",
            Hierarchy::V2 => "v2",
            Hierarchy::Hybrid => "hybrid",
        })
    }
}

/// Detects the cgroup hierarchy of this host from `/proc/self/mountinfo`.
pub fn detect() -> Result<Hierarchy> {
    mountinfo::Mounts::read()?
        .hierarchy()
        .ok_or_else(|| CgroupError::NoCgroupFs {
            path: mountinfo::MOUNTINFO.into(),
        })
}

/// Whether the kernel supports cgroup namespaces (`/proc/self/ns/cgroup` exists, kernel ≥ 4.6).
pub fn cgroup_namespace_supported() -> bool {
    Path::new("/proc/self/ns/cgroup").exists()
}
