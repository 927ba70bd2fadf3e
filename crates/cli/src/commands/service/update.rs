//! `flotilla service update [OPTIONS] SERVICE`: fetches the service, changes its spec with the
//! flags, and sends it back with the version it read, so a concurrent change is refused by the
//! daemon rather than overwritten. `--rollback` asks the daemon for the previous spec instead,
//! as `service rollback` does. Either way the service's name is printed and, unless `-d`, its
//! progress is shown until it converges ([`finish_update`], shared with `service rollback`).

use super::flags::{RolloutFlags, SpecFlags, parse_placement_pref, split_words};
use super::get_service;
use super::mount::{edit_mounts, parse_mounts};
use super::rollback::request_rollback;
use super::wait::{self, WaitOptions};
use crate::commands::kv::{LabelEdits, key_of};
use crate::connect;
use crate::error::CliError;
use crate::output;
use flotilla_model::service::check_env;
use flotilla_model::{Service, ServiceSpec};
use flotilla_proto::pb;
use flotilla_proto::pb::control_client::ControlClient;
use tonic::transport::Channel;

/// Arguments of `service update`.
#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// Service image tag.
    #[arg(long)]
    pub image: Option<String>,
    /// Add or update an environment variable.
    #[arg(long, value_name = "KEY=VALUE")]
    pub env_add: Vec<String>,
    /// Remove an environment variable.
    #[arg(long, value_name = "KEY")]
    pub env_rm: Vec<String>,
    /// Add or update a service label.
    #[arg(long, value_name = "KEY=VALUE")]
    pub label_add: Vec<String>,
    /// Remove a label by its key.
    #[arg(long, value_name = "KEY")]
    pub label_rm: Vec<String>,
    /// Service command args (split on whitespace).
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    pub args: Option<String>,
    /// Add or update a placement constraint.
    #[arg(long, value_name = "EXPR")]
    pub constraint_add: Vec<String>,
    /// Remove a constraint.
    #[arg(long, value_name = "EXPR")]
    pub constraint_rm: Vec<String>,
    /// Add a placement preference (spread=node.labels.<key>).
    #[arg(long, value_name = "PREF")]
    pub placement_pref_add: Vec<String>,
    /// Remove a placement preference.
    #[arg(long, value_name = "PREF")]
    pub placement_pref_rm: Vec<String>,
    /// Add or update a mount on a service (type=bind|volume|tmpfs,source=…,target=…).
    #[arg(long, value_name = "MOUNT")]
    pub mount_add: Vec<String>,
    /// Remove a mount by its target path.
    #[arg(long, value_name = "TARGET")]
    pub mount_rm: Vec<String>,
    /// Force update even if no changes require it.
    #[arg(long)]
    pub force: bool,
    /// Rollback to previous specification.
    #[arg(long)]
    pub rollback: bool,
    /// Flags shared with `service create`.
    #[command(flatten)]
    pub spec: SpecFlags,
    /// `-d` and `-q`.
    #[command(flatten)]
    pub rollout: RolloutFlags,
    /// Service to update, by name, ID or ID prefix.
    #[arg(value_name = "SERVICE")]
    pub service: String,
}

/// Changes `spec` as the flags say. Removals apply before additions, as in Docker.
pub fn apply_update(a: &UpdateArgs, spec: &mut ServiceSpec) -> Result<(), CliError> {
    let c = &mut spec.task_template.container_spec;
    if let Some(image) = &a.image {
        c.image.clone_from(image);
    }
    for rm in &a.env_rm {
        let key = key_of(rm);
        c.env.retain(|e| key_of(e) != key);
    }
    for add in &a.env_add {
        check_env("--env-add", add)?;
        let key = key_of(add);
        match c.env.iter_mut().find(|e| key_of(e) == key) {
            Some(existing) => existing.clone_from(add),
            None => c.env.push(add.clone()),
        }
    }
    if let Some(args) = &a.args {
        c.args = split_words(args);
    }
    let mounts = parse_mounts("--mount-add", &a.mount_add)?;
    // `--mount-rm` values are targets; one that is not an absolute path can never match.
    if let Some(bad) = a.mount_rm.iter().find(|t| !t.starts_with('/')) {
        return Err(CliError::Usage(format!(
            "invalid --mount-rm: {bad:?}: expected the target path of a mount"
        )));
    }
    edit_mounts(&mut c.mounts, &mounts, &a.mount_rm);
    LabelEdits::parse(&a.label_add, &a.label_rm)?.apply(&mut spec.labels);
    let constraints = &mut spec.task_template.placement.constraints;
    for rm in &a.constraint_rm {
        constraints.retain(|c| c.trim() != rm.trim());
    }
    for add in &a.constraint_add {
        if !constraints.iter().any(|c| c.trim() == add.trim()) {
            constraints.push(add.clone());
        }
    }
    let preferences = &mut spec.task_template.placement.preferences;
    for rm in &a.placement_pref_rm {
        let rm = parse_placement_pref("--placement-pref-rm", rm)?;
        preferences.retain(|p| *p != rm);
    }
    for add in &a.placement_pref_add {
        let add = parse_placement_pref("--placement-pref-add", add)?;
        if !preferences.contains(&add) {
            preferences.push(add);
        }
    }
    a.spec.apply(spec)?;
    if a.force {
        spec.task_template.force_update = spec.task_template.force_update.wrapping_add(1);
    }
    Ok(())
}

