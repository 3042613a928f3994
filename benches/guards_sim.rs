//! The guards under simulation: how often each set of guards rolls back a
//! canary as good as stable (an A/A release), and how fast it catches one
//! that is worse, over thousands of simulated ten-minute releases — round
//! 1's guards (a frozen copy below, the reference) beside the current ones
//! (the real `Judge`, evidence check and request-path trip rule, through
//! `cutover::guard::simulate`).
//!
//! Every release follows a real plan's schedule, 10 % for 5 minutes then
//! 50 % for 5 minutes, judged from its first second; both sets of guards see
//! the very same requests. The traffic model (Poisson arrivals, independent
//! failures, a latency mixture with a tail) is described in
//! `src/guard/simulate.rs`.
//!
//! Run: `cargo bench --bench guards_sim` (1,000 releases per row, a few
//! minutes in release mode); `-- --quick` for 50 per row (a smoke run);
//! `--releases N` and `--seed S` to change either; `--aa-only` for table 1
//! alone (false rollbacks on many releases). The tables go to stdout
//! as markdown and depend only on the seed and the release count; timings
//! go to stderr.

use cutover::guard::sequential::Tally;
use cutover::guard::simulate::{
    self, Buckets, Current, Detection, Failure, Guards, LatencyModel, Scenario, Tick, Version,
};
use cutover::metrics::compact::{BUCKETS, upper_us};
use cutover::plan::GuardPlan;
use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

// ===========================================================================
// REFERENCE — round 1's guards, frozen.
//
// `evaluate` is round 1's evaluation (`git show 1d1133a:src/guard/mod.rs`),
// kept as it was but for its input types, and `Round1` feeds it the way
// round 1's controller and proxy did: four times a second, with each
// version's figures over the metrics window (the last `window` seconds, the
// current partial one included; the canary's metrics reset at each step),
// the canary's errors counted since the step began, and the proxy's count
// trip firing on the request that reaches `max_errors`. Thresholds: round
// 1's documented defaults (max_errors 20, max_error_rate 0.05 over 10 s,
// judged from min_requests 50) and the design's example latency guard
// (max_p99_ratio 1.5). Do not improve it: it is what the new guards are
// measured against.
// ===========================================================================
mod round1 {
    /// Stable p99 below this is treated as this when computing the ratio.
    pub const RATIO_FLOOR_MS: f64 = 1.0;

    pub struct Plan {
        pub max_errors: Option<u64>,
        pub max_error_rate: Option<f64>,
        pub min_requests: u64,
        pub max_p99_ms: Option<f64>,
        pub max_p99_ratio: Option<f64>,
    }

    /// One version's figures over the guard window.
    pub struct Stats {
        pub requests: u64,
        pub errors: u64,
        pub p99_ms: Option<f64>,
    }

