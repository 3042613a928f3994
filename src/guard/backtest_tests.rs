//! The backtest on small hand-written journals: where a release begins and
//! ends, what each guard would have done, re-arms where the daemon re-armed,
//! the exact budget and the approximate run, and the refusal of a recording
//! without samples.

use super::*;
use crate::journal::Journal;
use crate::metrics::compact::LatencyHist;
use crate::model::{Actor, Event, JournalHeader, Phase, SecondSample, StateView, TickSample};
use crate::plan::HumanDuration;
use crate::tui::app::tests::{state, t0};

/// A recording being written by hand, times in ms from [`t0`].
struct Rec {
    events: Vec<Event>,
    version: &'static str,
}

fn at(ms: u64) -> DateTime<Utc> {
    t0() + chrono::Duration::milliseconds(ms as i64)
}

impl Rec {
    /// Stable alone, then release 1: deployed at 0.1 s, first step at 1 s
    /// under `g` (a snapshot right after says so).
    fn release(g: GuardPlan) -> Rec {
        let mut r = Rec {
            events: Vec::new(),
            version: JournalHeader::VERSION,
        };
        r.snapshot(0, Phase::Idle, |_| {});
        r.phase(100, Phase::Idle, Phase::Deploying);
        r.phase(200, Phase::Deploying, Phase::Warming);
        r.phase(1000, Phase::Warming, Phase::Canary);
        r.snapshot(1001, Phase::Canary, |s| s.thresholds = Some(g));
        r
    }

    fn push(&mut self, ms: u64, kind: EventKind) {
        self.events.push(Event {
            seq: self.events.len() as u64 + 1,
            at: at(ms),
            kind,
        });
    }

    fn snapshot(&mut self, ms: u64, phase: Phase, f: impl FnOnce(&mut StateView)) {
        let mut s = state(phase, 100);
        s.canary.as_mut().unwrap().version = "v2".into();
        f(&mut s);
        self.push(ms, EventKind::Snapshot { state: Box::new(s) });
    }

    fn phase(&mut self, ms: u64, from: Phase, to: Phase) {
        let by = if to == Phase::RollingBack {
            Actor::Guard
        } else {
            Actor::System
        };
        self.push(
            ms,
            EventKind::Phase {
                from,
                to,
                by,
                reason: None,
            },
        );
    }

    fn action(&mut self, ms: u64, action: &str) {
        self.push(
            ms,
            EventKind::Action {
                action: action.into(),
                by: Actor::Tui,
                reason: None,
                ok: true,
                detail: String::new(),
            },
        );
    }

    fn breach(&mut self, ms: u64, guard: Guard) {
        self.push(
            ms,
            EventKind::Breach {
                guard,
                value: 0.0,
                threshold: 0.0,
                on_breach: OnBreach::Rollback,
                detail: "recorded".into(),
                evidence: None,
            },
        );
    }

    /// A tick whose sample holds (requests, failures) of each version, every
    /// request taking `ms_each` milliseconds.
    fn tick_lat(&mut self, ms: u64, canary: (u64, u64), stable: (u64, u64), lat: (f64, f64)) {
        let side = |(n, k): (u64, u64), ms_each: f64| {
            let mut latency = LatencyHist::default();
            latency.record_n(ms_each * 1000.0, n as u32);
            SecondSample {
                requests: n,
                failures: k,
                latency,
            }
        };
        let sample = TickSample {
            stable: side(stable, lat.1),
            canary: side(canary, lat.0),
        };
        self.push(
            ms,
            EventKind::Tick {
                stable: Default::default(),
                canary: None,
                sample: Some(sample),
            },
        );
    }

    fn tick(&mut self, ms: u64, canary: (u64, u64), stable: (u64, u64)) {
        self.tick_lat(ms, canary, stable, (5.0, 5.0));
    }

    /// `n` ticks a second apart from 2 s on (after the first step at 1 s).
    fn ticks(&mut self, from_ms: u64, n: u64, canary: (u64, u64), stable: (u64, u64)) -> u64 {
        let mut ms = from_ms;
        for _ in 0..n {
            self.tick(ms, canary, stable);
            ms += 1000;
        }
        ms
    }

    fn journal(&self) -> Journal {
        let mut header = JournalHeader::new("shop", t0());
        header.version = self.version.into();
        Journal {
            header,
            events: self.events.clone(),
            corrupt_lines: 0,
            unknown_events: 0,
            truncated_tail: false,
            first_corrupt: Vec::new(),
        }
    }
}

