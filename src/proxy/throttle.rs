//! A rate limit for warnings that can repeat thousands of times a second
//! (a full connection table, `accept` failing for want of descriptors): the
//! first occurrence is logged at once, later ones within the interval are
//! only counted, and the next line after the interval says how many there
//! were. The log stays readable and bounded — one line per interval at most —
//! and nothing is lost from the count.
//!
//! Pure: the time comes in as a value, so the table test needs no clock.

use std::time::{Duration, Instant};

/// How often each throttled warning may be written.
pub const WARN_EVERY: Duration = Duration::from_secs(10);

/// One throttled warning.
#[derive(Debug)]
pub struct Throttle {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    pub fn new(every: Duration) -> Throttle {
        Throttle {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// Note one occurrence at `now`. `Some(n)`: write a line now, saying it
    /// also stands for `n` occurrences not written since the last line.
    /// `None`: counted, not written.
    pub fn note(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(t) if now.saturating_duration_since(t) < self.every => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

/// The tail of a throttled line: nothing, or how many were not written.
pub fn and_more(suppressed: u64) -> String {
    match suppressed {
        0 => String::new(),
        n => format!(" ({n} more since the last such warning)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_with_the_count_of_the_rest() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut t = Throttle::new(Duration::from_secs(10));
        // (time, expected)
        let table = [
            (0, Some(0)),
            (1, None),
            (5_000, None),
            (9_999, None),
            (10_000, Some(3)),
            (10_001, None),
            (30_000, Some(1)),
            (40_000, Some(0)),
        ];
        for (ms, want) in table {
            assert_eq!(t.note(at(ms)), want, "at {ms} ms");
        }
        // A million occurrences in one interval: one line, the count kept.
        let mut t = Throttle::new(Duration::from_secs(10));
        let lines = (0..1_000_000u64)
            .filter_map(|i| t.note(at(i / 1000)))
            .count();
        assert_eq!(lines, 1);
        assert_eq!(t.note(at(10_000)), Some(999_999));
        assert_eq!(and_more(0), "");
        assert_eq!(and_more(2), " (2 more since the last such warning)");
    }
}