    pub struct Input<'a> {
        pub plan: &'a Plan,
        pub canary: &'a Stats,
        pub stable: &'a Stats,
        pub canary_errors_since_step: u64,
        pub canary_requests_since_step: u64,
    }

    #[derive(Clone, Copy, PartialEq, Eq)]
    pub enum Status {
        NotJudged,
        Pass,
        Breach,
    }

    pub struct Verdict {
        pub name: &'static str,
        pub status: Status,
    }

    /// One verdict per configured guard, in round 1's order.
    pub fn evaluate(f: &Input<'_>) -> Vec<Verdict> {
        let g = f.plan;
        let mut out = Vec::new();
        let verdict = |name: &'static str, value: Option<f64>, breach: bool| {
            let status = match value.filter(|v| v.is_finite()) {
                None => Status::NotJudged,
                Some(_) if breach => Status::Breach,
                Some(_) => Status::Pass,
            };
            Verdict { name, status }
        };
        if let Some(max) = g.max_errors {
            let n = f.canary_errors_since_step;
            let seen = f.canary_requests_since_step.max(n);
            let value = (seen > 0).then_some(n as f64);
            out.push(verdict("max_errors", value, n >= max));
        }
        let requests = f.canary.requests;
        let judged = requests > 0 && requests >= g.min_requests;
        if let Some(max) = g.max_error_rate {
            let rate = judged.then(|| f.canary.errors.min(requests) as f64 / requests as f64);
            out.push(verdict(
                "max_error_rate",
                rate,
                rate.is_some_and(|r| r > max),
            ));
        }
        if let Some(limit) = g.max_p99_ms {
            let p99 = f
                .canary
                .p99_ms
                .filter(|p| judged && p.is_finite() && *p >= 0.0);
            out.push(verdict("max_p99", p99, p99.is_some_and(|p| p > limit)));
        }
        if let Some(max) = g.max_p99_ratio {
            let stable_judged = f.stable.requests > 0 && f.stable.requests >= g.min_requests;
            let ratio = match (f.canary.p99_ms, f.stable.p99_ms) {
                (Some(c), Some(s))
                    if judged && stable_judged && c.is_finite() && s.is_finite() && c >= 0.0 =>
                {
                    Some(c / s.max(RATIO_FLOOR_MS))
                }
                _ => None,
            };
            out.push(verdict(
                "max_p99_ratio",
                ratio,
                ratio.is_some_and(|r| r > max),
            ));
        }
        out
    }
}

/// Round 1's metrics window for one version: the ticks of the last
/// `window` seconds (the current one included), with running sums.
#[derive(Default)]
struct Window {
    ticks: VecDeque<(u64, Tally, Buckets)>,
    sum: Tally,
    latency: Vec<u64>,
}

impl Window {
    fn push(&mut self, start_ms: u64, t: Tally, b: &Buckets) {
        if self.latency.is_empty() {
            self.latency = vec![0; BUCKETS as usize];
        }
        self.ticks.push_back((start_ms, t, *b));
        self.sum.add(t);
        for (s, &n) in self.latency.iter_mut().zip(b) {
            *s += u64::from(n);
        }
    }

    /// Keep the ticks that start at `from_ms` or later.
    fn keep_from(&mut self, from_ms: u64) {
        while let Some(&(start, t, b)) = self.ticks.front() {
            if start >= from_ms {
                break;
            }
            self.ticks.pop_front();
            self.sum.requests -= t.requests;
            self.sum.failures -= t.failures;
            for (s, &n) in self.latency.iter_mut().zip(&b) {
                *s -= u64::from(n);
            }
        }
    }

    fn clear(&mut self) {
        *self = Window::default();
    }

    /// The window's p99 (ms). Round 1 read it from an hdrhistogram (two
    /// significant figures); here it comes from the simulation's buckets,
    /// interpolated geometrically inside the bucket that holds it.
    fn p99_ms(&self) -> Option<f64> {
        let n = self.sum.requests;
        if n == 0 {
            return None;
        }
        let rank = ((0.99 * n as f64).ceil() as u64).max(1);
        let mut below = 0;
        for (b, &count) in self.latency.iter().enumerate() {
            if below + count >= rank {
                let hi = upper_us(b as u8);
                let lo = if b == 0 {
                    hi / 2.0
                } else {
                    upper_us(b as u8 - 1)
                };
                let f = (rank - below) as f64 / count as f64;
                return Some(lo * (hi / lo).powf(f) / 1000.0);
            }
            below += count;
        }
        None
    }

    fn stats(&self, with_p99: bool) -> round1::Stats {
        round1::Stats {
            requests: self.sum.requests,
            errors: self.sum.failures,
            p99_ms: if with_p99 { self.p99_ms() } else { None },
        }
    }
}

/// Round 1's guards, fed as round 1's controller and proxy fed them.
struct Round1 {
    plan: round1::Plan,
    window_secs: u64,
    errors_since_step: u64,
    requests_since_step: u64,
    canary: Window,
    stable: Window,
}

