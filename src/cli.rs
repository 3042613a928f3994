//! The command line: every verb and flag (see DESIGN.md, "The command line").
//! Scripts and tests rely on these spellings; change them only with care.
//!
//! Each verb has exactly the flags it honours, each with a help line about
//! that verb. Arguments are checked here, before anything looks for a daemon:
//! clap's value parsers ([`values`]) check ranges and spellings,
//! `requires` checks combinations, and `usage` what clap cannot say
//! (`drain canary --force`, daemon flags given to a verb that has no daemon).
//! A usage mistake exits 2 with its message, daemon or not.
//!
//! The flags that find the daemon ([`Target`]) go before the verb
//! (`cutover --state-dir D status`) or after it (`cutover status --state-dir D`).
//!
//! Over 500 lines on purpose: every verb's flags in one file, so their
//! spellings and help lines are read, and kept alike, side by side; what is
//! not declaration (value parsers, usage checks, tests) lives beside it.

mod train;
mod usage;
pub mod values;

use crate::plan::{ByteSize, HumanDuration};
use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
pub use train::{
    ApproveArgs, TrainAbortArgs, TrainArgs, TrainCommand, TrainStartArgs, TrainStatusArgs,
};
pub use usage::UsageError;
pub use values::TermSize;

#[derive(Debug, Parser)]
#[command(
    name = "cutover",
    version,
    about = "A terminal release cockpit",
    long_about = "A terminal release cockpit. Without a verb: the cockpit of the running daemon (as `cutover tui`).",
    after_help = "Exit codes: 0 success, 1 refused or failed, 2 usage, 3 daemon unreachable."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(
        flatten,
        next_help_heading = "Finding the daemon (for the cockpit and the verbs that talk to it)"
    )]
    pub target: Target,
}

/// How a client verb finds its daemon. `Debug` never shows the token.
#[derive(Clone, Default, Args)]
pub struct Target {
    /// State directory the daemon keeps its address and token in (default:
    /// $XDG_STATE_HOME/cutover, else ~/.local/state/cutover)
    #[arg(long, value_name = "DIR", env = "CUTOVER_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Which service, when the state directory holds several
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,
    /// Find the daemon from this plan: its service name and `listen.admin`
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// Admin API address (ip:port), instead of the state directory's
    #[arg(long, value_name = "ADDR")]
    pub admin: Option<SocketAddr>,
    /// Admin token, instead of the state directory's token file
    #[arg(long, env = "CUTOVER_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Watch only: use the watchers' token (`token.read`), which may read
    /// everything and act on nothing
    #[arg(long)]
    pub read_only: bool,
}

impl Target {
    /// Each flag's argument id and spelling.
    pub const FLAGS: [(&'static str, &'static str); 6] = [
        ("state_dir", "--state-dir"),
        ("service", "--service"),
        ("plan", "--plan"),
        ("admin", "--admin"),
        ("token", "--token"),
        ("read_only", "--read-only"),
    ];

    /// These flags where given, else `outer`'s (flags before the verb).
    pub fn or(&self, outer: &Target) -> Target {
        Target {
            state_dir: self.state_dir.clone().or_else(|| outer.state_dir.clone()),
            service: self.service.clone().or_else(|| outer.service.clone()),
            plan: self.plan.clone().or_else(|| outer.plan.clone()),
            admin: self.admin.or(outer.admin),
            token: self.token.clone().or_else(|| outer.token.clone()),
            read_only: self.read_only || outer.read_only,
        }
    }
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("state_dir", &self.state_dir)
            .field("service", &self.service)
            .field("plan", &self.plan)
            .field("admin", &self.admin)
            .field("token", &self.token.as_ref().map(|_| REDACTED))
            .field("read_only", &self.read_only)
            .finish()
    }
}

/// What `Debug` shows in place of a token.
pub const REDACTED: &str = "<redacted>";

