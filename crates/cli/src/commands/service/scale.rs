//! `flotilla service scale SERVICE=REPLICAS...`: one get-and-update per service, each with the
//! version it read; then, unless `-d`, the progress of each scaled service until it converges,
//! one after the other as Docker does.

use super::flags::check_replicas;
use super::get_service;
use super::wait::{self, WaitOptions};
use crate::commands::finish;
use crate::connect;
use crate::error::CliError;
use crate::output;
use flotilla_model::{Service, ServiceMode};
use flotilla_proto::pb;
use flotilla_proto::pb::control_client::ControlClient;
use tonic::transport::Channel;

/// Arguments of `service scale`.
#[derive(Debug, clap::Args)]
pub struct ScaleArgs {
    /// Exit immediately instead of waiting for the service to converge.
    #[arg(short, long)]
    pub detach: bool,
    /// Services and their new replica counts.
    #[arg(required = true, value_name = "SERVICE=REPLICAS")]
    pub scales: Vec<String>,
}

/// Splits `SERVICE=REPLICAS`, checking the count.
pub fn parse_scale(arg: &str) -> Result<(String, u64), CliError> {
    let bad = || {
        CliError::Usage(format!(
            "invalid scale specifier {arg:?}: expected SERVICE=REPLICAS"
        ))
    };
    let (service, n) = arg.split_once('=').ok_or_else(bad)?;
    if service.is_empty() {
        return Err(bad());
    }
    let n: i64 = n.trim().parse().map_err(|_| {
        CliError::Usage(format!(
            "invalid replicas value for {service}: {n:?} is not a number"
        ))
    })?;
    let n = check_replicas(n).map_err(|reason| {
        CliError::Usage(format!("invalid replicas value for {service}: {reason}"))
    })?;
    Ok((service.to_owned(), n))
}

/// Runs `service scale`: every specifier is checked before anything is changed.
pub async fn run(a: &ScaleArgs, host: &str) -> Result<(), CliError> {
    let scales = a
        .scales
        .iter()
        .map(|s| parse_scale(s))
        .collect::<Result<Vec<_>, _>>()?;
    let mut control = connect::control(host).await?;
    let mut errors = Vec::new();
    let mut scaled = Vec::new();
    for (service, n) in scales {
        match scale_one(&mut control, &service, n).await {
            Ok(before) => {
                output::println(&format!("{service} scaled to {n}"))?;
                scaled.push(before);
            }
            Err(e) => errors.push(e),
        }
    }
    if !a.detach {
        for before in scaled {
            let options = WaitOptions::new(false, before.update_status.clone(), false);
            if let Err(e) = wait::converge(&mut control, before.id.as_str(), &options).await {
                errors.push(e);
            }
        }
    }
    finish(errors)
}

/// Sets one service's replica count; returns the service as read before the change.
async fn scale_one(
    control: &mut ControlClient<Channel>,
    service_ref: &str,
    n: u64,
) -> Result<Service, CliError> {
    let service = get_service(control, service_ref).await?;
    let mut spec = service.spec.clone();
    match &mut spec.mode {
        ServiceMode::Replicated { replicas } => *replicas = n,
        ServiceMode::ReplicatedJob {
            max_concurrent,
            total_completions,
        } => {
            *total_completions = n;
            *max_concurrent = (*max_concurrent).min(n);
        }
        ServiceMode::Global | ServiceMode::GlobalJob => {
            return Err(CliError::Usage(format!(
                "{service_ref}: scale can only be used with replicated or replicated-job mode \
                 (the service is {})",
                service.spec.mode.name()
            )));
        }
    }
    control
        .update_service(pb::UpdateServiceRequest {
            service_ref: service.id.0.clone(),
            version: service.meta.version.0,
            spec: Some(spec.into()),
            rollback: false,
        })
        .await?;
    Ok(service)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_detach_and_several_services() {
        use crate::command::{Command, ServiceCommand};
        let cmd = crate::test_cli::parse(&["service", "scale", "-d", "web=3", "api=0"]);
        let Ok(Command::Service(ServiceCommand::Scale(a))) = cmd else {
            panic!("expected service scale, got {cmd:?}");
        };
        assert!(a.detach);
        assert_eq!(a.scales, vec!["web=3", "api=0"]);
        assert!(crate::test_cli::parse(&["service", "scale", "-d"]).is_err());
    }

    #[test]
    fn specifiers() {
        assert_eq!(parse_scale("web=3").ok(), Some(("web".to_owned(), 3)));
        assert_eq!(parse_scale("web=0").ok(), Some(("web".to_owned(), 0)));
        for bad in ["web", "=3", "web=x", "web=-1", "web=100001"] {
            assert!(
                matches!(parse_scale(bad), Err(CliError::Usage(_))),
                "{bad} must be refused"
            );
        }
    }
}
