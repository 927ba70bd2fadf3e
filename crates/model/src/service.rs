//! Services: what the user asks the cluster to keep running.
//!
//! A [`ServiceSpec`] is user-owned and validated whole by [`ServiceSpec::validate`] before any
//! write; the defaults are Docker Swarm's (restart on any exit after 5 s, stop grace period 10 s,
//! updates one task at a time, pausing on failure, with a 5 s monitor).

use crate::ServiceId;
use crate::image_ref::ImageRef;
use crate::meta::{Meta, Timestamp};
use crate::validate::{ValidationError, check_labels, check_name};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Most replicas a replicated service may ask for.
pub const MAX_REPLICAS: u64 = 100_000;
/// Longest environment entry accepted (key and value), in bytes.
pub const MAX_ENV_LEN: usize = 32 * 1024;

/// A stored service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    /// Its id.
    pub id: ServiceId,
    /// Version and timestamps.
    pub meta: Meta,
    /// The current desired spec.
    pub spec: ServiceSpec,
    /// The spec before the last update, for `service rollback`.
    pub previous_spec: Option<ServiceSpec>,
    /// Progress of the last update or rollback; `None` before the first one.
    #[serde(default)]
    pub update_status: Option<UpdateStatus>,
}

/// Progress of a service's rolling update or rollback, as `service inspect` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateStatus {
    /// Where the rollout is.
    pub state: UpdateState,
    /// When the rollout started.
    pub started_at: Timestamp,
    /// When it completed (or finished rolling back), if it did.
    pub completed_at: Option<Timestamp>,
    /// Why it is in this state ("update in progress", the task that failed, …).
    pub message: String,
}

/// States of a rolling update or rollback, in Docker's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateState {
    /// Tasks are being replaced with the new spec.
    Updating,
    /// The update stopped after failures; nothing more is replaced until the next update.
    Paused,
    /// Every task runs the new spec.
    Completed,
    /// Tasks are being replaced with the previous spec.
    RollbackStarted,
    /// The rollback stopped after failures.
    RollbackPaused,
    /// Every task runs the previous spec again.
    RollbackCompleted,
}

impl UpdateState {
    /// Docker's name, as `service inspect` shows it (`rollback_started` …).
    pub fn name(self) -> &'static str {
        match self {
            UpdateState::Updating => "updating",
            UpdateState::Paused => "paused",
            UpdateState::Completed => "completed",
            UpdateState::RollbackStarted => "rollback_started",
            UpdateState::RollbackPaused => "rollback_paused",
            UpdateState::RollbackCompleted => "rollback_completed",
        }
    }

    /// True for the states of a rollback.
    pub fn is_rollback(self) -> bool {
        matches!(
            self,
            UpdateState::RollbackStarted
                | UpdateState::RollbackPaused
                | UpdateState::RollbackCompleted
        )
    }
}

/// What the user wants a service to be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceSpec {
    /// Unique service name.
    pub name: String,
    /// Service labels.
    pub labels: BTreeMap<String, String>,
    /// What each task runs.
    pub task_template: TaskSpec,
    /// Replicated (with a count), global, or a job.
    pub mode: ServiceMode,
    /// How updates roll out.
    pub update_config: UpdateConfig,
    /// How rollbacks roll out.
    pub rollback_config: UpdateConfig,
    /// How the service is reached.
    pub endpoint_spec: EndpointSpec,
    /// Networks the tasks attach to, by name or id.
    pub networks: Vec<String>,
}

/// What each task of a service runs and where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TaskSpec {
    /// The container to run.
    pub container_spec: ContainerSpec,
    /// Reservations (for scheduling) and limits (enforced).
    pub resources: Resources,
    /// When a finished task is replaced.
    pub restart_policy: RestartPolicy,
    /// Where tasks may run.
    pub placement: Placement,
    /// Bumped by `service update --force` to replace tasks without another change.
    pub force_update: u64,
}

