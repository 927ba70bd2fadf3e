//! `flotilla service create [OPTIONS] IMAGE [COMMAND] [ARG...]`: builds a spec from the flags
//! (on the model's defaults), sends it, prints the new service's id as Docker does and, unless
//! `-d`, shows the service's progress until it converges.

use super::flags::{ModeArg, RolloutFlags, SpecFlags, parse_placement_pref};
use super::mount::parse_mounts;
use super::wait::{self, WaitOptions};
use crate::commands::kv::parse_kv;
use crate::connect;
use crate::error::CliError;
use crate::output;
use flotilla_model::service::check_env;
use flotilla_model::{ServiceMode, ServiceSpec};
use flotilla_proto::pb;

/// Arguments of `service create`.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Service name.
    #[arg(long)]
    pub name: Option<String>,
    /// Service mode (default replicated).
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,
    /// Set environment variables.
    #[arg(short, long, value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Service labels.
    #[arg(short, long, value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// Placement constraints (e.g. node.labels.zone==a).
    #[arg(long, value_name = "EXPR")]
    pub constraint: Vec<String>,
    /// Add a placement preference (spread=node.labels.<key>).
    #[arg(long, value_name = "PREF")]
    pub placement_pref: Vec<String>,
    /// Attach a filesystem mount (type=bind|volume|tmpfs,source=…,target=…[,readonly]).
    #[arg(long, value_name = "MOUNT")]
    pub mount: Vec<String>,
    /// Flags shared with `service update`.
    #[command(flatten)]
    pub spec: SpecFlags,
    /// `-d` and `-q`.
    #[command(flatten)]
    pub rollout: RolloutFlags,
    /// Image to run.
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// Command and arguments for the container.
    #[arg(
        value_name = "ARG",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub args: Vec<String>,
}

/// The spec `service create` sends: the model's defaults, then the flags.
pub fn build_spec(a: &CreateArgs) -> Result<ServiceSpec, CliError> {
    let mut spec = ServiceSpec {
        name: a.name.clone().unwrap_or_default(),
        mode: a.mode.unwrap_or(ModeArg::Replicated).to_mode(),
        ..Default::default()
    };
    for e in &a.env {
        check_env("--env", e)?;
    }
    let c = &mut spec.task_template.container_spec;
    c.image.clone_from(&a.image);
    c.args.clone_from(&a.args);
    c.env.clone_from(&a.env);
    c.mounts = parse_mounts("--mount", &a.mount)?;
    for l in &a.label {
        let (k, v) = parse_kv("--label", l)?;
        spec.labels.insert(k, v);
    }
    let placement = &mut spec.task_template.placement;
    placement.constraints.clone_from(&a.constraint);
    for p in &a.placement_pref {
        placement
            .preferences
            .push(parse_placement_pref("--placement-pref", p)?);
    }
    a.spec.apply(&mut spec)?;
    // A job asked for fewer completions than the default concurrency runs them all at once.
    if a.spec.max_concurrent.is_none()
        && let ServiceMode::ReplicatedJob {
            max_concurrent,
            total_completions,
        } = &mut spec.mode
    {
        *max_concurrent = (*max_concurrent).min(*total_completions);
    }
    Ok(spec)
}

