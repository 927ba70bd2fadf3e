//! One task's controller: what the agent knows of a task (its assignment, the status it last
//! reported, the container last observed) and the pure decision of what to do next.
//!
//! [`Ctl::decide`] looks at (desired state, status, observation) and answers with status
//! transitions to report now and at most one executor operation to run; [`Ctl::outcome`] folds
//! an operation's result back in. Neither does I/O, so the whole life cycle is unit-tested
//! here; the agent's loop only runs the operations and sends the statuses.

use crate::assignment::AssignedTask;
use crate::clock;
use crate::executor::{ContainerState, ExecError, Health, Observed};
use flotilla_model::{Meta, ServiceId, Task, TaskId, TaskSpec, TaskState, TaskStatus};
use std::time::{Duration, Instant};

/// Wait before an operation that failed (other than prepare and start) is tried again.
pub(crate) const RETRY_DELAY: Duration = Duration::from_secs(1);

/// What the agent knows of a task's container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Obs {
    /// Not looked at since the last change (or the last tick): observe before deciding.
    Unknown,
    /// The task has no container.
    Absent,
    /// The container, as last observed.
    Present(ContainerState),
}

/// Why a container is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopWhy {
    /// Desired state SHUTDOWN or later: report SHUTDOWN afterwards.
    Shutdown,
    /// Its health check failed: report FAILED afterwards.
    Unhealthy,
    /// The task left the node's set: remove the container afterwards.
    Leaving,
    /// The task is terminal but its container still runs.
    Terminal,
}

/// An executor operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// Image and container.
    Prepare,
    /// Start the container.
    Start,
    /// Look at the container.
    Observe,
    /// Stop the container.
    Stop(StopWhy),
    /// Remove the container.
    Remove,
}

/// The result of an [`Op`].
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Of [`Op::Prepare`].
    Prepared(Result<(), ExecError>),
    /// Of [`Op::Start`].
    Started(Result<(), ExecError>),
    /// Of [`Op::Observe`].
    Observed(Result<Option<Observed>, ExecError>),
    /// Of [`Op::Stop`].
    Stopped(StopWhy, Result<(), ExecError>),
    /// Of [`Op::Remove`].
    Removed(Result<(), ExecError>),
    /// The operation panicked or was cancelled.
    Lost(String),
}

/// A status change to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Transition {
    /// The new state.
    pub state: TaskState,
    /// Its message.
    pub message: &'static str,
    /// The error, for FAILED and REJECTED.
    pub err: String,
    /// The container's exit code, once it exited.
    pub exit_code: Option<i32>,
}

impl Transition {
    /// A move to `state` without error.
    fn to(state: TaskState, message: &'static str) -> Self {
        Self {
            state,
            message,
            err: String::new(),
            exit_code: None,
        }
    }

    /// FAILED with `err`.
    fn failed(err: impl Into<String>, exit_code: Option<i32>) -> Self {
        Self {
            state: TaskState::Failed,
            message: "failed",
            err: err.into(),
            exit_code,
        }
    }

    /// REJECTED or FAILED, as the executor's error says.
    fn refused(e: ExecError) -> Self {
        if e.rejected {
            Self {
                state: TaskState::Rejected,
                message: "rejected",
                err: e.message,
                exit_code: None,
            }
        } else {
            Self::failed(e.message, None)
        }
    }

    /// COMPLETE or FAILED after the container exited.
    pub(crate) fn exited(code: i32, oom_killed: bool) -> Self {
        if code == 0 && !oom_killed {
            return Self {
                exit_code: Some(0),
                ..Self::to(TaskState::Complete, "finished")
            };
        }
        let err = if oom_killed {
            format!("task: non-zero exit ({code}): the container was OOM-killed")
        } else {
            format!("task: non-zero exit ({code})")
        };
        Self::failed(err, Some(code))
    }
}

/// What to do next for a task: report `transitions` (in order), then run `op` if any.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Decision {
    /// Status changes to apply and report now.
    pub transitions: Vec<Transition>,
    /// The operation to run.
    pub op: Option<Op>,
}

impl Decision {
    fn idle() -> Self {
        Self::default()
    }

    fn op(op: Op) -> Self {
        Self {
            transitions: Vec::new(),
            op: Some(op),
        }
    }

    fn advance(t: Transition) -> Self {
        Self {
            transitions: vec![t],
            op: None,
        }
    }
}

