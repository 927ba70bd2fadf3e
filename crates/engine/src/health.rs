//! Docker's `HEALTHCHECK`: the configuration ([`HealthConfig`], from `--health-*` flags or the
//! image), the state a running container's checks build up ([`Health`]), and one probe run
//! inside the container with the runtime's `exec` ([`Engine::probe_health`]), recorded with
//! [`Engine::record_health`].
//!
//! The engine stays synchronous: something else (the daemon's health driver) calls
//! [`Engine::probe_health`] every [`HealthConfig::interval_or_default`] on a blocking thread.
//! Health states live in memory only: a restarted daemon shows a re-adopted container as
//! `starting` again until its next probes.

use crate::engine::{Engine, State};
use crate::error::{EngineError, Result};
use crate::record::{ContainerRecord, now_ms};
use flotilla_container::{ContainerError, ExecConfig, Runtime};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::Child;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Docker's default time between two checks.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// Docker's default time a check may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Docker's default number of consecutive failures that make a container unhealthy.
pub const DEFAULT_RETRIES: u32 = 3;
/// How many results [`Health::log`] keeps.
pub const MAX_LOG_ENTRIES: usize = 5;
/// How much of a check's output is kept, in bytes.
pub const MAX_OUTPUT_BYTES: usize = 4096;
/// The shortest interval, timeout or start period accepted (Docker's).
pub const MIN_DURATION: Duration = Duration::from_millis(1);

/// How often a probe looks whether its command has ended.
const POLL: Duration = Duration::from_millis(10);
/// How long the output of an ended probe is waited for (a background process of the check may
/// keep its pipes open).
const OUTPUT_GRACE: Duration = Duration::from_millis(500);

/// A container's health check, as Docker's `HealthConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HealthConfig {
    /// `[]`: inherit the image's; `["NONE"]`: disabled; `["CMD", args…]`: run `args`;
    /// `["CMD-SHELL", command]`: run `/bin/sh -c command`.
    pub test: Vec<String>,
    /// Time between checks; `None`: the image's, else 30 s.
    pub interval: Option<Duration>,
    /// Time a check may take before it is killed and counted as failed; `None`: the image's,
    /// else 30 s.
    pub timeout: Option<Duration>,
    /// Consecutive failures that make the container unhealthy; 0: the image's, else 3.
    pub retries: u32,
    /// Time after the start during which failures do not count; `None`: the image's, else 0.
    pub start_period: Option<Duration>,
}

impl HealthConfig {
    /// A check running `command` with `/bin/sh -c` (`--health-cmd`).
    pub fn shell(command: impl Into<String>) -> HealthConfig {
        HealthConfig {
            test: vec!["CMD-SHELL".to_owned(), command.into()],
            ..HealthConfig::default()
        }
    }

    /// The configuration that disables the image's check (`--no-healthcheck`).
    pub fn none() -> HealthConfig {
        HealthConfig {
            test: vec!["NONE".to_owned()],
            ..HealthConfig::default()
        }
    }

    /// Whether this disables health checks (`["NONE"]`).
    pub fn is_disabled(&self) -> bool {
        self.test.first().is_some_and(|t| t == "NONE")
    }

    /// The interval, or Docker's default.
    pub fn interval_or_default(&self) -> Duration {
        self.interval.unwrap_or(DEFAULT_INTERVAL)
    }

    /// The timeout, or Docker's default.
    pub fn timeout_or_default(&self) -> Duration {
        self.timeout.unwrap_or(DEFAULT_TIMEOUT)
    }

    /// The retries, or Docker's default.
    pub fn retries_or_default(&self) -> u32 {
        if self.retries == 0 {
            DEFAULT_RETRIES
        } else {
            self.retries
        }
    }

    /// The start period, or none.
    pub fn start_period_or_default(&self) -> Duration {
        self.start_period.unwrap_or(Duration::ZERO)
    }

    /// The command a probe runs inside the container; `None` if there is none (empty or
    /// disabled).
    pub fn command(&self) -> Option<Vec<String>> {
        match self.test.split_first() {
            Some((kind, rest)) if kind == "CMD" && !rest.is_empty() => Some(rest.to_vec()),
            Some((kind, [command])) if kind == "CMD-SHELL" => {
                Some(vec!["/bin/sh".to_owned(), "-c".to_owned(), command.clone()])
            }
            _ => None,
        }
    }

