//! [`EngineExecutor`]: the agent's operations on the node's container engine.
//!
//! Tasks find their containers by name (derived from the task, see [`crate::spec`]); the
//! executor keeps task id → container name for tasks it has seen, and rebuilds it from the
//! task-id labels of the engine's containers when asked to [`list`](Executor::list) (after a
//! restart). A missing image is pulled (with the node's insecure registries); a pull that fails
//! rejects the task.

use crate::health::HealthMonitor;
use crate::spec::{TASK_ID_LABEL, container_name, run_spec};
use flotilla_agent::{AssignedTask, ContainerState, ExecError, Executor, Health, Observed};
use flotilla_engine::{ContainerInfo, Engine, EngineError, HealthStatus, State};
use flotilla_image::{ImageRef, PullOptions};
use flotilla_model::TaskId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// The executor over a node's engine.
pub struct EngineExecutor {
    engine: Arc<Engine>,
    health: Arc<HealthMonitor>,
    node_hostname: String,
    pull: PullOptions,
    /// Task id → container name, for the tasks seen so far.
    names: Mutex<HashMap<TaskId, String>>,
}

impl std::fmt::Debug for EngineExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineExecutor")
            .field("node_hostname", &self.node_hostname)
            .finish_non_exhaustive()
    }
}

impl EngineExecutor {
    /// An executor running tasks on `engine`, on a node called `node_hostname`, pulling
    /// missing images (over plain HTTP from `insecure_registries`).
    pub fn new(
        engine: Arc<Engine>,
        health: Arc<HealthMonitor>,
        node_hostname: String,
        insecure_registries: Vec<String>,
    ) -> Self {
        Self {
            engine,
            health,
            node_hostname,
            pull: PullOptions {
                insecure_registries,
            },
            names: Mutex::new(HashMap::new()),
        }
    }

    fn names(&self) -> std::sync::MutexGuard<'_, HashMap<TaskId, String>> {
        self.names.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs a blocking engine call on tokio's blocking pool; the outer error is the call
    /// itself failing (a panic), the inner one the engine's answer.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Engine) -> Result<T, EngineError> + Send + 'static,
    ) -> Result<Result<T, EngineError>, ExecError> {
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || f(&engine))
            .await
            .map_err(|e| ExecError::failure(format!("engine call panicked or was cancelled: {e}")))
    }

    /// The container of `task`, if the engine has it (`None` if not).
    async fn find(&self, task: &TaskId) -> Result<Option<ContainerInfo>, ExecError> {
        let Some(name) = self.names().get(task).cloned() else {
            return Ok(None);
        };
        match self.blocking(move |e| e.inspect(&name)).await? {
            Ok(info) => Ok(Some(info)),
            Err(EngineError::NotFound(_)) => Ok(None),
            Err(e) => Err(ExecError::failure(e.to_string())),
        }
    }

    /// Makes sure the task's image is in the store, pulling it if needed.
    async fn ensure_image(&self, image: &str) -> Result<(), ExecError> {
        if self.engine.images().resolve(image).is_ok() {
            return Ok(());
        }
        let reference = ImageRef::parse(image)
            .map_err(|e| ExecError::rejection(format!("invalid image reference {image:?}: {e}")))?;
        tracing::info!(%reference, "pulling a task's image");
        flotilla_image::pull(self.engine.images(), &reference, &self.pull, &mut |_| {})
            .await
            .map(|_| ())
            .map_err(|e| ExecError::rejection(format!("No such image: {image}: {e}")))
    }
}

/// What the agent sees of an engine container.
fn observed(task_id: TaskId, info: &ContainerInfo) -> Observed {
    let state = match info.state {
        State::Created => ContainerState::Created,
        State::Running | State::Paused => ContainerState::Running {
            health: match info.health.as_ref().map(|h| h.status) {
                None => Health::None,
                Some(HealthStatus::Starting) => Health::Starting,
                Some(HealthStatus::Healthy) => Health::Healthy,
                Some(HealthStatus::Unhealthy) => Health::Unhealthy,
            },
        },
        State::Exited | State::Dead => ContainerState::Exited {
            code: info.exit.as_ref().map_or(137, |e| e.code_or_signal()),
            oom_killed: info.exit.as_ref().is_some_and(|e| e.oom_killed),
        },
    };
    Observed { task_id, state }
}

