//! The flags `service create` and `service update` share, and [`SpecFlags::apply`], the one
//! place they are written into a [`ServiceSpec`]: create applies them to a default spec, update
//! to the spec it fetched. Only flags that were given change anything.
//!
//! Also the small value parsers both commands use (replicas, placement preferences, command
//! lines); `KEY=VALUE` values are parsed in `commands/kv.rs`, shared with `node`; the health
//! check flags live in `health.rs` and `--mount` values in `mount.rs`.

use super::health::HealthFlags;
use crate::error::CliError;
use crate::units;
use flotilla_model::service::MAX_REPLICAS;
use flotilla_model::{
    FailureAction, RestartCondition, ServiceMode, ServiceSpec, UpdateConfig, UpdateOrder,
};

/// `--mode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModeArg {
    /// A fixed number of tasks (the default).
    Replicated,
    /// One task on every eligible node.
    Global,
    /// Run-to-completion tasks, a fixed number of them.
    ReplicatedJob,
    /// One run-to-completion task on every eligible node.
    GlobalJob,
}

impl ModeArg {
    /// The mode with Docker's defaults: one replica; a job of one completion, one at a time.
    pub fn to_mode(self) -> ServiceMode {
        match self {
            ModeArg::Replicated => ServiceMode::Replicated { replicas: 1 },
            ModeArg::Global => ServiceMode::Global,
            ModeArg::ReplicatedJob => ServiceMode::ReplicatedJob {
                max_concurrent: 1,
                total_completions: 1,
            },
            ModeArg::GlobalJob => ServiceMode::GlobalJob,
        }
    }
}

/// `--restart-condition` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RestartConditionArg {
    /// Never restart.
    None,
    /// Restart after a non-zero exit.
    OnFailure,
    /// Restart after any exit.
    Any,
}

impl From<RestartConditionArg> for RestartCondition {
    fn from(c: RestartConditionArg) -> Self {
        match c {
            RestartConditionArg::None => RestartCondition::None,
            RestartConditionArg::OnFailure => RestartCondition::OnFailure,
            RestartConditionArg::Any => RestartCondition::Any,
        }
    }
}

/// `--update-failure-action` / `--rollback-failure-action` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailureActionArg {
    /// Stop the rollout.
    Pause,
    /// Carry on.
    Continue,
    /// Roll back to the previous spec (updates only).
    Rollback,
}

impl From<FailureActionArg> for FailureAction {
    fn from(a: FailureActionArg) -> Self {
        match a {
            FailureActionArg::Pause => FailureAction::Pause,
            FailureActionArg::Continue => FailureAction::Continue,
            FailureActionArg::Rollback => FailureAction::Rollback,
        }
    }
}

/// `--update-order` / `--rollback-order` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OrderArg {
    /// Stop the old task, then start the new one.
    StopFirst,
    /// Start the new task, then stop the old one.
    StartFirst,
}

impl From<OrderArg> for UpdateOrder {
    fn from(o: OrderArg) -> Self {
        match o {
            OrderArg::StopFirst => UpdateOrder::StopFirst,
            OrderArg::StartFirst => UpdateOrder::StartFirst,
        }
    }
}

