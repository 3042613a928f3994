//! A pure playback model of a journal: no clock, no I/O.
//!
//! The replay cockpit owns the clock and calls [`Player::advance`] with the
//! time that passed (times its speed); seeking jumps to the latest
//! `Snapshot` at or before the target and applies the events after it, so a
//! seek costs one snapshot clone plus at most a second of events.
//!
//! Positions are offsets from the first event's timestamp. Timestamps that go
//! backwards (a clock step, a restarted daemon continuing the journal) are
//! clamped so offsets never decrease: events always play in file order.
//!
//! Invariant: every event whose offset is ≤ [`Player::position`] has been
//! applied, and no other. [`Player::new`] therefore starts at position 0 with
//! the events at offset 0 already applied ([`Player::applied`] lists them).

use crate::model::{Event, EventKind, StateView};
use std::time::Duration;

use super::reader::Journal;

/// What a timeline mark stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkerKind {
    Action,
    Breach,
}

/// A point of interest on the timeline bar.
#[derive(Clone, Debug, PartialEq)]
pub struct Marker {
    pub at: Duration,
    pub kind: MarkerKind,
    /// `promote by cli`, `max_error_rate breach`, … for a tooltip or legend.
    pub label: String,
}

/// Playback state over one journal.
#[derive(Clone, Debug)]
pub struct Player {
    journal: Journal,
    /// Offset of each event, milliseconds, never decreasing.
    offsets: Vec<u64>,
    /// Indices of `Snapshot` events, ascending.
    snapshots: Vec<usize>,
    position: u64,
    /// Index of the first event not yet applied.
    next: usize,
    state: Option<StateView>,
}

impl Player {
    pub fn new(journal: Journal) -> Player {
        let origin = journal.events.first().map(|e| e.at);
        let mut offsets = Vec::with_capacity(journal.events.len());
        let mut last = 0u64;
        for e in &journal.events {
            let ms = origin
                .map(|o| (e.at - o).num_milliseconds().max(0) as u64)
                .unwrap_or(0);
            last = last.max(ms);
            offsets.push(last);
        }
        let snapshots = journal
            .events
            .iter()
            .enumerate()
            .filter(|(_, e)| matches!(e.kind, EventKind::Snapshot { .. }))
            .map(|(i, _)| i)
            .collect();
        let mut player = Player {
            journal,
            offsets,
            snapshots,
            position: 0,
            next: 0,
            state: None,
        };
        player.seek(Duration::ZERO);
        player
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Offset of the last event.
    pub fn duration(&self) -> Duration {
        Duration::from_millis(self.offsets.last().copied().unwrap_or(0))
    }

    pub fn position(&self) -> Duration {
        Duration::from_millis(self.position)
    }

    /// Jump to `t` (clamped to the journal): latest snapshot at or before it,
    /// then every later event up to `t`.
    pub fn seek(&mut self, t: Duration) {
        let target = duration_ms(t).min(self.offsets.last().copied().unwrap_or(0));
        let upto = self.offsets.partition_point(|&o| o <= target);
        let from_snapshot = self.snapshots.partition_point(|&i| i < upto);
        let start = match from_snapshot.checked_sub(1).map(|k| self.snapshots[k]) {
            Some(i) => {
                self.state = snapshot_state(&self.journal.events[i]);
                i + 1
            }
            None => {
                self.state = None;
                0
            }
        };
        for i in start..upto {
            apply(&mut self.state, &self.journal.events[i]);
        }
        self.next = upto;
        self.position = target;
    }

    /// Move forward by `dt` (stopping at the end) and return the events crossed.
    pub fn advance(&mut self, dt: Duration) -> Vec<Event> {
        let end = self.offsets.last().copied().unwrap_or(0);
        let target = self.position.saturating_add(duration_ms(dt)).min(end);
        let mut crossed = Vec::new();
        while self.next < self.offsets.len() && self.offsets[self.next] <= target {
            let event = &self.journal.events[self.next];
            apply(&mut self.state, event);
            crossed.push(event.clone());
            self.next += 1;
        }
        self.position = target;
        crossed
    }

    /// The state at the current position: the last snapshot with every
    /// later event applied; `None` before the first snapshot.
    pub fn state(&self) -> Option<&StateView> {
        self.state.as_ref()
    }

    /// Index (into the journal's events) of the latest snapshot applied so
    /// far: where a model of the current position can be rebuilt from.
    pub fn latest_snapshot(&self) -> Option<usize> {
        let k = self.snapshots.partition_point(|&i| i < self.next);
        k.checked_sub(1).map(|k| self.snapshots[k])
    }

    /// Events applied so far (everything up to the position), in order.
    pub fn applied(&self) -> &[Event] {
        &self.journal.events[..self.next]
    }

    pub fn at_end(&self) -> bool {
        self.next >= self.offsets.len()
    }

    /// Actions and guard breaches, for the timeline bar.
    pub fn markers(&self) -> Vec<Marker> {
        self.journal
            .events
            .iter()
            .zip(&self.offsets)
            .filter_map(|(e, &at)| {
                let (kind, label) = match &e.kind {
                    EventKind::Action { action, by, ok, .. } => (
                        MarkerKind::Action,
                        format!("{action} by {by}{}", if *ok { "" } else { " (refused)" }),
                    ),
                    EventKind::Breach { guard, .. } => {
                        (MarkerKind::Breach, format!("{guard} breach"))
                    }
                    _ => return None,
                };
                Some(Marker {
                    at: Duration::from_millis(at),
                    kind,
                    label,
                })
            })
            .collect()
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn snapshot_state(event: &Event) -> Option<StateView> {
    match &event.kind {
        EventKind::Snapshot { state } => Some((**state).clone()),
        _ => None,
    }
}

/// Fold one event into the state (see [`StateView::apply`]). Events before
/// the first snapshot have nothing to apply to and change nothing.
fn apply(state: &mut Option<StateView>, event: &Event) {
    match (state, &event.kind) {
        (state @ None, EventKind::Snapshot { state: s }) => *state = Some((**s).clone()),
        (Some(s), _) => s.apply(event),
        (None, _) => {}
    }
}