    /// Checks the fields, naming the flag of the first bad one.
    pub fn validate(&self) -> Result<()> {
        match self.test.split_first() {
            None => {}
            Some((kind, [])) if kind == "NONE" => {}
            Some((kind, rest)) if kind == "CMD" && rest.first().is_some_and(|a| !a.is_empty()) => {}
            Some((kind, [command])) if kind == "CMD-SHELL" && !command.trim().is_empty() => {}
            Some(_) => {
                return Err(EngineError::invalid(
                    "--health-cmd",
                    format!(
                        "{:?} is not a health check: expected [\"NONE\"], [\"CMD\", args…] or \
                         [\"CMD-SHELL\", command]",
                        self.test
                    ),
                ));
            }
        }
        for (flag, value) in [
            ("--health-interval", self.interval),
            ("--health-timeout", self.timeout),
        ] {
            if let Some(d) = value
                && d < MIN_DURATION
            {
                return Err(EngineError::invalid(
                    flag,
                    format!("{d:?} is too short: at least 1ms"),
                ));
            }
        }
        if let Some(d) = self.start_period
            && !d.is_zero()
            && d < MIN_DURATION
        {
            return Err(EngineError::invalid(
                "--health-start-period",
                format!("{d:?} is too short: 0 or at least 1ms"),
            ));
        }
        Ok(())
    }

    /// Reads the `Healthcheck` of an image's configuration document (`config.Healthcheck`,
    /// Docker's extension to the OCI format: durations in nanoseconds); `None` if it has none.
    pub fn from_image_config(document: &serde_json::Value) -> Option<HealthConfig> {
        let h = document.get("config")?.get("Healthcheck")?;
        let test: Vec<String> = h
            .get("Test")?
            .as_array()?
            .iter()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect();
        let duration = |key: &str| {
            h.get(key)
                .and_then(serde_json::Value::as_u64)
                .filter(|ns| *ns > 0)
                .map(Duration::from_nanos)
        };
        let retries = h
            .get("Retries")
            .and_then(serde_json::Value::as_u64)
            .and_then(|r| u32::try_from(r).ok())
            .unwrap_or(0);
        Some(HealthConfig {
            test,
            interval: duration("Interval"),
            timeout: duration("Timeout"),
            retries,
            start_period: duration("StartPeriod"),
        })
    }

    /// The check in effect for a container: the request's fields over the image's (Docker's
    /// merge: an empty test, a `None` duration or 0 retries take the image's). `None` when
    /// there is no check or it is disabled.
    pub fn effective(
        requested: Option<&HealthConfig>,
        image: Option<HealthConfig>,
    ) -> Option<HealthConfig> {
        let merged = match (requested, image) {
            (None, image) => image?,
            (Some(r), None) => r.clone(),
            (Some(r), Some(i)) => HealthConfig {
                test: if r.test.is_empty() {
                    i.test
                } else {
                    r.test.clone()
                },
                interval: r.interval.or(i.interval),
                timeout: r.timeout.or(i.timeout),
                retries: if r.retries == 0 { i.retries } else { r.retries },
                start_period: r.start_period.or(i.start_period),
            },
        };
        merged.command().is_some().then_some(merged)
    }
}

/// Docker's health states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// No check has passed yet, and not enough have failed.
    Starting,
    /// The last check passed.
    Healthy,
    /// `retries` checks in a row failed.
    Unhealthy,
}

impl HealthStatus {
    /// Docker's lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthResult {
    /// When it started, ms since the epoch.
    pub start_ms: u64,
    /// When it ended, ms since the epoch.
    pub end_ms: u64,
    /// The command's exit code (0: healthy); -1 if it timed out or could not run.
    pub exit_code: i32,
    /// Its stdout and stderr, at most [`MAX_OUTPUT_BYTES`].
    pub output: String,
}

/// A container's health, as `inspect` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// The state.
    pub status: HealthStatus,
    /// Consecutive failed checks (those in the start period not counted).
    pub failing_streak: u32,
    /// The last [`MAX_LOG_ENTRIES`] results, oldest first.
    pub log: Vec<HealthResult>,
}

impl Health {
    /// The state of a container whose checks have not run yet.
    pub fn starting() -> Health {
        Health {
            status: HealthStatus::Starting,
            failing_streak: 0,
            log: Vec::new(),
        }
    }

