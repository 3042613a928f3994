//! Mouse handling: click and drag the slider to dial a weight, the wheel
//! scrolls the panel (or popup) under it. Hits are found with the same
//! [`layout::areas`](crate::tui::components::layout::areas) the frame is
//! drawn with, so a click lands where the slider was drawn.

use super::{App, Effect, Link, Popup};
use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Position;

/// Lines one wheel notch scrolls.
const WHEEL_LINES: usize = 3;

impl App {
    /// Click or drag the slider to dial a weight (sent on release, asking first
    /// when the jump is large); the wheel scrolls the events panel or a popup.
    pub fn handle_mouse(&mut self, ev: MouseEvent) -> Option<Effect> {
        let pos = Position::new(ev.column, ev.row);
        let areas = crate::tui::components::layout::areas(self, self.size);
        match ev.kind {
            MouseEventKind::ScrollUp | MouseEventKind::ScrollDown => {
                let up = ev.kind == MouseEventKind::ScrollUp;
                if self.popup.is_none() && areas.events.contains(pos) {
                    self.scroll_events(up, WHEEL_LINES);
                } else {
                    self.scroll_popup(up, WHEEL_LINES);
                }
                None
            }
            _ if self.popup.is_some() || self.read_only() || self.link != Link::Live => None,
            MouseEventKind::Down(MouseButton::Left) | MouseEventKind::Drag(MouseButton::Left) => {
                let track = crate::tui::components::slider::track(areas.slider);
                if !self.dragging && !track.contains(pos) {
                    return None;
                }
                self.dragging = true;
                let x = ev.column.clamp(track.x, track.right().saturating_sub(1)) - track.x;
                let span = track.width.saturating_sub(1).max(1) as u32;
                // Whole percents: a mouse is not precise enough for per mille.
                let pct = (x as u32 * 100 + span / 2) / span;
                self.pending_permille = Some((pct * 10) as u16);
                None
            }
            MouseEventKind::Up(MouseButton::Left) if self.dragging => {
                self.dragging = false;
                let to = self.pending_permille?;
                if to == self.applied() {
                    self.pending_permille = None;
                    return None;
                }
                let effect = self.propose_weight(to);
                if effect.is_none()
                    && !matches!(self.popup, Some(Popup::Confirm(_) | Popup::TypedConfirm(_)))
                {
                    self.pending_permille = None;
                }
                self.note_sent(&effect);
                effect
            }
            _ => None,
        }
    }
}