/// The heading of the daemon flags in a verb's help.
const FINDING: &str = "Finding the daemon";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run old and new side by side with live traffic and open the cockpit.
    Demo(DemoArgs),
    /// Run the daemon in the foreground.
    Up(UpArgs),
    /// Attach the cockpit to a running daemon.
    Tui(TuiArgs),
    /// Print the release state.
    Status(StatusArgs),
    /// Set the canary's share of live traffic.
    Weight(WeightArgs),
    /// Start a canary next to stable; waits until its replicas started
    /// (pulling its image first, with progress), exits 1 when that failed.
    Deploy(DeployArgs),
    /// Hold the steps and bake timers (guards stay on).
    Pause(ClientArgs),
    /// Continue the steps and bake timers.
    Resume(ClientArgs),
    /// Move all traffic to the canary and retire stable.
    Promote(PromoteArgs),
    /// Move all traffic to stable and remove the canary.
    Rollback(RollbackArgs),
    /// Drain and remove one version: draining stable promotes the canary,
    /// draining the canary rolls it back.
    Drain(DrainArgs),
    /// Change the CPU and memory limits of a running version (runtimes docker and swarm).
    Resize(ResizeArgs),
    /// Run N replicas of a running version (runtimes docker and process):
    /// more start beside the others and join its pool once healthy; fewer
    /// leave the pool at once, finish their requests and stop, newest first.
    Scale(ScaleArgs),
    /// Print the last lines a version's first replica wrote (docker, swarm, process).
    Logs(LogsArgs),
    /// Wait until the release reaches an outcome.
    Wait(WaitArgs),
    /// Release trains: several services of one daemon released as one
    /// (start FILE, status, abort).
    Train(TrainArgs),
    /// Approve an image for a service: only approved train entries deploy.
    Approve(ApproveArgs),
    /// Play a recording in the cockpit, read-only.
    Replay(ReplayArgs),
    /// Render a recording to an asciicast file.
    Export(ExportArgs),
    /// Judge a recording again, with its own guard thresholds or others:
    /// when each guard would have tripped, next to what happened.
    Backtest(BacktestArgs),
    /// Send load to a URL and summarise what came back.
    Load(LoadArgs),
    /// The demo service (version string, /healthz and fault knobs).
    DemoApp(DemoAppArgs),
    /// Local images for the demo.
    Image {
        #[command(subcommand)]
        command: ImageCommand,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell):
    /// `cutover completions bash > /etc/bash_completion.d/cutover`.
    Completions {
        /// The shell to complete for
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `cutover man | man -l -`.
    Man,
}

impl Command {
    /// The verb as typed.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Demo(_) => "demo",
            Command::Up(_) => "up",
            Command::Tui(_) => "tui",
            Command::Status(_) => "status",
            Command::Weight(_) => "weight",
            Command::Deploy(_) => "deploy",
            Command::Pause(_) => "pause",
            Command::Resume(_) => "resume",
            Command::Promote(_) => "promote",
            Command::Rollback(_) => "rollback",
            Command::Drain(_) => "drain",
            Command::Resize(_) => "resize",
            Command::Scale(_) => "scale",
            Command::Logs(_) => "logs",
            Command::Wait(_) => "wait",
            Command::Train(_) => "train",
            Command::Approve(_) => "approve",
            Command::Replay(_) => "replay",
            Command::Export(_) => "export",
            Command::Backtest(_) => "backtest",
            Command::Load(_) => "load",
            Command::DemoApp(_) => "demo-app",
            Command::Image { .. } => "image",
            Command::Completions { .. } => "completions",
            Command::Man => "man",
        }
    }

    /// The daemon flags given after the verb, for the verbs that talk to a daemon.
    pub fn target(&self) -> Option<&Target> {
        match self {
            Command::Tui(a) => Some(&a.target),
            Command::Status(a) => Some(&a.target),
            Command::Weight(a) => Some(&a.target),
            Command::Deploy(a) => Some(&a.target),
            Command::Pause(a) | Command::Resume(a) => Some(&a.target),
            Command::Promote(a) => Some(&a.target),
            Command::Rollback(a) => Some(&a.target),
            Command::Drain(a) => Some(&a.target),
            Command::Resize(a) => Some(&a.target),
            Command::Scale(a) => Some(&a.target),
            Command::Logs(a) => Some(&a.target),
            Command::Wait(a) => Some(&a.target),
            Command::Train(a) => Some(a.command.target()),
            Command::Approve(a) => Some(&a.target),
            // Every verb is named: a new one must say whether it talks to
            // a daemon (here, in `main.rs` and in `api::verbs::run`).
            Command::Demo(_)
            | Command::Up(_)
            | Command::Replay(_)
            | Command::Export(_)
            | Command::Backtest(_)
            | Command::Load(_)
            | Command::DemoApp(_)
            | Command::Image { .. }
            | Command::Completions { .. }
            | Command::Man => None,
        }
    }
}