    /// Takes one result in, as Docker does: a success makes the container healthy; a failure
    /// counts unless the container is still starting and within its start period
    /// (`in_start_period`), and `retries` of them in a row make it unhealthy.
    pub fn record(&mut self, result: HealthResult, retries: u32, in_start_period: bool) {
        if result.exit_code == 0 {
            self.failing_streak = 0;
            self.status = HealthStatus::Healthy;
        } else if !(in_start_period && self.status == HealthStatus::Starting) {
            self.failing_streak = self.failing_streak.saturating_add(1);
            if self.failing_streak >= retries.max(1) {
                self.status = HealthStatus::Unhealthy;
            }
        }
        self.log.push(result);
        if self.log.len() > MAX_LOG_ENTRIES {
            let extra = self.log.len() - MAX_LOG_ENTRIES;
            self.log.drain(..extra);
        }
    }

    /// What `container ls` adds to `Up …`: `(healthy)`, `(health: starting)`, `(unhealthy)`.
    pub fn status_suffix(&self) -> &'static str {
        match self.status {
            HealthStatus::Starting => "(health: starting)",
            HealthStatus::Healthy => "(healthy)",
            HealthStatus::Unhealthy => "(unhealthy)",
        }
    }
}

/// At most [`MAX_OUTPUT_BYTES`] of `bytes`, as text.
fn truncate_output(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_OUTPUT_BYTES)]).into_owned()
}

impl Engine {
    /// Runs the health check of container `key` once, inside it, and waits for it (at most
    /// its timeout; a check still running then is killed and counts as failed with exit code
    /// -1). A check that cannot be started is a failed result too. Fails only if the container
    /// has no health check, is not running, or is paused.
    pub fn probe_health(&self, key: &str) -> Result<HealthResult> {
        let rec = self.lookup(key)?;
        let Some(config) = rec.healthcheck.clone() else {
            return Err(EngineError::invalid(
                "healthcheck",
                format!("container {} has no health check", rec.short_id()),
            ));
        };
        let Some(args) = config.command() else {
            return Err(EngineError::invalid(
                "healthcheck",
                format!("container {} has no health check command", rec.short_id()),
            ));
        };
        if self.running(&rec)?.is_none() {
            return Err(not_running(&rec));
        }
        if rec.paused {
            return Err(EngineError::State {
                id: rec.short_id().to_owned(),
                state: State::Paused.name().into(),
                reason: "its health is not checked while it is paused".into(),
            });
        }
        run_probe(
            &self.runtime,
            &rec,
            ExecConfig::new(args),
            config.timeout_or_default(),
        )
    }

    /// Takes a probe's result into container `key`'s health and returns it. Results that
    /// started before the container's last start are ignored.
    pub fn record_health(&self, key: &str, result: HealthResult) -> Result<Health> {
        let rec = self.lookup(key)?;
        let Some(config) = rec.healthcheck.as_ref() else {
            return Err(EngineError::invalid(
                "healthcheck",
                format!("container {} has no health check", rec.short_id()),
            ));
        };
        let started = rec.started_at_ms.unwrap_or(0);
        let mut all = self.health_states();
        let health = all.entry(rec.id.clone()).or_insert_with(Health::starting);
        if result.start_ms < started {
            return Ok(health.clone());
        }
        let period_ms =
            u64::try_from(config.start_period_or_default().as_millis()).unwrap_or(u64::MAX);
        let in_start_period = result.start_ms < started.saturating_add(period_ms);
        health.record(result, config.retries_or_default(), in_start_period);
        Ok(health.clone())
    }

    /// Container `rec`'s health as `inspect` shows it in `state`: `None` without a health
    /// check; `starting` for a running container not probed yet; the last known for a stopped
    /// one, if any.
    pub(crate) fn health_of(&self, rec: &ContainerRecord, state: State) -> Option<Health> {
        rec.healthcheck.as_ref()?;
        let all = self.health_states();
        match state {
            State::Running | State::Paused => {
                Some(all.get(&rec.id).cloned().unwrap_or_else(Health::starting))
            }
            State::Created | State::Exited | State::Dead => all.get(&rec.id).cloned(),
        }
    }

    /// Forgets container `id`'s health (on start: it is `starting` again; on removal).
    pub(crate) fn reset_health(&self, id: &str) {
        self.health_states().remove(id);
    }

