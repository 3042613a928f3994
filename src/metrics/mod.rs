//! Per-version request metrics: counts by status class, cutover's own
//! 502/503/504, in-flight, and latency histograms in one-second windows
//! covering the last 6 minutes (`window`), plus the Prometheus text format
//! (`prometheus`).
//!
//! The request path calls [`Metrics::start`] when a request is routed and
//! [`InFlight::finish`] (or `abort`) when it ends: a few atomic operations
//! and the lock of the current second's bucket, no allocation. Readers lock
//! one bucket at a time (see `window`), so a scrape never stalls requests.
//! Lifetime totals only ever grow, so a baseline taken at a step start
//! ("errors since") stays valid and Prometheus counters are true counters.

mod ages;
pub mod compact;
mod prometheus;
pub use prometheus::merge as merge_expositions;
mod sticky_clients;
pub mod window;

use crate::model::{Role, VersionStats};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
pub use sticky_clients::Estimate as StickyEstimate;
use tokio::time::Instant;
use window::{Ring, is_error};

#[derive(Default)]
struct Side {
    ring: Ring,
    in_flight: AtomicU64,
    /// In-flight requests by the second they began (the drain view's age).
    ages: ages::Ages,
    /// Distinct sticky clients routed here lately (the drain view).
    sticky: sticky_clients::StickyClients,
    total_requests: AtomicU64,
    total_errors: AtomicU64,
    total_aborted: AtomicU64,
    /// Uploads the client did not finish in time (408, not the version's).
    total_client_timeouts: AtomicU64,
    /// Lifetime answers by class: 1xx, 2xx, 3xx, 4xx, 5xx.
    total_by_class: [AtomicU64; 5],
    /// Lifetime 502, 503, 504 answers.
    total_gateway: [AtomicU64; 3],
}

/// Lifetime counts of one version since the daemon started: they only grow
/// (a new canary's window reset leaves them alone).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lifetime {
    pub requests: u64,
    pub errors: u64,
    pub aborted: u64,
    /// Requests answered 408 because the client did not finish sending its
    /// body: like `aborted`, the client's doing, never in `requests`.
    pub client_timeouts: u64,
    /// 1xx, 2xx, 3xx, 4xx, 5xx.
    pub by_class: [u64; 5],
    /// 502, 503, 504.
    pub gateway: [u64; 3],
}

/// Shared as `Arc<Metrics>` by the proxy, the controller and the admin API.
pub struct Metrics {
    sides: [Arc<Side>; 2],
    clock: Clock,
    /// Public client connections open now, and the cap on them.
    public_connections: AtomicU64,
    public_connection_limit: AtomicU64,
}

