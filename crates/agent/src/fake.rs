//! An in-memory [`Executor`] for the agent's tests: containers are entries of a map, with
//! counters of what was done and switches to inject failures.

use crate::assignment::AssignedTask;
use crate::executor::{ContainerState, ExecError, Executor, Health, Observed};
use flotilla_model::TaskId;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, PoisonError};

/// What the fake holds.
#[derive(Debug)]
pub(crate) struct FakeState {
    /// The containers, by task.
    pub containers: BTreeMap<TaskId, ContainerState>,
    /// Containers created by `prepare`.
    pub creates: usize,
    /// Calls to `start` that started a container.
    pub starts: usize,
    /// Calls to `stop` that stopped a running container.
    pub stops: usize,
    /// Containers removed.
    pub removes: usize,
    /// Images `prepare` rejects as missing.
    pub missing_images: BTreeSet<String>,
    /// The health a started container reports.
    pub health_on_start: Health,
}

/// The fake executor.
#[derive(Debug)]
pub(crate) struct FakeExecutor {
    state: Mutex<FakeState>,
}

impl FakeExecutor {
    /// No containers, nothing injected.
    pub fn new() -> Self {
        Self {
            state: Mutex::new(FakeState {
                containers: BTreeMap::new(),
                creates: 0,
                starts: 0,
                stops: 0,
                removes: 0,
                missing_images: BTreeSet::new(),
                health_on_start: Health::None,
            }),
        }
    }

    /// Runs `f` on the state.
    pub fn with<R>(&self, f: impl FnOnce(&mut FakeState) -> R) -> R {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut st)
    }
}

impl Executor for FakeExecutor {
    async fn list(&self) -> Result<Vec<Observed>, ExecError> {
        Ok(self.with(|s| {
            s.containers
                .iter()
                .map(|(id, state)| Observed {
                    task_id: id.clone(),
                    state: *state,
                })
                .collect()
        }))
    }

    async fn prepare(&self, task: &AssignedTask) -> Result<(), ExecError> {
        let image = task.task.spec.container_spec.image.clone();
        self.with(|s| {
            if s.missing_images.contains(&image) {
                return Err(ExecError::rejection(format!("No such image: {image}")));
            }
            if !s.containers.contains_key(&task.task.id) {
                s.creates += 1;
                s.containers
                    .insert(task.task.id.clone(), ContainerState::Created);
            }
            Ok(())
        })
    }

    async fn start(&self, task: &AssignedTask) -> Result<(), ExecError> {
        self.with(|s| {
            let health = s.health_on_start;
            match s.containers.get_mut(&task.task.id) {
                None => Err(ExecError::failure("no container to start")),
                Some(c) if c.is_running() => Ok(()),
                Some(c) => {
                    *c = ContainerState::Running { health };
                    s.starts += 1;
                    Ok(())
                }
            }
        })
    }

    async fn observe(&self, task: &TaskId) -> Result<Option<Observed>, ExecError> {
        Ok(self.with(|s| {
            s.containers.get(task).map(|state| Observed {
                task_id: task.clone(),
                state: *state,
            })
        }))
    }

    async fn stop(&self, task: &AssignedTask) -> Result<(), ExecError> {
        self.with(|s| {
            if let Some(c) = s.containers.get_mut(&task.task.id)
                && c.is_running()
            {
                *c = ContainerState::Exited {
                    code: 143,
                    oom_killed: false,
                };
                s.stops += 1;
            }
        });
        Ok(())
    }

    async fn remove(&self, task: &TaskId) -> Result<(), ExecError> {
        self.with(|s| {
            if s.containers.remove(task).is_some() {
                s.removes += 1;
            }
        });
        Ok(())
    }
}
