//! The shared picture of a release, as every client sees it.
//!
//! These types are the wire contract between the daemon and everything that
//! watches it: `GET /v1/state` returns a [`StateView`], `GET /v1/events` streams
//! [`Event`]s, the journal stores the same events one per line, and the TUI
//! (live or replaying) renders nothing but these. Keeping them in one place is
//! what lets a recording be played back in the very same cockpit.

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

/// One guard's latest evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GuardVerdict {
    /// `max_errors`, `max_error_rate`, `max_p99`, `max_p99_ratio`.
    pub name: String,
    /// Observed value (count, ratio, milliseconds), `None` when not judged.
    pub value: Option<f64>,
    /// Configured threshold in the same unit as `value`.
    pub threshold: f64,
    pub status: GuardStatus,
    /// One human line: "12 errors since step start (limit 20)".
    pub detail: String,
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
    pub guard: String,
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
        guard: String,
        value: f64,
        threshold: f64,
        /// `rollback` or `pause`.
        on_breach: String,
        detail: String,
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
    pub const VERSION: &'static str = "1.0";

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
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_errors: Option<Option<u64>>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_breach: Option<OnBreach>,
}

/// A key that is present (even as `null`) is `Some`: it tells "switch this
/// guard off" (`Some(None)`) from "leave it" (`None`, the key is absent).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

impl GuardPatch {
    /// Whether the patch changes nothing at all.
    pub fn is_empty(&self) -> bool {
        *self == GuardPatch::default()
    }

    /// `base` with this patch applied.
    pub fn apply(&self, base: &GuardPlan) -> GuardPlan {
        let mut g = base.clone();
        if let Some(v) = self.max_errors {
            g.max_errors = v;
        }
        if let Some(v) = self.max_error_rate {
            g.max_error_rate = v;
        }
        if let Some(v) = self.window {
            g.window = v;
        }
        if let Some(v) = self.min_requests {
            g.min_requests = v;
        }
        if let Some(v) = self.max_p99 {
            g.max_p99 = v;
        }
        if let Some(v) = self.max_p99_ratio {
            g.max_p99_ratio = v;
        }
        if let Some(v) = self.on_breach {
            g.on_breach = v;
        }
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
