//! Services and everything in their specs: task template, container, mounts, health check,
//! resources, restart policy, placement, mode, update/rollback config and endpoint.

use crate::convert::{
    ConvertError, duration_to_ns, enum_value, ns_to_duration, optional, repeated, required,
};
use crate::pb;
use flotilla_model::{
    ContainerSpec, EndpointSpec, HealthCheck, Mount, MountType, Placement, PortConfig, Resources,
    RestartPolicy, Service, ServiceId, ServiceMode, ServiceSpec, TaskSpec, Timestamp, UpdateConfig,
    UpdateState, UpdateStatus,
};

enum_map!(RestartCondition <=> RestartCondition {
    Any <=> Any,
    None <=> None,
    OnFailure <=> OnFailure,
});

enum_map!(FailureAction <=> FailureAction {
    Pause <=> Pause,
    Continue <=> Continue,
    Rollback <=> Rollback,
});

enum_map!(UpdateOrder <=> UpdateOrder {
    StopFirst <=> StopFirst,
    StartFirst <=> StartFirst,
});

enum_map!(EndpointMode <=> EndpointMode {
    Vip <=> Vip,
    Dnsrr <=> Dnsrr,
});

enum_map!(PublishMode <=> PublishMode {
    Ingress <=> Ingress,
    Host <=> Host,
});

impl From<MountType> for pb::MountType {
    fn from(k: MountType) -> Self {
        match k {
            MountType::Volume => pb::MountType::Volume,
            MountType::Bind => pb::MountType::Bind,
            MountType::Tmpfs => pb::MountType::Tmpfs,
        }
    }
}

impl TryFrom<pb::MountType> for MountType {
    type Error = ConvertError;

    /// `UNSPECIFIED` is refused (with an empty field, for the caller to place).
    fn try_from(k: pb::MountType) -> Result<Self, ConvertError> {
        match k {
            pb::MountType::Unspecified => Err(ConvertError::new(
                "",
                "mount type must be volume, bind or tmpfs",
            )),
            pb::MountType::Volume => Ok(MountType::Volume),
            pb::MountType::Bind => Ok(MountType::Bind),
            pb::MountType::Tmpfs => Ok(MountType::Tmpfs),
        }
    }
}

impl From<Service> for pb::Service {
    fn from(s: Service) -> Self {
        Self {
            id: s.id.0,
            meta: Some(s.meta.into()),
            spec: Some(s.spec.into()),
            previous_spec: s.previous_spec.map(Into::into),
            update_status: s.update_status.map(Into::into),
        }
    }
}

impl TryFrom<pb::Service> for Service {
    type Error = ConvertError;

    fn try_from(p: pb::Service) -> Result<Self, ConvertError> {
        Ok(Self {
            id: ServiceId(p.id),
            meta: required(p.meta, "meta")?,
            spec: required(p.spec, "spec")?,
            previous_spec: optional(p.previous_spec, "previous_spec")?,
            update_status: optional(p.update_status, "update_status")?,
        })
    }
}

impl From<UpdateState> for pb::UpdateState {
    fn from(s: UpdateState) -> Self {
        match s {
            UpdateState::Updating => pb::UpdateState::Updating,
            UpdateState::Paused => pb::UpdateState::Paused,
            UpdateState::Completed => pb::UpdateState::Completed,
            UpdateState::RollbackStarted => pb::UpdateState::RollbackStarted,
            UpdateState::RollbackPaused => pb::UpdateState::RollbackPaused,
            UpdateState::RollbackCompleted => pb::UpdateState::RollbackCompleted,
        }
    }
}

impl TryFrom<pb::UpdateState> for UpdateState {
    type Error = ConvertError;

    /// `UNSPECIFIED` is refused (with an empty field, for the caller to place).
    fn try_from(s: pb::UpdateState) -> Result<Self, ConvertError> {
        match s {
            pb::UpdateState::Unspecified => Err(ConvertError::new(
                "",
                "update state must be one of updating, paused, completed, rollback_started, \
                 rollback_paused or rollback_completed",
            )),
            pb::UpdateState::Updating => Ok(UpdateState::Updating),
            pb::UpdateState::Paused => Ok(UpdateState::Paused),
            pb::UpdateState::Completed => Ok(UpdateState::Completed),
            pb::UpdateState::RollbackStarted => Ok(UpdateState::RollbackStarted),
            pb::UpdateState::RollbackPaused => Ok(UpdateState::RollbackPaused),
            pb::UpdateState::RollbackCompleted => Ok(UpdateState::RollbackCompleted),
        }
    }
}

