//! `flotilla node ls|inspect|ps|promote|demote|rm|update`; `node ps` lives in `node/ps.rs` and
//! shares `service ps`'s listing.
//!
//! The commands that change a node (`promote`, `demote`, `update`) fetch it, change its spec,
//! and send the spec back with the version they read, so a concurrent change is refused by the
//! daemon rather than overwritten. Commands that take several nodes carry on past a failing
//! one, as Docker does.

pub mod ps;

pub use ps::NodePsArgs;

use crate::commands::finish;
use crate::commands::kv::LabelEdits;
use crate::connect;
use crate::error::CliError;
use crate::output::{self, ListStyle, Listing, OutputFormat};
use crate::units;
use flotilla_model::{Availability, Node, NodeRole, NodeSpec};
use flotilla_proto::pb;
use flotilla_proto::pb::control_client::ControlClient;
use flotilla_proto::pb::swarm_client::SwarmClient;
use std::fmt::Write as _;
use tonic::transport::Channel;

/// Manage swarm nodes.
#[derive(Debug, clap::Subcommand)]
pub enum NodeCommand {
    /// List nodes in the swarm.
    #[command(visible_alias = "list")]
    Ls(NodeLsArgs),
    /// Display detailed information on one or more nodes.
    Inspect(NodeInspectArgs),
    /// List tasks running on one or more nodes, defaults to current node.
    Ps(NodePsArgs),
    /// Promote one or more nodes to manager in the swarm.
    Promote(NodePromoteArgs),
    /// Demote one or more nodes from manager in the swarm.
    Demote(NodeDemoteArgs),
    /// Remove one or more nodes from the swarm.
    #[command(visible_alias = "remove")]
    Rm(NodeRmArgs),
    /// Update a node.
    Update(NodeUpdateArgs),
}

/// Arguments of `node ls`.
#[derive(Debug, clap::Args)]
pub struct NodeLsArgs {
    /// Only display IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Format output: table (the default) or json.
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
}

/// Arguments of `node inspect`.
#[derive(Debug, clap::Args)]
pub struct NodeInspectArgs {
    /// Print the information in a human friendly format.
    #[arg(long)]
    pub pretty: bool,
    /// Nodes, by ID, hostname or ID prefix; `self` is this node.
    #[arg(required = true, value_name = "NODE")]
    pub nodes: Vec<String>,
}

/// Arguments of `node promote`.
#[derive(Debug, clap::Args)]
pub struct NodePromoteArgs {
    /// Nodes, by ID, hostname or ID prefix.
    #[arg(required = true, value_name = "NODE")]
    pub nodes: Vec<String>,
}

/// Arguments of `node demote`.
#[derive(Debug, clap::Args)]
pub struct NodeDemoteArgs {
    /// Demote even if the swarm would lose its quorum.
    #[arg(long)]
    pub force: bool,
    /// Nodes, by ID, hostname or ID prefix.
    #[arg(required = true, value_name = "NODE")]
    pub nodes: Vec<String>,
}

/// Arguments of `node rm`.
#[derive(Debug, clap::Args)]
pub struct NodeRmArgs {
    /// Force remove a node from the swarm.
    #[arg(short, long)]
    pub force: bool,
    /// Nodes, by ID, hostname or ID prefix.
    #[arg(required = true, value_name = "NODE")]
    pub nodes: Vec<String>,
}

/// `--availability` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AvailabilityArg {
    /// Takes new tasks.
    Active,
    /// Keeps its tasks, takes no new ones.
    Pause,
    /// Its tasks move elsewhere.
    Drain,
}

impl From<AvailabilityArg> for Availability {
    fn from(a: AvailabilityArg) -> Self {
        match a {
            AvailabilityArg::Active => Availability::Active,
            AvailabilityArg::Pause => Availability::Pause,
            AvailabilityArg::Drain => Availability::Drain,
        }
    }
}

/// Arguments of `node update`.
#[derive(Debug, clap::Args)]
pub struct NodeUpdateArgs {
    /// Availability of the node.
    #[arg(long, value_enum)]
    pub availability: Option<AvailabilityArg>,
    /// Add or update a node label.
    #[arg(long, value_name = "KEY=VALUE")]
    pub label_add: Vec<String>,
    /// Remove a node label if exists.
    #[arg(long, value_name = "KEY")]
    pub label_rm: Vec<String>,
    /// Node, by ID, hostname or ID prefix.
    #[arg(value_name = "NODE")]
    pub node: String,
}

