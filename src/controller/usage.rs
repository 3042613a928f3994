//! Per-version resource history and the size it suggests ("canary peak
//! 180 MiB of 256 MiB over 10 min → 224 MiB"). Fed by the driver's one-shot
//! stats samples (every 2 s, never a stream), kept for [`SPAN`], and reset
//! when the version behind a role changes, so a new canary starts clean.
//!
//! The suggestion follows the usual right-sizing rule (Kubernetes' VPA,
//! Google's Autopilot): the peak over the history plus a margin, rounded up
//! to a step people write in a plan; nothing until the history is long
//! enough to have seen a busy moment.

use crate::model::{Role, UsageView};
use crate::runtime::ReplicaStats;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How much history a suggestion looks at.
pub const SPAN: Duration = Duration::from_secs(600);
/// Below this much history, no suggestion yet.
pub const ENOUGH: Duration = Duration::from_secs(300);
/// Headroom over the peak (VPA adds 15 %; a little more for the peak we missed
/// between 2 s samples).
const MARGIN: f64 = 1.2;
/// Memory suggestions are multiples of this (32 MiB).
const MEMORY_STEP: u64 = 32 << 20;
/// CPU suggestions are multiples of a quarter CPU.
const CPU_STEP: f64 = 0.25;
/// Points of history the view carries for a sparkline.
const POINTS: usize = 60;

/// One sample of a version: the busiest replica's figures.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Sample {
    cpu_percent: Option<f64>,
    memory: Option<u64>,
    memory_limit: Option<u64>,
}

/// The history of one role's version.
#[derive(Debug, Default)]
pub struct UsageHistory {
    /// What the history is of (the version string); another clears it.
    of: String,
    samples: VecDeque<(Instant, Sample)>,
}

impl UsageHistory {
    /// Record one round of samples of `version`'s replicas.
    pub fn record(&mut self, version: &str, at: Instant, replicas: &[ReplicaStats]) {
        if self.of != version {
            self.of = version.to_string();
            self.samples.clear();
        }
        if replicas.is_empty() {
            return;
        }
        let max_f =
            |f: fn(&ReplicaStats) -> Option<f64>| replicas.iter().filter_map(f).reduce(f64::max);
        let max_u = |f: fn(&ReplicaStats) -> Option<u64>| replicas.iter().filter_map(f).max();
        let s = Sample {
            cpu_percent: max_f(|r| r.cpu_percent),
            memory: max_u(|r| r.memory_bytes),
            memory_limit: max_u(|r| r.memory_limit),
        };
        self.samples.push_back((at, s));
        while let Some((t, _)) = self.samples.front() {
            if at.saturating_duration_since(*t) > SPAN {
                self.samples.pop_front();
            } else {
                break;
            }
        }
    }

    /// What the cockpit shows: peaks, a sparkline's worth of history, and
    /// a suggestion once the history is long enough. `cpus` and `memory`
    /// are the limits the version runs with (from the plan or a resize).
    pub fn view(&self, role: Role, cpus: Option<f64>, memory: Option<u64>) -> Option<UsageView> {
        let (first, _) = self.samples.front()?;
        let (last, latest) = self.samples.back()?;
        let span = last.saturating_duration_since(*first);
        let cpu_peak = self
            .samples
            .iter()
            .filter_map(|(_, s)| s.cpu_percent)
            .reduce(f64::max);
        let memory_peak = self.samples.iter().filter_map(|(_, s)| s.memory).max();
        let memory_limit = memory.or(latest.memory_limit);
        let enough = span >= ENOUGH;
        let suggest_memory = memory_peak
            .filter(|_| enough)
            .map(suggested_memory)
            .filter(|m| differs(*m as f64, memory_limit.map(|l| l as f64)));
        let suggest_cpus = cpu_peak
            .filter(|_| enough && cpus.is_some())
            .map(suggested_cpus)
            .filter(|c| differs(*c, cpus));
        Some(UsageView {
            span_secs: span.as_secs(),
            cpu_peak_percent: cpu_peak,
            memory_peak,
            memory_limit,
            memory_history: self.history(|s| s.memory.map(|m| m as f64)),
            cpu_history: self.history(|s| s.cpu_percent),
            suggested_memory: suggest_memory,
            suggested_cpus: suggest_cpus,
            summary: summary(
                role,
                span,
                memory_peak,
                memory_limit,
                suggest_memory,
                enough,
            ),
        })
    }

    /// Up to [`POINTS`] values, each the peak of its share of the history.
    fn history<T: Copy + Into<f64>>(&self, f: impl Fn(&Sample) -> Option<T>) -> Vec<u64> {
        let values: Vec<f64> = self
            .samples
            .iter()
            .map(|(_, s)| f(s).map_or(0.0, Into::into))
            .collect();
        let chunk = values.len().div_ceil(POINTS).max(1);
        values
            .chunks(chunk)
            .map(|c| c.iter().copied().fold(0.0, f64::max).round() as u64)
            .collect()
    }
}

/// Peak plus margin, rounded up to 32 MiB.
pub fn suggested_memory(peak: u64) -> u64 {
    let want = (peak as f64 * MARGIN).ceil() as u64;
    want.div_ceil(MEMORY_STEP).max(1) * MEMORY_STEP
}

