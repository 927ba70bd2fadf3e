//! The converge progress of `service create|update|rollback|scale`, as Docker draws it: pure
//! (model objects in, lines out), so it is tested with fixed tasks; `wait.rs` polls the daemon
//! and draws the lines.
//!
//! ```text
//! overall progress: 2 out of 3 tasks
//! 1/3: running   [==================================================>]
//! 2/3: no suitable node (insufficient resources on 1 node)
//! 3/3: preparing [=================================>                 ]
//! verify: Waiting 5 seconds to verify that tasks are stable...
//! ```
//!
//! Only tasks of the service's current task template count (Docker's `_up-to-date` filter):
//! during an update a slot shows its new task once there is one. A replicated service draws one
//! line per slot (none beyond [`MAX_BARS`] replicas), a global one per node (its short id).
//! Jobs count completed tasks (`job progress: 2 out of 5 complete`) and end with `job complete`.
//!
//! The service is *converged* when every slot's (node's) newest task of the current template
//! runs and the rollout the command started, if any, completed. The rollout is the service's
//! update status unless it is still the one read before the command (a scale or a label change
//! starts none): such a stale status is ignored, except that a stale pause with out-of-date
//! tasks fails at once, as nothing would ever move them. An update that pauses, a rollback that
//! pauses and an update that rolled back by itself (not asked for) are failures, worded as
//! Docker words them (`service update paused: …`, `service rolled back: rollback completed`);
//! a rollback in progress adds Docker's `rollback: <why>` line and `rolling back update:` to the
//! overall line.

use crate::output::short_id;
use flotilla_model::{Service, ServiceMode, Task, TaskState, UpdateState, UpdateStatus};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Most replicas drawn one line each (Docker's `maxProgressBars`); beyond, the overall line only.
pub const MAX_BARS: u64 = 100;
/// The longest wait for stability after convergence (the monitor period, capped at this).
pub const DEFAULT_MAX_VERIFY: Duration = Duration::from_secs(5);
/// Longest task error drawn on a line, as Docker truncates it.
const MAX_ERR_CHARS: usize = 75;
/// Width of the state column: the longest state drawn with a bar (`preparing`).
const STATE_WIDTH: usize = 9;
/// Width of the bar between its brackets.
const BAR_WIDTH: usize = 50;

/// Where the stability check after convergence stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Not converged yet.
    Pending,
    /// Converged; this much of the stability period is left.
    Waiting(Duration),
    /// Converged and stable: done.
    Converged,
    /// It had converged, then a task stopped running.
    TaskFailed,
}

/// What one poll of the service and its tasks shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// The lines to draw, without the `verify:` line.
    pub lines: Vec<String>,
    /// Every slot (node) runs a task of the current template and the rollout, if any, is done.
    pub converged: bool,
    /// Why the command fails now (a paused update, an unasked-for rollback).
    pub failure: Option<String>,
    /// How long the service must stay converged before the command ends.
    pub verify: Duration,
    /// A job: done when its tasks complete, with no stability period and no `verify:` line.
    pub job: bool,
}

impl Observation {
    /// The lines to draw, with the `verify:` line for `verify` (never for jobs).
    pub fn frame(&self, verify: Verify) -> Vec<String> {
        let mut lines = self.lines.clone();
        if !self.job
            && let Some(line) = verify_line(verify)
        {
            lines.push(line);
        }
        lines
    }
}

/// Docker's `verify:` line for a stage of the stability check (none before convergence).
pub fn verify_line(verify: Verify) -> Option<String> {
    match verify {
        Verify::Pending => None,
        Verify::Waiting(left) => {
            let secs = left.as_millis().div_ceil(1000).max(1);
            Some(format!(
                "verify: Waiting {secs} seconds to verify that tasks are stable..."
            ))
        }
        Verify::Converged => Some("verify: Service converged".to_owned()),
        Verify::TaskFailed => Some("verify: Detected task failure".to_owned()),
    }
}

