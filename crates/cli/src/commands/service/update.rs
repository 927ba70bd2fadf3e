//! `flotilla service update [OPTIONS] SERVICE`: fetches the service, changes its spec with the
//! flags, and sends it back with the version it read, so a concurrent change is refused by the
//! daemon rather than overwritten. `--rollback` asks the daemon for the previous spec instead.

use super::flags::{RolloutFlags, SpecFlags, split_words};
use super::get_service;
use crate::commands::kv::{LabelEdits, key_of};
use crate::connect;
use crate::error::CliError;
use crate::output;
use flotilla_model::ServiceSpec;
use flotilla_model::service::check_env;
use flotilla_proto::pb;

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
    a.spec.apply(spec)?;
    if a.force {
        spec.task_template.force_update = spec.task_template.force_update.wrapping_add(1);
    }
    Ok(())
}

/// Runs `service update`; prints the service's name.
pub async fn run(a: &UpdateArgs, host: &str) -> Result<(), CliError> {
    let mut control = connect::control(host).await?;
    let service = get_service(&mut control, &a.service).await?;
    let mut spec = service.spec.clone();
    apply_update(a, &mut spec)?;
    let request = if a.rollback {
        if spec != service.spec {
            return Err(CliError::Usage(
                "other flags may not be combined with --rollback".into(),
            ));
        }
        pb::UpdateServiceRequest {
            service_ref: service.id.0.clone(),
            version: service.meta.version.0,
            spec: None,
            rollback: true,
        }
    } else {
        pb::UpdateServiceRequest {
            service_ref: service.id.0.clone(),
            version: service.meta.version.0,
            spec: Some(spec.into()),
            rollback: false,
        }
    };
    let updated = control.update_service(request).await?.into_inner();
    let name = updated
        .spec
        .map(|s| s.name)
        .filter(|n| !n.is_empty())
        .unwrap_or(service.spec.name);
    output::println(&name)
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
