//! The command line: every verb and flag (see DESIGN.md, "The command line").
//! Scripts and tests rely on these spellings; change them only with care.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "cutover", version, about = "A terminal release cockpit", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub target: Target,
}

/// How a client verb finds its daemon. `Debug` never shows the token.
#[derive(Clone, Default, Args)]
pub struct Target {
    /// State directory (default: $XDG_STATE_HOME/cutover, else ~/.local/state/cutover).
    #[arg(long, global = true, env = "CUTOVER_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Service subdirectory to use when the state directory holds several.
    #[arg(long, global = true)]
    pub service: Option<String>,
    /// Read the admin address (and service name) from this plan.
    #[arg(long, global = true)]
    pub plan: Option<PathBuf>,
    /// Admin API address, overriding the state directory.
    #[arg(long, global = true)]
    pub admin: Option<SocketAddr>,
    /// Admin token, overriding the token file.
    #[arg(long, global = true, env = "CUTOVER_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("state_dir", &self.state_dir)
            .field("service", &self.service)
            .field("plan", &self.plan)
            .field("admin", &self.admin)
            .field("token", &self.token.as_ref().map(|_| REDACTED))
            .finish()
    }
}

/// What `Debug` shows in place of a token.
pub const REDACTED: &str = "<redacted>";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run old and new side by side with live traffic and open the cockpit.
    Demo(DemoArgs),
    /// Run the daemon in the foreground.
    Up(UpArgs),
    /// Attach the cockpit to a running daemon.
    Tui(TuiArgs),
    /// Print the release state.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Set the canary's share of traffic, in percent (0-100, fractions allowed).
    Weight { percent: f64 },
    /// Start a canary; waits until its replicas started (pulling its image
    /// first, with progress), exits 1 when that failed.
    Deploy {
        #[arg(long)]
        canary: String,
    },
    /// Hold steps and bake timers (guards stay on).
    Pause,
    /// Continue steps and bake timers.
    Resume,
    /// Move all traffic to the canary and retire stable.
    Promote(ConfirmArgs),
    /// Move all traffic to stable and remove the canary.
    Rollback(ConfirmArgs),
    /// Drain and remove one version (draining stable is a promotion:
    /// `--force --reason` overrides a freeze window, as for promote).
    Drain {
        #[arg(value_enum)]
        version: DrainTarget,
        #[command(flatten)]
        confirm: ConfirmArgs,
    },
    /// Wait until the release reaches an outcome.
    Wait {
        #[arg(long, value_enum)]
        until: WaitUntil,
        #[arg(long, default_value = "5m")]
        timeout: String,
    },
    /// Play a recording in the cockpit.
    Replay(ReplayArgs),
    /// Render a recording to an asciicast file.
    Export(ExportArgs),
    /// Send load to a URL and summarise what came back.
    Load(LoadArgs),
    /// The demo service (version string, /healthz and fault knobs).
    DemoApp(DemoAppArgs),
    /// Local images for the demo.
    Image {
        #[command(subcommand)]
        command: ImageCommand,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RuntimeChoice {
    Docker,
    Process,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    Good,
    Bad,
    Slow,
    Crashy,
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    #[arg(long, value_enum)]
    pub runtime: Option<RuntimeChoice>,
    #[arg(long, value_enum, default_value = "bad")]
    pub scenario: Scenario,
    #[arg(long)]
    pub no_tui: bool,
    /// Stop after this long (headless default: 30s).
    #[arg(long)]
    pub duration: Option<String>,
    #[arg(long)]
    pub record: Option<PathBuf>,
    #[arg(long)]
    pub theme: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct UpArgs {
    #[arg(long, default_value = "cutover.toml")]
    pub plan: PathBuf,
    /// Allow the admin API on a non-loopback address.
    #[arg(long)]
    pub allow_remote_admin: bool,
    /// Do not deploy the plan's `[canary]` on a fresh start (deploy it later).
    #[arg(long)]
    pub no_deploy: bool,
}

#[derive(Debug, Clone, Args)]
pub struct TuiArgs {
    #[arg(long)]
    pub theme: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ConfirmArgs {
    /// Do not ask.
    #[arg(long)]
    pub yes: bool,
    /// Promote (or drain stable) inside a freeze window (needs --reason).
    #[arg(long)]
    pub force: bool,
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DrainTarget {
    Stable,
    Canary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WaitUntil {
    Promoted,
    RolledBack,
    Idle,
}

#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    pub file: PathBuf,
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Print the final state as JSON instead of opening the cockpit.
    #[arg(long)]
    pub no_tui: bool,
    #[arg(long)]
    pub theme: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    pub file: PathBuf,
    #[arg(long)]
    pub asciicast: PathBuf,
    #[arg(long, default_value = "120x36")]
    pub size: String,
    #[arg(long)]
    pub theme: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    pub url: String,
    #[arg(long, default_value_t = 50.0)]
    pub rps: f64,
    #[arg(long, default_value = "10s")]
    pub duration: String,
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Fault knobs: flags, or the matching `DEMO_*` environment variables
/// (so a container can be configured with env alone).
#[derive(Debug, Clone, Args)]
pub struct DemoAppArgs {
    #[arg(long, env = "DEMO_PORT", default_value_t = 8080)]
    pub port: u16,
    #[arg(long, env = "DEMO_BIND", default_value = "0.0.0.0")]
    pub bind: String,
    #[arg(long, env = "DEMO_VERSION", default_value = "v1")]
    pub version: String,
    /// Share of requests answered 500 (0.0-1.0).
    #[arg(long, env = "DEMO_ERROR_RATE", default_value_t = 0.0)]
    pub error_rate: f64,
    /// Added latency per request, e.g. "50ms".
    #[arg(long, env = "DEMO_LATENCY", default_value = "0ms")]
    pub latency: String,
    /// Delay before the listener opens, e.g. "3s".
    #[arg(long, env = "DEMO_STARTUP_DELAY", default_value = "0ms")]
    pub startup_delay: String,
    /// Serve this many requests well before `--error-rate` applies (a
    /// fault that shows only under more traffic).
    #[arg(long, env = "DEMO_ERROR_AFTER")]
    pub error_after: Option<u64>,
    /// Exit (code 3) after serving this many requests.
    #[arg(long, env = "DEMO_CRASH_AFTER")]
    pub crash_after: Option<u64>,
    /// Allocate and touch this many MiB per request (memory hog), e.g. 16.
    #[arg(long, env = "DEMO_HOG_MIB")]
    pub hog_mib: Option<u64>,
    /// Answer /healthz with 503 forever (a version that never turns healthy).
    #[arg(long, env = "DEMO_NEVER_HEALTHY")]
    pub never_healthy: bool,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build `cutover-demo:v1` and `:v2` from this binary (no registry, no network).
    Build {
        #[arg(long, default_value = "cutover-demo")]
        repo: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_token() {
        let secret = "5ec2e7-t0ken-do-not-print";
        let t = Target {
            token: Some(secret.into()),
            ..Target::default()
        };
        let shown = format!("{t:?} {t:#?}");
        assert!(!shown.contains(secret), "{shown}");
        assert!(shown.contains(REDACTED), "{shown}");
        let cli = Cli::parse_from(["cutover", "--token", secret, "status"]);
        let shown = format!("{cli:?}");
        assert!(!shown.contains(secret), "{shown}");
    }
}