/// Follows one command's wait on one service, poll after poll. It keeps only what Docker's
/// progress keeps: whether the update status is still the stale one, and the `rollback:` note.
#[derive(Debug, Clone)]
pub struct Progress {
    /// The command asked for a rollback: its completion is success, not a failure.
    expect_rollback: bool,
    /// The update status read before the command, while the service still shows it.
    stale: Option<UpdateStatus>,
    /// Cap on the stability period.
    max_verify: Duration,
    /// Polls so far.
    polls: u64,
    /// Docker's `rollback: <why>` line, once a rollback was seen, and whether it was seen at
    /// the first poll (it is then drawn first, as Docker does; otherwise after the tasks).
    rollback_note: Option<(String, bool)>,
}

impl Progress {
    /// A wait that starts now: `before` is the service's update status as read before the
    /// command changed it (`None` for a new service); `max_verify` caps the stability period.
    pub fn new(before: Option<UpdateStatus>, expect_rollback: bool, max_verify: Duration) -> Self {
        Self {
            expect_rollback,
            stale: before,
            max_verify,
            polls: 0,
            rollback_note: None,
        }
    }

    /// Reads one poll: the service and its tasks (tasks of other services are ignored).
    pub fn observe(&mut self, service: &Service, tasks: &[Task]) -> Observation {
        let first = self.polls == 0;
        self.polls = self.polls.saturating_add(1);
        let status = service.update_status.as_ref();
        if status != self.stale.as_ref() {
            self.stale = None;
        }
        let tracked = if self.stale.is_some() { None } else { status };

        if let Some(s) = tracked
            && s.state == UpdateState::RollbackStarted
            && self.rollback_note.is_none()
            && !s.message.is_empty()
        {
            self.rollback_note = Some((format!("rollback: {}", s.message), first));
        }
        let rolling_back = tracked.is_some_and(|s| s.state.is_rollback());

        let tpl = &service.spec.task_template;
        let own: Vec<&Task> = tasks
            .iter()
            .filter(|t| t.service_id == service.id)
            .collect();
        let mut failure = tracked.and_then(|s| match s.state {
            UpdateState::RollbackCompleted if !self.expect_rollback => {
                Some(format!("service rolled back: {}", s.message))
            }
            _ => paused_message(s),
        });
        if failure.is_none()
            && let Some(stale) = &self.stale
            && own
                .iter()
                .any(|t| t.desired_state <= TaskState::Running && t.spec != *tpl)
        {
            failure = paused_message(stale);
        }
        let rollout_done = tracked.is_none_or(|s| {
            matches!(
                s.state,
                UpdateState::Completed | UpdateState::RollbackCompleted
            )
        });

        let current: Vec<&Task> = own
            .iter()
            .copied()
            .filter(|t| t.spec == *tpl && t.desired_state < TaskState::Remove)
            .collect();
        let (job, tally) = match service.spec.mode {
            ServiceMode::Replicated { replicas } => (false, by_slot(&current, replicas, false)),
            ServiceMode::ReplicatedJob {
                total_completions, ..
            } => (true, by_slot(&current, total_completions, true)),
            ServiceMode::Global => (false, by_node(&own, &current, false)),
            ServiceMode::GlobalJob => (true, by_node(&own, &current, true)),
        };

        let mut lines = Vec::new();
        let note = self.rollback_note.as_ref();
        if let Some((text, true)) = note {
            lines.push(text.clone());
        }
        lines.push(overall_line(&tally, job, rolling_back));
        lines.extend(tally.lines.iter().cloned());
        if let Some((text, false)) = note {
            lines.push(text.clone());
        }
        let converged = failure.is_none() && rollout_done && tally.done();
        if job && converged {
            lines.push("job complete".to_owned());
        }

        let cfg = if rolling_back {
            &service.spec.rollback_config
        } else {
            &service.spec.update_config
        };
        Observation {
            lines,
            converged,
            failure,
            verify: if job {
                Duration::ZERO
            } else {
                cfg.monitor.min(self.max_verify)
            },
            job,
        }
    }
}

