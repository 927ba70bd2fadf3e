//! Task → container request: what [`run_spec`] makes of an assigned task.
//!
//! Pure: names, Docker's hostname templates (`{{.Service.Name}}`, `{{.Task.Slot}}`, …), mounts
//! (`bind`, `volume`, `tmpfs`) as the engine's `-v`/`--tmpfs` strings, limits, the stop signal
//! and grace period, and the labels that tie a container to its task.

use flotilla_agent::{AssignedTask, ExecError};
use flotilla_engine::{HealthConfig, RunSpec};
use flotilla_model::MountType;

/// Label carrying the task id: how the executor recognises its containers.
pub const TASK_ID_LABEL: &str = "com.docker.swarm.task.id";
/// Label carrying the task's name (`web.3`).
pub const TASK_NAME_LABEL: &str = "com.docker.swarm.task.name";
/// Label carrying the service id.
pub const SERVICE_ID_LABEL: &str = "com.docker.swarm.service.id";
/// Label carrying the service name.
pub const SERVICE_NAME_LABEL: &str = "com.docker.swarm.service.name";
/// Label carrying the node id.
pub const NODE_ID_LABEL: &str = "com.docker.swarm.node.id";

/// Whether the task belongs to a global service (its tasks are named by node, not slot).
fn is_global(t: &AssignedTask) -> bool {
    t.task.slot == 0
}

/// Docker's task name: `<service>.<slot>`, or `<service>.<node id>` for global services.
pub fn task_name(t: &AssignedTask) -> String {
    if is_global(t) {
        let node = t.task.node_id.as_ref().map_or("", |n| n.as_str());
        format!("{}.{node}", t.service_name)
    } else {
        format!("{}.{}", t.service_name, t.task.slot)
    }
}

/// The container's name: `<task name>.<task id>`.
pub fn container_name(t: &AssignedTask) -> String {
    format!("{}.{}", task_name(t), t.task.id)
}

/// The container request for a task on a node whose host name is `node_hostname`.
pub fn run_spec(t: &AssignedTask, node_hostname: &str) -> Result<RunSpec, ExecError> {
    let c = &t.task.spec.container_spec;
    let r = &t.task.spec.resources;
    let mut volumes = Vec::new();
    let mut tmpfs = Vec::new();
    for m in &c.mounts {
        let ro = if m.readonly { ":ro" } else { "" };
        match m.kind {
            MountType::Bind => {
                if !m.source.starts_with('/') {
                    return Err(ExecError::rejection(format!(
                        "invalid mount config: bind source {:?} must be an absolute path",
                        m.source
                    )));
                }
                volumes.push(format!("{}:{}{ro}", m.source, m.target));
            }
            MountType::Volume if m.source.is_empty() => volumes.push(m.target.clone()),
            MountType::Volume => volumes.push(format!("{}:{}{ro}", m.source, m.target)),
            MountType::Tmpfs => tmpfs.push(if m.readonly {
                format!("{}:ro", m.target)
            } else {
                m.target.clone()
            }),
        }
    }
    let mut labels = c.labels.clone();
    labels.insert(TASK_ID_LABEL.into(), t.task.id.to_string());
    labels.insert(TASK_NAME_LABEL.into(), task_name(t));
    labels.insert(SERVICE_ID_LABEL.into(), t.task.service_id.to_string());
    labels.insert(SERVICE_NAME_LABEL.into(), t.service_name.clone());
    if let Some(n) = &t.task.node_id {
        labels.insert(NODE_ID_LABEL.into(), n.to_string());
    }
    Ok(RunSpec {
        name: container_name(t),
        image: c.image.clone(),
        cmd: c.args.clone(),
        entrypoint: (!c.command.is_empty()).then(|| c.command.clone()),
        env: c.env.clone(),
        workdir: c.dir.clone(),
        user: c.user.clone(),
        hostname: expand_hostname(&c.hostname, t, node_hostname)?,
        memory_bytes: r.limit_memory_bytes,
        nano_cpus: r.limit_nano_cpus,
        pids_limit: i64::try_from(r.limit_pids).unwrap_or(i64::MAX),
        volumes,
        tmpfs,
        auto_remove: false,
        interactive: false,
        tty: c.tty,
        read_only: c.read_only,
        labels,
        stop_signal: c.stop_signal.clone(),
        stop_timeout: c.stop_grace_period,
        healthcheck: c.healthcheck.as_ref().map(|h| HealthConfig {
            test: h.test.clone(),
            interval: h.interval,
            timeout: h.timeout,
            retries: h.retries,
            start_period: h.start_period,
        }),
    })
}

