//! Backtest: judge a recording again, with the thresholds it was recorded
//! under or with others, and say per guard when it would have tripped next
//! to what actually happened.
//!
//! Pure: a parsed [`Journal`] in, a [`Backtest`] out, no clock and no I/O
//! (`cutover backtest` and the replay cockpit's "what if" both call
//! [`backtest`]). Each release is found the way the daemon lived it: armed
//! at the canary's first step (`warming → canary`), re-armed where the
//! daemon re-armed (a guard edit, an unmute: both journaled as actions, the
//! thresholds they led to in the next snapshot), ended by promoting, rolling
//! back or failing. Every tick's `sample` in between (journal format 1.1:
//! what each version served since the previous tick) goes through a fresh
//! [`Judge`] exactly as the daemon feeds its own, so the statistical guards
//! are re-judged by the very code that judged them live.
//!
//! What a recording cannot say exactly, said in [`Backtest::notes`]:
//! - the journal's resolution is its ticks, one a second, each reporting
//!   the seconds completed since the one before, where the daemon judges
//!   four times a second: a trip is placed at the tick that shows it, up to
//!   two seconds after the daemon would have seen it;
//! - the ticks of the [`AFTER_END_MS`] after a rollback still carry the
//!   canary's last seconds, so they are judged too, and a trip they show is
//!   placed at the rollback (the canary served nothing after it); after a
//!   promotion only the first is (the canary then serves everything); the
//!   tick after an arm may hold up to a second from before it;
//! - the request-path run (`trip_after`) is approximated from per-second
//!   counts: a second in which every canary request failed (and stable did
//!   not fail all of its own) extends a run, any canary success ends it;
//! - the budget (`max_failed_requests`) is exact: the canary's failures are
//!   counted one by one in the samples.
//!
//! A recording made before the samples existed (format 1.0) is refused with
//! [`BacktestError::NoSamples`]: there is nothing to judge, and guessing
//! from the ten-second windows of its ticks would be a different test.

use super::judge::{Judge, PathCounts};
use super::sequential::Tally;
use super::settings::GuardKey;
use crate::journal::Journal;
use crate::model::{
    Actor, Event, EventKind, Guard, GuardPatch, GuardStatus, Phase, StateView, TickSample,
};
use crate::plan::{GuardPlan, OnBreach};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The version of the `--json` document (docs/BACKTEST.md).
pub const SCHEMA: &str = "cutover-backtest/1";

/// How long after a release ends its ticks may still carry seconds the
/// canary served before it: a second completes up to 1 s after its
/// requests, is taken by the next guard evaluation (¼ s) and journaled by
/// the next tick (1 s).
pub const AFTER_END_MS: u64 = 2_500;

/// The guards a backtest reports, in the guard panel's order.
pub const GUARDS: [Guard; 6] = [
    Guard::MaxErrorRatio,
    Guard::MaxErrorRate,
    Guard::MaxP99Ratio,
    Guard::MaxP99,
    Guard::TripAfter,
    Guard::MaxFailedRequests,
];

/// What the approximate `trip_after` replay rests on, said wherever it shows.
pub const RUN_NOTE: &str = "failures in a row (trip_after) are approximated from per-second counts: a second in which every canary request failed extends a run, a canary success ends it";

/// Thresholds given instead of (or on top of) the recorded ones.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Given {
    /// `--plan`: its `[guard]` replaces what each release was armed with;
    /// guard edits recorded during a release still apply on top of it, as
    /// the changes they made.
    pub plan: Option<GuardPlan>,
    /// `--set` (or the replay's "what if"): these keys win over everything.
    pub set: GuardPatch,
}

impl Given {
    /// The thresholds judged with, where the recording armed `recorded`
    /// and the release began with `first`.
    fn thresholds(&self, first: &GuardPlan, recorded: &GuardPlan) -> GuardPlan {
        let base = match &self.plan {
            Some(p) => patch_between(first, recorded).apply(p),
            None => recorded.clone(),
        };
        self.set.apply(&base)
    }

    /// Whether nothing is given: the recording judged with its own thresholds.
    pub fn is_empty(&self) -> bool {
        self.plan.is_none() && self.set.is_empty()
    }
}

