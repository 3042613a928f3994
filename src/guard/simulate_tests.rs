//! Tests of `simulate.rs`, kept beside it so the file itself reads as code.

use super::draws::ln_factorial;
use super::*;
use crate::metrics::Metrics;
use crate::model::Role;
use crate::proxy::Trips;
use crate::proxy::trips::TripWire;
use std::time::Duration;

fn version(error_rate: f64) -> Version {
    Version {
        error_rate,
        latency: LatencyModel::typical(),
    }
}

fn mean_var(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    (
        m,
        xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0),
    )
}

#[test]
fn poisson_draws_have_the_mean_and_variance_of_their_law() {
    let mut rng = Sampler::new(7);
    for lambda in [0.3, 4.0, 9.99, 10.0, 57.5, 250.0] {
        let xs: Vec<f64> = (0..40_000).map(|_| rng.poisson(lambda) as f64).collect();
        let (m, v) = mean_var(&xs);
        // Five standard errors of the mean; the variance within 5 %.
        let se = (lambda / xs.len() as f64).sqrt();
        assert!((m - lambda).abs() < 5.0 * se, "λ {lambda}: mean {m}");
        assert!((v / lambda - 1.0).abs() < 0.05, "λ {lambda}: variance {v}");
    }
    assert_eq!(rng.poisson(0.0), 0);
}

#[test]
fn ln_factorial_is_continuous_across_its_two_methods() {
    let direct: f64 = (2..=25u64).map(|i| (i as f64).ln()).sum();
    assert!((ln_factorial(25) - direct).abs() < 1e-12);
    assert!((ln_factorial(20) - ln_factorial(19) - 20f64.ln()).abs() < 1e-12);
}

#[test]
fn latency_draws_follow_the_bucket_probabilities() {
    let m = LatencyModel::typical();
    let p = m.probabilities();
    assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    let mut rng = Sampler::new(3);
    let n = 200_000;
    let mut counts = [0u32; B];
    for _ in 0..n {
        counts[m.draw(&mut rng)] += 1;
    }
    for b in 0..B {
        let want = p[b] * n as f64;
        let sd = (want * (1.0 - p[b])).sqrt().max(1.0);
        assert!(
            (f64::from(counts[b]) - want).abs() < 5.0 * sd,
            "bucket {b}: {} vs {want}",
            counts[b]
        );
    }
    // The median is near 20 ms, and twice as slow is twice as slow.
    let median = |m: &LatencyModel| {
        let mut acc = 0.0;
        (0..B)
            .find(|&b| {
                acc += m.probabilities()[b];
                acc >= 0.5
            })
            .map(|b| upper_us(b as u8) / 1000.0)
            .unwrap()
    };
    let (a, b) = (median(&m), median(&m.slower(2.0)));
    assert!((20.0..=26.0).contains(&a), "{a}");
    assert!((b / a - 2.0).abs() < 0.6, "{a} → {b}");
}

/// Counts every tick and failure, and never breaches.
#[derive(Default)]
struct Tap {
    canary: Tally,
    stable: Tally,
    latency_total: u64,
    ticks: u64,
    seconds: u64,
    failures: Vec<Failure>,
    steps: Vec<usize>,
}

impl Guards for Tap {
    fn step_begins(&mut self, step: usize) {
        self.steps.push(step);
    }
    fn canary_failure(&mut self, f: &Failure) -> Option<&'static str> {
        self.failures.push(*f);
        None
    }
    fn tick(&mut self, t: &Tick<'_>) -> Option<&'static str> {
        self.canary.add(t.canary);
        self.stable.add(t.stable);
        let sum = |b: &Buckets| b.iter().map(|&n| u64::from(n)).sum::<u64>();
        assert_eq!(sum(t.canary_latency), t.canary.requests);
        assert_eq!(sum(t.stable_latency), t.stable.requests);
        if let Some((c, s)) = t.second {
            self.latency_total += c.total() + s.total();
            self.seconds += 1;
        }
        self.ticks += 1;
        assert_eq!(t.at_ms, self.ticks * TICK_MS);
        None
    }
}

#[test]
fn a_release_serves_its_load_split_by_weight_and_failing_at_its_rates() {
    let sc = Scenario::ten_minutes(100.0, version(0.01), version(0.05));
    let mut tap = Tap::default();
    let got = run(&sc, 11, &mut [&mut tap]);
    assert_eq!(got, vec![None]);
    assert_eq!((tap.ticks, tap.seconds), (2400, 600));
    assert_eq!(tap.steps, vec![0, 1]);
    // Expected: canary 0.1·100·300 + 0.5·100·300 = 18,000; stable 42,000.
    let near = |got: u64, want: f64| (got as f64 - want).abs() < 5.0 * want.sqrt();
    assert!(near(tap.canary.requests, 18_000.0), "{:?}", tap.canary);
    assert!(near(tap.stable.requests, 42_000.0), "{:?}", tap.stable);
    assert!(near(tap.canary.failures, 900.0), "{:?}", tap.canary);
    assert!(near(tap.stable.failures, 420.0), "{:?}", tap.stable);
    assert_eq!(tap.latency_total, tap.canary.requests + tap.stable.requests);
    // Failures come in time order, numbered, each seen once.
    assert_eq!(tap.failures.len() as u64, tap.canary.failures);
    for (i, f) in tap.failures.iter().enumerate() {
        assert_eq!(f.failed_in_release, i as u64 + 1);
    }
    assert!(tap.failures.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
    // Runs: at 5 % a run of two happens, ten never.
    let longest = tap.failures.iter().map(|f| f.run).max().unwrap();
    assert!((2..10).contains(&longest), "{longest}");
}

#[test]
fn the_same_seed_gives_the_same_release() {
    let sc = Scenario::ten_minutes(1000.0, version(0.01), version(0.30));
    let once = |seed| {
        let mut g = Current::new(&GuardPlan::default());
        run(&sc, seed, &mut [&mut g])
    };
    assert_eq!(once(5), once(5));
    assert!(once(5)[0].is_some());
}

/// The in-a-row rule here is the proxy's: the same random sequence of
/// answers through the real `TripWire` fires on the same request.
#[test]
fn the_trip_rule_is_the_proxys() {
    let mut rng = Sampler::new(1);
    for case in 0..300u64 {
        let n = 1 + case % 5;
        let (m, w) = (Metrics::new(), TripWire::default());
        w.arm(Trips {
            in_a_row: Some(n),
            budget: None,
        });
        let (mut run, mut stable_failing) = (0u64, false);
        let (p_canary, p_fail_c, p_fail_s) = (0.6, 0.8, 0.3);
        for i in 0..200 {
            let canary = rng.uniform() < p_canary;
            let (role, p) = if canary {
                (Role::Canary, p_fail_c)
            } else {
                (Role::Stable, p_fail_s)
            };
            let failed = rng.uniform() < p;
            m.start(role)
                .finish(if failed { 503 } else { 200 }, Duration::from_millis(1));
            let real = w.record(role, failed, &m);
            let ours = match (canary, failed) {
                (true, true) => {
                    run += 1;
                    in_a_row_trips(
                        Some(n),
                        &Failure {
                            at_ms: 0.0,
                            run,
                            stable_failing,
                            failed_in_release: 0,
                        },
                    )
                }
                (true, false) => {
                    run = 0;
                    false
                }
                (false, f) => {
                    stable_failing = f;
                    false
                }
            };
            assert_eq!(real, ours, "case {case}, request {i}");
            if real {
                break;
            }
        }
    }
}
