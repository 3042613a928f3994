//! Table tests and properties of the judge: statuses from evidence, never
//! a pass without data, never NaN.

use super::sequential::Tally;
use super::*;
use crate::metrics::compact::LatencyHist;
use crate::model::Guard;
use crate::plan::{GuardPlan, HumanDuration};
use proptest::prelude::*;

fn statuses(j: &Judge, path: PathCounts) -> Vec<(Guard, GuardStatus)> {
    j.verdicts(path, false)
        .into_iter()
        .map(|v| (v.name, v.status))
        .collect()
}

fn all_guards() -> GuardPlan {
    GuardPlan {
        max_error_rate: Some(0.2),
        max_p99: Some(HumanDuration::from_millis(300)),
        max_failed_requests: Some(100),
        ..GuardPlan::default()
    }
}

/// `secs` seconds of traffic, four increments a second.
fn feed(j: &mut Judge, from_ms: u64, secs: u64, canary: (u64, u64), stable: (u64, u64)) -> u64 {
    let mut at = from_ms;
    for _ in 0..secs * 4 {
        at += 250;
        j.observe_counts(
            at,
            Tally::new(canary.0 / 4, canary.1 / 4),
            Tally::new(stable.0 / 4, stable.1 / 4),
        );
    }
    at
}

use GuardStatus::*;

#[test]
fn no_traffic_is_never_a_pass() {
    let j = Judge::new(&all_guards());
    let got = statuses(&j, PathCounts::default());
    assert_eq!(
        got,
        vec![
            (Guard::MaxErrorRatio, NotJudged),
            (Guard::MaxErrorRate, NotJudged),
            (Guard::MaxP99Ratio, NotJudged),
            (Guard::MaxP99, NotJudged),
            (Guard::TripAfter, Pass),
            (Guard::MaxFailedRequests, Pass),
        ]
    );
    assert!(evidence_ready(&j.verdicts(PathCounts::default(), false)).is_err());
}

#[test]
fn a_canary_like_stable_passes_once_there_is_enough_of_it() {
    let g = GuardPlan {
        max_p99_ratio: None,
        ..GuardPlan::default()
    };
    let mut j = Judge::new(&g);
    feed(&mut j, 0, 1, (40, 0), (360, 4));
    let v = j.verdicts(PathCounts::default(), false);
    assert_eq!(v[0].status, NotJudged, "{}", v[0].detail);
    assert!(
        v[0].detail.contains("40 of 50 canary requests"),
        "{}",
        v[0].detail
    );
    feed(&mut j, 1000, 60, (40, 0), (360, 4));
    let v = j.verdicts(PathCounts::default(), false);
    assert_eq!(v[0].status, Pass, "{}", v[0].detail);
    assert!(evidence_ready(&v).is_ok());
}

#[test]
fn a_canary_at_five_times_stable_is_a_breach_with_its_evidence() {
    let mut j = Judge::new(&GuardPlan::default());
    feed(&mut j, 0, 60, (100, 8), (900, 8));
    let v = &j.verdicts(PathCounts::default(), false)[0];
    assert_eq!((v.name, v.status), (Guard::MaxErrorRatio, Breach));
    let e = v.evidence.as_ref().unwrap();
    assert!(e.log_e >= e.log_threshold);
    assert_eq!(e.canary.requests, 6000);
    assert!(
        v.detail.starts_with("canary 8.0 % [") && v.detail.contains(" vs stable 0.89 % ["),
        "{}",
        v.detail
    );
    assert!(v.detail.ends_with(", n=6000, 99.5 %"), "{}", v.detail);
    let r = v.value.unwrap();
    assert!((8.5..9.5).contains(&r), "{r}");
}

#[test]
fn muted_guards_say_so_and_never_breach() {
    let mut j = Judge::new(&all_guards());
    feed(&mut j, 0, 30, (100, 100), (900, 0));
    let v = j.verdicts(
        PathCounts {
            failed_in_release: 1000,
            run: 50,
            stable_failing: false,
        },
        true,
    );
    assert!(v.iter().all(|v| v.status == Muted), "{v:?}");
}

#[test]
fn request_path_counts_breach_at_their_limits() {
    let j = Judge::new(&all_guards());
    let at = |failed, run, stable_failing| {
        j.verdicts(
            PathCounts {
                failed_in_release: failed,
                run,
                stable_failing,
            },
            false,
        )
        .into_iter()
        .filter(|v| !v.name.is_statistical())
        .map(|v| v.status)
        .collect::<Vec<_>>()
    };
    assert_eq!(at(99, 9, false), vec![Pass, Pass]);
    assert_eq!(at(100, 10, false), vec![Breach, Breach]);
    // A run while stable fails too is shared trouble, as in the proxy.
    assert_eq!(at(99, 10, true), vec![Pass, Pass]);
}

fn hist(ms: &[(f64, u32)]) -> LatencyHist {
    let mut h = LatencyHist::default();
    for &(ms, n) in ms {
        h.record_n(ms * 1000.0, n);
    }
    h
}

#[test]
fn a_canary_twice_as_slow_is_found_by_its_slow_requests() {
    let g = GuardPlan {
        max_error_ratio: None,
        ..GuardPlan::default()
    };
    let stable = hist(&[(10.0, 80), (20.0, 15), (40.0, 4), (80.0, 1)]);
    let same = hist(&[(1.0, 8), (2.0, 2)]);
    let slow = hist(&[(20.0, 8), (40.0, 1), (160.0, 1)]);
    let mut a = Judge::new(&g);
    let mut b = Judge::new(&g);
    let mut at = 0;
    for _ in 0..120 {
        at += 1000;
        a.observe_second(at, &hist(&[(10.0, 8), (20.0, 2)]), &stable);
        b.observe_second(at, &slow, &stable);
    }
    let _ = same;
    let va = &a.verdicts(PathCounts::default(), false)[0];
    let vb = &b.verdicts(PathCounts::default(), false)[0];
    assert_eq!(
        (va.name, va.status),
        (Guard::MaxP99Ratio, Pass),
        "{}",
        va.detail
    );
    assert_eq!(vb.status, Breach, "{}", vb.detail);
    assert!(vb.detail.starts_with("slower than "), "{}", vb.detail);
}

proptest! {
    /// Whatever the traffic, no verdict is NaN and statuses are consistent
    /// with the evidence.
    #[test]
    fn verdicts_are_finite_and_consistent(
        incs in proptest::collection::vec((0u64..50, 0u64..50, 0u64..500, 0u64..500), 0..80),
        min in 1u64..200,
    ) {
        let g = GuardPlan { min_requests: min, ..all_guards() };
        let mut j = Judge::new(&g);
        for (i, (nc, kc, ns, ks)) in incs.into_iter().enumerate() {
            j.observe_counts(i as u64 * 250, Tally::new(nc, kc), Tally::new(ns, ks));
        }
        for v in j.verdicts(PathCounts::default(), false) {
            prop_assert!(v.value.is_none_or(f64::is_finite), "{v:?}");
            prop_assert!(v.threshold.is_finite());
            if let Some(e) = &v.evidence {
                prop_assert!(e.log_e.is_finite());
                prop_assert!((0.0..=1.0).contains(&e.progress()));
                if v.status == Pass {
                    prop_assert!(e.canary.requests >= min);
                }
            }
        }
    }
}