/// Why a recording cannot be backtested.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BacktestError {
    #[error(
        "recorded before per-second samples (format {version}): cannot be backtested; its ticks hold only {window} windows, not what each second served (record it again with this cutover: journal format 1.1)"
    )]
    NoSamples { version: String, window: String },
}

/// A moment of a release: after the canary's first step, on the wall clock
/// and on the recording's timeline (what the replay shows).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Moment {
    /// Milliseconds after the canary's first step.
    pub after_ms: u64,
    pub at: DateTime<Utc>,
    /// Milliseconds from the recording's first event (the replay timeline).
    pub recording_ms: u64,
}

/// A breach as it was recorded.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecordedBreach {
    pub guard: Guard,
    #[serde(flatten)]
    pub when: Moment,
    pub detail: String,
}

/// How a release ended in the recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordedOutcome {
    Promoted,
    RolledBack,
    Failed,
    /// Back to idle some other way (an abort, a drain of the canary).
    Ended,
    /// Still under way when the recording stops.
    Running,
}

impl RecordedOutcome {
    pub fn words(self) -> &'static str {
        match self {
            RecordedOutcome::Promoted => "promoted",
            RecordedOutcome::RolledBack => "rolled back",
            RecordedOutcome::Failed => "failed",
            RecordedOutcome::Ended => "ended",
            RecordedOutcome::Running => "still running when the recording stops",
        }
    }
}

/// What actually happened to a release.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Recorded {
    pub outcome: RecordedOutcome,
    /// When it left the canary phases; `None` while running.
    pub ended: Option<Moment>,
    /// Every breach journaled during the release, in order.
    pub breaches: Vec<RecordedBreach>,
}

/// Where the daemon re-armed the guards during a release.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rearm {
    #[serde(flatten)]
    pub when: Moment,
    /// `guard edit` or `unmute`.
    pub why: &'static str,
    /// The thresholds judged with from here on.
    pub thresholds: GuardPlan,
}

/// When one guard would have tripped.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Trip {
    #[serde(flatten)]
    pub when: Moment,
    /// The guard's value at that tick, in its threshold's unit.
    pub value: Option<f64>,
    /// The verdict's line ("canary 6.1 % [4.2–8.7] vs stable …").
    pub detail: String,
}

/// How a guard stood when its release's replay ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndStatus {
    Pass,
    NotJudged,
    Breach,
    Muted,
    /// Not configured (at the end of the release).
    Off,
}

impl From<GuardStatus> for EndStatus {
    fn from(s: GuardStatus) -> EndStatus {
        match s {
            GuardStatus::Pass => EndStatus::Pass,
            GuardStatus::NotJudged => EndStatus::NotJudged,
            GuardStatus::Breach => EndStatus::Breach,
            GuardStatus::Muted => EndStatus::Muted,
        }
    }
}

/// One guard of one release, backtested.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GuardReplay {
    pub guard: Guard,
    /// The threshold judged with at the canary's first step, as typed
    /// (`×1.25`, `300ms`, `off`).
    pub threshold: String,
    /// When it would first have tripped, `None`: it would not have in the
    /// span judged.
    pub trip: Option<Trip>,
    /// The trip is from per-second counts (`trip_after`), not exact.
    pub approximate: bool,
    /// Its verdict at the end of the span judged.
    pub end: EndStatus,
    pub end_detail: String,
    /// Its first recorded breach in this release.
    pub recorded_breach: Option<Moment>,
}

/// The first trip of a release, and what it would have done.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FirstTrip {
    pub guard: Guard,
    #[serde(flatten)]
    pub when: Moment,
    pub on_breach: OnBreach,
}

/// Requests and failures replayed, per version.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Traffic {
    pub canary: Counted,
    pub stable: Counted,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counted {
    pub requests: u64,
    pub failures: u64,
}

