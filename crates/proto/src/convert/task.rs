//! Tasks, their observed status, and the task state enum (whose wire values are SwarmKit's).

use crate::convert::{ConvertError, enum_value, required};
use crate::pb;
use flotilla_model::{NodeId, ServiceId, Task, TaskId, TaskState, TaskStatus, Timestamp};

enum_map!(TaskState <=> TaskState {
    New <=> New,
    Pending <=> Pending,
    Assigned <=> Assigned,
    Accepted <=> Accepted,
    Preparing <=> Preparing,
    Ready <=> Ready,
    Starting <=> Starting,
    Running <=> Running,
    Complete <=> Complete,
    Shutdown <=> Shutdown,
    Failed <=> Failed,
    Rejected <=> Rejected,
    Remove <=> Remove,
    Orphaned <=> Orphaned,
});

/// A task state as the `i32` an enum field holds.
pub fn task_state_to_wire(s: TaskState) -> i32 {
    pb::TaskState::from(s).into()
}

/// Decodes a task state field; values that are not a state are errors naming `field`.
pub fn task_state_from_wire(v: i32, field: &str) -> Result<TaskState, ConvertError> {
    enum_value::<pb::TaskState>(v, field).map(TaskState::from)
}

impl From<Task> for pb::Task {
    fn from(t: Task) -> Self {
        Self {
            id: t.id.0,
            meta: Some(t.meta.into()),
            service_id: t.service_id.0,
            slot: t.slot,
            node_id: t.node_id.map(|n| n.0),
            spec: Some(t.spec.into()),
            spec_version: t.spec_version,
            desired_state: task_state_to_wire(t.desired_state),
            status: Some(t.status.into()),
        }
    }
}

impl TryFrom<pb::Task> for Task {
    type Error = ConvertError;

    fn try_from(p: pb::Task) -> Result<Self, ConvertError> {
        Ok(Self {
            id: TaskId(p.id),
            meta: required(p.meta, "meta")?,
            service_id: ServiceId(p.service_id),
            slot: p.slot,
            node_id: p.node_id.map(NodeId),
            spec: required(p.spec, "spec")?,
            spec_version: p.spec_version,
            desired_state: task_state_from_wire(p.desired_state, "desired_state")?,
            status: required(p.status, "status")?,
        })
    }
}

impl From<TaskStatus> for pb::TaskStatus {
    fn from(s: TaskStatus) -> Self {
        Self {
            state: task_state_to_wire(s.state),
            timestamp_ns: s.timestamp.as_nanos(),
            message: s.message,
            err: s.err,
            exit_code: s.exit_code,
        }
    }
}

impl TryFrom<pb::TaskStatus> for TaskStatus {
    type Error = ConvertError;

    fn try_from(p: pb::TaskStatus) -> Result<Self, ConvertError> {
        Ok(Self {
            state: task_state_from_wire(p.state, "state")?,
            timestamp: Timestamp(p.timestamp_ns),
            message: p.message,
            err: p.err,
            exit_code: p.exit_code,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use flotilla_model::{
        ContainerSpec, Meta, Placement, RestartCondition, RestartPolicy, TaskSpec, Version,
    };
    use prost::Message;
    use std::time::Duration;

    pub(crate) fn sample_task() -> Task {
        Task {
            id: TaskId::from("task000000000000000000001"),
            meta: Meta {
                version: Version(7),
                created_at: Timestamp(10),
                updated_at: Timestamp(20),
            },
            service_id: ServiceId::from("svc0000000000000000000001"),
            slot: 2,
            node_id: Some(NodeId::from("node00000000000000000001")),
            spec: TaskSpec {
                container_spec: ContainerSpec {
                    image: "busybox".into(),
                    args: vec!["sleep".into(), "inf".into()],
                    stop_grace_period: Some(Duration::from_secs(3)),
                    ..Default::default()
                },
                restart_policy: RestartPolicy {
                    condition: RestartCondition::None,
                    ..Default::default()
                },
                placement: Placement {
                    constraints: vec!["node.hostname==a".into()],
                    ..Default::default()
                },
                ..Default::default()
            },
            spec_version: 41,
            desired_state: TaskState::Running,
            status: TaskStatus {
                state: TaskState::Failed,
                timestamp: Timestamp(1_700_000_000_123_456_789),
                message: "started".into(),
                err: "exit status 3".into(),
                exit_code: Some(-3),
            },
        }
    }

    #[test]
    fn task_round_trips() {
        let t = sample_task();
        let wire = pb::Task::from(t.clone());
        let decoded = pb::Task::decode(wire.encode_to_vec().as_slice()).expect("decodes");
        assert_eq!(Task::try_from(decoded).expect("converts back"), t);

        let mut unassigned = sample_task();
        unassigned.node_id = None;
        unassigned.status = TaskStatus::default();
        unassigned.desired_state = TaskState::New;
        let back = Task::try_from(pb::Task::from(unassigned.clone())).expect("converts back");
        assert_eq!(back, unassigned);
    }

    #[test]
    fn every_state_keeps_its_swarmkit_value() {
        for s in TaskState::ALL {
            let v = task_state_to_wire(s);
            assert_eq!(u32::try_from(v).ok(), Some(s.as_u32()));
            assert_eq!(task_state_from_wire(v, "state").expect("known state"), s);
        }
    }

    #[test]
    fn unknown_state_is_named() {
        let mut wire = pb::Task::from(sample_task());
        if let Some(st) = wire.status.as_mut() {
            st.state = 65;
        }
        let e = Task::try_from(wire).expect_err("65 is not a state");
        assert_eq!(e.field, "status.state");

        let mut wire = pb::Task::from(sample_task());
        wire.status = None;
        assert_eq!(
            Task::try_from(wire).expect_err("status is required").field,
            "status"
        );
    }
}
