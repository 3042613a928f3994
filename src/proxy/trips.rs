//! The request-path trips: what must roll a canary back faster than the
//! controller's 250 ms guard loop, decided on the very request that crosses
//! the line.
//!
//! - **In a row** (`guard.trip_after`): N canary failures in a row while
//!   stable's latest answer was good. A canary that fails (nearly) every
//!   request is zeroed within the request; a healthy canary with any
//!   plausible baseline error rate never gets there (at a 5 % baseline, ten
//!   in a row is one chance in 10¹³ per request), and when stable fails too
//!   the trouble is shared, not the canary's, so the trip holds back and
//!   the statistical guards judge.
//! - **Budget** (`guard.max_failed_requests`): the release's N-th client
//!   request that got a canary failure. Counted from the release's start.
//!
//! On the request path this is a handful of relaxed atomic loads; a store
//! only when a failure run starts, grows or ends.

use crate::metrics::Metrics;
use crate::model::Role;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use tokio::sync::watch;

const OFF: u64 = u64::MAX;

/// The request-path trips, as the proxy arms them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Trips {
    /// This many canary failures in a row while stable's latest answer was
    /// good (`guard.trip_after`).
    pub in_a_row: Option<u64>,
    /// This many canary failures in the release (`guard.max_failed_requests`).
    pub budget: Option<u64>,
}

impl Trips {
    pub const OFF: Trips = Trips {
        in_a_row: None,
        budget: None,
    };
}

/// Which trip fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tripped {
    /// `n` canary failures in a row.
    InARow(u64),
    /// `n` failed requests in the release.
    Budget(u64),
}

const NONE: u8 = 0;
const IN_A_ROW: u8 = 1;
const BUDGET: u8 = 2;

/// The trips' state, shared by every request.
#[derive(Debug)]
pub struct TripWire {
    in_a_row: AtomicU64,
    budget: AtomicU64,
    /// Canary `errors_total` when the release began.
    base: AtomicU64,
    /// Failed requests of this release counted by the daemon this one took
    /// over from (its metrics stayed with it).
    carried: AtomicU64,
    /// Canary failures in a row right now.
    run: AtomicU64,
    /// Stable's latest answer was a failure.
    stable_failing: AtomicBool,
    fired: AtomicBool,
    /// What fired last ([`IN_A_ROW`], [`BUDGET`]) and its figure.
    kind: AtomicU8,
    figure: AtomicU64,
    count: watch::Sender<u64>,
}

impl Default for TripWire {
    fn default() -> Self {
        TripWire {
            in_a_row: AtomicU64::new(OFF),
            budget: AtomicU64::new(OFF),
            base: AtomicU64::new(0),
            carried: AtomicU64::new(0),
            run: AtomicU64::new(0),
            stable_failing: AtomicBool::new(false),
            fired: AtomicBool::new(false),
            kind: AtomicU8::new(NONE),
            figure: AtomicU64::new(0),
            count: watch::channel(0).0,
        }
    }
}

impl TripWire {
    /// Arm (or with [`Trips::OFF`] disarm) both trips. A run of failures
    /// from before (while muted, under other thresholds) is not held
    /// against the canary: the run counts from here.
    pub fn arm(&self, trips: Trips) {
        self.fired.store(false, Ordering::SeqCst);
        self.run.store(0, Ordering::SeqCst);
        self.in_a_row
            .store(trips.in_a_row.unwrap_or(OFF), Ordering::SeqCst);
        self.budget
            .store(trips.budget.unwrap_or(OFF), Ordering::SeqCst);
    }

    /// A release begins: its failures count from here, and no run carries over.
    pub fn start_release(&self, metrics: &Metrics) {
        self.base
            .store(metrics.errors_total(Role::Canary), Ordering::SeqCst);
        self.carried.store(0, Ordering::SeqCst);
        self.run.store(0, Ordering::SeqCst);
    }

    /// The release's failed requests so far, as a predecessor counted them.
    pub fn carry(&self, failed: u64) {
        self.carried.store(failed, Ordering::SeqCst);
    }

    /// Client requests that got a canary failure since the release began.
    pub fn failed_in_release(&self, metrics: &Metrics) -> u64 {
        metrics
            .errors_total(Role::Canary)
            .saturating_sub(self.base.load(Ordering::SeqCst))
            + self.carried.load(Ordering::SeqCst)
    }

    /// Canary failures in a row right now.
    pub fn run(&self) -> u64 {
        self.run.load(Ordering::Relaxed)
    }

    /// Stable's latest answer was a failure.
    pub fn stable_failing(&self) -> bool {
        self.stable_failing.load(Ordering::Relaxed)
    }

    /// Changes each time a trip fires.
    pub fn fired_count(&self) -> watch::Receiver<u64> {
        self.count.subscribe()
    }

