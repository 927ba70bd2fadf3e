//! `flotilla service rm SERVICE...`: removes each service, printing each reference removed.

use crate::commands::finish;
use crate::connect;
use crate::error::CliError;
use crate::output;
use flotilla_proto::pb;

/// Arguments of `service rm`.
#[derive(Debug, clap::Args)]
pub struct RmArgs {
    /// Services, by name, ID or ID prefix.
    #[arg(required = true, value_name = "SERVICE")]
    pub services: Vec<String>,
}

/// Runs `service rm`.
pub async fn run(a: &RmArgs, host: &str) -> Result<(), CliError> {
    let mut control = connect::control(host).await?;
    let mut errors = Vec::new();
    for service_ref in &a.services {
        let removed = control
            .remove_service(pb::RemoveServiceRequest {
                service_ref: service_ref.clone(),
            })
            .await;
        match removed {
            Ok(_) => output::println(service_ref)?,
            Err(status) => errors.push(CliError::from(status)),
        }
    }
    finish(errors)
}
