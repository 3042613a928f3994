//! Graph history: one sample per second per version (error rate, p99, req/s)
//! over the last five minutes, built from the `Tick`s and `Snapshot`s the
//! daemon streams. This is view state: the daemon keeps its own windows; the
//! cockpit only remembers what it has already been shown, to draw lines.

use crate::model::{Role, VersionStats};
use chrono::{DateTime, Utc};
use std::collections::VecDeque;

/// How many seconds of history the graphs keep.
pub const SECONDS: usize = crate::model::GRAPH_SECONDS;

/// One version's figures at one second.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Point {
    pub error_rate: Option<f64>,
    pub p99_ms: Option<f64>,
    pub rps: f64,
}

impl From<&VersionStats> for Point {
    fn from(s: &VersionStats) -> Point {
        Point {
            error_rate: s.error_rate,
            p99_ms: s.p99_ms,
            rps: s.rps,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Unix second.
    pub at: i64,
    pub stable: Point,
    pub canary: Option<Point>,
}

/// A ring of the last [`SECONDS`] samples, one per second at most.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    samples: VecDeque<Sample>,
}

/// Which figure a graph shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Percent of requests that failed.
    ErrorPercent,
    P99Ms,
    Rps,
}

impl History {
    /// Record the figures of second `at`; a second already recorded is
    /// overwritten (a tick and a snapshot of the same second agree), and a
    /// sample older than the newest one (a replay seeking back) starts over.
    pub fn record(
        &mut self,
        at: DateTime<Utc>,
        stable: &VersionStats,
        canary: Option<&VersionStats>,
    ) {
        let sec = at.timestamp();
        let sample = Sample {
            at: sec,
            stable: stable.into(),
            canary: canary.map(Point::from),
        };
        match self.samples.back() {
            Some(last) if last.at == sec => {
                *self.samples.back_mut().expect("non-empty") = sample;
                return;
            }
            Some(last) if last.at > sec => self.samples.clear(),
            _ => {}
        }
        self.samples.push_back(sample);
        while self.samples.len() > SECONDS {
            self.samples.pop_front();
        }
        // Drop what fell out of the window (gaps while disconnected).
        while self
            .samples
            .front()
            .is_some_and(|s| s.at <= sec - SECONDS as i64)
        {
            self.samples.pop_front();
        }
    }

    /// Fill in a second from before the newest one (the tick backlog the
    /// daemon sends on attach): placed in order, ignored when that second
    /// is already kept (a reconnect sends the backlog again) or is older
    /// than the window. Unlike [`History::record`] it never starts over.
    pub fn backfill(
        &mut self,
        at: DateTime<Utc>,
        stable: &VersionStats,
        canary: Option<&VersionStats>,
    ) {
        let sec = at.timestamp();
        let Some(newest) = self.samples.back().map(|s| s.at) else {
            self.record(at, stable, canary);
            return;
        };
        if sec > newest {
            self.record(at, stable, canary);
            return;
        }
        if sec <= newest - SECONDS as i64 {
            return;
        }
        let i = self.samples.partition_point(|s| s.at < sec);
        if self.samples.get(i).is_some_and(|s| s.at == sec) {
            return;
        }
        self.samples.insert(
            i,
            Sample {
                at: sec,
                stable: stable.into(),
                canary: canary.map(Point::from),
            },
        );
    }