    /// Every container's health, locked.
    fn health_states(&self) -> MutexGuard<'_, HashMap<String, Health>> {
        self.health.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The error for a container that is not running.
fn not_running(rec: &ContainerRecord) -> EngineError {
    EngineError::State {
        id: rec.short_id().to_owned(),
        state: "not running".into(),
        reason: "its health cannot be checked".into(),
    }
}

/// Runs one probe: `exec` with the helper's pipes, the output of both streams gathered, the
/// helper killed (and with it the command) at the timeout.
fn run_probe(
    runtime: &Runtime,
    rec: &ContainerRecord,
    exec: ExecConfig,
    timeout: Duration,
) -> Result<HealthResult> {
    let start_ms = now_ms();
    let failed = |output: String| HealthResult {
        start_ms,
        end_ms: now_ms(),
        exit_code: -1,
        output,
    };
    let mut child = match runtime.exec(rec.runtime_key(), exec) {
        Ok(child) => child,
        Err(ContainerError::NotRunning { .. }) => return Err(not_running(rec)),
        Err(e) => return Ok(failed(format!("cannot run the health check: {e}"))),
    };
    drop(child.stdin.take());
    let output: Arc<Mutex<Vec<u8>>> = Arc::default();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let mut readers = 0;
    if let Some(stdout) = child.stdout.take() {
        readers += usize::from(spawn_reader(stdout, &output, done_tx.clone()));
    }
    if let Some(stderr) = child.stderr.take() {
        readers += usize::from(spawn_reader(stderr, &output, done_tx.clone()));
    }
    drop(done_tx);
    let deadline = Instant::now() + timeout;
    let exit_code = match wait_until(&mut child, deadline) {
        Ok(Some(code)) => code,
        Ok(None) => {
            tracing::debug!(id = %rec.id, ?timeout, "health check timed out; killed");
            return Ok(failed(format!(
                "Health check exceeded timeout ({timeout:?})"
            )));
        }
        Err(e) => return Ok(failed(format!("cannot wait for the health check: {e}"))),
    };
    let grace = Instant::now() + OUTPUT_GRACE;
    for _ in 0..readers {
        let remaining = grace.saturating_duration_since(Instant::now());
        if done_rx.recv_timeout(remaining).is_err() {
            break;
        }
    }
    let text = truncate_output(&output.lock().unwrap_or_else(PoisonError::into_inner));
    Ok(HealthResult {
        start_ms,
        end_ms: now_ms(),
        exit_code,
        output: text,
    })
}

/// Waits for `child` until `deadline`: its exit code (128 + signal if killed), or `None` if
/// it was still running then (it is killed and reaped).
fn wait_until(child: &mut Child, deadline: Instant) -> std::io::Result<Option<i32>> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let code = status
                    .code()
                    .or_else(|| status.signal().map(|s| 128 + s))
                    .unwrap_or(-1);
                return Ok(Some(code));
            }
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(None);
            }
            Ok(None) => std::thread::sleep(POLL),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        }
    }
}