impl EngineExecutor {
    /// The log file of `task`'s container, if this node has the container.
    pub async fn log_path(&self, task: &TaskId) -> Option<std::path::PathBuf> {
        if !self.names().contains_key(task) {
            // Not seen since the start: refresh the task → container map.
            let _ = Executor::list(self).await;
        }
        self.find(task).await.ok().flatten().map(|i| i.log_path)
    }
}

impl Executor for EngineExecutor {
    async fn list(&self) -> Result<Vec<Observed>, ExecError> {
        let all = self
            .blocking(|e| e.list(true))
            .await?
            .map_err(|e| ExecError::failure(e.to_string()))?;
        let mut out = Vec::new();
        let mut names = self.names();
        for info in &all {
            if let Some(id) = info.record.spec.labels.get(TASK_ID_LABEL) {
                let id = TaskId::from(id.as_str());
                names.insert(id.clone(), info.record.name.clone());
                out.push(observed(id, info));
            }
        }
        Ok(out)
    }

    async fn prepare(&self, task: &AssignedTask) -> Result<(), ExecError> {
        if self.find(&task.task.id).await?.is_some() {
            return Ok(());
        }
        let spec = run_spec(task, &self.node_hostname)?;
        // A spec the engine would refuse rejects the task before anything is pulled.
        spec.validate()
            .map_err(|e| ExecError::rejection(e.to_string()))?;
        self.ensure_image(&spec.image).await?;
        let name = container_name(task);
        let lookup_name = name.clone();
        let res = self
            .blocking(move |engine| match engine.create(spec) {
                Ok(_) => Ok(()),
                // Made by an earlier attempt whose answer was lost: it is this task's.
                Err(e) if engine.lookup(&lookup_name).is_ok() => {
                    tracing::debug!(error = %e, "the task's container already exists");
                    Ok(())
                }
                Err(e) => Err(e),
            })
            .await?;
        match res {
            Ok(()) => {
                self.names().insert(task.task.id.clone(), name);
                Ok(())
            }
            Err(e @ (EngineError::Invalid { .. } | EngineError::NotFound(_))) => {
                Err(ExecError::rejection(e.to_string()))
            }
            Err(e) => Err(ExecError::failure(e.to_string())),
        }
    }

    async fn start(&self, task: &AssignedTask) -> Result<(), ExecError> {
        let name = container_name(task);
        self.names().insert(task.task.id.clone(), name.clone());
        let info = self
            .blocking(move |e| e.start(&name))
            .await?
            .map_err(|e| ExecError::failure(e.to_string()))?;
        self.health.watch(&info);
        Ok(())
    }

    async fn observe(&self, task: &TaskId) -> Result<Option<Observed>, ExecError> {
        Ok(self
            .find(task)
            .await?
            .map(|info| observed(task.clone(), &info)))
    }

    async fn stop(&self, task: &AssignedTask) -> Result<(), ExecError> {
        if self.find(&task.task.id).await?.is_none() {
            return Ok(());
        }
        let name = container_name(task);
        let grace = task.task.spec.container_spec.stop_grace_period;
        match self.blocking(move |e| e.stop(&name, grace)).await? {
            Ok(_) | Err(EngineError::NotFound(_)) => Ok(()),
            Err(e) => Err(ExecError::failure(e.to_string())),
        }
    }

    async fn remove(&self, task: &TaskId) -> Result<(), ExecError> {
        let Some(name) = self.names().get(task).cloned() else {
            return Ok(());
        };
        match self.blocking(move |e| e.remove(&name, true)).await? {
            Ok(id) => {
                self.health.unwatch(&id);
                self.names().remove(task);
                Ok(())
            }
            Err(EngineError::NotFound(_)) => {
                self.names().remove(task);
                Ok(())
            }
            Err(e) => Err(ExecError::failure(e.to_string())),
        }
    }
}