/// Runs `service create`.
pub async fn run(a: &CreateArgs, host: &str) -> Result<(), CliError> {
    let spec = build_spec(a)?;
    let mut control = connect::control(host).await?;
    let created = control
        .create_service(pb::CreateServiceRequest {
            spec: Some(spec.into()),
        })
        .await?
        .into_inner();
    output::println(&created.id)?;
    if a.rollout.detach {
        return Ok(());
    }
    wait::converge(
        &mut control,
        &created.id,
        &WaitOptions::new(a.rollout.quiet, None, false),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Command, ServiceCommand};
    use crate::test_cli::parse;
    use flotilla_model::{RestartCondition, RestartPolicy};
    use std::collections::BTreeMap;
    use std::time::Duration;

    fn create_args(args: &[&str]) -> CreateArgs {
        let mut full = vec!["service", "create"];
        full.extend_from_slice(args);
        match parse(&full) {
            Ok(Command::Service(ServiceCommand::Create(a))) => *a,
            other => panic!("expected service create, got {other:?}"),
        }
    }

    #[test]
    fn docker_example_builds_the_expected_spec() {
        let a = create_args(&[
            "--name",
            "web",
            "--replicas",
            "3",
            "-e",
            "A=1",
            "busybox",
            "echo",
            "hi",
        ]);
        let spec = build_spec(&a).expect("builds");
        assert_eq!(spec.name, "web");
        assert_eq!(spec.mode, ServiceMode::Replicated { replicas: 3 });
        let c = &spec.task_template.container_spec;
        assert_eq!(c.image, "busybox");
        assert_eq!(c.env, vec!["A=1"]);
        assert_eq!(c.args, vec!["echo", "hi"]);
        assert!(c.command.is_empty());
        // Everything else keeps the model's defaults.
        assert_eq!(spec.task_template.restart_policy, RestartPolicy::default());
        assert_eq!(spec.update_config, flotilla_model::UpdateConfig::default());
    }

    #[test]
    fn trailing_args_keep_their_dashes() {
        let a = create_args(&["busybox", "ls", "-la", "--color", "/"]);
        assert_eq!(a.args, vec!["ls", "-la", "--color", "/"]);
        let spec = build_spec(&a).expect("builds");
        assert_eq!(spec.mode, ServiceMode::Replicated { replicas: 1 });
        assert!(spec.name.is_empty());
    }

    #[test]
    fn many_flags() {
        let a = create_args(&[
            "--name",
            "api",
            "--mode",
            "replicated-job",
            "--replicas",
            "4",
            "-l",
            "tier=front",
            "--label",
            "bare",
            "--constraint",
            "node.role==worker",
            "--placement-pref",
            "spread=node.labels.zone",
            "--replicas-max-per-node",
            "2",
            "-w",
            "/srv",
            "-u",
            "nobody",
            "--hostname",
            "h1",
            "--entrypoint",
            "/bin/sh -c",
            "--limit-cpu",
            "1.5",
            "--limit-memory",
            "1g",
            "--limit-pids",
            "100",
            "--reserve-cpu",
            "0.25",
            "--reserve-memory",
            "512k",
            "--restart-condition",
            "none",
            "--restart-delay",
            "10s",
            "--restart-max-attempts",
            "3",
            "--restart-window",
            "1m",
            "--update-failure-action",
            "rollback",
            "--update-monitor",
            "30s",
            "--update-max-failure-ratio",
            "0.2",
            "--rollback-parallelism",
            "0",
            "--rollback-order",
            "start-first",
            "--stop-signal",
            "SIGQUIT",
            "--stop-grace-period",
            "1m30s",
            "-d",
            "-q",
            "nginx:1.25",
        ]);
        assert!(a.rollout.detach && a.rollout.quiet);
        let spec = build_spec(&a).expect("builds");
        assert_eq!(
            spec.mode,
            ServiceMode::ReplicatedJob {
                max_concurrent: 1,
                total_completions: 4
            }
        );
        assert_eq!(
            spec.labels,
            BTreeMap::from([
                ("bare".to_owned(), String::new()),
                ("tier".to_owned(), "front".to_owned())
            ])
        );
        let t = &spec.task_template;
        assert_eq!(t.placement.constraints, vec!["node.role==worker"]);
        assert_eq!(t.placement.preferences, vec!["node.labels.zone"]);
        assert_eq!(t.placement.max_replicas_per_node, 2);
        let c = &t.container_spec;
        assert_eq!(c.image, "nginx:1.25");
        assert_eq!(c.dir, "/srv");
        assert_eq!(c.user, "nobody");
        assert_eq!(c.hostname, "h1");
        assert_eq!(c.command, vec!["/bin/sh", "-c"]);
        assert_eq!(c.stop_signal, "SIGQUIT");
        assert_eq!(c.stop_grace_period, Some(Duration::from_secs(90)));
        assert_eq!(t.resources.limit_nano_cpus, 1_500_000_000);
        assert_eq!(t.resources.limit_memory_bytes, 1 << 30);
        assert_eq!(t.resources.limit_pids, 100);
        assert_eq!(t.resources.reserve_nano_cpus, 250_000_000);
        assert_eq!(t.resources.reserve_memory_bytes, 512 << 10);
        assert_eq!(t.restart_policy.condition, RestartCondition::None);
        assert_eq!(t.restart_policy.delay, Duration::from_secs(10));
        assert_eq!(t.restart_policy.max_attempts, 3);
        assert_eq!(t.restart_policy.window, Duration::from_secs(60));
        assert_eq!(
            spec.update_config.failure_action,
            flotilla_model::FailureAction::Rollback
        );
        assert_eq!(spec.update_config.monitor, Duration::from_secs(30));
        assert!((spec.update_config.max_failure_ratio - 0.2).abs() < f32::EPSILON);
        assert_eq!(spec.rollback_config.parallelism, 0);
        assert_eq!(
            spec.rollback_config.order,
            flotilla_model::UpdateOrder::StartFirst
        );
        assert_eq!(spec.validate(), Ok(()));
    }

    #[test]
    fn mounts_and_health_check() {
        let a = create_args(&[
            "--name",
            "web",
            "--mount",
            "type=bind,src=/srv/www,dst=/usr/share/nginx/html,readonly",
            "--mount",
            "type=volume,source=cache,target=/cache",
            "--health-cmd",
            "wget -q -O- http://localhost/",
            "--health-interval",
            "5s",
            "--health-retries",
            "2",
            "nginx",
        ]);
        let spec = build_spec(&a).expect("builds");
        let c = &spec.task_template.container_spec;
        assert_eq!(
            c.mounts,
            vec![
                flotilla_model::Mount {
                    kind: flotilla_model::MountType::Bind,
                    source: "/srv/www".into(),
                    target: "/usr/share/nginx/html".into(),
                    readonly: true,
                },
                flotilla_model::Mount {
                    kind: flotilla_model::MountType::Volume,
                    source: "cache".into(),
                    target: "/cache".into(),
                    readonly: false,
                },
            ]
        );
        let h = c.healthcheck.as_ref().expect("a health check");
        assert_eq!(h.test, vec!["CMD-SHELL", "wget -q -O- http://localhost/"]);
        assert_eq!(h.interval, Some(Duration::from_secs(5)));
        assert_eq!(h.retries, 2);
        assert_eq!(spec.validate(), Ok(()));

        let a = create_args(&["--no-healthcheck", "nginx"]);
        let spec = build_spec(&a).expect("builds");
        assert_eq!(
            spec.task_template
                .container_spec
                .healthcheck
                .map(|h| h.test),
            Some(vec!["NONE".to_owned()])
        );
        assert_eq!(
            build_spec(&create_args(&["nginx"]))
                .expect("builds")
                .task_template
                .container_spec
                .healthcheck,
            None
        );

        let a = create_args(&["--no-healthcheck", "--health-cmd", "true", "nginx"]);
        match build_spec(&a) {
            Err(CliError::Usage(m)) => {
                assert!(
                    m.starts_with("--no-healthcheck conflicts with --health-cmd"),
                    "{m}"
                );
            }
            other => panic!("expected a usage error, got {other:?}"),
        }
        let a = create_args(&["--mount", "type=bind,target=/x", "nginx"]);
        match build_spec(&a) {
            Err(CliError::Usage(m)) => assert!(m.starts_with("invalid --mount: "), "{m}"),
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn negative_replicas_are_a_usage_error() {
        let a = create_args(&["--replicas", "-1", "busybox"]);
        match build_spec(&a) {
            Err(CliError::Usage(m)) => assert_eq!(
                m,
                "invalid --replicas: -1 is out of range: must be between 0 and 100000"
            ),
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn bad_env_names_the_flag() {
        let a = create_args(&["-e", "NOVALUE", "busybox"]);
        match build_spec(&a) {
            Err(CliError::Usage(m)) => assert!(m.starts_with("invalid --env: "), "{m}"),
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn global_mode_refuses_replicas() {
        let a = create_args(&["--mode", "global", "--replicas", "2", "busybox"]);
        assert!(matches!(build_spec(&a), Err(CliError::Usage(_))));
        let a = create_args(&["--mode", "global", "busybox"]);
        assert_eq!(build_spec(&a).expect("builds").mode, ServiceMode::Global);
    }

    #[test]
    fn image_is_required_and_bad_enums_are_refused() {
        assert!(parse(&["service", "create", "--name", "web"]).is_err());
        assert!(parse(&["service", "create", "--mode", "sometimes", "busybox"]).is_err());
        assert!(
            parse(&[
                "service",
                "create",
                "--restart-condition",
                "always",
                "busybox"
            ])
            .is_err()
        );
    }
}