/// One release, backtested.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReleaseReplay {
    pub release: u64,
    /// The canary's version label, when the recording says it.
    pub canary: Option<String>,
    /// The canary's first step: where `after_ms` counts from.
    pub armed: Moment,
    /// From the first step to the last tick judged.
    pub judged_ms: u64,
    /// Ticks with traffic judged.
    pub samples: u64,
    /// The thresholds judged with at the canary's first step.
    pub thresholds: GuardPlan,
    /// The recording's own at that moment (`None`: it does not say them).
    pub recorded_thresholds: Option<GuardPlan>,
    /// Re-arms after the first step (guard edits, unmutes).
    pub rearmed: Vec<Rearm>,
    pub recorded: Recorded,
    pub guards: Vec<GuardReplay>,
    /// The earliest trip of any guard, `None`: nothing would have tripped.
    pub first_trip: Option<FirstTrip>,
    /// Whether the backtest agrees with the recording on whether a guard
    /// breached at all.
    pub agrees: bool,
    pub traffic: Traffic,
}

/// A recording, backtested.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Backtest {
    pub schema: &'static str,
    /// The file, as the caller names it (`None` from the replay cockpit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording: Option<String>,
    pub service: String,
    pub journal_version: String,
    /// `recording`, `recording+set`, `plan` or `plan+set`.
    pub thresholds_from: &'static str,
    /// What the answer rests on, in words.
    pub notes: Vec<String>,
    pub releases: Vec<ReleaseReplay>,
}

/// Judge `journal` again with the thresholds `given` (nothing given: its own).
pub fn backtest(journal: &Journal, given: &Given) -> Result<Backtest, BacktestError> {
    check_samples(journal)?;
    let version = journal.header.version.clone();
    let events = &journal.events;
    let offsets = offsets(events);
    let mut notes = vec![
        "a trip is placed at the journal tick that shows it: ticks are 1 s apart and report seconds once they are complete, so a trip reads up to 2 s later than the daemon, which judges 4 times a second, would have seen it".to_string(),
        "the ticks of the 2.5 s after a rollback still carry the canary's last seconds and are judged (a trip they show is placed at the rollback: the canary served nothing after it); after a promotion only the first tick is (the canary then serves everything)".to_string(),
        RUN_NOTE.to_string(),
        "the budget (max_failed_requests) is exact: every canary failure is in the samples".to_string(),
    ];
    let mut releases = Vec::new();
    let mut run: Option<Run> = None;
    let mut latest: Option<&StateView> = None;
    let mut no_thresholds = false;
    for (i, e) in events.iter().enumerate() {
        let at = Point {
            at: e.at,
            ms: offsets[i],
        };
        match &e.kind {
            EventKind::Snapshot { state } => {
                latest = Some(state);
                // A daemon restarted mid-release judges from its restart.
                if run.is_none() && state.phase.takes_traffic() {
                    let recorded = state.thresholds.clone();
                    no_thresholds |= recorded.is_none();
                    run = Some(Run::new(at, Some(state), recorded, given));
                }
            }
            EventKind::Phase { from, to, .. } => {
                let judging = |p: &Phase| p.takes_traffic();
                if judging(to) && !judging(from) {
                    if let Some(r) = run.take() {
                        releases.push(r.finish());
                    }
                    let next = next_snapshot(events, i).or(latest);
                    let recorded = next.and_then(|s| s.thresholds.clone());
                    no_thresholds |= recorded.is_none();
                    run = Some(Run::new(at, next, recorded, given));
                } else if let Some(r) = run.as_mut().filter(|r| r.ended.is_none())
                    && judging(from)
                    && !judging(to)
                {
                    r.ended = Some((at, outcome_of(*to)));
                }
            }
            EventKind::Action {
                action, ok: true, ..
            } => {
                let Some(r) = run.as_mut().filter(|r| r.ended.is_none()) else {
                    continue;
                };
                let next = next_snapshot(events, i);
                match action.as_str() {
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
            EventKind::Weight { by, .. } => {
                // Each step re-arms the proxy's trips: a run starts over.
                if let Some(r) = run.as_mut().filter(|r| r.ended.is_none())
                    && *by == Actor::System
                {
                    r.run = 0;
                }
            }
            EventKind::Breach { guard, detail, .. } => {
                if let Some(r) = run.as_mut().filter(|r| r.ended.is_none()) {
                    let when = r.moment(at);
                    r.breaches.push(RecordedBreach {
                        guard: *guard,
                        when,
                        detail: detail.clone(),
                    });
                }
            }
            EventKind::Tick { sample, .. } => {
                let Some(r) = run.as_mut() else { continue };
                if let Some((end, outcome)) = r.ended {
                    // The ticks just after the end still carry seconds the
                    // canary served before it; a promoted canary serves
                    // everything from then on, so only its first is taken.
                    let take = match outcome {
                        RecordedOutcome::Promoted => r.judged_to.ms < end.ms,
                        _ => at.ms <= end.ms + AFTER_END_MS,
                    };
                    if !take {
                        releases.push(run.take().expect("a run").finish());
                        continue;
                    }
                }
                if let Some(s) = sample {
                    r.observe(at, s);
                }
                r.judged_to = at;
            }
            EventKind::Action { ok: false, .. }
            | EventKind::Replica { .. }
            | EventKind::Pull { .. }
            | EventKind::Warning { .. } => {}
        }
    }
    if let Some(r) = run.take() {
        releases.push(r.finish());
    }
    if no_thresholds && given.plan.is_none() {
        notes.push(
            "the recording does not say its thresholds: the plan defaults were judged with (give --plan)"
                .into(),
        );
    }
    let thresholds_from = match (given.plan.is_some(), given.set.is_empty()) {
        (false, true) => "recording",
        (false, false) => "recording+set",
        (true, true) => "plan",
        (true, false) => "plan+set",
    };
    Ok(Backtest {
        schema: SCHEMA,
        recording: None,
        service: journal.header.service.clone(),
        journal_version: version,
        thresholds_from,
        notes,
        releases,
    })
}

/// Whether `journal` can be backtested: its ticks carry per-second samples.
pub fn check_samples(journal: &Journal) -> Result<(), BacktestError> {
    let version = &journal.header.version;
    if has_samples(version) {
        return Ok(());
    }
    let window = journal
        .events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Tick { stable, .. } => Some(format!("{} s", stable.window_secs)),
            _ => None,
        })
        .unwrap_or_else(|| "window".into());
    Err(BacktestError::NoSamples {
        version: version.clone(),
        window,
    })
}

