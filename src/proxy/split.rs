//! Which version gets a request: the pure split.
//!
//! Weights are per mille (0..=1000). A request gets a bucket in 0..1000 and
//! goes to the canary when the bucket is below the weight. Without a sticky
//! key the bucket comes from the request's sequence number, spread over
//! 0..1000 by a golden-ratio stride: every 1,000 consecutive requests use each
//! bucket exactly once, so the canary gets exactly its share (no random
//! streaks at a 1 % step) and its requests are evenly interleaved with
//! stable's. With a sticky key the bucket is a hash of the key, so one client
//! stays on one version while the weight is unchanged, and raising the weight
//! from `a` to `b` moves exactly the keys whose bucket is in `a..b` — all of
//! them from stable to canary, none the other way (the fewest possible).

use crate::model::Role;

/// Per-mille resolution of the split.
pub const SCALE: u16 = 1000;

/// The version for a bucket in `0..SCALE` at `weight_permille`.
pub fn role_for_bucket(bucket: u16, weight_permille: u16) -> Role {
    if bucket < weight_permille.min(SCALE) {
        Role::Canary
    } else {
        Role::Stable
    }
}

/// Stride of the sequence: coprime with [`SCALE`] (so it visits every
/// bucket once per cycle) and close to `SCALE / φ` (so any run of
/// consecutive requests covers the buckets almost evenly).
const STRIDE: u64 = 617;

/// The bucket of the `n`-th unkeyed request.
pub fn sequence_bucket(n: u64) -> u16 {
    ((n % u64::from(SCALE)) * STRIDE % u64::from(SCALE)) as u16
}

/// The sequence number a router starts from: its bucket is the last one
/// (47 × 617 ≡ 999 mod 1000), so the first request a daemon routes goes to
/// stable at any weight below 100 %. Starting at 0 (bucket 0) sent it to the
/// canary at every weight above 0.
pub const FIRST_SEQUENCE: u64 = 47;

/// The stable bucket of a sticky key (FNV-1a, then a multiplicative mix so
/// similar keys spread evenly; the result is independent of process and run).
pub fn sticky_bucket(key: &[u8]) -> u16 {
    bucket_of_hash(sticky_hash(key))
}

/// A sticky key's well-mixed 64-bit hash: its bucket, and what the drain
/// view counts distinct clients by.
pub fn sticky_hash(key: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

/// Multiply-shift onto 0..SCALE: unbiased enough and branch-free.
pub fn bucket_of_hash(h: u64) -> u16 {
    ((u128::from(h) * u128::from(SCALE)) >> 64) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extremes_are_absolute() {
        for b in 0..SCALE {
            assert_eq!(role_for_bucket(b, 0), Role::Stable);
            assert_eq!(role_for_bucket(b, 1000), Role::Canary);
        }
    }

    #[test]
    fn raising_the_weight_only_moves_stable_to_canary() {
        for i in 0..2000u32 {
            let b = sticky_bucket(format!("client-{i}").as_bytes());
            let before = role_for_bucket(b, 100);
            let after = role_for_bucket(b, 200);
            assert!(!(before == Role::Canary && after == Role::Stable));
        }
    }

    #[test]
    fn every_window_of_requests_gets_its_share() {
        for weight in [1u16, 10, 50, 250, 333, 500, 999] {
            let canary = |from: u64, len: u64| {
                (from..from + len)
                    .filter(|&n| role_for_bucket(sequence_bucket(n), weight) == Role::Canary)
                    .count() as i64
            };
            // A whole cycle, from anywhere: exactly the weight.
            assert_eq!(canary(123_456, 1000), i64::from(weight));
            // Any shorter window: within a couple of requests of its share.
            for (from, len) in [(0, 100), (7, 40), (999, 200), (5_000, 10)] {
                let want = i64::from(weight) * len as i64 / 1000;
                let got = canary(from, len);
                assert!(
                    (got - want).abs() <= 2,
                    "w {weight} [{from}+{len}]: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn the_first_request_goes_to_stable_below_full_weight() {
        assert_eq!(sequence_bucket(FIRST_SEQUENCE), SCALE - 1);
        for weight in [1u16, 10, 500, 999] {
            let first = sequence_bucket(FIRST_SEQUENCE);
            assert_eq!(role_for_bucket(first, weight), Role::Stable);
        }
    }

    #[test]
    fn sticky_buckets_spread_evenly() {
        let mut counts = [0u32; 10];
        for i in 0..10_000u32 {
            counts[usize::from(sticky_bucket(format!("user{i}").as_bytes()) / 100)] += 1;
        }
        for c in counts {
            assert!((800..=1200).contains(&c), "{counts:?}");
        }
    }
}
