//! The plan schema as serde types. Unknown keys are errors everywhere
//! (`deny_unknown_fields`), defaults are what an operator would expect.
//!
//! Over 500 lines on purpose: the whole schema reads top to bottom here,
//! table by table, in the order docs/PLAN.md gives it; rules about the
//! values live in `validate.rs`, their ranges in `ranges.rs`.

use super::units::{ByteSize, HumanDuration};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

/// A whole `cutover.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Service name: labels, state subdirectory, journal header.
    pub service: String,
    #[serde(default)]
    pub runtime: RuntimeKind,
    #[serde(default)]
    pub listen: Listen,
    pub stable: VersionPlan,
    /// The version to deploy as canary; may be absent (deploy it later).
    #[serde(default)]
    pub canary: Option<VersionPlan>,
    #[serde(default)]
    pub health: Health,
    #[serde(default)]
    pub warmup: Option<Warmup>,
    #[serde(default)]
    pub guard: GuardPlan,
    /// Automatic progression; empty means the manual slider only.
    #[serde(default)]
    pub steps: Vec<Step>,
    #[serde(default)]
    pub drain: Drain,
    #[serde(default)]
    pub freeze: Vec<Freeze>,
    #[serde(default)]
    pub hooks: Hooks,
    #[serde(default)]
    pub proxy: ProxyPlan,
    /// What `deploy --canary X` may start (see [`DeployPlan`]).
    #[serde(default)]
    pub deploy: DeployPlan,
    /// The daemon's environment variables that replicas (process runtime)
    /// and hooks see, besides the version's `env`: nothing else of the
    /// daemon's environment reaches them.
    #[serde(default = "default_pass_env")]
    pub pass_env: Vec<String>,
    /// Where Swarm places replicas (runtime = swarm).
    #[serde(default)]
    pub swarm: SwarmPlan,
    /// Size the running versions by their usage (see `plan/autoscale.rs`).
    #[serde(default)]
    pub autoscale: Option<super::autoscale::AutoscalePlan>,
}

/// `[swarm]`: placement of replicas by Swarm (runtime = swarm only).
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwarmPlan {
    /// Swarm placement constraints, e.g. `["node.role == worker",
    /// "node.labels.zone == a"]`: every one must hold on a node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub placement: Vec<String>,
    /// At most this many replicas of one version on one node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_replicas_per_node: Option<u32>,
}

/// The environment variables passed through by default (`pass_env`).
pub const DEFAULT_PASS_ENV: [&str; 5] = ["PATH", "HOME", "LANG", "LC_ALL", "TZ"];

fn default_pass_env() -> Vec<String> {
    DEFAULT_PASS_ENV.iter().map(|s| s.to_string()).collect()
}

/// What a deploy through the admin API may start, beyond the plan's own
/// `[canary]`. `{version}` in a template is replaced by the version the
/// caller names, which must be a plain token (see
/// [`DeployPlan::check_version`]); nothing else of the caller's reaches
/// what runs.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployPlan {
    /// process: the command line a deployed version runs, e.g.
    /// `["./releases/{version}/shop", "--port", "{port}"]`. Without it, the
    /// process runtime deploys only the plan's `[canary]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// docker: the image a deployed version runs, e.g.
    /// `"registry.example.com/shop:{version}"`. Without it, any image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

impl DeployPlan {
    /// The placeholder a template's caller fills.
    pub const VERSION: &'static str = "{version}";
    /// The characters a version may hold besides ASCII letters and digits.
    pub const VERSION_PUNCT: &'static str = "._+-";
    pub const VERSION_MAX: usize = 128;

    /// A version a caller may name: 1 to 128 ASCII letters, digits, `.`,
    /// `_`, `+` or `-`, starting with a letter or digit (so never an option
    /// like `-x`, a path like `..` or anything a shell or a path would read
    /// as more than a name). `Err` says what was wrong.
    pub fn check_version(v: &str) -> Result<(), String> {
        if v.is_empty() || v.len() > Self::VERSION_MAX {
            return Err(format!(
                "a version is 1 to {} characters",
                Self::VERSION_MAX
            ));
        }
        if !v.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err("a version starts with a letter or a digit".into());
        }
        if let Some(c) = v
            .chars()
            .find(|c| !c.is_ascii_alphanumeric() && !Self::VERSION_PUNCT.contains(*c))
        {
            return Err(format!(
                "{c:?} is not allowed in a version (letters, digits and {:?} only)",
                Self::VERSION_PUNCT
            ));
        }
        Ok(())
    }
}

