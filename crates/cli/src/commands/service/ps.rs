//! `flotilla service ps SERVICE...`: the tasks of services, Docker's columns (ID, NAME, IMAGE,
//! NODE, DESIRED STATE, CURRENT STATE, ERROR, PORTS) and its history tree. [`print_tasks`] and
//! [`desired_states`] are shared with `node ps`.

use super::ls::image_cell;
use super::{get_service, list_tasks};
use crate::commands::finish;
use crate::connect;
use crate::error::CliError;
use crate::output::{self, ListStyle, Listing, OutputFormat, short_id};
use flotilla_model::{Node, Service, ServiceMode, Task, TaskState};
use flotilla_proto::convert::task::task_state_to_wire;
use flotilla_proto::pb;
use flotilla_proto::pb::control_client::ControlClient;
use std::cmp::Reverse;
use std::collections::BTreeMap;
use tonic::transport::Channel;

/// Arguments of `service ps`.
#[derive(Debug, clap::Args)]
pub struct PsArgs {
    /// Only display task IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Do not truncate output.
    #[arg(long)]
    pub no_trunc: bool,
    /// Format output: table (the default) or json.
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
    /// Filter output (desired-state=running|shutdown|accepted).
    #[arg(short, long, value_name = "FILTER")]
    pub filter: Vec<String>,
    /// Services, by name, ID or ID prefix.
    #[arg(required = true, value_name = "SERVICE")]
    pub services: Vec<String>,
}

/// Columns of `service ps`.
pub const PS_COLUMNS: [&str; 8] = [
    "ID",
    "NAME",
    "IMAGE",
    "NODE",
    "DESIRED STATE",
    "CURRENT STATE",
    "ERROR",
    "PORTS",
];

/// Longest error shown without `--no-trunc`, as in Docker.
const MAX_ERR_LEN: usize = 30;

/// The desired states `-f desired-state=…` asks for, as wire values.
pub fn desired_states(filters: &[String]) -> Result<Vec<i32>, CliError> {
    let mut states = Vec::new();
    for f in filters {
        let Some((key, value)) = f.split_once('=') else {
            return Err(CliError::Usage(format!(
                "bad format of filter {f:?}: expected name=value"
            )));
        };
        if key != "desired-state" {
            return Err(CliError::Usage(format!(
                "invalid filter {key:?}: only desired-state is supported"
            )));
        }
        let state = TaskState::from_name(&value.to_lowercase()).ok_or_else(|| {
            CliError::Usage(format!(
                "invalid filter desired-state={value}: expected running, shutdown or accepted"
            ))
        })?;
        states.push(task_state_to_wire(state));
    }
    Ok(states)
}

/// Runs `service ps`.
pub async fn run(a: &PsArgs, host: &str) -> Result<(), CliError> {
    let style = ListStyle::from_flags(a.quiet, a.format);
    let desired = desired_states(&a.filter)?;
    let mut control = connect::control(host).await?;
    let mut services = Vec::new();
    let mut tasks = Vec::new();
    let mut errors = Vec::new();
    for service_ref in &a.services {
        let found = async {
            let service = get_service(&mut control, service_ref).await?;
            let tasks = list_tasks(
                &mut control,
                pb::ListTasksRequest {
                    service_ref: Some(service.id.0.clone()),
                    node_ref: None,
                    desired_states: desired.clone(),
                },
            )
            .await?;
            Ok::<_, CliError>((service, tasks))
        }
        .await;
        match found {
            Ok((service, mut t)) => {
                services.push(service);
                tasks.append(&mut t);
            }
            Err(e) => errors.push(e),
        }
    }
    if !services.is_empty() {
        print_tasks(&mut control, &services, tasks, a.no_trunc, style).await?;
    }
    finish(errors)
}

