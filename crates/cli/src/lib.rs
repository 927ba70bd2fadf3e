//! The `flotilla` command line: Docker's verbs and output shapes over the daemon's gRPC API.
//!
//! [`Command`] is the clap command tree (the binary flattens it into its parser and resolves the
//! host from `-H`, `FLOTILLA_HOST` or [`connect::DEFAULT_HOST`]); [`run`] executes one command
//! against the daemon at a `unix://` host.
//!
//! Layout:
//! - [`command`]: the top-level command enum and the re-exported per-family argument types.
//! - `commands/`: one module per family (`swarm`, `info`, `node`, `service/…`, `image`), each
//!   owning its clap arguments and how they run; `service/flags.rs` holds the flags `create` and
//!   `update` share and the one place they are applied to a spec; `service/progress.rs` and
//!   `service/wait.rs` draw a service's converge progress (without `-d`); `node ps` reuses
//!   `service ps`'s listing; `kv.rs` holds the `KEY=VALUE`
//!   parsing and the `--label-add`/`--label-rm` edits that `service update` and `node update`
//!   share. `image` talks to the node-local `Images` service (load, import, ls, inspect, rm,
//!   prune).
//! - [`connect`]: a tonic channel over the daemon's Unix socket.
//! - [`output`]: the table / JSON / `-q` rendering every list command shares.
//! - [`units`]: Docker byte sizes (binary for flags, decimal for image listings), CPU counts and
//!   Go durations.
//! - [`error`]: [`CliError`], worded for the terminal.

pub mod command;
mod commands;
pub mod connect;
pub mod error;
pub mod output;
pub mod units;

pub use command::{
    AvailabilityArg, Command, CreateArgs, FailureActionArg, HealthFlags, ImageCommand,
    ImageImportArgs, ImageInspectArgs, ImageLoadArgs, ImageLsArgs, ImagePruneArgs, ImageRmArgs,
    InfoArgs, InitArgs, InspectArgs, JoinArgs, JoinTokenArgs, LeaveArgs, LsArgs, ModeArg,
    NodeCommand, NodeDemoteArgs, NodeInspectArgs, NodeLsArgs, NodePromoteArgs, NodePsArgs,
    NodeRmArgs, NodeUpdateArgs, OrderArg, PsArgs, RestartConditionArg, RmArgs, RollbackArgs,
    RolloutFlags, ScaleArgs, ServiceCommand, SpecFlags, SwarmCommand, UpdateArgs,
};
pub use error::CliError;
pub use output::OutputFormat;

/// Runs `cmd` against the daemon at `host` (`unix:///path/to.sock`), printing its output to
/// standard output.
pub async fn run(cmd: Command, host: &str) -> Result<(), CliError> {
    match cmd {
        Command::Swarm(c) => commands::swarm::run(c, host).await,
        Command::Info(a) => commands::info::run(a, host).await,
        Command::Node(c) => commands::node::run(c, host).await,
        Command::Service(c) => commands::service::run(c, host).await,
        Command::Image(c) => commands::image::run(c, host).await,
        Command::Container(c) => commands::container::run(*c, host).await,
    }
}

#[cfg(test)]
pub(crate) mod test_cli {
    //! Parsing through the real command tree, as the binary would.

    use crate::Command;
    use clap::Parser;

    /// A stand-in for the binary's parser.
    #[derive(Debug, clap::Parser)]
    pub(crate) struct TestCli {
        #[command(subcommand)]
        pub(crate) cmd: Command,
    }

    /// Parses `flotilla ARGS…`.
    pub(crate) fn parse(args: &[&str]) -> Result<Command, clap::Error> {
        TestCli::try_parse_from(std::iter::once("flotilla").chain(args.iter().copied()))
            .map(|c| c.cmd)
    }

    #[test]
    fn command_tree_is_consistent() {
        use clap::CommandFactory;
        TestCli::command().debug_assert();
    }
}
