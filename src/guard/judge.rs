//! The [`Judge`]: the evidence of one release's guards, fed with what both
//! versions served and read as one verdict per guard.
//!
//! It holds the running sequential tests (see `sequential`) from the moment
//! the guards were armed — the canary's first step, an unmute or a guard
//! edit — and the tallies the cockpit shows beside them. Counts come in as
//! increments (`observe_counts`, four times a second live, once a second in
//! a backtest) and latencies as whole seconds of compact histograms
//! (`observe_second`); time is whatever monotonic milliseconds the caller
//! passes, so the same code judges a live release and a recording.
//!
//! Latency is judged through *slow* requests: a request slower than
//! `max_p99_ratio` × a quantile of stable's latencies over the preceding
//! [`ESTIMATE_MS`] is slow. That threshold is fixed before the second it
//! applies to is seen and is the same for both versions, so under "no
//! difference" the canary's share of slow requests is just its share of
//! requests — the same conditional test as for errors, with the tolerance
//! [`SLOW_TOLERANCE`]. Two cuts run side by side and their evidence is
//! averaged (an average of e-processes is one): at stable's p99, which sees
//! a slowdown of the slowest few percent, and at its p90, which has ten
//! times the data and so finds a canary that is slower across the board in
//! seconds rather than minutes (the simulation in docs/BENCHMARKS.md).

use super::sequential::{CeilingTest, ESTIMATE_MS, RatioTest, Tally, log_mean_exp, log_threshold};
use crate::metrics::compact::LatencyHist;
use crate::model::{Evidence, Guard, GuardStatus, GuardVerdict, Proportion};
use crate::plan::GuardPlan;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// The canary may have up to this many times stable's share of slow
/// requests before `max_p99_ratio` judges it slower.
pub const SLOW_TOLERANCE: f64 = 2.0;
/// `max_p99`: the canary breaches when more than this share of its requests
/// is slower than the limit (that is what a p99 above the limit means).
pub const P99_SHARE: f64 = 0.01;

/// The quantiles of stable's latency the slow cuts are taken at.
pub const SLOW_CUTS: [f64; 2] = [0.90, 0.99];

/// The request-path figures the count guards are judged on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PathCounts {
    /// Client requests that got a canary failure in this release.
    pub failed_in_release: u64,
    /// Canary failures in a row right now.
    pub run: u64,
    /// Stable's latest answer was a failure: a run of canary failures is
    /// then shared trouble, and the in-a-row guard holds back as the
    /// proxy's trip does.
    pub stable_failing: bool,
}

/// One slow cut: requests slower than `max_p99_ratio` × stable's latency
/// at `quantile` (over the preceding [`ESTIMATE_MS`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct SlowCut {
    quantile: f64,
    test: RatioTest,
    /// Canary and stable requests and slow ones since armed.
    since: (Tally, Tally),
    /// The cut in force (ms), once there is a reference.
    ms: Option<f64>,
}

/// One release's guard evidence. Serializable so a daemon that takes over
/// from another carries the running tests on (`cutover up --takeover`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Judge {
    g: GuardPlan,
    errors: Option<RatioTest>,
    ceiling: Option<CeilingTest>,
    /// The slow cuts of `max_p99_ratio` (none when it is off).
    slow: Vec<SlowCut>,
    slow_ceiling: Option<CeilingTest>,
    /// Canary and stable requests and errors since armed.
    since: (Tally, Tally),
    /// Canary requests and those slower than `max_p99` since armed.
    over_p99_since: Tally,
    /// Stable's latencies of the last [`ESTIMATE_MS`], for the slow threshold.
    reference: VecDeque<(u64, LatencyHist)>,
    /// The canary's, for the p99 shown beside the latency guards.
    recent_canary: VecDeque<(u64, LatencyHist)>,
    /// Canary and stable p99 (ms) over those windows, as of the last second.
    p99_ms: (Option<f64>, Option<f64>),
}

