//! The events panel: the journal tail, newest at the bottom, each line
//! saying when, who and what ("12:03:04 tui    weight 5 % → 6 %").
//! Scrolled with ↑/↓ or the wheel; the title says when not at the newest.
//! A body too long for its line wraps at a word under itself (two lines at
//! most, then `…` at a word); a narrow panel drops the seconds.
//!
//! ```text
//! ┌ events ───────────────────────────────────────── ↓ 3 newer ┐
//! │12:02:51 system phase warming → canary (warm-up done)       │
//! │12:03:04 tui    weight 5 % → 6 %                            │
//! │12:03:10 guard  ✗ BREACH error rate 7.50 % > 5.00 % →       │
//! │                rollback                                    │
//! └────────────────────────────────────────────────────────────┘
//! ```

use super::fit;
use crate::model::{Actor, Event, EventKind, EventWho, event_words};
use crate::tui::app::App;
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let mut block = Block::bordered()
        .border_style(theme.fg(theme.border))
        .title(Span::styled(" events ", theme.title_style()));
    if app.events_scroll > 0 {
        block = block.title(
            Line::from(Span::styled(
                format!(" ↓ {} newer ", app.events_scroll),
                theme.fg(theme.warn),
            ))
            .right_aligned(),
        );
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let h = inner.height as usize;
    let end = app.events.len().saturating_sub(app.events_scroll);
    if end == 0 {
        frame.render_widget(
            Paragraph::new(Span::styled(
                "nothing has happened yet",
                theme.fg(theme.dim),
            )),
            inner,
        );
        return;
    }
    // Newest at the bottom: take events from the newest back until the
    // panel is full; an event that needs two lines gets them.
    let w = inner.width as usize;
    let mut lines: Vec<Line> = Vec::new();
    for e in app.events.range(..end).rev() {
        let room = h - lines.len();
        if room == 0 {
            break;
        }
        let mut rows = lines_of(e, theme, w);
        if rows.len() > room {
            // The oldest event shown gets one line, shortened at a word.
            rows = vec![line(e, theme, w)];
        }
        lines.extend(rows.into_iter().rev());
    }
    lines.reverse();
    frame.render_widget(Paragraph::new(lines), inner);
}

/// Below this many columns the time loses its seconds: the order of the
/// lines already tells what came first, and the body needs the room.
const SECONDS_FROM: usize = 50;

/// The time, who, and the body of an event, with the body's style. The
/// words are [`event_words`]'s; only the colours are the cockpit's.
fn parts(e: &Event, theme: &Theme, width: usize) -> (Vec<Span<'static>>, String, Style) {
    let time = if width >= SECONDS_FROM {
        e.at.format("%H:%M:%S")
    } else {
        e.at.format("%H:%M")
    };
    let mut spans = vec![Span::styled(format!("{time} "), theme.fg(theme.dim))];
    let Some((who, body)) = event_words(&e.kind) else {
        return (spans, String::new(), theme.fg(theme.dim));
    };
    let who_colour = match who {
        EventWho::Actor(Actor::Guard) => theme.bad,
        EventWho::Actor(Actor::Tui | Actor::Cli | Actor::Api) => theme.key,
        EventWho::Actor(Actor::System) => theme.dim,
        EventWho::Role(role) => theme.role(role),
        EventWho::Warning => theme.warn,
    };
    spans.push(Span::styled(
        format!("{:<7}", who.as_str()),
        theme.fg(who_colour),
    ));
    let style = match &e.kind {
        EventKind::Phase { .. } => theme.strong(theme.text),
        EventKind::Action { ok: false, .. } | EventKind::Warning { .. } => theme.fg(theme.warn),
        EventKind::Breach { .. } => theme.strong(theme.bad),
        EventKind::Replica { status, .. } if crate::tui::app::replica_bad(*status) => {
            theme.fg(theme.bad)
        }
        _ => theme.fg(theme.text),
    };
    (spans, body, style)
}

/// How many lines one event may take in the panel.
const MAX_ROWS: usize = 2;

/// One event in one line, shortened at a word when it does not fit.
pub fn line(e: &Event, theme: &Theme, width: usize) -> Line<'static> {
    let (mut spans, body, style) = parts(e, theme, width);
    let used = fit::spans_width(&spans);
    spans.push(Span::styled(
        fit::words(&body, width.saturating_sub(used)),
        style,
    ));
    Line::from(spans)
}

/// One event in up to `MAX_ROWS` lines: the body wraps at words under
/// itself (the time and who stay in their columns), and only what does
/// not fit even then is shortened with `…`.
pub fn lines_of(e: &Event, theme: &Theme, width: usize) -> Vec<Line<'static>> {
    let (spans, body, style) = parts(e, theme, width);
    let used = fit::spans_width(&spans);
    let rows = fit::wrap(&body, width.saturating_sub(used), MAX_ROWS);
    let mut out = Vec::new();
    for (i, row) in rows.into_iter().enumerate() {
        let mut l = if i == 0 {
            spans.clone()
        } else {
            vec![Span::raw(" ".repeat(used))]
        };
        l.push(Span::styled(row, style));
        out.push(Line::from(l));
    }
    if out.is_empty() {
        out.push(Line::from(spans));
    }
    out
}