/// Copies `pipe` into `output` (keeping the first [`MAX_OUTPUT_BYTES`]) on a thread of its
/// own, which says `done` at end-of-file; `false` if the thread could not be started.
fn spawn_reader(
    mut pipe: impl Read + Send + 'static,
    output: &Arc<Mutex<Vec<u8>>>,
    done: mpsc::Sender<()>,
) -> bool {
    let output = Arc::clone(output);
    std::thread::Builder::new()
        .name("health-output".into())
        .spawn(move || {
            let mut chunk = [0u8; 4096];
            loop {
                match pipe.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => {
                        let mut out = output.lock().unwrap_or_else(PoisonError::into_inner);
                        let room = MAX_OUTPUT_BYTES.saturating_sub(out.len());
                        out.extend_from_slice(&chunk[..n.min(room)]);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            let _ = done.send(());
        })
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(exit_code: i32) -> HealthResult {
        HealthResult {
            start_ms: 1,
            end_ms: 2,
            exit_code,
            output: String::new(),
        }
    }

    #[test]
    fn defaults_are_dockers() {
        let c = HealthConfig::shell("true");
        assert_eq!(c.interval_or_default(), Duration::from_secs(30));
        assert_eq!(c.timeout_or_default(), Duration::from_secs(30));
        assert_eq!(c.retries_or_default(), 3);
        assert_eq!(c.start_period_or_default(), Duration::ZERO);
        let c = HealthConfig {
            retries: 5,
            interval: Some(Duration::from_millis(200)),
            ..c
        };
        assert_eq!(c.retries_or_default(), 5);
        assert_eq!(c.interval_or_default(), Duration::from_millis(200));
    }

    #[test]
    fn commands_of_each_test_form() {
        assert_eq!(
            HealthConfig::shell("test -f /tmp/ok").command(),
            Some(vec![
                "/bin/sh".into(),
                "-c".into(),
                "test -f /tmp/ok".into()
            ])
        );
        let cmd = HealthConfig {
            test: vec!["CMD".into(), "cat".into(), "/x".into()],
            ..HealthConfig::default()
        };
        assert_eq!(cmd.command(), Some(vec!["cat".into(), "/x".into()]));
        assert_eq!(HealthConfig::none().command(), None);
        assert!(HealthConfig::none().is_disabled());
        assert_eq!(HealthConfig::default().command(), None);
    }

    #[test]
    fn validation_names_the_flag() {
        let field = |c: HealthConfig| match c.validate() {
            Err(EngineError::Invalid { field, .. }) => field,
            other => panic!("expected an invalid field, got {other:?}"),
        };
        HealthConfig::shell("true").validate().unwrap();
        HealthConfig::none().validate().unwrap();
        HealthConfig::default().validate().unwrap();
        let bad_test = HealthConfig {
            test: vec!["CMD".into()],
            ..HealthConfig::default()
        };
        assert_eq!(field(bad_test), "--health-cmd");
        let bad_test = HealthConfig {
            test: vec!["RUN".into(), "x".into()],
            ..HealthConfig::default()
        };
        assert_eq!(field(bad_test), "--health-cmd");
        let zero = HealthConfig {
            interval: Some(Duration::ZERO),
            ..HealthConfig::shell("true")
        };
        assert_eq!(field(zero), "--health-interval");
        let tiny = HealthConfig {
            timeout: Some(Duration::from_micros(10)),
            ..HealthConfig::shell("true")
        };
        assert_eq!(field(tiny), "--health-timeout");
    }

    #[test]
    fn image_healthcheck_and_merge() {
        let doc = serde_json::json!({
            "config": {
                "Healthcheck": {
                    "Test": ["CMD-SHELL", "curl -f localhost"],
                    "Interval": 5_000_000_000u64,
                    "Timeout": 0,
                    "Retries": 4
                }
            }
        });
        let image = HealthConfig::from_image_config(&doc).expect("a healthcheck");
        assert_eq!(image.interval, Some(Duration::from_secs(5)));
        assert_eq!(image.timeout, None);
        assert_eq!(image.retries, 4);
        assert_eq!(
            HealthConfig::from_image_config(&serde_json::json!({"config": {}})),
            None
        );

        // Nothing asked: the image's.
        assert_eq!(
            HealthConfig::effective(None, Some(image.clone())),
            Some(image.clone())
        );
        // Disabled.
        assert_eq!(
            HealthConfig::effective(Some(&HealthConfig::none()), Some(image.clone())),
            None
        );
        // Only the interval given: the image's command, the request's interval.
        let only_interval = HealthConfig {
            interval: Some(Duration::from_secs(1)),
            ..HealthConfig::default()
        };
        let merged =
            HealthConfig::effective(Some(&only_interval), Some(image.clone())).expect("merged");
        assert_eq!(merged.test, image.test);
        assert_eq!(merged.interval, Some(Duration::from_secs(1)));
        assert_eq!(merged.retries, 4);
        // A request without a command and no image check: none.
        assert_eq!(HealthConfig::effective(Some(&only_interval), None), None);
        assert_eq!(HealthConfig::effective(None, None), None);
    }

    #[test]
    fn streaks_and_start_period() {
        let mut h = Health::starting();
        // Failures in the start period do not count while starting.
        h.record(result(1), 2, true);
        h.record(result(1), 2, true);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Starting, 0));
        // A success flips to healthy even then.
        h.record(result(0), 2, true);
        assert_eq!(h.status, HealthStatus::Healthy);
        // Once healthy the start period no longer shields failures.
        h.record(result(1), 2, true);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Healthy, 1));
        h.record(result(1), 2, false);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Unhealthy, 2));
        h.record(result(0), 2, false);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Healthy, 0));
        for _ in 0..10 {
            h.record(result(1), 2, false);
        }
        assert_eq!(h.log.len(), MAX_LOG_ENTRIES);
        assert_eq!(h.status_suffix(), "(unhealthy)");
        assert_eq!(Health::starting().status_suffix(), "(health: starting)");
    }

    #[test]
    fn output_is_truncated() {
        let long = vec![b'x'; MAX_OUTPUT_BYTES + 100];
        assert_eq!(truncate_output(&long).len(), MAX_OUTPUT_BYTES);
        assert_eq!(truncate_output(b"ok\n"), "ok\n");
    }
}