/// The agent's state of one task.
#[derive(Debug)]
pub(crate) struct Ctl {
    /// The latest assignment (desired state never moves back).
    pub at: AssignedTask,
    /// The task's status as this node sees it.
    pub status: TaskStatus,
    /// The last status sent (or received from the managers).
    sent: TaskStatus,
    /// The container, as last observed.
    pub obs: Obs,
    /// An operation is in flight.
    pub busy: bool,
    /// The task is in the node's assignment set.
    pub in_set: bool,
    /// Its container was stopped by this agent (for terminal and leaving tasks).
    pub stopped: bool,
    /// Earliest time to try again after an error.
    retry_at: Option<Instant>,
    /// The container is removed and the task left the set: forget the task.
    pub done: bool,
}

impl Ctl {
    /// A task newly in the set; `adopted` is its container as `list()` found it at start.
    pub fn new(at: AssignedTask, adopted: Option<ContainerState>) -> Self {
        let status = at.task.status.clone();
        Self {
            sent: status.clone(),
            status,
            at,
            obs: adopted.map_or(Obs::Unknown, Obs::Present),
            busy: false,
            in_set: true,
            stopped: false,
            retry_at: None,
            done: false,
        }
    }

    /// A container found at start whose task is not assigned to this node: to be stopped and
    /// removed. Its task is unknown, so a placeholder stands in for it (default stop signal
    /// and grace period: the container's own).
    pub fn orphan(id: TaskId, state: ContainerState) -> Self {
        let task = Task {
            id,
            meta: Meta::default(),
            service_id: ServiceId::default(),
            slot: 0,
            node_id: None,
            spec: TaskSpec::default(),
            spec_version: 0,
            desired_state: TaskState::Remove,
            status: TaskStatus::default(),
        };
        let mut ctl = Self::new(
            AssignedTask {
                task,
                service_name: String::new(),
            },
            Some(state),
        );
        ctl.in_set = false;
        ctl
    }

    /// A newer assignment of the task: desired state and status only move forward.
    pub fn refresh(&mut self, at: AssignedTask) {
        let desired = self.at.task.desired_state.max(at.task.desired_state);
        let incoming = at.task.status.clone();
        self.at = at;
        self.at.task.desired_state = desired;
        if incoming.state > self.status.state {
            self.status = incoming.clone();
            self.sent = incoming;
        }
        self.in_set = true;
    }

    /// At each tick: a started task's container is looked at again.
    pub fn mark_stale(&mut self) {
        if self.in_set
            && !self.busy
            && matches!(self.status.state, TaskState::Starting | TaskState::Running)
        {
            self.obs = Obs::Unknown;
        }
    }

    /// What to do next.
    pub fn decide(&self, now: Instant) -> Decision {
        if self.busy || self.retry_at.is_some_and(|t| now < t) {
            return Decision::idle();
        }
        if !self.in_set {
            return Decision::op(if self.stopped {
                Op::Remove
            } else {
                Op::Stop(StopWhy::Leaving)
            });
        }
        let s = self.status.state;
        let desired = self.at.task.desired_state;
        let running = matches!(self.obs, Obs::Present(c) if c.is_running());
        if s.is_terminal() {
            // Kept for its logs until the task leaves the set, but never left running.
            if running && !self.stopped {
                return Decision::op(Op::Stop(StopWhy::Terminal));
            }
            return Decision::idle();
        }
        if desired >= TaskState::Shutdown {
            if s >= TaskState::Starting || running {
                return Decision::op(Op::Stop(StopWhy::Shutdown));
            }
            return Decision::advance(Transition::to(TaskState::Shutdown, "shutdown"));
        }
        if desired < TaskState::Ready {
            return Decision::idle();
        }
        if s < TaskState::Starting
            && matches!(
                self.obs,
                Obs::Present(ContainerState::Running { .. } | ContainerState::Exited { .. })
            )
        {
            // Re-adopted: the container was started already; it is never started twice.
            return Decision::advance(Transition::to(TaskState::Starting, "starting"));
        }
        if s < TaskState::Preparing {
            let mut transitions = Vec::with_capacity(2);
            if s < TaskState::Accepted {
                transitions.push(Transition::to(TaskState::Accepted, "accepted"));
            }
            transitions.push(Transition::to(TaskState::Preparing, "preparing"));
            return Decision {
                transitions,
                op: Some(Op::Prepare),
            };
        }
        if s == TaskState::Preparing {
            // Resumed (an earlier agent reported PREPARING): preparing again is idempotent.
            return Decision::op(Op::Prepare);
        }
        if s == TaskState::Ready {
            if desired < TaskState::Running {
                return Decision::idle();
            }
            return Decision {
                transitions: vec![Transition::to(TaskState::Starting, "starting")],
                op: Some(Op::Start),
            };
        }
        // STARTING or RUNNING.
        match self.obs {
            Obs::Unknown => Decision::op(Op::Observe),
            Obs::Absent => Decision::advance(Transition::failed("container gone", None)),
            Obs::Present(ContainerState::Created) => Decision::op(Op::Start),
            Obs::Present(ContainerState::Running { health }) => match health {
                Health::None | Health::Healthy if s < TaskState::Running => {
                    Decision::advance(Transition::to(TaskState::Running, "started"))
                }
                Health::Unhealthy => Decision::op(Op::Stop(StopWhy::Unhealthy)),
                _ => Decision::idle(),
            },
            Obs::Present(ContainerState::Exited { code, oom_killed }) => {
                Decision::advance(Transition::exited(code, oom_killed))
            }
        }
    }