/// The container of a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ContainerSpec {
    /// Image reference as the user gave it.
    pub image: String,
    /// Overrides the image's entrypoint (`--entrypoint`).
    pub command: Vec<String>,
    /// Arguments (the `CMD…` after the image, or `--args`).
    pub args: Vec<String>,
    /// `KEY=VALUE` entries.
    pub env: Vec<String>,
    /// Working directory.
    pub dir: String,
    /// `user[:group]`.
    pub user: String,
    /// Hostname (may hold templates).
    pub hostname: String,
    /// Container labels.
    pub labels: BTreeMap<String, String>,
    /// Mounts.
    pub mounts: Vec<Mount>,
    /// Signal that stops the container (default the image's, else SIGTERM).
    pub stop_signal: String,
    /// Time between the stop signal and SIGKILL (default 10 s).
    pub stop_grace_period: Option<Duration>,
    /// Health check; `None` uses the image's.
    pub healthcheck: Option<HealthCheck>,
    /// Allocate a TTY.
    pub tty: bool,
    /// Read-only root filesystem.
    pub read_only: bool,
}

/// A mount into the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mount {
    /// Kind of mount.
    #[serde(rename = "type")]
    pub kind: MountType,
    /// Source: volume name or host path; empty for tmpfs.
    pub source: String,
    /// Path inside the container.
    pub target: String,
    /// Mounted read-only.
    pub readonly: bool,
}

/// Kinds of mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountType {
    /// A named volume managed by the node.
    Volume,
    /// A host path.
    Bind,
    /// A tmpfs.
    Tmpfs,
}

/// A health check run inside the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct HealthCheck {
    /// `["NONE"]`, `["CMD", …]` or `["CMD-SHELL", "…"]`.
    pub test: Vec<String>,
    /// Time between checks.
    pub interval: Option<Duration>,
    /// Time a check may take.
    pub timeout: Option<Duration>,
    /// Consecutive failures that make the container unhealthy.
    pub retries: u32,
    /// Grace period during which failures do not count.
    pub start_period: Option<Duration>,
}

/// Resource reservations and limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Resources {
    /// Reserved CPU in billionths of a CPU.
    pub reserve_nano_cpus: u64,
    /// Reserved memory in bytes.
    pub reserve_memory_bytes: u64,
    /// CPU limit in billionths of a CPU (0 = none).
    pub limit_nano_cpus: u64,
    /// Memory limit in bytes (0 = none).
    pub limit_memory_bytes: u64,
    /// Process count limit (0 = none).
    pub limit_pids: u64,
}

/// When a task that ended is replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RestartCondition {
    /// Never.
    None,
    /// Only after a non-zero exit.
    OnFailure,
    /// After any exit (the default).
    #[default]
    Any,
}

/// The restart policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RestartPolicy {
    /// When to restart.
    pub condition: RestartCondition,
    /// Wait between restarts (default 5 s).
    pub delay: Duration,
    /// Most restarts (0 = unlimited).
    pub max_attempts: u64,
    /// Window in which attempts are counted (zero = unbounded).
    pub window: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            condition: RestartCondition::Any,
            delay: Duration::from_secs(5),
            max_attempts: 0,
            window: Duration::ZERO,
        }
    }
}

/// Where tasks may run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Placement {
    /// `node.<attr> ==|!= value` expressions, all of which must hold.
    pub constraints: Vec<String>,
    /// Spread preferences: label paths such as `node.labels.zone`.
    pub preferences: Vec<String>,
    /// Most tasks of this service per node (0 = unlimited).
    pub max_replicas_per_node: u64,
}

/// How many tasks, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceMode {
    /// A fixed number of tasks.
    Replicated {
        /// How many.
        replicas: u64,
    },
    /// One task per eligible node.
    Global,
    /// Run-to-completion tasks.
    ReplicatedJob {
        /// How many run at once.
        max_concurrent: u64,
        /// How many must complete.
        total_completions: u64,
    },
    /// One run-to-completion task per eligible node.
    GlobalJob,
}

impl Default for ServiceMode {
    fn default() -> Self {
        ServiceMode::Replicated { replicas: 1 }
    }
}

impl ServiceMode {
    /// Docker's name for the mode, as `service ls` shows it.
    pub fn name(&self) -> &'static str {
        match self {
            ServiceMode::Replicated { .. } => "replicated",
            ServiceMode::Global => "global",
            ServiceMode::ReplicatedJob { .. } => "replicated job",
            ServiceMode::GlobalJob => "global job",
        }
    }
}

