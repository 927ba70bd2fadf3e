//! The health-check driver: one tokio task per running container that has a health check,
//! probing it every interval through the engine (on a blocking thread) and recording the
//! result. A task is started when its container starts (and, after a daemon restart, for every
//! re-adopted running container) and ends once its container no longer runs or is removed.
//! While a container is paused its probes are skipped.

use flotilla_engine::{ContainerInfo, Engine, State};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::task::JoinHandle;

/// The probers of the node's containers.
pub struct HealthMonitor {
    engine: Arc<Engine>,
    /// The prober of each container, by full id.
    probers: Mutex<HashMap<String, JoinHandle<()>>>,
}

impl HealthMonitor {
    /// A monitor probing through `engine`.
    pub fn new(engine: Arc<Engine>) -> Self {
        Self {
            engine,
            probers: Mutex::default(),
        }
    }

    fn probers(&self) -> MutexGuard<'_, HashMap<String, JoinHandle<()>>> {
        self.probers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts probing the container `info` describes, if it runs, has a health check, and is
    /// not probed already. Call it from within the tokio runtime.
    pub fn watch(&self, info: &ContainerInfo) {
        let Some(config) = &info.record.healthcheck else {
            return;
        };
        if !matches!(info.state, State::Running | State::Paused) {
            return;
        }
        let id = info.record.id.clone();
        let mut probers = self.probers();
        if probers.get(&id).is_some_and(|p| !p.is_finished()) {
            return;
        }
        let interval = config.interval_or_default();
        tracing::debug!(id = %id, ?interval, "health checks start");
        let prober = tokio::spawn(probe_loop(self.engine.clone(), id.clone(), interval));
        probers.insert(id, prober);
    }

    /// Stops probing container `id` (removed).
    pub fn unwatch(&self, id: &str) {
        if let Some(prober) = self.probers().remove(id) {
            prober.abort();
        }
    }

    /// Starts probing every running container (after a daemon restart).
    pub async fn watch_running(&self) {
        let engine = self.engine.clone();
        match tokio::task::spawn_blocking(move || engine.list(false)).await {
            Ok(Ok(infos)) => {
                for info in &infos {
                    self.watch(info);
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot list containers for health checks"),
            Err(e) => tracing::warn!(error = %e, "the container listing failed"),
        }
    }
}

/// Probes container `id` every `interval` until it no longer runs.
async fn probe_loop(engine: Arc<Engine>, id: String, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        let (e, key) = (engine.clone(), id.clone());
        let outcome = tokio::task::spawn_blocking(move || {
            let result = e.probe_health(&key)?;
            e.record_health(&key, result)
        })
        .await;
        let error = match outcome {
            Ok(Ok(health)) => {
                tracing::trace!(id = %id, status = health.status.name(), streak = health.failing_streak, "health probed");
                continue;
            }
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        // Not probed: go on only while the container still runs (paused: skipped).
        let (e, key) = (engine.clone(), id.clone());
        let state = tokio::task::spawn_blocking(move || e.inspect(&key).map(|i| i.state)).await;
        match state {
            Ok(Ok(State::Running | State::Paused)) => {
                tracing::debug!(id = %id, error = %error, "health probe skipped");
            }
            _ => {
                tracing::debug!(id = %id, "the container no longer runs: health checks end");
                return;
            }
        }
    }
}
