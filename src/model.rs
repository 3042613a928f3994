//! The shared picture of a release, as every client sees it.
//!
//! These types are the wire contract between the daemon and everything that
//! watches it: `GET /v1/state` returns a [`StateView`], `GET /v1/events` streams
//! [`Event`]s, the journal stores the same events one per line, and the TUI
//! (live or replaying) renders nothing but these. Keeping them in one place is
//! what lets a recording be played back in the very same cockpit.

use crate::metrics::compact::LatencyHist;
use crate::plan::{GuardPlan, HumanDuration, OnBreach};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// Which side of the split a version is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Stable,
    Canary,
}

impl Role {
    pub const ALL: [Role; 2] = [Role::Stable, Role::Canary];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Stable => "stable",
            Role::Canary => "canary",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The release phase (see DESIGN.md, "The release model").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Stable only; no canary exists.
    Idle,
    /// Canary containers or processes are being started.
    Deploying,
    /// Canary is running; waiting for health, `min_healthy` and warm-up.
    Warming,
    /// Canary receives its share of live traffic; steps and guards run.
    Canary,
    /// Like `Canary`, but steps and bake timers are held. Guards still run.
    Paused,
    /// 100 % canary; stable is being drained and removed.
    Promoting,
    /// 0 % canary; canary is being drained and removed.
    RollingBack,
    /// The canary never became healthy; it was removed, stable untouched.
    Failed,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Deploying => "deploying",
            Phase::Warming => "warming",
            Phase::Canary => "canary",
            Phase::Paused => "paused",
            Phase::Promoting => "promoting",
            Phase::RollingBack => "rolling_back",
            Phase::Failed => "failed",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who asked for something. Every action and weight change records one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Actor {
    Tui,
    Cli,
    Guard,
    /// The controller itself: steps, timers, reconcile.
    System,
    /// Any other HTTP client of the admin API.
    Api,
}

impl Actor {
    pub fn as_str(self) -> &'static str {
        match self {
            Actor::Tui => "tui",
            Actor::Cli => "cli",
            Actor::Guard => "guard",
            Actor::System => "system",
            Actor::Api => "api",
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lifecycle of one replica (a container or a child process).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplicaStatus {
    /// Running, not yet proven healthy: receives no traffic.
    Starting,
    /// Passed `healthy_after` checks in a row: in its pool.
    Healthy,
    /// Failed `unhealthy_after` checks in a row: out of its pool.
    Unhealthy,
    /// Planned stop: no new requests, in-flight ones finishing.
    Draining,
    /// Stopped on purpose.
    Stopped,
    /// Exited on its own (see `exit_code`).
    Exited,
    /// Killed by the kernel's OOM killer.
    OomKilled,
}

impl ReplicaStatus {
    /// Whether the replica can still serve (or become able to serve).
    pub fn is_alive(self) -> bool {
        matches!(
            self,
            ReplicaStatus::Starting
                | ReplicaStatus::Healthy
                | ReplicaStatus::Unhealthy
                | ReplicaStatus::Draining
        )
    }
}

impl ReplicaStatus {
    /// The status as a word for people: `starting`, `oom-killed`.
    pub fn word(self) -> &'static str {
        match self {
            ReplicaStatus::Starting => "starting",
            ReplicaStatus::Healthy => "healthy",
            ReplicaStatus::Unhealthy => "unhealthy",
            ReplicaStatus::Draining => "draining",
            ReplicaStatus::Stopped => "stopped",
            ReplicaStatus::Exited => "exited",
            ReplicaStatus::OomKilled => "oom-killed",
        }
    }
}

/// A latency in milliseconds as every client words it: `0.4 ms`, `48 ms`,
/// `1.50 s`. The cockpit's figures and the guards' detail lines both go
/// through it, so a sub-millisecond p99 never reads `0 ms` in one place and
/// `0.4 ms` in the other.
pub fn latency_text(ms: f64) -> String {
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}

/// How many seconds of once-a-second metric ticks the daemon keeps for a
/// client that attaches late, and how many the cockpit's graphs show.
pub const GRAPH_SECONDS: usize = 300;

/// What a [`EventKind::Replica`] says, as one phrase: the status word, then
/// the detail after a colon (`healthy: GET /healthz → 200`), or the detail
/// alone when it already begins with the status (`stopped (exit 0)`,
/// `exited 1 (on its own)`, `started at 127.0.0.1:4001`), so no line
/// reads "stopped: stopped". Every client (the cockpit, the demo's
/// printout) words a replica change through this one function.
pub fn replica_phrase(status: ReplicaStatus, detail: &str) -> String {
    let detail = detail.trim();
    if detail.is_empty() {
        return status.word().to_string();
    }
    let first: String = detail
        .split(|c: char| c.is_whitespace() || c == ':' || c == '(')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let same = match status {
        // `started at ADDR` says `starting` already.
        ReplicaStatus::Starting => matches!(first.as_str(), "starting" | "started"),
        ReplicaStatus::OomKilled => first.starts_with("oom"),
        other => first == other.word(),
    };
    if same {
        detail.to_string()
    } else {
        format!("{}: {detail}", status.word())
    }
}

/// One replica as shown to clients.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplicaView {
    /// Container id (short) or `pid:1234` for processes, or the address for static upstreams.
    pub id: String,
    /// `host:port` the proxy sends traffic to.
    pub addr: String,
    pub status: ReplicaStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_percent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<u64>,
}

/// Request statistics of one version over a window (the guard window unless
/// said otherwise), plus lifetime totals.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VersionStats {
    /// Length of the window these figures cover, in seconds.
    pub window_secs: f64,
    /// Requests completed in the window (client aborts excluded).
    pub requests: u64,
    /// 5xx responses in the window (including cutover's own 502/503/504).
    pub errors: u64,
    /// `errors / requests`, `None` when there were no requests.
    pub error_rate: Option<f64>,
    /// Requests per second over the last full second.
    pub rps: f64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub status_2xx: u64,
    pub status_3xx: u64,
    pub status_4xx: u64,
    pub status_5xx: u64,
    pub status_502: u64,
    pub status_503: u64,
    pub status_504: u64,
    /// Requests in flight right now.
    pub in_flight: u64,
    /// Lifetime totals since the daemon started.
    pub total_requests: u64,
    pub total_errors: u64,
    /// Requests the client aborted before an answer (never counted as errors).
    pub total_aborted: u64,
}