/// Columns of `node ls`.
pub const LS_COLUMNS: [&str; 6] = [
    "ID",
    "HOSTNAME",
    "STATUS",
    "AVAILABILITY",
    "MANAGER STATUS",
    "ENGINE VERSION",
];

/// Runs a `node` subcommand.
pub async fn run(cmd: NodeCommand, host: &str) -> Result<(), CliError> {
    match cmd {
        NodeCommand::Ls(args) => ls(args, host).await,
        NodeCommand::Inspect(args) => inspect(args, host).await,
        NodeCommand::Ps(args) => ps::run(&args, host).await,
        NodeCommand::Promote(args) => set_role(&args.nodes, NodeRole::Manager, false, host).await,
        NodeCommand::Demote(args) => {
            set_role(&args.nodes, NodeRole::Worker, args.force, host).await
        }
        NodeCommand::Rm(args) => rm(args, host).await,
        NodeCommand::Update(args) => update(args, host).await,
    }
}

/// One node, by id, hostname or id prefix, as a model object.
async fn get_node(control: &mut ControlClient<Channel>, node_ref: &str) -> Result<Node, CliError> {
    let node = control
        .get_node(pb::GetNodeRequest {
            node_ref: node_ref.to_owned(),
        })
        .await?
        .into_inner();
    Ok(Node::try_from(node)?)
}

/// Sends `spec` as `node`'s new spec, with the version `node` was read at.
async fn update_node(
    control: &mut ControlClient<Channel>,
    node: &Node,
    spec: NodeSpec,
    force: bool,
) -> Result<(), CliError> {
    control
        .update_node(pb::UpdateNodeRequest {
            node_ref: node.id.0.clone(),
            version: node.meta.version.0,
            spec: Some(spec.into()),
            force,
        })
        .await?;
    Ok(())
}

