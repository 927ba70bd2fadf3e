//! The v1 controller hierarchies (legacy and hybrid hosts): one directory per controller, and the
//! limits, stats, OOM kills and freezer as reads and writes of their files.
//!
//! Files used: memory (`memory.limit_in_bytes`, `memory.memsw.limit_in_bytes` when the kernel does
//! swap accounting, `memory.usage_in_bytes`, `memory.stat`, `memory.oom_control`, `memory.failcnt`),
//! cpu (`cpu.cfs_quota_us`, `cpu.cfs_period_us`, `cpu.shares`), cpuacct (`cpuacct.usage`), pids
//! (`pids.max`, `pids.current`), freezer (`freezer.state`), devices (`devices.deny`,
//! `devices.allow`: Docker's allow-list), and `cgroup.procs` and `tasks` in each.

use crate::error::{CgroupError, Result};
use crate::format::{self, FreezerState};
use crate::fsio;
use crate::limits::{Limits, pids_max_value};
use crate::stats::Stats;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `EINVAL`, which the kernel returns for a CFS period that does not fit the quota in force.
const EINVAL: i32 = nix::errno::Errno::EINVAL as i32;

/// The directories of one cgroup, one per v1 controller used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dirs {
    /// In the memory hierarchy.
    pub(crate) memory: PathBuf,
    /// In the cpu hierarchy.
    pub(crate) cpu: PathBuf,
    /// In the cpuacct hierarchy (the same as `cpu` when they are co-mounted).
    pub(crate) cpuacct: PathBuf,
    /// In the pids hierarchy.
    pub(crate) pids: PathBuf,
    /// In the freezer hierarchy.
    pub(crate) freezer: PathBuf,
    /// In the devices hierarchy, when it is mounted (and, for a cgroup opened again, when the
    /// cgroup has a directory there).
    pub(crate) devices: Option<PathBuf>,
}

impl Dirs {
    /// The directories without duplicates, memory first.
    pub(crate) fn distinct(&self) -> Vec<&Path> {
        let mut out: Vec<&Path> = Vec::with_capacity(6);
        for dir in [
            &self.memory,
            &self.cpu,
            &self.cpuacct,
            &self.pids,
            &self.freezer,
        ]
        .into_iter()
        .chain(self.devices.as_ref())
        {
            if !out.contains(&dir.as_path()) {
                out.push(dir.as_path());
            }
        }
        out
    }
}

/// The devices a container may use, as runc's and Docker's defaults have them: any character or
/// block device may be created (`m`), and read and written (`rw`) are only `/dev/null`,
/// `/dev/zero`, `/dev/full`, `/dev/random`, `/dev/urandom`, `/dev/tty`, `/dev/console`,
/// `/dev/ptmx` and the terminals of `/dev/pts`.
pub(crate) const ALLOWED_DEVICES: [&str; 11] = [
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:1 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
];

/// Denies every device, then allows [`ALLOWED_DEVICES`] (`devices.deny`, `devices.allow`). The
/// cgroup must have no child yet (the kernel refuses a deny-all above children).
pub(crate) fn restrict_devices(dir: &Path) -> Result<()> {
    fsio::write(&dir.join("devices.deny"), "a")?;
    for rule in ALLOWED_DEVICES {
        fsio::write(&dir.join("devices.allow"), rule)?;
    }
    Ok(())
}

/// Writes `limits`. Every value is checked before the first write, so an invalid combination
/// changes nothing.
pub(crate) fn apply_limits(dirs: &Dirs, limits: &Limits) -> Result<()> {
    let memory_plan = plan_memory(&dirs.memory, limits)?;
    for (file, value) in memory_plan {
        fsio::write(&dirs.memory.join(file), &value)?;
    }
    apply_cpu(&dirs.cpu, limits)?;
    if let Some(pids) = limits.pids() {
        fsio::write(&dirs.pids.join("pids.max"), &pids_max_value(pids))?;
    }
    Ok(())
}

