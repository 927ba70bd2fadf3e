//! `flotilla swarm init`: makes this node the first manager of a new cluster.

use crate::connect;
use crate::error::CliError;
use crate::output;
use flotilla_proto::pb;

/// Manage the swarm.
#[derive(Debug, clap::Subcommand)]
pub enum SwarmCommand {
    /// Initialize a swarm.
    Init(InitArgs),
}

/// Arguments of `swarm init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Advertised address (format: <ip|interface>[:port]).
    #[arg(long, value_name = "ADDR")]
    pub advertise_addr: Option<String>,
    /// Force create a new cluster from current state.
    #[arg(long)]
    pub force_new_cluster: bool,
}

/// Runs a `swarm` subcommand.
pub async fn run(cmd: SwarmCommand, host: &str) -> Result<(), CliError> {
    match cmd {
        SwarmCommand::Init(args) => init(args, host).await,
    }
}

async fn init(args: InitArgs, host: &str) -> Result<(), CliError> {
    let mut client = connect::swarm(host).await?;
    let resp = client
        .init(pb::InitRequest {
            advertise_addr: args.advertise_addr.unwrap_or_default(),
            force_new_cluster: args.force_new_cluster,
        })
        .await?
        .into_inner();
    output::println(&init_message(&resp))
}

/// What Docker prints after `swarm init`.
fn init_message(resp: &pb::InitResponse) -> String {
    format!(
        "Swarm initialized: current node ({}) is now a manager.",
        resp.node_id
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Command;
    use crate::test_cli::parse;

    #[test]
    fn init_flags_parse() {
        let cmd = parse(&[
            "swarm",
            "init",
            "--advertise-addr",
            "10.0.0.1",
            "--force-new-cluster",
        ])
        .expect("parses");
        let Command::Swarm(SwarmCommand::Init(a)) = cmd else {
            panic!("expected swarm init, got {cmd:?}");
        };
        assert_eq!(a.advertise_addr.as_deref(), Some("10.0.0.1"));
        assert!(a.force_new_cluster);
    }

    #[test]
    fn init_message_reads_like_docker() {
        let resp = pb::InitResponse {
            node_id: "abc".into(),
            cluster_id: "def".into(),
        };
        assert_eq!(
            init_message(&resp),
            "Swarm initialized: current node (abc) is now a manager."
        );
    }
}