impl From<UpdateStatus> for pb::UpdateStatus {
    fn from(u: UpdateStatus) -> Self {
        Self {
            state: pb::UpdateState::from(u.state).into(),
            started_at_ns: u.started_at.as_nanos(),
            completed_at_ns: u.completed_at.map(Timestamp::as_nanos),
            message: u.message,
        }
    }
}

impl TryFrom<pb::UpdateStatus> for UpdateStatus {
    type Error = ConvertError;

    fn try_from(p: pb::UpdateStatus) -> Result<Self, ConvertError> {
        let state: pb::UpdateState = enum_value(p.state, "state")?;
        Ok(Self {
            state: UpdateState::try_from(state).map_err(|e| e.at("state"))?,
            started_at: Timestamp(p.started_at_ns),
            completed_at: p.completed_at_ns.map(Timestamp),
            message: p.message,
        })
    }
}

impl From<ServiceSpec> for pb::ServiceSpec {
    fn from(s: ServiceSpec) -> Self {
        Self {
            name: s.name,
            labels: s.labels,
            task_template: Some(s.task_template.into()),
            mode: Some(s.mode.into()),
            update_config: Some(s.update_config.into()),
            rollback_config: Some(s.rollback_config.into()),
            endpoint_spec: Some(s.endpoint_spec.into()),
            networks: s.networks,
        }
    }
}

impl TryFrom<pb::ServiceSpec> for ServiceSpec {
    type Error = ConvertError;

    fn try_from(p: pb::ServiceSpec) -> Result<Self, ConvertError> {
        Ok(Self {
            name: p.name,
            labels: p.labels,
            task_template: required(p.task_template, "task_template")?,
            mode: required(p.mode, "mode")?,
            update_config: required(p.update_config, "update_config")?,
            rollback_config: required(p.rollback_config, "rollback_config")?,
            endpoint_spec: required(p.endpoint_spec, "endpoint_spec")?,
            networks: p.networks,
        })
    }
}

impl From<TaskSpec> for pb::TaskSpec {
    fn from(t: TaskSpec) -> Self {
        Self {
            container_spec: Some(t.container_spec.into()),
            resources: Some(t.resources.into()),
            restart_policy: Some(t.restart_policy.into()),
            placement: Some(t.placement.into()),
            force_update: t.force_update,
        }
    }
}

impl TryFrom<pb::TaskSpec> for TaskSpec {
    type Error = ConvertError;

    fn try_from(p: pb::TaskSpec) -> Result<Self, ConvertError> {
        Ok(Self {
            container_spec: required(p.container_spec, "container_spec")?,
            resources: required(p.resources, "resources")?,
            restart_policy: required(p.restart_policy, "restart_policy")?,
            placement: required(p.placement, "placement")?,
            force_update: p.force_update,
        })
    }
}

impl From<ContainerSpec> for pb::ContainerSpec {
    fn from(c: ContainerSpec) -> Self {
        Self {
            image: c.image,
            command: c.command,
            args: c.args,
            env: c.env,
            dir: c.dir,
            user: c.user,
            hostname: c.hostname,
            labels: c.labels,
            mounts: c.mounts.into_iter().map(Into::into).collect(),
            stop_signal: c.stop_signal,
            stop_grace_period_ns: c.stop_grace_period.map(duration_to_ns),
            healthcheck: c.healthcheck.map(Into::into),
            tty: c.tty,
            read_only: c.read_only,
        }
    }
}

impl TryFrom<pb::ContainerSpec> for ContainerSpec {
    type Error = ConvertError;

    fn try_from(p: pb::ContainerSpec) -> Result<Self, ConvertError> {
        Ok(Self {
            image: p.image,
            command: p.command,
            args: p.args,
            env: p.env,
            dir: p.dir,
            user: p.user,
            hostname: p.hostname,
            labels: p.labels,
            mounts: repeated(p.mounts, "mounts")?,
            stop_signal: p.stop_signal,
            stop_grace_period: p.stop_grace_period_ns.map(ns_to_duration),
            healthcheck: optional(p.healthcheck, "healthcheck")?,
            tty: p.tty,
            read_only: p.read_only,
        })
    }
}

