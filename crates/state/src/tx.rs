//! Read views and write transactions.
//!
//! [`ReadTx`] is the read interface shared by committed [`Tables`] and by a [`WriteTx`] (which
//! sees its own pending writes). Its provided methods give typed access (`service`, `tasks_of_node`,
//! `resolve` by id, name or unique id prefix). A [`WriteTx`] checks each write eagerly against what
//! it can see, so most mistakes fail inside the closure, and turns into a [`Changeset`] whose
//! version preconditions are checked again when it is applied.

use crate::changeset::{Change, Changeset};
use crate::error::StoreError;
use crate::tables::Tables;
use flotilla_model::{Cluster, Kind, Network, Node, Object, Service, Task, Timestamp, Version};
use std::collections::{BTreeMap, HashMap};

/// Read access to a consistent state.
pub trait ReadTx {
    /// Version of the state being read.
    fn version(&self) -> Version;
    /// An object by kind and id.
    fn get(&self, kind: Kind, id: &str) -> Option<&Object>;
    /// An object by its unique name.
    fn get_by_name(&self, kind: Kind, name: &str) -> Option<&Object>;
    /// Every object of a kind.
    fn list(&self, kind: Kind) -> Vec<&Object>;
    /// Tasks of a service.
    fn tasks_of_service(&self, service_id: &str) -> Vec<&Task>;
    /// Tasks assigned to a node.
    fn tasks_of_node(&self, node_id: &str) -> Vec<&Task>;

    /// Finds an object by exact id, then exact name, then unique id prefix — Docker's rules.
    fn resolve(&self, kind: Kind, reference: &str) -> Result<&Object, StoreError> {
        if reference.is_empty() {
            return Err(StoreError::NotFound {
                kind,
                id: String::new(),
            });
        }
        if let Some(o) = self.get(kind, reference) {
            return Ok(o);
        }
        if let Some(o) = self.get_by_name(kind, reference) {
            return Ok(o);
        }
        let mut matches = self
            .list(kind)
            .into_iter()
            .filter(|o| o.id().starts_with(reference));
        match (matches.next(), matches.count()) {
            (Some(o), 0) => Ok(o),
            (Some(_), more) => Err(StoreError::Ambiguous {
                kind,
                reference: reference.to_owned(),
                matches: more + 1,
            }),
            (None, _) => Err(StoreError::NotFound {
                kind,
                id: reference.to_owned(),
            }),
        }
    }

    /// The cluster object, once the swarm is initialised.
    fn cluster(&self) -> Option<&Cluster> {
        self.list(Kind::Cluster)
            .into_iter()
            .find_map(Object::as_cluster)
    }

    /// A service by id.
    fn service(&self, id: &str) -> Option<&Service> {
        self.get(Kind::Service, id)?.as_service()
    }

    /// Every service.
    fn services(&self) -> Vec<&Service> {
        self.list(Kind::Service)
            .into_iter()
            .filter_map(Object::as_service)
            .collect()
    }

    /// A node by id.
    fn node(&self, id: &str) -> Option<&Node> {
        self.get(Kind::Node, id)?.as_node()
    }

    /// Every node.
    fn nodes(&self) -> Vec<&Node> {
        self.list(Kind::Node)
            .into_iter()
            .filter_map(Object::as_node)
            .collect()
    }

    /// A task by id.
    fn task(&self, id: &str) -> Option<&Task> {
        self.get(Kind::Task, id)?.as_task()
    }

    /// Every task.
    fn tasks(&self) -> Vec<&Task> {
        self.list(Kind::Task)
            .into_iter()
            .filter_map(Object::as_task)
            .collect()
    }

    /// Every network.
    fn networks(&self) -> Vec<&Network> {
        self.list(Kind::Network)
            .into_iter()
            .filter_map(Object::as_network)
            .collect()
    }
}

fn as_tasks<'a>(objs: impl Iterator<Item = &'a Object>) -> Vec<&'a Task> {
    objs.filter_map(Object::as_task).collect()
}

