//! The unified (v2) hierarchy: enabling controllers down the parent chain, limits, stats, OOM
//! kills, freezing and `cgroup.kill`, all as reads and writes of the files of one cgroup directory.
//!
//! Files used: `cgroup.controllers`, `cgroup.subtree_control`, `cgroup.procs`, `cgroup.events`
//! (`populated`, `frozen`), `cgroup.freeze` (kernel ≥ 5.2), `cgroup.kill` (≥ 5.14), `memory.max`,
//! `memory.swap.max`, `memory.current`, `memory.stat`, `memory.events`, `cpu.max`, `cpu.weight`,
//! `cpu.stat`, `pids.max`, `pids.current`.

use crate::error::{CgroupError, Result};
use crate::format;
use crate::fsio;
use crate::limits::{Limits, pids_max_value, shares_to_weight, swap_max_v2};
use crate::stats::Stats;
use std::path::Path;
use std::time::{Duration, Instant};

/// The controllers every container cgroup needs, in the order they are enabled.
pub(crate) const CONTROLLERS: [&str; 3] = ["memory", "cpu", "pids"];

/// Makes sure every cgroup from the root down to `root/parent` exists and has [`CONTROLLERS`]
/// enabled in its `cgroup.subtree_control`, so that a cgroup created in `root/parent` gets them.
///
/// Each directory's `cgroup.controllers` is checked first, so a controller that is not available
/// (not delegated, or a unified tree without controllers, as on a hybrid host) is reported by name
/// with the directory that lacks it. Only the controllers not yet enabled are written, in one write.
pub(crate) fn prepare_parents(root: &Path, parent: &Path) -> Result<()> {
    let mut dir = root.to_path_buf();
    enable_controllers(&dir)?;
    for component in parent.components() {
        dir.push(component);
        // Another daemon may create it at the same time: an existing directory is fine.
        fsio::create_dir(&dir)?;
        enable_controllers(&dir)?;
    }
    Ok(())
}