/// The failure a paused update or rollback means, in Docker's words.
fn paused_message(s: &UpdateStatus) -> Option<String> {
    match s.state {
        UpdateState::Paused => Some(format!("service update paused: {}", s.message)),
        UpdateState::RollbackPaused => Some(format!("service rollback paused: {}", s.message)),
        _ => None,
    }
}

/// The slots (nodes) of one poll.
#[derive(Debug, Default)]
struct Tally {
    /// How many slots (nodes) are where the command wants them.
    done: u64,
    /// How many there should be; `None` while a global service has no task yet.
    total: Option<u64>,
    /// One line per slot (node).
    lines: Vec<String>,
}

impl Tally {
    fn done(&self) -> bool {
        self.total.is_some_and(|t| self.done == t)
    }
}

/// `overall progress: 2 out of 3 tasks`, or the job's `job progress: 2 out of 3 complete`.
fn overall_line(tally: &Tally, job: bool, rolling_back: bool) -> String {
    let title = if job {
        "job progress"
    } else {
        "overall progress"
    };
    let Some(total) = tally.total else {
        return format!("{title}: waiting for new tasks");
    };
    let done = tally.done;
    if job {
        format!("{title}: {done} out of {total} complete")
    } else {
        let prefix = if rolling_back {
            "rolling back update: "
        } else {
            ""
        };
        format!("{title}: {prefix}{done} out of {total} tasks")
    }
}

/// Tasks grouped by `key`, each group oldest first.
fn group_by<'a, K: Ord>(
    tasks: &[&'a Task],
    key: impl Fn(&Task) -> K,
) -> BTreeMap<K, Vec<&'a Task>> {
    let mut groups: BTreeMap<K, Vec<&'a Task>> = BTreeMap::new();
    for &t in tasks {
        groups.entry(key(t)).or_default().push(t);
    }
    for group in groups.values_mut() {
        group.sort_by(|a, b| (a.meta.created_at, &a.id).cmp(&(b.meta.created_at, &b.id)));
    }
    groups
}

/// A replicated service (or job) of `n` replicas (completions): the first `n` slots that have a
/// task of the current template, drawn `1/n` … `n/n` (placeholders for slots without one yet).
fn by_slot(current: &[&Task], n: u64, job: bool) -> Tally {
    let groups = group_by(current, |t| t.slot);
    let draw = n <= MAX_BARS;
    let mut tally = Tally {
        total: Some(n),
        ..Tally::default()
    };
    let mut pos: u64 = 0;
    for group in groups
        .values()
        .take(usize::try_from(n).unwrap_or(usize::MAX))
    {
        let Some(task) = occupant(group, job) else {
            continue;
        };
        pos += 1;
        if is_done(task, job) {
            tally.done += 1;
        }
        if draw {
            tally
                .lines
                .push(format!("{pos}/{n}: {}", action(group, task, job)));
        }
    }
    if draw {
        for p in pos + 1..=n {
            tally.lines.push(format!("{p}/{n}:"));
        }
    }
    tally
}

/// A global service (or job), one line per node by short node id. A service's nodes are those
/// with a live task of any template (so nodes an update has not reached yet count); a job's
/// are those with a task of its current run.
fn by_node(own: &[&Task], current: &[&Task], job: bool) -> Tally {
    let groups = group_by(current, |t| {
        t.node_id.as_ref().map(|n| n.0.clone()).unwrap_or_default()
    });
    let nodes: BTreeSet<String> = if job {
        groups.keys().filter(|n| !n.is_empty()).cloned().collect()
    } else {
        own.iter()
            .filter(|t| t.desired_state <= TaskState::Running)
            .filter_map(|t| t.node_id.as_ref().map(|n| n.0.clone()))
            .collect()
    };
    if nodes.is_empty() {
        return Tally::default();
    }
    let mut tally = Tally {
        total: Some(u64::try_from(nodes.len()).unwrap_or(u64::MAX)),
        ..Tally::default()
    };
    for node in &nodes {
        let id = short_id(node);
        match groups
            .get(node)
            .and_then(|g| occupant(g, job).map(|t| (g, t)))
        {
            Some((group, task)) => {
                if is_done(task, job) {
                    tally.done += 1;
                }
                tally
                    .lines
                    .push(format!("{id}: {}", action(group, task, job)));
            }
            None => tally.lines.push(format!("{id}:")),
        }
    }
    tally
}

