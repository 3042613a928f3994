//! The bottom line: the key hints of the current mode, straight from the
//! keymap (so a rebinding shows here too), after the result of the last
//! action while it is fresh. Hints that do not fit are dropped from the
//! end; `? help` always stays.
//!
//! ```text
//!  ✓ pause: steps and bake held │ ← canary −1 %  → canary +1 %  p promote  r rollback … ? help
//! ```
//!
//! For ten seconds after the cockpit's own weight change or promote, the
//! undo on offer leads, counting down: `u undo weight 5 % → 50 % (9 s)`.
//!
//! A live read-only cockpit (`cutover tui --read-only`) says so first, and
//! its hints are only the ones that look (see `app::hints`).

use crate::tui::app::App;
use crate::tui::keymap::{Command, Mode};
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let mode = app.mode();
    let width = area.width as usize;
    let mut spans: Vec<Span> = Vec::new();
    let mut used = 0usize;
    if app.read_only() && mode == Mode::Live {
        spans.push(Span::styled(" read-only ", theme.strong(theme.warn)));
        spans.push(Span::styled("│", theme.fg(theme.border)));
        used += 12;
    }
    // Opened from the fleet view: the way back comes first.
    if app.in_fleet && mode == Mode::Live {
        spans.push(Span::styled(" esc", theme.strong(theme.key)));
        spans.push(Span::styled(" fleet ", theme.fg(theme.dim)));
        spans.push(Span::styled("│", theme.fg(theme.border)));
        used += 12;
    }
    let mut undo_used = 0;
    // The undo on offer comes first: it is worth nothing in ten seconds.
    if mode == Mode::Live
        && let Some((what, secs)) = app.live_undo()
        && let Some(key) = app.offered_key(mode, Command::Undo)
    {
        let hint = crate::tui::app::undo_hint(what, secs);
        undo_used = key.chars().count() + hint.chars().count() + 4;
        used += undo_used;
        spans.push(Span::styled(format!(" {key}"), theme.strong(theme.key)));
        spans.push(Span::styled(format!(" {hint} "), theme.strong(theme.warn)));
        spans.push(Span::styled("│", theme.fg(theme.border)));
    }
    if let Some(t) = app.live_toast() {
        let style = if t.ok {
            theme.fg(theme.ok)
        } else {
            theme.strong(theme.warn)
        };
        // The toast and the undo share three fifths of the line.
        let room = (width * 3 / 5).saturating_sub(undo_used);
        if room >= TOAST_MIN {
            let text = super::fit::words(&format!(" {}", t.text), room);
            used += super::fit::width(&text) + 3;
            spans.push(Span::styled(text, style));
            spans.push(Span::styled(" │", theme.fg(theme.border)));
        }
    }
    let help_key = match mode {
        Mode::Live | Mode::Replay => app.keymap.key_for(mode, Command::Help),
        _ => None,
    };
    let help_w = help_key.as_ref().map_or(0, |k| k.chars().count() + 6);
    for (keys, hint) in app.footer_hints(mode) {
        if Some(&keys) == help_key.as_ref() {
            continue;
        }
        let w = keys.chars().count() + hint.chars().count() + 3;
        if used + w + help_w > width {
            break;
        }
        used += w;
        spans.push(Span::styled(format!(" {keys}"), theme.strong(theme.key)));
        spans.push(Span::styled(format!(" {hint} "), theme.fg(theme.dim)));
    }
    if let Some(k) = help_key {
        spans.push(Span::styled(format!(" {k}"), theme.strong(theme.key)));
        spans.push(Span::styled(" help", theme.fg(theme.dim)));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The narrowest a toast is worth showing (beside an undo on offer).
const TOAST_MIN: usize = 16;