/// The writes to the memory cgroup, in an order the kernel accepts: it insists that
/// `memory.limit_in_bytes <= memory.memsw.limit_in_bytes` after every write, so memory+swap goes
/// first when it is at least the memory limit in force, last otherwise.
fn plan_memory(dir: &Path, limits: &Limits) -> Result<Vec<(&'static str, String)>> {
    let memory = limits.memory();
    let Some(memory_swap) = limits.memory_swap() else {
        return Ok(memory
            .map(|m| vec![("memory.limit_in_bytes", m.to_string())])
            .unwrap_or_default());
    };
    if !dir.join("memory.memsw.limit_in_bytes").exists() {
        tracing::warn!(
            dir = %dir.display(),
            memory_swap,
            "the kernel does no swap accounting (no memory.memsw.limit_in_bytes): memory+swap limit ignored"
        );
        return Ok(memory
            .map(|m| vec![("memory.limit_in_bytes", m.to_string())])
            .unwrap_or_default());
    }
    let invalid = |reason: String| CgroupError::InvalidLimits {
        path: dir.to_path_buf(),
        reason,
    };
    let current = fsio::read_parsed(&dir.join("memory.limit_in_bytes"), format::single_u64)?;
    let swap_value = if memory_swap < 0 {
        "-1".to_owned()
    } else {
        let swap = memory_swap.unsigned_abs();
        match memory {
            Some(m) if swap < m => {
                return Err(invalid(format!(
                    "memory+swap limit {swap} is below the memory limit {m}"
                )));
            }
            None if swap < current => {
                return Err(invalid(format!(
                    "memory+swap limit {swap} is below the memory limit in force {current}"
                )));
            }
            _ => {}
        }
        swap.to_string()
    };
    let swap_first = memory_swap < 0 || memory_swap.unsigned_abs() >= current;
    let mut plan = Vec::with_capacity(2);
    let memory_write = memory.map(|m| ("memory.limit_in_bytes", m.to_string()));
    let swap_write = ("memory.memsw.limit_in_bytes", swap_value);
    if swap_first {
        plan.push(swap_write);
        plan.extend(memory_write);
    } else {
        plan.extend(memory_write);
        plan.push(swap_write);
    }
    Ok(plan)
}

/// Writes shares, period and quota as runc does: the period first, unless the kernel refuses it
/// (`EINVAL`, a new period that the old quota does not fit under the parent's), in which case it is
/// written again after the quota.
fn apply_cpu(dir: &Path, limits: &Limits) -> Result<()> {
    if let Some(shares) = limits.cpu_shares() {
        fsio::write(&dir.join("cpu.shares"), &shares.to_string())?;
    }
    let period_file = dir.join("cpu.cfs_period_us");
    let mut period_after_quota = None;
    if let Some(period) = limits.cpu_period() {
        match fsio::write(&period_file, &period.to_string()) {
            Ok(()) => {}
            Err(e) if limits.cpu_quota().is_some() && fsio::raw_os_error(&e) == Some(EINVAL) => {
                period_after_quota = Some(period);
            }
            Err(e) => return Err(e),
        }
    }
    if let Some(quota) = limits.cpu_quota() {
        let quota = if quota < 0 { -1 } else { quota };
        fsio::write(&dir.join("cpu.cfs_quota_us"), &quota.to_string())?;
        if let Some(period) = period_after_quota {
            fsio::write(&period_file, &period.to_string())?;
        }
    }
    Ok(())
}

