//! Guards as clients see them: their names, verdicts and evidence.

use super::*;
use serde::{Deserialize, Serialize};
use std::fmt;

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
    /// A value or threshold of this guard in its own unit: `×1.25`,
    /// `2.5 %`, `480 ms`, `10`.
    pub fn value_text(self, v: f64) -> String {
        match self {
            Guard::MaxErrors | Guard::TripAfter | Guard::MaxFailedRequests => format!("{v:.0}"),
            Guard::MaxErrorRate => percent_text(v),
            Guard::MaxP99 if v.is_finite() => latency_text(v),
            Guard::MaxP99 => "—".into(),
            Guard::MaxErrorRatio | Guard::MaxP99Ratio => format!("×{v:.2}"),
        }
    }

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
