//! Simulated releases, to measure the guards rather than trust them:
//! synthetic per-request traffic to stable and canary, fed through the real
//! guard code exactly as the controller and the proxy feed it, for as many
//! releases as a benchmark (`benches/guards_sim.rs`) or a test wants.
//!
//! The traffic model, in full:
//! - Requests arrive as a Poisson process at `load` req/s; each goes to the
//!   canary with the step's weight, so the two versions' arrivals are
//!   independent Poisson processes.
//! - Each request fails independently with its version's error rate.
//! - Each request's latency is drawn from its version's fixed distribution
//!   ([`LatencyModel`]), into the compact histogram's buckets.
//! - The release runs its steps back to back (weight, seconds), judged from
//!   the first second.
//!
//! What the guards are told, in the controller's and the proxy's order:
//! a step begins (the proxy re-arms its trips, so the failure run restarts);
//! every canary failure on the request path, in arrival order, with the run
//! of canary failures it makes and whether stable's latest answer was a
//! failure; and every 250 ms tick with the tick's counts and latencies,
//! plus, when a whole second ends with the tick, that second's compact
//! histograms. [`Current`] turns these into calls of the real [`Judge`],
//! [`evidence_ready`] and `first_breach`, and applies the request-path trip's
//! rule (`proxy/trips.rs`: `trip_after` failures in a row while stable's
//! latest answer was good; the budget `max_failed_requests`); a unit test
//! below keeps that rule equal to the proxy's own `TripWire`.
//!
//! Only the order of failures and of the answers that end a failure state
//! can move a request-path trip, so events are simulated in continuous time
//! for failures always and for successes only while they would change the
//! trip's state (a canary run in progress, stable's latest answer a
//! failure); successes in the rest of the tick are one Poisson draw over the
//! time nobody watched them. That is the same law as drawing every request,
//! at the cost of the failures only.
//!
//! Pure: time is a count of simulated milliseconds, never a clock; the
//! random numbers come from one seeded generator, so a seed gives the same
//! releases on every machine.
//!
//! The random draws (the sampler and the latency distributions) are in
//! `simulate/draws.rs`.

mod draws;
pub use draws::{LatencyModel, Lognormal, Sampler};

use super::judge::{Judge, PathCounts, evidence_ready};
use super::sequential::Tally;
use crate::metrics::compact::{BUCKETS, LatencyHist, upper_us};
use crate::model::Guard;
use crate::plan::GuardPlan;

/// The guard tick: the controller judges four times a second.
pub const TICK_MS: u64 = 250;
/// Latency buckets (the compact histogram's).
const B: usize = BUCKETS as usize;

/// Counts per compact-histogram bucket, dense.
pub type Buckets = [u32; B];

/// One version's behaviour.
#[derive(Clone, Debug)]
pub struct Version {
    pub error_rate: f64,
    pub latency: LatencyModel,
}

/// One step of the release: a canary weight (0–1) held for whole seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    pub weight: f64,
    pub secs: u64,
}

/// One simulated release.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Total requests per second, both versions.
    pub load: f64,
    pub stable: Version,
    pub canary: Version,
    pub steps: Vec<Step>,
}

impl Scenario {
    /// A ten-minute release like a real plan's: 10 % for 5 minutes, then 50 %
    /// for 5 minutes.
    pub fn ten_minutes(load: f64, stable: Version, canary: Version) -> Scenario {
        Scenario {
            load,
            stable,
            canary,
            steps: vec![
                Step {
                    weight: 0.10,
                    secs: 300,
                },
                Step {
                    weight: 0.50,
                    secs: 300,
                },
            ],
        }
    }
}

/// A canary failure on the request path, as the proxy's trip sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Failure {
    /// When, in milliseconds since the release began.
    pub at_ms: f64,
    /// Canary failures in a row, this one included, since the trips were
    /// last armed (the step's start).
    pub run: u64,
    /// Whether stable's latest answer was a failure.
    pub stable_failing: bool,
    /// Canary failures since the release began, this one included.
    pub failed_in_release: u64,
}