/// One version (stable or canary) as shown to clients.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VersionView {
    pub role: Role,
    /// Human version label, e.g. `1.5.0` or `v2`.
    pub version: String,
    /// Image reference (docker), command (process) or `static`.
    pub image: String,
    pub replicas: Vec<ReplicaView>,
    pub stats: VersionStats,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<u64>,
    /// The exact image a pull resolved `image` to (`repo@sha256:…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned: Option<String>,
}

impl VersionView {
    pub fn healthy(&self) -> usize {
        self.replicas
            .iter()
            .filter(|r| r.status == ReplicaStatus::Healthy)
            .count()
    }
}

/// Verdict of one guard at one evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardStatus {
    /// Enough traffic, within the threshold.
    Pass,
    /// Too little traffic to judge. Never a pass.
    NotJudged,
    /// Threshold crossed.
    Breach,
    /// Switched off by an explicit, journaled action.
    Muted,
}

/// One guard: what a verdict, a breach and the cockpit's guard rows name.
/// Each is spelled as its plan key in JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Guard {
    /// The canary's error rate against stable's (sequential, at `confidence`).
    MaxErrorRatio,
    /// The canary's error rate against an absolute ceiling (sequential).
    MaxErrorRate,
    /// The canary's slow requests against stable's (sequential).
    MaxP99Ratio,
    /// The canary's requests slower than an absolute p99 (sequential).
    MaxP99,
    /// Canary failures in a row while stable answers, on the request path.
    TripAfter,
    /// The release's budget of client requests that got a canary failure.
    MaxFailedRequests,
    /// Round 1's count of canary errors since the step began: only read
    /// from recordings made before round 2, never judged any more.
    MaxErrors,
}

