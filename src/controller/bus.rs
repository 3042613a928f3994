//! The controller's event bus: a `broadcast` for live subscribers plus two
//! bounded backlogs, so a client that attaches mid-release sees what
//! already happened: the latest journal events (for the events panel) and
//! the latest metric ticks (one a second, for the graphs). Snapshots are
//! left out: the state is sent whole anyway.
//!
//! An event enters a backlog and the broadcast under one lock, and
//! [`EventBus::subscribe_with_backlog`] copies the backlogs and subscribes
//! under the same lock: every event is then either in the copy or received
//! by the new subscriber — never both, never neither.

use crate::model::{Event, EventKind};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::broadcast;

/// How many recent journal events the backlog keeps.
pub const BACKLOG: usize = 200;
/// How many recent ticks are kept: one a second for the five minutes the
/// cockpit's graphs show.
pub const TICKS: usize = crate::model::GRAPH_SECONDS;

#[derive(Clone, Debug)]
pub struct EventBus {
    tx: broadcast::Sender<Event>,
    recent: Arc<Mutex<Recent>>,
}

#[derive(Debug, Default)]
struct Recent {
    journal: VecDeque<Event>,
    ticks: VecDeque<Event>,
}

fn push_bounded(q: &mut VecDeque<Event>, cap: usize, event: &Event) {
    if q.len() == cap {
        q.pop_front();
    }
    q.push_back(event.clone());
}

impl EventBus {
    /// A bus whose live subscribers may fall `capacity` events behind.
    pub fn new(capacity: usize) -> EventBus {
        EventBus {
            tx: broadcast::channel(capacity).0,
            recent: Arc::new(Mutex::new(Recent::default())),
        }
    }

    fn recent(&self) -> MutexGuard<'_, Recent> {
        self.recent.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Publish one event (a tick kept with the ticks, a snapshot not kept,
    /// anything else with the journal events).
    pub fn send(&self, event: Event) {
        let mut recent = self.recent();
        match event.kind {
            EventKind::Snapshot { .. } => {}
            EventKind::Tick { .. } => push_bounded(&mut recent.ticks, TICKS, &event),
            _ => push_bounded(&mut recent.journal, BACKLOG, &event),
        }
        let _ = self.tx.send(event);
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }

    /// The last `n` (at most [`BACKLOG`]) journal events and the last
    /// `ticks` (at most [`TICKS`]) ticks, merged oldest first (by `seq`),
    /// and a subscription to every event after them.
    pub fn subscribe_with_backlog(
        &self,
        n: usize,
        ticks: usize,
    ) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let recent = self.recent();
        let rx = self.tx.subscribe();
        let last = |q: &VecDeque<Event>, n: usize| q.len().saturating_sub(n);
        let mut out: Vec<Event> = recent
            .journal
            .iter()
            .skip(last(&recent.journal, n))
            .chain(recent.ticks.iter().skip(last(&recent.ticks, ticks)))
            .cloned()
            .collect();
        out.sort_by_key(|e| e.seq);
        (out, rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn tick(seq: u64) -> Event {
        Event {
            seq,
            at: Utc::now(),
            kind: EventKind::Tick {
                stable: Default::default(),
                canary: None,
                sample: None,
            },
        }
    }

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
                sample: None,
            },
        });
        let (backlog, mut rx) = bus.subscribe_with_backlog(BACKLOG, 0);
        let seqs: Vec<u64> = backlog.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (6..=BACKLOG as u64 + 5).collect::<Vec<_>>());
        bus.send(warning(1000));
        assert_eq!(rx.try_recv().unwrap().seq, 1000);
        assert!(rx.try_recv().is_err());
        let (few, _) = bus.subscribe_with_backlog(3, 0);
        let seqs: Vec<u64> = few.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![BACKLOG as u64 + 4, BACKLOG as u64 + 5, 1000]);
    }

    #[test]
    fn ticks_are_kept_apart_and_merged_in_order() {
        let bus = EventBus::new(16);
        for seq in 1..=400 {
            // Every tenth event is a journal event, the rest ticks.
            bus.send(if seq % 10 == 0 {
                warning(seq)
            } else {
                tick(seq)
            });
        }
        let (all, _) = bus.subscribe_with_backlog(BACKLOG, TICKS);
        let seqs: Vec<u64> = all.iter().map(|e| e.seq).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
        let ticks = all
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Tick { .. }))
            .count();
        assert_eq!(ticks, TICKS, "the newest five minutes of ticks");
        assert_eq!(all.len() - ticks, 40, "every journal event");
        // Ticks never push journal events out, nor the other way round.
        let (three, _) = bus.subscribe_with_backlog(0, 3);
        let seqs: Vec<u64> = three.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![397, 398, 399]);
    }
}
