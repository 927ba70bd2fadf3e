//! Resource limits of a container's cgroup, and the conversions between Docker/OCI values and what
//! the cgroup files take.
//!
//! The values follow Docker and the OCI runtime spec, as runc applies them: a field that is `None`
//! (or zero, as runc treats zero) leaves the cgroup's current value alone; on a new cgroup that is
//! the kernel's default, no limit.

use oci_spec::runtime::LinuxResources;

/// The default CFS period, in microseconds, as Docker uses for `--cpus`.
pub const DEFAULT_CPU_PERIOD_US: u64 = 100_000;

/// Resource limits for one container's cgroup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Memory limit in bytes (v1 `memory.limit_in_bytes`, v2 `memory.max`). `None` or 0: unchanged.
    pub memory_bytes: Option<u64>,
    /// Memory **plus swap** limit in bytes, as Docker's `--memory-swap` and OCI `memory.swap`:
    /// at least `memory_bytes`; -1 for unlimited swap; `None` or 0: unchanged.
    ///
    /// v1 writes it to `memory.memsw.limit_in_bytes`; v2 writes the difference with the memory limit
    /// to `memory.swap.max` (runc's conversion). Where the kernel does no swap accounting the file is
    /// missing and the value is skipped with a warning, as Docker does. Docker itself defaults it to
    /// twice the memory limit when only the memory limit is given; that policy belongs to the caller.
    pub memory_swap_bytes: Option<i64>,
    /// CFS quota in microseconds per period (v1 `cpu.cfs_quota_us`, v2 first field of `cpu.max`).
    /// Negative: unlimited. `None` or 0: unchanged.
    pub cpu_quota_us: Option<i64>,
    /// CFS period in microseconds (v1 `cpu.cfs_period_us`, v2 second field of `cpu.max`).
    /// `None` or 0: unchanged.
    pub cpu_period_us: Option<u64>,
    /// CPU shares, v1 style (`cpu.shares`, default 1024). On v2 converted to `cpu.weight` by
    /// [`shares_to_weight`]. `None` or 0: unchanged.
    pub cpu_shares: Option<u64>,
    /// Maximum number of tasks (`pids.max`). Negative: unlimited. `None` or 0: unchanged.
    pub pids_max: Option<i64>,
}

impl Limits {
    /// Converts Docker's `--cpus` / `NanoCPUs` (10⁹ = one CPU) into `(quota_us, period_us)` the way
    /// Docker does: period 100000 µs, quota = nano × period / 10⁹.
    ///
    /// The kernel refuses quotas below 1000 µs, i.e. fewer than 0.01 CPU.
    pub fn from_nano_cpus(nano: u64) -> (i64, u64) {
        let period = DEFAULT_CPU_PERIOD_US;
        let quota = u128::from(nano) * u128::from(period) / 1_000_000_000;
        (i64::try_from(quota).unwrap_or(i64::MAX), period)
    }

    /// Sets `cpu_quota_us` and `cpu_period_us` from Docker's `NanoCPUs` (see [`Limits::from_nano_cpus`]).
    pub fn with_nano_cpus(mut self, nano: u64) -> Self {
        let (quota, period) = Self::from_nano_cpus(nano);
        self.cpu_quota_us = Some(quota);
        self.cpu_period_us = Some(period);
        self
    }

    /// Whether no limit is set at all.
    pub fn is_empty(&self) -> bool {
        self.memory_bytes.unwrap_or(0) == 0
            && self.memory_swap_bytes.unwrap_or(0) == 0
            && self.cpu_quota_us.unwrap_or(0) == 0
            && self.cpu_period_us.unwrap_or(0) == 0
            && self.cpu_shares.unwrap_or(0) == 0
            && self.pids_max.unwrap_or(0) == 0
    }

    /// The non-zero memory limit, if any.
    pub(crate) fn memory(&self) -> Option<u64> {
        self.memory_bytes.filter(|&m| m != 0)
    }

    /// The non-zero memory+swap limit, if any.
    pub(crate) fn memory_swap(&self) -> Option<i64> {
        self.memory_swap_bytes.filter(|&s| s != 0)
    }

    /// The non-zero CFS quota, if any.
    pub(crate) fn cpu_quota(&self) -> Option<i64> {
        self.cpu_quota_us.filter(|&q| q != 0)
    }

    /// The non-zero CFS period, if any.
    pub(crate) fn cpu_period(&self) -> Option<u64> {
        self.cpu_period_us.filter(|&p| p != 0)
    }

    /// The non-zero shares, if any.
    pub(crate) fn cpu_shares(&self) -> Option<u64> {
        self.cpu_shares.filter(|&s| s != 0)
    }

    /// The non-zero pids limit, if any.
    pub(crate) fn pids(&self) -> Option<i64> {
        self.pids_max.filter(|&p| p != 0)
    }
}

impl From<&LinuxResources> for Limits {
    /// Takes the memory, cpu and pids parts of an OCI spec's `linux.resources`; the rest (devices,
    /// block I/O, hugetlb, network, rdma, unified) is not handled by this crate.
    ///
    /// A memory limit of -1 (unlimited in OCI) becomes `None`, which on a new cgroup is the same.
    fn from(resources: &LinuxResources) -> Self {
        let memory = resources.memory().as_ref();
        let cpu = resources.cpu().as_ref();
        Limits {
            memory_bytes: memory
                .and_then(|m| m.limit())
                .and_then(|l| u64::try_from(l).ok())
                .filter(|&l| l > 0),
            memory_swap_bytes: memory.and_then(|m| m.swap()).filter(|&s| s != 0),
            cpu_quota_us: cpu.and_then(|c| c.quota()).filter(|&q| q != 0),
            cpu_period_us: cpu.and_then(|c| c.period()).filter(|&p| p != 0),
            cpu_shares: cpu.and_then(|c| c.shares()).filter(|&s| s != 0),
            pids_max: resources
                .pids()
                .as_ref()
                .map(|p| p.limit())
                .filter(|&l| l != 0),
        }
    }
}

