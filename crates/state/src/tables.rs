//! [`Tables`]: every stored object, indexed, and the all-or-nothing apply of a changeset.
//!
//! Indexes: by id per kind, by unique name for named kinds, and tasks by service and by node.
//! [`Tables::apply`] checks each change against the state left by the changes before it, keeps
//! an undo log, and on the first refusal rolls everything back, so a refused changeset leaves
//! no trace.

use crate::changeset::{Change, Changeset, Event};
use crate::error::StoreError;
use flotilla_model::{Kind, Object, Task, Version};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Every stored object with its indexes, at one version.
#[derive(Debug, Clone, Default)]
pub struct Tables {
    objects: BTreeMap<Kind, BTreeMap<String, Object>>,
    names: HashMap<(Kind, String), String>,
    tasks_by_service: HashMap<String, BTreeSet<String>>,
    tasks_by_node: HashMap<String, BTreeSet<String>>,
    version: Version,
}

impl Tables {
    /// Empty tables at version 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds tables from a full list of objects (a snapshot).
    pub fn from_objects(version: Version, objects: impl IntoIterator<Item = Object>) -> Self {
        let mut t = Tables {
            version,
            ..Default::default()
        };
        for o in objects {
            t.insert(o);
        }
        t
    }

    /// The version of the last applied commit.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Looks an object up by kind and id.
    pub fn get(&self, kind: Kind, id: &str) -> Option<&Object> {
        self.objects.get(&kind)?.get(id)
    }

    /// Looks a named object up by its unique name.
    pub fn get_by_name(&self, kind: Kind, name: &str) -> Option<&Object> {
        let id = self.names.get(&(kind, name.to_owned()))?;
        self.get(kind, id)
    }

    /// Every object of a kind, in id order.
    pub fn list(&self, kind: Kind) -> impl Iterator<Item = &Object> {
        self.objects.get(&kind).into_iter().flat_map(|m| m.values())
    }

    /// Number of objects of a kind.
    pub fn count(&self, kind: Kind) -> usize {
        self.objects.get(&kind).map_or(0, BTreeMap::len)
    }