    /// Folds an operation's result in; returns the transitions it causes.
    pub fn outcome(&mut self, outcome: Outcome, now: Instant) -> Vec<Transition> {
        self.busy = false;
        let id = self.at.task.id.clone();
        match outcome {
            Outcome::Prepared(Ok(())) => {
                self.obs = Obs::Unknown;
                vec![Transition::to(TaskState::Ready, "prepared")]
            }
            Outcome::Prepared(Err(e)) => {
                tracing::warn!(task = %id, error = %e, rejected = e.rejected, "preparing the task failed");
                self.obs = Obs::Unknown;
                vec![Transition::refused(e)]
            }
            Outcome::Started(Ok(())) => {
                self.obs = Obs::Unknown;
                Vec::new()
            }
            Outcome::Started(Err(e)) => {
                tracing::warn!(task = %id, error = %e, rejected = e.rejected, "starting the task failed");
                self.obs = Obs::Unknown;
                vec![Transition::refused(e)]
            }
            Outcome::Observed(Ok(seen)) => {
                self.obs = seen.map_or(Obs::Absent, |o| Obs::Present(o.state));
                Vec::new()
            }
            Outcome::Observed(Err(e)) => {
                tracing::warn!(task = %id, error = %e, "observing the task's container failed");
                self.retry_at = Some(now + RETRY_DELAY);
                Vec::new()
            }
            Outcome::Stopped(why, Ok(())) => {
                self.stopped = true;
                self.obs = Obs::Unknown;
                match why {
                    StopWhy::Shutdown => vec![Transition::to(TaskState::Shutdown, "shutdown")],
                    StopWhy::Unhealthy => vec![Transition::failed("unhealthy container", None)],
                    StopWhy::Leaving | StopWhy::Terminal => Vec::new(),
                }
            }
            Outcome::Stopped(why, Err(e)) => {
                tracing::warn!(task = %id, error = %e, reason = ?why, "stopping the task's container failed");
                self.retry_at = Some(now + RETRY_DELAY);
                if why == StopWhy::Unhealthy {
                    // The task failed whatever happens to its container; the terminal rule
                    // keeps trying to stop it.
                    vec![Transition::failed("unhealthy container", None)]
                } else {
                    Vec::new()
                }
            }
            Outcome::Removed(Ok(())) => {
                self.done = !self.in_set;
                if self.in_set {
                    // Assigned again while its container was being removed: start over.
                    self.stopped = false;
                    self.obs = Obs::Unknown;
                }
                Vec::new()
            }
            Outcome::Removed(Err(e)) => {
                tracing::warn!(task = %id, error = %e, "removing the task's container failed");
                self.retry_at = Some(now + RETRY_DELAY);
                Vec::new()
            }
            Outcome::Lost(why) => {
                tracing::warn!(task = %id, error = %why, "an operation on the task was lost");
                self.obs = Obs::Unknown;
                self.retry_at = Some(now + RETRY_DELAY);
                Vec::new()
            }
        }
    }