/// Enables [`CONTROLLERS`] in `dir/cgroup.subtree_control`.
pub(crate) fn enable_controllers(dir: &Path) -> Result<()> {
    let available = fsio::read(&dir.join("cgroup.controllers"))?;
    let available_set: Vec<&str> = available.split_whitespace().collect();
    for controller in CONTROLLERS {
        if !available_set.contains(&controller) {
            return Err(CgroupError::ControllerUnavailable {
                controller,
                path: dir.to_path_buf(),
                available: available.trim().to_owned(),
            });
        }
    }
    let subtree_control = dir.join("cgroup.subtree_control");
    let enabled = fsio::read(&subtree_control)?;
    let enabled: Vec<&str> = enabled.split_whitespace().collect();
    let missing: Vec<String> = CONTROLLERS
        .into_iter()
        .filter(|c| !enabled.contains(c))
        .map(|c| format!("+{c}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    tracing::debug!(dir = %dir.display(), controllers = %missing.join(" "), "enabling cgroup v2 controllers");
    fsio::write(&subtree_control, &missing.join(" "))
}

/// Writes `limits` to the cgroup `dir`. Every value is computed and checked before the first
/// write, so an invalid combination changes nothing.
pub(crate) fn apply_limits(dir: &Path, limits: &Limits) -> Result<()> {
    let mut writes: Vec<(&'static str, String)> = Vec::new();

    if let Some(memory) = limits.memory() {
        writes.push(("memory.max", memory.to_string()));
    }
    if let Some(memory_swap) = limits.memory_swap() {
        if dir.join("memory.swap.max").exists() {
            let memory = match limits.memory() {
                Some(memory) => Some(memory),
                None => fsio::read_parsed(&dir.join("memory.max"), format::max_or_u64)?,
            };
            let value =
                swap_max_v2(memory_swap, memory).map_err(|reason| CgroupError::InvalidLimits {
                    path: dir.to_path_buf(),
                    reason,
                })?;
            writes.push(("memory.swap.max", value));
        } else {
            tracing::warn!(
                dir = %dir.display(),
                memory_swap,
                "the kernel does no swap accounting (no memory.swap.max): memory+swap limit ignored"
            );
        }
    }
    if limits.cpu_quota().is_some() || limits.cpu_period().is_some() {
        let (current_quota, current_period) =
            fsio::read_parsed(&dir.join("cpu.max"), format::cpu_max)?;
        let quota = match limits.cpu_quota() {
            Some(quota) if quota > 0 => Some(quota.unsigned_abs()),
            Some(_) => None,
            None => current_quota,
        };
        let period = limits.cpu_period().unwrap_or(current_period);
        writes.push(("cpu.max", format::format_cpu_max(quota, period)));
    }
    if let Some(shares) = limits.cpu_shares() {
        writes.push(("cpu.weight", shares_to_weight(shares).to_string()));
    }
    if let Some(pids) = limits.pids() {
        writes.push(("pids.max", pids_max_value(pids)));
    }

    for (file, value) in writes {
        fsio::write(&dir.join(file), &value)?;
    }
    Ok(())
}

/// Reads the usage of the cgroup `dir`.
pub(crate) fn stats(dir: &Path) -> Result<Stats> {
    let memory_stat = dir.join("memory.stat");
    let cpu_stat = dir.join("cpu.stat");
    Ok(Stats {
        memory_usage_bytes: fsio::read_parsed(&dir.join("memory.current"), format::single_u64)?,
        memory_limit_bytes: fsio::read_parsed(&dir.join("memory.max"), format::max_or_u64)?,
        memory_inactive_file_bytes: fsio::read_parsed(&memory_stat, |text| {
            format::flat_keyed(text, "inactive_file")
        })?
        .unwrap_or(0),
        cpu_usage_ns: fsio::read_parsed(&cpu_stat, |text| format::flat_keyed(text, "usage_usec"))?
            .ok_or_else(|| fsio::parse_error(&cpu_stat, "no usage_usec"))?
            .saturating_mul(1000),
        pids_current: fsio::read_parsed(&dir.join("pids.current"), format::single_u64)?,
    })
}

/// The `oom_kill` count of `memory.events`: processes of this cgroup and its descendants killed by
/// the OOM killer (0 on kernels before 4.13, which do not report it).
pub(crate) fn oom_kills(dir: &Path) -> Result<u64> {
    Ok(fsio::read_parsed(&dir.join("memory.events"), |text| {
        format::flat_keyed(text, "oom_kill")
    })?
    .unwrap_or(0))
}

/// Whether the cgroup or a descendant has live processes (`populated` of `cgroup.events`).
pub(crate) fn populated(dir: &Path) -> Result<bool> {
    let events = dir.join("cgroup.events");
    let populated = fsio::read_parsed(&events, |text| format::flat_keyed(text, "populated"))?
        .ok_or_else(|| fsio::parse_error(&events, "no populated key"))?;
    Ok(populated != 0)
}

/// Freezes the cgroup and its descendants and waits until `cgroup.events` shows `frozen 1`.
/// If that does not happen by `deadline`, the cgroup is thawed again and an error returned.
pub(crate) fn freeze(dir: &Path, deadline: Instant) -> Result<()> {
    let started = Instant::now();
    fsio::write(&dir.join("cgroup.freeze"), "1")?;
    let events = dir.join("cgroup.events");
    let mut delay = Duration::from_millis(1);
    loop {
        let frozen = fsio::read_parsed(&events, |text| format::flat_keyed(text, "frozen"))?;
        if frozen == Some(1) {
            return Ok(());
        }
        let now = Instant::now();
        if now >= deadline {
            if let Err(e) = thaw(dir) {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot thaw after a failed freeze");
            }
            return Err(CgroupError::Timeout {
                path: dir.to_path_buf(),
                operation: "freeze",
                waited: started.elapsed(),
                detail: "cgroup.events never showed frozen 1; thawed again".to_owned(),
            });
        }
        std::thread::sleep(delay.min(deadline - now));
        delay = (delay * 2).min(Duration::from_millis(20));
    }
}

/// Thaws the cgroup. Thawing takes effect at once: there is nothing to wait for.
pub(crate) fn thaw(dir: &Path) -> Result<()> {
    fsio::write(&dir.join("cgroup.freeze"), "0")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn seed(dir: &Path, files: &[(&str, &str)]) {
        fs::create_dir_all(dir).expect("mkdir");
        for (name, content) in files {
            fs::write(dir.join(name), content).expect("seed file");
        }
    }

    fn content(dir: &Path, name: &str) -> String {
        fs::read_to_string(dir.join(name)).expect("read")
    }

    #[test]
    fn enables_only_missing_controllers_from_the_root_down() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path();
        seed(
            root,
            &[
                (
                    "cgroup.controllers",
                    "cpuset cpu io memory hugetlb pids rdma misc\n",
                ),
                ("cgroup.subtree_control", "\n"),
            ],
        );
        let node = root.join("flotilla-n1");
        seed(
            &node,
            &[
                ("cgroup.controllers", "cpu memory pids\n"),
                ("cgroup.subtree_control", "memory\n"),
            ],
        );
        let containers = node.join("containers");
        seed(
            &containers,
            &[
                ("cgroup.controllers", "cpu memory pids\n"),
                ("cgroup.subtree_control", "cpu memory pids\n"),
            ],
        );
        prepare_parents(root, Path::new("flotilla-n1/containers")).expect("prepare");
        assert_eq!(
            content(root, "cgroup.subtree_control"),
            "+memory +cpu +pids"
        );
        assert_eq!(content(&node, "cgroup.subtree_control"), "+cpu +pids");
        assert_eq!(
            content(&containers, "cgroup.subtree_control"),
            "cpu memory pids\n"
        );
    }

    #[test]
    fn unavailable_controller_is_named_with_its_directory() {
        let tmp = tempfile::tempdir().expect("tempdir");
        // A hybrid host's unified tree: no memory, cpu or pids.
        seed(
            tmp.path(),
            &[
                ("cgroup.controllers", "hugetlb\n"),
                ("cgroup.subtree_control", ""),
            ],
        );
        let err = prepare_parents(tmp.path(), Path::new("flotilla-n1/containers"))
            .expect_err("no controllers");
        let text = err.to_string();
        assert!(text.contains("`memory`"), "{text}");
        assert!(text.contains(&tmp.path().display().to_string()), "{text}");
        assert!(text.contains("hugetlb"), "{text}");
        assert_eq!(content(tmp.path(), "cgroup.subtree_control"), "");
        assert!(!tmp.path().join("flotilla-n1").exists());
    }

    fn leaf(dir: &Path) {
        seed(
            dir,
            &[
                ("memory.max", "max\n"),
                ("memory.swap.max", "max\n"),
                ("cpu.max", "max 100000\n"),
                ("cpu.weight", "100\n"),
                ("pids.max", "max\n"),
            ],
        );
    }

    #[test]
    fn limits_are_written_in_v2_format() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("c1");
        leaf(&dir);
        let limits = Limits {
            memory_bytes: Some(64 << 20),
            memory_swap_bytes: Some(128 << 20),
            cpu_quota_us: Some(50_000),
            cpu_period_us: None,
            cpu_shares: Some(1024),
            pids_max: Some(16),
        };
        apply_limits(&dir, &limits).expect("apply");
        assert_eq!(content(&dir, "memory.max"), "67108864");
        assert_eq!(content(&dir, "memory.swap.max"), "67108864");
        assert_eq!(content(&dir, "cpu.max"), "50000 100000");
        assert_eq!(content(&dir, "cpu.weight"), "39");
        assert_eq!(content(&dir, "pids.max"), "16");

        // Only the period changes: the quota in force is kept.
        let period = Limits {
            cpu_period_us: Some(200_000),
            ..Limits::default()
        };
        apply_limits(&dir, &period).expect("apply period");
        assert_eq!(content(&dir, "cpu.max"), "50000 200000");

        // Negative quota and pids: unlimited.
        let unlimited = Limits {
            cpu_quota_us: Some(-1),
            pids_max: Some(-1),
            memory_swap_bytes: Some(-1),
            ..Limits::default()
        };
        apply_limits(&dir, &unlimited).expect("apply unlimited");
        assert_eq!(content(&dir, "cpu.max"), "max 200000");
        assert_eq!(content(&dir, "pids.max"), "max");
        assert_eq!(content(&dir, "memory.swap.max"), "max");
    }

    #[test]
    fn swap_without_memory_limit_is_refused_before_any_write() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("c1");
        leaf(&dir);
        let limits = Limits {
            memory_swap_bytes: Some(128 << 20),
            pids_max: Some(16),
            ..Limits::default()
        };
        let err = apply_limits(&dir, &limits).expect_err("no memory limit");
        assert!(matches!(err, CgroupError::InvalidLimits { .. }), "{err}");
        assert_eq!(content(&dir, "pids.max"), "max\n");

        // With the memory limit already in force, swap alone is fine.
        fs::write(dir.join("memory.max"), "67108864\n").expect("seed");
        apply_limits(&dir, &limits).expect("apply");
        assert_eq!(content(&dir, "memory.swap.max"), "67108864");
    }

    #[test]
    fn missing_swap_accounting_is_skipped() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("c1");
        leaf(&dir);
        fs::remove_file(dir.join("memory.swap.max")).expect("rm");
        let limits = Limits {
            memory_bytes: Some(32 << 20),
            memory_swap_bytes: Some(32 << 20),
            ..Limits::default()
        };
        apply_limits(&dir, &limits).expect("apply");
        assert_eq!(content(&dir, "memory.max"), "33554432");
    }

    #[test]
    fn stats_and_events_from_v2_files() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("c1");
        seed(
            &dir,
            &[
                ("memory.current", "1048576\n"),
                ("memory.max", "67108864\n"),
                (
                    "memory.stat",
                    "anon 524288\nfile 524288\ninactive_file 262144\nactive_file 0\n",
                ),
                (
                    "cpu.stat",
                    "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n",
                ),
                ("pids.current", "3\n"),
                (
                    "memory.events",
                    "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\noom_group_kill 0\n",
                ),
                ("cgroup.events", "populated 1\nfrozen 0\n"),
            ],
        );
        assert_eq!(
            stats(&dir).expect("stats"),
            Stats {
                memory_usage_bytes: 1_048_576,
                memory_limit_bytes: Some(67_108_864),
                memory_inactive_file_bytes: 262_144,
                cpu_usage_ns: 1_500_000,
                pids_current: 3,
            }
        );
        assert_eq!(oom_kills(&dir).expect("oom"), 1);
        assert!(populated(&dir).expect("populated"));
        fs::write(dir.join("memory.max"), "max\n").expect("seed");
        assert_eq!(stats(&dir).expect("stats").memory_limit_bytes, None);
    }

    #[test]
    fn freeze_waits_for_frozen_and_thaws_on_timeout() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("c1");
        seed(
            &dir,
            &[
                ("cgroup.freeze", "0\n"),
                ("cgroup.events", "populated 1\nfrozen 0\n"),
            ],
        );
        let err = freeze(&dir, Instant::now()).expect_err("never frozen");
        assert!(
            matches!(
                err,
                CgroupError::Timeout {
                    operation: "freeze",
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(content(&dir, "cgroup.freeze"), "0");

        fs::write(dir.join("cgroup.events"), "populated 1\nfrozen 1\n").expect("seed");
        freeze(&dir, Instant::now() + Duration::from_secs(1)).expect("frozen");
        assert_eq!(content(&dir, "cgroup.freeze"), "1");
        thaw(&dir).expect("thaw");
        assert_eq!(content(&dir, "cgroup.freeze"), "0");
    }
}
