//! [`Config`]: the supervisor's knobs, with defaults fit for a real cluster.

use std::time::Duration;

/// How the supervisor behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Finished tasks kept per slot (per node for global services): Docker's
    /// `--task-history-limit`.
    pub history_limit: usize,
    /// How often a manager that does not lead asks whether it leads now.
    pub leader_poll: Duration,
    /// The longest the leader loop sleeps without an event; on waking it checks that this
    /// manager still leads.
    pub safety_tick: Duration,
    /// After the first commit of a burst, how long further commits are gathered into the
    /// same pass.
    pub coalesce: Duration,
    /// Delay before retrying a write refused as stale; doubled after each consecutive failure.
    pub retry_delay: Duration,
    /// The longest delay between retries.
    pub max_retry_delay: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            history_limit: flotilla_orchestrator::DEFAULT_TASK_HISTORY_LIMIT,
            leader_poll: Duration::from_millis(100),
            safety_tick: Duration::from_secs(1),
            coalesce: Duration::from_millis(2),
            retry_delay: Duration::from_millis(20),
            max_retry_delay: Duration::from_secs(1),
        }
    }
}

impl Config {
    /// The delay before retry number `failures` (1 for the first retry).
    pub fn backoff(&self, failures: u32) -> Duration {
        let shift = failures.saturating_sub(1).min(16);
        self.retry_delay
            .saturating_mul(1u32 << shift)
            .min(self.max_retry_delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let c = Config::default();
        assert_eq!(c.backoff(1), Duration::from_millis(20));
        assert_eq!(c.backoff(2), Duration::from_millis(40));
        assert_eq!(c.backoff(3), Duration::from_millis(80));
        assert_eq!(c.backoff(40), Duration::from_secs(1));
        assert_eq!(c.backoff(0), Duration::from_millis(20));
    }
}
