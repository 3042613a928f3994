//! The pure core of the metrics: a fixed ring of one-second buckets per
//! version, each with its counters and a latency histogram, indexed by an
//! explicit second so it is tested without a clock (the second is the
//! ring's clock injection: callers pass it in).
//!
//! Memory is bounded (see DESIGN.md: unbounded per-key histograms ate
//! gigabytes elsewhere) and buckets are reused as the ring turns: a bucket
//! whose second is stale is cleared when written, and ignored when read. A
//! bucket's histogram (about 10 KiB) is made the first time a request lands
//! in it and kept from then on: an idle daemon holds none of the 720 (7 MiB),
//! a busy one all of them, as before.
//!
//! Each bucket has its own lock. The request path locks only the bucket of
//! the current second; a reader (a `/metrics` scrape, a guard tick) locks
//! one bucket at a time while it folds that bucket into its result, so a
//! request waits at most for one histogram addition, never for a whole
//! 300-second merge.

use hdrhistogram::Histogram;
use std::sync::{Mutex, MutexGuard};

/// Seconds of history kept: the 5 minutes the cockpit graphs, plus margin.
pub const RING_SECS: usize = 360;
/// Latencies are recorded in microseconds, from 1 µs to 60 s, 2 significant figures.
const MAX_LATENCY_US: u64 = 60_000_000;

/// Response counts of one bucket (or of a merged window).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub requests: u64,
    pub errors: u64,
    pub s2xx: u64,
    pub s3xx: u64,
    pub s4xx: u64,
    pub s5xx: u64,
    pub s502: u64,
    pub s503: u64,
    pub s504: u64,
}

impl Counts {
    pub fn add_status(&mut self, status: u16) {
        self.requests += 1;
        match status {
            200..=299 => self.s2xx += 1,
            300..=399 => self.s3xx += 1,
            400..=499 => self.s4xx += 1,
            500..=599 => {
                self.s5xx += 1;
                self.errors += 1;
                match status {
                    502 => self.s502 += 1,
                    503 => self.s503 += 1,
                    504 => self.s504 += 1,
                    _ => {}
                }
            }
            _ => {}
        }
    }

    fn merge(&mut self, o: &Counts) {
        self.requests += o.requests;
        self.errors += o.errors;
        self.s2xx += o.s2xx;
        self.s3xx += o.s3xx;
        self.s4xx += o.s4xx;
        self.s5xx += o.s5xx;
        self.s502 += o.s502;
        self.s503 += o.s503;
        self.s504 += o.s504;
    }
}

/// Whether a status counts as the version's error (5xx, including the
/// 502/503/504 cutover answers itself).
pub fn is_error(status: u16) -> bool {
    (500..=599).contains(&status)
}

struct Bucket {
    /// The second this bucket holds; `u64::MAX` = never written.
    sec: u64,
    counts: Counts,
    /// Made on the bucket's first request (see the module's doc).
    latency: Option<Histogram<u32>>,
    /// Sum of the recorded latencies, for a summary's `_sum`.
    latency_sum_us: u64,
}

impl Bucket {
    fn empty() -> Bucket {
        Bucket {
            sec: u64::MAX,
            counts: Counts::default(),
            latency: None,
            latency_sum_us: 0,
        }
    }

    fn clear(&mut self) {
        self.counts = Counts::default();
        if let Some(h) = &mut self.latency {
            h.reset();
        }
        self.latency_sum_us = 0;
    }
}

/// A merged view of several seconds.
#[derive(Debug)]
pub struct Merged {
    pub counts: Counts,
    pub latency: Histogram<u32>,
    /// Sum of the latencies in the window, in microseconds.
    pub latency_sum_us: u64,
    /// Requests completed in the last full second.
    pub last_second: u64,
}

impl Merged {
    /// Latency at quantile `q` in milliseconds, `None` with no samples.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        (!self.latency.is_empty()).then(|| self.latency.value_at_quantile(q) as f64 / 1000.0)
    }
}

fn histogram() -> Histogram<u32> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 2).expect("static histogram bounds are valid")
}