/// One guard tick: what both versions served in the 250 ms ending `at_ms`.
#[derive(Clone, Copy, Debug)]
pub struct Tick<'a> {
    pub at_ms: u64,
    /// The step the tick belongs to, and whether it is the step's last.
    pub step: usize,
    pub step_ends: bool,
    pub canary: Tally,
    pub stable: Tally,
    /// The tick's latencies, per bucket.
    pub canary_latency: &'a Buckets,
    pub stable_latency: &'a Buckets,
    /// The whole second that ends with this tick (canary, stable).
    pub second: Option<(&'a LatencyHist, &'a LatencyHist)>,
    /// The request-path figures at the tick.
    pub path: PathCounts,
}

/// A set of guards under test: told what happens, says when it would roll
/// the canary back (the name of the guard that breached).
pub trait Guards {
    /// A step begins (the first step included).
    fn step_begins(&mut self, _step: usize) {}
    /// A canary failure on the request path.
    fn canary_failure(&mut self, f: &Failure) -> Option<&'static str>;
    /// A guard tick.
    fn tick(&mut self, t: &Tick<'_>) -> Option<&'static str>;
}

/// When and how a set of guards would have rolled the canary back.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Detection {
    /// Milliseconds since the release began.
    pub at_ms: f64,
    /// The guard that breached (its plan key).
    pub by: &'static str,
    /// Client requests that got a canary failure before it: the blast radius.
    pub canary_failures: u64,
}

/// The guards as this build runs them: the [`Judge`] each tick, the
/// evidence check at each step's end, and the proxy's request-path trips.
#[derive(Clone, Debug)]
pub struct Current {
    judge: Judge,
    trip_after: Option<u64>,
    budget: Option<u64>,
    /// The first step that ended without enough evidence, and what was
    /// missing: the controller would have waited (then paused), not moved on.
    pub evidence_short: Option<(usize, String)>,
}

impl Current {
    pub fn new(g: &GuardPlan) -> Current {
        Current {
            judge: Judge::new(g),
            trip_after: g.trip_after,
            budget: g.max_failed_requests,
            evidence_short: None,
        }
    }
}

/// The proxy's in-a-row trip (`proxy/trips.rs`), as a rule.
pub fn in_a_row_trips(trip_after: Option<u64>, f: &Failure) -> bool {
    trip_after.is_some_and(|n| f.run >= n && !f.stable_failing)
}

impl Guards for Current {
    fn canary_failure(&mut self, f: &Failure) -> Option<&'static str> {
        if in_a_row_trips(self.trip_after, f) {
            return Some(Guard::TripAfter.key());
        }
        if self.budget.is_some_and(|n| f.failed_in_release >= n) {
            return Some(Guard::MaxFailedRequests.key());
        }
        None
    }

    fn tick(&mut self, t: &Tick<'_>) -> Option<&'static str> {
        // The controller's order: the seconds completed, then the counts.
        if let Some((c, s)) = t.second {
            self.judge.observe_second(t.at_ms, c, s);
        }
        self.judge.observe_counts(t.at_ms, t.canary, t.stable);
        let verdicts = self.judge.verdicts(t.path, false);
        if t.step_ends
            && self.evidence_short.is_none()
            && let Err(why) = evidence_ready(&verdicts)
        {
            self.evidence_short = Some((t.step, why));
        }
        super::first_breach(&verdicts).map(|v| match v.name {
            // The count guards also read as verdicts at the tick; say so,
            // so a breach there is told apart from the proxy's own trip.
            Guard::TripAfter => "trip_after (guard tick)",
            Guard::MaxFailedRequests => "max_failed_requests (guard tick)",
            g => g.key(),
        })
    }
}

/// Request rates (per second) of the four kinds of answer in one step.
#[derive(Clone, Copy, Debug)]
struct Rates {
    canary_fail: f64,
    canary_ok: f64,
    stable_fail: f64,
    stable_ok: f64,
}

/// A latency at the middle (geometrically) of each bucket, in microseconds.
fn bucket_us() -> [f64; B] {
    std::array::from_fn(|b| {
        if b == 0 {
            upper_us(0) / 2.0
        } else {
            (upper_us(b as u8 - 1) * upper_us(b as u8)).sqrt()
        }
    })
}