    /// Applies a transition if it moves the status forward; returns the status to report
    /// when it differs from the last one sent.
    pub fn advance(&mut self, t: Transition) -> Option<TaskStatus> {
        if t.state <= self.status.state {
            tracing::debug!(task = %self.at.task.id, from = %self.status.state, to = %t.state, "ignoring a backward status move");
            return None;
        }
        self.status = TaskStatus {
            state: t.state,
            timestamp: clock::now(),
            message: t.message.to_owned(),
            err: t.err,
            exit_code: t.exit_code,
        };
        let same = self.status.state == self.sent.state
            && self.status.message == self.sent.message
            && self.status.err == self.sent.err
            && self.status.exit_code == self.sent.exit_code;
        if same {
            return None;
        }
        self.sent = self.status.clone();
        Some(self.status.clone())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use flotilla_model::{ContainerSpec, NodeId};

    /// A task `id` of service `svc`, slot 1, image busybox, status ASSIGNED.
    pub(crate) fn task(id: &str, desired: TaskState) -> AssignedTask {
        AssignedTask {
            task: Task {
                id: TaskId::from(id),
                meta: Meta::default(),
                service_id: ServiceId::from("svc1"),
                slot: 1,
                node_id: Some(NodeId::from("node1")),
                spec: TaskSpec {
                    container_spec: ContainerSpec {
                        image: "busybox".into(),
                        ..ContainerSpec::default()
                    },
                    ..TaskSpec::default()
                },
                spec_version: 1,
                desired_state: desired,
                status: TaskStatus {
                    state: TaskState::Assigned,
                    ..TaskStatus::default()
                },
            },
            service_name: "web".into(),
        }
    }

    fn states(d: &Decision) -> Vec<TaskState> {
        d.transitions.iter().map(|t| t.state).collect()
    }

    /// Applies a decision's transitions and marks the op in flight, as the agent does.
    fn apply(c: &mut Ctl, d: &Decision) {
        for t in d.transitions.clone() {
            c.advance(t);
        }
        c.busy = d.op.is_some();
    }

    const RUNNING_OK: ContainerState = ContainerState::Running {
        health: Health::None,
    };

    #[test]
    fn happy_path_to_running() {
        let now = Instant::now();
        let mut c = Ctl::new(task("t", TaskState::Running), None);
        let d = c.decide(now);
        assert_eq!(states(&d), [TaskState::Accepted, TaskState::Preparing]);
        assert_eq!(d.op, Some(Op::Prepare));
        apply(&mut c, &d);
        assert_eq!(c.decide(now), Decision::idle(), "one operation at a time");
        let t = c.outcome(Outcome::Prepared(Ok(())), now);
        assert_eq!(t[0].state, TaskState::Ready);
        c.advance(t[0].clone());
        let d = c.decide(now);
        assert_eq!(states(&d), [TaskState::Starting]);
        assert_eq!(d.op, Some(Op::Start));
        apply(&mut c, &d);
        assert!(c.outcome(Outcome::Started(Ok(())), now).is_empty());
        assert_eq!(c.decide(now).op, Some(Op::Observe));
        c.obs = Obs::Present(ContainerState::Running {
            health: Health::Starting,
        });
        assert_eq!(
            c.decide(now),
            Decision::idle(),
            "waits for the health check"
        );
        c.obs = Obs::Present(ContainerState::Running {
            health: Health::Healthy,
        });
        let d = c.decide(now);
        assert_eq!(states(&d), [TaskState::Running]);
        apply(&mut c, &d);
        assert_eq!(c.decide(now), Decision::idle());
    }

    #[test]
    fn desired_ready_stops_at_ready() {
        let now = Instant::now();
        let mut c = Ctl::new(task("t", TaskState::Ready), None);
        c.status.state = TaskState::Ready;
        assert_eq!(c.decide(now), Decision::idle());
    }

    #[test]
    fn exits_map_to_complete_or_failed() {
        let ok = Transition::exited(0, false);
        assert_eq!((ok.state, ok.exit_code), (TaskState::Complete, Some(0)));
        let bad = Transition::exited(3, false);
        assert_eq!(bad.state, TaskState::Failed);
        assert_eq!(bad.err, "task: non-zero exit (3)");
        assert_eq!(bad.exit_code, Some(3));
        let oom = Transition::exited(137, true);
        assert_eq!(oom.state, TaskState::Failed);
        assert!(oom.err.contains("OOM"), "{}", oom.err);
    }

    #[test]
    fn missing_container_while_running_fails() {
        let mut c = Ctl::new(task("t", TaskState::Running), None);
        c.status.state = TaskState::Running;
        c.obs = Obs::Absent;
        let d = c.decide(Instant::now());
        assert_eq!(d.transitions[0].state, TaskState::Failed);
        assert_eq!(d.transitions[0].err, "container gone");
    }

    #[test]
    fn shutdown_stops_a_started_task_and_skips_a_waiting_one() {
        let now = Instant::now();
        let c = Ctl::new(task("t", TaskState::Shutdown), None);
        let d = c.decide(now);
        assert_eq!(states(&d), [TaskState::Shutdown]);
        assert_eq!(d.op, None);

        let mut c = Ctl::new(task("t", TaskState::Shutdown), None);
        c.status.state = TaskState::Running;
        let d = c.decide(now);
        assert_eq!(d.op, Some(Op::Stop(StopWhy::Shutdown)));
        apply(&mut c, &d);
        let t = c.outcome(Outcome::Stopped(StopWhy::Shutdown, Ok(())), now);
        assert_eq!(t[0].state, TaskState::Shutdown);
        assert_eq!(t[0].message, "shutdown");
    }

    #[test]
    fn readopted_running_container_is_not_started_again() {
        let now = Instant::now();
        let mut c = Ctl::new(task("t", TaskState::Running), Some(RUNNING_OK));
        let d = c.decide(now);
        assert_eq!(states(&d), [TaskState::Starting]);
        assert_eq!(d.op, None);
        apply(&mut c, &d);
        let d = c.decide(now);
        assert_eq!(states(&d), [TaskState::Running]);
        assert_eq!(d.op, None);
    }

    #[test]
    fn unhealthy_container_is_stopped_and_fails() {
        let now = Instant::now();
        let mut c = Ctl::new(task("t", TaskState::Running), None);
        c.status.state = TaskState::Starting;
        c.obs = Obs::Present(ContainerState::Running {
            health: Health::Unhealthy,
        });
        let d = c.decide(now);
        assert_eq!(d.op, Some(Op::Stop(StopWhy::Unhealthy)));
        apply(&mut c, &d);
        let t = c.outcome(Outcome::Stopped(StopWhy::Unhealthy, Ok(())), now);
        assert_eq!(t[0].state, TaskState::Failed);
        assert_eq!(t[0].err, "unhealthy container");
    }

    #[test]
    fn leaving_task_is_stopped_then_removed_then_forgotten() {
        let now = Instant::now();
        let mut c = Ctl::new(task("t", TaskState::Running), None);
        c.status.state = TaskState::Complete;
        c.in_set = false;
        assert_eq!(c.decide(now).op, Some(Op::Stop(StopWhy::Leaving)));
        c.busy = true;
        assert!(
            c.outcome(Outcome::Stopped(StopWhy::Leaving, Ok(())), now)
                .is_empty()
        );
        assert_eq!(c.decide(now).op, Some(Op::Remove));
        c.busy = true;
        c.outcome(Outcome::Removed(Ok(())), now);
        assert!(c.done);
    }

    #[test]
    fn errors_back_off() {
        let now = Instant::now();
        let mut c = Ctl::new(task("t", TaskState::Running), None);
        c.status.state = TaskState::Running;
        c.busy = true;
        c.outcome(
            Outcome::Observed(Err(ExecError::failure("engine busy"))),
            now,
        );
        assert_eq!(c.decide(now), Decision::idle());
        assert_eq!(c.decide(now + RETRY_DELAY).op, Some(Op::Observe));
    }

    #[test]
    fn prepare_errors_reject_or_fail() {
        let now = Instant::now();
        let mut c = Ctl::new(task("t", TaskState::Running), None);
        c.busy = true;
        let t = c.outcome(
            Outcome::Prepared(Err(ExecError::rejection("No such image: x"))),
            now,
        );
        assert_eq!(t[0].state, TaskState::Rejected);
        assert_eq!(t[0].err, "No such image: x");
        let t = c.outcome(Outcome::Prepared(Err(ExecError::failure("disk full"))), now);
        assert_eq!(t[0].state, TaskState::Failed);
    }

    #[test]
    fn statuses_move_forward_and_are_reported_once() {
        let mut c = Ctl::new(task("t", TaskState::Running), None);
        assert!(
            c.advance(Transition::to(TaskState::Accepted, "accepted"))
                .is_some()
        );
        assert!(
            c.advance(Transition::to(TaskState::Accepted, "accepted"))
                .is_none()
        );
        assert!(c.advance(Transition::to(TaskState::New, "x")).is_none());
        // A status the managers already have is not echoed back.
        let mut newer = task("t", TaskState::Running);
        newer.task.status.state = TaskState::Running;
        c.refresh(newer);
        assert_eq!(c.status.state, TaskState::Running);
        assert_eq!(c.sent.state, TaskState::Running);
        // Desired state never moves back.
        c.refresh(task("t", TaskState::Ready));
        assert_eq!(c.at.task.desired_state, TaskState::Running);
    }
}
