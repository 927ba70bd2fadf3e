//! `flotilla service rollback [-d] [-q] SERVICE`: puts the service back on its previous spec
//! (the daemon swaps it in and rolls the tasks back with the rollback config), prints the
//! service's name and, unless `-d`, shows the rollback's progress as `service update` does.
//! `service update --rollback` sends the same request through [`request_rollback`].

use super::flags::RolloutFlags;
use super::get_service;
use super::update::finish_update;
use crate::connect;
use crate::error::CliError;
use flotilla_model::Service;
use flotilla_proto::pb;
use flotilla_proto::pb::control_client::ControlClient;
use tonic::transport::Channel;

/// Arguments of `service rollback`.
#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    /// `-d` and `-q`.
    #[command(flatten)]
    pub rollout: RolloutFlags,
    /// Service to roll back, by name, ID or ID prefix.
    #[arg(value_name = "SERVICE")]
    pub service: String,
}

/// Asks the daemon to put `service` back on its previous spec, with the version it was read
/// at; returns the service as it is afterwards.
pub async fn request_rollback(
    control: &mut ControlClient<Channel>,
    service: &Service,
) -> Result<Service, CliError> {
    let updated = control
        .update_service(pb::UpdateServiceRequest {
            service_ref: service.id.0.clone(),
            version: service.meta.version.0,
            spec: None,
            rollback: true,
        })
        .await?
        .into_inner();
    Ok(Service::try_from(updated)?)
}

/// Runs `service rollback`.
pub async fn run(a: &RollbackArgs, host: &str) -> Result<(), CliError> {
    let mut control = connect::control(host).await?;
    let service = get_service(&mut control, &a.service).await?;
    let rolled_back = request_rollback(&mut control, &service).await?;
    finish_update(&mut control, &service, &rolled_back, &a.rollout, true).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Command, ServiceCommand};
    use crate::test_cli::parse;

    fn rollback_args(args: &[&str]) -> Result<RollbackArgs, String> {
        let mut full = vec!["service", "rollback"];
        full.extend_from_slice(args);
        match parse(&full) {
            Ok(Command::Service(ServiceCommand::Rollback(a))) => Ok(a),
            Ok(other) => Err(format!("expected service rollback, got {other:?}")),
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn parses_like_docker() {
        let a = rollback_args(&["web"]).expect("parses");
        assert_eq!(a.service, "web");
        assert!(!a.rollout.detach && !a.rollout.quiet);

        let a = rollback_args(&["-d", "-q", "web"]).expect("parses");
        assert!(a.rollout.detach && a.rollout.quiet);
        let a = rollback_args(&["--detach", "--quiet", "web"]).expect("parses");
        assert!(a.rollout.detach && a.rollout.quiet);

        assert!(rollback_args(&[]).is_err(), "a service is required");
        assert!(rollback_args(&["web", "api"]).is_err(), "one service only");
        assert!(rollback_args(&["--image", "x", "web"]).is_err());
    }
}
