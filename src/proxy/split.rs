//! Which version gets a request: the pure split.
//!
//! Weights are per mille (0..=1000). A request draws a bucket in 0..1000 and
//! goes to the canary when the bucket is below the weight. With a sticky key
//! the bucket is a hash of the key instead of a random draw, so one client
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

/// A uniformly random bucket.
pub fn random_bucket() -> u16 {
    fastrand::u16(0..SCALE)
}

/// The stable bucket of a sticky key (FNV-1a, then a multiplicative mix so
/// similar keys spread evenly; the result is independent of process and run).
pub fn sticky_bucket(key: &[u8]) -> u16 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    // Multiply-shift onto 0..SCALE: unbiased enough and branch-free.
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