impl From<Mount> for pb::Mount {
    fn from(m: Mount) -> Self {
        Self {
            kind: pb::MountType::from(m.kind).into(),
            source: m.source,
            target: m.target,
            readonly: m.readonly,
        }
    }
}

impl TryFrom<pb::Mount> for Mount {
    type Error = ConvertError;

    fn try_from(p: pb::Mount) -> Result<Self, ConvertError> {
        let kind: pb::MountType = enum_value(p.kind, "kind")?;
        Ok(Self {
            kind: MountType::try_from(kind).map_err(|e| e.at("kind"))?,
            source: p.source,
            target: p.target,
            readonly: p.readonly,
        })
    }
}

impl From<HealthCheck> for pb::HealthCheck {
    fn from(h: HealthCheck) -> Self {
        Self {
            test: h.test,
            interval_ns: h.interval.map(duration_to_ns),
            timeout_ns: h.timeout.map(duration_to_ns),
            retries: h.retries,
            start_period_ns: h.start_period.map(duration_to_ns),
        }
    }
}

impl TryFrom<pb::HealthCheck> for HealthCheck {
    type Error = ConvertError;

    fn try_from(p: pb::HealthCheck) -> Result<Self, ConvertError> {
        Ok(Self {
            test: p.test,
            interval: p.interval_ns.map(ns_to_duration),
            timeout: p.timeout_ns.map(ns_to_duration),
            retries: p.retries,
            start_period: p.start_period_ns.map(ns_to_duration),
        })
    }
}

impl From<Resources> for pb::Resources {
    fn from(r: Resources) -> Self {
        Self {
            reserve_nano_cpus: r.reserve_nano_cpus,
            reserve_memory_bytes: r.reserve_memory_bytes,
            limit_nano_cpus: r.limit_nano_cpus,
            limit_memory_bytes: r.limit_memory_bytes,
            limit_pids: r.limit_pids,
        }
    }
}

impl TryFrom<pb::Resources> for Resources {
    type Error = ConvertError;

    fn try_from(p: pb::Resources) -> Result<Self, ConvertError> {
        Ok(Self {
            reserve_nano_cpus: p.reserve_nano_cpus,
            reserve_memory_bytes: p.reserve_memory_bytes,
            limit_nano_cpus: p.limit_nano_cpus,
            limit_memory_bytes: p.limit_memory_bytes,
            limit_pids: p.limit_pids,
        })
    }
}

impl From<RestartPolicy> for pb::RestartPolicy {
    fn from(r: RestartPolicy) -> Self {
        Self {
            condition: pb::RestartCondition::from(r.condition).into(),
            delay_ns: duration_to_ns(r.delay),
            max_attempts: r.max_attempts,
            window_ns: duration_to_ns(r.window),
        }
    }
}

impl TryFrom<pb::RestartPolicy> for RestartPolicy {
    type Error = ConvertError;

    fn try_from(p: pb::RestartPolicy) -> Result<Self, ConvertError> {
        Ok(Self {
            condition: enum_value::<pb::RestartCondition>(p.condition, "condition")?.into(),
            delay: ns_to_duration(p.delay_ns),
            max_attempts: p.max_attempts,
            window: ns_to_duration(p.window_ns),
        })
    }
}

impl From<Placement> for pb::Placement {
    fn from(p: Placement) -> Self {
        Self {
            constraints: p.constraints,
            preferences: p.preferences,
            max_replicas_per_node: p.max_replicas_per_node,
        }
    }
}

impl TryFrom<pb::Placement> for Placement {
    type Error = ConvertError;

    fn try_from(p: pb::Placement) -> Result<Self, ConvertError> {
        Ok(Self {
            constraints: p.constraints,
            preferences: p.preferences,
            max_replicas_per_node: p.max_replicas_per_node,
        })
    }
}

impl From<ServiceMode> for pb::ServiceMode {
    fn from(m: ServiceMode) -> Self {
        use pb::service_mode as sm;
        let mode = match m {
            ServiceMode::Replicated { replicas } => {
                sm::Mode::Replicated(sm::Replicated { replicas })
            }
            ServiceMode::Global => sm::Mode::Global(sm::Global {}),
            ServiceMode::ReplicatedJob {
                max_concurrent,
                total_completions,
            } => sm::Mode::ReplicatedJob(sm::ReplicatedJob {
                max_concurrent,
                total_completions,
            }),
            ServiceMode::GlobalJob => sm::Mode::GlobalJob(sm::GlobalJob {}),
        };
        Self { mode: Some(mode) }
    }
}

