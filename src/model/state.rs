//! What `GET /v1/state` returns: the release as a client draws it, and
//! [`StateView::apply`], the one place an event changes it.

use super::*;
use crate::plan::GuardPlan;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

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
    /// Resource use over the last minutes and the size it suggests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsageView>,
    /// While the version drains: what is left and when it is cut.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain: Option<DrainView>,
}

/// A version's resource use (the busiest replica per sample) over up to ten
/// minutes, and the limits it suggests.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageView {
    /// How much history there is.
    pub span_secs: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_peak_percent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_peak: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<u64>,
    /// Memory in bytes, oldest first, up to 60 points.
    #[serde(default)]
    pub memory_history: Vec<u64>,
    /// CPU in percent of one CPU, oldest first, up to 60 points.
    #[serde(default)]
    pub cpu_history: Vec<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggested_memory: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggested_cpus: Option<f64>,
    /// "canary peak 180 MiB of 256 MiB over 10 min → 224 MiB".
    pub summary: String,
}

/// A version being drained: no new requests reach it; these are still on it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DrainView {
    /// Requests still in flight: each gets a 504 if it is still running at
    /// `deadline`.
    pub in_flight: u64,
    /// Seconds the oldest of them has run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_secs: Option<u64>,
    /// Distinct sticky clients it served in the last one to two minutes
    /// (they move to the other version); none without `[proxy] sticky`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticky_clients: Option<u64>,
    /// The sticky count is a floor (more clients than it can tell apart).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sticky_at_least: bool,
    /// When whatever is still in flight is cut.
    pub deadline: DateTime<Utc>,
}

impl VersionView {
    pub fn healthy(&self) -> usize {
        self.replicas
            .iter()
            .filter(|r| r.status == ReplicaStatus::Healthy)
            .count()
    }
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

impl Outcome {
    /// How a phase change ends a release, if it does: promoting → idle is
    /// promoted, rolling back → idle rolled back, anything → failed failed.
    /// The one rule; the controller's record and every client agree on it.
    pub fn ending(from: Phase, to: Phase) -> Option<Outcome> {
        match (from, to) {
            (Phase::Promoting, Phase::Idle) => Some(Outcome::Promoted),
            (Phase::RollingBack, Phase::Idle) => Some(Outcome::RolledBack),
            (_, Phase::Failed) => Some(Outcome::Failed),
            _ => None,
        }
    }

    /// For people: `promoted`, `rolled back`, `failed`.
    pub fn words(self) -> &'static str {
        match self {
            Outcome::Promoted => "promoted",
            Outcome::RolledBack => "rolled back",
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
    /// `docker`, `process`, `static`: text on the wire, so a client can
    /// show a runtime a newer daemon has and it does not know.
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

impl StateView {
    /// One version by its role (the canary only while there is one).
    pub fn version(&self, role: Role) -> Option<&VersionView> {
        match role {
            Role::Stable => Some(&self.stable),
            Role::Canary => self.canary.as_ref(),
        }
    }

    /// [`version`](Self::version), to change it.
    pub fn version_mut(&mut self, role: Role) -> Option<&mut VersionView> {
        match role {
            Role::Stable => Some(&mut self.stable),
            Role::Canary => self.canary.as_mut(),
        }
    }

    /// Fold one event into the state: a snapshot replaces it; every other
    /// event that carries state is applied in full, so the state between
    /// two snapshots (and after the last one) is what the daemon's was, not
    /// the last snapshot with a few fields patched. The one reducer: the
    /// journal player and the cockpit both fold events through it.
    pub fn apply(&mut self, event: &Event) {
        let s = self;
        if let EventKind::Snapshot { state } = &event.kind {
            *s = (**state).clone();
            return;
        }
        match &event.kind {
            EventKind::Weight { to, .. } => s.weight_permille = *to,
            EventKind::Phase { from, to, .. } => {
                s.phase = *to;
                if *to == Phase::Deploying {
                    // A deploy starts a release with no outcome yet.
                    s.last_outcome = None;
                } else if let Some(o) = Outcome::ending(*from, *to) {
                    s.last_outcome = Some(o);
                }
            }
            EventKind::Tick { stable, canary, .. } => {
                s.stable.stats = stable.clone();
                if let (Some(c), Some(stats)) = (s.canary.as_mut(), canary) {
                    c.stats = stats.clone();
                }
            }
            EventKind::Breach {
                guard,
                value,
                threshold,
                detail,
                ..
            } => {
                s.last_breach = Some(BreachView {
                    guard: *guard,
                    value: *value,
                    threshold: *threshold,
                    detail: detail.clone(),
                    at: event.at,
                });
            }
            EventKind::Replica {
                role,
                replica,
                status,
                ..
            } => {
                let version = s.version_mut(*role);
                if let Some(r) =
                    version.and_then(|v| v.replicas.iter_mut().find(|r| r.id == *replica))
                {
                    r.status = *status;
                }
            }
            EventKind::Snapshot { .. }
            | EventKind::Action { .. }
            | EventKind::Warning { .. }
            | EventKind::Pull { .. } => {}
        }
        s.at = s.at.max(event.at);
    }
}
