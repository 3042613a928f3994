//! How old a version's oldest in-flight request is, without a lock or an
//! allocation on the request path: requests in flight are counted by the
//! second they started in, in a ring of [`SLOTS`] seconds. A drain shows the
//! operator this age beside its countdown ("oldest 41 s, timeout in 12 s").
//!
//! A request older than the ring is counted in the slot of a younger second
//! (its start second modulo the ring), so ages wrap after [`SLOTS`] seconds;
//! drains are timed in seconds to a few minutes, which the ring covers.

use std::sync::atomic::{AtomicU64, Ordering};

/// Seconds the ring covers.
pub const SLOTS: u64 = 256;

/// In-flight requests by start second.
pub struct Ages {
    slots: Box<[AtomicU64]>,
}

impl Default for Ages {
    fn default() -> Self {
        Ages {
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Ages {
    /// A request started in second `sec`.
    pub fn begin(&self, sec: u64) {
        self.slots[(sec % SLOTS) as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// The request that began in second `sec` has ended.
    pub fn end(&self, sec: u64) {
        let slot = &self.slots[(sec % SLOTS) as usize];
        // Never below zero, even if a reset raced a request (it cannot today).
        let _ = slot.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// Whole seconds since the oldest request still in flight began, as of
    /// second `now`; `None` when nothing is in flight.
    pub fn oldest(&self, now: u64) -> Option<u64> {
        let span = SLOTS.min(now + 1);
        (0..span)
            .rev()
            .find(|age| self.slots[((now - age) % SLOTS) as usize].load(Ordering::Relaxed) > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_request_still_in_flight_sets_the_age() {
        let a = Ages::default();
        assert_eq!(a.oldest(100), None);
        a.begin(60);
        a.begin(90);
        a.begin(90);
        assert_eq!(a.oldest(100), Some(40));
        a.end(60);
        assert_eq!(a.oldest(100), Some(10));
        a.end(90);
        assert_eq!(a.oldest(100), Some(10));
        a.end(90);
        assert_eq!(a.oldest(100), None);
    }

    #[test]
    fn early_seconds_and_spurious_ends_do_not_underflow() {
        let a = Ages::default();
        a.end(3);
        assert_eq!(a.oldest(0), None);
        a.begin(0);
        assert_eq!(a.oldest(0), Some(0));
        assert_eq!(a.oldest(5), Some(5));
    }
}
