//! Sequential tests that stay valid however often they are looked at.
//!
//! The guards are evaluated four times a second for the whole release. A
//! fixed-sample test (a point estimate against a limit, a p-value at n = 50)
//! checked that often is almost sure to cross its line by chance on a long
//! bake: that is how a canary as good as stable used to be rolled back. Each
//! test here is instead an *e-process*: a running product of likelihood
//! ratios that, while the canary is within tolerance, is a nonnegative
//! supermartingale starting at 1. By Ville's inequality the chance that it
//! *ever* reaches `1/α` is at most `α`, whenever and however often it is
//! read. A guard breaches when `ln E ≥ ln(k/α)`; `α = 1 − confidence` and
//! `k` is the number of statistical guards the release has, so that all of
//! them together wrongly roll back at most `α` of good canaries.
//!
//! The alternative in each likelihood ratio is a *predictable plug-in*: the
//! effect estimated from the recent past only (never from the increment being
//! scored), clamped to at least the null's boundary. Any such choice keeps
//! the product a supermartingale under the null; estimating it from recent
//! data makes the test adapt to the real effect (30× fails in a second, 5×
//! in tens of seconds) and to a canary that turns bad late, and the clamp
//! means a canary that looks within tolerance leaves the evidence where it is
//! instead of piling up a debt that a later, real regression must repay.
//!
//! Two tests:
//! - [`RatioTest`]: is the canary's failure proportion more than `r0` times
//!   stable's? Conditional on the failures both versions had in an increment,
//!   the canary's share of them is binomial with
//!   `θ = n_c·r / (n_c·r + n_s)`, where `r` is the ratio of the two failure
//!   rates: stable's unknown baseline cancels out, and the weight may change
//!   between increments (each has its own `n_c`, `n_s`). Used for errors and
//!   for "slow" requests (latency).
//! - [`CeilingTest`]: is the canary's failure proportion above an absolute
//!   `p0`? A one-sample Bernoulli likelihood ratio.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Plug-in estimates use the increments of this many milliseconds before
/// the one being scored.
pub const ESTIMATE_MS: u64 = 30_000;
/// The largest effect a plug-in may assume (a ratio of rates).
const MAX_RATIO: f64 = 200.0;
/// The fixed alternative of [`RatioTest`]'s third process, as a multiple of
/// its null ratio.
const LARGE_RATIO: f64 = 20.0;
/// The largest proportion a one-sample plug-in may assume.
const MAX_P: f64 = 0.999;

/// Failures among requests, for one version over some span.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub requests: u64,
    pub failures: u64,
}

impl Tally {
    pub fn new(requests: u64, failures: u64) -> Tally {
        Tally {
            requests,
            failures: failures.min(requests),
        }
    }

    pub fn add(&mut self, o: Tally) {
        self.requests += o.requests;
        self.failures += o.failures;
    }

    fn sub(&mut self, o: Tally) {
        self.requests = self.requests.saturating_sub(o.requests);
        self.failures = self.failures.saturating_sub(o.failures);
    }
}

/// The past used for a plug-in estimate: increments of the last
/// [`ESTIMATE_MS`], with their sums.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Recent {
    items: VecDeque<(u64, Tally, Tally)>,
    canary: Tally,
    stable: Tally,
}

impl Recent {
    fn push(&mut self, at_ms: u64, canary: Tally, stable: Tally) {
        self.items.push_back((at_ms, canary, stable));
        self.canary.add(canary);
        self.stable.add(stable);
        while let Some(&(t, c, s)) = self.items.front() {
            if t + ESTIMATE_MS > at_ms {
                break;
            }
            self.items.pop_front();
            self.canary.sub(c);
            self.stable.sub(s);
        }
    }
}

/// Is the canary's failure rate more than `r0` × stable's? See the module
/// doc for why this stays valid when it is read at any moment.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RatioTest {
    r0: f64,
    /// `ln E` of the plug-in from the recent past (adapts to a late change).
    log_recent: f64,
    /// `ln E` of the plug-in from everything since the test began (sharper
    /// for a small, steady effect).
    log_all: f64,
    /// `ln E` against a fixed large effect ([`LARGE_RATIO`] × `r0`): no
    /// estimate to wait for, so a canary failing most requests is judged
    /// from its first failures.
    log_large: f64,
    recent: Recent,
    all: (Tally, Tally),
}

impl RatioTest {
    /// A test of "canary failure rate ≤ `r0` × stable's" (`r0 ≥ 1`).
    pub fn new(r0: f64) -> RatioTest {
        RatioTest {
            r0: if r0.is_finite() { r0.max(1.0) } else { 1.0 },
            log_recent: 0.0,
            log_all: 0.0,
            log_large: 0.0,
            recent: Recent::default(),
            all: (Tally::default(), Tally::default()),
        }
    }

