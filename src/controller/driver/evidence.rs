//! Feeding the guards: what both versions served goes from the metrics into
//! the release's [`Judge`] (counts four times a second, latencies by whole
//! seconds) and into the journal's per-second sample, and the verdicts come
//! back to the machine as evidence, breaches and the proxy's trips.

use super::*;
use crate::guard::sequential::Tally;
use crate::guard::{Judge, PathCounts, evidence_ready};
use crate::metrics::window::RING_SECS;
use crate::model::{Guard, GuardStatus, TickSample};
use crate::proxy::Tripped;
use tokio::time::Instant;

/// The guards' feed: the judge and where the metrics were last read.
pub(super) struct Feed {
    judge: Judge,
    /// Lifetime (requests, errors) of canary and stable at the last increment.
    counted: (Tally, Tally),
    /// The first metrics second not taken yet.
    next_sec: u64,
    /// What the seconds taken since the last journal tick held.
    tick: TickSample,
    /// Whether `tick` holds any request.
    tick_any: bool,
    /// The feed's clock: milliseconds since this instant.
    epoch: Instant,
}

/// The guards' running tests as one daemon hands them to the next
/// (`cutover up --takeover`): the judge, and how far into it the clock was.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct EvidenceSnapshot {
    judge: Judge,
    at_ms: u64,
}

fn lifetime(m: &Metrics, role: Role) -> Tally {
    let l = m.lifetime(role);
    Tally::new(l.requests, l.errors)
}

impl Feed {
    pub(super) fn new(g: &GuardPlan, m: &Metrics) -> Feed {
        Feed {
            judge: Judge::new(g),
            counted: (lifetime(m, Role::Canary), lifetime(m, Role::Stable)),
            next_sec: m.now_sec(),
            tick: TickSample::default(),
            tick_any: false,
            epoch: Instant::now(),
        }
    }

    /// The running tests, to carry on in another daemon.
    pub(super) fn snapshot(&self) -> EvidenceSnapshot {
        EvidenceSnapshot {
            judge: self.judge.clone(),
            at_ms: self.at_ms(),
        }
    }

    /// Carry on the tests of `snap` if they were judged under `g` (a
    /// takeover with an edited plan starts afresh instead): the clock goes
    /// on from where it stood. Counts start from this daemon's metrics.
    pub(super) fn resume(&mut self, snap: EvidenceSnapshot, g: &GuardPlan) -> bool {
        if snap.judge.plan() != g {
            return false;
        }
        let Some(epoch) = Instant::now().checked_sub(Duration::from_millis(snap.at_ms)) else {
            return false;
        };
        self.judge = snap.judge;
        self.epoch = epoch;
        true
    }

    fn at_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Take the metrics seconds completed since the last call: into the
    /// journal's next sample always, into the judge when it is judging.
    fn take_seconds(&mut self, m: &Metrics, judging: bool) {
        let now = m.now_sec();
        let first = self.next_sec.max(now.saturating_sub(RING_SECS as u64 - 2));
        for sec in first..now {
            let s = m.second(Role::Stable, sec);
            let c = m.second(Role::Canary, sec);
            self.tick_any |= s.requests + c.requests > 0;
            if judging {
                let at = self.at_ms();
                self.judge.observe_second(at, &c.latency, &s.latency);
            }
            self.tick.stable.add(&s);
            self.tick.canary.add(&c);
        }
        self.next_sec = self.next_sec.max(now);
    }

    /// Requests and errors since the last increment, into the judge.
    fn take_counts(&mut self, m: &Metrics) {
        let (c, s) = (lifetime(m, Role::Canary), lifetime(m, Role::Stable));
        let delta = |now: Tally, before: Tally| {
            Tally::new(
                now.requests.saturating_sub(before.requests),
                now.failures.saturating_sub(before.failures),
            )
        };
        let at = self.at_ms();
        self.judge
            .observe_counts(at, delta(c, self.counted.0), delta(s, self.counted.1));
        self.counted = (c, s);
    }

    /// The journal's sample of the seconds since the last tick.
    pub(super) fn take_tick(&mut self) -> Option<TickSample> {
        let any = std::mem::take(&mut self.tick_any);
        let sample = std::mem::take(&mut self.tick);
        any.then_some(sample)
    }
}

impl Driver {
    /// The guards' evidence starts over under the thresholds in force.
    pub(super) fn restart_evidence(&mut self, release: bool) {
        let g = self.machine.state().guard(self.machine.plan()).clone();
        let m = &self.deps.metrics;
        let feed = &mut self.judging.evidence;
        feed.judge = Judge::new(&g);
        feed.counted = (lifetime(m, Role::Canary), lifetime(m, Role::Stable));
        if release {
            self.deps.router.start_release();
        }
    }

