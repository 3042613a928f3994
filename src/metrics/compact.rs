//! A compact latency histogram: what one version's latencies of one second
//! look like, small enough to journal every second for both versions, and
//! exact enough for the latency guards to be re-judged from a recording.
//!
//! Buckets are fixed and geometric, ten per decade (each about 26 % wider
//! than the one before) from 10 µs to 100 s, so two histograms always share
//! their edges and a threshold splits both at the same place. Only non-empty
//! buckets are kept, as `[index, count]` pairs in index order: a service
//! whose latencies span one decade writes about ten pairs a second.

use serde::{Deserialize, Serialize};

/// Upper edge of bucket 0, in microseconds (bucket 0 also holds anything faster).
const FIRST_US: f64 = 10.0;
/// Buckets per decade.
const PER_DECADE: f64 = 10.0;
/// Bucket count: 10 µs × 10^(70/10) = 100 s; the last bucket holds anything slower.
pub const BUCKETS: u8 = 71;

/// Latency counts by geometric bucket, sparse.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LatencyHist {
    /// `(bucket, count)`, bucket ascending, counts above zero.
    buckets: Vec<(u8, u32)>,
}

/// The bucket a latency of `us` microseconds falls in.
pub fn bucket_of(us: f64) -> u8 {
    if us.is_nan() || us <= FIRST_US {
        return 0;
    }
    let i = ((us / FIRST_US).log10() * PER_DECADE).ceil();
    i.clamp(0.0, f64::from(BUCKETS - 1)) as u8
}

/// The upper edge of bucket `i`, in microseconds.
pub fn upper_us(i: u8) -> f64 {
    FIRST_US * 10f64.powf(f64::from(i) / PER_DECADE)
}

impl LatencyHist {
    /// Count `n` requests that took `us` microseconds.
    pub fn record_n(&mut self, us: f64, n: u32) {
        if n == 0 {
            return;
        }
        let b = bucket_of(us);
        match self.buckets.binary_search_by_key(&b, |&(i, _)| i) {
            Ok(at) => self.buckets[at].1 = self.buckets[at].1.saturating_add(n),
            Err(at) => self.buckets.insert(at, (b, n)),
        }
    }

    /// From an hdrhistogram of microseconds (the metrics' own buckets).
    pub fn from_hdr(h: &hdrhistogram::Histogram<u32>) -> LatencyHist {
        let mut out = LatencyHist::default();
        for v in h.iter_recorded() {
            let n = v.count_at_value();
            out.record_n(h.highest_equivalent(v.value_iterated_to()) as f64, n);
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// How many requests it counts.
    pub fn total(&self) -> u64 {
        self.buckets.iter().map(|&(_, n)| u64::from(n)).sum()
    }

    /// Add another histogram's counts.
    pub fn merge(&mut self, o: &LatencyHist) {
        for &(b, n) in &o.buckets {
            match self.buckets.binary_search_by_key(&b, |&(i, _)| i) {
                Ok(at) => self.buckets[at].1 = self.buckets[at].1.saturating_add(n),
                Err(at) => self.buckets.insert(at, (b, n)),
            }
        }
    }

    /// Requests in buckets wholly above the bucket that holds `us`: the
    /// same split for any two histograms, whatever `us` is.
    pub fn count_above(&self, us: f64) -> u64 {
        let edge = bucket_of(us);
        self.buckets
            .iter()
            .filter(|&&(b, _)| b > edge)
            .map(|&(_, n)| u64::from(n))
            .sum()
    }

    /// The upper edge (µs) of the bucket where quantile `q` falls; `None`
    /// when empty. An over-estimate by at most one bucket (≈ 26 %).
    pub fn quantile_us(&self, q: f64) -> Option<f64> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let want = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for &(b, n) in &self.buckets {
            seen += u64::from(n);
            if seen >= want {
                return Some(upper_us(b));
            }
        }
        self.buckets.last().map(|&(b, _)| upper_us(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_geometric_and_edges_are_inclusive_above() {
        assert_eq!(bucket_of(0.0), 0);
        assert_eq!(bucket_of(10.0), 0);
        assert_eq!(bucket_of(10.1), 1);
        assert_eq!(bucket_of(100.0), 10);
        assert_eq!(bucket_of(1_000_000.0), 50);
        assert_eq!(bucket_of(1e12), BUCKETS - 1);
        for i in 1..BUCKETS {
            assert_eq!(bucket_of(upper_us(i) * 0.999), i, "bucket {i}");
        }
    }

    #[test]
    fn counts_quantiles_and_merge() {
        let mut h = LatencyHist::default();
        for ms in 1..=100u32 {
            h.record_n(f64::from(ms) * 1000.0, 1);
        }
        assert_eq!(h.total(), 100);
        let p50 = h.quantile_us(0.5).unwrap();
        assert!((50_000.0..=64_000.0).contains(&p50), "{p50}");
        let p99 = h.quantile_us(0.99).unwrap();
        assert!((99_000.0..=126_000.0).contains(&p99), "{p99}");
        // 50 ms is in the bucket up to 50.1 ms: 51..=100 ms are above it.
        assert_eq!(h.count_above(50_000.0), 50);
        let mut m = h.clone();
        m.merge(&h);
        assert_eq!(m.total(), 200);
        assert_eq!(m.count_above(50_000.0), 100);
        assert_eq!(LatencyHist::default().quantile_us(0.5), None);
    }

    #[test]
    fn json_is_pairs() {
        let mut h = LatencyHist::default();
        h.record_n(500.0, 3);
        h.record_n(20.0, 1);
        assert_eq!(serde_json::to_string(&h).unwrap(), "[[4,1],[17,3]]");
        let back: LatencyHist = serde_json::from_str("[[4,1],[17,3]]").unwrap();
        assert_eq!(back, h);
    }

    #[test]
    fn from_hdr_keeps_every_sample() {
        let mut hdr = hdrhistogram::Histogram::<u32>::new_with_bounds(1, 60_000_000, 2).unwrap();
        for us in [150u64, 151, 2_000, 2_100, 90_000] {
            hdr.record(us).unwrap();
        }
        let h = LatencyHist::from_hdr(&hdr);
        assert_eq!(h.total(), 5);
        assert_eq!(h.count_above(10_000.0), 1);
    }
}