/// Flags shared by every client verb: only how to find the daemon.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    #[command(flatten, next_help_heading = FINDING)]
    pub target: Target,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RuntimeChoice {
    Docker,
    Process,
    /// Docker Swarm services (the engine must be a swarm manager)
    Swarm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// A healthy canary, promoted through every step
    Good,
    /// 30 % errors once it has served 80 requests: the guard rolls it back
    Bad,
    /// 400 ms per request: a p99 breach
    Slow,
    /// Exits after 150 requests
    Crashy,
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Where the versions run (default: docker when its engine is reachable, else process)
    #[arg(long, value_enum)]
    pub runtime: Option<RuntimeChoice>,
    /// What the canary does
    #[arg(long, value_enum, default_value = "bad")]
    pub scenario: Scenario,
    /// No cockpit: print what happens; exit 0 when the scenario ended as expected
    #[arg(long)]
    pub no_tui: bool,
    /// Stop after this long, e.g. 30s (default without the cockpit: 30s)
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<HumanDuration>,
    /// Keep the journal in this file (the demo then runs the whole --duration)
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Cockpit colours: dark, light, high-contrast, mono-safe, or your own
    #[arg(long, value_name = "NAME", conflicts_with = "no_tui")]
    pub theme: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct UpArgs {
    /// The plan to run [default: cutover.toml]
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// Where to keep the address, token, state, journal and logs (default:
    /// $XDG_STATE_HOME/cutover, else ~/.local/state/cutover)
    #[arg(long, value_name = "DIR", env = "CUTOVER_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Allow the admin API on a non-loopback address
    #[arg(long)]
    pub allow_remote_admin: bool,
    /// Do not deploy the plan's `[canary]` on a fresh start (`cutover deploy` does, later)
    #[arg(long)]
    pub no_deploy: bool,
    /// Replace the daemon running this service without a gap: take its
    /// listening sockets, state and guard evidence; it finishes its
    /// in-flight requests and exits (if this fails, it carries on)
    #[arg(long)]
    pub takeover: bool,
}

impl UpArgs {
    /// The plan file: `--plan`, else `cutover.toml`.
    pub fn plan_path(&self) -> PathBuf {
        self.plan
            .clone()
            .unwrap_or_else(|| PathBuf::from("cutover.toml"))
    }
}

#[derive(Debug, Clone, Args)]
pub struct TuiArgs {
    /// Cockpit colours: dark, light, high-contrast, mono-safe, or your own
    #[arg(long, value_name = "NAME")]
    pub theme: Option<String>,
    #[command(flatten, next_help_heading = FINDING)]
    pub target: Target,
}

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Print the state as JSON (what GET /v1/state answers)
    #[arg(long)]
    pub json: bool,
    #[command(flatten, next_help_heading = FINDING)]
    pub target: Target,
}

#[derive(Debug, Clone, Args)]
pub struct WeightArgs {
    /// The canary's share in percent, 0–100 (fractions allowed: 2.5)
    #[arg(value_parser = values::percent, allow_negative_numbers = true)]
    pub percent: f64,
    /// Do not ask for the service name when the jump is risky (more than
    /// 25 points up while a guard is red or has not judged)
    #[arg(long)]
    pub yes: bool,
    #[command(flatten, next_help_heading = FINDING)]
    pub target: Target,
}

#[derive(Debug, Clone, Args)]
pub struct DeployArgs {
    /// What the canary runs: an image (runtime docker; a tag when the plan
    /// has `[deploy] image`), a version for the plan's `[deploy] command`
    /// (process) or host:port,… (static); default: the plan's `[canary]`
    #[arg(long, value_name = "IMAGE|VERSION", value_parser = values::not_blank)]
    pub canary: Option<String>,
    #[command(flatten, next_help_heading = FINDING)]
    pub target: Target,
}

