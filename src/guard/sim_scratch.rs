//! scratch: tuning (not committed)
use super::sequential::*;

struct Rng(fastrand::Rng);
impl Rng {
    fn poisson(&mut self, lambda: f64) -> u64 {
        if lambda <= 0.0 { return 0; }
        if lambda > 30.0 {
            // normal approx
            let u1 = self.0.f64().max(1e-300); let u2 = self.0.f64();
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            return (lambda + z * lambda.sqrt()).round().max(0.0) as u64;
        }
        let l = (-lambda).exp(); let mut k = 0; let mut p = 1.0;
        loop { p *= self.0.f64(); if p <= l { return k; } k += 1; }
    }
    fn binomial(&mut self, n: u64, p: f64) -> u64 {
        if p <= 0.0 || n == 0 { return 0; }
        if p >= 1.0 { return n; }
        // geometric skipping
        let lq = (1.0 - p).ln(); let mut k = 0; let mut i: f64 = 0.0;
        loop {
            let u = self.0.f64().max(1e-300);
            i += (u.ln() / lq).floor() + 1.0;
            if i > n as f64 { return k; }
            k += 1;
        }
    }
}

fn run(seed: u64, load: f64, p_s: f64, p_c: f64, r0: f64, conf: f64, secs: u64, sched: &dyn Fn(u64) -> f64) -> Option<f64> {
    let mut rng = Rng(fastrand::Rng::with_seed(seed));
    let mut t = RatioTest::new(r0);
    let thr = log_threshold(conf);
    for q in 0..secs * 4 {
        let w = sched(q / 4);
        let nc = rng.poisson(load * w / 4.0);
        let ns = rng.poisson(load * (1.0 - w) / 4.0);
        let kc = rng.binomial(nc, p_c);
        let ks = rng.binomial(ns, p_s);
        t.observe((q + 1) * 250, Tally::new(nc, kc), Tally::new(ns, ks));
        if t.log_e() >= thr { return Some((q + 1) as f64 / 4.0); }
    }
    None
}

#[test]
#[ignore]
fn tune() {
    let r0s: Vec<f64> = std::env::var("R0").unwrap_or("1.5".into()).split(',').map(|s| s.parse().unwrap()).collect();
    let conf: f64 = std::env::var("CONF").unwrap_or("0.99".into()).parse().unwrap();
    let n: u64 = std::env::var("N").unwrap_or("1000".into()).parse().unwrap();
    let aa = |s: u64| if s < 300 { 0.1 } else { 0.5 };
    for r0 in r0s {
        println!("r0 {r0} conf {conf}");
        for p in [0.01, 0.05] {
            for load in [10.0, 100.0, 1000.0] {
                let fa = (0..n).filter(|&i| run(i, load, p, p, r0, conf, 600, &aa).is_some()).count();
                println!("  A/A p={p} load={load}: false {fa}/{n}");
            }
        }
        for mult in [2.0, 5.0, 30.0] {
            let mut times: Vec<f64> = (0..200).map(|i| run(10_000 + i, 100.0, 0.01, (0.01 * mult as f64).min(1.0), r0, conf, 600, &|_| 0.1).unwrap_or(9999.0)).collect();
            times.sort_by(|a, b| a.partial_cmp(b).unwrap());
            println!("  {mult}x at 10 canary rps: median {} p90 {}", times[100], times[180]);
        }
        let mut times: Vec<f64> = (0..200).map(|i| run(20_000 + i, 100.0, 0.01, 0.30, r0, conf, 600, &|_| 0.1).unwrap_or(9999.0)).collect();
        times.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!("  30% at 10 canary rps: median {} p90 {}", times[100], times[180]);
    }
}