/// What to do when an update goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FailureAction {
    /// Stop the rollout (the default).
    #[default]
    Pause,
    /// Carry on.
    Continue,
    /// Roll back to the previous spec.
    Rollback,
}

/// Order of stopping old and starting new tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum UpdateOrder {
    /// Stop the old task, then start the new one (the default).
    #[default]
    StopFirst,
    /// Start the new task, then stop the old one.
    StartFirst,
}

/// How an update or rollback rolls out.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpdateConfig {
    /// Tasks updated at once (0 = all).
    pub parallelism: u64,
    /// Wait between batches.
    pub delay: Duration,
    /// What to do on failure.
    pub failure_action: FailureAction,
    /// How long each new task is watched for failure.
    pub monitor: Duration,
    /// Fraction of tasks that may fail before the failure action fires.
    pub max_failure_ratio: f32,
    /// Stop-first or start-first.
    pub order: UpdateOrder,
}

impl Default for UpdateConfig {
    fn default() -> Self {
        Self {
            parallelism: 1,
            delay: Duration::ZERO,
            failure_action: FailureAction::Pause,
            monitor: Duration::from_secs(5),
            max_failure_ratio: 0.0,
            order: UpdateOrder::StopFirst,
        }
    }
}

/// How the service is reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct EndpointSpec {
    /// Virtual IP (default) or DNS round robin.
    pub mode: EndpointMode,
    /// Published ports.
    pub ports: Vec<PortConfig>,
}

/// How clients find the tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EndpointMode {
    /// One virtual IP balancing over the tasks.
    #[default]
    Vip,
    /// DNS answers with every task's IP.
    Dnsrr,
}

/// A published port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortConfig {
    /// `tcp` or `udp`.
    pub protocol: String,
    /// Port inside the container.
    pub target_port: u16,
    /// Port on the nodes (0 = pick one).
    pub published_port: u16,
    /// Routing mesh or this task's node only.
    pub publish_mode: PublishMode,
}

/// Where a published port answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PublishMode {
    /// On every node (routing mesh).
    #[default]
    Ingress,
    /// On the task's node only.
    Host,
}

impl ServiceSpec {
    /// Checks the whole spec; the first problem found is returned with its field named.
    pub fn validate(&self) -> Result<(), ValidationError> {
        check_name("spec.name", &self.name)?;
        check_labels("spec.labels", &self.labels)?;
        self.task_template.validate("spec.task_template")?;
        match self.mode {
            ServiceMode::Replicated { replicas } if replicas > MAX_REPLICAS => {
                return Err(ValidationError::new(
                    "spec.mode.replicated.replicas",
                    format!("{replicas} is out of range: must be between 0 and {MAX_REPLICAS}"),
                ));
            }
            ServiceMode::ReplicatedJob {
                max_concurrent,
                total_completions,
            } => {
                if total_completions > MAX_REPLICAS {
                    return Err(ValidationError::new(
                        "spec.mode.replicated_job.total_completions",
                        format!("must be between 0 and {MAX_REPLICAS}"),
                    ));
                }
                if max_concurrent > total_completions {
                    return Err(ValidationError::new(
                        "spec.mode.replicated_job.max_concurrent",
                        "must not exceed total_completions",
                    ));
                }
            }
            _ => {}
        }
        self.update_config.validate("spec.update_config")?;
        self.rollback_config.validate("spec.rollback_config")?;
        if self.rollback_config.failure_action == FailureAction::Rollback {
            return Err(ValidationError::new(
                "spec.rollback_config.failure_action",
                "a rollback cannot itself roll back: use pause or continue",
            ));
        }
        self.endpoint_spec.validate("spec.endpoint_spec")?;
        for (i, n) in self.networks.iter().enumerate() {
            if n.is_empty() {
                return Err(ValidationError::new(
                    format!("spec.networks[{i}]"),
                    "must not be empty",
                ));
            }
        }
        Ok(())
    }

    /// The replica count for replicated services, `None` otherwise.
    pub fn replicas(&self) -> Option<u64> {
        match self.mode {
            ServiceMode::Replicated { replicas } => Some(replicas),
            _ => None,
        }
    }
}