impl ReadTx for Tables {
    fn version(&self) -> Version {
        Tables::version(self)
    }
    fn get(&self, kind: Kind, id: &str) -> Option<&Object> {
        Tables::get(self, kind, id)
    }
    fn get_by_name(&self, kind: Kind, name: &str) -> Option<&Object> {
        Tables::get_by_name(self, kind, name)
    }
    fn list(&self, kind: Kind) -> Vec<&Object> {
        Tables::list(self, kind).collect()
    }
    fn tasks_of_service(&self, service_id: &str) -> Vec<&Task> {
        as_tasks(
            self.task_ids_of_service(service_id)
                .filter_map(|id| Tables::get(self, Kind::Task, id)),
        )
    }
    fn tasks_of_node(&self, node_id: &str) -> Vec<&Task> {
        as_tasks(
            self.task_ids_of_node(node_id)
                .filter_map(|id| Tables::get(self, Kind::Task, id)),
        )
    }
}

type Key = (Kind, String);

/// A write transaction over a committed state: reads see its own pending writes.
pub struct WriteTx<'a> {
    base: &'a Tables,
    /// Pending state per touched object: `None` means deleted in this transaction.
    pending: BTreeMap<Key, Option<Object>>,
    /// Index of the change that last touched a key, so repeated writes merge.
    position: HashMap<Key, usize>,
    changes: Vec<Option<Change>>,
}

impl<'a> WriteTx<'a> {
    /// Starts a transaction over `base`.
    pub fn new(base: &'a Tables) -> Self {
        Self {
            base,
            pending: BTreeMap::new(),
            position: HashMap::new(),
            changes: Vec::new(),
        }
    }

    /// Creates an object; its id and name must be free.
    pub fn create(&mut self, obj: impl Into<Object>) -> Result<(), StoreError> {
        let obj = obj.into();
        let kind = obj.kind();
        if self.get(kind, obj.id()).is_some() {
            return Err(StoreError::AlreadyExists {
                kind,
                id: obj.id().to_owned(),
            });
        }
        if let Some(name) = obj.name()
            && let Some(existing) = self.get_by_name(kind, name)
        {
            return Err(StoreError::NameConflict {
                kind,
                name: name.to_owned(),
                existing_id: existing.id().to_owned(),
            });
        }
        let key = (kind, obj.id().to_owned());
        // Re-creating something deleted in this transaction is an update of the original.
        let change = match self
            .position
            .get(&key)
            .and_then(|&i| self.changes[i].as_ref())
        {
            Some(Change::Delete { expected, .. }) => {
                let mut o = obj.clone();
                o.meta_mut().version = *expected;
                Change::Update(o)
            }
            _ => Change::Create(obj.clone()),
        };
        self.record(key, Some(obj), Some(change));
        Ok(())
    }

    /// Replaces an object; `obj.meta.version` must be the version currently visible.
    pub fn update(&mut self, obj: impl Into<Object>) -> Result<(), StoreError> {
        let obj = obj.into();
        let kind = obj.kind();
        let id = obj.id().to_owned();
        let current = self.get(kind, &id).ok_or_else(|| StoreError::NotFound {
            kind,
            id: id.clone(),
        })?;
        let (cur_v, given) = (current.meta().version, obj.meta().version);
        if cur_v != given {
            return Err(StoreError::Conflict {
                kind,
                id,
                given,
                current: cur_v,
            });
        }
        if let Some(name) = obj.name()
            && let Some(existing) = self.get_by_name(kind, name)
            && existing.id() != id
        {
            return Err(StoreError::NameConflict {
                kind,
                name: name.to_owned(),
                existing_id: existing.id().to_owned(),
            });
        }
        let key = (kind, id);
        // A second write to the same object in one transaction folds into the first change.
        let change = match self
            .position
            .get(&key)
            .and_then(|&i| self.changes[i].as_ref())
        {
            Some(Change::Create(_)) => Change::Create(obj.clone()),
            _ => Change::Update(obj.clone()),
        };
        self.record(key, Some(obj), Some(change));
        Ok(())
    }