    /// Four times a second: take what was served, judge it, and tell the
    /// machine (evidence first, so a bake that ends now sees it; then the
    /// clock; then a breach).
    pub(super) fn guard_tick(&mut self) {
        self.autoscale_tick();
        self.heal();
        let st = self.machine.state();
        let judging = st.phase.takes_traffic();
        let muted = st.muted;
        let metrics = self.deps.metrics.clone();
        self.judging.evidence.take_seconds(&metrics, judging);
        if !judging {
            self.judging.guards.clear();
            self.feed(Input::Tick);
            return;
        }
        self.judging.evidence.take_counts(&metrics);
        let facts = GuardFacts {
            judge: &self.judging.evidence.judge,
            path: self.path_counts(),
            muted,
        };
        self.judging.guards = (self.deps.guard)(&facts);
        let waiting = if muted {
            None
        } else {
            evidence_ready(&self.judging.guards).err()
        };
        self.feed(Input::Evidence { waiting });
        self.feed(Input::Tick);
        if muted {
            return;
        }
        if let Some(b) = crate::guard::first_breach(&self.judging.guards).cloned() {
            self.feed(Input::Breach { verdict: b });
            self.autoscale_breach();
        }
    }

    /// The request-path figures the count guards judge.
    pub(super) fn path_counts(&self) -> PathCounts {
        PathCounts {
            failed_in_release: self.deps.router.failed_in_release(),
            run: self.deps.router.failure_run(),
            stable_failing: self.deps.router.stable_failing(),
        }
    }

    /// A trip fired in the proxy: it already set the weight to 0 itself.
    pub(super) fn tripped(&mut self) {
        let g = self.machine.state().guard(self.machine.plan()).clone();
        let (name, value, limit, detail) = match self.deps.router.last_trip() {
            Some(Tripped::InARow(n)) => (
                Guard::TripAfter,
                n,
                g.trip_after.unwrap_or(n),
                format!(
                    "{n} canary failures in a row while stable answered; the proxy set the weight to 0 on the request that made it {n}"
                ),
            ),
            Some(Tripped::Budget(n)) => (
                Guard::MaxFailedRequests,
                n,
                g.max_failed_requests.unwrap_or(n),
                format!(
                    "{n} client requests got a canary failure in this release, the budget; the proxy set the weight to 0 on the request that spent it"
                ),
            ),
            None => return,
        };
        let verdict = GuardVerdict {
            name,
            value: Some(value as f64),
            threshold: limit as f64,
            status: GuardStatus::Breach,
            detail,
            evidence: None,
        };
        self.feed(Input::Breach { verdict });
        self.autoscale_breach();
    }

    /// Once a second: a snapshot, and a tick with both versions' figures
    /// and what they served since the last one.
    pub(super) fn second(&mut self) {
        let state = self.view();
        let window = self.machine.state().guard(self.machine.plan()).window.get();
        // The canary's figures while it is on record, and once more after it
        // left: the second that closes covers what it served before it went.
        let canary = (state.canary.is_some() || self.judging.canary_since_tick)
            .then(|| self.deps.metrics.stats(Role::Canary, window));
        self.judging.canary_since_tick = state.canary.is_some();
        let sample = self.judging.evidence.take_tick();
        self.emit(EventKind::Snapshot {
            state: Box::new(state),
        });
        self.emit(EventKind::Tick {
            stable: self.deps.metrics.stats(Role::Stable, window),
            canary,
            sample,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn seconds_are_taken_once_each_and_summed_for_the_tick() {
        let m = Metrics::new();
        let mut f = Feed::new(&GuardPlan::default(), &m);
        for _ in 0..3 {
            m.start(Role::Stable).finish(200, Duration::from_millis(2));
            m.start(Role::Canary).finish(503, Duration::from_millis(4));
            tokio::time::advance(Duration::from_secs(1)).await;
            f.take_seconds(&m, true);
            f.take_seconds(&m, true);
        }
        let t = f.take_tick().expect("three seconds of traffic");
        assert_eq!((t.stable.requests, t.stable.failures), (3, 0));
        assert_eq!((t.canary.requests, t.canary.failures), (3, 3));
        assert_eq!(t.canary.latency.total(), 3);
        assert_eq!(f.take_tick(), None, "taken once");
    }

    #[tokio::test(start_paused = true)]
    async fn evidence_handed_over_as_json_carries_on_where_it_stood() {
        let m = Metrics::new();
        let g = GuardPlan::default();
        let mut f = Feed::new(&g, &m);
        for i in 0..20 {
            m.start(Role::Stable).finish(200, Duration::from_millis(2));
            let status = if i % 4 == 0 { 503 } else { 200 };
            m.start(Role::Canary)
                .finish(status, Duration::from_millis(3));
            tokio::time::advance(Duration::from_millis(250)).await;
            f.take_seconds(&m, true);
            f.take_counts(&m);
        }
        let snap = f.snapshot();
        let wire = serde_json::to_string(&snap).unwrap();
        let back: EvidenceSnapshot = serde_json::from_str(&wire).unwrap();

        // A successor: fresh metrics, a fresh feed, the evidence carried on.
        let m2 = Metrics::new();
        let mut g2 = Feed::new(&g, &m2);
        assert!(g2.resume(back.clone(), &g));
        assert_eq!(
            serde_json::to_value(&g2.judge).unwrap(),
            serde_json::to_value(&f.judge).unwrap(),
            "the same running tests"
        );
        assert!(g2.at_ms() >= snap.at_ms, "its clock goes on, not from zero");
        // Under other thresholds it is not carried.
        let other = GuardPlan {
            min_requests: g.min_requests + 1,
            ..g.clone()
        };
        assert!(!Feed::new(&other, &m2).resume(back, &other));
    }
}