/// Flags that `service create` and `service update` share. Every one is optional: an absent flag
/// leaves the spec as it is.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SpecFlags {
    /// Number of tasks.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub replicas: Option<i64>,
    /// Number of job tasks to run concurrently (replicated-job mode; default 1).
    #[arg(long, value_name = "N")]
    pub max_concurrent: Option<u64>,
    /// Maximum number of tasks per node (0 = unlimited).
    #[arg(long, value_name = "N")]
    pub replicas_max_per_node: Option<u64>,
    /// Working directory inside the container.
    #[arg(short, long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>]).
    #[arg(short, long)]
    pub user: Option<String>,
    /// Container hostname.
    #[arg(long)]
    pub hostname: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image (split on whitespace).
    #[arg(long, value_name = "COMMAND", allow_hyphen_values = true)]
    pub entrypoint: Option<String>,
    /// Limit CPUs (e.g. 0.5).
    #[arg(long, value_name = "CPUS")]
    pub limit_cpu: Option<String>,
    /// Limit memory (e.g. 64m, 1g).
    #[arg(long, value_name = "BYTES")]
    pub limit_memory: Option<String>,
    /// Limit maximum number of processes (0 = unlimited).
    #[arg(long, value_name = "N")]
    pub limit_pids: Option<u64>,
    /// Reserve CPUs (e.g. 0.25).
    #[arg(long, value_name = "CPUS")]
    pub reserve_cpu: Option<String>,
    /// Reserve memory (e.g. 64m).
    #[arg(long, value_name = "BYTES")]
    pub reserve_memory: Option<String>,
    /// Restart when condition is met.
    #[arg(long, value_enum)]
    pub restart_condition: Option<RestartConditionArg>,
    /// Delay between restart attempts (ns|us|ms|s|m|h).
    #[arg(long, value_name = "DURATION")]
    pub restart_delay: Option<String>,
    /// Maximum number of restarts before giving up (0 = unlimited).
    #[arg(long, value_name = "N")]
    pub restart_max_attempts: Option<u64>,
    /// Window used to evaluate the restart policy (ns|us|ms|s|m|h).
    #[arg(long, value_name = "DURATION")]
    pub restart_window: Option<String>,
    /// Maximum number of tasks updated simultaneously (0 to update all at once).
    #[arg(long, value_name = "N")]
    pub update_parallelism: Option<u64>,
    /// Delay between updates (ns|us|ms|s|m|h).
    #[arg(long, value_name = "DURATION")]
    pub update_delay: Option<String>,
    /// Action on update failure.
    #[arg(long, value_enum)]
    pub update_failure_action: Option<FailureActionArg>,
    /// Duration after each task update to monitor for failure (ns|us|ms|s|m|h).
    #[arg(long, value_name = "DURATION")]
    pub update_monitor: Option<String>,
    /// Failure rate to tolerate during an update (0 to 1).
    #[arg(long, value_name = "RATIO")]
    pub update_max_failure_ratio: Option<f32>,
    /// Update order.
    #[arg(long, value_enum)]
    pub update_order: Option<OrderArg>,
    /// Maximum number of tasks rolled back simultaneously (0 to roll back all at once).
    #[arg(long, value_name = "N")]
    pub rollback_parallelism: Option<u64>,
    /// Delay between task rollbacks (ns|us|ms|s|m|h).
    #[arg(long, value_name = "DURATION")]
    pub rollback_delay: Option<String>,
    /// Action on rollback failure (pause or continue).
    #[arg(long, value_enum)]
    pub rollback_failure_action: Option<FailureActionArg>,
    /// Duration after each task rollback to monitor for failure (ns|us|ms|s|m|h).
    #[arg(long, value_name = "DURATION")]
    pub rollback_monitor: Option<String>,
    /// Failure rate to tolerate during a rollback (0 to 1).
    #[arg(long, value_name = "RATIO")]
    pub rollback_max_failure_ratio: Option<f32>,
    /// Rollback order.
    #[arg(long, value_enum)]
    pub rollback_order: Option<OrderArg>,
    /// Signal to stop the container.
    #[arg(long, value_name = "SIGNAL")]
    pub stop_signal: Option<String>,
    /// Time to wait before force killing a container (ns|us|ms|s|m|h).
    #[arg(long, value_name = "DURATION")]
    pub stop_grace_period: Option<String>,
    /// `--health-*` and `--no-healthcheck`.
    #[command(flatten)]
    pub health: HealthFlags,
}

/// Flags about how the command waits and reports, shared by create, update and rollback.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RolloutFlags {
    /// Exit immediately instead of waiting for the service to converge.
    #[arg(short, long)]
    pub detach: bool,
    /// Suppress progress output.
    #[arg(short, long)]
    pub quiet: bool,
}

/// The rollout settings of one `--update-*` or `--rollback-*` family.
struct Rollout<'a> {
    /// `--update` or `--rollback`, for error messages.
    prefix: &'static str,
    parallelism: Option<u64>,
    delay: Option<&'a str>,
    failure_action: Option<FailureActionArg>,
    monitor: Option<&'a str>,
    max_failure_ratio: Option<f32>,
    order: Option<OrderArg>,
}

impl Rollout<'_> {
    fn apply(&self, cfg: &mut UpdateConfig) -> Result<(), CliError> {
        let p = self.prefix;
        if let Some(n) = self.parallelism {
            cfg.parallelism = n;
        }
        if let Some(d) = self.delay {
            cfg.delay = units::parse_duration(&format!("{p}-delay"), d)?;
        }
        if let Some(a) = self.failure_action {
            if p == "--rollback" && a == FailureActionArg::Rollback {
                return Err(CliError::Usage(format!(
                    "invalid {p}-failure-action: a rollback cannot itself roll back: \
                     use pause or continue"
                )));
            }
            cfg.failure_action = a.into();
        }
        if let Some(m) = self.monitor {
            cfg.monitor = units::parse_duration(&format!("{p}-monitor"), m)?;
        }
        if let Some(r) = self.max_failure_ratio {
            if !(0.0..=1.0).contains(&r) {
                return Err(CliError::Usage(format!(
                    "invalid {p}-max-failure-ratio: {r} is out of range: must be between 0 and 1"
                )));
            }
            cfg.max_failure_ratio = r;
        }
        if let Some(o) = self.order {
            cfg.order = o.into();
        }
        Ok(())
    }
}

