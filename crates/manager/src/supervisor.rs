//! The supervisor loop: waits to lead, then drives the orchestrator and the scheduler from the
//! store's commits until leadership is lost or it is told to stop.
//!
//! While leading it watches the store from the version it last read. The first commit of a
//! burst is followed by a short gathering window (`Config::coalesce`), so a burst gives one
//! pass. A pass reconciles every dirty service (one transaction each), then, if a task or node
//! changed, runs the scheduler (one transaction). Our own commits come back as events; the pass
//! they cause finds nothing to do and writes nothing, so it causes no further pass.
//!
//! Each service keeps the time its last plan asked to be woken at; a write refused as stale is
//! retried after a delay that doubles with each consecutive failure. The loop sleeps until the
//! earliest of those times, the next commit, a stop request or the safety tick, after which it
//! checks again that this manager leads. Leadership is also checked before every write.

use crate::config::Config;
use crate::dirty::Dirty;
use crate::{orchestrate, schedule};
use flotilla_model::{ServiceId, Timestamp};
use flotilla_state::store::now;
use flotilla_state::{Store, StoreError, Tables, Watch};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Asks whether this manager currently leads.
pub type IsLeader = Arc<dyn Fn() -> bool + Send + Sync>;

/// The shortest sleep of the leader loop, so timers a hair in the future do not spin it.
const MIN_NAP: Duration = Duration::from_millis(1);
/// Commits folded into one pass at most, so a flood cannot delay a pass forever.
const MAX_COALESCED: usize = 4096;

/// Runs the supervisor with the default [`Config`] until `stop` turns true (or its sender is
/// dropped). It acts only while `is_leader()` answers true.
pub async fn run<S: Store>(store: S, is_leader: IsLeader, stop: watch::Receiver<bool>) {
    run_with(Config::default(), store, is_leader, stop).await;
}

/// Runs the supervisor with `config` until `stop` turns true (or its sender is dropped). It acts
/// only while `is_leader()` answers true.
pub async fn run_with<S: Store>(
    config: Config,
    store: S,
    is_leader: IsLeader,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if !wait_for_leadership(&config, &*is_leader, &mut stop).await {
            return;
        }
        tracing::info!("leading: the orchestrators and the scheduler take over");
        let mut leader = Leader::new(&store, &config, &*is_leader);
        match leader.lead(&mut stop).await {
            Exit::Stopped => return,
            Exit::LostLeadership => {
                tracing::info!("no longer leading: the orchestrators and the scheduler pause");
            }
        }
    }
}

/// Why the leader loop ended.
enum Exit {
    /// Told to stop.
    Stopped,
    /// This manager no longer leads.
    LostLeadership,
}

/// Whether a stop was asked for.
fn stop_requested(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow()
}

/// Resolves once a stop is asked for or the sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        if stop.changed().await.is_err() {
            return;
        }
    }
}

/// Polls `is_leader` until it answers true (returns true) or a stop is asked for (false).
async fn wait_for_leadership(
    config: &Config,
    is_leader: &(dyn Fn() -> bool + Send + Sync),
    stop: &mut watch::Receiver<bool>,
) -> bool {
    loop {
        if stop_requested(stop) {
            return false;
        }
        if is_leader() {
            return true;
        }
        tokio::select! {
            () = stopped(stop) => return false,
            () = tokio::time::sleep(config.leader_poll) => {}
        }
    }
}

/// `t + d`, saturating.
fn after(t: Timestamp, d: Duration) -> Timestamp {
    Timestamp(t.0.saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)))
}

/// How long from `from` until `to` (zero if `to` is not later).
fn until(from: Timestamp, to: Timestamp) -> Duration {
    Duration::from_nanos(to.0.saturating_sub(from.0))
}

/// Whether a store error means the write was based on a stale view (retried quietly).
fn is_stale(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Conflict { .. }
            | StoreError::NotFound { .. }
            | StoreError::AlreadyExists { .. }
    )
}

