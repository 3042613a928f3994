//! The random draws of a simulated release: a seeded [`Sampler`] with
//! exact uniform, exponential and Poisson draws, and the latency
//! distributions ([`LatencyModel`], mixtures of [`Lognormal`]s over the
//! compact histogram's buckets, drawn with an alias table). Apart from
//! `simulate.rs` because these are numerics that stand on their own (and
//! have their own tests); the simulation only draws from them.

use super::B;
use crate::metrics::compact::upper_us;

/// The random numbers of one simulated release: exact samplers on a seeded
/// generator.
#[derive(Clone, Debug)]
pub struct Sampler(fastrand::Rng);

impl Sampler {
    pub fn new(seed: u64) -> Sampler {
        Sampler(fastrand::Rng::with_seed(seed))
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        self.0.f64()
    }

    /// Exponential with mean 1.
    pub fn exp1(&mut self) -> f64 {
        -(1.0 - self.0.f64()).ln()
    }

    /// A Poisson count with mean `lambda`: Knuth's product of uniforms
    /// below 10, Hörmann's transformed rejection (PTRS) above; both exact.
    pub fn poisson(&mut self, lambda: f64) -> u64 {
        if lambda.is_nan() || lambda <= 0.0 {
            return 0;
        }
        if lambda < 10.0 {
            let limit = (-lambda).exp();
            let mut p = 1.0;
            let mut k = 0;
            loop {
                p *= self.0.f64();
                if p <= limit {
                    return k;
                }
                k += 1;
            }
        }
        let slam = lambda.sqrt();
        let loglam = lambda.ln();
        let b = 0.931 + 2.53 * slam;
        let a = -0.059 + 0.02483 * b;
        let inv_alpha = 1.1239 + 1.1328 / (b - 3.4);
        let vr = 0.9277 - 3.6224 / (b - 2.0);
        loop {
            let u = self.0.f64() - 0.5;
            let v = self.0.f64();
            let us = 0.5 - u.abs();
            let k = ((2.0 * a / us + b) * u + lambda + 0.43).floor();
            if us >= 0.07 && v <= vr {
                return k as u64;
            }
            if k < 0.0 || (us < 0.013 && v > us) {
                continue;
            }
            let lhs = v.ln() + inv_alpha.ln() - (a / (us * us) + b).ln();
            if lhs <= -lambda + k * loglam - ln_factorial(k as u64) {
                return k as u64;
            }
        }
    }
}

/// `ln k!`: summed below 20, Stirling's series above (error below 1e-15).
pub(super) fn ln_factorial(k: u64) -> f64 {
    if k < 20 {
        return (2..=k).map(|i| (i as f64).ln()).sum();
    }
    let x = k as f64 + 1.0;
    let x2 = x * x;
    (x - 0.5) * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI).ln() + 1.0 / (12.0 * x)
        - 1.0 / (360.0 * x * x2)
        + 1.0 / (1260.0 * x * x2 * x2)
}

/// One component of a latency mixture: a lognormal.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lognormal {
    /// Its share of requests (the shares are normalised).
    pub share: f64,
    pub median_ms: f64,
    /// Standard deviation of `ln(latency)`.
    pub sigma: f64,
}

/// A version's latency distribution, as the compact histogram sees it: the
/// chance of each bucket, and an alias table to draw one in constant time.
#[derive(Clone, Debug)]
pub struct LatencyModel {
    parts: Vec<Lognormal>,
    probs: Vec<f64>,
    /// Vose's alias table: bucket `i` is kept with chance `keep[i]`, else
    /// it is `alias[i]`.
    keep: Vec<f64>,
    alias: Vec<u8>,
}

impl LatencyModel {
    /// A mixture of lognormals.
    pub fn mixture(parts: &[Lognormal]) -> LatencyModel {
        let total: f64 = parts.iter().map(|p| p.share.max(0.0)).sum();
        let cdf = |us: f64| -> f64 {
            parts
                .iter()
                .map(|p| {
                    let z = (us / (p.median_ms * 1000.0)).ln() / p.sigma;
                    p.share.max(0.0) / total * normal_cdf(z)
                })
                .sum()
        };
        let mut probs = Vec::with_capacity(B);
        let mut below = 0.0;
        for i in 0..B {
            let upto = if i + 1 == B {
                1.0
            } else {
                cdf(upper_us(i as u8))
            };
            probs.push((upto - below).max(0.0));
            below = upto;
        }
        let sum: f64 = probs.iter().sum();
        probs.iter_mut().for_each(|p| *p /= sum);
        let (keep, alias) = alias_table(&probs);
        LatencyModel {
            parts: parts.to_vec(),
            probs,
            keep,
            alias,
        }
    }

    /// The service the benchmark models: most requests around 20 ms, and a
    /// tail (3 % around 90 ms, wider) that sets its p99.
    pub fn typical() -> LatencyModel {
        LatencyModel::mixture(&[
            Lognormal {
                share: 0.97,
                median_ms: 20.0,
                sigma: 0.4,
            },
            Lognormal {
                share: 0.03,
                median_ms: 90.0,
                sigma: 0.6,
            },
        ])
    }

    /// The same distribution with every latency `factor` times longer.
    pub fn slower(&self, factor: f64) -> LatencyModel {
        let parts: Vec<Lognormal> = self
            .parts
            .iter()
            .map(|p| Lognormal {
                median_ms: p.median_ms * factor,
                ..*p
            })
            .collect();
        LatencyModel::mixture(&parts)
    }

    /// The chance of each bucket.
    pub fn probabilities(&self) -> &[f64] {
        &self.probs
    }

    /// The bucket of one request's latency.
    pub fn draw(&self, rng: &mut Sampler) -> usize {
        let x = rng.uniform() * B as f64;
        let i = (x as usize).min(B - 1);
        if x - (i as f64) < self.keep[i] {
            i
        } else {
            usize::from(self.alias[i])
        }
    }
}

/// Vose's alias method for drawing from `probs` in constant time.
fn alias_table(probs: &[f64]) -> (Vec<f64>, Vec<u8>) {
    let n = probs.len();
    let mut keep: Vec<f64> = probs.iter().map(|p| p * n as f64).collect();
    let mut alias: Vec<u8> = (0..n).map(|i| i as u8).collect();
    let (mut small, mut large): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| keep[i] < 1.0);
    while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
        alias[s] = l as u8;
        keep[l] -= 1.0 - keep[s];
        if keep[l] < 1.0 {
            large.pop();
            small.push(l);
        }
    }
    // What is left is 1 up to rounding.
    for i in small.into_iter().chain(large) {
        keep[i] = 1.0;
    }
    (keep, alias)
}

/// The standard normal CDF through `erfc` (fractional error below 1.2e-7,
/// Numerical Recipes' Chebyshev fit).
fn normal_cdf(z: f64) -> f64 {
    let x = -z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * x.abs());
    let poly = -x * x - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    let erfc = if x >= 0.0 { erfc } else { 2.0 - erfc };
    0.5 * erfc
}