    pub fn clear(&mut self) {
        self.samples.clear();
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    pub fn newest(&self) -> Option<&Sample> {
        self.samples.back()
    }

    /// `(seconds relative to now, value)` points of one version's figure,
    /// `now` being the newest sample; seconds without a value are skipped.
    pub fn series(&self, role: Role, metric: Metric) -> Vec<(f64, f64)> {
        let Some(now) = self.samples.back().map(|s| s.at) else {
            return Vec::new();
        };
        self.samples
            .iter()
            .filter_map(|s| value(s, role, metric).map(|v| ((s.at - now) as f64, v)))
            .collect()
    }

    /// Seconds from the oldest sample kept to the newest (0 with fewer
    /// than two samples).
    pub fn span_secs(&self) -> u64 {
        match (self.samples.front(), self.samples.back()) {
            (Some(a), Some(b)) => (b.at - a.at).max(0) as u64,
            _ => 0,
        }
    }

    /// The newest value of one version's figure (what the legend shows),
    /// without building the whole series.
    pub fn latest(&self, role: Role, metric: Metric) -> Option<f64> {
        self.samples
            .iter()
            .rev()
            .find_map(|s| value(s, role, metric))
    }

    /// The largest value of a figure over both versions (for the y axis).
    pub fn max(&self, metric: Metric) -> f64 {
        Role::ALL
            .iter()
            .flat_map(|r| self.series(*r, metric))
            .map(|(_, v)| v)
            .fold(0.0, f64::max)
    }
}

/// One version's figure in one sample, if it has a finite one.
fn value(s: &Sample, role: Role, metric: Metric) -> Option<f64> {
    let p = match role {
        Role::Stable => Some(&s.stable),
        Role::Canary => s.canary.as_ref(),
    }?;
    let v = match metric {
        Metric::ErrorPercent => p.error_rate.map(|r| r * 100.0),
        Metric::P99Ms => p.p99_ms,
        Metric::Rps => Some(p.rps),
    }?;
    v.is_finite().then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn stats(rps: f64, rate: Option<f64>) -> VersionStats {
        VersionStats {
            rps,
            error_rate: rate,
            p99_ms: Some(rps * 2.0),
            ..VersionStats::default()
        }
    }

    #[test]
    fn one_sample_per_second_overwriting_and_bounded() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut h = History::default();
        for i in 0..400 {
            let at = t0 + chrono::Duration::seconds(i);
            h.record(at, &stats(i as f64, None), None);
            h.record(at, &stats(i as f64 + 0.5, Some(0.01)), None);
        }
        assert_eq!(h.len(), SECONDS);
        assert_eq!(h.span_secs(), SECONDS as u64 - 1);
        let s = h.series(Role::Stable, Metric::Rps);
        assert_eq!(s.last(), Some(&(0.0, 399.5)));
        assert_eq!(s.first(), Some(&(-299.0, 100.5)));
        assert!(h.series(Role::Canary, Metric::Rps).is_empty());
        let e = h.series(Role::Stable, Metric::ErrorPercent);
        assert_eq!(e.last(), Some(&(0.0, 1.0)));
    }

    #[test]
    fn backfill_places_past_seconds_in_order_once() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let at = |i: i64| t0 + chrono::Duration::seconds(i);
        let mut h = History::default();
        // Attach: the snapshot's second first, then the backlog, oldest first.
        h.record(at(400), &stats(400.0, None), None);
        for i in [50, 100, 101, 399, 400] {
            h.backfill(at(i), &stats(i as f64 + 0.5, None), None);
        }
        let s = h.series(Role::Stable, Metric::Rps);
        assert_eq!(
            s,
            vec![(-300.0 + 1.0, 101.5), (-1.0, 399.5), (0.0, 400.0)],
            "in order; out of the window dropped; second 100 is 300 s old; 400 kept"
        );
        // A reconnect sends the same backlog again: nothing doubles.
        h.backfill(at(399), &stats(0.0, None), None);
        assert_eq!(h.len(), 3);
        // Newer than everything: an ordinary record.
        h.backfill(at(401), &stats(401.0, None), None);
        assert_eq!(h.latest(Role::Stable, Metric::Rps), Some(401.0));
    }

    #[test]
    fn going_back_in_time_starts_over_and_gaps_age_out() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut h = History::default();
        h.record(t0, &stats(1.0, None), None);
        h.record(t0 + chrono::Duration::seconds(10), &stats(2.0, None), None);
        h.record(t0 + chrono::Duration::seconds(5), &stats(3.0, None), None);
        assert_eq!(h.len(), 1);
        h.record(t0 + chrono::Duration::seconds(900), &stats(4.0, None), None);
        assert_eq!(h.len(), 1);
    }
}
