//! Pure parsers and formatters for the contents of cgroup files, v1 and v2.
//!
//! Every function here works on strings so that the formats are unit-tested from samples; the
//! callers add the path of the file to any error.

/// Reads the value of `key` in a flat-keyed file (`key value` per line), as in v2 `memory.events`,
/// `memory.stat`, `cpu.stat`, `cgroup.events` and v1 `memory.stat`, `memory.oom_control`.
///
/// `Ok(None)` if the key is absent; an error if it is present with a value that is not a `u64`.
pub(crate) fn flat_keyed(text: &str, key: &str) -> Result<Option<u64>, String> {
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        if fields.next() != Some(key) {
            continue;
        }
        let value = fields
            .next()
            .ok_or_else(|| format!("key {key:?} has no value"))?;
        return value
            .parse::<u64>()
            .map(Some)
            .map_err(|e| format!("value {value:?} of key {key:?}: {e}"));
    }
    Ok(None)
}

/// Parses a single-value file holding an unsigned number (`memory.current`, `pids.current`,
/// `cpuacct.usage`, `memory.usage_in_bytes`, ...).
pub(crate) fn single_u64(text: &str) -> Result<u64, String> {
    let value = text.trim();
    value
        .parse::<u64>()
        .map_err(|e| format!("expected a number, found {value:?}: {e}"))
}

/// Parses a v2 limit file (`memory.max`, `memory.swap.max`, `pids.max`) or v1 `pids.max`:
/// a number, or `max` for no limit (`None`).
pub(crate) fn max_or_u64(text: &str) -> Result<Option<u64>, String> {
    let value = text.trim();
    if value == "max" {
        return Ok(None);
    }
    value
        .parse::<u64>()
        .map(Some)
        .map_err(|e| format!("expected a number or \"max\", found {value:?}: {e}"))
}

/// The smallest value v1 `memory.limit_in_bytes` shows for "no limit".
///
/// The kernel shows `PAGE_COUNTER_MAX * PAGE_SIZE`, which is `i64::MAX` rounded down to a page
/// (9223372036854771712 with 4 KiB pages); anything at or above `i64::MAX` rounded down to 1 MiB
/// covers every page size.
pub(crate) const V1_UNLIMITED_THRESHOLD: u64 = (i64::MAX as u64) & !0xF_FFFF;

/// Parses v1 `memory.limit_in_bytes`: `None` when it shows "no limit".
pub(crate) fn v1_memory_limit(text: &str) -> Result<Option<u64>, String> {
    let value = single_u64(text)?;
    Ok((value < V1_UNLIMITED_THRESHOLD).then_some(value))
}

/// Parses v2 `cpu.max` (`"<quota|max> <period>"`): quota in µs (`None` for `max`) and period in µs.
pub(crate) fn cpu_max(text: &str) -> Result<(Option<u64>, u64), String> {
    let mut fields = text.split_whitespace();
    let (Some(quota), Some(period), None) = (fields.next(), fields.next(), fields.next()) else {
        return Err(format!(
            "expected \"<quota|max> <period>\", found {:?}",
            text.trim()
        ));
    };
    let quota = if quota == "max" {
        None
    } else {
        Some(
            quota
                .parse::<u64>()
                .map_err(|e| format!("quota {quota:?}: {e}"))?,
        )
    };
    let period = period
        .parse::<u64>()
        .map_err(|e| format!("period {period:?}: {e}"))?;
    Ok((quota, period))
}

/// Formats v2 `cpu.max`.
pub(crate) fn format_cpu_max(quota: Option<u64>, period: u64) -> String {
    match quota {
        Some(quota) => format!("{quota} {period}"),
        None => format!("max {period}"),
    }
}

/// Parses `cgroup.procs`: one pid per line.
pub(crate) fn procs(text: &str) -> Result<Vec<i32>, String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| {
            line.parse::<i32>()
                .map_err(|e| format!("pid {line:?}: {e}"))
        })
        .collect()
}

/// Parses v1 `freezer.state`.
pub(crate) fn freezer_state(text: &str) -> Result<FreezerState, String> {
    match text.trim() {
        "THAWED" => Ok(FreezerState::Thawed),
        "FREEZING" => Ok(FreezerState::Freezing),
        "FROZEN" => Ok(FreezerState::Frozen),
        other => Err(format!(
            "expected THAWED, FREEZING or FROZEN, found {other:?}"
        )),
    }
}