fn hist(counts: &Buckets, us: &[f64; B]) -> LatencyHist {
    let mut h = LatencyHist::default();
    for (&n, &us) in counts.iter().zip(us) {
        h.record_n(us, n);
    }
    h
}

impl Rates {
    /// The rates of one step at canary share `weight` (clamped to 0..=1).
    fn of(sc: &Scenario, weight: f64) -> Rates {
        let w = weight.clamp(0.0, 1.0);
        let (pc, ps) = (
            sc.canary.error_rate.clamp(0.0, 1.0),
            sc.stable.error_rate.clamp(0.0, 1.0),
        );
        let load = sc.load.max(0.0);
        Rates {
            canary_fail: load * w * pc,
            canary_ok: load * w * (1.0 - pc),
            stable_fail: load * (1.0 - w) * ps,
            stable_ok: load * (1.0 - w) * (1.0 - ps),
        }
    }
}

/// One simulated release in progress: the random draws, what the proxy
/// has counted so far, and the latency buckets of the tick and the second.
struct Sim {
    rng: Sampler,
    /// Per guard set: when it would have rolled back.
    out: Vec<Option<Detection>>,
    failed_in_release: u64,
    stable_failing: bool,
    /// Canary failures in a row (the proxy's trip run; reset each step).
    run: u64,
    at_ms: u64,
    c_tick: Buckets,
    s_tick: Buckets,
    c_sec: Buckets,
    s_sec: Buckets,
    us: [f64; B],
}

/// Run one release with seed `seed` past every guard set in `guards`; the
/// result says, per set, when it would have rolled back (`None`: it would
/// have let the release run its course). Stops early once every set has.
///
/// The random draws come in a fixed order (each tick: the request events,
/// then the unwatched successes, then the canary's latencies, then
/// stable's), so a seed always gives the same release.
pub fn run(sc: &Scenario, seed: u64, guards: &mut [&mut dyn Guards]) -> Vec<Option<Detection>> {
    let mut sim = Sim {
        rng: Sampler::new(seed),
        out: vec![None; guards.len()],
        failed_in_release: 0,
        stable_failing: false,
        run: 0,
        at_ms: 0,
        c_tick: [0; B],
        s_tick: [0; B],
        c_sec: [0; B],
        s_sec: [0; B],
        us: bucket_us(),
    };
    for (step, st) in sc.steps.iter().enumerate() {
        // The proxy re-arms its trips at each step: the run starts over.
        sim.run = 0;
        for (g, done) in guards.iter_mut().zip(&sim.out) {
            if done.is_none() {
                g.step_begins(step);
            }
        }
        let r = Rates::of(sc, st.weight);
        let ticks = st.secs * 1000 / TICK_MS;
        for k in 0..ticks {
            let (c, s) = sim.requests(&r, guards);
            sim.latencies(sc, c, s);
            sim.at_ms += TICK_MS;
            let second = sim.second();
            let t = Tick {
                at_ms: sim.at_ms,
                step,
                step_ends: k + 1 == ticks,
                canary: c,
                stable: s,
                canary_latency: &sim.c_tick,
                stable_latency: &sim.s_tick,
                second: second.as_ref().map(|(c, s)| (c, s)),
                path: PathCounts {
                    failed_in_release: sim.failed_in_release,
                    run: sim.run,
                    stable_failing: sim.stable_failing,
                },
            };
            let (at, failures) = (sim.at_ms as f64, sim.failed_in_release);
            detect(guards, &mut sim.out, at, failures, |g| g.tick(&t));
            if sim.out.iter().all(Option::is_some) {
                return sim.out;
            }
        }
    }
    sim.out
}

