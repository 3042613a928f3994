//! Guards: the pure judgement of a canary against the plan's thresholds.
//!
//! No I/O and no clock: the controller hands in the figures (canary and
//! stable over the guard window, canary counts since the guards were armed:
//! the step's start, an unmute or a guard edit) and
//! gets one verdict per configured guard, in a fixed order. Two rules from
//! peers' bugs are built in: too little traffic is *not judged* — never a
//! pass — and no input (NaN, infinities, zeros) can make a verdict NaN or
//! divide by zero.

use crate::model::{GuardStatus, GuardVerdict, VersionStats};
use crate::plan::Plan;

/// Stable p99 below this is treated as this when computing the ratio, so a
/// sub-millisecond stable does not turn noise into a breach.
pub const RATIO_FLOOR_MS: f64 = 1.0;

/// What a guard evaluation sees.
#[derive(Clone, Debug)]
pub struct GuardInput<'a> {
    pub plan: &'a Plan,
    /// Canary figures over the guard window.
    pub canary: &'a VersionStats,
    /// Stable figures over the same window.
    pub stable: &'a VersionStats,
    /// Canary errors and requests since the guards were armed: the step's
    /// start, an unmute or a guard edit (the proxy's error trip counts from
    /// the same moment).
    pub canary_errors_since_step: u64,
    pub canary_requests_since_step: u64,
    pub muted: bool,
}

/// One verdict per configured guard: `max_errors`, `max_error_rate`,
/// `max_p99`, `max_p99_ratio` (those the plan sets, in this order).
pub fn evaluate(f: &GuardInput<'_>) -> Vec<GuardVerdict> {
    let g = &f.plan.guard;
    let mut out = Vec::new();
    let verdict = |name: &str, value: Option<f64>, threshold: f64, breach: bool, detail: String| {
        let value = value.filter(|v| v.is_finite());
        let status = match (f.muted, value) {
            (true, _) => GuardStatus::Muted,
            (false, None) => GuardStatus::NotJudged,
            (false, Some(_)) if breach => GuardStatus::Breach,
            (false, Some(_)) => GuardStatus::Pass,
        };
        GuardVerdict {
            name: name.to_string(),
            value,
            threshold: if threshold.is_finite() {
                threshold
            } else {
                0.0
            },
            status,
            detail,
        }
    };
    if let Some(max) = g.max_errors {
        let n = f.canary_errors_since_step;
        let seen = f.canary_requests_since_step.max(n);
        let (value, detail) = if seen == 0 {
            (
                None,
                "no canary request since the guards were armed: not judged".to_string(),
            )
        } else {
            (
                Some(n as f64),
                format!(
                    "{n} canary errors in {seen} requests since the guards were armed (limit {max})"
                ),
            )
        };
        out.push(verdict("max_errors", value, max as f64, n >= max, detail));
    }
    let requests = f.canary.requests;
    let judged = requests > 0 && requests >= g.min_requests;
    let floor = format!(
        "{requests} canary requests in the last {}, {} needed to judge",
        g.window, g.min_requests
    );
    if let Some(max) = g.max_error_rate {
        let rate = judged.then(|| f.canary.errors.min(requests) as f64 / requests as f64);
        let detail = match rate {
            Some(r) => format!(
                "{} of {requests} requests failed ({:.1} %) over {}, limit {:.1} %",
                f.canary.errors,
                r * 100.0,
                g.window,
                max * 100.0
            ),
            None => floor.clone(),
        };
        out.push(verdict(
            "max_error_rate",
            rate,
            max,
            rate.is_some_and(|r| r > max),
            detail,
        ));
    }
    if let Some(max) = g.max_p99 {
        let limit = max.get().as_secs_f64() * 1000.0;
        let p99 = f
            .canary
            .p99_ms
            .filter(|p| judged && p.is_finite() && *p >= 0.0);
        let detail = match p99 {
            Some(p) => format!(
                "canary p99 {} over {}, limit {}",
                crate::model::latency_text(p),
                g.window,
                crate::model::latency_text(limit)
            ),
            None => floor.clone(),
        };
        out.push(verdict(
            "max_p99",
            p99,
            limit,
            p99.is_some_and(|p| p > limit),
            detail,
        ));
    }
    if let Some(max) = g.max_p99_ratio {
        let stable_judged = f.stable.requests > 0 && f.stable.requests >= g.min_requests;
        let ratio = match (f.canary.p99_ms, f.stable.p99_ms) {
            (Some(c), Some(s))
                if judged && stable_judged && c.is_finite() && s.is_finite() && c >= 0.0 =>
            {
                Some(c / s.max(RATIO_FLOOR_MS))
            }
            _ => None,
        };
        let detail = match ratio {
            Some(r) => format!(
                "canary p99 is {r:.2}× stable's over {}, limit {max:.2}×",
                g.window
            ),
            None => format!("{floor}, and as many stable requests to compare with"),
        };
        out.push(verdict(
            "max_p99_ratio",
            ratio,
            max,
            ratio.is_some_and(|r| r > max),
            detail,
        ));
    }
    out
}

/// The first breached verdict, if any.
pub fn first_breach(verdicts: &[GuardVerdict]) -> Option<&GuardVerdict> {
    verdicts.iter().find(|v| v.status == GuardStatus::Breach)
}

#[cfg(test)]
mod tests;