fn only(b: &Backtest) -> &ReleaseReplay {
    assert_eq!(b.releases.len(), 1, "{b:#?}");
    &b.releases[0]
}

fn guard(r: &ReleaseReplay, g: Guard) -> &GuardReplay {
    r.guards.iter().find(|x| x.guard == g).unwrap()
}

fn set(f: impl FnOnce(&mut GuardPatch)) -> Given {
    let mut set = GuardPatch::default();
    f(&mut set);
    Given { plan: None, set }
}

/// A canary failing 30 % against a clean stable, caught and rolled back at
/// 6 s (5 s after its first step).
fn bad_release() -> Rec {
    let mut r = Rec::release(GuardPlan::default());
    r.ticks(2000, 4, (20, 6), (180, 0));
    r.breach(5500, Guard::MaxErrorRatio);
    r.phase(5500, Phase::Canary, Phase::RollingBack);
    r.phase(5600, Phase::RollingBack, Phase::Idle);
    // The canary's last seconds, then stable alone.
    r.tick(6000, (10, 3), (190, 0));
    r.ticks(7000, 5, (0, 0), (200, 0));
    r
}

#[test]
fn a_recording_without_samples_is_refused_clearly() {
    let mut r = bad_release();
    r.version = "1.0";
    let err = backtest(&r.journal(), &Given::default()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("recorded before per-second samples (format 1.0): cannot be backtested"),
        "{err}"
    );
    assert!(has_samples("1.1") && has_samples("1.12") && has_samples("2.0"));
    assert!(!has_samples("1.0") && !has_samples("1") && !has_samples("x"));
}

#[test]
fn the_recorded_thresholds_reproduce_the_recorded_breach() {
    let b = backtest(&bad_release().journal(), &Given::default()).unwrap();
    assert_eq!(b.thresholds_from, "recording");
    let r = only(&b);
    assert_eq!((r.release, r.canary.as_deref()), (1, Some("v2")));
    assert_eq!(r.armed.recording_ms, 1000);
    assert_eq!(r.recorded.outcome, RecordedOutcome::RolledBack);
    assert_eq!(r.recorded.ended.unwrap().after_ms, 4500);
    assert_eq!(r.recorded.breaches.len(), 1);
    let errors = guard(r, Guard::MaxErrorRatio);
    let trip = errors.trip.as_ref().expect("the error guard trips");
    assert!(trip.when.after_ms <= 4500, "{trip:?}");
    assert_eq!(errors.recorded_breach.unwrap().after_ms, 4500);
    assert_eq!(r.first_trip.as_ref().unwrap().guard, Guard::MaxErrorRatio);
    assert!(r.agrees);
    // Off by default: reported as off, never as a pass.
    assert_eq!(guard(r, Guard::MaxErrorRate).end, EndStatus::Off);
    // Four ticks before the rollback, and the three of the 2.5 s after it
    // (the canary's last second, then stable alone).
    assert_eq!(r.samples, 7);
    assert_eq!(
        r.traffic.canary,
        Counted {
            requests: 90,
            failures: 27
        }
    );
}

#[test]
fn other_thresholds_give_another_outcome() {
    let j = bad_release().journal();
    let off = set(|p| p.max_error_ratio = Some(None));
    let b = backtest(&j, &off).unwrap();
    assert_eq!(b.thresholds_from, "recording+set");
    let r = only(&b);
    assert_eq!(r.thresholds.max_error_ratio, None);
    assert_eq!(r.first_trip, None, "{r:#?}");
    assert!(!r.agrees);
    assert_eq!(guard(r, Guard::MaxErrorRatio).threshold, "off");
    // A ceiling catches it instead.
    let ceiling = set(|p| {
        p.max_error_ratio = Some(None);
        p.max_error_rate = Some(Some(0.05));
    });
    let b = backtest(&j, &ceiling).unwrap();
    let first = only(&b).first_trip.clone().unwrap();
    assert_eq!(first.guard, Guard::MaxErrorRate);
}

