//! The command tree, in Docker's words: `swarm init|join|join-token|leave`, `info`,
//! `node ls|inspect|ps|promote|demote|rm|update`,
//! `service create|inspect|ls|ps|rm|rollback|scale|update` and
//! `image load|import|pull|ls|inspect|rm|prune`.
//!
//! Global flags (`-H`, `--log-level`) belong to the binary, which flattens [`Command`] into its
//! own parser next to `daemon`. Each family's arguments live with the code that runs them under
//! `commands/`.

pub use crate::commands::image::{
    ImageCommand, ImageImportArgs, ImageInspectArgs, ImageLoadArgs, ImageLsArgs, ImagePruneArgs,
    ImagePullArgs, ImageRmArgs,
};
pub use crate::commands::info::InfoArgs;
pub use crate::commands::node::{
    AvailabilityArg, NodeCommand, NodeDemoteArgs, NodeInspectArgs, NodeLsArgs, NodePromoteArgs,
    NodePsArgs, NodeRmArgs, NodeUpdateArgs,
};
pub use crate::commands::service::flags::{
    FailureActionArg, ModeArg, OrderArg, RestartConditionArg,
};
pub use crate::commands::service::{
    CreateArgs, HealthFlags, InspectArgs, LsArgs, PsArgs, RmArgs, RollbackArgs, RolloutFlags,
    ScaleArgs, ServiceCommand, SpecFlags, UpdateArgs,
};
pub use crate::commands::swarm::{InitArgs, JoinArgs, JoinTokenArgs, LeaveArgs, SwarmCommand};

/// A CLI command that talks to the daemon.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Manage the swarm.
    #[command(subcommand)]
    Swarm(SwarmCommand),
    /// Display system-wide information.
    Info(InfoArgs),
    /// Manage swarm nodes.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Manage swarm services.
    #[command(subcommand)]
    Service(ServiceCommand),
    /// Manage images.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Manage containers on this node.
    #[command(subcommand)]
    Container(Box<crate::commands::container::ContainerCommand>),
}
