//! `flotilla service inspect SERVICE... [--pretty]`: a JSON array of the services (the model's
//! own serialization), or Docker's human-readable summary.

use super::get_service;
use super::ls::ports_cell;
use crate::commands::finish;
use crate::commands::node::kv;
use crate::connect;
use crate::error::CliError;
use crate::output;
use crate::units::{format_bytes, format_cpus, format_duration};
use flotilla_model::{Service, ServiceMode, UpdateConfig};
use std::fmt::Write as _;

/// Arguments of `service inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Print the information in a human friendly format.
    #[arg(long)]
    pub pretty: bool,
    /// Services, by name, ID or ID prefix.
    #[arg(required = true, value_name = "SERVICE")]
    pub services: Vec<String>,
}

/// Runs `service inspect`.
pub async fn run(a: &InspectArgs, host: &str) -> Result<(), CliError> {
    let mut control = connect::control(host).await?;
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for service_ref in &a.services {
        match get_service(&mut control, service_ref).await {
            Ok(s) => found.push(s),
            Err(e) => errors.push(e),
        }
    }
    if a.pretty {
        let text = found.iter().map(pretty).collect::<Vec<_>>().join("\n");
        output::print(&text)?;
    } else if !found.is_empty() || errors.is_empty() {
        output::print(&output::to_json(&found)?)?;
    }
    finish(errors)
}

/// `service inspect --pretty`.
pub fn pretty(s: &Service) -> String {
    let mut out = String::new();
    let spec = &s.spec;
    let mut line = |indent: &str, key: &str, value: &str| {
        let _ = writeln!(out, "{}", kv(indent, key, value));
    };
    line("", "ID:", &s.id.0);
    line("", "Name:", &spec.name);
    if !spec.labels.is_empty() {
        line("", "Labels:", "");
        for (k, v) in &spec.labels {
            line(" ", &format!("{k}={v}"), "");
        }
    }
    line("", "Created at:", &output::rfc3339(s.meta.created_at));
    line("", "Updated at:", &output::rfc3339(s.meta.updated_at));
    match spec.mode {
        ServiceMode::Replicated { replicas } => {
            line("", "Service Mode:", "Replicated");
            line(" ", "Replicas:", &replicas.to_string());
        }
        ServiceMode::Global => line("", "Service Mode:", "Global"),
        ServiceMode::ReplicatedJob {
            max_concurrent,
            total_completions,
        } => {
            line("", "Service Mode:", "Replicated Job");
            line(" ", "Max Concurrent:", &max_concurrent.to_string());
            line(" ", "Total Completions:", &total_completions.to_string());
        }
        ServiceMode::GlobalJob => line("", "Service Mode:", "Global Job"),
    }
    let placement = &spec.task_template.placement;
    if !placement.constraints.is_empty()
        || !placement.preferences.is_empty()
        || placement.max_replicas_per_node != 0
    {
        line("", "Placement:", "");
        if !placement.constraints.is_empty() {
            line(
                " ",
                "Constraints:",
                &format!("[{}]", placement.constraints.join(" ")),
            );
        }
        if !placement.preferences.is_empty() {
            let prefs: Vec<String> = placement
                .preferences
                .iter()
                .map(|p| format!("spread={p}"))
                .collect();
            line(" ", "Preferences:", &format!("[{}]", prefs.join(" ")));
        }
        if placement.max_replicas_per_node != 0 {
            line(
                " ",
                "Max Replicas Per Node:",
                &placement.max_replicas_per_node.to_string(),
            );
        }
    }
    for (title, cfg) in [
        ("UpdateConfig:", &spec.update_config),
        ("RollbackConfig:", &spec.rollback_config),
    ] {
        line("", title, "");
        rollout_lines(&mut line, cfg);
    }
    let rp = &spec.task_template.restart_policy;
    line("", "RestartPolicy:", "");
    let condition = match rp.condition {
        flotilla_model::RestartCondition::None => "none",
        flotilla_model::RestartCondition::OnFailure => "on-failure",
        flotilla_model::RestartCondition::Any => "any",
    };
    line(" ", "Condition:", condition);
    line(" ", "Delay:", &format_duration(rp.delay));
    line(" ", "Max attempts:", &rp.max_attempts.to_string());
    if !rp.window.is_zero() {
        line(" ", "Window:", &format_duration(rp.window));
    }
    let c = &spec.task_template.container_spec;
    line("", "ContainerSpec:", "");
    line(" ", "Image:", &c.image);
    if !c.command.is_empty() {
        line(" ", "Command:", &c.command.join(" "));
    }
    if !c.args.is_empty() {
        line(" ", "Args:", &c.args.join(" "));
    }
    if !c.env.is_empty() {
        line(" ", "Env:", &c.env.join(" "));
    }
    if !c.dir.is_empty() {
        line(" ", "Dir:", &c.dir);
    }
    if !c.user.is_empty() {
        line(" ", "User:", &c.user);
    }
    if !c.hostname.is_empty() {
        line(" ", "Hostname:", &c.hostname);
    }
    if !c.stop_signal.is_empty() {
        line(" ", "StopSignal:", &c.stop_signal);
    }
    if let Some(d) = c.stop_grace_period {
        line(" ", "StopGracePeriod:", &format_duration(d));
    }
    let r = &spec.task_template.resources;
    if r.reserve_nano_cpus != 0
        || r.reserve_memory_bytes != 0
        || r.limit_nano_cpus != 0
        || r.limit_memory_bytes != 0
        || r.limit_pids != 0
    {
        line("", "Resources:", "");
        if r.reserve_nano_cpus != 0 || r.reserve_memory_bytes != 0 {
            line(" ", "Reservations:", "");
            if r.reserve_nano_cpus != 0 {
                line("  ", "CPU:", &format_cpus(r.reserve_nano_cpus));
            }
            if r.reserve_memory_bytes != 0 {
                line("  ", "Memory:", &format_bytes(r.reserve_memory_bytes));
            }
        }
        if r.limit_nano_cpus != 0 || r.limit_memory_bytes != 0 || r.limit_pids != 0 {
            line(" ", "Limits:", "");
            if r.limit_nano_cpus != 0 {
                line("  ", "CPU:", &format_cpus(r.limit_nano_cpus));
            }
            if r.limit_memory_bytes != 0 {
                line("  ", "Memory:", &format_bytes(r.limit_memory_bytes));
            }
            if r.limit_pids != 0 {
                line("  ", "PIDs:", &r.limit_pids.to_string());
            }
        }
    }
    if !spec.networks.is_empty() {
        line("", "Networks:", &spec.networks.join(" "));
    }
    let endpoint_mode = match spec.endpoint_spec.mode {
        flotilla_model::EndpointMode::Vip => "vip",
        flotilla_model::EndpointMode::Dnsrr => "dnsrr",
    };
    line("", "Endpoint Mode:", endpoint_mode);
    if !spec.endpoint_spec.ports.is_empty() {
        line("", "Ports:", &ports_cell(&spec.endpoint_spec.ports));
    }
    out
}