    /// Ids of the tasks of a service.
    pub fn task_ids_of_service(&self, service_id: &str) -> impl Iterator<Item = &str> {
        self.tasks_by_service
            .get(service_id)
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    /// Ids of the tasks assigned to a node.
    pub fn task_ids_of_node(&self, node_id: &str) -> impl Iterator<Item = &str> {
        self.tasks_by_node
            .get(node_id)
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    /// Applies a changeset at `version`, all-or-nothing.
    ///
    /// Each change is checked against the state the earlier changes left: creates need a free id
    /// and name, updates and deletes the version the writer read. Created and updated objects get
    /// `meta.version = version` and the changeset's timestamp. On refusal nothing is changed.
    pub fn apply(&mut self, cs: &Changeset, version: Version) -> Result<Vec<Event>, StoreError> {
        let mut events = Vec::with_capacity(cs.changes.len());
        for change in &cs.changes {
            match self.apply_one(change, version, cs) {
                Ok(ev) => events.push(ev),
                Err(e) => {
                    self.undo(events);
                    return Err(e);
                }
            }
        }
        self.version = version;
        Ok(events)
    }

    fn apply_one(
        &mut self,
        change: &Change,
        version: Version,
        cs: &Changeset,
    ) -> Result<Event, StoreError> {
        match change {
            Change::Create(obj) => {
                let kind = obj.kind();
                if self.get(kind, obj.id()).is_some() {
                    return Err(StoreError::AlreadyExists {
                        kind,
                        id: obj.id().to_owned(),
                    });
                }
                if let Some(name) = obj.name()
                    && let Some(existing) = self.names.get(&(kind, name.to_owned()))
                {
                    return Err(StoreError::NameConflict {
                        kind,
                        name: name.to_owned(),
                        existing_id: existing.clone(),
                    });
                }
                let mut obj = obj.clone();
                let meta = obj.meta_mut();
                meta.version = version;
                meta.created_at = cs.timestamp;
                meta.updated_at = cs.timestamp;
                self.insert(obj.clone());
                Ok(Event::Created(obj))
            }
            Change::Update(obj) => {
                let kind = obj.kind();
                let current = self.check_version(kind, obj.id(), obj.meta().version)?;
                if let (Some(name), Some(old_name)) = (obj.name(), current.name())
                    && name != old_name
                    && let Some(existing) = self.names.get(&(kind, name.to_owned()))
                {
                    return Err(StoreError::NameConflict {
                        kind,
                        name: name.to_owned(),
                        existing_id: existing.clone(),
                    });
                }
                let created_at = current.meta().created_at;
                let mut new = obj.clone();
                let meta = new.meta_mut();
                meta.version = version;
                meta.created_at = created_at;
                meta.updated_at = cs.timestamp;
                let old = self
                    .remove(kind, obj.id())
                    .ok_or_else(|| not_found(kind, obj.id()))?;
                self.insert(new.clone());
                Ok(Event::Updated { old, new })
            }
            Change::Delete { kind, id, expected } => {
                self.check_version(*kind, id, *expected)?;
                let old = self.remove(*kind, id).ok_or_else(|| not_found(*kind, id))?;
                Ok(Event::Deleted(old))
            }
        }
    }

    fn check_version(&self, kind: Kind, id: &str, given: Version) -> Result<&Object, StoreError> {
        let current = self.get(kind, id).ok_or_else(|| not_found(kind, id))?;
        let cur = current.meta().version;
        if cur != given {
            return Err(StoreError::Conflict {
                kind,
                id: id.to_owned(),
                given,
                current: cur,
            });
        }
        Ok(current)
    }

    /// Reverts applied events, newest first.
    fn undo(&mut self, events: Vec<Event>) {
        for ev in events.into_iter().rev() {
            match ev {
                Event::Created(o) => {
                    self.remove(o.kind(), o.id());
                }
                Event::Updated { old, new } => {
                    self.remove(new.kind(), new.id());
                    self.insert(old);
                }
                Event::Deleted(o) => self.insert(o),
            }
        }
    }

    fn insert(&mut self, obj: Object) {
        let kind = obj.kind();
        let id = obj.id().to_owned();
        if let Some(name) = obj.name() {
            self.names.insert((kind, name.to_owned()), id.clone());
        }
        if let Object::Task(t) = &obj {
            index_task(&mut self.tasks_by_service, &mut self.tasks_by_node, t, true);
        }
        self.objects.entry(kind).or_default().insert(id, obj);
    }

    fn remove(&mut self, kind: Kind, id: &str) -> Option<Object> {
        let obj = self.objects.get_mut(&kind)?.remove(id)?;
        if let Some(name) = obj.name() {
            self.names.remove(&(kind, name.to_owned()));
        }
        if let Object::Task(t) = &obj {
            index_task(
                &mut self.tasks_by_service,
                &mut self.tasks_by_node,
                t,
                false,
            );
        }
        Some(obj)
    }
}

fn not_found(kind: Kind, id: &str) -> StoreError {
    StoreError::NotFound {
        kind,
        id: id.to_owned(),
    }
}

fn index_task(
    by_service: &mut HashMap<String, BTreeSet<String>>,
    by_node: &mut HashMap<String, BTreeSet<String>>,
    t: &Task,
    add: bool,
) {
    let id = t.id.as_str().to_owned();
    let mut keys = vec![(&mut *by_service, t.service_id.as_str().to_owned())];
    if let Some(node) = &t.node_id {
        keys.push((by_node, node.as_str().to_owned()));
    }
    for (index, key) in keys {
        if add {
            index.entry(key).or_default().insert(id.clone());
        } else if let Some(set) = index.get_mut(&key) {
            set.remove(&id);
            if set.is_empty() {
                index.remove(&key);
            }
        }
    }
}
