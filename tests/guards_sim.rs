//! The guards' simulation (`cutover::guard::simulate`, the model behind
//! `cargo bench --bench guards_sim`) on a few dozen releases with a fixed
//! seed, so the benchmark's code path cannot rot. Counts and orders only:
//! how many releases each batch rolled back, by which guard, in which step.

use cutover::guard::simulate::{self, Current, Detection, LatencyModel, Scenario, Version};
use cutover::plan::GuardPlan;

const SEED: u64 = 13;

fn version(error_rate: f64) -> Version {
    Version {
        error_rate,
        latency: LatencyModel::typical(),
    }
}

/// `n` releases of `sc` past the current default guards: what each gave,
/// and how many had a step end short of evidence.
fn batch(sc: &Scenario, n: u64, id: u64) -> (Vec<Option<Detection>>, usize) {
    let plan = GuardPlan::default();
    let mut short = 0;
    let got = (0..n)
        .map(|i| {
            let mut g = Current::new(&plan);
            let d = simulate::run(sc, simulate::release_seed(SEED, id, i), &mut [&mut g])[0];
            short += usize::from(g.evidence_short.is_some());
            d
        })
        .collect();
    (got, short)
}

#[test]
fn a_canary_as_good_as_stable_is_never_rolled_back_and_has_its_evidence() {
    // 5 % errors on both sides: round 1 rolled every one of these back.
    let sc = Scenario::ten_minutes(100.0, version(0.05), version(0.05));
    let (got, short) = batch(&sc, 24, 1);
    let rolled_back: Vec<_> = got.iter().flatten().collect();
    assert!(rolled_back.is_empty(), "{rolled_back:?}");
    assert_eq!(
        short, 0,
        "every step ends with enough evidence at 100 req/s"
    );
}

#[test]
fn a_canary_failing_30_times_as_often_is_always_caught_in_the_first_step() {
    let sc = Scenario::ten_minutes(100.0, version(0.01), version(0.30));
    let (got, _) = batch(&sc, 30, 2);
    let first_step_ms = 300_000.0;
    let caught: Vec<Detection> = got.iter().flatten().copied().collect();
    assert_eq!(caught.len(), 30, "{got:?}");
    assert!(caught.iter().all(|d| d.at_ms < first_step_ms), "{caught:?}");
    assert!(
        caught.iter().all(|d| d.by == "max_error_ratio"),
        "the comparison with stable catches a 30 % canary, not a count: {caught:?}"
    );
}

#[test]
fn a_canary_failing_every_request_is_zeroed_on_the_request_path() {
    // 100 canary req/s: ten failures in a row long before the first tick.
    let sc = Scenario::ten_minutes(1000.0, version(0.01), version(1.0));
    let (got, _) = batch(&sc, 30, 3);
    let caught: Vec<Detection> = got.iter().flatten().copied().collect();
    assert_eq!(caught.len(), 30);
    for d in &caught {
        assert_eq!(d.by, "trip_after", "{d:?}");
        // Ten in a row; one more for each time stable's latest answer was
        // a failure when the run reached ten.
        assert!((10..=12).contains(&d.canary_failures), "{d:?}");
        assert!(d.at_ms < simulate::TICK_MS as f64, "{d:?}");
    }
    let exactly_ten = caught.iter().filter(|d| d.canary_failures == 10).count();
    assert!(exactly_ten >= 25, "{exactly_ten} of 30");
}