/// Runs `service update`; prints the service's name, then waits unless `-d`.
pub async fn run(a: &UpdateArgs, host: &str) -> Result<(), CliError> {
    let mut control = connect::control(host).await?;
    let service = get_service(&mut control, &a.service).await?;
    let mut spec = service.spec.clone();
    apply_update(a, &mut spec)?;
    let updated = if a.rollback {
        if spec != service.spec {
            return Err(CliError::Usage(
                "other flags may not be combined with --rollback".into(),
            ));
        }
        request_rollback(&mut control, &service).await?
    } else {
        let updated = control
            .update_service(pb::UpdateServiceRequest {
                service_ref: service.id.0.clone(),
                version: service.meta.version.0,
                spec: Some(spec.into()),
                rollback: false,
            })
            .await?
            .into_inner();
        Service::try_from(updated)?
    };
    finish_update(&mut control, &service, &updated, &a.rollout, a.rollback).await
}

/// What `service update` and `service rollback` do once the daemon took the change: print the
/// service's name, then, unless `-d`, show its progress until it converges. `before` is the
/// service as read before the change (its update status tells a new rollout from an old one).
pub async fn finish_update(
    control: &mut ControlClient<Channel>,
    before: &Service,
    after: &Service,
    rollout: &RolloutFlags,
    rollback: bool,
) -> Result<(), CliError> {
    let name = if after.spec.name.is_empty() {
        &before.spec.name
    } else {
        &after.spec.name
    };
    output::println(name)?;
    if rollout.detach {
        return Ok(());
    }
    let options = WaitOptions::new(rollout.quiet, before.update_status.clone(), rollback);
    wait::converge(control, after.id.as_str(), &options).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Command, ServiceCommand};
    use crate::test_cli::parse;
    use flotilla_model::{ContainerSpec, ServiceMode, TaskSpec};
    use std::collections::BTreeMap;

    fn update_args(args: &[&str]) -> UpdateArgs {
        let mut full = vec!["service", "update"];
        full.extend_from_slice(args);
        match parse(&full) {
            Ok(Command::Service(ServiceCommand::Update(a))) => *a,
            other => panic!("expected service update, got {other:?}"),
        }
    }

    fn existing() -> ServiceSpec {
        ServiceSpec {
            name: "web".into(),
            labels: BTreeMap::from([("old".to_owned(), "1".to_owned())]),
            task_template: TaskSpec {
                container_spec: ContainerSpec {
                    image: "nginx:1.24".into(),
                    env: vec!["A=1".into(), "B=2".into()],
                    args: vec!["x".into()],
                    ..Default::default()
                },
                ..Default::default()
            },
            mode: ServiceMode::Replicated { replicas: 2 },
            ..Default::default()
        }
    }

    #[test]
    fn flags_change_only_what_they_name() {
        let a = update_args(&[
            "--image",
            "nginx:1.25",
            "--env-add",
            "A=9",
            "--env-add",
            "C=3",
            "--env-rm",
            "B",
            "--label-add",
            "new=2",
            "--label-rm",
            "old",
            "--args",
            "-g daemon off;",
            "--constraint-add",
            "node.role==worker",
            "--replicas",
            "5",
            "--force",
            "web",
        ]);
        assert_eq!(a.service, "web");
        let mut spec = existing();
        apply_update(&a, &mut spec).expect("applies");
        let c = &spec.task_template.container_spec;
        assert_eq!(c.image, "nginx:1.25");
        assert_eq!(c.env, vec!["A=9", "C=3"]);
        assert_eq!(c.args, vec!["-g", "daemon", "off;"]);
        assert_eq!(
            spec.labels,
            BTreeMap::from([("new".to_owned(), "2".to_owned())])
        );
        assert_eq!(
            spec.task_template.placement.constraints,
            vec!["node.role==worker"]
        );
        assert_eq!(spec.mode, ServiceMode::Replicated { replicas: 5 });
        assert_eq!(spec.task_template.force_update, 1);
        assert_eq!(spec.name, "web");
    }

    #[test]
    fn no_flags_no_change() {
        let a = update_args(&["web"]);
        let mut spec = existing();
        apply_update(&a, &mut spec).expect("applies");
        assert_eq!(spec, existing());

        let a = update_args(&["--rollback", "-d", "web"]);
        assert!(a.rollback && a.rollout.detach);
    }

    #[test]
    fn mounts_and_placement_preferences() {
        let a = update_args(&[
            "--mount-add",
            "type=bind,src=/srv,dst=/data,ro",
            "--mount-add",
            "type=tmpfs,dst=/tmp",
            "--mount-rm",
            "/old",
            "--placement-pref-add",
            "spread=node.labels.rack",
            "--placement-pref-rm",
            "spread=node.labels.zone",
            "web",
        ]);
        let mut spec = existing();
        let old = flotilla_model::Mount {
            kind: flotilla_model::MountType::Volume,
            source: "v".into(),
            target: "/old".into(),
            readonly: false,
        };
        spec.task_template.container_spec.mounts = vec![old];
        spec.task_template.placement.preferences =
            vec!["node.labels.zone".into(), "node.labels.dc".into()];
        apply_update(&a, &mut spec).expect("applies");
        let targets: Vec<(&str, bool)> = spec
            .task_template
            .container_spec
            .mounts
            .iter()
            .map(|m| (m.target.as_str(), m.readonly))
            .collect();
        assert_eq!(targets, vec![("/data", true), ("/tmp", false)]);
        assert_eq!(
            spec.task_template.placement.preferences,
            vec!["node.labels.dc", "node.labels.rack"]
        );

        let cases: &[(&[&str], &str)] = &[
            (
                &["--mount-add", "type=bind,dst=/data", "web"],
                "invalid --mount-add: ",
            ),
            (&["--mount-rm", "data", "web"], "invalid --mount-rm: "),
            (
                &["--placement-pref-add", "pack=node.labels.x", "web"],
                "invalid --placement-pref-add: ",
            ),
            (
                &["--placement-pref-rm", "node.labels.x", "web"],
                "invalid --placement-pref-rm: ",
            ),
            (
                &["--no-healthcheck", "--health-retries", "3", "web"],
                "--no-healthcheck conflicts with --health-retries",
            ),
        ];
        for (args, want) in cases {
            match apply_update(&update_args(args), &mut existing()) {
                Err(CliError::Usage(m)) => assert!(m.starts_with(want), "{args:?}: {m}"),
                other => panic!("{args:?}: expected a usage error, got {other:?}"),
            }
        }
    }

    #[test]
    fn health_flags_update_the_check() {
        let a = update_args(&["--health-cmd", "true", "--health-retries", "2", "web"]);
        let mut spec = existing();
        apply_update(&a, &mut spec).expect("applies");
        let h = spec
            .task_template
            .container_spec
            .healthcheck
            .expect("a health check");
        assert_eq!(h.test, vec!["CMD-SHELL", "true"]);
        assert_eq!(h.retries, 2);
    }

    #[test]
    fn constraint_rm_and_bad_env() {
        let a = update_args(&["--constraint-rm", "node.role==worker", "web"]);
        let mut spec = existing();
        spec.task_template.placement.constraints =
            vec!["node.role==worker".into(), "node.labels.a==b".into()];
        apply_update(&a, &mut spec).expect("applies");
        assert_eq!(
            spec.task_template.placement.constraints,
            vec!["node.labels.a==b"]
        );

        let a = update_args(&["--env-add", "=x", "web"]);
        match apply_update(&a, &mut existing()) {
            Err(CliError::Usage(m)) => assert!(m.starts_with("invalid --env-add: "), "{m}"),
            other => panic!("expected a usage error, got {other:?}"),
        }
    }
}
