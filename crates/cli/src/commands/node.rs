//! `flotilla node ls` and `flotilla node inspect`.

use crate::commands::finish;
use crate::connect;
use crate::error::CliError;
use crate::output::{self, ListStyle, Listing, OutputFormat};
use crate::units;
use flotilla_model::{Node, NodeRole};
use flotilla_proto::pb;
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
    }
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
            let node = control
                .get_node(pb::GetNodeRequest { node_ref })
                .await?
                .into_inner();
            Ok::<_, CliError>(Node::try_from(node)?)
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
        Availability, ManagerStatus, Meta, NodeDescription, NodeId, NodeSpec, NodeState,
        NodeStatus, Reachability,
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
