//! Resource usage of a cgroup, the same on v1 and v2.

/// A snapshot of a cgroup's resource usage.
///
/// | field | v1 | v2 |
/// |---|---|---|
/// | `memory_usage_bytes` | `memory.usage_in_bytes` | `memory.current` |
/// | `memory_limit_bytes` | `memory.limit_in_bytes` | `memory.max` |
/// | `memory_inactive_file_bytes` | `total_inactive_file` of `memory.stat` | `inactive_file` of `memory.stat` |
/// | `cpu_usage_ns` | `cpuacct.usage` | `usage_usec` of `cpu.stat` × 1000 |
/// | `pids_current` | `pids.current` | `pids.current` |
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Memory charged to the cgroup, page cache included, in bytes.
    pub memory_usage_bytes: u64,
    /// The memory limit in bytes; `None` when there is none.
    pub memory_limit_bytes: Option<u64>,
    /// Inactive file-backed memory (reclaimable page cache) in bytes.
    pub memory_inactive_file_bytes: u64,
    /// CPU time consumed by the cgroup's tasks, in nanoseconds.
    pub cpu_usage_ns: u64,
    /// Tasks (threads, and exited processes not yet reaped) counted by the pids controller.
    pub pids_current: u64,
}

impl Stats {
    /// Usage minus inactive page cache, as `docker stats` and the kubelet report memory.
    pub fn memory_working_set_bytes(&self) -> u64 {
        self.memory_usage_bytes
            .saturating_sub(self.memory_inactive_file_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn working_set_never_underflows() {
        let stats = Stats {
            memory_usage_bytes: 100,
            memory_inactive_file_bytes: 30,
            ..Stats::default()
        };
        assert_eq!(stats.memory_working_set_bytes(), 70);
        let odd = Stats {
            memory_usage_bytes: 10,
            memory_inactive_file_bytes: 30,
            ..Stats::default()
        };
        assert_eq!(odd.memory_working_set_bytes(), 0);
    }
}