/// Prints tasks with `service ps`'s columns and history tree, naming nodes by hostname (looked
/// up unless there is nothing to show them for); `services` gives the task names (a task of a
/// service not among them is named by its service id).
pub async fn print_tasks(
    control: &mut ControlClient<Channel>,
    services: &[Service],
    tasks: Vec<Task>,
    no_trunc: bool,
    style: ListStyle,
) -> Result<(), CliError> {
    let hostnames = if tasks.is_empty() || style == ListStyle::Quiet {
        BTreeMap::new()
    } else {
        let nodes = control
            .list_nodes(pb::ListNodesRequest {})
            .await?
            .into_inner()
            .nodes
            .into_iter()
            .map(Node::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        nodes
            .into_iter()
            .map(|n| (n.id.0, n.description.hostname))
            .collect()
    };
    let view = PsView {
        services,
        hostnames: &hostnames,
        now_nanos: output::now_nanos(),
        no_trunc,
        style,
    };
    view.listing(tasks).print(style)
}

/// What `service ps` rows are made from, besides the tasks.
pub struct PsView<'a> {
    /// The services asked about (for names and modes).
    pub services: &'a [Service],
    /// Hostname by node id.
    pub hostnames: &'a BTreeMap<String, String>,
    /// The current time, for "5 seconds ago".
    pub now_nanos: u64,
    /// `--no-trunc`.
    pub no_trunc: bool,
    /// How the list will print (the history tree is for tables only).
    pub style: ListStyle,
}

impl PsView<'_> {
    /// The rows: tasks grouped by name (`web.1`, or `agent.<node id>` for global services),
    /// newest first within a name; in a table, older tasks of a name are drawn as ` \_ web.1`.
    pub fn listing(&self, tasks: Vec<Task>) -> Listing {
        let by_id: BTreeMap<&str, &Service> =
            self.services.iter().map(|s| (s.id.as_str(), s)).collect();
        let mut named: Vec<(String, Task)> = tasks
            .into_iter()
            .map(|t| {
                (
                    self.task_name(by_id.get(t.service_id.as_str()).copied(), &t),
                    t,
                )
            })
            .collect();
        named.sort_by_key(|(name, t)| {
            (
                t.service_id.0.clone(),
                t.slot,
                name.clone(),
                Reverse(t.meta.created_at),
            )
        });
        let mut listing = Listing::new(&PS_COLUMNS);
        let mut previous: Option<String> = None;
        for (name, t) in named {
            let shown_name = if self.style == ListStyle::Table && previous.as_ref() == Some(&name) {
                format!(" \\_ {name}")
            } else {
                name.clone()
            };
            previous = Some(name);
            listing.rows.push(self.row(shown_name, &t));
        }
        listing
    }

    fn task_name(&self, service: Option<&Service>, t: &Task) -> String {
        let service_name = service.map_or_else(|| t.service_id.0.clone(), |s| s.spec.name.clone());
        let global = service
            .is_some_and(|s| matches!(s.spec.mode, ServiceMode::Global | ServiceMode::GlobalJob))
            || t.slot == 0;
        match (&t.node_id, global) {
            (Some(node), true) => format!("{service_name}.{node}"),
            _ => format!("{service_name}.{}", t.slot),
        }
    }

    fn row(&self, name: String, t: &Task) -> Vec<String> {
        let image = &t.spec.container_spec.image;
        let node = t.node_id.as_ref().map_or_else(String::new, |id| {
            self.hostnames
                .get(id.as_str())
                .filter(|h| !h.is_empty())
                .cloned()
                .unwrap_or_else(|| id.0.clone())
        });
        vec![
            if self.no_trunc {
                t.id.0.clone()
            } else {
                short_id(t.id.as_str())
            },
            name,
            if self.no_trunc {
                image.clone()
            } else {
                image_cell(image)
            },
            node,
            title_case(t.desired_state.name()),
            self.current_state(t),
            self.error_cell(&t.status.err),
            String::new(),
        ]
    }

    fn current_state(&self, t: &Task) -> String {
        let state = title_case(t.status.state.name());
        let at = t.status.timestamp.as_nanos();
        if at == 0 {
            return state;
        }
        let ago = output::human_duration(self.now_nanos.saturating_sub(at));
        format!("{state} {ago} ago")
    }

    fn error_cell(&self, err: &str) -> String {
        if err.is_empty() {
            return String::new();
        }
        if self.no_trunc || err.chars().count() <= MAX_ERR_LEN {
            return format!("\"{err}\"");
        }
        let cut: String = err.chars().take(MAX_ERR_LEN - 1).collect();
        format!("\"{cut}…\"")
    }
}