/// Where replicas run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    #[default]
    Docker,
    Process,
    /// Upstreams run elsewhere; cutover only routes and measures.
    Static,
    /// Docker Swarm services (stable and canary one service each), driven
    /// through a manager node's engine.
    Swarm,
}

impl std::fmt::Display for RuntimeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl RuntimeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeKind::Docker => "docker",
            RuntimeKind::Process => "process",
            RuntimeKind::Static => "static",
            RuntimeKind::Swarm => "swarm",
        }
    }

    /// Whether versions on this runtime are images (`image`, `pull`, the
    /// hardening keys): docker and swarm.
    pub fn runs_images(self) -> bool {
        matches!(self, RuntimeKind::Docker | RuntimeKind::Swarm)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listen {
    /// Where clients send traffic.
    #[serde(default = "default_public")]
    pub public: SocketAddr,
    /// Admin API; loopback only unless `allow_remote_admin`.
    #[serde(default = "default_admin")]
    pub admin: SocketAddr,
    /// Permit a non-loopback admin address (the token is then the only defence).
    #[serde(default)]
    pub allow_remote_admin: bool,
}

fn default_public() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_admin() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7900))
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            public: default_public(),
            admin: default_admin(),
            allow_remote_admin: false,
        }
    }
}

/// One version (stable or canary).
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionPlan {
    /// Docker image reference (runtime = docker).
    #[serde(default)]
    pub image: Option<String>,
    /// Command line (runtime = process); `{port}` is replaced by the replica's port.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// Fixed `host:port` upstreams (runtime = static).
    #[serde(default)]
    pub upstreams: Vec<String>,
    /// Human label; defaults to the image tag or `stable`/`canary`.
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default = "default_replicas")]
    pub replicas: u32,
    /// The port the service listens on inside its container.
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub cpus: Option<f64>,
    #[serde(default)]
    pub memory: Option<ByteSize>,
    /// When to pull `image` from its registry (runtime = docker).
    #[serde(default)]
    pub pull: PullPolicy,
    /// The exact image (`repo@sha256:…`) the last pull resolved `image` to.
    /// Written by cutover into its state, never read from a plan (validation
    /// refuses it there): a restart or rollback starts these very bytes even
    /// if the tag moved since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned: Option<String>,
    /// docker: Linux capabilities to drop (`["ALL"]`, `["NET_RAW"]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    /// docker: Linux capabilities to add back (`["NET_BIND_SERVICE"]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    /// docker: a read-only root filesystem (give writable paths as `tmpfs`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    /// docker: in-memory writable mounts, absolute paths (`["/tmp"]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tmpfs: Vec<String>,
    /// docker: most processes (threads) a container may run; default
    /// [`DEFAULT_PIDS_LIMIT`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<u32>,
    /// docker: `no-new-privileges` (setuid binaries gain nothing); default
    /// on, `false` only for an image that needs setuid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_new_privileges: Option<bool>,
}

/// When a version's image is pulled, as the Docker CLI's `--pull` says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PullPolicy {
    /// Pull only when the engine does not have the image.
    #[default]
    Missing,
    /// Pull on every deploy (the tag may have moved).
    Always,
    /// Never pull: the image must already be on the engine.
    Never,
}

impl PullPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            PullPolicy::Missing => "missing",
            PullPolicy::Always => "always",
            PullPolicy::Never => "never",
        }
    }
}

/// The pids limit a container gets unless the plan says otherwise.
pub const DEFAULT_PIDS_LIMIT: u32 = 1024;

fn default_replicas() -> u32 {
    1
}
fn default_port() -> u16 {
    8080
}