impl Round1 {
    /// Round 1's documented defaults: the error guards.
    fn defaults() -> Round1 {
        Round1::with(round1::Plan {
            max_errors: Some(20),
            max_error_rate: Some(0.05),
            min_requests: 50,
            max_p99_ms: None,
            max_p99_ratio: None,
        })
    }

    /// Round 1's latency guard as the design's example plan set it.
    fn latency() -> Round1 {
        Round1::with(round1::Plan {
            max_errors: None,
            max_error_rate: None,
            min_requests: 50,
            max_p99_ms: None,
            max_p99_ratio: Some(1.5),
        })
    }

    fn with(plan: round1::Plan) -> Round1 {
        Round1 {
            plan,
            window_secs: 10,
            errors_since_step: 0,
            requests_since_step: 0,
            canary: Window::default(),
            stable: Window::default(),
        }
    }
}

impl Guards for Round1 {
    fn step_begins(&mut self, _step: usize) {
        // The step's effects: the canary's metrics reset, the trip re-armed.
        self.errors_since_step = 0;
        self.requests_since_step = 0;
        self.canary.clear();
    }

    fn canary_failure(&mut self, _f: &Failure) -> Option<&'static str> {
        // The proxy's count trip, on the request that reaches the limit.
        self.errors_since_step += 1;
        let limit = self.plan.max_errors?;
        (self.errors_since_step >= limit).then_some("max_errors (request path)")
    }

    fn tick(&mut self, t: &Tick<'_>) -> Option<&'static str> {
        let start = t.at_ms - simulate::TICK_MS;
        self.canary.push(start, t.canary, t.canary_latency);
        self.stable.push(start, t.stable, t.stable_latency);
        self.requests_since_step += t.canary.requests;
        // The metrics' window at `at_ms`: seconds now-9 ..= now.
        let now_sec = t.at_ms / 1000;
        let from = now_sec.saturating_sub(self.window_secs - 1) * 1000;
        self.canary.keep_from(from);
        self.stable.keep_from(from);
        let min = self.plan.min_requests;
        let latency = self.plan.max_p99_ms.is_some() || self.plan.max_p99_ratio.is_some();
        let judged = |w: &Window| latency && w.sum.requests > 0 && w.sum.requests >= min;
        let canary = self.canary.stats(judged(&self.canary));
        let stable = self.stable.stats(judged(&self.stable));
        let verdicts = round1::evaluate(&round1::Input {
            plan: &self.plan,
            canary: &canary,
            stable: &stable,
            canary_errors_since_step: self.errors_since_step,
            canary_requests_since_step: self.requests_since_step,
        });
        verdicts
            .iter()
            .find(|v| v.status == round1::Status::Breach)
            .map(|v| v.name)
    }
}

// ===========================================================================
// The benchmark.
// ===========================================================================

struct Args {
    releases: u64,
    seed: u64,
    /// Table 1 only: to measure the false-rollback rate on many more
    /// releases than the whole bench can afford.
    aa_only: bool,
}

fn args() -> Args {
    let mut a = Args {
        releases: 1000,
        seed: 20_261_204,
        aa_only: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut number = |what: &str| -> u64 {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{what} takes a whole number"))
        };
        match arg.as_str() {
            "--quick" => a.releases = 50,
            "--releases" => a.releases = number("--releases"),
            "--seed" => a.seed = number("--seed"),
            "--aa-only" => a.aa_only = true,
            // `cargo bench` passes `--bench`; a name filter is not supported.
            _ => {}
        }
    }
    a
}

/// What one batch of releases gave, per set of guards.
#[derive(Default)]
struct Batch {
    /// Detection times (s) of the releases caught, and their blast radius.
    caught: Vec<(f64, u64)>,
    /// How many releases each guard caught first.
    by: BTreeMap<&'static str, u64>,
    releases: u64,
    /// Current guards only: releases with a step that ended short of evidence.
    evidence_short: u64,
}