impl Sim {
    /// One tick's requests, drawn as events in time; canary failures go to
    /// the guards' request-path trips as they happen. Successes nobody
    /// watches (no run of failures to break) are drawn at once at the end.
    fn requests(&mut self, r: &Rates, guards: &mut [&mut dyn Guards]) -> (Tally, Tally) {
        let tick_s = TICK_MS as f64 / 1000.0;
        let (mut c, mut s) = (Tally::default(), Tally::default());
        // Time (s) into the tick, and the time nobody watched the
        // successes of each version.
        let (mut tau, mut free_c, mut free_s) = (0.0f64, 0.0f64, 0.0f64);
        loop {
            let (watch_c, watch_s) = (self.run > 0, self.stable_failing);
            let total = r.canary_fail
                + r.stable_fail
                + if watch_c { r.canary_ok } else { 0.0 }
                + if watch_s { r.stable_ok } else { 0.0 };
            let dt = if total > 0.0 {
                self.rng.exp1() / total
            } else {
                f64::INFINITY
            };
            let until = (tau + dt).min(tick_s);
            if !watch_c {
                free_c += until - tau;
            }
            if !watch_s {
                free_s += until - tau;
            }
            if tau + dt >= tick_s {
                break;
            }
            tau += dt;
            let mut x = self.rng.uniform() * total;
            if x < r.canary_fail {
                c.add(Tally::new(1, 1));
                self.canary_failed(tau, guards);
                continue;
            }
            x -= r.canary_fail;
            if x < r.stable_fail {
                s.add(Tally::new(1, 1));
                self.stable_failing = true;
                continue;
            }
            x -= r.stable_fail;
            if watch_c && x < r.canary_ok {
                c.add(Tally::new(1, 0));
                self.run = 0;
            } else {
                s.add(Tally::new(1, 0));
                self.stable_failing = false;
            }
        }
        c.add(Tally::new(self.rng.poisson(r.canary_ok * free_c), 0));
        s.add(Tally::new(self.rng.poisson(r.stable_ok * free_s), 0));
        (c, s)
    }

    /// A canary failure `tau` seconds into the tick, told to the guards'
    /// request-path trips.
    fn canary_failed(&mut self, tau: f64, guards: &mut [&mut dyn Guards]) {
        self.run += 1;
        self.failed_in_release += 1;
        let f = Failure {
            at_ms: self.at_ms as f64 + tau * 1000.0,
            run: self.run,
            stable_failing: self.stable_failing,
            failed_in_release: self.failed_in_release,
        };
        detect(guards, &mut self.out, f.at_ms, f.failed_in_release, |g| {
            g.canary_failure(&f)
        });
    }

    /// The tick's latencies (canary's drawn first), added to the second's.
    fn latencies(&mut self, sc: &Scenario, c: Tally, s: Tally) {
        self.c_tick.fill(0);
        self.s_tick.fill(0);
        for _ in 0..c.requests {
            self.c_tick[sc.canary.latency.draw(&mut self.rng)] += 1;
        }
        for _ in 0..s.requests {
            self.s_tick[sc.stable.latency.draw(&mut self.rng)] += 1;
        }
        for b in 0..B {
            self.c_sec[b] += self.c_tick[b];
            self.s_sec[b] += self.s_tick[b];
        }
    }

    /// At a whole second: its histograms (canary, stable), and a new second.
    fn second(&mut self) -> Option<(LatencyHist, LatencyHist)> {
        self.at_ms.is_multiple_of(1000).then(|| {
            let pair = (hist(&self.c_sec, &self.us), hist(&self.s_sec, &self.us));
            self.c_sec.fill(0);
            self.s_sec.fill(0);
            pair
        })
    }
}

/// Ask every guard set still running; the first answer of each is when
/// (and by which guard) it would have rolled back.
fn detect(
    guards: &mut [&mut dyn Guards],
    out: &mut [Option<Detection>],
    at_ms: f64,
    canary_failures: u64,
    mut ask: impl FnMut(&mut dyn Guards) -> Option<&'static str>,
) {
    for (g, done) in guards.iter_mut().zip(out.iter_mut()) {
        if done.is_none()
            && let Some(by) = ask(&mut **g)
        {
            *done = Some(Detection {
                at_ms,
                by,
                canary_failures,
            });
        }
    }
}

/// The seed of release `i` of batch `batch` under base seed `seed`
/// (splitmix64, so neighbouring releases are unrelated).
pub fn release_seed(seed: u64, batch: u64, i: u64) -> u64 {
    let mut z = seed
        .wrapping_add(batch.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(i.wrapping_mul(0xD1B5_4A32_D192_ED03));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
#[path = "simulate_tests.rs"]
mod tests;