#[test]
fn a_trip_shown_after_the_rollback_is_placed_at_it() {
    // Failures show only in the ticks after the end.
    let mut r = Rec::release(GuardPlan::default());
    r.ticks(2000, 3, (20, 0), (180, 0));
    r.phase(4500, Phase::Canary, Phase::RollingBack);
    r.tick(5000, (20, 20), (180, 0));
    r.tick(6000, (10, 10), (190, 0));
    r.tick(8000, (10, 10), (190, 0)); // 3.5 s after: not the canary's any more
    let b = backtest(&r.journal(), &Given::default()).unwrap();
    let r = only(&b);
    assert_eq!(r.samples, 5);
    let trip = r.first_trip.as_ref().expect("30 failures in a row trip");
    assert_eq!(trip.when.after_ms, 3500, "at the rollback, not after");
    assert_eq!(r.traffic.canary.failures, 30);
}

#[test]
fn after_a_promotion_only_the_first_tick_is_judged() {
    let mut r = Rec::release(GuardPlan::default());
    let end = r.ticks(2000, 3, (20, 0), (180, 0));
    r.phase(end - 500, Phase::Canary, Phase::Promoting);
    r.ticks(end, 3, (200, 0), (0, 0));
    let b = backtest(&r.journal(), &Given::default()).unwrap();
    let r = only(&b);
    assert_eq!(r.recorded.outcome, RecordedOutcome::Promoted);
    assert_eq!(r.samples, 4);
    assert_eq!(r.first_trip, None);
    assert!(r.agrees);
}

#[test]
fn the_budget_is_exact_and_counts_over_re_arms() {
    let g = GuardPlan {
        max_failed_requests: Some(7),
        max_error_ratio: None,
        ..GuardPlan::default()
    };
    let mut r = Rec::release(g.clone());
    r.tick(2000, (10, 3), (90, 3));
    // An edit re-arms the evidence; the release's count goes on.
    r.action(2500, "set_guards");
    r.snapshot(2600, Phase::Canary, |s| {
        s.thresholds = Some(GuardPlan {
            trip_after: Some(40),
            ..g.clone()
        })
    });
    r.tick(3000, (10, 3), (90, 3));
    r.tick(4000, (10, 1), (90, 3));
    r.tick(5000, (10, 0), (90, 3));
    let b = backtest(&r.journal(), &Given::default()).unwrap();
    let r = only(&b);
    assert_eq!(r.rearmed.len(), 1);
    assert_eq!(r.rearmed[0].why, "guard edit");
    assert_eq!(r.rearmed[0].thresholds.trip_after, Some(40));
    let budget = guard(r, Guard::MaxFailedRequests);
    assert!(!budget.approximate);
    assert_eq!(
        budget.trip.as_ref().unwrap().when.after_ms,
        3000,
        "3 + 3 + 1 = 7"
    );
    assert_eq!(budget.trip.as_ref().unwrap().value, Some(7.0));
}

#[test]
fn a_run_is_approximated_from_seconds_that_failed_everything() {
    let g = GuardPlan {
        trip_after: Some(10),
        max_error_ratio: None,
        ..GuardPlan::default()
    };
    let mut r = Rec::release(g);
    r.tick(2000, (4, 4), (40, 0));
    r.tick(3000, (4, 3), (40, 0)); // a success ends the run
    r.tick(4000, (4, 4), (40, 0));
    r.tick(5000, (4, 4), (40, 40)); // stable failing too: not the canary's
    r.tick(6000, (4, 4), (40, 0));
    r.tick(7000, (0, 0), (40, 0)); // no canary request: the run stands
    r.tick(8000, (4, 4), (40, 0));
    let b = backtest(&r.journal(), &Given::default()).unwrap();
    let run = guard(only(&b), Guard::TripAfter);
    assert!(run.approximate);
    let trip = run.trip.as_ref().expect("4 + 4 + 4 in a row");
    assert_eq!(trip.when.after_ms, 7000);
}

#[test]
fn nothing_trips_while_muted_and_an_unmute_re_arms() {
    let mut r = Rec::release(GuardPlan::default());
    // Muted from the start: the snapshot after the first step says so.
    r.events.pop();
    r.snapshot(1001, Phase::Canary, |s| s.guards_muted = true);
    let after_mute = r.ticks(2000, 5, (20, 10), (180, 0));
    r.action(after_mute, "mute_guards");
    r.snapshot(after_mute + 10, Phase::Canary, |_| {});
    r.ticks(after_mute + 500, 5, (20, 10), (180, 0));
    let b = backtest(&r.journal(), &Given::default()).unwrap();
    let r = only(&b);
    assert_eq!(r.rearmed.len(), 1);
    assert_eq!(r.rearmed[0].why, "unmute");
    let trip = r.first_trip.as_ref().expect("trips once unmuted");
    assert!(trip.when.after_ms > r.rearmed[0].when.after_ms, "{r:#?}");
}