impl VersionPlan {
    /// The label shown for this version: `version`, else the image tag, else `fallback`.
    pub fn label(&self, fallback: &str) -> String {
        if let Some(v) = &self.version {
            return v.clone();
        }
        if let Some(image) = &self.image {
            if let Some((_, tag)) = image.rsplit_once(':')
                && !tag.contains('/')
            {
                return tag.to_string();
            }
            return image.clone();
        }
        fallback.to_string()
    }

    /// What the version runs, for display: image, command or `static`.
    pub fn describe(&self) -> String {
        if let Some(image) = &self.image {
            image.clone()
        } else if let Some(cmd) = &self.command {
            // The program's name, not its whole path: what an operator reads.
            let mut shown: Vec<String> = cmd.clone();
            if let Some(first) = shown.first_mut()
                && let Some(name) = std::path::Path::new(first.as_str()).file_name()
            {
                *first = name.to_string_lossy().into_owned();
            }
            shown.join(" ")
        } else {
            format!("static {}", self.upstreams.join(","))
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    #[serde(default = "default_health_path")]
    pub path: String,
    #[serde(default = "default_interval")]
    pub interval: HumanDuration,
    #[serde(default = "default_health_timeout")]
    pub timeout: HumanDuration,
    #[serde(default = "default_two")]
    pub healthy_after: u32,
    #[serde(default = "default_three")]
    pub unhealthy_after: u32,
    /// Canary replicas healthy before it gets any traffic.
    #[serde(default = "default_one")]
    pub min_healthy: u32,
    /// Give up on a canary that is not healthy after this long (→ Failed).
    #[serde(default = "default_start_timeout")]
    pub start_timeout: HumanDuration,
}

fn default_health_path() -> String {
    "/healthz".to_string()
}
fn default_interval() -> HumanDuration {
    HumanDuration::from_secs(1)
}
fn default_health_timeout() -> HumanDuration {
    HumanDuration::from_millis(500)
}
fn default_one() -> u32 {
    1
}
fn default_two() -> u32 {
    2
}
fn default_three() -> u32 {
    3
}
fn default_start_timeout() -> HumanDuration {
    HumanDuration::from_secs(60)
}

impl Default for Health {
    fn default() -> Self {
        Health {
            path: default_health_path(),
            interval: default_interval(),
            timeout: default_health_timeout(),
            healthy_after: 2,
            unhealthy_after: 3,
            min_healthy: 1,
            start_timeout: default_start_timeout(),
        }
    }
}

/// Requests sent straight to the canary (never through the public listener)
/// before it receives live traffic.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Warmup {
    #[serde(default = "default_warmup_path")]
    pub path: String,
    #[serde(default = "default_warmup_requests")]
    pub requests: u32,
    /// More failed warm-up requests than this fail the release before its
    /// first step (the canary never sees a client). None: warm-up only warms.
    #[serde(default)]
    pub max_failures: Option<u32>,
}

fn default_warmup_path() -> String {
    "/".to_string()
}
fn default_warmup_requests() -> u32 {
    20
}

/// What a guard breach does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnBreach {
    #[default]
    Rollback,
    Pause,
}

impl OnBreach {
    pub fn as_str(self) -> &'static str {
        match self {
            OnBreach::Rollback => "rollback",
            OnBreach::Pause => "pause",
        }
    }
}

