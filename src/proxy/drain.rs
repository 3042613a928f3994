//! Draining a version: wait for its in-flight requests, cut what is left
//! at the timeout, and publish the deadline meanwhile for the drain view.

use super::router::Router;
use crate::model::Role;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What a drain did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DrainReport {
    /// In-flight requests that finished on their own within the timeout.
    pub finished: u64,
    /// In-flight requests answered 504 (or cut mid-stream) after the timeout.
    pub cut: u64,
}

impl Router {
    /// Wait for `role`'s in-flight requests to finish; after `timeout`, cut
    /// the rest (504, counted on the version). The caller moves the weight
    /// and removes the members first, so nothing new arrives meanwhile.
    pub async fn drain(&self, role: Role, timeout: Duration) -> DrainReport {
        let metrics = &self.inner.metrics;
        let start_in_flight = metrics.in_flight(role);
        let deadline = Instant::now() + timeout;
        // Shown until the drain ends, is called off (dropped) or cuts.
        let shown = DeadlineShown::new(&self.inner.drain_deadlines[role.index()], timeout);
        while metrics.in_flight(role) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let left = metrics.in_flight(role);
        if left == 0 {
            return DrainReport {
                finished: start_in_flight,
                cut: 0,
            };
        }
        drop(shown);
        let old = self.inner.cuts[role.index()].swap(Arc::new(CancellationToken::new()));
        old.cancel();
        // Cut requests answer at once; give them a moment to be counted.
        let settle = Instant::now() + Duration::from_secs(1);
        while metrics.in_flight(role) > 0 && Instant::now() < settle {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        DrainReport {
            finished: start_in_flight.saturating_sub(left),
            cut: left,
        }
    }

    /// Requests are pinned to a version by a sticky key (`[proxy] sticky`).
    pub fn sticky(&self) -> bool {
        self.inner.opts.sticky.is_some()
    }

    /// When the drain of `role` under way will cut what is still in flight.
    pub fn drain_deadline(&self, role: Role) -> Option<chrono::DateTime<chrono::Utc>> {
        match self.inner.drain_deadlines[role.index()].load(Ordering::Relaxed) {
            0 => None,
            ms => chrono::DateTime::from_timestamp_millis(ms as i64),
        }
    }
}

/// A drain's deadline, published while the drain runs and cleared however
/// it ends (finished, cut, or called off by dropping its future).
struct DeadlineShown<'a>(&'a AtomicU64);

impl<'a> DeadlineShown<'a> {
    fn new(slot: &'a AtomicU64, timeout: Duration) -> Self {
        let at = chrono::Utc::now() + chrono::Duration::from_std(timeout).unwrap_or_default();
        slot.store(at.timestamp_millis().max(1) as u64, Ordering::Relaxed);
        DeadlineShown(slot)
    }
}

impl Drop for DeadlineShown<'_> {
    fn drop(&mut self) {
        self.0.store(0, Ordering::Relaxed);
    }
}
