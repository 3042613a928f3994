//! The replay of one journal, release by release: [`releases`] reads the
//! events in order, arms a [`Run`] where the daemon armed its guards,
//! re-arms and ends it where the daemon did, and feeds each tick's sample
//! to the run's [`Judge`]; a run finished is one [`ReleaseReplay`]. Apart
//! from `backtest.rs`, which holds the report's types and the rules for
//! using it, because this is the part that mirrors the daemon step by step.

use super::super::judge::{Judge, PathCounts};
use super::super::sequential::Tally;
use super::super::settings::GuardKey;
use super::{
    AFTER_END_MS, EndStatus, FirstTrip, GUARDS, Given, GuardReplay, Moment, Rearm, Recorded,
    RecordedBreach, RecordedOutcome, ReleaseReplay, Traffic, Trip,
};
use crate::model::{Actor, Event, EventKind, Guard, GuardStatus, Phase, StateView, TickSample};
use crate::plan::GuardPlan;
use chrono::{DateTime, Utc};

/// Every release in `events`, re-judged with the thresholds `given`; and
/// whether a release was judged without the recording saying its
/// thresholds.
pub(super) fn releases(events: &[Event], given: &Given) -> (Vec<ReleaseReplay>, bool) {
    let offsets = offsets(events);
    let mut fold = Fold {
        events,
        given,
        releases: Vec::new(),
        run: None,
        latest: None,
        no_thresholds: false,
    };
    for (i, e) in events.iter().enumerate() {
        let at = Point {
            at: e.at,
            ms: offsets[i],
        };
        fold.event(i, at);
    }
    if let Some(r) = fold.run.take() {
        fold.releases.push(r.finish());
    }
    (fold.releases, fold.no_thresholds)
}

/// The journal read so far: the releases done, the one being replayed.
struct Fold<'a> {
    events: &'a [Event],
    given: &'a Given,
    releases: Vec<ReleaseReplay>,
    run: Option<Run>,
    /// The last snapshot read.
    latest: Option<&'a StateView>,
    no_thresholds: bool,
}

impl<'a> Fold<'a> {
    /// Take event `i`, at `at`.
    fn event(&mut self, i: usize, at: Point) {
        let events = self.events;
        match &events[i].kind {
            EventKind::Snapshot { state } => {
                self.latest = Some(state);
                // A daemon restarted mid-release judges from its restart.
                if self.run.is_none() && state.phase.takes_traffic() {
                    self.arm(at, Some(state));
                }
            }
            EventKind::Phase { from, to, .. } => self.phase(i, at, *from, *to),
            EventKind::Action {
                action, ok: true, ..
            } => self.action(i, at, action),
            EventKind::Weight { by, .. } => {
                // Each step re-arms the proxy's trips: a run starts over.
                if let Some(r) = self.open()
                    && *by == Actor::System
                {
                    r.run = 0;
                }
            }
            EventKind::Breach { guard, detail, .. } => {
                if let Some(r) = self.open() {
                    let when = r.moment(at);
                    r.breaches.push(RecordedBreach {
                        guard: *guard,
                        when,
                        detail: detail.clone(),
                    });
                }
            }
            EventKind::Tick { sample, .. } => self.tick(at, sample.as_ref()),
            EventKind::Action { ok: false, .. }
            | EventKind::Replica { .. }
            | EventKind::Pull { .. }
            | EventKind::Warning { .. } => {}
        }
    }

    /// The run not ended yet, if any.
    fn open(&mut self) -> Option<&mut Run> {
        self.run.as_mut().filter(|r| r.ended.is_none())
    }

    /// A new run, under the thresholds `state` says were armed.
    fn arm(&mut self, at: Point, state: Option<&StateView>) {
        let recorded = state.and_then(|s| s.thresholds.clone());
        self.no_thresholds |= recorded.is_none();
        self.run = Some(Run::new(at, state, recorded, self.given));
    }

    /// The first step arms a run (finishing the one before); leaving the
    /// phases that take traffic ends it.
    fn phase(&mut self, i: usize, at: Point, from: Phase, to: Phase) {
        let judging = |p: Phase| p.takes_traffic();
        if judging(to) && !judging(from) {
            if let Some(r) = self.run.take() {
                self.releases.push(r.finish());
            }
            let next = next_snapshot(self.events, i).or(self.latest);
            self.arm(at, next);
        } else if let Some(r) = self.open()
            && judging(from)
            && !judging(to)
        {
            r.ended = Some((at, outcome_of(to)));
        }
    }