#[test]
fn a_plan_replaces_the_recorded_thresholds_and_recorded_edits_still_apply() {
    let mut r = Rec::release(GuardPlan::default());
    r.tick(2000, (20, 0), (180, 0));
    r.action(2500, "set_guards");
    r.snapshot(2600, Phase::Canary, |s| {
        s.thresholds = Some(GuardPlan {
            max_p99: Some(HumanDuration::from_millis(300)),
            ..GuardPlan::default()
        })
    });
    r.tick(3000, (20, 0), (180, 0));
    let plan = GuardPlan {
        max_error_ratio: Some(3.0),
        ..GuardPlan::default()
    };
    let given = Given {
        plan: Some(plan),
        set: GuardPatch {
            confidence: Some(0.99),
            ..GuardPatch::default()
        },
    };
    let b = backtest(&r.journal(), &given).unwrap();
    assert_eq!(b.thresholds_from, "plan+set");
    let r = only(&b);
    assert_eq!(r.thresholds.max_error_ratio, Some(3.0));
    assert_eq!(r.thresholds.confidence, 0.99);
    assert_eq!(
        r.recorded_thresholds.as_ref().unwrap().max_error_ratio,
        Some(1.25)
    );
    let now = &r.rearmed[0].thresholds;
    assert_eq!(
        (now.max_error_ratio, now.max_p99, now.confidence),
        (Some(3.0), Some(HumanDuration::from_millis(300)), 0.99)
    );
}

#[test]
fn latency_is_judged_from_the_samples_histograms() {
    let g = GuardPlan {
        max_p99: Some(HumanDuration::from_millis(100)),
        ..GuardPlan::default()
    };
    let mut r = Rec::release(g);
    for i in 0..10 {
        r.tick_lat(2000 + i * 1000, (20, 0), (180, 0), (250.0, 5.0));
    }
    let b = backtest(&r.journal(), &Given::default()).unwrap();
    let r = only(&b);
    assert!(guard(r, Guard::MaxP99).trip.is_some(), "{r:#?}");
    assert!(guard(r, Guard::MaxP99Ratio).trip.is_some(), "{r:#?}");
    assert_eq!(guard(r, Guard::MaxErrorRatio).trip, None);
    // The same canary, as fast as stable: nothing.
    let mut ok = Rec::release(GuardPlan::default());
    for i in 0..10 {
        ok.tick_lat(2000 + i * 1000, (20, 0), (180, 0), (5.0, 5.0));
    }
    let b = backtest(&ok.journal(), &Given::default()).unwrap();
    assert_eq!(only(&b).first_trip, None);
}

#[test]
fn two_releases_are_judged_apart() {
    let mut r = bad_release();
    r.phase(13_000, Phase::Idle, Phase::Deploying);
    r.phase(13_100, Phase::Deploying, Phase::Warming);
    r.phase(14_000, Phase::Warming, Phase::Canary);
    r.snapshot(14_001, Phase::Canary, |s| s.release = 2);
    r.ticks(15_000, 4, (20, 0), (180, 0));
    let b = backtest(&r.journal(), &Given::default()).unwrap();
    assert_eq!(b.releases.len(), 2);
    let second = &b.releases[1];
    assert_eq!(second.release, 2);
    assert_eq!(second.recorded.outcome, RecordedOutcome::Running);
    assert_eq!(
        second.first_trip, None,
        "fresh evidence: the first's failures are not held"
    );
    assert_eq!(second.traffic.canary.failures, 0);
}

#[test]
fn patches_merge_and_read_as_typed() {
    let a = GuardPatch {
        max_error_ratio: Some(Some(2.0)),
        max_p99: Some(None),
        ..GuardPatch::default()
    };
    let b = GuardPatch {
        max_error_ratio: Some(None),
        ..GuardPatch::default()
    };
    let m = merge_patches(&a, &b);
    assert_eq!((m.max_error_ratio, m.max_p99), (Some(None), Some(None)));
    let after = a.apply(&GuardPlan::default());
    assert_eq!(
        patch_words(&a, &after),
        "max_error_ratio ×2.00, max_p99 off"
    );
    assert_eq!(
        patch_between(&GuardPlan::default(), &after).max_error_ratio,
        Some(Some(2.0))
    );
    assert!(patch_between(&after, &after).is_empty());
}