/// `running` → `Running`.
pub fn title_case(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Command, ServiceCommand};
    use crate::test_cli::parse;
    use flotilla_model::{
        ContainerSpec, Meta, NodeId, ServiceId, ServiceSpec, TaskId, TaskSpec, TaskStatus,
        Timestamp,
    };

    const SECOND: u64 = 1_000_000_000;

    fn service(id: &str, name: &str, mode: ServiceMode) -> Service {
        Service {
            id: ServiceId::from(id),
            meta: Meta::default(),
            spec: ServiceSpec {
                name: name.into(),
                mode,
                ..Default::default()
            },
            previous_spec: None,
            update_status: None,
        }
    }

    fn task(id: &str, service: &str, slot: u64, created: u64, state: TaskState) -> Task {
        Task {
            id: TaskId::from(id),
            meta: Meta {
                created_at: Timestamp(created),
                ..Default::default()
            },
            service_id: ServiceId::from(service),
            slot,
            node_id: Some(NodeId::from("node1")),
            spec: TaskSpec {
                container_spec: ContainerSpec {
                    image: "nginx:1.25@sha256:abcd".into(),
                    ..Default::default()
                },
                ..Default::default()
            },
            spec_version: 1,
            desired_state: TaskState::Running,
            status: TaskStatus {
                state,
                timestamp: Timestamp(100 * SECOND),
                ..Default::default()
            },
        }
    }

    #[test]
    fn rows_and_history_tree() {
        let services = vec![service(
            "s1",
            "web",
            ServiceMode::Replicated { replicas: 1 },
        )];
        let hostnames = BTreeMap::from([("node1".to_owned(), "m1".to_owned())]);
        let mut old = task("t-old-0000000000000000001", "s1", 1, 1, TaskState::Failed);
        old.desired_state = TaskState::Shutdown;
        old.status.err = "task: non-zero exit (1) and a very long tail".into();
        let new = task("t-new-0000000000000000001", "s1", 1, 2, TaskState::Running);
        let view = PsView {
            services: &services,
            hostnames: &hostnames,
            now_nanos: 105 * SECOND,
            no_trunc: false,
            style: ListStyle::Table,
        };
        let l = view.listing(vec![old.clone(), new.clone()]);
        assert_eq!(
            l.rows[0],
            vec![
                "t-new-000000",
                "web.1",
                "nginx:1.25",
                "m1",
                "Running",
                "Running 5 seconds ago",
                "",
                ""
            ]
        );
        assert_eq!(l.rows[1][1], " \\_ web.1");
        assert_eq!(l.rows[1][4], "Shutdown");
        assert_eq!(l.rows[1][6], "\"task: non-zero exit (1) and a…\"");

        let json = PsView {
            style: ListStyle::Json,
            no_trunc: true,
            ..view
        };
        let l = json.listing(vec![old, new]);
        assert_eq!(l.rows[1][1], "web.1");
        assert_eq!(l.rows[0][0], "t-new-0000000000000000001");
        let text = l.render(ListStyle::Json).expect("renders");
        let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        let mut keys: Vec<&str> = v[0]
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            vec![
                "current_state",
                "desired_state",
                "error",
                "id",
                "image",
                "name",
                "node",
                "ports"
            ]
        );
    }

    #[test]
    fn global_tasks_are_named_by_node() {
        let services = vec![service("s2", "agent", ServiceMode::Global)];
        let hostnames = BTreeMap::new();
        let view = PsView {
            services: &services,
            hostnames: &hostnames,
            now_nanos: 0,
            no_trunc: false,
            style: ListStyle::Table,
        };
        let l = view.listing(vec![task("t1", "s2", 0, 1, TaskState::New)]);
        assert_eq!(l.rows[0][1], "agent.node1");
        assert_eq!(l.rows[0][3], "node1");
    }

    #[test]
    fn filters() {
        assert_eq!(
            desired_states(&["desired-state=running".to_owned()]).ok(),
            Some(vec![task_state_to_wire(TaskState::Running)])
        );
        assert!(desired_states(&["desired-state=bogus".to_owned()]).is_err());
        assert!(desired_states(&["node=x".to_owned()]).is_err());
        assert!(desired_states(&["running".to_owned()]).is_err());

        let cmd = parse(&[
            "service",
            "ps",
            "-q",
            "--no-trunc",
            "-f",
            "desired-state=running",
            "web",
        ])
        .expect("parses");
        let Command::Service(ServiceCommand::Ps(a)) = cmd else {
            panic!("expected service ps, got {cmd:?}");
        };
        assert!(a.quiet && a.no_trunc);
        assert_eq!(a.filter, vec!["desired-state=running"]);
        assert_eq!(a.services, vec!["web"]);
    }

    #[test]
    fn title_case_states() {
        assert_eq!(title_case("running"), "Running");
        assert_eq!(title_case(""), "");
    }
}
