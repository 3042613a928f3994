//! Per-version request metrics: counts by status class, cutover's own
//! 502/503/504, in-flight, and latency histograms in one-second windows
//! covering the last 6 minutes (`window`), plus the Prometheus text format
//! (`prometheus`).
//!
//! The request path calls [`Metrics::start`] when a request is routed and
//! [`InFlight::finish`] (or `abort`) when it ends: two atomic operations and
//! one short lock, no allocation. Lifetime totals only ever grow, so a
//! baseline taken at a step start ("errors since") stays valid.

mod prometheus;
pub mod window;

use crate::model::{Role, VersionStats};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use window::{Ring, is_error};

#[derive(Default)]
struct Side {
    ring: Mutex<Ring>,
    in_flight: AtomicU64,
    total_requests: AtomicU64,
    total_errors: AtomicU64,
    total_aborted: AtomicU64,
}

/// Shared as `Arc<Metrics>` by the proxy, the controller and the admin API.
pub struct Metrics {
    sides: [Arc<Side>; 2],
    epoch: Instant,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

fn idx(role: Role) -> usize {
    match role {
        Role::Stable => 0,
        Role::Canary => 1,
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics {
            sides: [Arc::new(Side::default()), Arc::new(Side::default())],
            epoch: Instant::now(),
        }
    }

    fn now_sec(&self) -> u64 {
        self.epoch.elapsed().as_secs()
    }

    fn side(&self, role: Role) -> &Arc<Side> {
        &self.sides[idx(role)]
    }

    /// A request was routed to `role`; it is in flight until the returned
    /// guard is finished, aborted or dropped.
    pub fn start(&self, role: Role) -> InFlight {
        let side = self.side(role).clone();
        side.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight {
            side: Some(side),
            epoch: self.epoch,
        }
    }

    /// Clear `role`'s windows (a new canary starts from zero). Lifetime
    /// totals are kept: they are baselines for "since" counts.
    pub fn reset(&self, role: Role) {
        lock(&self.side(role).ring).clear();
    }

    /// Lifetime 5xx count of `role`.
    pub fn errors_total(&self, role: Role) -> u64 {
        self.side(role).total_errors.load(Ordering::SeqCst)
    }

    /// Lifetime completed requests of `role`.
    pub fn requests_total(&self, role: Role) -> u64 {
        self.side(role).total_requests.load(Ordering::SeqCst)
    }

    pub fn in_flight(&self, role: Role) -> u64 {
        self.side(role).in_flight.load(Ordering::SeqCst)
    }

    /// Figures of `role` over the last `window` (at least one second).
    pub fn stats(&self, role: Role, window: Duration) -> VersionStats {
        let side = self.side(role);
        let secs = window.as_secs().max(1);
        let merged = lock(&side.ring).merge(self.now_sec(), secs);
        let c = merged.counts;
        VersionStats {
            window_secs: secs as f64,
            requests: c.requests,
            errors: c.errors,
            error_rate: (c.requests > 0).then(|| c.errors as f64 / c.requests as f64),
            rps: merged.last_second as f64,
            p50_ms: merged.quantile_ms(0.5),
            p99_ms: merged.quantile_ms(0.99),
            status_2xx: c.s2xx,
            status_3xx: c.s3xx,
            status_4xx: c.s4xx,
            status_5xx: c.s5xx,
            status_502: c.s502,
            status_503: c.s503,
            status_504: c.s504,
            in_flight: side.in_flight.load(Ordering::SeqCst),
            total_requests: side.total_requests.load(Ordering::SeqCst),
            total_errors: side.total_errors.load(Ordering::SeqCst),
            total_aborted: side.total_aborted.load(Ordering::SeqCst),
        }
    }

    /// The Prometheus text exposition of everything above.
    pub fn prometheus(&self, service: &str, weight_permille: u16) -> String {
        prometheus::render(self, service, weight_permille)
    }
}

fn lock(m: &Mutex<Ring>) -> std::sync::MutexGuard<'_, Ring> {
    // A panic while holding the lock cannot leave a ring half-updated in a
    // way that matters more than losing metrics: keep serving.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One routed request. Exactly one of finish / abort / drop accounts for it.
pub struct InFlight {
    side: Option<Arc<Side>>,
    epoch: Instant,
}

impl InFlight {
    /// The request was answered with `status` after `latency` (to the head).
    pub fn finish(mut self, status: u16, latency: Duration) {
        if let Some(side) = self.side.take() {
            let now = self.epoch.elapsed().as_secs();
            lock(&side.ring).record(
                now,
                status,
                latency.as_micros().min(u128::from(u64::MAX)) as u64,
            );
            side.total_requests.fetch_add(1, Ordering::SeqCst);
            if is_error(status) {
                side.total_errors.fetch_add(1, Ordering::SeqCst);
            }
            side.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// The client went away before an answer: not the version's error.
    pub fn abort(mut self) {
        self.abort_inner();
    }

    fn abort_inner(&mut self) {
        if let Some(side) = self.side.take() {
            side.total_aborted.fetch_add(1, Ordering::SeqCst);
            side.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.abort_inner();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_abort_and_drop_each_count_once() {
        let m = Metrics::new();
        let a = m.start(Role::Canary);
        let b = m.start(Role::Canary);
        let c = m.start(Role::Canary);
        assert_eq!(m.in_flight(Role::Canary), 3);
        a.finish(503, Duration::from_millis(2));
        b.abort();
        drop(c);
        let s = m.stats(Role::Canary, Duration::from_secs(10));
        assert_eq!(s.in_flight, 0);
        assert_eq!((s.requests, s.errors, s.status_503), (1, 1, 1));
        assert_eq!(s.total_aborted, 2);
        assert_eq!(m.errors_total(Role::Canary), 1);
        assert_eq!(m.stats(Role::Stable, Duration::from_secs(10)).requests, 0);
    }

    #[test]
    fn concurrent_recording_sums_exactly() {
        let m = Arc::new(Metrics::new());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000u32 {
                        let status = if (i + t) % 10 == 0 { 500 } else { 200 };
                        m.start(Role::Stable)
                            .finish(status, Duration::from_micros(u64::from(i % 1000)));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let s = m.stats(Role::Stable, Duration::from_secs(300));
        assert_eq!(s.requests, 40_000);
        assert_eq!(s.errors, 4_000);
        assert_eq!(s.total_requests, 40_000);
        assert_eq!(s.in_flight, 0);
    }

    #[test]
    fn reset_clears_windows_but_keeps_totals() {
        let m = Metrics::new();
        m.start(Role::Canary).finish(500, Duration::from_millis(1));
        m.reset(Role::Canary);
        let s = m.stats(Role::Canary, Duration::from_secs(60));
        assert_eq!(s.requests, 0);
        assert_eq!(s.error_rate, None);
        assert_eq!(s.total_errors, 1);
    }
}