    /// A guard edit or an unmute re-arms the run, as the daemon re-armed.
    fn action(&mut self, i: usize, at: Point, action: &str) {
        let given = self.given;
        let next = next_snapshot(self.events, i);
        let Some(r) = self.open() else {
            return;
        };
        match action {
            "set_guards" => {
                if let Some(t) = next.and_then(|s| s.thresholds.clone()) {
                    r.rearm(at, "guard edit", t, given);
                }
            }
            "mute_guards" => {
                let muted = next.map_or(r.muted, |s| s.guards_muted);
                if r.muted && !muted {
                    let t = r.recorded_now.clone();
                    r.muted = false;
                    r.rearm(at, "unmute", t, given);
                }
                r.muted = muted;
            }
            _ => {}
        }
    }

    /// A tick's sample is judged; the ticks just after the end are judged
    /// as far as they still carry seconds the canary served.
    fn tick(&mut self, at: Point, sample: Option<&TickSample>) {
        let Some(r) = self.run.as_mut() else { return };
        if let Some((end, outcome)) = r.ended {
            // The ticks just after the end still carry seconds the
            // canary served before it; a promoted canary serves
            // everything from then on, so only its first is taken.
            let take = match outcome {
                RecordedOutcome::Promoted => r.judged_to.ms < end.ms,
                _ => at.ms <= end.ms + AFTER_END_MS,
            };
            if !take {
                self.releases.push(self.run.take().expect("a run").finish());
                return;
            }
        }
        if let Some(s) = sample {
            r.observe(at, s);
        }
        r.judged_to = at;
    }
}

/// Each event's offset from the first, never decreasing (as the player's).
fn offsets(events: &[Event]) -> Vec<u64> {
    let origin = events.first().map(|e| e.at);
    let mut last = 0u64;
    events
        .iter()
        .map(|e| {
            let ms = origin.map_or(0, |o| (e.at - o).num_milliseconds().max(0) as u64);
            last = last.max(ms);
            last
        })
        .collect()
}

/// The first snapshot after event `i`: the state an action or a phase led to.
fn next_snapshot(events: &[Event], i: usize) -> Option<&StateView> {
    events[i + 1..].iter().find_map(|e| match &e.kind {
        EventKind::Snapshot { state } => Some(&**state),
        _ => None,
    })
}

fn outcome_of(to: Phase) -> RecordedOutcome {
    match to {
        Phase::Promoting => RecordedOutcome::Promoted,
        Phase::RollingBack => RecordedOutcome::RolledBack,
        Phase::Failed => RecordedOutcome::Failed,
        _ => RecordedOutcome::Ended,
    }
}

/// An event's time, on the wall clock and on the recording's timeline.
#[derive(Clone, Copy, Debug)]
struct Point {
    at: DateTime<Utc>,
    ms: u64,
}

/// One release being replayed.
struct Run {
    release: u64,
    canary: Option<String>,
    armed: Point,
    /// The recording's thresholds at the first step, and now.
    recorded_first: Option<GuardPlan>,
    recorded_now: GuardPlan,
    thresholds: GuardPlan,
    judge: Judge,
    muted: bool,
    /// Canary failures since the release began (the budget's count).
    failed: u64,
    /// Canary failures in a row, from per-second counts.
    run: u64,
    rearmed: Vec<Rearm>,
    breaches: Vec<RecordedBreach>,
    trips: Vec<(Guard, Trip)>,
    last: Vec<crate::model::GuardVerdict>,
    ended: Option<(Point, RecordedOutcome)>,
    judged_to: Point,
    samples: u64,
    traffic: Traffic,
}

impl Run {
    fn new(
        at: Point,
        state: Option<&StateView>,
        recorded: Option<GuardPlan>,
        given: &Given,
    ) -> Run {
        let first = recorded.clone().unwrap_or_default();
        let thresholds = given.thresholds(&first, &first);
        let judge = Judge::new(&thresholds);
        let last = judge.verdicts(PathCounts::default(), false);
        Run {
            release: state.map_or(0, |s| s.release),
            canary: state.and_then(|s| s.canary.as_ref().map(|c| c.version.clone())),
            armed: at,
            recorded_first: recorded,
            recorded_now: first,
            thresholds,
            judge,
            muted: state.is_some_and(|s| s.guards_muted),
            failed: 0,
            run: 0,
            rearmed: Vec::new(),
            breaches: Vec::new(),
            trips: Vec::new(),
            last,
            ended: None,
            judged_to: at,
            samples: 0,
            traffic: Traffic::default(),
        }
    }