    /// `ln E`: the evidence against "within tolerance" so far. `E` is a
    /// weighted average of the three processes (an average of e-processes
    /// is one): 0.4 each to the two plug-ins, which agree for the first
    /// [`ESTIMATE_MS`] (so together they cost only `ln 1.25` of evidence
    /// there), 0.2 to the large effect, which only a canary failing most of
    /// its requests needs, and which then gathers evidence so fast that its
    /// `ln 5` of cost is a fraction of a second.
    pub fn log_e(&self) -> f64 {
        log_weighted_mean_exp(&[
            (0.4, self.log_recent),
            (0.4, self.log_all),
            (0.2, self.log_large),
        ])
    }

    /// The ratio of failure rates estimated from `canary` and `stable`
    /// tallies, clamped to the null's boundary and below.
    fn estimate(&self, c: Tally, s: Tally) -> f64 {
        // Half a failure and half a request each side: finite with no
        // failures, and shrunk towards 1 while counts are small.
        let rate = |t: Tally| (t.failures as f64 + 0.5) / (t.requests as f64 + 0.5);
        (rate(c) / rate(s)).clamp(self.r0, MAX_RATIO.max(self.r0))
    }

    /// The ratio the next increment will be scored against by the
    /// recent-past plug-in.
    pub fn plug_in(&self) -> f64 {
        self.estimate(self.recent.canary, self.recent.stable)
    }

    /// Score one increment: the requests and failures of each version since
    /// the previous one, which ended `at_ms` (any monotonic clock).
    pub fn observe(&mut self, at_ms: u64, canary: Tally, stable: Tally) {
        let (nc, ns) = (canary.requests as f64, stable.requests as f64);
        let (kc, ks) = (canary.failures as f64, stable.failures as f64);
        if nc > 0.0 && ns > 0.0 && kc + ks > 0.0 {
            let theta = |r: f64| nc * r / (nc * r + ns);
            let theta0 = theta(self.r0);
            let score = |r1: f64| {
                let theta1 = theta(r1);
                kc * (theta1 / theta0).ln() + ks * ((1.0 - theta1) / (1.0 - theta0)).ln()
            };
            self.log_recent += score(self.plug_in());
            self.log_all += score(self.estimate(self.all.0, self.all.1));
            self.log_large += score(self.r0 * LARGE_RATIO);
        }
        self.recent.push(at_ms, canary, stable);
        self.all.0.add(canary);
        self.all.1.add(stable);
    }
}

/// Is the canary's failure proportion above `p0`?
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CeilingTest {
    p0: f64,
    log_e: f64,
    recent: Recent,
}

impl CeilingTest {
    /// A test of "canary failure proportion ≤ `p0`" (`0 < p0 < 1`).
    pub fn new(p0: f64) -> CeilingTest {
        CeilingTest {
            p0: if p0.is_finite() {
                p0.clamp(1e-6, MAX_P)
            } else {
                MAX_P
            },
            log_e: 0.0,
            recent: Recent::default(),
        }
    }

    pub fn log_e(&self) -> f64 {
        self.log_e
    }

    /// Score the canary's requests and failures since the previous increment.
    pub fn observe(&mut self, at_ms: u64, canary: Tally) {
        let c = self.recent.canary;
        let p1 = ((c.failures as f64 + 0.5) / (c.requests as f64 + 1.0)).clamp(self.p0, MAX_P);
        let (n, k) = (canary.requests as f64, canary.failures as f64);
        if n > 0.0 && p1 > self.p0 {
            self.log_e += k * (p1 / self.p0).ln() + (n - k) * ((1.0 - p1) / (1.0 - self.p0)).ln();
        }
        self.recent.push(at_ms, canary, Tally::default());
    }
}

/// `ln` of the weighted mean of `exp(x)` over `(weight, x)` pairs whose
/// weights sum to 1, without overflow.
pub fn log_weighted_mean_exp(xs: &[(f64, f64)]) -> f64 {
    let m = xs.iter().map(|&(_, x)| x).fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return m;
    }
    m + xs.iter().map(|&(w, x)| w * (x - m).exp()).sum::<f64>().ln()
}

/// `ln` of the mean of `exp(x)` over `xs`, without overflow.
pub fn log_mean_exp(xs: &[f64]) -> f64 {
    let m = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return m;
    }
    m + (xs.iter().map(|x| (x - m).exp()).sum::<f64>() / xs.len() as f64).ln()
}

