//! An upstream pool: the members of one version that may get new requests,
//! and how one is picked (round-robin or least-in-flight).
//!
//! Pools are immutable once built; membership changes build a new pool that
//! reuses the [`Member`]s it keeps, so in-flight counts survive the swap.

use crate::plan::Balance;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// One upstream address with its live in-flight count.
#[derive(Debug)]
pub struct Member {
    /// `host:port`.
    pub addr: String,
    /// The same, pre-parsed (a `Host` for requests that lack one).
    pub authority: Option<http::uri::Authority>,
    /// The same as a socket address when it is `ip:port` (no resolver per connect).
    pub socket: Option<std::net::SocketAddr>,
    in_flight: AtomicU64,
}

impl Member {
    pub fn new(addr: String) -> Arc<Member> {
        Arc::new(Member {
            authority: addr.parse().ok(),
            socket: addr.parse().ok(),
            addr,
            in_flight: AtomicU64::new(0),
        })
    }

    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Count a request on this member until the returned guard drops.
    pub fn enter(self: &Arc<Self>) -> MemberGuard {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        MemberGuard(self.clone())
    }
}

/// Decrements the member's in-flight count when dropped.
#[derive(Debug)]
pub struct MemberGuard(Arc<Member>);

impl Drop for MemberGuard {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

#[derive(Debug, Default)]
pub struct Pool {
    members: Vec<Arc<Member>>,
    next: AtomicUsize,
}

impl Pool {
    pub fn new(members: Vec<Arc<Member>>) -> Pool {
        Pool {
            members,
            next: AtomicUsize::new(0),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn members(&self) -> &[Arc<Member>] {
        &self.members
    }

    /// Pick a member, skipping those in `exclude` (already failed for this request).
    pub fn pick(&self, balance: Balance, exclude: &[Arc<Member>]) -> Option<&Arc<Member>> {
        let usable = |m: &&Arc<Member>| !exclude.iter().any(|e| Arc::ptr_eq(e, m));
        match balance {
            Balance::RoundRobin => {
                let n = self.members.len();
                if n == 0 {
                    return None;
                }
                let start = self.next.fetch_add(1, Ordering::Relaxed);
                (0..n)
                    .map(|i| &self.members[(start + i) % n])
                    .find(|m| usable(m))
            }
            Balance::LeastInFlight => {
                // Ties broken round-robin so an idle pool still spreads load.
                let n = self.members.len();
                let start = self.next.fetch_add(1, Ordering::Relaxed);
                (0..n)
                    .map(|i| &self.members[(start + i) % n.max(1)])
                    .filter(usable)
                    .min_by_key(|m| m.in_flight())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(n: usize) -> Pool {
        Pool::new(
            (0..n)
                .map(|i| Member::new(format!("127.0.0.1:{}", 9000 + i)))
                .collect(),
        )
    }

    #[test]
    fn round_robin_visits_everyone() {
        let p = pool(3);
        let picks: Vec<_> = (0..6)
            .map(|_| p.pick(Balance::RoundRobin, &[]).unwrap().addr.clone())
            .collect();
        assert_eq!(picks[0..3], picks[3..6]);
        let mut uniq = picks[0..3].to_vec();
        uniq.sort();
        uniq.dedup();
        assert_eq!(uniq.len(), 3);
    }

    #[test]
    fn least_in_flight_prefers_idle() {
        let p = pool(2);
        let busy = p.members()[0].enter();
        for _ in 0..5 {
            assert_eq!(
                p.pick(Balance::LeastInFlight, &[]).unwrap().addr,
                "127.0.0.1:9001"
            );
        }
        drop(busy);
    }

    #[test]
    fn excluded_members_are_skipped() {
        let p = pool(2);
        let first = p.members()[0].clone();
        for _ in 0..4 {
            assert_eq!(
                p.pick(Balance::RoundRobin, std::slice::from_ref(&first))
                    .unwrap()
                    .addr,
                "127.0.0.1:9001"
            );
        }
        let all = p.members().to_vec();
        assert!(p.pick(Balance::RoundRobin, &all).is_none());
        assert!(pool(0).pick(Balance::LeastInFlight, &[]).is_none());
    }
}
