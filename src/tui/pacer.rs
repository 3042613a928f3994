//! When to draw: only when something changed, and never more often than
//! one frame per interval (~30 frames a second). A TUI that redraws on a
//! timer burns a core while idle (ratatui #1338, lazydocker #249); one that
//! redraws on every event can fall behind a burst of them. The pacer is fed
//! "something changed" and the time, and answers "draw now" or "wake me at
//! this instant" — a pure piece, so the rules are tested without a clock or
//! a terminal; the client loop only carries the answers out.
//!
//! ```text
//! change ──► dirty ──(a frame interval since the last frame?)──► draw, clean
//!                └──── no: wait until last frame + interval, then draw once
//! ```

use std::time::{Duration, Instant};

/// ~30 frames a second at most.
pub const FRAME_INTERVAL: Duration = Duration::from_millis(33);

/// The dirty flag and the time of the last frame.
#[derive(Clone, Debug)]
pub struct FramePacer {
    interval: Duration,
    dirty: bool,
    last_frame: Option<Instant>,
}

impl Default for FramePacer {
    fn default() -> Self {
        FramePacer::new(FRAME_INTERVAL)
    }
}

impl FramePacer {
    /// A pacer that has drawn nothing yet and has nothing to draw.
    pub fn new(interval: Duration) -> FramePacer {
        FramePacer {
            interval,
            dirty: false,
            last_frame: None,
        }
    }

    /// Something the screen shows changed.
    pub fn mark(&mut self) {
        self.dirty = true;
    }

    /// Whether a change waits to be drawn.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Asked at `now`: when the next frame is due. `None` while nothing
    /// changed (sleep until something happens), else `now` or the earliest
    /// later instant the cap allows.
    pub fn due(&self, now: Instant) -> Option<Instant> {
        if !self.dirty {
            return None;
        }
        Some(
            self.last_frame
                .map_or(now, |at| (at + self.interval).max(now)),
        )
    }

    /// Ask at `now` whether to draw; yes means the caller draws one frame
    /// now, and the pacer counts it as drawn (clean again).
    pub fn frame(&mut self, now: Instant) -> bool {
        let allowed = self
            .last_frame
            .is_none_or(|at| now.saturating_duration_since(at) >= self.interval);
        if self.dirty && allowed {
            self.dirty = false;
            self.last_frame = Some(now);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn nothing_changed_nothing_drawn() {
        let t0 = Instant::now();
        let mut p = FramePacer::default();
        assert_eq!(p.due(t0), None);
        for i in 0..1000 {
            assert!(!p.frame(t0 + i * 10 * MS), "a frame without a change");
        }
        // One change, one frame; then quiet again however long it waits.
        p.mark();
        assert!(p.frame(t0 + 10_000 * MS));
        assert_eq!(p.due(t0), None);
        let frames = (1..=600u32)
            .filter(|i| p.frame(t0 + 10_000 * MS + *i * 100 * MS))
            .count();
        assert_eq!(frames, 0);
    }

    #[test]
    fn a_burst_of_100_changes_in_33_ms_gives_at_most_two_frames() {
        let t0 = Instant::now();
        let mut p = FramePacer::default();
        let mut frames = 0;
        // 100 changes 330 µs apart: 33 ms in all, the loop asking after each.
        for i in 0..100u32 {
            let now = t0 + i * Duration::from_micros(330);
            p.mark();
            if p.frame(now) {
                frames += 1;
            }
        }
        // The loop then sleeps until the pacer's due time and draws the rest.
        let end = t0 + 33 * MS;
        while let Some(at) = p.due(end) {
            assert!(p.frame(at), "due, but not drawn");
            frames += 1;
        }
        assert!((1..=2).contains(&frames), "{frames} frames for one burst");
        assert!(!p.is_dirty(), "the last change of the burst is drawn");
    }

    #[test]
    fn a_change_is_drawn_within_one_frame_interval() {
        let t0 = Instant::now();
        for offset_ms in [0u32, 1, 5, 17, 32, 33, 34, 100, 5000] {
            let mut p = FramePacer::default();
            p.mark();
            assert!(p.frame(t0), "the first change draws at once");
            let changed = t0 + offset_ms * MS;
            p.mark();
            let due = p.due(changed).expect("a change is due");
            assert!(
                due <= changed + FRAME_INTERVAL,
                "change at +{offset_ms} ms due {:?} after it",
                due - changed
            );
            // Drawn when due (or at once if the interval already passed).
            assert!(p.frame(due), "+{offset_ms} ms not drawn when due");
        }
    }

    #[test]
    fn the_cap_holds_under_a_steady_stream() {
        // A change every millisecond for a second: about 30 frames, never
        // two closer than the interval.
        let t0 = Instant::now();
        let mut p = FramePacer::default();
        let mut drawn: Vec<Instant> = Vec::new();
        for i in 0..1000u32 {
            let now = t0 + i * MS;
            p.mark();
            if p.frame(now) {
                drawn.push(now);
            }
        }
        assert!((29..=31).contains(&drawn.len()), "{} frames", drawn.len());
        assert!(drawn.windows(2).all(|w| w[1] - w[0] >= FRAME_INTERVAL));
    }
}