/// `ln(1/(share·α))` for a confidence in (0, 1): the evidence a guard
/// holding `share` of the release's `α` needs to breach. The shares of the
/// guards switched on sum to 1, so the chance that *any* of them ever
/// breaches on a canary within tolerance stays at most `α` (a weighted
/// Bonferroni): `confidence` is the release's, not each guard's.
pub fn log_threshold(confidence: f64, share: f64) -> f64 {
    let alpha = (1.0 - confidence).clamp(1e-12, 0.5);
    -(alpha * share.clamp(1e-6, 1.0)).ln()
}

/// The Wilson score interval of `k` in `n` at two-sided `confidence`:
/// honest at small `n` and at 0 or `n` failures, unlike `p ± z·se`.
pub fn wilson(k: u64, n: u64, confidence: f64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let z = z_two_sided(confidence);
    let (k, n) = (k.min(n) as f64, n as f64);
    let z2 = z * z;
    let centre = (k + z2 / 2.0) / (n + z2);
    let half = z * (k * (n - k) / n + z2 / 4.0).sqrt() / (n + z2);
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

/// The standard normal quantile for a two-sided `confidence`.
pub fn z_two_sided(confidence: f64) -> f64 {
    let c = if confidence.is_finite() {
        confidence.clamp(0.5, 0.999_999)
    } else {
        0.99
    };
    normal_quantile(0.5 + c / 2.0)
}

/// Acklam's rational approximation of the normal quantile (relative error
/// below 1.2e-9), for `p` in (0, 1).
fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_quantiles() {
        assert!((z_two_sided(0.95) - 1.959_964).abs() < 1e-5);
        assert!((z_two_sided(0.99) - 2.575_829).abs() < 1e-5);
        assert!((normal_quantile(0.5)).abs() < 1e-12);
        assert!((normal_quantile(0.001) + 3.090_232).abs() < 1e-5);
    }

    #[test]
    fn wilson_matches_the_formula_and_stays_in_bounds() {
        let (lo, hi) = wilson(25, 412, 0.99).unwrap();
        assert!(
            (lo - 0.0371).abs() < 5e-4 && (hi - 0.0985).abs() < 5e-4,
            "{lo} {hi}"
        );
        let (lo, hi) = wilson(0, 30, 0.99).unwrap();
        assert_eq!(lo, 0.0);
        assert!(hi > 0.1 && hi < 0.25, "{hi}");
        let (lo, hi) = wilson(30, 30, 0.99).unwrap();
        assert!(lo > 0.75 && (hi - 1.0).abs() < 1e-12);
        assert_eq!(wilson(0, 0, 0.99), None);
    }

    #[test]
    fn a_canary_failing_like_stable_gathers_no_evidence() {
        let mut t = RatioTest::new(1.5);
        // Same rate on both sides: the plug-ins sit at r0 and do not move;
        // the large-effect process loses; nothing counts against the canary.
        for i in 1..=40 {
            t.observe(i * 250, Tally::new(100, 1), Tally::new(900, 9));
            assert!(t.log_e() <= 0.0, "{}", t.log_e());
        }
    }

    #[test]
    fn a_canary_failing_everything_is_found_in_a_few_increments() {
        let mut t = RatioTest::new(1.5);
        let mut at = 0;
        let mut steps = 0;
        while t.log_e() < log_threshold(0.99, 1.0) {
            at += 250;
            steps += 1;
            t.observe(at, Tally::new(3, 3), Tally::new(25, 0));
            assert!(
                steps < 20,
                "no decision after {steps} increments: {}",
                t.log_e()
            );
        }
        assert!(
            steps >= 2,
            "one increment of 3 failures is not yet evidence"
        );
    }

    #[test]
    fn the_ceiling_test_trips_above_and_not_at_its_line() {
        let mut above = CeilingTest::new(0.05);
        let mut at = 0;
        for _ in 0..40 {
            at += 1000;
            above.observe(at, Tally::new(100, 20));
        }
        assert!(above.log_e() > log_threshold(0.999, 1.0));
        let mut at_line = CeilingTest::new(0.05);
        for i in 0..40 {
            at_line.observe(i * 1000, Tally::new(100, 5));
        }
        assert!(at_line.log_e() < 1.0, "{}", at_line.log_e());
    }

    #[test]
    fn nothing_scores_without_both_sides() {
        let mut t = RatioTest::new(1.0);
        t.observe(1, Tally::new(0, 0), Tally::new(100, 50));
        t.observe(2, Tally::new(10, 10), Tally::new(0, 0));
        assert_eq!(t.log_e(), 0.0);
    }
}