impl Guard {
    /// The plan key (and JSON spelling).
    pub fn key(self) -> &'static str {
        match self {
            Guard::MaxErrorRatio => "max_error_ratio",
            Guard::MaxErrorRate => "max_error_rate",
            Guard::MaxP99Ratio => "max_p99_ratio",
            Guard::MaxP99 => "max_p99",
            Guard::TripAfter => "trip_after",
            Guard::MaxFailedRequests => "max_failed_requests",
            Guard::MaxErrors => "max_errors",
        }
    }

    /// The name for people (the guard panel's words).
    pub fn label(self) -> &'static str {
        match self {
            Guard::MaxErrorRatio => "errors vs stable",
            Guard::MaxErrorRate => "error ceiling",
            Guard::MaxP99Ratio => "latency vs stable",
            Guard::MaxP99 => "p99 ceiling",
            Guard::TripAfter => "failures in a row",
            Guard::MaxFailedRequests => "failed requests",
            Guard::MaxErrors => "errors",
        }
    }

    /// Whether this guard is a sequential test (with [`Evidence`]) rather
    /// than a count.
    pub fn is_statistical(self) -> bool {
        matches!(
            self,
            Guard::MaxErrorRatio | Guard::MaxErrorRate | Guard::MaxP99Ratio | Guard::MaxP99
        )
    }
}

impl fmt::Display for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// `failures` of `requests`: a proportion with its uncertainty.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proportion {
    pub failures: u64,
    pub requests: u64,
}

impl Proportion {
    pub fn rate(self) -> Option<f64> {
        (self.requests > 0).then(|| self.failures.min(self.requests) as f64 / self.requests as f64)
    }

    /// The Wilson score interval at two-sided `confidence`.
    pub fn interval(self, confidence: f64) -> Option<(f64, f64)> {
        crate::guard::sequential::wilson(self.failures, self.requests, confidence)
    }

    /// `6.1 % [4.2–8.7]` (or `–` with no requests).
    pub fn text(self, confidence: f64) -> String {
        match (self.rate(), self.interval(confidence)) {
            (Some(r), Some((lo, hi))) => format!(
                "{} [{}–{}]",
                percent_text(r),
                percent_number(lo),
                percent_number(hi)
            ),
            _ => "–".to_string(),
        }
    }
}

/// A rate as people read it: `0 %`, `0.42 %`, `6.1 %`, `35 %`.
pub fn percent_text(rate: f64) -> String {
    format!("{} %", percent_number(rate))
}

fn percent_number(rate: f64) -> String {
    let p = rate * 100.0;
    if !p.is_finite() {
        "–".to_string()
    } else if p == 0.0 {
        "0".to_string()
    } else if p < 1.0 {
        format!("{p:.2}")
    } else if p < 10.0 || (p > 99.0 && p < 100.0) {
        // 99.5 % is not 100 %: a confidence keeps its decimal.
        format!("{p:.1}")
    } else {
        format!("{p:.0}")
    }
}

/// What a statistical guard has seen since it was armed, and how close that
/// is to a decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The canary's failures (errors, or requests slower than `slow_ms`).
    pub canary: Proportion,
    /// Stable's, for the guards that compare with stable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable: Option<Proportion>,
    /// The confidence the guard decides at.
    pub confidence: f64,
    /// `ln E`: the evidence that the canary is worse than tolerated.
    pub log_e: f64,
    /// `ln(1/(1 − confidence))`: where `log_e` makes a breach.
    pub log_threshold: f64,
    /// For latency guards: a request slower than this (ms) counts as slow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow_ms: Option<f64>,
}

impl Evidence {
    /// How far the evidence has come towards a breach, 0..=1.
    pub fn progress(&self) -> f64 {
        if self.log_threshold > 0.0 && self.log_e.is_finite() {
            (self.log_e / self.log_threshold).clamp(0.0, 1.0)
        } else {
            0.0
        }
    }

    /// `canary 6.1 % [4.2–8.7] vs stable 1.0 % [0.8–1.2], n=412, 99.5 %`.
    pub fn summary(&self) -> String {
        let c = self.confidence;
        let mut out = format!("canary {}", self.canary.text(c));
        if let Some(s) = self.stable {
            out.push_str(&format!(" vs stable {}", s.text(c)));
        }
        out.push_str(&format!(
            ", n={}, {}",
            self.canary.requests,
            percent_text(c)
        ));
        out
    }
}

/// One guard's latest evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GuardVerdict {
    pub name: Guard,
    /// Observed value (ratio, rate, milliseconds, count), `None` when not judged.
    pub value: Option<f64>,
    /// Configured threshold in the same unit as `value`.
    pub threshold: f64,
    pub status: GuardStatus,
    /// One human line: "canary 6.1 % [4.2–8.7] vs stable 1.0 % [0.8–1.2], n=412, 99.5 %".
    pub detail: String,
    /// The statistics behind a sequential guard's status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
}