/// Logs a refused write at the level its cause deserves.
fn log_refused(e: &StoreError, what: &'static str) {
    if is_stale(e) || matches!(e, StoreError::NotLeader { .. }) {
        tracing::debug!(error = %e, "{what} was refused; retrying with a fresh view");
    } else {
        tracing::warn!(error = %e, "{what} failed; retrying");
    }
}

/// The state of one term of leadership.
struct Leader<'a, S> {
    store: &'a S,
    config: &'a Config,
    is_leader: &'a (dyn Fn() -> bool + Send + Sync),
    dirty: Dirty,
    /// When each service must be reconciled again (its plan's wake-up, or a retry).
    wake: BTreeMap<ServiceId, Timestamp>,
    /// Consecutive refused writes per service.
    failures: BTreeMap<ServiceId, u32>,
    /// When the scheduler must run again (a retry).
    schedule_at: Option<Timestamp>,
    /// Consecutive refused scheduler writes.
    schedule_failures: u32,
}

/// Counts of one pass, for the debug log.
#[derive(Debug, Default)]
struct PassStats {
    services: usize,
    committed: usize,
    refused: usize,
    created: usize,
}

impl<'a, S: Store> Leader<'a, S> {
    fn new(
        store: &'a S,
        config: &'a Config,
        is_leader: &'a (dyn Fn() -> bool + Send + Sync),
    ) -> Self {
        Self {
            store,
            config,
            is_leader,
            dirty: Dirty::default(),
            wake: BTreeMap::new(),
            failures: BTreeMap::new(),
            schedule_at: None,
            schedule_failures: 0,
        }
    }