/// The seconds the windows are indexed by.
#[derive(Clone, Copy)]
enum Clock {
    /// Seconds since the metrics were created.
    Since(Instant),
    /// Seconds set by a test.
    #[cfg(test)]
    Manual(&'static AtomicU64),
}

impl Clock {
    fn now_sec(self) -> u64 {
        match self {
            Clock::Since(epoch) => epoch.elapsed().as_secs(),
            #[cfg(test)]
            Clock::Manual(s) => s.load(Ordering::SeqCst),
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics {
            sides: [Arc::new(Side::default()), Arc::new(Side::default())],
            clock: Clock::Since(Instant::now()),
            public_connections: AtomicU64::new(0),
            public_connection_limit: AtomicU64::new(0),
        }
    }

    /// Metrics on a clock the test moves (the seconds it returns).
    #[cfg(test)]
    fn manual() -> (Metrics, &'static AtomicU64) {
        let secs: &'static AtomicU64 = Box::leak(Box::new(AtomicU64::new(1_000)));
        let m = Metrics {
            clock: Clock::Manual(secs),
            ..Metrics::new()
        };
        (m, secs)
    }

    /// The second the windows are at now (seconds since the metrics began).
    pub fn now_sec(&self) -> u64 {
        self.clock.now_sec()
    }

    /// What `role` served in second `sec` alone (a completed second, for
    /// the journal and the latency guards).
    pub fn second(&self, role: Role, sec: u64) -> crate::model::SecondSample {
        let (c, latency) = self.side(role).ring.second(sec);
        crate::model::SecondSample {
            requests: c.requests,
            failures: c.errors,
            latency,
        }
    }

    fn side(&self, role: Role) -> &Arc<Side> {
        &self.sides[role.index()]
    }

    /// A request was routed to `role`; it is in flight until the returned
    /// guard is finished, aborted or dropped.
    pub fn start(&self, role: Role) -> InFlight {
        let side = self.side(role).clone();
        side.in_flight.fetch_add(1, Ordering::Relaxed);
        let started = self.clock.now_sec();
        side.ages.begin(started);
        InFlight {
            side: Some(side),
            clock: self.clock,
            started,
        }
    }

    /// Whole seconds the oldest request of `role` still in flight has run.
    pub fn oldest_in_flight(&self, role: Role) -> Option<u64> {
        self.side(role).ages.oldest(self.now_sec())
    }

    /// A request carrying a sticky key (hashed to `hash`) was routed to `role`.
    pub fn sticky_seen(&self, role: Role, hash: u64) {
        self.side(role).sticky.seen(self.now_sec(), hash);
    }

    /// About how many distinct sticky clients `role` served in the last
    /// one to two minutes.
    pub fn sticky_clients(&self, role: Role) -> StickyEstimate {
        self.side(role).sticky.estimate(self.now_sec())
    }

    /// Clear `role`'s windows (a new canary starts from zero). Lifetime
    /// totals are kept: they are baselines for "since" counts.
    pub fn reset(&self, role: Role) {
        self.side(role).ring.clear();
    }

    /// Lifetime counts of `role` (monotonic).
    pub fn lifetime(&self, role: Role) -> Lifetime {
        let s = self.side(role);
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Lifetime {
            requests: load(&s.total_requests),
            errors: load(&s.total_errors),
            aborted: load(&s.total_aborted),
            client_timeouts: load(&s.total_client_timeouts),
            by_class: std::array::from_fn(|i| load(&s.total_by_class[i])),
            gateway: std::array::from_fn(|i| load(&s.total_gateway[i])),
        }
    }

    /// The merged window of `role` (at least one second), for the
    /// exposition's sums.
    fn merged(&self, role: Role, window: Duration) -> window::Merged {
        self.side(role)
            .ring
            .merge(self.now_sec(), window.as_secs().max(1))
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
        let merged = side.ring.merge(self.now_sec(), secs);
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

    /// A public client connection was accepted.
    pub fn public_connection_opened(&self) {
        self.public_connections.fetch_add(1, Ordering::Relaxed);
    }

    /// A public client connection closed.
    pub fn public_connection_closed(&self) {
        self.public_connections.fetch_sub(1, Ordering::Relaxed);
    }

    /// Public client connections open now.
    pub fn public_connections(&self) -> u64 {
        self.public_connections.load(Ordering::Relaxed)
    }

    /// The cap on public connections (`proxy.max_connections`, resolved).
    pub fn set_public_connection_limit(&self, max: u64) {
        self.public_connection_limit.store(max, Ordering::Relaxed);
    }

    pub fn public_connection_limit(&self) -> u64 {
        self.public_connection_limit.load(Ordering::Relaxed)
    }

    /// The Prometheus text exposition of everything above.
    pub fn prometheus(&self, service: &str, weight_permille: u16, versions: [&str; 2]) -> String {
        prometheus::render(self, service, weight_permille, versions)
    }
}

/// One routed request. Exactly one of finish / abort / drop accounts for it.
pub struct InFlight {
    side: Option<Arc<Side>>,
    clock: Clock,
    /// The second it began in (for [`Metrics::oldest_in_flight`]).
    started: u64,
}

impl InFlight {
    /// The request was answered with `status` after `latency` (to the head).
    pub fn finish(mut self, status: u16, latency: Duration) {
        if let Some(side) = self.side.take() {
            let now = self.clock.now_sec();
            side.ring.record(
                now,
                status,
                latency.as_micros().min(u128::from(u64::MAX)) as u64,
            );
            side.total_requests.fetch_add(1, Ordering::SeqCst);
            let class = usize::from(status / 100).clamp(1, 5) - 1;
            side.total_by_class[class].fetch_add(1, Ordering::Relaxed);
            if is_error(status) {
                side.total_errors.fetch_add(1, Ordering::SeqCst);
                if let 502..=504 = status {
                    side.total_gateway[usize::from(status - 502)].fetch_add(1, Ordering::Relaxed);
                }
            }
            side.ages.end(self.started);
            side.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// The client went away before an answer: not the version's error.
    pub fn abort(mut self) {
        self.abort_inner();
    }

    /// The client did not finish sending its request body in time (408):
    /// like an abort, the client's doing — not a request the version
    /// answered, not its error — but counted apart, so a flood of stalled
    /// uploads is visible.
    pub fn client_timeout(mut self) {
        if let Some(side) = self.side.take() {
            side.total_client_timeouts.fetch_add(1, Ordering::SeqCst);
            side.ages.end(self.started);
            side.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }

    fn abort_inner(&mut self) {
        if let Some(side) = self.side.take() {
            side.total_aborted.fetch_add(1, Ordering::SeqCst);
            side.ages.end(self.started);
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
        let d = m.start(Role::Canary);
        assert_eq!(m.in_flight(Role::Canary), 4);
        a.finish(503, Duration::from_millis(2));
        b.abort();
        drop(c);
        d.client_timeout();
        let s = m.stats(Role::Canary, Duration::from_secs(10));
        assert_eq!(s.in_flight, 0);
        assert_eq!((s.requests, s.errors, s.status_503), (1, 1, 1));
        assert_eq!(s.total_aborted, 2);
        assert_eq!(m.errors_total(Role::Canary), 1);
        let l = m.lifetime(Role::Canary);
        assert_eq!((l.requests, l.aborted, l.client_timeouts), (1, 2, 1));
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

    /// The 5-minute window through the metrics' clock (moved by the test):
    /// a sample 299 s old still counts, one 301 s old does not.
    #[test]
    fn five_minute_window_through_the_clock() {
        let five = Duration::from_secs(300);
        let (m, clock) = Metrics::manual();
        let advance = |s: u64| clock.fetch_add(s, Ordering::SeqCst);
        m.start(Role::Canary).finish(500, Duration::from_millis(1));
        advance(2);
        m.start(Role::Canary).finish(200, Duration::from_millis(1));
        advance(299);
        // The 500 is 301 s old, the 200 is 299 s old.
        let s = m.stats(Role::Canary, five);
        assert_eq!((s.requests, s.errors), (1, 0), "{s:?}");
        advance(2);
        assert_eq!(m.stats(Role::Canary, five).requests, 0);
        // The lifetime counts never forget.
        let l = m.lifetime(Role::Canary);
        assert_eq!(
            (l.requests, l.errors, l.by_class[1], l.by_class[4]),
            (2, 1, 1, 1)
        );
    }

    #[test]
    fn lifetime_counts_by_class_and_gateway_code() {
        let m = Metrics::new();
        for s in [101, 200, 204, 301, 404, 500, 502, 503, 504, 504] {
            m.start(Role::Stable).finish(s, Duration::from_millis(1));
        }
        m.start(Role::Stable).abort();
        let l = m.lifetime(Role::Stable);
        assert_eq!(l.requests, 10);
        assert_eq!(l.errors, 5);
        assert_eq!(l.aborted, 1);
        assert_eq!(l.by_class, [1, 2, 1, 1, 5]);
        assert_eq!(l.gateway, [1, 1, 2]);
        m.reset(Role::Stable);
        assert_eq!(
            m.lifetime(Role::Stable),
            l,
            "a window reset keeps lifetime counts"
        );
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