impl Judge {
    /// Fresh evidence under thresholds `g`.
    pub fn new(g: &GuardPlan) -> Judge {
        Judge {
            errors: g.max_error_ratio.map(RatioTest::new),
            ceiling: g.max_error_rate.map(CeilingTest::new),
            slow: match g.max_p99_ratio {
                Some(_) => SLOW_CUTS
                    .iter()
                    .map(|&quantile| SlowCut {
                        quantile,
                        test: RatioTest::new(SLOW_TOLERANCE),
                        since: Default::default(),
                        ms: None,
                    })
                    .collect(),
                None => Vec::new(),
            },
            slow_ceiling: g.max_p99.map(|_| CeilingTest::new(P99_SHARE)),
            g: g.clone(),
            since: Default::default(),
            over_p99_since: Tally::default(),
            reference: VecDeque::new(),
            recent_canary: VecDeque::new(),
            p99_ms: (None, None),
        }
    }

    /// The thresholds this evidence is judged under.
    pub fn plan(&self) -> &GuardPlan {
        &self.g
    }

    /// The share of the release's `α` that `guard` holds: the statistical
    /// guards switched on split it by weight, `max_error_ratio` 3 and the
    /// others 1 each. Errors against stable are what most bad releases
    /// show and must be caught in seconds; the latency guards, judged on
    /// a few percent of the requests, are the slower ones anyway, and the
    /// ceilings are off unless a plan asks for them. With the defaults:
    /// ¾ of `α` to errors, ¼ to latency.
    fn alpha_share(&self, guard: Guard) -> f64 {
        let weight = |g: Guard| if g == Guard::MaxErrorRatio { 3.0 } else { 1.0 };
        let on = [
            (Guard::MaxErrorRatio, self.errors.is_some()),
            (Guard::MaxErrorRate, self.ceiling.is_some()),
            (Guard::MaxP99Ratio, !self.slow.is_empty()),
            (Guard::MaxP99, self.slow_ceiling.is_some()),
        ];
        let total: f64 = on
            .iter()
            .filter(|(_, on)| *on)
            .map(|&(g, _)| weight(g))
            .sum();
        if total > 0.0 {
            weight(guard) / total
        } else {
            1.0
        }
    }

    /// The thresholds this evidence is judged under.
    pub fn thresholds(&self) -> &GuardPlan {
        &self.g
    }

    /// Requests and failures of each version since the previous increment.
    pub fn observe_counts(&mut self, at_ms: u64, canary: Tally, stable: Tally) {
        if let Some(t) = &mut self.errors {
            t.observe(at_ms, canary, stable);
        }
        if let Some(t) = &mut self.ceiling {
            t.observe(at_ms, canary);
        }
        self.since.0.add(canary);
        self.since.1.add(stable);
    }

    /// One whole second of both versions' latencies, ending at `at_ms`.
    pub fn observe_second(&mut self, at_ms: u64, canary: &LatencyHist, stable: &LatencyHist) {
        if let (Some(limit), Some(t)) = (self.g.max_p99, &mut self.slow_ceiling) {
            let us = limit.get().as_secs_f64() * 1e6;
            let c = Tally::new(canary.total(), canary.count_above(us));
            t.observe(at_ms, c);
            self.over_p99_since.add(c);
        }
        if let Some(ratio) = self.g.max_p99_ratio {
            // Fixed from the past only: the same split for both versions.
            let reference = merged(&self.reference);
            for cut in &mut self.slow {
                let Some(q) = reference.quantile_us(cut.quantile) else {
                    continue;
                };
                let us = q * ratio;
                cut.ms = Some(us / 1000.0);
                let c = Tally::new(canary.total(), canary.count_above(us));
                let s = Tally::new(stable.total(), stable.count_above(us));
                cut.test.observe(at_ms, c, s);
                cut.since.0.add(c);
                cut.since.1.add(s);
            }
        }
        for (window, h) in [
            (&mut self.reference, stable),
            (&mut self.recent_canary, canary),
        ] {
            if !h.is_empty() {
                window.push_back((at_ms, h.clone()));
            }
            while window
                .front()
                .is_some_and(|&(t, _)| t + ESTIMATE_MS <= at_ms)
            {
                window.pop_front();
            }
        }
        // Read by every verdict (four times a second), changed only here.
        let p99 =
            |w: &VecDeque<(u64, LatencyHist)>| merged(w).quantile_us(0.99).map(|us| us / 1000.0);
        self.p99_ms = (p99(&self.recent_canary), p99(&self.reference));
    }

