//! Table tests and properties of the guard arithmetic.

use super::*;
use crate::plan::{GuardPlan, HumanDuration};
use proptest::prelude::*;

fn plan(g: GuardPlan) -> Plan {
    let mut p = crate::plan::parse(
        "service = \"s\"\nruntime = \"static\"\n[stable]\nupstreams = [\"127.0.0.1:1\"]\n",
        "t",
    )
    .unwrap();
    p.guard = g;
    p
}

fn all_guards() -> GuardPlan {
    GuardPlan {
        max_errors: Some(5),
        max_error_rate: Some(0.05),
        window: HumanDuration::from_secs(10),
        min_requests: 50,
        max_p99: Some(HumanDuration::from_millis(300)),
        max_p99_ratio: Some(1.5),
        on_breach: Default::default(),
    }
}

fn stats(requests: u64, errors: u64, p99: Option<f64>) -> VersionStats {
    VersionStats {
        requests,
        errors,
        p99_ms: p99,
        ..Default::default()
    }
}

fn statuses(
    p: &Plan,
    canary: VersionStats,
    stable: VersionStats,
    since: (u64, u64),
) -> Vec<(String, GuardStatus)> {
    evaluate(&GuardInput {
        plan: p,
        canary: &canary,
        stable: &stable,
        canary_errors_since_step: since.0,
        canary_requests_since_step: since.1,
        muted: false,
    })
    .into_iter()
    .map(|v| (v.name, v.status))
    .collect()
}

use GuardStatus::*;

#[test]
fn table() {
    let p = plan(all_guards());
    type Case = (VersionStats, VersionStats, (u64, u64), [GuardStatus; 4]);
    let cases: Vec<Case> = vec![
        // No traffic at all: nothing is judged, nothing passes.
        (
            stats(0, 0, None),
            stats(0, 0, None),
            (0, 0),
            [NotJudged, NotJudged, NotJudged, NotJudged],
        ),
        // Below the floor: counts are judged, windowed guards are not.
        (
            stats(49, 10, Some(900.0)),
            stats(100, 0, Some(10.0)),
            (4, 49),
            [Pass, NotJudged, NotJudged, NotJudged],
        ),
        // Healthy and judged.
        (
            stats(100, 1, Some(20.0)),
            stats(1000, 1, Some(15.0)),
            (1, 100),
            [Pass, Pass, Pass, Pass],
        ),
        // Every guard breached.
        (
            stats(100, 30, Some(900.0)),
            stats(1000, 1, Some(15.0)),
            (30, 100),
            [Breach, Breach, Breach, Breach],
        ),
        // Error count reaches the limit exactly.
        (
            stats(10, 5, None),
            stats(0, 0, None),
            (5, 10),
            [Breach, NotJudged, NotJudged, NotJudged],
        ),
        // Stable below the floor: the ratio is not judged.
        (
            stats(100, 0, Some(100.0)),
            stats(10, 0, Some(1.0)),
            (0, 100),
            [Pass, Pass, Pass, NotJudged],
        ),
        // Sub-millisecond stable p99 uses the 1 ms floor: 1.2 ms / 1 ms = 1.2× passes.
        (
            stats(100, 0, Some(1.2)),
            stats(100, 0, Some(0.01)),
            (0, 100),
            [Pass, Pass, Pass, Pass],
        ),
    ];
    for (i, (c, s, since, want)) in cases.into_iter().enumerate() {
        let got = statuses(&p, c, s, since);
        let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["max_errors", "max_error_rate", "max_p99", "max_p99_ratio"]
        );
        let got: Vec<GuardStatus> = got.into_iter().map(|(_, s)| s).collect();
        assert_eq!(got, want, "case {i}");
    }
}

#[test]
fn muted_and_unconfigured() {
    let p = plan(all_guards());
    let c = stats(100, 50, Some(900.0));
    let s = stats(100, 0, Some(10.0));
    let v = evaluate(&GuardInput {
        plan: &p,
        canary: &c,
        stable: &s,
        canary_errors_since_step: 50,
        canary_requests_since_step: 100,
        muted: true,
    });
    assert!(v.iter().all(|v| v.status == Muted));
    assert!(first_breach(&v).is_none());
    let none = plan(GuardPlan {
        max_errors: None,
        max_error_rate: None,
        max_p99: None,
        max_p99_ratio: None,
        ..all_guards()
    });
    assert!(
        evaluate(&GuardInput {
            plan: &none,
            canary: &c,
            stable: &s,
            canary_errors_since_step: 50,
            canary_requests_since_step: 100,
            muted: false
        })
        .is_empty()
    );
}

#[test]
fn breach_details_carry_the_figures() {
    let p = plan(all_guards());
    let c = stats(200, 20, Some(50.0));
    let s = stats(200, 0, Some(40.0));
    let v = evaluate(&GuardInput {
        plan: &p,
        canary: &c,
        stable: &s,
        canary_errors_since_step: 2,
        canary_requests_since_step: 200,
        muted: false,
    });
    let b = first_breach(&v).unwrap();
    assert_eq!(b.name, "max_error_rate");
    assert_eq!(
        b.detail,
        "20 of 200 requests failed (10.0 %) over 10s, limit 5.0 %"
    );
    assert_eq!(b.value, Some(0.1));
}

#[test]
fn latency_details_read_like_the_rest_of_the_cockpit() {
    let detail = |p99: f64, limit_ms: u64| {
        let g = GuardPlan {
            max_p99: Some(HumanDuration::from_millis(limit_ms)),
            ..all_guards()
        };
        let p = plan(g);
        let c = stats(200, 0, Some(p99));
        let v = evaluate(&GuardInput {
            plan: &p,
            canary: &c,
            stable: &c,
            canary_errors_since_step: 0,
            canary_requests_since_step: 200,
            muted: false,
        });
        v.into_iter().find(|x| x.name == "max_p99").unwrap().detail
    };
    assert_eq!(
        detail(0.24, 300),
        "canary p99 0.2 ms over 10s, limit 300 ms"
    );
    assert_eq!(detail(48.0, 5), "canary p99 48 ms over 10s, limit 5.0 ms");
    assert_eq!(
        detail(1500.0, 2000),
        "canary p99 1.50 s over 10s, limit 2.00 s"
    );
}

fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        Just(-1.0),
        -1e12f64..1e12,
    ]
}

fn any_stats() -> impl Strategy<Value = VersionStats> {
    (any::<u64>(), any::<u64>(), proptest::option::of(any_f64()))
        .prop_map(|(r, e, p)| stats(r % 100_000, e % 200_000, p))
}

proptest! {
    #[test]
    fn no_panic_no_nan_and_the_floor_holds(
        c in any_stats(), s in any_stats(), errs in any::<u64>(), reqs in any::<u64>(),
        min in 1u64..10_000, rate in any_f64(), ratio in any_f64(), muted in any::<bool>(),
    ) {
        let g = GuardPlan { min_requests: min, max_error_rate: Some(rate), max_p99_ratio: Some(ratio), ..all_guards() };
        let p = plan(g);
        let v = evaluate(&GuardInput { plan: &p, canary: &c, stable: &s, canary_errors_since_step: errs, canary_requests_since_step: reqs, muted });
        prop_assert_eq!(v.len(), 4);
        for x in &v {
            prop_assert!(x.value.is_none_or(f64::is_finite), "{:?}", x);
            prop_assert!(x.threshold.is_finite());
            if x.name != "max_errors" && c.requests < min && !muted {
                prop_assert_eq!(x.status, NotJudged, "below min_requests: {:?}", x);
            }
        }
    }
}