impl SpecFlags {
    /// Writes every flag that was given into `spec`; values are checked and errors name the
    /// flag. `spec.mode` must already be the service's mode (`--replicas` depends on it).
    pub fn apply(&self, spec: &mut ServiceSpec) -> Result<(), CliError> {
        if let Some(n) = self.replicas {
            let n = check_replicas(n)
                .map_err(|reason| CliError::Usage(format!("invalid --replicas: {reason}")))?;
            match &mut spec.mode {
                ServiceMode::Replicated { replicas } => *replicas = n,
                ServiceMode::ReplicatedJob {
                    total_completions, ..
                } => *total_completions = n,
                ServiceMode::Global | ServiceMode::GlobalJob => {
                    return Err(CliError::Usage(
                        "--replicas can only be used with replicated or replicated-job mode".into(),
                    ));
                }
            }
        }
        if let Some(n) = self.max_concurrent {
            match &mut spec.mode {
                ServiceMode::ReplicatedJob { max_concurrent, .. } => *max_concurrent = n,
                _ => {
                    return Err(CliError::Usage(
                        "--max-concurrent can only be used with replicated-job mode".into(),
                    ));
                }
            }
        }

        let task = &mut spec.task_template;
        if let Some(n) = self.replicas_max_per_node {
            task.placement.max_replicas_per_node = n;
        }

        let c = &mut task.container_spec;
        if let Some(dir) = &self.workdir {
            c.dir.clone_from(dir);
        }
        if let Some(user) = &self.user {
            c.user.clone_from(user);
        }
        if let Some(hostname) = &self.hostname {
            c.hostname.clone_from(hostname);
        }
        if let Some(entrypoint) = &self.entrypoint {
            c.command = split_words(entrypoint);
        }
        if let Some(signal) = &self.stop_signal {
            c.stop_signal.clone_from(signal);
        }
        if let Some(d) = &self.stop_grace_period {
            c.stop_grace_period = Some(units::parse_duration("--stop-grace-period", d)?);
        }
        self.health.apply(&mut c.healthcheck)?;

        let r = &mut task.resources;
        if let Some(v) = &self.limit_cpu {
            r.limit_nano_cpus = units::parse_cpus("--limit-cpu", v)?;
        }
        if let Some(v) = &self.limit_memory {
            r.limit_memory_bytes = units::parse_bytes("--limit-memory", v)?;
        }
        if let Some(n) = self.limit_pids {
            r.limit_pids = n;
        }
        if let Some(v) = &self.reserve_cpu {
            r.reserve_nano_cpus = units::parse_cpus("--reserve-cpu", v)?;
        }
        if let Some(v) = &self.reserve_memory {
            r.reserve_memory_bytes = units::parse_bytes("--reserve-memory", v)?;
        }

        let rp = &mut task.restart_policy;
        if let Some(cond) = self.restart_condition {
            rp.condition = cond.into();
        }
        if let Some(d) = &self.restart_delay {
            rp.delay = units::parse_duration("--restart-delay", d)?;
        }
        if let Some(n) = self.restart_max_attempts {
            rp.max_attempts = n;
        }
        if let Some(d) = &self.restart_window {
            rp.window = units::parse_duration("--restart-window", d)?;
        }

        Rollout {
            prefix: "--update",
            parallelism: self.update_parallelism,
            delay: self.update_delay.as_deref(),
            failure_action: self.update_failure_action,
            monitor: self.update_monitor.as_deref(),
            max_failure_ratio: self.update_max_failure_ratio,
            order: self.update_order,
        }
        .apply(&mut spec.update_config)?;
        Rollout {
            prefix: "--rollback",
            parallelism: self.rollback_parallelism,
            delay: self.rollback_delay.as_deref(),
            failure_action: self.rollback_failure_action,
            monitor: self.rollback_monitor.as_deref(),
            max_failure_ratio: self.rollback_max_failure_ratio,
            order: self.rollback_order,
        }
        .apply(&mut spec.rollback_config)?;
        Ok(())
    }
}

/// Checks a replica count: 0 to [`MAX_REPLICAS`]; the error is the reason alone.
pub fn check_replicas(n: i64) -> Result<u64, String> {
    u64::try_from(n)
        .ok()
        .filter(|&n| n <= MAX_REPLICAS)
        .ok_or_else(|| format!("{n} is out of range: must be between 0 and {MAX_REPLICAS}"))
}

/// Splits a command line on whitespace (`--entrypoint "nginx -g x"`, `--args "a b c"`).
pub fn split_words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