impl TryFrom<pb::ServiceMode> for ServiceMode {
    type Error = ConvertError;

    /// An absent oneof is refused (with an empty field, for the caller to place).
    fn try_from(p: pb::ServiceMode) -> Result<Self, ConvertError> {
        use pb::service_mode as sm;
        match p.mode {
            Some(sm::Mode::Replicated(r)) => Ok(ServiceMode::Replicated {
                replicas: r.replicas,
            }),
            Some(sm::Mode::Global(_)) => Ok(ServiceMode::Global),
            Some(sm::Mode::ReplicatedJob(j)) => Ok(ServiceMode::ReplicatedJob {
                max_concurrent: j.max_concurrent,
                total_completions: j.total_completions,
            }),
            Some(sm::Mode::GlobalJob(_)) => Ok(ServiceMode::GlobalJob),
            None => Err(ConvertError::new(
                "",
                "one of replicated, global, replicated_job or global_job is required",
            )),
        }
    }
}

impl From<UpdateConfig> for pb::UpdateConfig {
    fn from(u: UpdateConfig) -> Self {
        Self {
            parallelism: u.parallelism,
            delay_ns: duration_to_ns(u.delay),
            failure_action: pb::FailureAction::from(u.failure_action).into(),
            monitor_ns: duration_to_ns(u.monitor),
            max_failure_ratio: u.max_failure_ratio,
            order: pb::UpdateOrder::from(u.order).into(),
        }
    }
}

impl TryFrom<pb::UpdateConfig> for UpdateConfig {
    type Error = ConvertError;

    fn try_from(p: pb::UpdateConfig) -> Result<Self, ConvertError> {
        Ok(Self {
            parallelism: p.parallelism,
            delay: ns_to_duration(p.delay_ns),
            failure_action: enum_value::<pb::FailureAction>(p.failure_action, "failure_action")?
                .into(),
            monitor: ns_to_duration(p.monitor_ns),
            max_failure_ratio: p.max_failure_ratio,
            order: enum_value::<pb::UpdateOrder>(p.order, "order")?.into(),
        })
    }
}

impl From<EndpointSpec> for pb::EndpointSpec {
    fn from(e: EndpointSpec) -> Self {
        Self {
            mode: pb::EndpointMode::from(e.mode).into(),
            ports: e.ports.into_iter().map(Into::into).collect(),
        }
    }
}

impl TryFrom<pb::EndpointSpec> for EndpointSpec {
    type Error = ConvertError;

    fn try_from(p: pb::EndpointSpec) -> Result<Self, ConvertError> {
        Ok(Self {
            mode: enum_value::<pb::EndpointMode>(p.mode, "mode")?.into(),
            ports: repeated(p.ports, "ports")?,
        })
    }
}

impl From<PortConfig> for pb::PortConfig {
    fn from(p: PortConfig) -> Self {
        Self {
            protocol: p.protocol,
            target_port: u32::from(p.target_port),
            published_port: u32::from(p.published_port),
            publish_mode: pb::PublishMode::from(p.publish_mode).into(),
        }
    }
}

impl TryFrom<pb::PortConfig> for PortConfig {
    type Error = ConvertError;

    fn try_from(p: pb::PortConfig) -> Result<Self, ConvertError> {
        Ok(Self {
            protocol: p.protocol,
            target_port: port(p.target_port, "target_port")?,
            published_port: port(p.published_port, "published_port")?,
            publish_mode: enum_value::<pb::PublishMode>(p.publish_mode, "publish_mode")?.into(),
        })
    }
}

