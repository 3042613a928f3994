//! The controller's event bus: a `broadcast` for live subscribers plus a
//! bounded backlog of the latest journal events (ticks and snapshots left
//! out: the state is sent whole anyway), so a client that attaches
//! mid-release sees what already happened.
//!
//! An event enters the backlog and the broadcast under one lock, and
//! [`EventBus::subscribe_with_backlog`] copies the backlog and subscribes
//! under the same lock: every event is then either in the copy or received
//! by the new subscriber — never both, never neither.

use crate::model::{Event, EventKind};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::broadcast;

/// How many recent journal events the backlog keeps.
pub const BACKLOG: usize = 200;

#[derive(Clone, Debug)]
pub struct EventBus {
    tx: broadcast::Sender<Event>,
    recent: Arc<Mutex<VecDeque<Event>>>,
}

impl EventBus {
    /// A bus whose live subscribers may fall `capacity` events behind.
    pub fn new(capacity: usize) -> EventBus {
        EventBus {
            tx: broadcast::channel(capacity).0,
            recent: Arc::new(Mutex::new(VecDeque::with_capacity(BACKLOG))),
        }
    }

    fn recent(&self) -> MutexGuard<'_, VecDeque<Event>> {
        self.recent.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Publish one event (kept in the backlog unless it is a tick or a snapshot).
    pub fn send(&self, event: Event) {
        let mut recent = self.recent();
        if !matches!(
            event.kind,
            EventKind::Tick { .. } | EventKind::Snapshot { .. }
        ) {
            if recent.len() == BACKLOG {
                recent.pop_front();
            }
            recent.push_back(event.clone());
        }
        let _ = self.tx.send(event);
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }

    /// The last `n` (at most [`BACKLOG`]) journal events, oldest first, and
    /// a subscription to every event after them.
    pub fn subscribe_with_backlog(&self, n: usize) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let recent = self.recent();
        let rx = self.tx.subscribe();
        let skip = recent.len().saturating_sub(n);
        (recent.iter().skip(skip).cloned().collect(), rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn warning(seq: u64) -> Event {
        Event {
            seq,
            at: Utc::now(),
            kind: EventKind::Warning {
                message: format!("w{seq}"),
            },
        }
    }

    #[test]
    fn backlog_then_live_each_event_once_in_order() {
        let bus = EventBus::new(16);
        for seq in 1..=BACKLOG as u64 + 5 {
            bus.send(warning(seq));
        }
        bus.send(Event {
            seq: 999,
            at: Utc::now(),
            kind: EventKind::Tick {
                stable: Default::default(),
                canary: None,
            },
        });
        let (backlog, mut rx) = bus.subscribe_with_backlog(BACKLOG);
        let seqs: Vec<u64> = backlog.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (6..=BACKLOG as u64 + 5).collect::<Vec<_>>());
        bus.send(warning(1000));
        assert_eq!(rx.try_recv().unwrap().seq, 1000);
        assert!(rx.try_recv().is_err());
        let (few, _) = bus.subscribe_with_backlog(3);
        let seqs: Vec<u64> = few.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![BACKLOG as u64 + 4, BACKLOG as u64 + 5, 1000]);
    }
}
