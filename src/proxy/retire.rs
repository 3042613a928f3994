//! Taking some replicas of a version out of service while the rest keep
//! serving (a scale-down): [`Router::hold`] keeps a handle on their pool
//! members, so their in-flight requests can still be counted after they
//! left the pool, and [`Held::idle_within`] waits for those to finish.

use super::Router;
use super::pool::Member;
use crate::model::Role;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How long a member must stay idle before it counts as drained: a request
/// that loaded the routing table just before the member left may still pick
/// it a moment later.
const SETTLE: Duration = Duration::from_millis(100);

/// Pool members being retired, with their live in-flight counts.
#[derive(Debug, Default)]
pub struct Held(Vec<Arc<Member>>);

impl Router {
    /// Handles on the members of `role` at `addrs` (those in its pool now).
    /// Take them before the members leave the pool: a member that left
    /// cannot be found again, and its in-flight count lives on the handle.
    pub fn hold(&self, role: Role, addrs: &[String]) -> Held {
        let table = self.table();
        Held(
            table
                .pool(role)
                .members()
                .iter()
                .filter(|m| addrs.contains(&m.addr))
                .cloned()
                .collect(),
        )
    }
}

impl Held {
    /// Requests in flight on the held members right now.
    pub fn in_flight(&self) -> u64 {
        self.0.iter().map(|m| m.in_flight()).sum()
    }

    /// Wait until no held member has a request in flight (and stayed so for
    /// a moment), or `timeout`; returns the requests still in flight then.
    pub async fn idle_within(&self, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        let mut idle_since: Option<Instant> = None;
        loop {
            let now = Instant::now();
            let left = self.in_flight();
            if left > 0 {
                idle_since = None;
            } else if idle_since.get_or_insert(now).elapsed() >= SETTLE {
                return 0;
            }
            if now >= deadline {
                return left;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