/// Where the automatic progression stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepView {
    /// Zero-based index into the plan's steps.
    pub index: usize,
    pub total: usize,
    pub weight_permille: u16,
    /// Bake time left, `None` when not baking (paused, or no bake).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bake_remaining_ms: Option<u64>,
}

/// The last guard breach, kept until the next deploy so clients can show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BreachView {
    pub guard: Guard,
    pub value: f64,
    pub threshold: f64,
    pub detail: String,
    pub at: DateTime<Utc>,
}

/// How the last release ended, so `cutover wait` and the cockpit can say it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Promoted,
    RolledBack,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Promoted => "promoted",
            Outcome::RolledBack => "rolled_back",
            Outcome::Failed => "failed",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything a client needs to draw the cockpit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateView {
    pub service: String,
    /// `docker`, `process` or `static`.
    pub runtime: String,
    pub phase: Phase,
    /// Increments on every deploy; containers carry it as `cutover.release`.
    pub release: u64,
    /// Canary share applied in the proxy right now, per mille (0..=1000).
    pub weight_permille: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<StepView>,
    pub stable: VersionView,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<VersionView>,
    #[serde(default)]
    pub guards: Vec<GuardVerdict>,
    #[serde(default)]
    pub guards_muted: bool,
    /// The guard thresholds in force: the plan's `[guard]`, or this
    /// release's edit (`set_guards`). `None` from daemons and recordings
    /// older than the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<GuardPlan>,
    /// Reason of the freeze window in force now, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freeze: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_breach: Option<BreachView>,
    /// How the latest finished release ended (kept until the next deploy), so
    /// `cutover wait` can tell "already promoted" from "still going".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_outcome: Option<Outcome>,
    /// Client requests that got a canary failure in this release (its blast
    /// radius), while a canary is on record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_requests: Option<u64>,
    /// Public listener address.
    pub public_addr: String,
    pub at: DateTime<Utc>,
}

/// One thing that happened. Streamed by `GET /v1/events`, one JSON object per
/// line, and written to the journal in exactly the same form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Strictly increasing within one daemon run.
    pub seq: u64,
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub kind: EventKind,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)] // events are not hot; boxing ticks buys nothing
pub enum EventKind {
    /// The whole state; sent first on every stream and every second after.
    Snapshot { state: Box<StateView> },
    /// The applied canary weight changed.
    Weight {
        from: u16,
        to: u16,
        by: Actor,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The release phase changed.
    Phase {
        from: Phase,
        to: Phase,
        by: Actor,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// An action was asked for, with its outcome.
    Action {
        action: String,
        by: Actor,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        ok: bool,
        detail: String,
    },
    /// A guard crossed its threshold.
    Breach {
        guard: Guard,
        value: f64,
        threshold: f64,
        on_breach: OnBreach,
        detail: String,
        /// The statistics that decided it (sequential guards).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        evidence: Option<Evidence>,
    },
    /// A replica changed state (started, healthy, exited 137, OOM...).
    Replica {
        role: Role,
        replica: String,
        status: ReplicaStatus,
        detail: String,
    },
    /// Per-version figures, once a second.
    Tick {
        stable: VersionStats,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        canary: Option<VersionStats>,
        /// What each version served in the seconds since the previous tick
        /// alone: what the guards judge, so a backtest can judge it again
        /// (journal format 1.1; absent from older recordings).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sample: Option<TickSample>,
    },
    /// Something an operator should see that is not an action.
    Warning { message: String },
    /// An image is being pulled for a version (at most two a second per
    /// pull, and one last with `done`); the last one names the digest the
    /// version is pinned to.
    Pull {
        role: Role,
        image: String,
        layers: Vec<LayerProgress>,
        done: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        digest: Option<String>,
    },
}

/// Bytes of one image layer fetched so far (`total` once the registry said).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerProgress {
    /// The layer's short id, as the engine names it.
    pub id: String,
    pub current: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Fetched (or already on the engine).
    pub done: bool,
}

/// A pull event in one line: `pulling IMAGE: 12.3 of 29.1 MiB, 3/5 layers`,
/// or once done `pulled IMAGE (29.1 MiB, 5 layers) → pinned DIGEST`. One
/// wording for the cockpit, the CLI's plain lines and the headless demo.
pub fn pull_line(kind: &EventKind) -> String {
    let EventKind::Pull {
        image,
        layers,
        done,
        digest,
        ..
    } = kind
    else {
        return String::new();
    };
    let (cur, tot, ldone, n) = pull_totals(layers);
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    if *done {
        let pinned = digest.as_deref().map_or(String::new(), |d| {
            let short = d.rsplit_once('@').map_or(d, |(_, h)| h);
            format!(" → pinned {}", short.get(..19).unwrap_or(short))
        });
        format!("pulled {image} ({:.1} MiB, {n} layers){pinned}", mib(tot))
    } else {
        format!(
            "pulling {image}: {:.1} of {:.1} MiB, {ldone}/{n} layers",
            mib(cur),
            mib(tot)
        )
    }
}

/// The overall gauge of a pull: bytes fetched and bytes known, over every
/// layer whose size is known; layers done and layers.
pub fn pull_totals(layers: &[LayerProgress]) -> (u64, u64, usize, usize) {
    let (mut cur, mut tot) = (0u64, 0u64);
    for l in layers {
        if let Some(t) = l.total {
            tot += t;
            cur += if l.done { t } else { l.current.min(t) };
        }
    }
    let done = layers.iter().filter(|l| l.done).count();
    (cur, tot, done, layers.len())
}

/// What both versions served in the seconds a tick covers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TickSample {
    pub stable: SecondSample,
    pub canary: SecondSample,
}