/// `spread=node.labels.zone` → `node.labels.zone`, the only strategy there is.
pub fn parse_placement_pref(flag: &str, s: &str) -> Result<String, CliError> {
    match s.split_once('=') {
        Some(("spread", v)) if !v.is_empty() => Ok(v.to_owned()),
        Some((strategy, _)) if strategy != "spread" => Err(CliError::Usage(format!(
            "invalid {flag}: {s:?}: unknown strategy {strategy:?}; only spread is supported"
        ))),
        _ => Err(CliError::Usage(format!(
            "invalid {flag}: {s:?}: expected spread=node.labels.<key>"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn usage(e: CliError) -> String {
        match e {
            CliError::Usage(m) => m,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn absent_flags_change_nothing() {
        let mut spec = ServiceSpec::default();
        SpecFlags::default().apply(&mut spec).expect("applies");
        assert_eq!(spec, ServiceSpec::default());
    }

    #[test]
    fn flags_land_in_the_spec() {
        let flags = SpecFlags {
            replicas: Some(3),
            limit_cpu: Some("0.5".into()),
            limit_memory: Some("64m".into()),
            reserve_memory: Some("32m".into()),
            restart_condition: Some(RestartConditionArg::OnFailure),
            restart_delay: Some("1m30s".into()),
            update_parallelism: Some(2),
            update_order: Some(OrderArg::StartFirst),
            rollback_monitor: Some("500ms".into()),
            stop_grace_period: Some("20s".into()),
            entrypoint: Some("nginx -g daemon".into()),
            ..Default::default()
        };
        let mut spec = ServiceSpec::default();
        flags.apply(&mut spec).expect("applies");
        assert_eq!(spec.mode, ServiceMode::Replicated { replicas: 3 });
        let t = &spec.task_template;
        assert_eq!(t.resources.limit_nano_cpus, 500_000_000);
        assert_eq!(t.resources.limit_memory_bytes, 64 << 20);
        assert_eq!(t.resources.reserve_memory_bytes, 32 << 20);
        assert_eq!(t.restart_policy.condition, RestartCondition::OnFailure);
        assert_eq!(t.restart_policy.delay, Duration::from_secs(90));
        assert_eq!(spec.update_config.parallelism, 2);
        assert_eq!(spec.update_config.order, UpdateOrder::StartFirst);
        assert_eq!(spec.rollback_config.monitor, Duration::from_millis(500));
        assert_eq!(
            t.container_spec.stop_grace_period,
            Some(Duration::from_secs(20))
        );
        assert_eq!(t.container_spec.command, vec!["nginx", "-g", "daemon"]);
    }

    #[test]
    fn bad_values_name_the_flag() {
        let cases: Vec<(SpecFlags, &str)> = vec![
            (
                SpecFlags {
                    replicas: Some(-1),
                    ..Default::default()
                },
                "invalid --replicas: -1 is out of range: must be between 0 and 100000",
            ),
            (
                SpecFlags {
                    update_delay: Some("5x".into()),
                    ..Default::default()
                },
                "invalid --update-delay: ",
            ),
            (
                SpecFlags {
                    limit_memory: Some("lots".into()),
                    ..Default::default()
                },
                "invalid --limit-memory: ",
            ),
            (
                SpecFlags {
                    rollback_failure_action: Some(FailureActionArg::Rollback),
                    ..Default::default()
                },
                "invalid --rollback-failure-action: ",
            ),
            (
                SpecFlags {
                    update_max_failure_ratio: Some(1.5),
                    ..Default::default()
                },
                "invalid --update-max-failure-ratio: ",
            ),
        ];
        for (flags, want) in cases {
            let e = flags
                .apply(&mut ServiceSpec::default())
                .expect_err("must be refused");
            let msg = usage(e);
            assert!(msg.starts_with(want), "{msg:?} should start with {want:?}");
        }
    }

    #[test]
    fn replicas_depend_on_mode() {
        let flags = SpecFlags {
            replicas: Some(5),
            ..Default::default()
        };
        let mut global = ServiceSpec {
            mode: ServiceMode::Global,
            ..Default::default()
        };
        assert!(flags.apply(&mut global).is_err());
        let mut job = ServiceSpec {
            mode: ModeArg::ReplicatedJob.to_mode(),
            ..Default::default()
        };
        flags.apply(&mut job).expect("applies");
        assert_eq!(
            job.mode,
            ServiceMode::ReplicatedJob {
                max_concurrent: 1,
                total_completions: 5
            }
        );
    }

    #[test]
    fn small_parsers() {
        assert_eq!(check_replicas(0), Ok(0));
        assert_eq!(check_replicas(100_000), Ok(100_000));
        assert!(check_replicas(100_001).is_err());
        assert!(check_replicas(-1).is_err());
        assert_eq!(
            parse_placement_pref("--placement-pref", "spread=node.labels.zone").ok(),
            Some("node.labels.zone".to_owned())
        );
        assert!(parse_placement_pref("--placement-pref", "pack=x").is_err());
        assert!(parse_placement_pref("--placement-pref", "spread=").is_err());
        assert!(parse_placement_pref("--placement-pref", "node.labels.zone").is_err());
    }
}
