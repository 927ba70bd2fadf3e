//! `flotilla swarm init|join|join-token|leave`: this node's membership of a swarm.
//!
//! `init`, `join` and `leave` are node-local (the `Swarm` service on the daemon's socket);
//! `join-token` asks the cluster (`Control`). `init` and `join-token` end with Docker's
//! instructions for adding a node, built by [`join_instructions`] from a join token and this
//! node's address (`Swarm.Info`'s `node_addr`).

use crate::connect;
use crate::error::CliError;
use crate::output;
use crate::units;
use flotilla_model::NodeRole;
use flotilla_proto::pb;
use flotilla_proto::pb::control_client::ControlClient;
use flotilla_proto::pb::swarm_client::SwarmClient;
use tonic::transport::Channel;

/// Manage the swarm.
#[derive(Debug, clap::Subcommand)]
pub enum SwarmCommand {
    /// Initialize a swarm.
    Init(InitArgs),
    /// Join a swarm as a node and/or manager.
    Join(JoinArgs),
    /// Manage join tokens.
    JoinToken(JoinTokenArgs),
    /// Leave the swarm.
    Leave(LeaveArgs),
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
    /// Validity period for node certificates (ns|us|ms|s|m|h) (default 2160h0m0s).
    #[arg(long, value_name = "DURATION")]
    pub cert_expiry: Option<String>,
}

/// Arguments of `swarm join`.
#[derive(Debug, clap::Args)]
pub struct JoinArgs {
    /// Token for entry into the swarm.
    #[arg(long)]
    pub token: String,
    /// Advertised address (format: <ip|interface>[:port]).
    #[arg(long, value_name = "ADDR")]
    pub advertise_addr: Option<String>,
    /// A manager of the swarm.
    #[arg(value_name = "HOST:PORT")]
    pub remote_addr: String,
}

/// Arguments of `swarm join-token`.
#[derive(Debug, clap::Args)]
pub struct JoinTokenArgs {
    /// Only display token.
    #[arg(short, long)]
    pub quiet: bool,
    /// Rotate join token.
    #[arg(long)]
    pub rotate: bool,
    /// worker or manager.
    #[arg(value_name = "ROLE")]
    pub role: String,
}

/// Arguments of `swarm leave`.
#[derive(Debug, clap::Args)]
pub struct LeaveArgs {
    /// Force this node to leave the swarm, ignoring warnings.
    #[arg(short, long)]
    pub force: bool,
}

/// Runs a `swarm` subcommand.
pub async fn run(cmd: SwarmCommand, host: &str) -> Result<(), CliError> {
    match cmd {
        SwarmCommand::Init(args) => init(args, host).await,
        SwarmCommand::Join(args) => join(args, host).await,
        SwarmCommand::JoinToken(args) => join_token(args, host).await,
        SwarmCommand::Leave(args) => leave(args, host).await,
    }
}

async fn init(args: InitArgs, host: &str) -> Result<(), CliError> {
    let cert_expiry_secs = cert_expiry_secs(args.cert_expiry.as_deref())?;
    let (mut control, mut swarm) = connect::both(host).await?;
    let resp = swarm
        .init(pb::InitRequest {
            advertise_addr: args.advertise_addr.unwrap_or_default(),
            force_new_cluster: args.force_new_cluster,
            cert_expiry_secs,
        })
        .await?
        .into_inner();
    let follow_up = async {
        let token = fetch_token(&mut control, NodeRole::Worker, false).await?;
        let addr = fetch_node_addr(&mut swarm).await?;
        Ok::<_, CliError>((token, addr))
    }
    .await;
    match follow_up {
        Ok((token, addr)) => output::print(&init_message(&resp.node_id, &token, &addr)),
        Err(e) => {
            // The swarm exists; say so before reporting why the instructions are missing.
            output::println(&initialized_line(&resp.node_id))?;
            Err(e)
        }
    }
}

/// `--cert-expiry` in whole seconds; absent is 0, the daemon's default (90 days). A value under
/// one second is refused, as it would otherwise read as "the default".
pub fn cert_expiry_secs(value: Option<&str>) -> Result<u64, CliError> {
    let Some(value) = value else {
        return Ok(0);
    };
    let secs = units::parse_duration("--cert-expiry", value)?.as_secs();
    if secs == 0 {
        return Err(CliError::Usage(format!(
            "invalid --cert-expiry: {value:?}: must be at least 1s"
        )));
    }
    Ok(secs)
}

/// The first line Docker prints after `swarm init`.
fn initialized_line(node_id: &str) -> String {
    format!("Swarm initialized: current node ({node_id}) is now a manager.")
}