#[derive(Debug, Clone, Args)]
pub struct PromoteArgs {
    /// Do not ask for confirmation
    #[arg(long)]
    pub yes: bool,
    /// Promote even inside a `[[freeze]]` window (needs --reason)
    #[arg(long, requires = "reason")]
    pub force: bool,
    /// Why: recorded in the journal with the promotion
    #[arg(long, value_name = "TEXT", value_parser = values::not_blank)]
    pub reason: Option<String>,
    #[command(flatten, next_help_heading = FINDING)]
    pub target: Target,
}

/// A rollback is never frozen, so there is nothing to force.
#[derive(Debug, Clone, Args)]
pub struct RollbackArgs {
    /// Do not ask for confirmation
    #[arg(long)]
    pub yes: bool,
    /// Why: recorded in the journal with the rollback
    #[arg(long, value_name = "TEXT", value_parser = values::not_blank)]
    pub reason: Option<String>,
    #[command(flatten, next_help_heading = FINDING)]
    pub target: Target,
}

#[derive(Debug, Clone, Args)]
pub struct DrainArgs {
    /// Which version to drain and remove
    #[arg(value_enum)]
    pub version: RoleArg,
    /// Do not ask for confirmation
    #[arg(long)]
    pub yes: bool,
    /// `drain stable` only: drain it even inside a `[[freeze]]` window (it is a
    /// promotion; needs --reason)
    #[arg(long, requires = "reason")]
    pub force: bool,
    /// Why: recorded in the journal with the drain
    #[arg(long, value_name = "TEXT", value_parser = values::not_blank)]
    pub reason: Option<String>,
    #[command(flatten, next_help_heading = FINDING)]
    pub target: Target,
}

#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("limits").required(true).multiple(true).args(["cpus", "memory"])))]
pub struct ResizeArgs {
    /// Which version's replicas to change
    #[arg(value_enum)]
    pub version: RoleArg,
    /// CPU limit: a number above 0 and at most 1024
    #[arg(long, value_name = "N", value_parser = values::cpus)]
    pub cpus: Option<f64>,
    /// Memory limit: a size of at least 6MiB, e.g. 256MiB
    #[arg(long, value_name = "SIZE", value_parser = values::memory)]
    pub memory: Option<ByteSize>,
    #[command(flatten, next_help_heading = FINDING)]
    pub target: Target,
}

/// The count is checked by the daemon (1–64), so the command line and
/// every other client get the same refusal.
#[derive(Debug, Clone, Args)]
pub struct ScaleArgs {
    /// Which version to scale
    #[arg(value_enum)]
    pub version: RoleArg,
    /// How many replicas it should run
    #[arg(value_name = "N")]
    pub replicas: u32,
    /// Do not ask for confirmation
    #[arg(long)]
    pub yes: bool,
    /// Why: recorded in the journal with the scale
    #[arg(long, value_name = "TEXT", value_parser = values::not_blank)]
    pub reason: Option<String>,
    #[command(flatten, next_help_heading = FINDING)]
    pub target: Target,
}

#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    /// Whose replica: stable or canary
    #[arg(value_enum)]
    pub version: RoleArg,
    /// How many of its last lines, 1–10000
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u16).range(1..=10000))]
    pub tail: u16,
    #[command(flatten, next_help_heading = FINDING)]
    pub target: Target,
}

/// One of the two versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    Stable,
    Canary,
}