impl std::fmt::Display for OnBreach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Guard thresholds; a missing threshold means that guard is off.
///
/// The statistical guards (`max_error_ratio`, `max_error_rate`,
/// `max_p99_ratio`, `max_p99`) are sequential tests judged at `confidence`
/// over everything the canary served since the guards were armed (the
/// canary's first step, an unmute or a guard edit); see `src/guard/` and
/// docs/PLAN.md for the statistics in plain words.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardPlan {
    /// How sure a statistical guard must be before it breaches: the chance
    /// that a canary within tolerance is ever rolled back by one of them, in
    /// the whole release however often it is judged, is at most
    /// `1 − confidence`.
    #[serde(default = "default_confidence")]
    pub confidence: f64,
    /// The canary's error rate may be up to this many times stable's (over
    /// the same span, both measured by the proxy) before it is judged worse.
    #[serde(default = "default_max_error_ratio", with = "super::off")]
    pub max_error_ratio: Option<f64>,
    /// An absolute ceiling on the canary's error rate, whatever stable does.
    #[serde(default, with = "super::off")]
    pub max_error_rate: Option<f64>,
    /// What the cockpit's rates and p99s are shown over.
    #[serde(default = "default_window")]
    pub window: HumanDuration,
    /// Canary (and, for the ratios, stable) requests since the guards were
    /// armed before a guard may pass: fewer is "not enough evidence yet".
    #[serde(default = "default_min_requests")]
    pub min_requests: u64,
    /// An absolute ceiling on the canary's p99: more than 1 % of its
    /// requests slower than this is a breach.
    #[serde(default, with = "super::off")]
    pub max_p99: Option<HumanDuration>,
    /// The canary's p99 may be up to this many times stable's: requests
    /// slower than this multiple of stable's p99 are "slow", and the canary
    /// breaches when it has more slow requests than stable, as for errors.
    #[serde(default = "default_max_p99_ratio", with = "super::off")]
    pub max_p99_ratio: Option<f64>,
    /// This many canary failures in a row while stable's latest answer was
    /// good sets the weight to 0 on the request path, within the request.
    #[serde(default = "default_trip_after", with = "super::off")]
    pub trip_after: Option<u64>,
    /// A budget of client requests that may get a canary failure in this
    /// release; the request that spends it sets the weight to 0.
    #[serde(default, with = "super::off")]
    pub max_failed_requests: Option<u64>,
    /// A step whose bake ends without enough evidence waits this long for
    /// it, then pauses for the operator (it never promotes on no data).
    #[serde(default = "default_evidence_timeout")]
    pub evidence_timeout: HumanDuration,
    #[serde(default)]
    pub on_breach: OnBreach,
    /// Round 1's count of canary errors since the step began. Refused in a
    /// plan (the message says what replaced it); kept only so state files
    /// and recordings written before round 2 still read.
    #[serde(default, skip_serializing)]
    pub max_errors: Option<u64>,
}

fn default_confidence() -> f64 {
    0.995
}
fn default_max_error_ratio() -> Option<f64> {
    Some(1.25)
}
fn default_max_p99_ratio() -> Option<f64> {
    Some(1.5)
}
fn default_trip_after() -> Option<u64> {
    Some(10)
}
fn default_evidence_timeout() -> HumanDuration {
    HumanDuration::from_secs(120)
}
fn default_window() -> HumanDuration {
    HumanDuration::from_secs(10)
}
fn default_min_requests() -> u64 {
    50
}

impl Default for GuardPlan {
    fn default() -> Self {
        GuardPlan {
            confidence: default_confidence(),
            max_error_ratio: default_max_error_ratio(),
            max_error_rate: None,
            window: default_window(),
            min_requests: default_min_requests(),
            max_p99: None,
            max_p99_ratio: default_max_p99_ratio(),
            trip_after: default_trip_after(),
            max_failed_requests: None,
            evidence_timeout: default_evidence_timeout(),
            on_breach: OnBreach::Rollback,
            max_errors: None,
        }
    }
}

/// One automatic step: set the canary weight, then bake.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Canary percent, 0..=100 (fractions allowed: 0.5 = 5 per mille).
    pub weight: f64,
    #[serde(default)]
    pub bake: HumanDuration,
}

impl Step {
    pub fn weight_permille(&self) -> u16 {
        (self.weight * 10.0).round().clamp(0.0, 1000.0) as u16
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Drain {
    /// Wait this long for in-flight requests, then answer the rest 504 (counted).
    #[serde(default = "default_drain_timeout")]
    pub timeout: HumanDuration,
    /// After SIGTERM, wait this long, then kill.
    #[serde(default = "default_stop_grace")]
    pub stop_grace: HumanDuration,
}

fn default_drain_timeout() -> HumanDuration {
    HumanDuration::from_secs(30)
}
fn default_stop_grace() -> HumanDuration {
    HumanDuration::from_secs(10)
}

impl Default for Drain {
    fn default() -> Self {
        Drain {
            timeout: default_drain_timeout(),
            stop_grace: default_stop_grace(),
        }
    }
}

/// A window during which promotion is refused unless forced with a reason.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Freeze {
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    #[serde(default)]
    pub reason: Option<String>,
}

impl Freeze {
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from <= t && t < self.until
    }
}

