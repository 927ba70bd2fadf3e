//! `flotilla node ps [NODE...]`: the tasks on nodes (default `self`, this node), with
//! `service ps`'s columns, filters and history tree: the listing is `service ps`'s own
//! ([`print_tasks`]).

use super::self_node_id;
use crate::commands::finish;
use crate::commands::service::list_tasks;
use crate::commands::service::ps::{desired_states, print_tasks};
use crate::connect;
use crate::error::CliError;
use crate::output::{ListStyle, OutputFormat};
use flotilla_model::{Node, Service, Task};
use flotilla_proto::pb;
use flotilla_proto::pb::control_client::ControlClient;
use flotilla_proto::pb::swarm_client::SwarmClient;
use tonic::transport::Channel;

/// Arguments of `node ps`.
#[derive(Debug, clap::Args)]
pub struct NodePsArgs {
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
    /// Nodes, by ID, hostname or ID prefix; `self` (the default) is this node.
    #[arg(value_name = "NODE")]
    pub nodes: Vec<String>,
}

impl NodePsArgs {
    /// The nodes asked about: `self` when none is named.
    pub fn node_refs(&self) -> Vec<String> {
        if self.nodes.is_empty() {
            vec!["self".to_owned()]
        } else {
            self.nodes.clone()
        }
    }
}

/// Runs `node ps`: every node's tasks in one listing; a node that cannot be found is reported
/// and the others are still listed.
pub async fn run(a: &NodePsArgs, host: &str) -> Result<(), CliError> {
    let style = ListStyle::from_flags(a.quiet, a.format);
    let desired = desired_states(&a.filter)?;
    let (mut control, mut swarm) = connect::both(host).await?;
    let mut tasks = Vec::new();
    let mut errors = Vec::new();
    let mut found_any = false;
    for node_ref in a.node_refs() {
        let found = node_tasks(&mut control, &mut swarm, node_ref, &desired).await;
        match found {
            Ok(mut t) => {
                found_any = true;
                tasks.append(&mut t);
            }
            Err(e) => errors.push(e),
        }
    }
    if found_any {
        let services = if tasks.is_empty() {
            Vec::new()
        } else {
            control
                .list_services(pb::ListServicesRequest {})
                .await?
                .into_inner()
                .services
                .into_iter()
                .map(Service::try_from)
                .collect::<Result<Vec<_>, _>>()?
        };
        print_tasks(&mut control, &services, tasks, a.no_trunc, style).await?;
    }
    finish(errors)
}

/// The tasks on one node (`self` is this node) in the desired states asked for.
async fn node_tasks(
    control: &mut ControlClient<Channel>,
    swarm: &mut SwarmClient<Channel>,
    node_ref: String,
    desired: &[i32],
) -> Result<Vec<Task>, CliError> {
    let node_ref = if node_ref == "self" {
        self_node_id(swarm).await?
    } else {
        node_ref
    };
    let node = control
        .get_node(pb::GetNodeRequest { node_ref })
        .await?
        .into_inner();
    let node = Node::try_from(node)?;
    list_tasks(
        control,
        pb::ListTasksRequest {
            service_ref: None,
            node_ref: Some(node.id.0),
            desired_states: desired.to_vec(),
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Command, NodeCommand};
    use crate::test_cli::parse;

    fn ps_args(args: &[&str]) -> NodePsArgs {
        let mut full = vec!["node", "ps"];
        full.extend_from_slice(args);
        match parse(&full) {
            Ok(Command::Node(NodeCommand::Ps(a))) => a,
            other => panic!("expected node ps, got {other:?}"),
        }
    }

    #[test]
    fn defaults_to_self() {
        let a = ps_args(&[]);
        assert_eq!(a.node_refs(), vec!["self"]);
        assert!(!a.quiet && !a.no_trunc && a.filter.is_empty());
    }

    #[test]
    fn flags_like_docker() {
        let a = ps_args(&[
            "--no-trunc",
            "-q",
            "-f",
            "desired-state=running",
            "n1",
            "n2",
        ]);
        assert!(a.quiet && a.no_trunc);
        assert_eq!(a.node_refs(), vec!["n1", "n2"]);
        assert_eq!(
            desired_states(&a.filter).ok(),
            Some(vec![flotilla_proto::convert::task::task_state_to_wire(
                flotilla_model::TaskState::Running
            )])
        );
        let a = ps_args(&["--filter", "desired-state=bogus"]);
        match desired_states(&a.filter) {
            Err(CliError::Usage(m)) => assert!(m.contains("desired-state=bogus"), "{m}"),
            other => panic!("expected a usage error, got {other:?}"),
        }
        assert!(parse(&["node", "ps", "--format", "yaml"]).is_err());
    }
}