    /// What fired last.
    pub fn last(&self) -> Option<Tripped> {
        let n = self.figure.load(Ordering::SeqCst);
        match self.kind.load(Ordering::SeqCst) {
            IN_A_ROW => Some(Tripped::InARow(n)),
            BUDGET => Some(Tripped::Budget(n)),
            _ => None,
        }
    }

    /// Account one finished request (after the metrics recorded it); true
    /// when this request fired a trip (the caller zeroes the weight).
    pub fn record(&self, role: Role, failed: bool, metrics: &Metrics) -> bool {
        match role {
            Role::Stable => {
                if self.stable_failing.load(Ordering::Relaxed) != failed {
                    self.stable_failing.store(failed, Ordering::Relaxed);
                }
                false
            }
            Role::Canary if !failed => {
                if self.run.load(Ordering::Relaxed) != 0 {
                    self.run.store(0, Ordering::Relaxed);
                }
                false
            }
            Role::Canary => {
                let run = self.run.fetch_add(1, Ordering::Relaxed) + 1;
                let in_a_row = self.in_a_row.load(Ordering::SeqCst);
                if in_a_row != OFF
                    && run >= in_a_row
                    && !self.stable_failing.load(Ordering::Relaxed)
                {
                    return self.fire(IN_A_ROW, run);
                }
                let budget = self.budget.load(Ordering::SeqCst);
                if budget != OFF {
                    let failed = self.failed_in_release(metrics);
                    if failed >= budget {
                        return self.fire(BUDGET, failed);
                    }
                }
                false
            }
        }
    }

    fn fire(&self, kind: u8, figure: u64) -> bool {
        if self.fired.swap(true, Ordering::SeqCst) {
            return false;
        }
        self.kind.store(kind, Ordering::SeqCst);
        self.figure.store(figure, Ordering::SeqCst);
        self.count.send_modify(|n| *n += 1);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn fail(m: &Metrics, w: &TripWire, role: Role) -> bool {
        m.start(role).finish(503, Duration::from_millis(1));
        w.record(role, true, m)
    }

    fn ok(m: &Metrics, w: &TripWire, role: Role) -> bool {
        m.start(role).finish(200, Duration::from_millis(1));
        w.record(role, false, m)
    }

    #[test]
    fn n_in_a_row_fires_once_and_a_success_breaks_the_run() {
        let (m, w) = (Metrics::new(), TripWire::default());
        w.arm(Trips {
            in_a_row: Some(3),
            budget: None,
        });
        assert!(!fail(&m, &w, Role::Canary));
        assert!(!fail(&m, &w, Role::Canary));
        assert!(!ok(&m, &w, Role::Canary));
        assert!(!fail(&m, &w, Role::Canary));
        assert!(!fail(&m, &w, Role::Canary));
        assert!(fail(&m, &w, Role::Canary), "the third in a row fires");
        assert!(!fail(&m, &w, Role::Canary), "once");
        assert_eq!(w.last(), Some(Tripped::InARow(3)));
        assert_eq!(*w.fired_count().borrow(), 1);
    }

    #[test]
    fn a_run_while_stable_fails_too_is_not_the_canarys() {
        let (m, w) = (Metrics::new(), TripWire::default());
        w.arm(Trips {
            in_a_row: Some(2),
            budget: None,
        });
        fail(&m, &w, Role::Stable);
        assert!(!fail(&m, &w, Role::Canary));
        assert!(!fail(&m, &w, Role::Canary));
        assert!(!fail(&m, &w, Role::Canary));
        ok(&m, &w, Role::Stable);
        assert!(
            fail(&m, &w, Role::Canary),
            "stable answers again: the run is the canary's"
        );
    }

    #[test]
    fn the_budget_counts_from_the_release_start() {
        let (m, w) = (Metrics::new(), TripWire::default());
        fail(&m, &w, Role::Canary);
        fail(&m, &w, Role::Canary);
        w.start_release(&m);
        w.arm(Trips {
            in_a_row: None,
            budget: Some(3),
        });
        assert!(!fail(&m, &w, Role::Canary));
        ok(&m, &w, Role::Canary);
        assert!(!fail(&m, &w, Role::Canary));
        // A re-arm (a step, an edit) keeps the release's count.
        w.arm(Trips {
            in_a_row: None,
            budget: Some(3),
        });
        assert!(fail(&m, &w, Role::Canary));
        assert_eq!(w.last(), Some(Tripped::Budget(3)));
        assert_eq!(w.failed_in_release(&m), 3);
    }

    #[test]
    fn disarmed_never_fires() {
        let (m, w) = (Metrics::new(), TripWire::default());
        w.arm(Trips::OFF);
        for _ in 0..100 {
            assert!(!fail(&m, &w, Role::Canary));
        }
        assert_eq!(w.run(), 100);
        w.arm(Trips {
            in_a_row: Some(3),
            budget: None,
        });
        assert_eq!(w.run(), 0, "armed: the run counts from here");
    }
}