fn port(v: u32, field: &str) -> Result<u16, ConvertError> {
    u16::try_from(v).map_err(|_| ConvertError::new(field, format!("{v} is not a port (0-65535)")))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use flotilla_model::{
        EndpointMode, FailureAction, Meta, PublishMode, RestartCondition, UpdateOrder, Version,
    };
    use prost::Message;
    use std::collections::BTreeMap;
    use std::time::Duration;

    fn full_spec(name: &str, mode: ServiceMode) -> ServiceSpec {
        ServiceSpec {
            name: name.into(),
            labels: BTreeMap::from([("tier".to_owned(), "web".to_owned())]),
            task_template: TaskSpec {
                container_spec: ContainerSpec {
                    image: "nginx:1.27".into(),
                    command: vec!["/docker-entrypoint.sh".into()],
                    args: vec!["nginx".into(), "-g".into(), "daemon off;".into()],
                    env: vec!["A=1".into(), "B=".into()],
                    dir: "/srv".into(),
                    user: "nginx:nginx".into(),
                    hostname: "{{.Service.Name}}-{{.Task.Slot}}".into(),
                    labels: BTreeMap::from([("c".to_owned(), "d".to_owned())]),
                    mounts: vec![
                        Mount {
                            kind: MountType::Volume,
                            source: "data".into(),
                            target: "/data".into(),
                            readonly: false,
                        },
                        Mount {
                            kind: MountType::Bind,
                            source: "/etc/hosts".into(),
                            target: "/etc/hosts".into(),
                            readonly: true,
                        },
                        Mount {
                            kind: MountType::Tmpfs,
                            source: String::new(),
                            target: "/tmp".into(),
                            readonly: false,
                        },
                    ],
                    stop_signal: "SIGQUIT".into(),
                    stop_grace_period: Some(Duration::from_millis(2500)),
                    healthcheck: Some(HealthCheck {
                        test: vec!["CMD-SHELL".into(), "curl -f localhost".into()],
                        interval: Some(Duration::from_secs(3)),
                        timeout: None,
                        retries: 4,
                        start_period: Some(Duration::from_secs(1)),
                    }),
                    tty: true,
                    read_only: true,
                },
                resources: Resources {
                    reserve_nano_cpus: 250_000_000,
                    reserve_memory_bytes: 64 << 20,
                    limit_nano_cpus: 1_000_000_000,
                    limit_memory_bytes: 128 << 20,
                    limit_pids: 100,
                },
                restart_policy: RestartPolicy {
                    condition: RestartCondition::OnFailure,
                    delay: Duration::from_secs(7),
                    max_attempts: 3,
                    window: Duration::from_secs(60),
                },
                placement: Placement {
                    constraints: vec!["node.role==worker".into()],
                    preferences: vec!["node.labels.zone".into()],
                    max_replicas_per_node: 2,
                },
                force_update: 9,
            },
            mode,
            update_config: UpdateConfig {
                parallelism: 2,
                delay: Duration::from_secs(10),
                failure_action: FailureAction::Rollback,
                monitor: Duration::from_secs(30),
                max_failure_ratio: 0.25,
                order: UpdateOrder::StartFirst,
            },
            rollback_config: UpdateConfig {
                parallelism: 0,
                delay: Duration::ZERO,
                failure_action: FailureAction::Continue,
                monitor: Duration::from_millis(1),
                max_failure_ratio: 1.0,
                order: UpdateOrder::StopFirst,
            },
            endpoint_spec: EndpointSpec {
                mode: EndpointMode::Dnsrr,
                ports: vec![
                    PortConfig {
                        protocol: "tcp".into(),
                        target_port: 80,
                        published_port: 8080,
                        publish_mode: PublishMode::Host,
                    },
                    PortConfig {
                        protocol: "udp".into(),
                        target_port: 53,
                        published_port: 0,
                        publish_mode: PublishMode::Ingress,
                    },
                ],
            },
            networks: vec!["backend".into(), "frontend".into()],
        }
    }

    pub(crate) fn full_service() -> Service {
        Service {
            id: ServiceId::from("svc0000000000000000000001"),
            meta: Meta {
                version: Version(42),
                created_at: Timestamp(1_700_000_000_000_000_000),
                updated_at: Timestamp(1_700_000_001_000_000_000),
            },
            spec: full_spec("web", ServiceMode::Replicated { replicas: 3 }),
            previous_spec: Some(full_spec(
                "web",
                ServiceMode::ReplicatedJob {
                    max_concurrent: 2,
                    total_completions: 5,
                },
            )),
            update_status: Some(UpdateStatus {
                state: UpdateState::RollbackStarted,
                started_at: Timestamp(1_700_000_001_000_000_000),
                completed_at: None,
                message: "update rolled back due to failure or early termination of task t1".into(),
            }),
        }
    }

    fn round_trip(s: &Service) -> Service {
        let wire = pb::Service::from(s.clone());
        let bytes = wire.encode_to_vec();
        let decoded = pb::Service::decode(bytes.as_slice()).expect("decodes");
        assert_eq!(decoded, wire);
        Service::try_from(decoded).expect("converts back")
    }

    #[test]
    fn service_round_trips() {
        let s = full_service();
        assert_eq!(round_trip(&s), s);

        for mode in [
            ServiceMode::Global,
            ServiceMode::GlobalJob,
            ServiceMode::Replicated { replicas: 0 },
        ] {
            let mut s = full_service();
            s.spec.mode = mode;
            s.previous_spec = None;
            assert_eq!(round_trip(&s), s);
        }
    }

    #[test]
    fn every_update_status_round_trips() {
        for (state, completed_at) in [
            (UpdateState::Updating, None),
            (UpdateState::Paused, None),
            (
                UpdateState::Completed,
                Some(Timestamp(1_700_000_009_000_000_000)),
            ),
            (UpdateState::RollbackStarted, None),
            (UpdateState::RollbackPaused, None),
            (UpdateState::RollbackCompleted, Some(Timestamp(0))),
        ] {
            let mut s = full_service();
            s.update_status = Some(UpdateStatus {
                state,
                started_at: Timestamp(1_700_000_002_000_000_000),
                completed_at,
                message: format!("now {}", state.name()),
            });
            assert_eq!(round_trip(&s), s);
        }
        let mut s = full_service();
        s.update_status = None;
        assert_eq!(round_trip(&s), s);
    }

    #[test]
    fn unspecified_update_state_is_named() {
        let mut wire = pb::Service::from(full_service());
        if let Some(u) = wire.update_status.as_mut() {
            u.state = pb::UpdateState::Unspecified.into();
        }
        let e = Service::try_from(wire.clone()).expect_err("unspecified update state");
        assert_eq!(e.field, "update_status.state");

        if let Some(u) = wire.update_status.as_mut() {
            u.state = 99;
        }
        let e = Service::try_from(wire).expect_err("unknown update state");
        assert_eq!(e.field, "update_status.state");
    }

    #[test]
    fn default_spec_round_trips() {
        let s = Service {
            id: ServiceId::from("x"),
            meta: Meta::default(),
            spec: ServiceSpec::default(),
            previous_spec: None,
            update_status: None,
        };
        assert_eq!(round_trip(&s), s);
    }

    #[test]
    fn missing_mode_is_named() {
        let mut wire = pb::Service::from(full_service());
        if let Some(spec) = wire.spec.as_mut() {
            spec.mode = None;
        }
        let e = Service::try_from(wire.clone()).expect_err("mode is required");
        assert_eq!(e.field, "spec.mode");

        if let Some(spec) = wire.spec.as_mut() {
            spec.mode = Some(pb::ServiceMode { mode: None });
        }
        let e = Service::try_from(wire).expect_err("mode oneof is required");
        assert_eq!(e.field, "spec.mode");
    }

    #[test]
    fn bad_nested_fields_are_named() {
        let mut wire = pb::Service::from(full_service());
        if let Some(c) = wire
            .spec
            .as_mut()
            .and_then(|s| s.task_template.as_mut())
            .and_then(|t| t.container_spec.as_mut())
        {
            c.mounts[1].kind = pb::MountType::Unspecified.into();
        }
        let e = Service::try_from(wire).expect_err("unspecified mount type");
        assert_eq!(e.field, "spec.task_template.container_spec.mounts[1].kind");

        let mut wire = pb::Service::from(full_service());
        if let Some(e) = wire.spec.as_mut().and_then(|s| s.endpoint_spec.as_mut()) {
            e.ports[0].target_port = 70_000;
        }
        let e = Service::try_from(wire).expect_err("port out of range");
        assert_eq!(e.field, "spec.endpoint_spec.ports[0].target_port");

        let mut wire = pb::Service::from(full_service());
        if let Some(u) = wire
            .previous_spec
            .as_mut()
            .and_then(|s| s.update_config.as_mut())
        {
            u.failure_action = 99;
        }
        let e = Service::try_from(wire).expect_err("unknown failure action");
        assert_eq!(e.field, "previous_spec.update_config.failure_action");
    }
}