impl Batch {
    fn add(&mut self, d: Option<Detection>) {
        self.releases += 1;
        if let Some(d) = d {
            self.caught.push((d.at_ms / 1000.0, d.canary_failures));
            *self.by.entry(d.by).or_default() += 1;
        }
    }

    /// The `q` quantile of the time to detect, a release never caught
    /// counting as never; `None` when that quantile is never.
    fn time_quantile(&self, q: f64) -> Option<f64> {
        let mut t: Vec<f64> = self.caught.iter().map(|c| c.0).collect();
        t.sort_by(f64::total_cmp);
        let rank = ((q * self.releases as f64).ceil() as usize).max(1);
        t.get(rank - 1).copied()
    }

    fn median_blast(&self) -> Option<u64> {
        let mut b: Vec<u64> = self.caught.iter().map(|c| c.1).collect();
        b.sort_unstable();
        b.get(b.len().saturating_sub(1) / 2).copied()
    }

    fn never(&self) -> u64 {
        self.releases - self.caught.len() as u64
    }

    fn by_text(&self) -> String {
        if self.by.is_empty() {
            return "—".into();
        }
        let mut v: Vec<(&&str, &u64)> = self.by.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        v.iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// What a batch gave each set of guards.
struct Sets {
    /// Round 1's defaults (the error guards).
    errors: Batch,
    /// Round 1's latency guard (`max_p99_ratio = 1.5`).
    latency: Batch,
    /// The current guards, defaults.
    current: Batch,
}

/// Run `n` releases of `sc` past round 1's guards and the current ones:
/// every set sees the very same requests.
fn batch(sc: &Scenario, n: u64, seed: u64, id: u64) -> Sets {
    let mut out = Sets {
        errors: Batch::default(),
        latency: Batch::default(),
        current: Batch::default(),
    };
    let plan = GuardPlan::default();
    for i in 0..n {
        let mut errors = Round1::defaults();
        let mut latency = Round1::latency();
        let mut current = Current::new(&plan);
        let got = simulate::run(
            sc,
            simulate::release_seed(seed, id, i),
            &mut [&mut errors, &mut latency, &mut current],
        );
        out.errors.add(got[0]);
        out.latency.add(got[1]);
        out.current.add(got[2]);
        out.current.evidence_short += u64::from(current.evidence_short.is_some());
    }
    out
}

fn version(error_rate: f64, latency: &LatencyModel) -> Version {
    Version {
        error_rate,
        latency: latency.clone(),
    }
}

fn secs(t: Option<f64>) -> String {
    match t {
        None => "never".into(),
        Some(s) if s < 10.0 => format!("{s:.2} s"),
        Some(s) => format!("{s:.0} s"),
    }
}

fn share(b: &Batch) -> String {
    format!("{} / {}", b.caught.len(), b.releases)
}

/// The median time of the releases caught (for false rollbacks: when the
/// healthy canary was rolled back).
fn median_of_caught(b: &Batch) -> Option<f64> {
    let mut t: Vec<f64> = b.caught.iter().map(|c| c.0).collect();
    t.sort_by(f64::total_cmp);
    t.get(t.len().saturating_sub(1) / 2).copied()
}

fn main() {
    let a = args();
    let typical = LatencyModel::typical();
    let started = Instant::now();
    let mut id = 0;
    let mut run = |sc: &Scenario, label: &str| {
        let t = Instant::now();
        let sets = batch(sc, a.releases, a.seed, id);
        id += 1;
        eprintln!("  {label}: {:.1} s", t.elapsed().as_secs_f64());
        sets
    };
    println!(
        "Seed {}, {} releases per row; each release 10 % for 5 min then 50 % for 5 min, judged from its first second. \
         Round 1: its defaults (max_errors 20 since the step began, also the proxy's count trip; max_error_rate 0.05 over 10 s from 50 requests; checked 4×/s) \
         and, where latency is concerned, the design's max_p99_ratio 1.5 (10 s, 50 requests each). Current: `GuardPlan::default()`.\n",
        a.seed, a.releases
    );

    println!(
        "**Table 1: false rollbacks of A/A canaries** (the canary is stable: same error rate, same latency)\n"
    );
    println!(
        "| baseline errors | load | round 1 defaults: rolled back | median time | first to trip | round 1 max_p99_ratio: rolled back | current: rolled back | current: by | current: a step ended short of evidence |"
    );
    println!("|---:|---:|---:|---:|---|---:|---:|---|---:|");
    for p in [0.01, 0.05] {
        for load in [10.0, 100.0, 1000.0] {
            let sc = Scenario::ten_minutes(load, version(p, &typical), version(p, &typical));
            let s = run(&sc, &format!("A/A {p} × {load}"));
            println!(
                "| {:.0} % | {load:.0} req/s | {} | {} | {} | {} | {} | {} | {} |",
                p * 100.0,
                share(&s.errors),
                secs(median_of_caught(&s.errors)),
                s.errors.by_text(),
                share(&s.latency),
                share(&s.current),
                s.current.by_text(),
                s.current.evidence_short,
            );
        }
    }

    if a.aa_only {
        eprintln!("total {:.1} s", started.elapsed().as_secs_f64());
        return;
    }
    println!(
        "\n**Table 2: time to detect a worse canary** (stable 1 % errors; 100 req/s total, so 10 canary req/s in the first step and 50 in the second, unless stated; \
         times from the release's start; never = not caught in the 10 minutes; blast radius = client requests that got a canary failure before the rollback, \
         median of the releases caught)\n"
    );
    println!(
        "| canary | round 1 guard | round 1: median | p90 | never | blast radius | current: median | p90 | never | blast radius | current: caught by |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    let slow = typical.slower(2.0);
    let rows: Vec<(&str, f64, Version)> = vec![
        ("errors 2× stable's (2 %)", 100.0, version(0.02, &typical)),
        ("errors 5× stable's (5 %)", 100.0, version(0.05, &typical)),
        ("errors 30× stable's (30 %)", 100.0, version(0.30, &typical)),
        ("fails every request", 100.0, version(1.0, &typical)),
        (
            "fails every request, 1,000 req/s",
            1000.0,
            version(1.0, &typical),
        ),
        (
            "latency 2× stable's (errors 1 %)",
            100.0,
            version(0.01, &slow),
        ),
    ];
    for (name, load, canary) in rows {
        let sc = Scenario::ten_minutes(load, version(0.01, &typical), canary);
        let s = run(&sc, name);
        let (old, which) = if name.starts_with("latency") {
            (&s.latency, "max_p99_ratio 1.5")
        } else {
            (&s.errors, "defaults")
        };
        let blast = |b: &Batch| b.median_blast().map_or("—".into(), |n| n.to_string());
        println!(
            "| {name} | {which} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            secs(old.time_quantile(0.5)),
            secs(old.time_quantile(0.9)),
            old.never(),
            blast(old),
            secs(s.current.time_quantile(0.5)),
            secs(s.current.time_quantile(0.9)),
            s.current.never(),
            blast(&s.current),
            s.current.by_text(),
        );
    }

    println!(
        "\n**Table 3: trouble both versions share** (beyond the brief: a dependency of both fails, canary = stable at a high error rate; \
         a rollback here blames the canary for what stable does too)\n"
    );
    println!(
        "| both versions' errors | load | round 1 defaults: rolled back | current: rolled back | current: by |"
    );
    println!("|---:|---:|---:|---:|---|");
    for p in [0.2, 0.5] {
        for load in [100.0, 1000.0] {
            let sc = Scenario::ten_minutes(load, version(p, &typical), version(p, &typical));
            let s = run(&sc, &format!("shared {p} × {load}"));
            println!(
                "| {:.0} % | {load:.0} req/s | {} | {} | {} |",
                p * 100.0,
                share(&s.errors),
                share(&s.current),
                s.current.by_text(),
            );
        }
    }
    eprintln!("total {:.1} s", started.elapsed().as_secs_f64());
}