    /// One verdict per configured guard, in a fixed order: the statistical
    /// ones, then the request-path counts.
    pub fn verdicts(&self, path: PathCounts, muted: bool) -> Vec<GuardVerdict> {
        let mut out: Vec<GuardVerdict> = self
            .statistical_readings()
            .into_iter()
            .map(|r| self.statistical_verdict(r, muted))
            .collect();
        out.extend(path_verdicts(&self.g, path, muted));
        out
    }

    /// What each configured statistical guard reads now, in the order
    /// their verdicts are given.
    fn statistical_readings(&self) -> Vec<Reading> {
        let g = &self.g;
        let mut out = Vec::new();
        if let (Some(r), Some(t)) = (g.max_error_ratio, &self.errors) {
            out.push(Reading {
                name: Guard::MaxErrorRatio,
                log_e: t.log_e(),
                threshold: r,
                canary: self.since.0,
                stable: Some(self.since.1),
                slow_ms: None,
            });
        }
        if let (Some(p), Some(t)) = (g.max_error_rate, &self.ceiling) {
            out.push(Reading {
                name: Guard::MaxErrorRate,
                log_e: t.log_e(),
                threshold: p,
                canary: self.since.0,
                stable: None,
                slow_ms: None,
            });
        }
        if let Some(r) = g.max_p99_ratio {
            // The evidence of both cuts together; the figures shown are the
            // cut's that carries the most of it.
            let logs: Vec<f64> = self.slow.iter().map(|c| c.test.log_e()).collect();
            let shown = self
                .slow
                .iter()
                .max_by(|a, b| a.test.log_e().total_cmp(&b.test.log_e()));
            if let Some(cut) = shown {
                out.push(Reading {
                    name: Guard::MaxP99Ratio,
                    log_e: log_mean_exp(&logs),
                    threshold: r,
                    canary: cut.since.0,
                    stable: Some(cut.since.1),
                    slow_ms: cut.ms,
                });
            }
        }
        if let (Some(limit), Some(t)) = (g.max_p99, &self.slow_ceiling) {
            let ms = limit.get().as_secs_f64() * 1000.0;
            out.push(Reading {
                name: Guard::MaxP99,
                log_e: t.log_e(),
                threshold: ms,
                canary: self.over_p99_since,
                stable: None,
                slow_ms: Some(ms),
            });
        }
        out
    }

    /// A statistical guard's verdict on what it reads.
    fn statistical_verdict(&self, r: Reading, muted: bool) -> GuardVerdict {
        let g = &self.g;
        let min = g.min_requests;
        let proportion = |t: Tally| Proportion {
            failures: t.failures,
            requests: t.requests,
        };
        let (canary_p99, stable_p99) = self.p99_ms;
        let (c, s) = (r.canary, r.stable);
        let thr = log_threshold(g.confidence, self.alpha_share(r.name));
        let evidence = Evidence {
            canary: proportion(c),
            stable: s.map(proportion),
            confidence: g.confidence,
            log_e: r.log_e,
            log_threshold: thr,
            slow_ms: r.slow_ms,
        };
        let short_of = [Some(c), s]
            .into_iter()
            .flatten()
            .map(|t| t.requests)
            .min()
            .unwrap_or(0);
        // In the unit of the guard's threshold.
        let value = match (r.name, s) {
            (Guard::MaxErrorRatio, Some(s)) => ratio(c, s),
            (Guard::MaxP99Ratio, _) => match (canary_p99, stable_p99) {
                (Some(c), Some(s)) if s > 0.0 => Some(c / s),
                _ => None,
            },
            (Guard::MaxP99, _) => canary_p99,
            _ => evidence.canary.rate(),
        };
        let status = if muted {
            GuardStatus::Muted
        } else if r.log_e >= thr {
            GuardStatus::Breach
        } else if short_of < min {
            GuardStatus::NotJudged
        } else {
            GuardStatus::Pass
        };
        let detail = match status {
            GuardStatus::NotJudged => not_enough(c, s, min),
            _ => {
                let what = match r.slow_ms {
                    Some(ms) => format!("slower than {}: ", crate::model::latency_text(ms)),
                    None => String::new(),
                };
                format!("{what}{}", evidence.summary())
            }
        };
        GuardVerdict {
            name: r.name,
            value,
            threshold: r.threshold,
            status,
            detail,
            evidence: Some(evidence),
        }
    }
}