/// The states of v1 `freezer.state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FreezerState {
    /// Running.
    Thawed,
    /// Freezing requested, not all tasks stopped yet.
    Freezing,
    /// All tasks stopped.
    Frozen,
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMORY_EVENTS: &str = "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n";

    const CPU_STAT_V2: &str = "usage_usec 6579939701\nuser_usec 5903949160\nsystem_usec 675990540\n\
        nice_usec 0\nnr_periods 10\nnr_throttled 1\nthrottled_usec 5\nnr_bursts 0\nburst_usec 0\n";

    const MEMORY_STAT_V2: &str = "anon 1531904\nfile 9875456\nkernel 1048576\nshmem 0\n\
        inactive_anon 0\nactive_anon 1531904\ninactive_file 45056\nactive_file 761856\nunevictable 0\n";

    // Taken from this kernel's v1 root memory cgroup (trimmed).
    const MEMORY_STAT_V1: &str = "cache 9875456\nrss 5685248\nrss_huge 0\nshmem 9068544\n\
        inactive_anon 0\nactive_anon 1531904\ninactive_file 45056\nactive_file 761856\n\
        hierarchical_memory_limit 9223372036854771712\nhierarchical_memsw_limit 9223372036854771712\n\
        total_cache 5667409920\ntotal_rss 716115968\ntotal_inactive_file 3617841152\n\
        total_active_file 2040496128\n";

    const OOM_CONTROL_V1: &str = "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n";
    const OOM_CONTROL_OLD_KERNEL: &str = "oom_kill_disable 0\nunder_oom 0\n";

    #[test]
    fn memory_events_oom_kill() {
        assert_eq!(flat_keyed(MEMORY_EVENTS, "oom_kill"), Ok(Some(2)));
        assert_eq!(flat_keyed(MEMORY_EVENTS, "oom"), Ok(Some(3)));
        // A key that is a prefix of another must not match it.
        assert_eq!(flat_keyed("oom_group_kill 7\n", "oom_kill"), Ok(None));
    }

    #[test]
    fn v1_oom_control() {
        assert_eq!(flat_keyed(OOM_CONTROL_V1, "oom_kill"), Ok(Some(1)));
        assert_eq!(flat_keyed(OOM_CONTROL_OLD_KERNEL, "oom_kill"), Ok(None));
    }

    #[test]
    fn cpu_stat_usage() {
        assert_eq!(
            flat_keyed(CPU_STAT_V2, "usage_usec"),
            Ok(Some(6_579_939_701))
        );
    }

    #[test]
    fn memory_stat_inactive_file() {
        assert_eq!(flat_keyed(MEMORY_STAT_V2, "inactive_file"), Ok(Some(45056)));
        assert_eq!(
            flat_keyed(MEMORY_STAT_V1, "total_inactive_file"),
            Ok(Some(3_617_841_152))
        );
        assert_eq!(flat_keyed(MEMORY_STAT_V1, "inactive_file"), Ok(Some(45056)));
    }

    #[test]
    fn flat_keyed_rejects_garbage_values() {
        assert!(flat_keyed("oom_kill x\n", "oom_kill").is_err());
        assert!(flat_keyed("oom_kill\n", "oom_kill").is_err());
    }

    #[test]
    fn single_values() {
        assert_eq!(single_u64("123\n"), Ok(123));
        assert!(single_u64("max\n").is_err());
        assert_eq!(max_or_u64("max\n"), Ok(None));
        assert_eq!(max_or_u64("67108864\n"), Ok(Some(67_108_864)));
        assert!(max_or_u64("-1\n").is_err());
    }

    #[test]
    fn v1_limits_unlimited() {
        assert_eq!(v1_memory_limit("9223372036854771712\n"), Ok(None));
        // 64 KiB pages.
        assert_eq!(v1_memory_limit("9223372036854710272\n"), Ok(None));
        assert_eq!(v1_memory_limit("67108864\n"), Ok(Some(67_108_864)));
    }

    #[test]
    fn cpu_max_round_trip() {
        assert_eq!(cpu_max("max 100000\n"), Ok((None, 100_000)));
        assert_eq!(cpu_max("50000 100000\n"), Ok((Some(50_000), 100_000)));
        assert!(cpu_max("max\n").is_err());
        assert!(cpu_max("1 2 3\n").is_err());
        assert_eq!(format_cpu_max(None, 100_000), "max 100000");
        assert_eq!(format_cpu_max(Some(150_000), 100_000), "150000 100000");
    }

    #[test]
    fn procs_lines() {
        assert_eq!(procs("12\n345\n"), Ok(vec![12, 345]));
        assert_eq!(procs(""), Ok(vec![]));
        assert!(procs("12\nabc\n").is_err());
    }

    #[test]
    fn freezer_states() {
        assert_eq!(freezer_state("FROZEN\n"), Ok(FreezerState::Frozen));
        assert_eq!(freezer_state("FREEZING\n"), Ok(FreezerState::Freezing));
        assert_eq!(freezer_state("THAWED\n"), Ok(FreezerState::Thawed));
        assert!(freezer_state("1\n").is_err());
    }
}