fn rollout_lines(line: &mut impl FnMut(&str, &str, &str), cfg: &UpdateConfig) {
    let failure_action = match cfg.failure_action {
        flotilla_model::FailureAction::Pause => "pause",
        flotilla_model::FailureAction::Continue => "continue",
        flotilla_model::FailureAction::Rollback => "rollback",
    };
    let order = match cfg.order {
        flotilla_model::UpdateOrder::StopFirst => "stop-first",
        flotilla_model::UpdateOrder::StartFirst => "start-first",
    };
    line(" ", "Parallelism:", &cfg.parallelism.to_string());
    if !cfg.delay.is_zero() {
        line(" ", "Delay:", &format_duration(cfg.delay));
    }
    line(" ", "On failure:", failure_action);
    line(" ", "Monitoring Period:", &format_duration(cfg.monitor));
    line(
        " ",
        "Max failure ratio:",
        &cfg.max_failure_ratio.to_string(),
    );
    line(" ", "Update order:", order);
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_model::{ContainerSpec, Meta, ServiceId, ServiceSpec, TaskSpec};

    #[test]
    fn pretty_summary() {
        let s = Service {
            id: ServiceId::from("svc1"),
            meta: Meta::default(),
            spec: ServiceSpec {
                name: "web".into(),
                mode: ServiceMode::Replicated { replicas: 3 },
                task_template: TaskSpec {
                    container_spec: ContainerSpec {
                        image: "busybox".into(),
                        args: vec!["echo".into(), "hi".into()],
                        ..Default::default()
                    },
                    ..Default::default()
                },
                ..Default::default()
            },
            previous_spec: None,
            update_status: None,
        };
        let text = pretty(&s);
        assert!(
            text.starts_with("ID:                 svc1\nName:               web\n"),
            "{text}"
        );
        assert!(
            text.contains("Service Mode:       Replicated\n Replicas:          3\n"),
            "{text}"
        );
        assert!(text.contains(" Args:              echo hi\n"), "{text}");
        assert!(text.contains(" Monitoring Period: 5s\n"), "{text}");
        assert!(text.ends_with("Endpoint Mode:      vip\n"), "{text}");
    }

    #[test]
    fn json_is_an_array_of_model_objects() {
        let s = Service {
            id: ServiceId::from("svc1"),
            meta: Meta::default(),
            spec: ServiceSpec::default(),
            previous_spec: None,
            update_status: None,
        };
        let text = output::to_json(std::slice::from_ref(&s)).expect("encodes");
        let back: Vec<Service> = serde_json::from_str(&text).expect("decodes");
        assert_eq!(back, vec![s]);
    }
}
