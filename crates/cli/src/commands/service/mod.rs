//! `flotilla service …`: the service commands, one file each, with the flags `create` and
//! `update` share in [`flags`] (health check flags in [`health`], `--mount` values in
//! [`mount`]). Without `-d`, `create`, `update`, `rollback` and `scale` wait for the service to
//! converge: [`progress`] turns the service and its tasks into Docker's progress lines and
//! [`wait`] polls and draws them.

pub mod create;
pub mod flags;
pub mod health;
pub mod inspect;
pub mod logs;
pub mod ls;
pub mod mount;
pub mod progress;
pub mod ps;
pub mod rm;
pub mod rollback;
pub mod scale;
pub mod update;
pub mod wait;

pub use create::CreateArgs;
pub use flags::{RolloutFlags, SpecFlags};
pub use health::HealthFlags;
pub use inspect::InspectArgs;
pub use logs::LogsArgs;
pub use ls::LsArgs;
pub use ps::PsArgs;
pub use rm::RmArgs;
pub use rollback::RollbackArgs;
pub use scale::ScaleArgs;
pub use update::UpdateArgs;

use crate::error::CliError;
use flotilla_model::{Service, Task};
use flotilla_proto::pb;
use flotilla_proto::pb::control_client::ControlClient;
use tonic::transport::Channel;

/// Manage swarm services.
#[derive(Debug, clap::Subcommand)]
pub enum ServiceCommand {
    /// Create a new service.
    Create(Box<CreateArgs>),
    /// Display detailed information on one or more services.
    Inspect(InspectArgs),
    /// Fetch the logs of a service's tasks.
    Logs(LogsArgs),
    /// List services.
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// List the tasks of one or more services.
    Ps(PsArgs),
    /// Remove one or more services.
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Revert changes to a service's configuration.
    Rollback(RollbackArgs),
    /// Scale one or multiple replicated services.
    Scale(ScaleArgs),
    /// Update a service.
    Update(Box<UpdateArgs>),
}

/// Runs a `service` subcommand.
pub async fn run(cmd: ServiceCommand, host: &str) -> Result<(), CliError> {
    match cmd {
        ServiceCommand::Create(a) => create::run(&a, host).await,
        ServiceCommand::Inspect(a) => inspect::run(&a, host).await,
        ServiceCommand::Logs(a) => logs::run(&a, host).await,
        ServiceCommand::Ls(a) => ls::run(&a, host).await,
        ServiceCommand::Ps(a) => ps::run(&a, host).await,
        ServiceCommand::Rm(a) => rm::run(&a, host).await,
        ServiceCommand::Rollback(a) => rollback::run(&a, host).await,
        ServiceCommand::Scale(a) => scale::run(&a, host).await,
        ServiceCommand::Update(a) => update::run(&a, host).await,
    }
}

/// One service, by name, id or id prefix, as a model object.
pub async fn get_service(
    control: &mut ControlClient<Channel>,
    service_ref: &str,
) -> Result<Service, CliError> {
    let service = control
        .get_service(pb::GetServiceRequest {
            service_ref: service_ref.to_owned(),
        })
        .await?
        .into_inner();
    Ok(Service::try_from(service)?)
}

/// The tasks a `ListTasks` request matches, as model objects.
pub async fn list_tasks(
    control: &mut ControlClient<Channel>,
    request: pb::ListTasksRequest,
) -> Result<Vec<Task>, CliError> {
    let tasks = control.list_tasks(request).await?.into_inner().tasks;
    Ok(tasks
        .into_iter()
        .map(Task::try_from)
        .collect::<Result<Vec<_>, _>>()?)
}