/// Whether a journal of this version carries per-second samples (1.1 on).
pub fn has_samples(version: &str) -> bool {
    let (major, minor) = version.split_once('.').unwrap_or((version, "0"));
    match (major.parse::<u64>(), minor.parse::<u64>()) {
        (Ok(major), Ok(minor)) => major > 1 || (major == 1 && minor >= 1),
        _ => false,
    }
}

/// The change that turns `before` into `after`, key by key.
pub fn patch_between(before: &GuardPlan, after: &GuardPlan) -> GuardPatch {
    fn diff<T: Clone + PartialEq>(b: &T, a: &T) -> Option<T> {
        (b != a).then(|| a.clone())
    }
    GuardPatch {
        confidence: diff(&before.confidence, &after.confidence),
        max_error_ratio: diff(&before.max_error_ratio, &after.max_error_ratio),
        max_error_rate: diff(&before.max_error_rate, &after.max_error_rate),
        window: diff(&before.window, &after.window),
        min_requests: diff(&before.min_requests, &after.min_requests),
        max_p99: diff(&before.max_p99, &after.max_p99),
        max_p99_ratio: diff(&before.max_p99_ratio, &after.max_p99_ratio),
        trip_after: diff(&before.trip_after, &after.trip_after),
        max_failed_requests: diff(&before.max_failed_requests, &after.max_failed_requests),
        evidence_timeout: diff(&before.evidence_timeout, &after.evidence_timeout),
        on_breach: diff(&before.on_breach, &after.on_breach),
        max_errors: None,
    }
}

/// `max_error_ratio ×2.00, max_p99 off`: the keys a patch sets, with the
/// values they get in `after`, in the guard panel's order.
pub fn patch_words(patch: &GuardPatch, after: &GuardPlan) -> String {
    GuardKey::ALL
        .into_iter()
        .filter(|k| k.is_set(patch))
        .map(|k| format!("{} {}", k.name(), k.value(after)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The keys of `patch` and `over` together, `over` winning.
pub fn merge_patches(patch: &GuardPatch, over: &GuardPatch) -> GuardPatch {
    let mut out = patch.clone();
    for k in GuardKey::ALL.into_iter().filter(|k| k.is_set(over)) {
        k.copy(over, &mut out);
    }
    out
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

#[cfg(test)]
#[path = "backtest_tests.rs"]
mod tests;