    /// Deletes an object.
    pub fn delete(&mut self, kind: Kind, id: &str) -> Result<(), StoreError> {
        let current = self.get(kind, id).ok_or_else(|| StoreError::NotFound {
            kind,
            id: id.to_owned(),
        })?;
        let key = (kind, id.to_owned());
        let change = match self
            .position
            .get(&key)
            .and_then(|&i| self.changes[i].as_ref())
        {
            // Created in this transaction: deleting it cancels the creation.
            Some(Change::Create(_)) => None,
            _ => Some(Change::Delete {
                kind,
                id: id.to_owned(),
                expected: self
                    .base
                    .get(kind, id)
                    .map_or(current.meta().version, |o| o.meta().version),
            }),
        };
        self.record(key, None, change);
        Ok(())
    }

    fn record(&mut self, key: Key, state: Option<Object>, change: Option<Change>) {
        if let Some(&i) = self.position.get(&key) {
            self.changes[i] = None;
        }
        self.position.insert(key.clone(), self.changes.len());
        self.changes.push(change);
        self.pending.insert(key, state);
    }

    /// Number of changes recorded.
    pub fn len(&self) -> usize {
        self.changes.iter().flatten().count()
    }

    /// True if nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The changeset this transaction asks for, stamped with `timestamp`.
    pub fn into_changeset(self, timestamp: Timestamp) -> Changeset {
        Changeset {
            changes: self.changes.into_iter().flatten().collect(),
            timestamp,
        }
    }
}

impl ReadTx for WriteTx<'_> {
    fn version(&self) -> Version {
        self.base.version()
    }

    fn get(&self, kind: Kind, id: &str) -> Option<&Object> {
        match self.pending.get(&(kind, id.to_owned())) {
            Some(state) => state.as_ref(),
            None => self.base.get(kind, id),
        }
    }

    fn get_by_name(&self, kind: Kind, name: &str) -> Option<&Object> {
        let pending = self
            .pending
            .range((kind, String::new())..)
            .take_while(|((k, _), _)| *k == kind)
            .find_map(|(_, o)| o.as_ref().filter(|o| o.name() == Some(name)));
        if pending.is_some() {
            return pending;
        }
        // A committed holder counts only if this transaction has not renamed or deleted it.
        self.base
            .get_by_name(kind, name)
            .filter(|o| !self.pending.contains_key(&(kind, o.id().to_owned())))
    }

    fn list(&self, kind: Kind) -> Vec<&Object> {
        let mut out: Vec<&Object> = self
            .base
            .list(kind)
            .filter(|o| !self.pending.contains_key(&(kind, o.id().to_owned())))
            .collect();
        out.extend(
            self.pending
                .range((kind, String::new())..)
                .take_while(|((k, _), _)| *k == kind)
                .filter_map(|(_, o)| o.as_ref()),
        );
        out.sort_by(|a, b| a.id().cmp(b.id()));
        out
    }

    fn tasks_of_service(&self, service_id: &str) -> Vec<&Task> {
        self.tasks_matching(self.base.task_ids_of_service(service_id), |t| {
            t.service_id.as_str() == service_id
        })
    }

    fn tasks_of_node(&self, node_id: &str) -> Vec<&Task> {
        self.tasks_matching(self.base.task_ids_of_node(node_id), |t| {
            t.node_id.as_ref().is_some_and(|n| n.as_str() == node_id)
        })
    }
}

impl WriteTx<'_> {
    fn tasks_matching<'s>(
        &'s self,
        committed_ids: impl Iterator<Item = &'s str>,
        pred: impl Fn(&Task) -> bool,
    ) -> Vec<&'s Task> {
        let mut out: Vec<&Task> = committed_ids
            .filter(|id| !self.pending.contains_key(&(Kind::Task, (*id).to_owned())))
            .filter_map(|id| self.base.task(id))
            .collect();
        out.extend(
            self.pending
                .range((Kind::Task, String::new())..)
                .take_while(|((k, _), _)| *k == Kind::Task)
                .filter_map(|(_, o)| match o {
                    Some(Object::Task(t)) if pred(t) => Some(&**t),
                    _ => None,
                }),
        );
        out
    }
}