/// Peak CPU (percent of one CPU) plus margin, rounded up to a quarter CPU.
pub fn suggested_cpus(peak_percent: f64) -> f64 {
    let want = peak_percent / 100.0 * MARGIN;
    ((want / CPU_STEP).ceil() * CPU_STEP).max(CPU_STEP)
}

/// Worth saying: no limit yet, or more than 10 % away from it.
fn differs(suggested: f64, current: Option<f64>) -> bool {
    current.is_none_or(|c| (suggested - c).abs() > c * 0.10)
}

/// One line for the cockpit and `status`.
fn summary(
    role: Role,
    span: Duration,
    peak: Option<u64>,
    limit: Option<u64>,
    suggested: Option<u64>,
    enough: bool,
) -> String {
    let mib = |b: u64| format!("{} MiB", b >> 20);
    let minutes = span.as_secs().div_ceil(60);
    let Some(peak) = peak else {
        return format!("{role}: no memory figures from this runtime");
    };
    let of = limit.map(|l| format!(" of {}", mib(l))).unwrap_or_default();
    let head = format!("{role} peak {}{of} over {minutes} min", mib(peak));
    match (enough, suggested) {
        (false, _) => format!(
            "{head}; a size suggestion after {} min",
            ENOUGH.as_secs() / 60
        ),
        (true, Some(s)) => format!("{head} → {}", mib(s)),
        (true, None) => format!("{head}: the limit fits"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn stats(cpu: f64, mem_mib: u64, limit_mib: u64) -> ReplicaStats {
        ReplicaStats {
            cpu_percent: Some(cpu),
            memory_bytes: Some(mem_mib * MIB),
            memory_limit: Some(limit_mib * MIB),
        }
    }

    fn ten_minutes(h: &mut UsageHistory, peak_mib: u64) -> Instant {
        let t0 = Instant::now();
        for i in 0..300u64 {
            let mem = if i == 150 { peak_mib } else { 100 };
            h.record(
                "1.5.0",
                t0 + Duration::from_secs(2 * i),
                &[stats(40.0, mem, 256)],
            );
        }
        t0
    }

    #[test]
    fn ten_minutes_with_a_180_mib_peak_suggest_224_mib() {
        let mut h = UsageHistory::default();
        ten_minutes(&mut h, 180);
        let v = h.view(Role::Canary, None, Some(256 * MIB)).unwrap();
        assert_eq!(v.memory_peak, Some(180 * MIB));
        assert_eq!(v.suggested_memory, Some(224 * MIB));
        assert_eq!(
            v.summary,
            "canary peak 180 MiB of 256 MiB over 10 min → 224 MiB"
        );
        assert_eq!(v.memory_history.len(), 60);
        assert_eq!(*v.memory_history.iter().max().unwrap(), 180 * MIB);
    }

    #[test]
    fn a_limit_that_fits_is_left_alone_and_short_history_suggests_nothing() {
        let mut h = UsageHistory::default();
        ten_minutes(&mut h, 200);
        // 200 × 1.2 = 240 → 256 MiB: the limit it has.
        let v = h.view(Role::Stable, None, Some(256 * MIB)).unwrap();
        assert_eq!(v.suggested_memory, None);
        assert!(v.summary.ends_with("the limit fits"), "{}", v.summary);

        let mut short = UsageHistory::default();
        let t0 = Instant::now();
        short.record("2", t0, &[stats(10.0, 50, 256)]);
        short.record("2", t0 + Duration::from_secs(60), &[stats(10.0, 60, 256)]);
        let v = short.view(Role::Canary, None, None).unwrap();
        assert_eq!(v.suggested_memory, None);
        assert!(
            v.summary.contains("suggestion after 5 min"),
            "{}",
            v.summary
        );
    }

    #[test]
    fn a_new_version_starts_a_new_history_and_old_samples_age_out() {
        let mut h = UsageHistory::default();
        let t0 = ten_minutes(&mut h, 180);
        h.record(
            "1.6.0",
            t0 + Duration::from_secs(700),
            &[stats(5.0, 20, 64)],
        );
        let v = h.view(Role::Canary, None, None).unwrap();
        assert_eq!(v.memory_peak, Some(20 * MIB));
        let mut h = UsageHistory::default();
        let t0 = ten_minutes(&mut h, 180);
        // 1000 s on, the 180 MiB peak (at 300 s) is older than the span;
        // the later 100 MiB samples are not.
        h.record(
            "1.5.0",
            t0 + Duration::from_secs(1000),
            &[stats(5.0, 90, 256)],
        );
        assert_eq!(
            h.view(Role::Canary, None, None).unwrap().memory_peak,
            Some(100 * MIB)
        );
    }

    #[test]
    fn cpu_is_suggested_only_where_a_cpu_limit_is_set() {
        let mut h = UsageHistory::default();
        ten_minutes(&mut h, 100);
        assert_eq!(
            h.view(Role::Canary, None, None).unwrap().suggested_cpus,
            None
        );
        // 40 % of one CPU × 1.2 = 0.48 → 0.5.
        let v = h.view(Role::Canary, Some(2.0), None).unwrap();
        assert_eq!(v.suggested_cpus, Some(0.5));
    }
}