/// What one statistical guard reads: its evidence (the log of its
/// e-value), its threshold in its own unit, and the tallies shown.
struct Reading {
    name: Guard,
    log_e: f64,
    threshold: f64,
    canary: Tally,
    stable: Option<Tally>,
    /// The latency a slow request is slower than (latency guards).
    slow_ms: Option<f64>,
}

/// The request-path count guards' verdicts: the run of canary failures in
/// a row, then the release's failed-request budget.
fn path_verdicts(g: &GuardPlan, path: PathCounts, muted: bool) -> Vec<GuardVerdict> {
    let count = |name: Guard, value: u64, limit: u64, detail: String| GuardVerdict {
        name,
        value: Some(value as f64),
        threshold: limit as f64,
        status: if muted {
            GuardStatus::Muted
        } else if value >= limit {
            GuardStatus::Breach
        } else {
            GuardStatus::Pass
        },
        detail,
        evidence: None,
    };
    let mut out = Vec::new();
    if let Some(n) = g.trip_after {
        // As the proxy's trip: a run while stable fails too is shared.
        let run = if path.stable_failing { 0 } else { path.run };
        out.push(count(
            Guard::TripAfter,
            run,
            n,
            format!(
                "{} canary failures in a row now; {n} in a row while stable answers set the weight to 0 at once",
                path.run
            ),
        ));
    }
    if let Some(n) = g.max_failed_requests {
        out.push(count(
            Guard::MaxFailedRequests,
            path.failed_in_release,
            n,
            format!(
                "{} client requests got a canary failure in this release (budget {n})",
                path.failed_in_release
            ),
        ));
    }
    out
}

/// The histograms of a window, merged.
fn merged(window: &VecDeque<(u64, LatencyHist)>) -> LatencyHist {
    let mut out = LatencyHist::default();
    for (_, h) in window {
        out.merge(h);
    }
    out
}

/// Canary rate ÷ stable rate, with stable's rate floored at half a failure
/// (so a stable with no failure yet gives a finite, honest figure).
fn ratio(c: Tally, s: Tally) -> Option<f64> {
    if c.requests == 0 || s.requests == 0 {
        return None;
    }
    let rc = c.failures as f64 / c.requests as f64;
    let rs = (s.failures as f64).max(0.5) / s.requests as f64;
    Some(rc / rs)
}

fn not_enough(c: Tally, s: Option<Tally>, min: u64) -> String {
    let mut need = Vec::new();
    if c.requests < min {
        need.push(format!("{} of {min} canary requests", c.requests));
    }
    if let Some(s) = s.filter(|s| s.requests < min) {
        need.push(format!("{} of {min} stable requests", s.requests));
    }
    format!("not enough evidence yet: {}", need.join(", "))
}

/// Whether the verdicts give enough evidence for a step to move on: no
/// guard is still waiting for data (a muted guard is the operator's call).
pub fn evidence_ready(verdicts: &[GuardVerdict]) -> Result<(), String> {
    let waiting: Vec<String> = verdicts
        .iter()
        .filter(|v| v.status == GuardStatus::NotJudged)
        .map(|v| format!("{}: {}", v.name.label(), v.detail))
        .collect();
    if waiting.is_empty() {
        Ok(())
    } else {
        Err(waiting.join("; "))
    }
}
