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
//! [`Judge`](super::judge::Judge) exactly as the daemon feeds its own, so the statistical guards
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

use super::settings::GuardKey;
use crate::journal::Journal;
use crate::model::{EventKind, Guard, GuardPatch, GuardStatus};
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
    let mut notes = vec![
        "a trip is placed at the journal tick that shows it: ticks are 1 s apart and report seconds once they are complete, so a trip reads up to 2 s later than the daemon, which judges 4 times a second, would have seen it".to_string(),
        "the ticks of the 2.5 s after a rollback still carry the canary's last seconds and are judged (a trip they show is placed at the rollback: the canary served nothing after it); after a promotion only the first tick is (the canary then serves everything)".to_string(),
        RUN_NOTE.to_string(),
        "the budget (max_failed_requests) is exact: every canary failure is in the samples".to_string(),
    ];
    let (releases, no_thresholds) = replay::releases(events, given);
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

mod replay;

#[cfg(test)]
#[path = "backtest_tests.rs"]
mod tests;
