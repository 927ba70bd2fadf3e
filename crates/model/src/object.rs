//! [`Object`]: the sum of every stored kind, which the store's tables and changesets carry.

use crate::meta::Meta;
use crate::{Cluster, Config, Network, Node, Secret, Service, Task};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The kinds of stored object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// [`Cluster`].
    Cluster,
    /// [`Node`].
    Node,
    /// [`Service`].
    Service,
    /// [`Task`].
    Task,
    /// [`Network`].
    Network,
    /// [`Secret`].
    Secret,
    /// [`Config`].
    Config,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 7] = [
        Kind::Cluster,
        Kind::Node,
        Kind::Service,
        Kind::Task,
        Kind::Network,
        Kind::Secret,
        Kind::Config,
    ];

    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Cluster => "cluster",
            Kind::Node => "node",
            Kind::Service => "service",
            Kind::Task => "task",
            Kind::Network => "network",
            Kind::Secret => "secret",
            Kind::Config => "config",
        }
    }

    /// Whether objects of this kind have unique names.
    pub fn has_unique_name(self) -> bool {
        matches!(
            self,
            Kind::Service | Kind::Network | Kind::Secret | Kind::Config
        )
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Any stored object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Object {
    /// A cluster.
    Cluster(Cluster),
    /// A node.
    Node(Node),
    /// A service (boxed: it carries two specs and would bloat every table slot).
    Service(Box<Service>),
    /// A task (boxed, like services).
    Task(Box<Task>),
    /// A network.
    Network(Network),
    /// A secret.
    Secret(Secret),
    /// A config.
    Config(Config),
}

macro_rules! each {
    ($self:expr, $o:ident => $e:expr) => {
        match $self {
            Object::Cluster($o) => $e,
            Object::Node($o) => $e,
            Object::Service($o) => $e,
            Object::Task($o) => $e,
            Object::Network($o) => $e,
            Object::Secret($o) => $e,
            Object::Config($o) => $e,
        }
    };
}

impl Object {
    /// Its kind.
    pub fn kind(&self) -> Kind {
        match self {
            Object::Cluster(_) => Kind::Cluster,
            Object::Node(_) => Kind::Node,
            Object::Service(_) => Kind::Service,
            Object::Task(_) => Kind::Task,
            Object::Network(_) => Kind::Network,
            Object::Secret(_) => Kind::Secret,
            Object::Config(_) => Kind::Config,
        }
    }

    /// Its id as a string.
    pub fn id(&self) -> &str {
        each!(self, o => o.id.as_str())
    }

    /// Its bookkeeping.
    pub fn meta(&self) -> &Meta {
        each!(self, o => &o.meta)
    }

    /// Its bookkeeping, mutably.
    pub fn meta_mut(&mut self) -> &mut Meta {
        each!(self, o => &mut o.meta)
    }

    /// The cluster inside, if it is one.
    pub fn as_cluster(&self) -> Option<&Cluster> {
        if let Object::Cluster(c) = self {
            Some(c)
        } else {
            None
        }
    }

    /// The node inside, if it is one.
    pub fn as_node(&self) -> Option<&Node> {
        if let Object::Node(n) = self {
            Some(n)
        } else {
            None
        }
    }

    /// The service inside, if it is one.
    pub fn as_service(&self) -> Option<&Service> {
        if let Object::Service(s) = self {
            Some(s)
        } else {
            None
        }
    }

    /// The task inside, if it is one.
    pub fn as_task(&self) -> Option<&Task> {
        if let Object::Task(t) = self {
            Some(t)
        } else {
            None
        }
    }

    /// The network inside, if it is one.
    pub fn as_network(&self) -> Option<&Network> {
        if let Object::Network(n) = self {
            Some(n)
        } else {
            None
        }
    }

    /// Its unique name, for kinds that have one.
    pub fn name(&self) -> Option<&str> {
        match self {
            Object::Service(s) => Some(&s.spec.name),
            Object::Network(n) => Some(&n.spec.name),
            Object::Secret(s) => Some(&s.spec.name),
            Object::Config(c) => Some(&c.spec.name),
            _ => None,
        }
    }
}

macro_rules! from_kind {
    ($($t:ident),*) => {$(
        impl From<$t> for Object {
            fn from(o: $t) -> Self {
                Object::$t(o)
            }
        }
    )*};
}
from_kind!(Cluster, Node, Network, Secret, Config);

impl From<Task> for Object {
    fn from(o: Task) -> Self {
        Object::Task(Box::new(o))
    }
}

impl From<Service> for Object {
    fn from(o: Service) -> Self {
        Object::Service(Box::new(o))
    }
}