pub struct Ring {
    buckets: Box<[Mutex<Bucket>]>,
}

impl Default for Ring {
    fn default() -> Self {
        Ring::new()
    }
}

impl Ring {
    pub fn new() -> Ring {
        Ring {
            buckets: (0..RING_SECS)
                .map(|_| Mutex::new(Bucket::empty()))
                .collect(),
        }
    }

    fn slot(&self, sec: u64) -> MutexGuard<'_, Bucket> {
        // A panic while holding a bucket cannot leave it half-updated in a
        // way that matters more than losing metrics: keep serving.
        self.buckets[(sec % RING_SECS as u64) as usize]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Record one completed request at second `now`.
    pub fn record(&self, now: u64, status: u16, latency_us: u64) {
        let mut b = self.slot(now);
        if b.sec != now {
            b.sec = now;
            b.clear();
        }
        let latency_us = latency_us.clamp(1, MAX_LATENCY_US);
        b.counts.add_status(status);
        b.latency
            .get_or_insert_with(histogram)
            .saturating_record(latency_us);
        b.latency_sum_us = b.latency_sum_us.saturating_add(latency_us);
    }

    /// Merge the `window` seconds ending with `now` (the current, partial
    /// second included): seconds `now - window + 1 ..= now`. A sample
    /// recorded 299 s before `now` is in a 300 s window; one 300 s or more
    /// before is not.
    pub fn merge(&self, now: u64, window: u64) -> Merged {
        let window = window.clamp(1, RING_SECS as u64 - 1);
        let first = now.saturating_sub(window - 1);
        let mut out = Merged {
            counts: Counts::default(),
            latency: histogram(),
            latency_sum_us: 0,
            last_second: 0,
        };
        for sec in first..=now {
            let b = self.slot(sec);
            if b.sec != sec || b.counts.requests == 0 {
                continue;
            }
            out.counts.merge(&b.counts);
            out.latency_sum_us = out.latency_sum_us.saturating_add(b.latency_sum_us);
            if let Some(h) = &b.latency {
                let _ = out.latency.add(h);
            }
            if sec + 1 == now {
                out.last_second = b.counts.requests;
            }
        }
        if now > 0 && first == now {
            // A one-second window still reports the last full second.
            let b = self.slot(now - 1);
            if b.sec == now - 1 {
                out.last_second = b.counts.requests;
            }
        }
        out
    }

    /// The counts and latencies of second `sec` alone, as the journal's
    /// per-second sample and the latency guards take them; empty when the
    /// ring holds nothing for that second.
    pub fn second(&self, sec: u64) -> (Counts, super::compact::LatencyHist) {
        let b = self.slot(sec);
        if b.sec != sec || b.counts.requests == 0 {
            return (Counts::default(), super::compact::LatencyHist::default());
        }
        let latency = b
            .latency
            .as_ref()
            .map(super::compact::LatencyHist::from_hdr)
            .unwrap_or_default();
        (b.counts, latency)
    }

    /// Forget everything (a new canary release starts from zero).
    pub fn clear(&self) {
        for b in &self.buckets {
            let mut b = b.lock().unwrap_or_else(|e| e.into_inner());
            b.sec = u64::MAX;
            b.clear();
        }
    }