/// Converts v1 CPU shares (2..=262144, default 1024) to v2 `cpu.weight` (1..=10000, default 100)
/// with runc's linear formula `1 + ((shares - 2) * 9999) / 262142`. Shares outside the v1 range are
/// clamped first, as the v1 kernel does.
pub fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

/// Converts Docker/OCI memory+swap (`memory_swap`) to the value of v2 `memory.swap.max`, which
/// limits swap alone. `memory` is the memory limit in force (`None`: unlimited). runc's rules:
/// -1 is `max`; otherwise a memory limit is required and memory+swap must not be below it.
pub(crate) fn swap_max_v2(memory_swap: i64, memory: Option<u64>) -> Result<String, String> {
    if memory_swap < 0 {
        return Ok("max".to_owned());
    }
    let Some(memory) = memory else {
        return Err("a memory+swap limit needs a memory limit".to_owned());
    };
    let memory_swap = memory_swap.unsigned_abs();
    if memory_swap < memory {
        return Err(format!(
            "memory+swap limit {memory_swap} is below the memory limit {memory}"
        ));
    }
    Ok((memory_swap - memory).to_string())
}

/// The value for `pids.max` (v1 and v2): a negative limit is `max`.
pub(crate) fn pids_max_value(pids: i64) -> String {
    if pids < 0 {
        "max".to_owned()
    } else {
        pids.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{
        LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResourcesBuilder,
    };

    #[test]
    fn shares_to_weight_matches_runc() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(512), 20);
        assert_eq!(shares_to_weight(2048), 79);
        // Clamped, no underflow.
        assert_eq!(shares_to_weight(1), 1);
        assert_eq!(shares_to_weight(1_000_000), 10_000);
    }

    #[test]
    fn nano_cpus_like_docker() {
        assert_eq!(Limits::from_nano_cpus(1_000_000_000), (100_000, 100_000));
        assert_eq!(Limits::from_nano_cpus(1_500_000_000), (150_000, 100_000));
        assert_eq!(Limits::from_nano_cpus(10_000_000), (1_000, 100_000));
        assert_eq!(Limits::from_nano_cpus(250_000_000), (25_000, 100_000));
        assert_eq!(Limits::from_nano_cpus(u64::MAX).1, 100_000);
        let limits = Limits::default().with_nano_cpus(2_000_000_000);
        assert_eq!(limits.cpu_quota_us, Some(200_000));
        assert_eq!(limits.cpu_period_us, Some(100_000));
    }

    #[test]
    fn swap_conversion_v2() {
        let mib = 1024 * 1024;
        assert_eq!(swap_max_v2(-1, None), Ok("max".to_owned()));
        assert_eq!(swap_max_v2(-1, Some(64 * mib)), Ok("max".to_owned()));
        assert_eq!(
            swap_max_v2(128 * mib as i64, Some(64 * mib)),
            Ok((64 * mib).to_string())
        );
        assert_eq!(
            swap_max_v2(64 * mib as i64, Some(64 * mib)),
            Ok("0".to_owned())
        );
        assert!(swap_max_v2(32 * mib as i64, Some(64 * mib)).is_err());
        assert!(swap_max_v2(64 * mib as i64, None).is_err());
    }

    #[test]
    fn pids_values() {
        assert_eq!(pids_max_value(16), "16");
        assert_eq!(pids_max_value(-1), "max");
    }

    #[test]
    fn zero_means_unchanged() {
        let limits = Limits {
            memory_bytes: Some(0),
            memory_swap_bytes: Some(0),
            cpu_quota_us: Some(0),
            cpu_period_us: Some(0),
            cpu_shares: Some(0),
            pids_max: Some(0),
        };
        assert!(limits.is_empty());
        assert_eq!(limits.memory(), None);
        assert_eq!(limits.pids(), None);
        assert!(
            !Limits {
                pids_max: Some(16),
                ..Limits::default()
            }
            .is_empty()
        );
    }

    #[test]
    fn from_oci_resources() {
        let resources = LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(64_i64 << 20)
                    .swap(128_i64 << 20)
                    .build()
                    .expect("memory"),
            )
            .cpu(
                LinuxCpuBuilder::default()
                    .shares(512_u64)
                    .quota(50_000_i64)
                    .period(100_000_u64)
                    .build()
                    .expect("cpu"),
            )
            .pids(
                LinuxPidsBuilder::default()
                    .limit(16_i64)
                    .build()
                    .expect("pids"),
            )
            .build()
            .expect("resources");
        let limits = Limits::from(&resources);
        assert_eq!(
            limits,
            Limits {
                memory_bytes: Some(64 << 20),
                memory_swap_bytes: Some(128 << 20),
                cpu_quota_us: Some(50_000),
                cpu_period_us: Some(100_000),
                cpu_shares: Some(512),
                pids_max: Some(16),
            }
        );

        let unlimited = LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(-1_i64)
                    .build()
                    .expect("memory"),
            )
            .build()
            .expect("resources");
        assert_eq!(Limits::from(&unlimited), Limits::default());
    }
}
