//! [`Dirty`]: what the next pass must look at, gathered from committed events.
//!
//! A service is dirty when it, or one of its tasks, was created, updated or deleted; every
//! service is dirty when a node changed (global services and restarts depend on nodes) and after
//! (re)starting to watch. The scheduler must run when a task or a node changed: a task may have
//! become pending, or freed room on its node.

use flotilla_model::{Object, ServiceId};
use flotilla_state::{Commit, Event};
use std::collections::BTreeSet;

/// What the next pass must look at.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Dirty {
    /// Every service, and every task whose service is gone.
    pub(crate) all: bool,
    /// These services (and their tasks).
    pub(crate) services: BTreeSet<ServiceId>,
    /// Pending tasks must be (re)considered by the scheduler.
    pub(crate) schedule: bool,
}

impl Dirty {
    /// Everything: a full pass.
    pub(crate) fn mark_all(&mut self) {
        self.all = true;
        self.schedule = true;
    }

    /// Whether a pass has anything to do.
    pub(crate) fn has_work(&self) -> bool {
        self.all || self.schedule || !self.services.is_empty()
    }

    /// Records what a commit touched.
    pub(crate) fn absorb(&mut self, commit: &Commit) {
        for event in &commit.events {
            match event {
                Event::Created(o) | Event::Deleted(o) => self.touch(o),
                Event::Updated { old, new } => {
                    self.touch(old);
                    self.touch(new);
                }
            }
        }
    }

    fn touch(&mut self, object: &Object) {
        match object {
            Object::Service(s) => {
                self.services.insert(s.id.clone());
            }
            Object::Task(t) => {
                self.services.insert(t.service_id.clone());
                self.schedule = true;
            }
            Object::Node(_) => self.mark_all(),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{node, service, task};
    use flotilla_model::Version;

    fn commit(events: Vec<Event>) -> Commit {
        Commit {
            version: Version(7),
            events,
        }
    }

    #[test]
    fn services_and_tasks_mark_their_service() {
        let mut d = Dirty::default();
        assert!(!d.has_work());
        d.absorb(&commit(vec![Event::Created(
            service("s1", "web", 1).into(),
        )]));
        assert_eq!(d.services, BTreeSet::from([ServiceId::from("s1")]));
        assert!(!d.schedule && !d.all);

        let old = task("t1", "s2");
        let mut new = old.clone();
        new.status.err = "x".into();
        d.absorb(&commit(vec![
            Event::Updated {
                old: old.into(),
                new: new.into(),
            },
            Event::Deleted(task("t2", "s3").into()),
        ]));
        assert_eq!(
            d.services,
            BTreeSet::from([
                ServiceId::from("s1"),
                ServiceId::from("s2"),
                ServiceId::from("s3")
            ])
        );
        assert!(d.schedule && !d.all);
    }

    #[test]
    fn a_node_marks_everything() {
        let mut d = Dirty::default();
        d.absorb(&commit(vec![Event::Created(node("n1").into())]));
        assert!(d.all && d.schedule && d.has_work());
    }
}