    fn moment(&self, p: Point) -> Moment {
        Moment {
            after_ms: p.ms.saturating_sub(self.armed.ms),
            at: p.at,
            recording_ms: p.ms,
        }
    }

    /// The evidence starts over under the recording's new thresholds
    /// (through what was given); the budget's count does not.
    fn rearm(&mut self, at: Point, why: &'static str, recorded: GuardPlan, given: &Given) {
        let first = self.recorded_first.clone().unwrap_or_default();
        let thresholds = given.thresholds(&first, &recorded);
        self.recorded_now = recorded;
        self.judge = Judge::new(&thresholds);
        self.run = 0;
        self.rearmed.push(Rearm {
            when: self.moment(at),
            why,
            thresholds,
        });
    }

    fn observe(&mut self, at: Point, s: &TickSample) {
        let ms = at.ms.saturating_sub(self.armed.ms);
        let c = Tally::new(s.canary.requests, s.canary.failures);
        let st = Tally::new(s.stable.requests, s.stable.failures);
        self.judge
            .observe_second(ms, &s.canary.latency, &s.stable.latency);
        self.judge.observe_counts(ms, c, st);
        self.failed += c.failures;
        if c.requests > 0 {
            let stable_failing = st.requests > 0 && st.failures == st.requests;
            self.run = if c.failures < c.requests {
                0
            } else if stable_failing {
                self.run
            } else {
                self.run + c.failures
            };
        }
        self.samples += 1;
        for (t, x) in [
            (&mut self.traffic.canary, c),
            (&mut self.traffic.stable, st),
        ] {
            t.requests += x.requests;
            t.failures += x.failures;
        }
        // Per-second counts cannot say which answer came last: the run is
        // extended only by seconds where stable did not fail everything.
        let path = PathCounts {
            failed_in_release: self.failed,
            run: self.run,
            stable_failing: false,
        };
        self.last = self.judge.verdicts(path, self.muted);
        // After a rollback the canary served nothing: what a later tick
        // shows was all in by the end, and that is where it is placed.
        let when = match self.ended {
            Some((end, o)) if o != RecordedOutcome::Promoted && at.ms > end.ms => self.moment(end),
            _ => self.moment(at),
        };
        for v in &self.last {
            if v.status == GuardStatus::Breach && !self.trips.iter().any(|(g, _)| *g == v.name) {
                self.trips.push((
                    v.name,
                    Trip {
                        when,
                        value: v.value,
                        detail: v.detail.clone(),
                    },
                ));
            }
        }
    }

    fn finish(self) -> ReleaseReplay {
        let end_thresholds = self
            .rearmed
            .last()
            .map_or(&self.thresholds, |r| &r.thresholds);
        let guards: Vec<GuardReplay> = GUARDS
            .into_iter()
            .map(|g| {
                let verdict = self.last.iter().find(|v| v.name == g);
                GuardReplay {
                    guard: g,
                    threshold: GuardKey::Guard(g).value(&self.thresholds),
                    trip: self
                        .trips
                        .iter()
                        .find(|(n, _)| *n == g)
                        .map(|(_, t)| t.clone()),
                    approximate: g == Guard::TripAfter,
                    end: verdict.map_or(EndStatus::Off, |v| v.status.into()),
                    end_detail: verdict
                        .map_or_else(|| format!("{} off", g.key()), |v| v.detail.clone()),
                    recorded_breach: self.breaches.iter().find(|b| b.guard == g).map(|b| b.when),
                }
            })
            .collect();
        let first_trip = self
            .trips
            .iter()
            .min_by_key(|(g, t)| (t.when.recording_ms, GUARDS.iter().position(|x| x == g)))
            .map(|(g, t)| FirstTrip {
                guard: *g,
                when: t.when,
                on_breach: end_thresholds.on_breach,
            });
        let ended = self.ended.map(|(p, _)| self.moment(p));
        let armed = self.moment(self.armed);
        let outcome = self.ended.map_or(RecordedOutcome::Running, |(_, o)| o);
        ReleaseReplay {
            release: self.release,
            canary: self.canary,
            armed,
            judged_ms: self.judged_to.ms.saturating_sub(self.armed.ms),
            samples: self.samples,
            agrees: first_trip.is_some() != self.breaches.is_empty(),
            thresholds: self.thresholds,
            recorded_thresholds: self.recorded_first,
            rearmed: self.rearmed,
            recorded: Recorded {
                outcome,
                ended,
                breaches: self.breaches,
            },
            guards,
            first_trip,
            traffic: self.traffic,
        }
    }
}