/// The task a slot (node) is judged by: a service's newest live task (else its newest); a
/// job's newest task.
fn occupant<'a>(group: &[&'a Task], job: bool) -> Option<&'a Task> {
    if job {
        return group.last().copied();
    }
    group
        .iter()
        .rev()
        .find(|t| t.desired_state <= TaskState::Running)
        .or(group.last())
        .copied()
}

/// A service's task runs (and is meant to); a job's completed.
fn is_done(t: &Task, job: bool) -> bool {
    if job {
        t.status.state == TaskState::Complete
    } else {
        t.desired_state <= TaskState::Running && t.status.state == TaskState::Running
    }
}

/// What a slot's line says after its id: the task's error; while a replacement is on its way
/// after a failure, that failure's error; else the state and its bar (a terminal state alone).
fn action(group: &[&Task], task: &Task, job: bool) -> String {
    if !task.status.err.is_empty() {
        return truncate_err(&task.status.err);
    }
    let state = task.status.state;
    if state < TaskState::Running && task.desired_state <= TaskState::Running {
        let previous = group
            .iter()
            .rev()
            .filter(|t| t.id != task.id)
            .find(|t| t.status.state.is_terminal());
        if let Some(p) = previous
            && matches!(p.status.state, TaskState::Failed | TaskState::Rejected)
            && !p.status.err.is_empty()
        {
            return truncate_err(&p.status.err);
        }
    }
    match step(state, job) {
        Some((n, total)) => format!(
            "{:<width$} {}",
            state.name(),
            bar(n, total),
            width = STATE_WIDTH
        ),
        None => state.name().to_owned(),
    }
}

/// How far along a state is, out of how many steps (Docker's numbering; a job's last step is
/// `complete`); `None` for the states drawn without a bar.
fn step(state: TaskState, job: bool) -> Option<(usize, usize)> {
    let n = match state {
        TaskState::New => 1,
        TaskState::Pending => 3,
        TaskState::Assigned => 4,
        TaskState::Accepted => 5,
        TaskState::Preparing => 6,
        TaskState::Ready => 7,
        TaskState::Starting => 8,
        TaskState::Running => 9,
        TaskState::Complete if job => 10,
        _ => return None,
    };
    Some((n, if job { 10 } else { 9 }))
}

/// Docker's bar: `[=====>      ]`, 50 wide between the brackets plus the head.
fn bar(n: usize, total: usize) -> String {
    let filled = (n * 100 / total.max(1) / 2).min(BAR_WIDTH);
    format!(
        "[{}>{}]",
        "=".repeat(filled),
        " ".repeat(BAR_WIDTH - filled)
    )
}