#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hooks {
    /// Command and arguments run after a promotion completes.
    #[serde(default)]
    pub post_promote: Vec<String>,
    #[serde(default)]
    pub post_rollback: Vec<String>,
}

/// How the proxy picks a member inside a pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Balance {
    #[default]
    RoundRobin,
    LeastInFlight,
}

/// Sticky split: the same key always lands on the same version while the
/// weight is unchanged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
pub enum Sticky {
    Cookie(String),
    Header(String),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyPlan {
    #[serde(default)]
    pub balance: Balance,
    #[serde(default)]
    pub sticky: Option<Sticky>,
    /// Whole-response-head timeout for an upstream; past it, 504.
    #[serde(default = "default_upstream_timeout")]
    pub upstream_timeout: HumanDuration,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: HumanDuration,
    /// A client must send its whole request head within this (slowloris defence).
    #[serde(default = "default_header_timeout")]
    pub header_timeout: HumanDuration,
    /// Longest quiet spell allowed while a client sends a request body;
    /// past it the client gets 408, not charged to the version.
    #[serde(default = "default_client_body_timeout")]
    pub client_body_timeout: HumanDuration,
    /// Longest request head (request line and header fields); larger is 431.
    #[serde(default = "default_max_head_size")]
    pub max_head_size: ByteSize,
    /// Public connections open at once; more wait in the kernel's backlog.
    /// None: derived from the open-file limit (see `proxy::limits`).
    #[serde(default)]
    pub max_connections: Option<u32>,
    /// One line per request (version, status, latency); relative to the state dir.
    #[serde(default)]
    pub access_log: Option<PathBuf>,
    /// Add `x-cutover-route: <version> <table generation>` to every response
    /// (off by default: it is for debugging and tests).
    #[serde(default)]
    pub route_header: bool,
    /// Testers reach a version of their choosing, whatever the weight.
    #[serde(default)]
    pub preview: Option<PreviewPlan>,
}

/// `[proxy.preview]`: who may choose a version with `X-Cutover-Version`
/// (or the `cutover-version` cookie), and by which names. A request from
/// anyone else is split by weight as always; the choice is never trusted
/// from them.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewPlan {
    /// Client networks that may choose (`"10.1.0.0/16"`, `"127.0.0.1"`).
    #[serde(default)]
    pub allow: Vec<String>,
    /// Or a secret the client sends (`X-Cutover-Preview` header or
    /// `cutover-preview` cookie), at least 16 characters.
    #[serde(default)]
    pub secret: Option<String>,
    /// More names for the two versions: `beta = "canary"`.
    #[serde(default)]
    pub aliases: std::collections::BTreeMap<String, String>,
}

fn default_upstream_timeout() -> HumanDuration {
    HumanDuration::from_secs(30)
}
fn default_connect_timeout() -> HumanDuration {
    HumanDuration::from_secs(2)
}
fn default_header_timeout() -> HumanDuration {
    HumanDuration::from_secs(10)
}
fn default_client_body_timeout() -> HumanDuration {
    HumanDuration::from_secs(30)
}
fn default_max_head_size() -> ByteSize {
    ByteSize(64 * 1024)
}

impl Default for ProxyPlan {
    fn default() -> Self {
        ProxyPlan {
            balance: Balance::RoundRobin,
            sticky: None,
            upstream_timeout: default_upstream_timeout(),
            connect_timeout: default_connect_timeout(),
            header_timeout: default_header_timeout(),
            client_body_timeout: default_client_body_timeout(),
            max_head_size: default_max_head_size(),
            max_connections: None,
            access_log: None,
            route_header: false,
            preview: None,
        }
    }
}