/// One version's completed requests, failures (what the guards charge it)
/// and latencies over some whole seconds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecondSample {
    pub requests: u64,
    pub failures: u64,
    #[serde(default, skip_serializing_if = "LatencyHist::is_empty")]
    pub latency: LatencyHist,
}

impl SecondSample {
    pub fn add(&mut self, o: &SecondSample) {
        self.requests += o.requests;
        self.failures += o.failures;
        self.latency.merge(&o.latency);
    }
}

/// First line of every journal / recording.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JournalHeader {
    /// Always `"cutover-journal"`.
    pub format: String,
    /// Format version, `MAJOR.MINOR`; readers refuse an unknown major.
    pub version: String,
    pub service: String,
    pub started_at: DateTime<Utc>,
}

impl JournalHeader {
    pub const FORMAT: &'static str = "cutover-journal";
    /// 1.1: ticks carry a per-second `sample` (counts and a compact latency
    /// histogram per version), verdicts their `evidence`, states the
    /// release's `failed_requests`.
    pub const VERSION: &'static str = "1.1";

    pub fn new(service: impl Into<String>, started_at: DateTime<Utc>) -> Self {
        JournalHeader {
            format: Self::FORMAT.to_string(),
            version: Self::VERSION.to_string(),
            service: service.into(),
            started_at,
        }
    }
}

/// Something a client (TUI, CLI, guard, script) asks the controller to do.
/// `POST /v1/actions` takes an [`ActionRequest`] as JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Set the canary share, per mille (0..=1000).
    SetWeight {
        permille: u16,
    },
    /// Start a canary: empty for the plan's `[canary]`; else an image
    /// (docker; a version when the plan has `[deploy] image`), a version for
    /// the plan's `[deploy] command` (process), or `host:port` upstreams
    /// separated by commas (static).
    Deploy {
        image: String,
    },
    /// Jump to the next step now.
    Step,
    Pause,
    Resume,
    /// `force` promotes inside a freeze window; it needs a reason.
    Promote {
        #[serde(default)]
        force: bool,
    },
    Rollback,
    /// Drain one version: no new requests at once, in-flight ones finish, then it is removed.
    /// Draining stable is a promotion, so `force` (with a reason) overrides a freeze
    /// window exactly as it does for `Promote`; it means nothing for the canary.
    Drain {
        role: Role,
        #[serde(default)]
        force: bool,
    },
    /// Change CPU / memory limits of a running version.
    Resize {
        role: Role,
        #[serde(default)]
        cpus: Option<f64>,
        #[serde(default)]
        memory: Option<u64>,
    },
    /// Stop a deploy in progress (Deploying / Warming): remove the canary.
    Abort,
    /// Mute or unmute the guards (journaled; never implicit).
    MuteGuards {
        muted: bool,
    },
    /// Acknowledge the last breach banner.
    AckBreach,
    /// Change the guard thresholds of the running release (validated like the
    /// plan's `[guard]`); keys left out stay as they are.
    SetGuards {
        guards: GuardPatch,
    },
}