async fn ls(args: NodeLsArgs, host: &str) -> Result<(), CliError> {
    let style = ListStyle::from_flags(args.quiet, args.format);
    let (mut control, mut swarm) = connect::both(host).await?;
    let resp = control
        .list_nodes(pb::ListNodesRequest {})
        .await?
        .into_inner();
    let nodes = resp
        .nodes
        .into_iter()
        .map(Node::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    // The current node is only marked in the table; a failing Info just leaves it unmarked.
    let self_id = if style == ListStyle::Table {
        self_node_id(&mut swarm).await.ok()
    } else {
        None
    };
    ls_listing(nodes, self_id.as_deref(), style).print(style)
}

/// The `node ls` rows, sorted by hostname; `self_id` gets Docker's ` *` in the table only.
pub fn ls_listing(mut nodes: Vec<Node>, self_id: Option<&str>, style: ListStyle) -> Listing {
    nodes.sort_by(|a, b| (&a.description.hostname, &a.id).cmp(&(&b.description.hostname, &b.id)));
    let mut listing = Listing::new(&LS_COLUMNS);
    for n in nodes {
        let mut id = n.id.0.clone();
        if style == ListStyle::Table && self_id == Some(n.id.as_str()) {
            id.push_str(" *");
        }
        listing.rows.push(vec![
            id,
            n.description.hostname.clone(),
            n.status.state.display_name().to_owned(),
            n.spec.availability.display_name().to_owned(),
            n.manager_status_display().to_owned(),
            n.description.engine_version.clone(),
        ]);
    }
    listing
}

async fn self_node_id(swarm: &mut SwarmClient<Channel>) -> Result<String, CliError> {
    Ok(swarm.info(pb::InfoRequest {}).await?.into_inner().node_id)
}

async fn inspect(args: NodeInspectArgs, host: &str) -> Result<(), CliError> {
    let (mut control, mut swarm) = connect::both(host).await?;
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for node_ref in &args.nodes {
        let result = async {
            let node_ref = if node_ref == "self" {
                self_node_id(&mut swarm).await?
            } else {
                node_ref.clone()
            };
            get_node(&mut control, &node_ref).await
        }
        .await;
        match result {
            Ok(n) => found.push(n),
            Err(e) => errors.push(e),
        }
    }
    if args.pretty {
        let text = found.iter().map(pretty).collect::<Vec<_>>().join("\n");
        output::print(&text)?;
    } else if !found.is_empty() || errors.is_empty() {
        output::print(&output::to_json(&found)?)?;
    }
    finish(errors)
}

/// `node promote` (`role` manager) and `node demote` (`role` worker), node by node.
async fn set_role(
    nodes: &[String],
    role: NodeRole,
    force: bool,
    host: &str,
) -> Result<(), CliError> {
    let mut control = connect::control(host).await?;
    let mut errors = Vec::new();
    for node_ref in nodes {
        match set_role_one(&mut control, node_ref, role, force).await {
            Ok(message) => output::println(&message)?,
            Err(e) => errors.push(e),
        }
    }
    finish(errors)
}

/// Gives one node `role` unless it has it already; returns what to print.
async fn set_role_one(
    control: &mut ControlClient<Channel>,
    node_ref: &str,
    role: NodeRole,
    force: bool,
) -> Result<String, CliError> {
    let node = get_node(control, node_ref).await?;
    if node.spec.role == role {
        return Ok(already_message(&node.id.0, role));
    }
    let spec = NodeSpec {
        role,
        ..node.spec.clone()
    };
    update_node(control, &node, spec, force).await?;
    Ok(role_changed_message(node_ref, role))
}

/// Docker's note for a node that already has the role asked for; it is left alone.
pub fn already_message(node_id: &str, role: NodeRole) -> String {
    format!("Node {node_id} is already a {}.", role.name())
}

/// Docker's line after a node was given `role` (promoted to manager, demoted to worker).
pub fn role_changed_message(node_ref: &str, role: NodeRole) -> String {
    match role {
        NodeRole::Manager => format!("Node {node_ref} promoted to a manager in the swarm."),
        NodeRole::Worker => format!("Manager {node_ref} demoted in the swarm."),
    }
}

/// Runs `node rm`, printing each reference removed.
async fn rm(args: NodeRmArgs, host: &str) -> Result<(), CliError> {
    let mut control = connect::control(host).await?;
    let mut errors = Vec::new();
    for node_ref in &args.nodes {
        let removed = control
            .remove_node(pb::RemoveNodeRequest {
                node_ref: node_ref.clone(),
                force: args.force,
            })
            .await;
        match removed {
            Ok(_) => output::println(node_ref)?,
            Err(status) => errors.push(CliError::from(status)),
        }
    }
    finish(errors)
}

/// Runs `node update`: label values are checked before the daemon is asked anything; prints
/// the node reference.
async fn update(args: NodeUpdateArgs, host: &str) -> Result<(), CliError> {
    let labels = LabelEdits::parse(&args.label_add, &args.label_rm)?;
    let mut control = connect::control(host).await?;
    let node = get_node(&mut control, &args.node).await?;
    let mut spec = node.spec.clone();
    apply_node_update(args.availability, &labels, &mut spec);
    update_node(&mut control, &node, spec, false).await?;
    output::println(&args.node)
}

/// Changes `spec` as `node update`'s flags say; absent flags change nothing.
pub fn apply_node_update(
    availability: Option<AvailabilityArg>,
    labels: &LabelEdits,
    spec: &mut NodeSpec,
) {
    if let Some(a) = availability {
        spec.availability = a.into();
    }
    labels.apply(&mut spec.labels);
}

/// `node inspect --pretty`.
pub fn pretty(n: &Node) -> String {
    let mut out = String::new();
    let mut line = |indent: &str, key: &str, value: &str| {
        let _ = writeln!(out, "{}", kv(indent, key, value));
    };
    line("", "ID:", &n.id.0);
    if !n.spec.labels.is_empty() {
        line("", "Labels:", "");
        for (k, v) in &n.spec.labels {
            line(" ", &format!("- {k}"), &format!("= {v}"));
        }
    }
    line("", "Hostname:", &n.description.hostname);
    line("", "Joined at:", &output::rfc3339(n.meta.created_at));
    line("", "Status:", "");
    line(" ", "State:", n.status.state.display_name());
    if !n.status.message.is_empty() {
        line(" ", "Message:", &n.status.message);
    }
    line(" ", "Availability:", n.spec.availability.display_name());
    line(" ", "Address:", &n.status.addr);
    if let Some(m) = &n.manager_status {
        line("", "Manager Status:", "");
        line(" ", "Address:", &m.addr);
        let reach = match m.reachability {
            flotilla_model::Reachability::Unknown => "Unknown",
            flotilla_model::Reachability::Reachable => "Reachable",
            flotilla_model::Reachability::Unreachable => "Unreachable",
        };
        line(" ", "Raft Status:", reach);
        line(" ", "Leader:", if m.leader { "Yes" } else { "No" });
    }
    let role = match n.spec.role {
        NodeRole::Manager => "Manager",
        NodeRole::Worker => "Worker",
    };
    line("", "Role:", role);
    line("", "Platform:", "");
    line(" ", "Operating System:", &n.description.platform.os);
    line(" ", "Architecture:", &n.description.platform.architecture);
    line("", "Resources:", "");
    line(" ", "CPUs:", &units::format_cpus(n.description.nano_cpus));
    line(
        " ",
        "Memory:",
        &units::format_bytes(n.description.memory_bytes),
    );
    line("", "Engine Version:", &n.description.engine_version);
    out
}

/// One `key: value` line of a `--pretty` block, values aligned at column 20 (keys too long
/// for that get a single space).
pub fn kv(indent: &str, key: &str, value: &str) -> String {
    let width = 20usize.saturating_sub(indent.len());
    if value.is_empty() {
        format!("{indent}{key}")
    } else if key.chars().count() >= width {
        format!("{indent}{key} {value}")
    } else {
        format!("{indent}{key:<width$}{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Command;
    use crate::test_cli::parse;
    use flotilla_model::{
        ManagerStatus, Meta, NodeDescription, NodeId, NodeState, NodeStatus, Reachability,
    };

    fn node(id: &str, hostname: &str, leader: Option<bool>) -> Node {
        Node {
            id: NodeId::from(id),
            meta: Meta::default(),
            spec: NodeSpec {
                availability: Availability::Active,
                ..Default::default()
            },
            description: NodeDescription {
                hostname: hostname.into(),
                engine_version: "0.1.0".into(),
                ..Default::default()
            },
            status: NodeStatus {
                state: NodeState::Ready,
                ..Default::default()
            },
            manager_status: leader.map(|leader| ManagerStatus {
                leader,
                reachability: Reachability::Reachable,
                addr: "10.0.0.1:2377".into(),
            }),
            raft_id: 1,
        }
    }

    #[test]
    fn ls_marks_self_in_table_only() {
        let nodes = vec![node("n2", "b", None), node("n1", "a", Some(true))];
        let table = ls_listing(nodes.clone(), Some("n1"), ListStyle::Table);
        assert_eq!(table.rows[0][0], "n1 *");
        assert_eq!(table.rows[0][4], "Leader");
        assert_eq!(table.rows[1][0], "n2");
        assert_eq!(table.rows[1][2], "Ready");
        assert_eq!(table.rows[1][3], "Active");

        let json = ls_listing(nodes.clone(), Some("n1"), ListStyle::Json);
        let text = json.render(ListStyle::Json).expect("renders");
        let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(v[0]["id"], "n1");
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
                "availability",
                "engine_version",
                "hostname",
                "id",
                "manager_status",
                "status"
            ]
        );

        let quiet = ls_listing(nodes, Some("n1"), ListStyle::Quiet);
        assert_eq!(quiet.render(ListStyle::Quiet).expect("renders"), "n1\nn2\n");
    }

    #[test]
    fn inspect_needs_a_node() {
        assert!(parse(&["node", "inspect"]).is_err());
        let cmd = parse(&["node", "inspect", "--pretty", "self", "n2"]).expect("parses");
        let Command::Node(NodeCommand::Inspect(a)) = cmd else {
            panic!("expected node inspect, got {cmd:?}");
        };
        assert!(a.pretty);
        assert_eq!(a.nodes, vec!["self", "n2"]);
    }

    fn node_cmd(args: &[&str]) -> NodeCommand {
        let mut full = vec!["node"];
        full.extend_from_slice(args);
        match parse(&full) {
            Ok(Command::Node(c)) => c,
            other => panic!("expected a node command, got {other:?}"),
        }
    }

    #[test]
    fn promote_and_demote_parse() {
        let NodeCommand::Promote(a) = node_cmd(&["promote", "n1", "n2"]) else {
            panic!("expected node promote");
        };
        assert_eq!(a.nodes, vec!["n1", "n2"]);

        let NodeCommand::Demote(a) = node_cmd(&["demote", "--force", "n1", "n2"]) else {
            panic!("expected node demote");
        };
        assert!(a.force);
        assert_eq!(a.nodes, vec!["n1", "n2"]);

        let NodeCommand::Demote(a) = node_cmd(&["demote", "n1"]) else {
            panic!("expected node demote");
        };
        assert!(!a.force);

        assert!(parse(&["node", "promote"]).is_err());
        assert!(parse(&["node", "demote", "--force"]).is_err());
    }

    #[test]
    fn role_messages_read_like_docker() {
        assert_eq!(
            role_changed_message("n1", NodeRole::Manager),
            "Node n1 promoted to a manager in the swarm."
        );
        assert_eq!(
            role_changed_message("n1", NodeRole::Worker),
            "Manager n1 demoted in the swarm."
        );
        assert_eq!(
            already_message("abc", NodeRole::Manager),
            "Node abc is already a manager."
        );
        assert_eq!(
            already_message("abc", NodeRole::Worker),
            "Node abc is already a worker."
        );
    }

    #[test]
    fn rm_parses() {
        let NodeCommand::Rm(a) = node_cmd(&["rm", "--force", "n1", "n2"]) else {
            panic!("expected node rm");
        };
        assert!(a.force);
        assert_eq!(a.nodes, vec!["n1", "n2"]);
        let NodeCommand::Rm(a) = node_cmd(&["remove", "-f", "n1"]) else {
            panic!("expected node rm");
        };
        assert!(a.force);
        assert!(parse(&["node", "rm"]).is_err());
    }

    fn update_args(args: &[&str]) -> NodeUpdateArgs {
        let mut full = vec!["update"];
        full.extend_from_slice(args);
        match node_cmd(&full) {
            NodeCommand::Update(a) => a,
            other => panic!("expected node update, got {other:?}"),
        }
    }

    #[test]
    fn update_changes_only_what_it_names() {
        let a = update_args(&[
            "--availability",
            "drain",
            "--label-add",
            "zone=a",
            "--label-rm",
            "old",
            "n1",
        ]);
        assert_eq!(a.node, "n1");
        assert_eq!(a.availability, Some(AvailabilityArg::Drain));
        assert_eq!(a.label_add, vec!["zone=a"]);
        assert_eq!(a.label_rm, vec!["old"]);

        let existing = NodeSpec {
            labels: [("old", "1"), ("kept", "2")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            role: NodeRole::Manager,
            availability: Availability::Active,
        };
        let mut spec = existing.clone();
        let labels = LabelEdits::parse(&a.label_add, &a.label_rm).expect("valid labels");
        apply_node_update(a.availability, &labels, &mut spec);
        assert_eq!(spec.availability, Availability::Drain);
        assert_eq!(spec.role, NodeRole::Manager);
        let keys: Vec<(&str, &str)> = spec
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(keys, vec![("kept", "2"), ("zone", "a")]);

        let a = update_args(&["n1"]);
        let mut spec = existing.clone();
        let labels = LabelEdits::parse(&a.label_add, &a.label_rm).expect("no labels");
        apply_node_update(a.availability, &labels, &mut spec);
        assert_eq!(spec, existing);

        assert!(parse(&["node", "update", "--availability", "gone", "n1"]).is_err());
        assert!(parse(&["node", "update", "--availability", "pause"]).is_err());
    }

    #[test]
    fn update_refuses_bad_labels_naming_the_flag() {
        for bad in ["zone", "=a"] {
            let a = update_args(&["--label-add", bad, "n1"]);
            match LabelEdits::parse(&a.label_add, &a.label_rm) {
                Err(CliError::Usage(m)) => {
                    assert!(m.starts_with("invalid --label-add: "), "{bad}: {m}");
                }
                other => panic!("{bad}: expected a usage error, got {other:?}"),
            }
        }
    }

    #[test]
    fn pretty_mentions_the_essentials() {
        let text = pretty(&node("n1", "a", Some(true)));
        assert!(text.contains("Hostname:           a\n"), "{text}");
        assert!(text.contains(" Leader:            Yes\n"), "{text}");
        assert_eq!(
            kv(" ", "Max Replicas Per Node:", "2"),
            " Max Replicas Per Node: 2"
        );
    }
}
