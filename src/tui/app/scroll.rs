//! Scrolling the events panel and the scrollable popups, by key or wheel.
//! The limits come from the same layout the frame is drawn with: a list
//! scrolls up until its oldest line tops a full page and no further, so
//! the way back down starts moving at once (no hidden overshoot).

use super::{App, Popup};
use crate::tui::components::{layout, popups};

impl App {
    /// How far up the events panel can scroll.
    fn events_max_scroll(&self) -> usize {
        let page = layout::areas(self, self.size)
            .events
            .height
            .saturating_sub(2) as usize;
        self.events.len().saturating_sub(page.max(1))
    }

    /// Scroll the events panel `by` lines toward older (`up`) or newer ones.
    pub(super) fn scroll_events(&mut self, up: bool, by: usize) {
        self.events_scroll = if up {
            (self.events_scroll + by).min(self.events_max_scroll())
        } else {
            self.events_scroll.saturating_sub(by)
        };
    }

    /// Scroll the open popup, if it scrolls; whether one took it.
    pub(super) fn scroll_popup(&mut self, up: bool, by: usize) -> bool {
        let help_max = popups::help_max_scroll(self, self.size);
        let logs_page = popups::logs_page(self.size);
        match &mut self.popup {
            Some(Popup::Logs(v)) => {
                // Logs count from the newest line: up is older.
                let len = match &v.lines {
                    Some(Ok(lines)) => lines.len(),
                    _ => 0,
                };
                let max = len.saturating_sub(logs_page.max(1));
                v.scroll = if up {
                    (v.scroll + by).min(max)
                } else {
                    v.scroll.saturating_sub(by)
                };
                true
            }
            Some(Popup::Help { scroll }) => {
                // Help counts from the top: up is toward the top.
                let by = by.min(u16::MAX as usize) as u16;
                *scroll = if up {
                    scroll.saturating_sub(by)
                } else {
                    scroll.saturating_add(by).min(help_max)
                };
                true
            }
            _ => false,
        }
    }
}