/// What Docker prints after `swarm init`: the new manager's id, the command a worker runs to
/// join (`worker_token`, this node's `addr`) and how to get the manager's.
pub fn init_message(node_id: &str, worker_token: &str, addr: &str) -> String {
    format!(
        "{}\n\n{}\nTo add a manager to this swarm, run 'flotilla swarm join-token manager' \
         and follow the instructions.\n",
        initialized_line(node_id),
        join_instructions(NodeRole::Worker, worker_token, addr),
    )
}

/// Docker's instructions for adding a node of `role`: the `swarm join` command to run, with
/// the token and a manager's `addr` (IP:PORT).
pub fn join_instructions(role: NodeRole, token: &str, addr: &str) -> String {
    format!(
        "To add a {} to this swarm, run the following command:\n\n    \
         flotilla swarm join --token {token} {addr}\n",
        role.name()
    )
}

/// What Docker prints after `swarm join-token --rotate`, before the instructions.
pub fn rotated_message(role: NodeRole) -> String {
    format!("Successfully rotated {} join token.\n\n", role.name())
}

/// What Docker prints after `swarm join`, from the role the daemon answered with.
pub fn joined_message(role: &str) -> String {
    let role = if role == NodeRole::Manager.name() {
        NodeRole::Manager
    } else {
        NodeRole::Worker
    };
    format!("This node joined a swarm as a {}.", role.name())
}

/// The ROLE argument of `swarm join-token`: `worker` or `manager`.
pub fn parse_role(role: &str) -> Result<NodeRole, CliError> {
    match role {
        "worker" => Ok(NodeRole::Worker),
        "manager" => Ok(NodeRole::Manager),
        other => Err(CliError::Usage(format!(
            "invalid ROLE: {other:?}: expected worker or manager"
        ))),
    }
}

/// The join token for `role`, rotated first if asked.
async fn fetch_token(
    control: &mut ControlClient<Channel>,
    role: NodeRole,
    rotate: bool,
) -> Result<String, CliError> {
    Ok(control
        .join_token(pb::JoinTokenRequest {
            role: role.name().to_owned(),
            rotate,
        })
        .await?
        .into_inner()
        .token)
}

/// The address other nodes reach this one at (IP:PORT).
async fn fetch_node_addr(swarm: &mut SwarmClient<Channel>) -> Result<String, CliError> {
    Ok(swarm.info(pb::InfoRequest {}).await?.into_inner().node_addr)
}

async fn join(args: JoinArgs, host: &str) -> Result<(), CliError> {
    let mut swarm = connect::swarm(host).await?;
    let resp = swarm
        .join(pb::JoinSwarmRequest {
            token: args.token,
            remote_addr: args.remote_addr,
            advertise_addr: args.advertise_addr.unwrap_or_default(),
        })
        .await?
        .into_inner();
    output::println(&joined_message(&resp.role))
}

async fn join_token(args: JoinTokenArgs, host: &str) -> Result<(), CliError> {
    let role = parse_role(&args.role)?;
    let (mut control, mut swarm) = connect::both(host).await?;
    let token = fetch_token(&mut control, role, args.rotate).await?;
    if args.quiet {
        return output::println(&token);
    }
    if args.rotate {
        // Said before asking for the address: the old token is dead even if that fails.
        output::print(&rotated_message(role))?;
    }
    let addr = fetch_node_addr(&mut swarm).await?;
    output::print(&join_instructions(role, &token, &addr))
}

