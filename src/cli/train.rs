//! The flags of `cutover train start|status|abort` and `cutover approve`
//! (release trains, issue 16), beside `cli.rs` so that file keeps to the
//! single-service verbs.

use super::{FINDING, Target, values};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Clone, Args)]
pub struct TrainArgs {
    #[command(subcommand)]
    pub command: TrainCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum TrainCommand {
    /// Start a release train from a train file: only approved entries
    /// deploy; refused before anything starts when an entry is not
    /// approved or a service is inside a freeze window.
    Start(TrainStartArgs),
    /// Print the latest train and where each of its entries stands.
    Status(TrainStatusArgs),
    /// Abort the running train: nothing new starts, the releases in
    /// flight roll back (with `rollback = "all"` the promoted ones return too).
    Abort(TrainAbortArgs),
}

impl TrainCommand {
    pub fn name(&self) -> &'static str {
        match self {
            TrainCommand::Start(_) => "start",
            TrainCommand::Status(_) => "status",
            TrainCommand::Abort(_) => "abort",
        }
    }

    pub fn target(&self) -> &Target {
        match self {
            TrainCommand::Start(a) => &a.target,
            TrainCommand::Status(a) => &a.target,
            TrainCommand::Abort(a) => &a.target,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct TrainStartArgs {
    /// The train file: max_parallel, abort_on, rollback and `[[entries]]`
    pub file: PathBuf,
    /// Start it even inside a `[[freeze]]` window of its services (needs --reason)
    #[arg(long, requires = "reason")]
    pub force: bool,
    /// Why: recorded with the train in every service's journal
    #[arg(long, value_name = "TEXT", value_parser = values::not_blank)]
    pub reason: Option<String>,
    #[command(flatten, next_help_heading = FINDING)]
    pub target: Target,
}

#[derive(Debug, Clone, Args)]
pub struct TrainStatusArgs {
    /// Print the train as JSON (what GET /v1/train answers), entries with their state
    #[arg(long)]
    pub json: bool,
    #[command(flatten, next_help_heading = FINDING)]
    pub target: Target,
}

#[derive(Debug, Clone, Args)]
pub struct TrainAbortArgs {
    /// Why: recorded with the abort in every service's journal
    #[arg(long, value_name = "TEXT", value_parser = values::not_blank)]
    pub reason: Option<String>,
    #[command(flatten, next_help_heading = FINDING)]
    pub target: Target,
}

#[derive(Debug, Clone, Args)]
pub struct ApproveArgs {
    /// The service the image is approved for
    #[arg(value_name = "SERVICE", value_parser = values::not_blank)]
    pub service_name: String,
    /// What a train may deploy to it (an image, or a version for its `[deploy]` template)
    #[arg(value_name = "IMAGE", value_parser = values::not_blank)]
    pub image: String,
    /// Why: recorded with the approval in the service's journal
    #[arg(long, value_name = "TEXT", value_parser = values::not_blank)]
    pub reason: Option<String>,
    #[command(flatten, next_help_heading = FINDING)]
    pub target: Target,
}