impl TaskSpec {
    fn validate(&self, at: &str) -> Result<(), ValidationError> {
        self.container_spec
            .validate(&format!("{at}.container_spec"))?;
        let r = &self.resources;
        let res = format!("{at}.resources");
        if r.limit_nano_cpus != 0 && r.reserve_nano_cpus > r.limit_nano_cpus {
            return Err(ValidationError::new(
                format!("{res}.reserve_nano_cpus"),
                "reservation exceeds the CPU limit",
            ));
        }
        if r.limit_memory_bytes != 0 && r.reserve_memory_bytes > r.limit_memory_bytes {
            return Err(ValidationError::new(
                format!("{res}.reserve_memory_bytes"),
                "reservation exceeds the memory limit",
            ));
        }
        if r.limit_memory_bytes != 0 && r.limit_memory_bytes < 6 * 1024 * 1024 {
            return Err(ValidationError::new(
                format!("{res}.limit_memory_bytes"),
                "minimum memory limit is 6 MiB",
            ));
        }
        for (i, c) in self.placement.constraints.iter().enumerate() {
            crate::service::check_constraint(&format!("{at}.placement.constraints[{i}]"), c)?;
        }
        for (i, p) in self.placement.preferences.iter().enumerate() {
            if !p.starts_with("node.labels.") || p.len() == "node.labels.".len() {
                return Err(ValidationError::new(
                    format!("{at}.placement.preferences[{i}]"),
                    format!("{p:?}: spread preference must name node.labels.<key>"),
                ));
            }
        }
        Ok(())
    }
}

/// Node attributes a constraint may test.
pub const CONSTRAINT_KEYS: [&str; 6] = [
    "node.id",
    "node.hostname",
    "node.role",
    "node.platform.os",
    "node.platform.arch",
    "node.labels.<key>",
];

/// Checks a placement constraint `key ==|!= value`.
pub fn check_constraint(field: &str, c: &str) -> Result<(), ValidationError> {
    let (key, value) = if let Some((k, v)) = c.split_once("==") {
        (k.trim(), v.trim())
    } else if let Some((k, v)) = c.split_once("!=") {
        (k.trim(), v.trim())
    } else {
        return Err(ValidationError::new(
            field,
            format!("{c:?}: expected KEY==VALUE or KEY!=VALUE"),
        ));
    };
    let known = matches!(
        key,
        "node.id" | "node.hostname" | "node.role" | "node.platform.os" | "node.platform.arch"
    ) || key
        .strip_prefix("node.labels.")
        .is_some_and(|l| !l.is_empty());
    if !known {
        return Err(ValidationError::new(
            field,
            format!(
                "unknown constraint key {key:?}; known keys: {}",
                CONSTRAINT_KEYS.join(", ")
            ),
        ));
    }
    if value.is_empty() {
        return Err(ValidationError::new(
            field,
            format!("{c:?}: value must not be empty"),
        ));
    }
    if key == "node.role" && !matches!(value, "manager" | "worker") {
        return Err(ValidationError::new(
            field,
            "node.role must be manager or worker",
        ));
    }
    Ok(())
}