/// Reads the usage of the cgroup.
pub(crate) fn stats(dirs: &Dirs) -> Result<Stats> {
    let memory_stat = dirs.memory.join("memory.stat");
    let inactive_file = fsio::read_parsed(&memory_stat, |text| {
        Ok(format::flat_keyed(text, "total_inactive_file")?
            .or(format::flat_keyed(text, "inactive_file")?))
    })?;
    Ok(Stats {
        memory_usage_bytes: fsio::read_parsed(
            &dirs.memory.join("memory.usage_in_bytes"),
            format::single_u64,
        )?,
        memory_limit_bytes: fsio::read_parsed(
            &dirs.memory.join("memory.limit_in_bytes"),
            format::v1_memory_limit,
        )?,
        memory_inactive_file_bytes: inactive_file.unwrap_or(0),
        cpu_usage_ns: fsio::read_parsed(&dirs.cpuacct.join("cpuacct.usage"), format::single_u64)?,
        pids_current: fsio::read_parsed(&dirs.pids.join("pids.current"), format::single_u64)?,
    })
}

/// The `oom_kill` count of `memory.oom_control` (kernel ≥ 4.13; this cgroup only, not its
/// descendants). On older kernels, the larger of `memory.failcnt` and `memory.memsw.failcnt`: how
/// many times the limit was hit, which is at least one whenever the OOM killer ran, but also counts
/// hits that reclaim resolved without killing anything.
pub(crate) fn oom_kills(memory: &Path) -> Result<u64> {
    let oom_control = memory.join("memory.oom_control");
    if let Some(kills) =
        fsio::read_parsed(&oom_control, |text| format::flat_keyed(text, "oom_kill"))?
    {
        return Ok(kills);
    }
    let failcnt = fsio::read_parsed(&memory.join("memory.failcnt"), format::single_u64)?;
    let memsw_failcnt = match fsio::read_opt(&memory.join("memory.memsw.failcnt"))? {
        Some(text) => format::single_u64(&text)
            .map_err(|reason| fsio::parse_error(&memory.join("memory.memsw.failcnt"), reason))?,
        None => 0,
    };
    Ok(failcnt.max(memsw_failcnt))
}

/// Freezes the cgroup (and its descendants) and waits until `freezer.state` shows `FROZEN`,
/// writing `FROZEN` again on every poll as runc does. If that does not happen by `deadline`, the
/// cgroup is thawed again and an error returned.
pub(crate) fn freeze(freezer: &Path, deadline: Instant) -> Result<()> {
    let started = Instant::now();
    let state = freezer.join("freezer.state");
    let mut delay = Duration::from_millis(1);
    loop {
        fsio::write(&state, "FROZEN")?;
        if fsio::read_parsed(&state, format::freezer_state)? == FreezerState::Frozen {
            return Ok(());
        }
        let now = Instant::now();
        if now >= deadline {
            if let Err(e) = thaw(freezer) {
                tracing::warn!(dir = %freezer.display(), error = %e, "cannot thaw after a failed freeze");
            }
            return Err(CgroupError::Timeout {
                path: freezer.to_path_buf(),
                operation: "freeze",
                waited: started.elapsed(),
                detail: "freezer.state stayed FREEZING; thawed again".to_owned(),
            });
        }
        std::thread::sleep(delay.min(deadline - now));
        delay = (delay * 2).min(Duration::from_millis(20));
    }
}