    /// Leads until told to stop or leadership is lost.
    async fn lead(&mut self, stop: &mut watch::Receiver<bool>) -> Exit {
        let mut watch: Option<Watch> = None;
        loop {
            if stop_requested(stop) {
                return Exit::Stopped;
            }
            if !(self.is_leader)() {
                return Exit::LostLeadership;
            }
            if watch.is_none() {
                match self.resync() {
                    Ok(w) => watch = Some(w),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot watch the store; retrying");
                        tokio::select! {
                            () = stopped(stop) => return Exit::Stopped,
                            () = tokio::time::sleep(self.config.safety_tick) => {}
                        }
                        continue;
                    }
                }
            }
            let Some(w) = watch.as_mut() else {
                continue;
            };
            self.collect_due(now());
            if self.dirty.has_work() {
                self.pass().await;
                continue;
            }
            let nap = self.nap(now());
            tokio::select! {
                () = stopped(stop) => return Exit::Stopped,
                next = w.next() => match next {
                    Ok(commit) => {
                        self.dirty.absorb(&commit);
                        if let Err(e) = self.coalesce(w).await {
                            self.lost_watch(&e);
                            watch = None;
                        }
                    }
                    Err(e) => {
                        self.lost_watch(&e);
                        watch = None;
                    }
                },
                () = tokio::time::sleep(nap) => {}
            }
        }
    }

    /// Starts watching from the current version; everything is dirty, since commits may have
    /// been missed.
    fn resync(&mut self) -> Result<Watch, StoreError> {
        let version = self.store.view(Tables::version);
        let w = self.store.watch(version)?;
        self.dirty.mark_all();
        Ok(w)
    }

    fn lost_watch(&self, e: &StoreError) {
        match e {
            StoreError::Compacted { .. } => {
                tracing::debug!(error = %e, "the store watch fell behind; running a full pass");
            }
            _ => tracing::warn!(error = %e, "the store watch ended; running a full pass"),
        }
    }

    /// Folds the commits that follow within the gathering window into the dirty set.
    async fn coalesce(&mut self, w: &mut Watch) -> Result<(), StoreError> {
        let deadline = tokio::time::Instant::now() + self.config.coalesce;
        for _ in 0..MAX_COALESCED {
            match tokio::time::timeout_at(deadline, w.next()).await {
                Ok(Ok(commit)) => self.dirty.absorb(&commit),
                Ok(Err(e)) => return Err(e),
                Err(_elapsed) => break,
            }
        }
        Ok(())
    }

    /// Marks the services whose wake-up time has come, and the scheduler if its retry is due.
    fn collect_due(&mut self, now: Timestamp) {
        let Self { wake, dirty, .. } = self;
        wake.retain(|id, at| {
            if *at <= now {
                dirty.services.insert(id.clone());
                dirty.schedule = true;
                false
            } else {
                true
            }
        });
        if self.schedule_at.is_some_and(|at| at <= now) {
            self.schedule_at = None;
            self.dirty.schedule = true;
        }
    }

    /// How long to sleep when nothing happens: until the earliest timer, at most a safety tick.
    fn nap(&self, now: Timestamp) -> Duration {
        self.wake
            .values()
            .copied()
            .chain(self.schedule_at)
            .map(|at| until(now, at))
            .fold(self.config.safety_tick, Duration::min)
            .max(MIN_NAP)
    }

    /// One pass: the orchestrator over every dirty service, then the scheduler.
    async fn pass(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        let now = now();
        let snap = self
            .store
            .view(|t| orchestrate::snapshot(t, dirty.all, &dirty.services));
        let mut stats = PassStats {
            services: snap.units.len(),
            ..PassStats::default()
        };
        for unit in snap.units {
            let plan = orchestrate::plan(&unit, &snap.nodes, now, self.config.history_limit);
            match plan.wake_at {
                Some(at) => {
                    self.wake.insert(unit.id.clone(), at);
                }
                None => {
                    self.wake.remove(&unit.id);
                }
            }
            if plan.is_empty() {
                self.failures.remove(&unit.id);
                continue;
            }
            if !(self.is_leader)() {
                return;
            }
            let created = plan.create.len();
            match orchestrate::commit(self.store, &unit, plan).await {
                Ok(()) => {
                    self.failures.remove(&unit.id);
                    stats.committed += 1;
                    stats.created += created;
                }
                Err(e) => {
                    stats.refused += 1;
                    log_refused(&e, "writing a service's plan");
                    let failures = self.failures.entry(unit.id.clone()).or_insert(0);
                    *failures = failures.saturating_add(1);
                    let retry = after(now, self.config.backoff(*failures));
                    self.wake.insert(unit.id.clone(), retry);
                }
            }
        }
        // A failure count matters only while its retry is pending.
        let wake = &self.wake;
        self.failures.retain(|id, _| wake.contains_key(id));
        tracing::debug!(
            full = dirty.all,
            services = stats.services,
            committed = stats.committed,
            refused = stats.refused,
            created = stats.created,
            "orchestrator pass"
        );
        if dirty.schedule || stats.created > 0 {
            self.schedule_pass().await;
        }
    }

    /// Places pending tasks and writes the decisions.
    async fn schedule_pass(&mut self) {
        self.schedule_at = None;
        let now = now();
        let decisions = self.store.view(|t| schedule::decide(t, now));
        tracing::debug!(
            pending = decisions.pending,
            assigned = decisions.assigned,
            unplaced = decisions.unplaced,
            writes = decisions.writes.len(),
            "scheduler pass"
        );
        if decisions.writes.is_empty() {
            self.schedule_failures = 0;
            return;
        }
        if !(self.is_leader)() {
            return;
        }
        match schedule::commit(self.store, decisions.writes).await {
            Ok(stale) => {
                self.schedule_failures = 0;
                if stale > 0 {
                    tracing::debug!(stale, "tasks changed while being scheduled; retrying them");
                    self.schedule_at = Some(after(now, self.config.retry_delay));
                }
            }
            Err(e) => {
                log_refused(&e, "writing the scheduler's decisions");
                self.schedule_failures = self.schedule_failures.saturating_add(1);
                let delay = self.config.backoff(self.schedule_failures);
                self.schedule_at = Some(after(now, delay));
            }
        }
    }
}

#[cfg(test)]
mod tests;