/// Expands Docker's hostname templates; an unknown one is a rejection naming it.
fn expand_hostname(
    template: &str,
    t: &AssignedTask,
    node_hostname: &str,
) -> Result<String, ExecError> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(ExecError::rejection(format!(
                "invalid hostname template {template:?}: unclosed {{{{"
            )));
        };
        let key = after[..end].trim();
        let value = match key {
            ".Service.Name" => t.service_name.clone(),
            ".Service.ID" => t.task.service_id.to_string(),
            ".Task.ID" => t.task.id.to_string(),
            ".Task.Name" => task_name(t),
            ".Task.Slot" => t.task.slot.to_string(),
            ".Node.ID" => t
                .task
                .node_id
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            ".Node.Hostname" => node_hostname.to_owned(),
            other => {
                return Err(ExecError::rejection(format!(
                    "invalid hostname template {template:?}: unknown placeholder {other:?}"
                )));
            }
        };
        out.push_str(&value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_model::{
        Meta, Mount, NodeId, ServiceId, Task, TaskId, TaskSpec, TaskState, TaskStatus,
    };
    use std::time::Duration;

    fn task(slot: u64) -> AssignedTask {
        let mut spec = TaskSpec::default();
        spec.container_spec.image = "demo:1".into();
        spec.container_spec.args = vec!["sleep".into(), "100".into()];
        AssignedTask {
            task: Task {
                id: TaskId::from("t1abc"),
                meta: Meta::default(),
                service_id: ServiceId::from("s1"),
                slot,
                node_id: Some(NodeId::from("n1")),
                spec,
                spec_version: 1,
                desired_state: TaskState::Running,
                status: TaskStatus::default(),
            },
            service_name: "web".into(),
        }
    }

    #[test]
    fn names_follow_docker() {
        assert_eq!(container_name(&task(3)), "web.3.t1abc");
        assert_eq!(container_name(&task(0)), "web.n1.t1abc");
        assert_eq!(task_name(&task(0)), "web.n1");
    }

    #[test]
    fn spec_carries_the_task() {
        let mut t = task(2);
        let c = &mut t.task.spec.container_spec;
        c.command = vec!["/bin/sh".into(), "-c".into()];
        c.env = vec!["A=1".into()];
        c.stop_signal = "SIGKILL".into();
        c.stop_grace_period = Some(Duration::from_secs(3));
        c.mounts = vec![
            Mount {
                kind: MountType::Bind,
                source: "/srv".into(),
                target: "/data".into(),
                readonly: true,
            },
            Mount {
                kind: MountType::Volume,
                source: "cache".into(),
                target: "/cache".into(),
                readonly: false,
            },
            Mount {
                kind: MountType::Tmpfs,
                source: String::new(),
                target: "/tmp".into(),
                readonly: false,
            },
        ];
        t.task.spec.resources.limit_memory_bytes = 64 << 20;
        t.task.spec.resources.limit_nano_cpus = 500_000_000;
        t.task.spec.resources.limit_pids = 10;
        let s = run_spec(&t, "host1").expect("valid");
        assert_eq!(s.name, "web.2.t1abc");
        assert_eq!(s.image, "demo:1");
        assert_eq!(s.cmd, vec!["sleep", "100"]);
        assert_eq!(s.entrypoint, Some(vec!["/bin/sh".into(), "-c".into()]));
        assert_eq!(s.env, vec!["A=1"]);
        assert_eq!(s.volumes, vec!["/srv:/data:ro", "cache:/cache"]);
        assert_eq!(s.tmpfs, vec!["/tmp"]);
        assert_eq!(s.memory_bytes, 64 << 20);
        assert_eq!(s.nano_cpus, 500_000_000);
        assert_eq!(s.pids_limit, 10);
        assert_eq!(s.stop_signal, "SIGKILL");
        assert_eq!(s.stop_timeout, Some(Duration::from_secs(3)));
        assert_eq!(s.labels[TASK_ID_LABEL], "t1abc");
        assert_eq!(s.labels[SERVICE_NAME_LABEL], "web");
        assert_eq!(s.labels[TASK_NAME_LABEL], "web.2");
        assert_eq!(s.labels[NODE_ID_LABEL], "n1");
        assert!(!s.auto_remove);
    }

    #[test]
    fn hostname_templates_expand_and_unknown_ones_are_refused() {
        let mut t = task(4);
        t.task.spec.container_spec.hostname =
            "{{.Service.Name}}-{{ .Task.Slot }}-{{.Node.Hostname}}".into();
        assert_eq!(run_spec(&t, "box").expect("valid").hostname, "web-4-box");
        t.task.spec.container_spec.hostname = "{{.Nope}}".into();
        let e = run_spec(&t, "box").expect_err("unknown placeholder");
        assert!(e.is_rejection() && e.message.contains(".Nope"), "{e}");
        t.task.spec.container_spec.hostname = "x{{.Task.ID".into();
        assert!(run_spec(&t, "box").is_err());
    }

    #[test]
    fn relative_bind_sources_are_refused() {
        let mut t = task(1);
        t.task.spec.container_spec.mounts = vec![Mount {
            kind: MountType::Bind,
            source: "rel".into(),
            target: "/x".into(),
            readonly: false,
        }];
        let e = run_spec(&t, "h").expect_err("relative bind");
        assert!(e.message.contains("absolute"), "{e}");
    }
}