async fn leave(args: LeaveArgs, host: &str) -> Result<(), CliError> {
    let mut swarm = connect::swarm(host).await?;
    swarm
        .leave(pb::LeaveSwarmRequest { force: args.force })
        .await?;
    output::println("Node left the swarm.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Command;
    use crate::test_cli::parse;

    fn swarm(args: &[&str]) -> SwarmCommand {
        let mut full = vec!["swarm"];
        full.extend_from_slice(args);
        match parse(&full) {
            Ok(Command::Swarm(c)) => c,
            other => panic!("expected a swarm command, got {other:?}"),
        }
    }

    fn usage(e: CliError) -> String {
        match e {
            CliError::Usage(m) => m,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn init_flags_parse() {
        let SwarmCommand::Init(a) = swarm(&[
            "init",
            "--advertise-addr",
            "10.0.0.1",
            "--force-new-cluster",
            "--cert-expiry",
            "720h",
        ]) else {
            panic!("expected swarm init");
        };
        assert_eq!(a.advertise_addr.as_deref(), Some("10.0.0.1"));
        assert!(a.force_new_cluster);
        assert_eq!(a.cert_expiry.as_deref(), Some("720h"));

        let SwarmCommand::Init(a) = swarm(&["init"]) else {
            panic!("expected swarm init");
        };
        assert!(a.advertise_addr.is_none() && !a.force_new_cluster && a.cert_expiry.is_none());
    }

    #[test]
    fn cert_expiry_is_a_go_duration_in_seconds() {
        assert_eq!(cert_expiry_secs(None).ok(), Some(0));
        assert_eq!(cert_expiry_secs(Some("2160h")).ok(), Some(2160 * 3600));
        assert_eq!(cert_expiry_secs(Some("1h30m")).ok(), Some(5400));
        for bad in ["90d", "-1h", "0", "500ms", ""] {
            let e = cert_expiry_secs(Some(bad)).expect_err(bad);
            let m = usage(e);
            assert!(m.starts_with("invalid --cert-expiry: "), "{bad}: {m}");
        }
    }

    #[test]
    fn init_message_reads_like_docker() {
        assert_eq!(
            init_message("abc", "SWMTKN-1-x-y", "10.0.0.1:4242"),
            "Swarm initialized: current node (abc) is now a manager.\n\
             \n\
             To add a worker to this swarm, run the following command:\n\
             \n    flotilla swarm join --token SWMTKN-1-x-y 10.0.0.1:4242\n\
             \n\
             To add a manager to this swarm, run 'flotilla swarm join-token manager' \
             and follow the instructions.\n"
        );
    }

    #[test]
    fn join_parses() {
        let SwarmCommand::Join(a) = swarm(&["join", "--token", "T", "10.0.0.1:4242"]) else {
            panic!("expected swarm join");
        };
        assert_eq!(a.token, "T");
        assert_eq!(a.remote_addr, "10.0.0.1:4242");
        assert!(a.advertise_addr.is_none());

        let SwarmCommand::Join(a) = swarm(&[
            "join",
            "--advertise-addr",
            "10.0.0.2",
            "--token",
            "T",
            "10.0.0.1:4242",
        ]) else {
            panic!("expected swarm join");
        };
        assert_eq!(a.advertise_addr.as_deref(), Some("10.0.0.2"));

        assert!(parse(&["swarm", "join", "10.0.0.1:4242"]).is_err(), "token");
        assert!(
            parse(&["swarm", "join", "--token", "T"]).is_err(),
            "address"
        );
    }

    #[test]
    fn joined_messages() {
        assert_eq!(
            joined_message("worker"),
            "This node joined a swarm as a worker."
        );
        assert_eq!(
            joined_message("manager"),
            "This node joined a swarm as a manager."
        );
    }

    #[test]
    fn join_token_parses() {
        let SwarmCommand::JoinToken(a) = swarm(&["join-token", "-q", "--rotate", "manager"]) else {
            panic!("expected swarm join-token");
        };
        assert!(a.quiet && a.rotate);
        assert_eq!(a.role, "manager");

        let SwarmCommand::JoinToken(a) = swarm(&["join-token", "worker"]) else {
            panic!("expected swarm join-token");
        };
        assert!(!a.quiet && !a.rotate);
        assert!(parse(&["swarm", "join-token"]).is_err(), "role");
    }

    #[test]
    fn join_token_role_is_worker_or_manager() {
        assert_eq!(parse_role("worker").ok(), Some(NodeRole::Worker));
        assert_eq!(parse_role("manager").ok(), Some(NodeRole::Manager));
        for bad in ["", "Manager", "leader"] {
            let m = usage(parse_role(bad).expect_err(bad));
            assert!(m.starts_with("invalid ROLE: "), "{bad}: {m}");
            assert!(m.ends_with("expected worker or manager"), "{bad}: {m}");
        }
    }

    #[test]
    fn join_token_text_reads_like_docker() {
        assert_eq!(
            join_instructions(NodeRole::Manager, "T", "10.0.0.1:4242"),
            "To add a manager to this swarm, run the following command:\n\n    \
             flotilla swarm join --token T 10.0.0.1:4242\n"
        );
        assert_eq!(
            rotated_message(NodeRole::Worker),
            "Successfully rotated worker join token.\n\n"
        );
    }

    #[test]
    fn leave_parses() {
        let SwarmCommand::Leave(a) = swarm(&["leave", "--force"]) else {
            panic!("expected swarm leave");
        };
        assert!(a.force);
        let SwarmCommand::Leave(a) = swarm(&["leave"]) else {
            panic!("expected swarm leave");
        };
        assert!(!a.force);
    }
}