/// A task error on one line, at most [`MAX_ERR_CHARS`] characters (Docker's `truncError`).
fn truncate_err(err: &str) -> String {
    let one_line = err.replace(['\n', '\r'], " ");
    if one_line.chars().count() <= MAX_ERR_CHARS {
        return one_line;
    }
    let mut cut: String = one_line.chars().take(MAX_ERR_CHARS - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_model::{
        ContainerSpec, Meta, NodeId, ServiceId, ServiceSpec, TaskId, TaskSpec, TaskStatus,
        Timestamp, UpdateConfig,
    };

    const RUNNING_BAR: &str = "[==================================================>]";

    fn template(image: &str) -> TaskSpec {
        TaskSpec {
            container_spec: ContainerSpec {
                image: image.into(),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn service(mode: ServiceMode, image: &str) -> Service {
        Service {
            id: ServiceId::from("svc"),
            meta: Meta::default(),
            spec: ServiceSpec {
                name: "web".into(),
                mode,
                task_template: template(image),
                ..Default::default()
            },
            previous_spec: None,
            update_status: None,
        }
    }

    fn replicated(n: u64) -> Service {
        service(ServiceMode::Replicated { replicas: n }, "app:1")
    }

    /// A task of `image` in `slot`, created at second `created`, desired RUNNING.
    fn task(id: &str, slot: u64, created: u64, image: &str, state: TaskState) -> Task {
        Task {
            id: TaskId::from(id),
            meta: Meta {
                created_at: Timestamp(created * 1_000_000_000),
                ..Default::default()
            },
            service_id: ServiceId::from("svc"),
            slot,
            node_id: Some(NodeId::from("node1aaaaaaaaaaaaaaaaaaaaa")),
            spec: template(image),
            spec_version: 1,
            desired_state: TaskState::Running,
            status: TaskStatus {
                state,
                ..Default::default()
            },
        }
    }

    fn on_node(mut t: Task, node: &str) -> Task {
        t.slot = 0;
        t.node_id = Some(NodeId::from(node));
        t
    }

    fn status(state: UpdateState, message: &str, started: u64) -> UpdateStatus {
        UpdateStatus {
            state,
            started_at: Timestamp(started),
            completed_at: None,
            message: message.into(),
        }
    }

    fn fresh() -> Progress {
        Progress::new(None, false, DEFAULT_MAX_VERIFY)
    }

    #[test]
    fn replicated_lines_read_like_docker() {
        let svc = replicated(3);
        let mut pending = task("c", 3, 1, "app:1", TaskState::Pending);
        pending.status.err = "no suitable node (insufficient resources on 1 node)".into();
        let tasks = vec![
            task("a", 1, 1, "app:1", TaskState::Running),
            task("b", 2, 1, "app:1", TaskState::Preparing),
            pending,
        ];
        let obs = fresh().observe(&svc, &tasks);
        assert_eq!(
            obs.lines,
            vec![
                "overall progress: 1 out of 3 tasks".to_owned(),
                format!("1/3: running   {RUNNING_BAR}"),
                "2/3: preparing [=================================>                 ]".to_owned(),
                "3/3: no suitable node (insufficient resources on 1 node)".to_owned(),
            ]
        );
        assert!(!obs.converged);
        assert_eq!(obs.failure, None);
        assert_eq!(obs.frame(Verify::Pending), obs.lines);
    }

    #[test]
    fn converges_when_every_slot_runs_and_waits_the_monitor_capped_at_5s() {
        let mut svc = replicated(2);
        let tasks = vec![
            task("a", 1, 1, "app:1", TaskState::Running),
            task("b", 2, 1, "app:1", TaskState::Running),
        ];
        let obs = fresh().observe(&svc, &tasks);
        assert!(obs.converged);
        assert_eq!(obs.verify, Duration::from_secs(5));
        assert_eq!(
            obs.frame(Verify::Waiting(Duration::from_millis(4_200))),
            vec![
                "overall progress: 2 out of 2 tasks".to_owned(),
                format!("1/2: running   {RUNNING_BAR}"),
                format!("2/2: running   {RUNNING_BAR}"),
                "verify: Waiting 5 seconds to verify that tasks are stable...".to_owned(),
            ]
        );
        assert_eq!(
            obs.frame(Verify::Converged).last().map(String::as_str),
            Some("verify: Service converged")
        );

        svc.spec.update_config = UpdateConfig {
            monitor: Duration::from_secs(1),
            ..Default::default()
        };
        assert_eq!(fresh().observe(&svc, &tasks).verify, Duration::from_secs(1));
        svc.spec.update_config.monitor = Duration::from_secs(60);
        let capped = Progress::new(None, false, Duration::from_secs(2));
        assert_eq!(
            capped.clone().observe(&svc, &tasks).verify,
            Duration::from_secs(2)
        );
    }

    #[test]
    fn placeholders_for_slots_without_a_task_and_no_bars_beyond_the_limit() {
        let obs = fresh().observe(&replicated(3), &[task("a", 2, 1, "app:1", TaskState::New)]);
        assert_eq!(
            obs.lines,
            vec![
                "overall progress: 0 out of 3 tasks".to_owned(),
                "1/3: new       [=====>                                             ]".to_owned(),
                "2/3:".to_owned(),
                "3/3:".to_owned(),
            ]
        );
        let obs = fresh().observe(&replicated(MAX_BARS + 1), &[]);
        assert_eq!(obs.lines, vec!["overall progress: 0 out of 101 tasks"]);
        let obs = fresh().observe(&replicated(0), &[]);
        assert!(obs.converged, "nothing to run is converged");
    }

    #[test]
    fn only_tasks_of_the_current_template_count() {
        let svc = replicated(2);
        let mut old_shut = task("o1", 1, 1, "app:0", TaskState::Running);
        old_shut.desired_state = TaskState::Shutdown;
        let mut removed = task("r", 3, 1, "app:1", TaskState::Running);
        removed.desired_state = TaskState::Remove;
        let mut other = task("x", 2, 1, "app:1", TaskState::Running);
        other.service_id = ServiceId::from("other");
        let tasks = vec![
            old_shut,
            task("n1", 1, 2, "app:1", TaskState::Starting),
            task("o2", 2, 1, "app:0", TaskState::Running),
            removed,
            other,
        ];
        let obs = fresh().observe(&svc, &tasks);
        assert_eq!(obs.lines[0], "overall progress: 0 out of 2 tasks");
        assert!(
            obs.lines[1].starts_with("1/2: starting  [="),
            "{:?}",
            obs.lines
        );
        assert_eq!(obs.lines[2], "2/2:");
        assert!(!obs.converged);
    }

    #[test]
    fn a_restart_after_a_failure_shows_the_failure() {
        let svc = replicated(1);
        let mut failed = task("f", 1, 1, "app:1", TaskState::Failed);
        failed.desired_state = TaskState::Shutdown;
        failed.status.err = "task: non-zero exit (1)".into();
        let tasks = vec![failed, task("r", 1, 2, "app:1", TaskState::Pending)];
        let obs = fresh().observe(&svc, &tasks);
        assert_eq!(obs.lines[1], "1/1: task: non-zero exit (1)");

        let mut rejected = task("j", 1, 1, "app:1", TaskState::Rejected);
        rejected.status.err = format!("No such image: {}", "x".repeat(100));
        let obs = fresh().observe(&svc, &[rejected]);
        let line = &obs.lines[1];
        assert!(line.starts_with("1/1: No such image: xxx"), "{line}");
        assert_eq!(line.chars().count(), "1/1: ".len() + MAX_ERR_CHARS);
        assert!(line.ends_with('…'));
    }

    #[test]
    fn an_update_converges_when_its_status_completes() {
        let mut svc = replicated(1);
        let before = Some(status(UpdateState::Completed, "update completed", 1));
        svc.update_status = Some(status(UpdateState::Updating, "update in progress", 2));
        let tasks = vec![task("n", 1, 3, "app:1", TaskState::Running)];
        let mut p = Progress::new(before, false, DEFAULT_MAX_VERIFY);
        assert!(!p.observe(&svc, &tasks).converged, "still updating");
        svc.update_status = Some(status(UpdateState::Completed, "update completed", 2));
        let obs = p.observe(&svc, &tasks);
        assert!(obs.converged);
        assert_eq!(obs.failure, None);
    }

    #[test]
    fn a_paused_update_fails_with_its_message() {
        let mut svc = replicated(1);
        svc.update_status = Some(status(
            UpdateState::Paused,
            "update paused due to failure or early termination of task t1",
            2,
        ));
        let obs = fresh().observe(&svc, &[]);
        assert_eq!(
            obs.failure.as_deref(),
            Some(
                "service update paused: update paused due to failure or early termination \
                 of task t1"
            )
        );
        assert!(!obs.converged);
        svc.update_status = Some(status(UpdateState::RollbackPaused, "why", 3));
        assert_eq!(
            fresh().observe(&svc, &[]).failure.as_deref(),
            Some("service rollback paused: why")
        );
    }

    #[test]
    fn an_update_that_rolls_back_by_itself_fails() {
        let mut svc = replicated(1);
        let mut p = Progress::new(None, false, DEFAULT_MAX_VERIFY);
        svc.update_status = Some(status(UpdateState::Updating, "update in progress", 2));
        let tasks = vec![task("n", 1, 3, "app:1", TaskState::Starting)];
        p.observe(&svc, &tasks);
        let msg = "update rolled back due to failure or early termination of task n";
        svc.update_status = Some(status(UpdateState::RollbackStarted, msg, 4));
        let obs = p.observe(&svc, &tasks);
        assert_eq!(
            obs.lines[0],
            "overall progress: rolling back update: 0 out of 1 tasks"
        );
        assert_eq!(
            obs.lines.last().map(String::as_str),
            Some(&*format!("rollback: {msg}"))
        );
        svc.update_status = Some(status(
            UpdateState::RollbackCompleted,
            "rollback completed",
            4,
        ));
        let obs = p.observe(&svc, &[task("o", 1, 5, "app:1", TaskState::Running)]);
        assert_eq!(
            obs.failure.as_deref(),
            Some("service rolled back: rollback completed")
        );
        assert!(obs.lines.contains(&format!("rollback: {msg}")));
    }

    #[test]
    fn a_requested_rollback_succeeds_and_notes_why_first() {
        let mut svc = replicated(1);
        let before = Some(status(UpdateState::Completed, "update completed", 1));
        let mut p = Progress::new(before, true, DEFAULT_MAX_VERIFY);
        svc.spec.rollback_config.monitor = Duration::from_secs(2);
        svc.update_status = Some(status(
            UpdateState::RollbackStarted,
            "manually requested rollback",
            2,
        ));
        let tasks = vec![task("r", 1, 3, "app:1", TaskState::Running)];
        let obs = p.observe(&svc, &tasks);
        assert_eq!(
            obs.lines[..2],
            [
                "rollback: manually requested rollback".to_owned(),
                "overall progress: rolling back update: 1 out of 1 tasks".to_owned(),
            ]
        );
        assert!(!obs.converged);
        assert_eq!(obs.verify, Duration::from_secs(2), "the rollback monitor");
        svc.update_status = Some(status(
            UpdateState::RollbackCompleted,
            "rollback completed",
            2,
        ));
        let obs = p.observe(&svc, &tasks);
        assert!(obs.converged);
        assert_eq!(obs.failure, None);
        assert_eq!(obs.lines[0], "rollback: manually requested rollback");
    }

    #[test]
    fn a_stale_status_is_ignored_unless_a_pause_holds_tasks_back() {
        let mut svc = replicated(2);
        let paused = status(UpdateState::Paused, "update paused due to x", 1);
        svc.update_status = Some(paused.clone());
        let tasks = vec![
            task("a", 1, 1, "app:1", TaskState::Running),
            task("b", 2, 1, "app:1", TaskState::Running),
        ];
        let mut p = Progress::new(Some(paused.clone()), false, DEFAULT_MAX_VERIFY);
        let obs = p.observe(&svc, &tasks);
        assert!(obs.converged, "a scale of an up-to-date service converges");
        assert_eq!(obs.failure, None);

        let tasks = vec![
            task("a", 1, 1, "app:1", TaskState::Running),
            task("b", 2, 1, "app:0", TaskState::Running),
        ];
        let mut p = Progress::new(Some(paused), false, DEFAULT_MAX_VERIFY);
        assert_eq!(
            p.observe(&svc, &tasks).failure.as_deref(),
            Some("service update paused: update paused due to x")
        );

        let completed = status(UpdateState::Completed, "update completed", 1);
        svc.update_status = Some(completed.clone());
        let mut p = Progress::new(Some(completed), false, DEFAULT_MAX_VERIFY);
        assert_eq!(p.observe(&svc, &[]).failure, None);
    }

    #[test]
    fn global_services_draw_one_line_per_node() {
        let svc = service(ServiceMode::Global, "agent:2");
        let obs = fresh().observe(&svc, &[]);
        assert_eq!(obs.lines, vec!["overall progress: waiting for new tasks"]);
        assert!(!obs.converged);

        let tasks = vec![
            on_node(
                task("a", 0, 1, "agent:2", TaskState::Running),
                "nodeaaaaaaaaaaaaaaaaaaaaa",
            ),
            on_node(
                task("b", 0, 1, "agent:1", TaskState::Running),
                "nodebbbbbbbbbbbbbbbbbbbbb",
            ),
        ];
        let obs = fresh().observe(&svc, &tasks);
        assert_eq!(
            obs.lines,
            vec![
                "overall progress: 1 out of 2 tasks".to_owned(),
                format!("nodeaaaaaaaa: running   {RUNNING_BAR}"),
                "nodebbbbbbbb:".to_owned(),
            ]
        );
        assert!(!obs.converged, "node b still runs the old template");
        let tasks = vec![on_node(
            task("a", 0, 1, "agent:2", TaskState::Running),
            "nodeaaaaaaaaaaaaaaaaaaaaa",
        )];
        assert!(fresh().observe(&svc, &tasks).converged);
    }

    #[test]
    fn jobs_count_completions() {
        let svc = service(
            ServiceMode::ReplicatedJob {
                max_concurrent: 1,
                total_completions: 2,
            },
            "job:1",
        );
        let tasks = vec![
            task("a", 1, 1, "job:1", TaskState::Complete),
            task("b", 2, 2, "job:1", TaskState::Running),
        ];
        let obs = fresh().observe(&svc, &tasks);
        assert!(obs.job && !obs.converged);
        assert_eq!(obs.lines[0], "job progress: 1 out of 2 complete");
        assert_eq!(obs.lines[1], format!("1/2: complete  {RUNNING_BAR}"));
        assert_eq!(
            obs.lines[2],
            "2/2: running   [=============================================>     ]"
        );
        let tasks = vec![
            task("a", 1, 1, "job:1", TaskState::Complete),
            task("b", 2, 2, "job:1", TaskState::Complete),
        ];
        let obs = fresh().observe(&svc, &tasks);
        assert!(obs.converged);
        assert_eq!(obs.verify, Duration::ZERO);
        assert_eq!(obs.lines.last().map(String::as_str), Some("job complete"));
        assert_eq!(
            obs.frame(Verify::Converged),
            obs.lines,
            "no verify line for jobs"
        );

        let global = service(ServiceMode::GlobalJob, "job:1");
        let obs = fresh().observe(&global, &[]);
        assert_eq!(obs.lines, vec!["job progress: waiting for new tasks"]);
    }

    #[test]
    fn verify_lines() {
        assert_eq!(verify_line(Verify::Pending), None);
        assert_eq!(
            verify_line(Verify::Waiting(Duration::from_secs(5))).as_deref(),
            Some("verify: Waiting 5 seconds to verify that tasks are stable...")
        );
        assert_eq!(
            verify_line(Verify::Waiting(Duration::from_millis(1))).as_deref(),
            Some("verify: Waiting 1 seconds to verify that tasks are stable...")
        );
        assert_eq!(
            verify_line(Verify::TaskFailed).as_deref(),
            Some("verify: Detected task failure")
        );
    }

    #[test]
    fn bars_and_errors() {
        assert_eq!(bar(9, 9), RUNNING_BAR);
        assert_eq!(bar(0, 9).len(), BAR_WIDTH + 3);
        assert!(bar(0, 9).starts_with("[>"));
        assert_eq!(truncate_err("a\nb"), "a b");
        assert_eq!(step(TaskState::Complete, false), None);
        assert_eq!(step(TaskState::Complete, true), Some((10, 10)));
    }
}