impl From<RoleArg> for crate::model::Role {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::Stable => crate::model::Role::Stable,
            RoleArg::Canary => crate::model::Role::Canary,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct WaitArgs {
    /// The outcome to wait for (exit 0 when it happens, 1 when the release ends otherwise)
    #[arg(long, value_enum)]
    pub until: WaitUntil,
    /// Give up after this long (exit 1), e.g. 30s or 5m
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    pub timeout: HumanDuration,
    #[command(flatten, next_help_heading = FINDING)]
    pub target: Target,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WaitUntil {
    Promoted,
    RolledBack,
    Idle,
}

#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// A journal: a state directory's journal.jsonl, or one of recordings/
    pub file: PathBuf,
    /// Playback speed, 0.25–10000 (0: start at the end)
    #[arg(long, default_value_t = 1.0, value_parser = values::speed, conflicts_with = "no_tui")]
    pub speed: f64,
    /// Print the final state as JSON instead of opening the cockpit
    #[arg(long)]
    pub no_tui: bool,
    /// Cockpit colours: dark, light, high-contrast, mono-safe, or your own
    #[arg(long, value_name = "NAME", conflicts_with = "no_tui")]
    pub theme: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// A journal: a state directory's journal.jsonl, or one of recordings/
    pub file: PathBuf,
    /// Write the asciicast (v2, for `asciinema play`) to this file
    #[arg(long, value_name = "OUT.cast")]
    pub asciicast: PathBuf,
    /// Terminal size WIDTHxHEIGHT, from 80x24 to 500x200
    #[arg(long, value_name = "WxH", default_value = "120x36")]
    pub size: TermSize,
    /// Cockpit colours: dark, light, high-contrast, mono-safe, or your own
    #[arg(long, value_name = "NAME")]
    pub theme: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct BacktestArgs {
    /// A journal with per-second samples (format 1.1 on): a state
    /// directory's journal.jsonl, or one of recordings/
    pub recording: PathBuf,
    /// Judge with this plan's `[guard]` instead of the recorded thresholds
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// One threshold as a plan writes it, winning over the plan's and the
    /// recording's (repeatable): guard.max_error_ratio=2,
    /// guard.max_p99=300ms, guard.max_error_ratio=off
    #[arg(long = "set", value_name = "guard.KEY=VALUE", value_parser = values::guard_set)]
    pub set: Vec<crate::model::GuardPatch>,
    /// Print the report as JSON (schema: docs/BACKTEST.md)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Where to send GET requests, e.g. http://127.0.0.1:8080/
    pub url: String,
    /// Requests per second, above 0 and at most 1000000
    #[arg(long, default_value_t = 50.0, value_parser = values::rps)]
    pub rps: f64,
    /// How long, e.g. 10s
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub duration: HumanDuration,
    /// Workers sending at once, 1–1024
    #[arg(long, default_value_t = 8, value_parser = values::concurrency)]
    pub concurrency: usize,
    /// Print the summary as JSON
    #[arg(long)]
    pub json: bool,
}

/// Fault knobs: flags, or the matching `DEMO_*` environment variables
/// (so a container can be configured with env alone).
#[derive(Debug, Clone, Args)]
pub struct DemoAppArgs {
    /// Port to listen on
    #[arg(long, env = "DEMO_PORT", default_value_t = 8080)]
    pub port: u16,
    /// Address to listen on
    #[arg(long, env = "DEMO_BIND", default_value = "0.0.0.0")]
    pub bind: String,
    /// The version it says it is (X-Version header and body)
    #[arg(long, env = "DEMO_VERSION", default_value = "v1")]
    pub version: String,
    /// Share of requests answered 500, from 0 to 1
    #[arg(long, env = "DEMO_ERROR_RATE", default_value_t = 0.0, value_parser = values::share)]
    pub error_rate: f64,
    /// Added latency per request, e.g. 50ms
    #[arg(long, env = "DEMO_LATENCY", default_value = "0ms")]
    pub latency: HumanDuration,
    /// Delay before the listener opens, e.g. 3s
    #[arg(long, env = "DEMO_STARTUP_DELAY", default_value = "0ms")]
    pub startup_delay: HumanDuration,
    /// Serve this many requests well before --error-rate applies (a
    /// fault that shows only under more traffic)
    #[arg(long, env = "DEMO_ERROR_AFTER")]
    pub error_after: Option<u64>,
    /// Exit (code 3) after serving this many requests
    #[arg(long, env = "DEMO_CRASH_AFTER")]
    pub crash_after: Option<u64>,
    /// Allocate and touch this many MiB per request (memory hog), e.g. 16
    #[arg(long, env = "DEMO_HOG_MIB")]
    pub hog_mib: Option<u64>,
    /// Answer /healthz with 503 forever (a version that never turns healthy)
    #[arg(long, env = "DEMO_NEVER_HEALTHY")]
    pub never_healthy: bool,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build `cutover-demo:v1` and `:v2` from this binary (no registry, no network).
    Build {
        /// Repository name of the images (tags :v1 and :v2)
        #[arg(long, default_value = "cutover-demo")]
        repo: String,
    },
}

#[cfg(test)]
#[path = "cli_tests.rs"]
mod tests;
