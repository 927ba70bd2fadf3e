//! The Control API: the cluster's object CRUD, served by every manager.
//!
//! Each handler has the same shape: decode the request (wire errors name the field), validate
//! the spec (validation errors name the field), run one store transaction, map its error with
//! [`status`]. Nothing is written unless every check passed. Handlers work against any
//! `flotilla_state::Store`, so they are tested on `MemStore` and served on `RaftStore`.
//!
//! Layout: [`service`] (services), [`node`] (nodes), [`task`] (tasks), [`network`] (networks),
//! [`cluster`] (the cluster object), [`error`] (the one error mapping).

pub mod cluster;
pub mod error;
pub mod network;
pub mod node;
pub mod service;
pub mod task;

pub use error::status;

use flotilla_proto::pb;
use flotilla_state::Store;
use std::sync::{Arc, PoisonError, RwLock};
use tonic::{Request, Response, Status};

/// What this node is, as far as the Control API cares.
#[derive(Debug, Clone, Default)]
pub enum Membership<S> {
    /// In no swarm.
    #[default]
    Inactive,
    /// A worker: it holds no store.
    Worker,
    /// A manager, with the replicated store.
    Manager(S),
}

/// Where the API finds its store: set when this node becomes a manager.
pub type StoreSlot<S> = Arc<RwLock<Membership<S>>>;

/// The Control service over a store.
pub struct ControlApi<S> {
    slot: StoreSlot<S>,
}

impl<S> Clone for ControlApi<S> {
    fn clone(&self) -> Self {
        Self {
            slot: self.slot.clone(),
        }
    }
}

impl<S: Store + Clone> ControlApi<S> {
    /// Serves the store in `slot`, once there is one.
    pub fn new(slot: StoreSlot<S>) -> Self {
        Self { slot }
    }

    /// Serves `store`.
    pub fn with_store(store: S) -> Self {
        Self::new(Arc::new(RwLock::new(Membership::Manager(store))))
    }

    /// The store, or a clear refusal on a node that is not a manager.
    pub fn store(&self) -> Result<S, Status> {
        match &*self.slot.read().unwrap_or_else(PoisonError::into_inner) {
            Membership::Manager(s) => Ok(s.clone()),
            Membership::Worker => Err(Status::failed_precondition(
                "this node is not a manager; run it on a manager",
            )),
            Membership::Inactive => Err(Status::failed_precondition(
                "this node is not part of a swarm: use \"flotilla swarm init\" to create one, or \"flotilla swarm join\" to join one",
            )),
        }
    }
}

/// A random 25-character id.
pub fn new_id() -> u128 {
    rand::random::<u128>()
}

type R<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl<S: Store + Clone> pb::control_server::Control for ControlApi<S> {
    async fn get_cluster(&self, _r: Request<pb::GetClusterRequest>) -> R<pb::Cluster> {
        cluster::get(&self.store()?).await.map(Response::new)
    }
    async fn list_nodes(&self, _r: Request<pb::ListNodesRequest>) -> R<pb::ListNodesResponse> {
        node::list(&self.store()?).await.map(Response::new)
    }
    async fn get_node(&self, r: Request<pb::GetNodeRequest>) -> R<pb::Node> {
        node::get(&self.store()?, &r.into_inner().node_ref)
            .await
            .map(Response::new)
    }
    async fn update_node(&self, r: Request<pb::UpdateNodeRequest>) -> R<pb::Node> {
        node::update(&self.store()?, r.into_inner())
            .await
            .map(Response::new)
    }
    async fn remove_node(&self, r: Request<pb::RemoveNodeRequest>) -> R<pb::RemoveNodeResponse> {
        node::remove(&self.store()?, r.into_inner())
            .await
            .map(Response::new)
    }
    async fn create_service(&self, r: Request<pb::CreateServiceRequest>) -> R<pb::Service> {
        service::create(&self.store()?, r.into_inner())
            .await
            .map(Response::new)
    }
    async fn get_service(&self, r: Request<pb::GetServiceRequest>) -> R<pb::Service> {
        service::get(&self.store()?, &r.into_inner().service_ref)
            .await
            .map(Response::new)
    }
    async fn list_services(
        &self,
        _r: Request<pb::ListServicesRequest>,
    ) -> R<pb::ListServicesResponse> {
        service::list(&self.store()?).await.map(Response::new)
    }
    async fn update_service(&self, r: Request<pb::UpdateServiceRequest>) -> R<pb::Service> {
        service::update(&self.store()?, r.into_inner())
            .await
            .map(Response::new)
    }
    async fn remove_service(
        &self,
        r: Request<pb::RemoveServiceRequest>,
    ) -> R<pb::RemoveServiceResponse> {
        service::remove(&self.store()?, &r.into_inner().service_ref)
            .await
            .map(Response::new)
    }
    async fn list_tasks(&self, r: Request<pb::ListTasksRequest>) -> R<pb::ListTasksResponse> {
        task::list(&self.store()?, r.into_inner())
            .await
            .map(Response::new)
    }
    async fn get_task(&self, r: Request<pb::GetTaskRequest>) -> R<pb::Task> {
        task::get(&self.store()?, &r.into_inner().task_ref)
            .await
            .map(Response::new)
    }
    async fn create_network(&self, r: Request<pb::CreateNetworkRequest>) -> R<pb::Network> {
        network::create(&self.store()?, r.into_inner())
            .await
            .map(Response::new)
    }
    async fn get_network(&self, r: Request<pb::GetNetworkRequest>) -> R<pb::Network> {
        network::get(&self.store()?, &r.into_inner().network_ref)
            .await
            .map(Response::new)
    }
    async fn list_networks(
        &self,
        _r: Request<pb::ListNetworksRequest>,
    ) -> R<pb::ListNetworksResponse> {
        network::list(&self.store()?).await.map(Response::new)
    }
    async fn join_token(&self, r: Request<pb::JoinTokenRequest>) -> R<pb::JoinTokenResponse> {
        let r = r.into_inner();
        cluster::join_token(&self.store()?, &r.role, r.rotate)
            .await
            .map(Response::new)
    }
    async fn remove_network(
        &self,
        r: Request<pb::RemoveNetworkRequest>,
    ) -> R<pb::RemoveNetworkResponse> {
        network::remove(&self.store()?, &r.into_inner().network_ref)
            .await
            .map(Response::new)
    }
}
