//! The domain model of a flotilla cluster.
//!
//! Every object the managers replicate lives here as plain data: a user-owned *spec* (what is
//! wanted) and, where the cluster observes something, a *status* (what is). The crate also owns
//! spec validation — every error names the field it is about — and the task state machine, whose
//! states only ever move forward.
//!
//! Architecture invariant: this crate knows nothing of protobuf, tokio, openraft or Linux. It does
//! no I/O and reads no clock; callers pass time and randomness in.
//!
//! Layout:
//! - [`id`]: identifier newtypes and their generation from caller-supplied randomness.
//! - [`meta`]: object versions and timestamps.
//! - [`validate`]: the field-naming [`ValidationError`] and shared name/label rules.
//! - [`image_ref`]: Docker image references with Docker's defaults.
//! - [`service`], [`task`], [`node`], [`cluster`], [`network`], [`secret`]: the objects.
//! - [`task_state`]: the forward-only task state machine.
//! - [`object`]: the [`Object`] sum type the store tables hold.

pub mod cluster;
pub mod id;
pub mod image_ref;
pub mod meta;
pub mod network;
pub mod node;
pub mod object;
pub mod secret;
pub mod service;
pub mod task;
pub mod task_state;
pub mod validate;

pub use cluster::{Cluster, ClusterCa, ClusterSpec};
pub use id::{ClusterId, ConfigId, NetworkId, NodeId, SecretId, ServiceId, TaskId};
pub use image_ref::ImageRef;
pub use meta::{Meta, Timestamp, Version};
pub use network::{Network, NetworkSpec};
pub use node::{
    Availability, ManagerStatus, Node, NodeDescription, NodeRole, NodeSpec, NodeState, NodeStatus,
    Platform, Reachability,
};
pub use object::{Kind, Object};
pub use secret::{Config, ConfigSpec, Secret, SecretSpec};
pub use service::{
    ContainerSpec, EndpointMode, EndpointSpec, FailureAction, HealthCheck, Mount, MountType,
    Placement, PortConfig, PublishMode, Resources, RestartCondition, RestartPolicy, Service,
    ServiceMode, ServiceSpec, TaskSpec, UpdateConfig, UpdateOrder, UpdateState, UpdateStatus,
};
pub use task::{Task, TaskStatus};
pub use task_state::{TaskState, TransitionError};
pub use validate::ValidationError;
