//! What `GET /v1/events` streams and the journal stores, one per line.

use super::*;
use crate::metrics::compact::LatencyHist;
use crate::plan::OnBreach;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

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