impl ContainerSpec {
    fn validate(&self, at: &str) -> Result<(), ValidationError> {
        if self.image.is_empty() {
            return Err(ValidationError::new(
                format!("{at}.image"),
                "an image is required",
            ));
        }
        ImageRef::parse(&self.image).map_err(|e| ValidationError::new(format!("{at}.image"), e))?;
        for (i, e) in self.env.iter().enumerate() {
            check_env(&format!("{at}.env[{i}]"), e)?;
        }
        check_labels(&format!("{at}.labels"), &self.labels)?;
        if !self.dir.is_empty() && !self.dir.starts_with('/') {
            return Err(ValidationError::new(
                format!("{at}.dir"),
                "must be an absolute path",
            ));
        }
        if !self.hostname.is_empty()
            && (self.hostname.len() > 253 || self.hostname.chars().any(char::is_whitespace))
        {
            return Err(ValidationError::new(
                format!("{at}.hostname"),
                "must be at most 253 characters without whitespace",
            ));
        }
        for (i, m) in self.mounts.iter().enumerate() {
            let f = format!("{at}.mounts[{i}]");
            if !m.target.starts_with('/') {
                return Err(ValidationError::new(
                    format!("{f}.target"),
                    "must be an absolute path",
                ));
            }
            match m.kind {
                MountType::Bind if !m.source.starts_with('/') => {
                    return Err(ValidationError::new(
                        format!("{f}.source"),
                        "bind source must be an absolute host path",
                    ));
                }
                MountType::Volume if !m.source.is_empty() => {
                    check_name(&format!("{f}.source"), &m.source)?
                }
                MountType::Tmpfs if !m.source.is_empty() => {
                    return Err(ValidationError::new(
                        format!("{f}.source"),
                        "tmpfs takes no source",
                    ));
                }
                _ => {}
            }
        }
        if !self.stop_signal.is_empty() && !is_signal_name(&self.stop_signal) {
            return Err(ValidationError::new(
                format!("{at}.stop_signal"),
                format!("{:?} is not a signal name or number", self.stop_signal),
            ));
        }
        if let Some(h) = &self.healthcheck {
            let f = format!("{at}.healthcheck.test");
            match h.test.first().map(String::as_str) {
                None | Some("NONE") => {}
                Some("CMD") if h.test.len() > 1 => {}
                Some("CMD-SHELL") if h.test.len() == 2 => {}
                _ => {
                    return Err(ValidationError::new(
                        f,
                        "must be [\"NONE\"], [\"CMD\", args…] or [\"CMD-SHELL\", command]",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Checks one `KEY=VALUE` environment entry.
pub fn check_env(field: &str, e: &str) -> Result<(), ValidationError> {
    let key = e.split_once('=').map_or(e, |(k, _)| k);
    if key.is_empty() {
        return Err(ValidationError::new(
            field,
            format!("{e:?}: variable name must not be empty"),
        ));
    }
    if !e.contains('=') {
        return Err(ValidationError::new(
            field,
            format!("{e:?}: expected KEY=VALUE"),
        ));
    }
    if key.chars().any(|c| c.is_whitespace() || c.is_control()) || e.contains('\0') {
        return Err(ValidationError::new(
            field,
            format!("{key:?}: variable name must not contain whitespace or control characters"),
        ));
    }
    if e.len() > MAX_ENV_LEN {
        return Err(ValidationError::new(
            field,
            format!("longer than {MAX_ENV_LEN} bytes"),
        ));
    }
    Ok(())
}

fn is_signal_name(s: &str) -> bool {
    if let Ok(n) = s.parse::<u32>() {
        return (1..=64).contains(&n);
    }
    let name = s.strip_prefix("SIG").unwrap_or(s);
    matches!(
        name,
        "HUP"
            | "INT"
            | "QUIT"
            | "ILL"
            | "TRAP"
            | "ABRT"
            | "BUS"
            | "FPE"
            | "KILL"
            | "USR1"
            | "SEGV"
            | "USR2"
            | "PIPE"
            | "ALRM"
            | "TERM"
            | "STKFLT"
            | "CHLD"
            | "CONT"
            | "STOP"
            | "TSTP"
            | "TTIN"
            | "TTOU"
            | "URG"
            | "XCPU"
            | "XFSZ"
            | "VTALRM"
            | "PROF"
            | "WINCH"
            | "IO"
            | "PWR"
            | "SYS"
    ) || name.starts_with("RTMIN")
        || name.starts_with("RTMAX")
}

impl UpdateConfig {
    fn validate(&self, at: &str) -> Result<(), ValidationError> {
        if !(0.0..=1.0).contains(&self.max_failure_ratio) || self.max_failure_ratio.is_nan() {
            return Err(ValidationError::new(
                format!("{at}.max_failure_ratio"),
                "must be between 0 and 1",
            ));
        }
        Ok(())
    }
}

impl EndpointSpec {
    fn validate(&self, at: &str) -> Result<(), ValidationError> {
        let mut seen = std::collections::BTreeSet::new();
        for (i, p) in self.ports.iter().enumerate() {
            let f = format!("{at}.ports[{i}]");
            if !matches!(p.protocol.as_str(), "tcp" | "udp") {
                return Err(ValidationError::new(
                    format!("{f}.protocol"),
                    "must be tcp or udp",
                ));
            }
            if p.target_port == 0 {
                return Err(ValidationError::new(
                    format!("{f}.target_port"),
                    "must be 1-65535",
                ));
            }
            if p.published_port != 0 && !seen.insert((p.published_port, p.protocol.clone())) {
                return Err(ValidationError::new(
                    format!("{f}.published_port"),
                    format!("{}/{} is published twice", p.published_port, p.protocol),
                ));
            }
        }
        if self.mode == EndpointMode::Dnsrr
            && self
                .ports
                .iter()
                .any(|p| p.publish_mode == PublishMode::Ingress)
        {
            return Err(ValidationError::new(
                format!("{at}.mode"),
                "dnsrr cannot be used with ports published in ingress mode",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ServiceSpec {
        ServiceSpec {
            name: "web".into(),
            task_template: TaskSpec {
                container_spec: ContainerSpec {
                    image: "busybox".into(),
                    ..Default::default()
                },
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn field_of(s: &ServiceSpec) -> String {
        s.validate().expect_err("spec should be refused").field
    }

    #[test]
    fn good_spec_passes() {
        let mut s = spec();
        s.task_template.container_spec.env = vec!["A=1".into(), "B=".into()];
        s.task_template.placement.constraints =
            vec!["node.labels.zone==a".into(), "node.role!=manager".into()];
        assert_eq!(s.validate(), Ok(()));
    }

    #[test]
    fn each_bad_field_is_named() {
        let mut s = spec();
        s.name = String::new();
        assert_eq!(field_of(&s), "spec.name");

        let mut s = spec();
        s.mode = ServiceMode::Replicated {
            replicas: MAX_REPLICAS + 1,
        };
        assert_eq!(field_of(&s), "spec.mode.replicated.replicas");

        let mut s = spec();
        s.task_template.container_spec.image = "Not A Ref".into();
        assert_eq!(field_of(&s), "spec.task_template.container_spec.image");

        let mut s = spec();
        s.task_template.container_spec.image = String::new();
        assert_eq!(field_of(&s), "spec.task_template.container_spec.image");

        let mut s = spec();
        s.task_template.container_spec.env = vec!["A=1".into(), "=x".into()];
        assert_eq!(field_of(&s), "spec.task_template.container_spec.env[1]");

        let mut s = spec();
        s.task_template.container_spec.env = vec!["NOVALUE".into()];
        assert_eq!(field_of(&s), "spec.task_template.container_spec.env[0]");

        let mut s = spec();
        s.task_template.placement.constraints = vec!["node.colour==red".into()];
        assert_eq!(field_of(&s), "spec.task_template.placement.constraints[0]");

        let mut s = spec();
        s.update_config.max_failure_ratio = 1.5;
        assert_eq!(field_of(&s), "spec.update_config.max_failure_ratio");

        let mut s = spec();
        s.task_template.container_spec.stop_signal = "SIGNOPE".into();
        assert_eq!(
            field_of(&s),
            "spec.task_template.container_spec.stop_signal"
        );
    }

    #[test]
    fn update_states_use_dockers_names() {
        for st in [
            UpdateState::Updating,
            UpdateState::Paused,
            UpdateState::Completed,
            UpdateState::RollbackStarted,
            UpdateState::RollbackPaused,
            UpdateState::RollbackCompleted,
        ] {
            let json = serde_json::to_string(&st).expect("encodes");
            assert_eq!(json, format!("\"{}\"", st.name()));
            assert_eq!(
                serde_json::from_str::<UpdateState>(&json).expect("decodes"),
                st
            );
        }
    }

    #[test]
    fn service_without_update_status_decodes() {
        let svc = Service {
            id: crate::ServiceId::from("s"),
            meta: Meta::default(),
            spec: spec(),
            previous_spec: None,
            update_status: None,
        };
        let mut v = serde_json::to_value(&svc).expect("encodes");
        if let Some(o) = v.as_object_mut() {
            o.remove("update_status");
        }
        let back: Service = serde_json::from_value(v).expect("decodes without the field");
        assert_eq!(back, svc);
    }

    #[test]
    fn unknown_json_fields_are_refused() {
        let err = serde_json::from_str::<ServiceSpec>(r#"{"name":"web","replicaz":3}"#)
            .expect_err("unknown field must be refused");
        assert!(err.to_string().contains("replicaz"), "{err}");
    }
}