/// Thaws the cgroup; the kernel applies it at once.
pub(crate) fn thaw(freezer: &Path) -> Result<()> {
    fsio::write(&freezer.join("freezer.state"), "THAWED")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const UNLIMITED: &str = "9223372036854771712\n";

    fn seed(dir: &Path, files: &[(&str, &str)]) {
        fs::create_dir_all(dir).expect("mkdir");
        for (name, content) in files {
            fs::write(dir.join(name), content).expect("seed file");
        }
    }

    fn content(path: &Path) -> String {
        fs::read_to_string(path).expect("read")
    }

    fn fake(root: &Path) -> Dirs {
        let dirs = Dirs {
            memory: root.join("memory/c1"),
            cpu: root.join("cpu/c1"),
            cpuacct: root.join("cpuacct/c1"),
            pids: root.join("pids/c1"),
            freezer: root.join("freezer/c1"),
            devices: None,
        };
        seed(
            &dirs.memory,
            &[
                ("memory.limit_in_bytes", UNLIMITED),
                ("memory.memsw.limit_in_bytes", UNLIMITED),
                ("memory.usage_in_bytes", "2097152\n"),
                (
                    "memory.stat",
                    "cache 0\nrss 0\ninactive_file 4096\ntotal_cache 0\ntotal_inactive_file 8192\n",
                ),
                (
                    "memory.oom_control",
                    "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
                ),
                ("memory.failcnt", "0\n"),
            ],
        );
        seed(
            &dirs.cpu,
            &[
                ("cpu.shares", "1024\n"),
                ("cpu.cfs_quota_us", "-1\n"),
                ("cpu.cfs_period_us", "100000\n"),
            ],
        );
        seed(&dirs.cpuacct, &[("cpuacct.usage", "123456789\n")]);
        seed(
            &dirs.pids,
            &[("pids.max", "max\n"), ("pids.current", "2\n")],
        );
        seed(&dirs.freezer, &[("freezer.state", "THAWED\n")]);
        dirs
    }

    #[test]
    fn limits_are_written_in_v1_format() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dirs = fake(tmp.path());
        let limits = Limits {
            memory_bytes: Some(64 << 20),
            memory_swap_bytes: Some(64 << 20),
            cpu_quota_us: Some(150_000),
            cpu_period_us: Some(100_000),
            cpu_shares: Some(512),
            pids_max: Some(16),
        };
        apply_limits(&dirs, &limits).expect("apply");
        assert_eq!(
            content(&dirs.memory.join("memory.limit_in_bytes")),
            "67108864"
        );
        assert_eq!(
            content(&dirs.memory.join("memory.memsw.limit_in_bytes")),
            "67108864"
        );
        assert_eq!(content(&dirs.cpu.join("cpu.cfs_quota_us")), "150000");
        assert_eq!(content(&dirs.cpu.join("cpu.cfs_period_us")), "100000");
        assert_eq!(content(&dirs.cpu.join("cpu.shares")), "512");
        assert_eq!(content(&dirs.pids.join("pids.max")), "16");

        let unlimited = Limits {
            cpu_quota_us: Some(-5),
            pids_max: Some(-1),
            ..Limits::default()
        };
        apply_limits(&dirs, &unlimited).expect("apply");
        assert_eq!(content(&dirs.cpu.join("cpu.cfs_quota_us")), "-1");
        assert_eq!(content(&dirs.pids.join("pids.max")), "max");
    }

    #[test]
    fn memory_and_swap_order_follows_the_limit_in_force() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dirs = fake(tmp.path());
        let raise = Limits {
            memory_bytes: Some(256 << 20),
            memory_swap_bytes: Some(512 << 20),
            ..Limits::default()
        };
        // Unlimited in force: lowering, so memory first.
        let plan = plan_memory(&dirs.memory, &raise).expect("plan");
        assert_eq!(plan[0].0, "memory.limit_in_bytes");
        assert_eq!(
            plan[1],
            ("memory.memsw.limit_in_bytes", (512_u64 << 20).to_string())
        );

        // 64 MiB in force: raising to 512 MiB memory+swap, so memory+swap first.
        fs::write(dirs.memory.join("memory.limit_in_bytes"), "67108864\n").expect("seed");
        let plan = plan_memory(&dirs.memory, &raise).expect("plan");
        assert_eq!(plan[0].0, "memory.memsw.limit_in_bytes");
        assert_eq!(plan[1].0, "memory.limit_in_bytes");

        // Unlimited swap goes first and is -1.
        let unlimited_swap = Limits {
            memory_bytes: Some(32 << 20),
            memory_swap_bytes: Some(-1),
            ..Limits::default()
        };
        let plan = plan_memory(&dirs.memory, &unlimited_swap).expect("plan");
        assert_eq!(plan[0], ("memory.memsw.limit_in_bytes", "-1".to_owned()));
    }

    #[test]
    fn swap_below_memory_is_refused_before_any_write() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dirs = fake(tmp.path());
        let limits = Limits {
            memory_bytes: Some(64 << 20),
            memory_swap_bytes: Some(32 << 20),
            pids_max: Some(16),
            ..Limits::default()
        };
        let err = apply_limits(&dirs, &limits).expect_err("swap below memory");
        assert!(matches!(err, CgroupError::InvalidLimits { .. }), "{err}");
        assert_eq!(
            content(&dirs.memory.join("memory.limit_in_bytes")),
            UNLIMITED
        );
        assert_eq!(content(&dirs.pids.join("pids.max")), "max\n");
    }

    #[test]
    fn no_swap_accounting_skips_swap() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dirs = fake(tmp.path());
        fs::remove_file(dirs.memory.join("memory.memsw.limit_in_bytes")).expect("rm");
        let limits = Limits {
            memory_bytes: Some(32 << 20),
            memory_swap_bytes: Some(32 << 20),
            ..Limits::default()
        };
        apply_limits(&dirs, &limits).expect("apply");
        assert_eq!(
            content(&dirs.memory.join("memory.limit_in_bytes")),
            "33554432"
        );
    }

    #[test]
    fn stats_from_v1_files() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dirs = fake(tmp.path());
        assert_eq!(
            stats(&dirs).expect("stats"),
            Stats {
                memory_usage_bytes: 2_097_152,
                memory_limit_bytes: None,
                memory_inactive_file_bytes: 8192,
                cpu_usage_ns: 123_456_789,
                pids_current: 2,
            }
        );
        fs::write(dirs.memory.join("memory.limit_in_bytes"), "67108864\n").expect("seed");
        assert_eq!(
            stats(&dirs).expect("stats").memory_limit_bytes,
            Some(67_108_864)
        );
    }

    #[test]
    fn oom_kills_from_oom_control_or_failcnt() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dirs = fake(tmp.path());
        assert_eq!(oom_kills(&dirs.memory).expect("oom"), 2);

        // A kernel before 4.13: no oom_kill line.
        fs::write(
            dirs.memory.join("memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\n",
        )
        .expect("seed");
        fs::write(dirs.memory.join("memory.failcnt"), "3\n").expect("seed");
        assert_eq!(oom_kills(&dirs.memory).expect("oom"), 3);
        fs::write(dirs.memory.join("memory.memsw.failcnt"), "5\n").expect("seed");
        assert_eq!(oom_kills(&dirs.memory).expect("oom"), 5);
    }

    #[test]
    fn freezer_state_round_trip() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dirs = fake(tmp.path());
        // A regular file reads back what was written, so FROZEN is reached at once.
        freeze(&dirs.freezer, Instant::now() + Duration::from_secs(1)).expect("freeze");
        assert_eq!(content(&dirs.freezer.join("freezer.state")), "FROZEN");
        thaw(&dirs.freezer).expect("thaw");
        assert_eq!(content(&dirs.freezer.join("freezer.state")), "THAWED");
    }

    #[test]
    fn comounted_cpu_and_cpuacct_count_once() {
        let dirs = Dirs {
            memory: PathBuf::from("/m/c"),
            cpu: PathBuf::from("/cpu,cpuacct/c"),
            cpuacct: PathBuf::from("/cpu,cpuacct/c"),
            pids: PathBuf::from("/p/c"),
            freezer: PathBuf::from("/f/c"),
            devices: None,
        };
        assert_eq!(dirs.distinct().len(), 4);
        let with_devices = Dirs {
            devices: Some(PathBuf::from("/d/c")),
            ..dirs
        };
        assert_eq!(with_devices.distinct().len(), 5);
    }
}