/// A change to the guard thresholds: a key left out stays as it is; for the
/// guards that can be switched off, `null` switches it off.
///
/// ```json
/// {"action": "set_guards", "by": "tui", "reason": "noisy upstream",
///  "guards": {"max_errors": 40, "max_p99": null, "window": "30s"}}
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_error_ratio: Option<Option<f64>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_error_rate: Option<Option<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_requests: Option<u64>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_p99: Option<Option<HumanDuration>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_p99_ratio: Option<Option<f64>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub trip_after: Option<Option<u64>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_failed_requests: Option<Option<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_timeout: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_breach: Option<OnBreach>,
    /// Round 1's count guard: refused with what replaced it.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_errors: Option<Option<u64>>,
}

/// A key that is present (even as `null` or `"off"`) is `Some`: it tells
/// "switch this guard off" (`Some(None)`) from "leave it" (`None`, the key
/// is absent).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + crate::plan::off::Expecting,
{
    crate::plan::off::deserialize(d).map(Some)
}

impl GuardPatch {
    /// Whether the patch changes nothing at all.
    pub fn is_empty(&self) -> bool {
        *self == GuardPatch::default()
    }

    /// `base` with this patch applied.
    pub fn apply(&self, base: &GuardPlan) -> GuardPlan {
        fn set<T: Clone>(to: &mut T, v: &Option<T>) {
            if let Some(v) = v {
                *to = v.clone();
            }
        }
        let mut g = base.clone();
        set(&mut g.confidence, &self.confidence);
        set(&mut g.max_error_ratio, &self.max_error_ratio);
        set(&mut g.max_error_rate, &self.max_error_rate);
        set(&mut g.window, &self.window);
        set(&mut g.min_requests, &self.min_requests);
        set(&mut g.max_p99, &self.max_p99);
        set(&mut g.max_p99_ratio, &self.max_p99_ratio);
        set(&mut g.trip_after, &self.trip_after);
        set(&mut g.max_failed_requests, &self.max_failed_requests);
        set(&mut g.evidence_timeout, &self.evidence_timeout);
        set(&mut g.on_breach, &self.on_breach);
        set(&mut g.max_errors, &self.max_errors);
        g
    }
}

impl Action {
    /// Short name used in events and messages (`promote`, `set_weight`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Action::SetWeight { .. } => "set_weight",
            Action::Deploy { .. } => "deploy",
            Action::Step => "step",
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::Promote { .. } => "promote",
            Action::Rollback => "rollback",
            Action::Drain { .. } => "drain",
            Action::Resize { .. } => "resize",
            Action::Abort => "abort",
            Action::MuteGuards { .. } => "mute_guards",
            Action::AckBreach => "ack_breach",
            Action::SetGuards { .. } => "set_guards",
        }
    }
}

/// An action with who asked and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionRequest {
    #[serde(flatten)]
    pub action: Action,
    pub by: Actor,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The answer to an accepted action: what was done and the state after it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionReply {
    pub detail: String,
    pub state: Box<StateView>,
}

/// Why an action was refused. Nothing was changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    /// Machine-readable: `illegal_in_phase`, `frozen`, `out_of_range`, `runtime`, …
    pub code: String,
    /// One human sentence: "cannot promote: no canary is running (phase idle)".
    pub message: String,
}

impl Refusal {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Refusal {
            code: code.into(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replica_phrases_never_say_the_status_twice() {
        use ReplicaStatus as S;
        for (status, detail, want) in [
            (S::Stopped, "stopped (exit 0)", "stopped (exit 0)"),
            (S::Exited, "exited 1 (on its own)", "exited 1 (on its own)"),
            (
                S::OomKilled,
                "OOM-killed (exited 137) (on its own)",
                "OOM-killed (exited 137) (on its own)",
            ),
            (
                S::Starting,
                "started at 127.0.0.1:4001",
                "started at 127.0.0.1:4001",
            ),
            (
                S::Healthy,
                "GET /healthz → 200",
                "healthy: GET /healthz → 200",
            ),
            (S::Unhealthy, "", "unhealthy"),
        ] {
            assert_eq!(replica_phrase(status, detail), want);
        }
    }
}
