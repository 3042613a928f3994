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

use super::{fit, fmt};
use crate::model::{Actor, Event, EventKind};
use crate::tui::app::App;
use crate::tui::prompts::pct;
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

fn who(by: Actor, theme: &Theme) -> Span<'static> {
    let colour = match by {
        Actor::Guard => theme.bad,
        Actor::Tui | Actor::Cli | Actor::Api => theme.key,
        Actor::System => theme.dim,
    };
    Span::styled(format!("{:<7}", by.as_str()), theme.fg(colour))
}

fn why(reason: &Option<String>) -> String {
    reason
        .as_deref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default()
}

/// Below this many columns the time loses its seconds: the order of the
/// lines already tells what came first, and the body needs the room.
const SECONDS_FROM: usize = 50;

/// The time, who, and the body of an event, with the body's style.
fn parts(e: &Event, theme: &Theme, width: usize) -> (Vec<Span<'static>>, String, Style) {
    let time = if width >= SECONDS_FROM {
        e.at.format("%H:%M:%S")
    } else {
        e.at.format("%H:%M")
    };
    let mut spans = vec![Span::styled(format!("{time} "), theme.fg(theme.dim))];
    let (body, style) = match &e.kind {
        EventKind::Weight {
            from,
            to,
            by,
            reason,
        } => {
            spans.push(who(*by, theme));
            (
                format!("weight {} → {}{}", pct(*from), pct(*to), why(reason)),
                theme.fg(theme.text),
            )
        }
        EventKind::Phase {
            from,
            to,
            by,
            reason,
        } => {
            spans.push(who(*by, theme));
            (
                format!("phase {from} → {to}{}", why(reason)),
                theme.strong(theme.text),
            )
        }
        EventKind::Action {
            action,
            by,
            reason,
            ok,
            detail,
        } => {
            spans.push(who(*by, theme));
            let mark = if *ok { "✓" } else { "✗ refused" };
            let style = if *ok {
                theme.fg(theme.text)
            } else {
                theme.fg(theme.warn)
            };
            (
                format!(
                    "{} {mark} {detail}{}",
                    action.replace('_', " "),
                    why(reason)
                ),
                style,
            )
        }
        EventKind::Breach {
            guard,
            value,
            threshold,
            on_breach,
            ..
        } => {
            spans.push(who(Actor::Guard, theme));
            (
                format!(
                    "✗ BREACH {} {} > {} → {on_breach}",
                    fmt::guard_label(*guard),
                    fmt::guard_value(*guard, *value),
                    fmt::guard_value(*guard, *threshold)
                ),
                theme.strong(theme.bad),
            )
        }
        EventKind::Replica {
            role,
            replica,
            status,
            detail,
        } => {
            spans.push(Span::styled(
                format!("{:<7}", role.as_str()),
                theme.fg(theme.role(*role)),
            ));
            let bad = crate::tui::app::replica_bad(*status);
            (
                format!(
                    "{} {}",
                    fmt::clip(replica, 12),
                    crate::model::replica_phrase(*status, detail)
                ),
                if bad {
                    theme.fg(theme.bad)
                } else {
                    theme.fg(theme.text)
                },
            )
        }
        EventKind::Warning { message } => {
            spans.push(Span::styled(format!("{:<7}", "warn"), theme.fg(theme.warn)));
            (format!("⚠ {message}"), theme.fg(theme.warn))
        }
        EventKind::Pull { role, .. } => {
            spans.push(Span::styled(
                format!("{:<7}", role.as_str()),
                theme.fg(theme.role(*role)),
            ));
            (crate::model::pull_line(&e.kind), theme.fg(theme.text))
        }
        EventKind::Snapshot { .. } | EventKind::Tick { .. } => (String::new(), theme.fg(theme.dim)),
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