    /// Hold the lock of the bucket of second `sec`, as a reader does while it
    /// folds that bucket in (tests show what a writer can do meanwhile).
    #[cfg(test)]
    fn hold(&self, sec: u64) -> MutexGuard<'_, Bucket> {
        self.slot(sec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_class() {
        let r = Ring::new();
        for s in [200, 201, 302, 404, 500, 502, 503, 504, 504] {
            r.record(10, s, 1000);
        }
        let m = r.merge(10, 10);
        assert_eq!(m.counts.requests, 9);
        assert_eq!(m.counts.errors, 5);
        assert_eq!(
            (m.counts.s2xx, m.counts.s3xx, m.counts.s4xx, m.counts.s5xx),
            (2, 1, 1, 5)
        );
        assert_eq!((m.counts.s502, m.counts.s503, m.counts.s504), (1, 1, 2));
    }

    #[test]
    fn window_edges_and_last_second() {
        let r = Ring::new();
        r.record(100, 200, 1000); // outside a 10 s window ending at 110
        r.record(101, 200, 1000); // first second of it
        r.record(109, 500, 1000);
        r.record(109, 200, 1000);
        r.record(110, 200, 1000); // current, partial second
        let m = r.merge(110, 10);
        assert_eq!(m.counts.requests, 4);
        assert_eq!(m.counts.errors, 1);
        assert_eq!(m.last_second, 2);
    }

    #[test]
    fn the_ring_forgets_after_a_lap() {
        let r = Ring::new();
        r.record(5, 500, 1000);
        r.record(5 + RING_SECS as u64, 200, 1000); // same slot, a lap later
        let m = r.merge(5 + RING_SECS as u64, 300);
        assert_eq!(m.counts.requests, 1);
        assert_eq!(m.counts.errors, 0);
        // A long gap: old data never leaks into a new window.
        let m = r.merge(10_000, 60);
        assert_eq!(m.counts.requests, 0);
        assert_eq!(m.quantile_ms(0.99), None);
    }

    #[test]
    fn five_minute_window_edge() {
        let now = 1_000u64;
        let r = Ring::new();
        r.record(now - 299, 500, 1000); // 299 s old: inside the last 5 minutes
        r.record(now - 301, 200, 1000); // 301 s old: outside
        r.record(now - 305, 200, 1000);
        let m = r.merge(now, 300);
        assert_eq!(m.counts.requests, 1);
        assert_eq!(m.counts.errors, 1);
        // The boundary second itself: 300 s old is out, 299 s old is in.
        let r = Ring::new();
        r.record(now - 300, 200, 1000);
        assert_eq!(r.merge(now, 300).counts.requests, 0);
        assert_eq!(r.merge(now - 1, 300).counts.requests, 1);
    }

    #[test]
    fn a_reader_on_an_old_bucket_never_blocks_the_current_second() {
        let r = Ring::new();
        r.record(40, 200, 1000);
        // A reader folding in second 40 holds its bucket; the request path
        // writes second 41 under its own lock. (With one lock for the whole
        // ring this would deadlock, as a std mutex held on the same thread.)
        let reading = r.hold(40);
        r.record(41, 200, 2000);
        r.record(41, 503, 3000);
        drop(reading);
        let m = r.merge(41, 2);
        assert_eq!(m.counts.requests, 3);
        assert_eq!(m.counts.s503, 1);
        assert_eq!(m.latency_sum_us, 6000);
    }

    #[test]
    fn concurrent_writers_and_readers_sum_exactly() {
        let r = std::sync::Arc::new(Ring::new());
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Everyone starts together, so the reader merges while writers write
        // even on a loaded machine.
        let start = std::sync::Arc::new(std::sync::Barrier::new(3));
        let reader = {
            let (r, stop, start) = (r.clone(), stop.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                let mut merges = 0u64;
                loop {
                    let _ = r.merge(3, 300);
                    merges += 1;
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        return merges;
                    }
                }
            })
        };
        let writers: Vec<_> = (0..2)
            .map(|_| {
                let (r, start) = (r.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    for i in 0..20_000u64 {
                        r.record(i % 4, 200, i % 997 + 1);
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
        let m = r.merge(3, 300);
        assert_eq!(m.counts.requests, 40_000);
        assert_eq!(m.latency.len(), 40_000);
    }

    #[test]
    fn percentiles_within_histogram_precision() {
        let r = Ring::new();
        for i in 1..=1000u64 {
            r.record(1, 200, i * 1000); // 1 ms .. 1000 ms
        }
        let m = r.merge(1, 10);
        let p50 = m.quantile_ms(0.5).unwrap();
        let p99 = m.quantile_ms(0.99).unwrap();
        assert!((495.0..=505.0).contains(&p50), "{p50}");
        assert!((985.0..=1000.0).contains(&p99), "{p99}");
    }
}
