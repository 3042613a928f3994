//! The events panel: the journal tail, newest at the bottom, each line
//! saying when, who and what ("12:03:04 tui    weight 5 % → 6 %").
//! Scrolled with ↑/↓ or the wheel; the title says when not at the newest.
//!
//! ```text
//! ┌ events ──────────────────────────────────────── ↑ 3 older ┐
//! │ 12:02:51 system phase warming → canary                     │
//! │ 12:03:04 tui    weight 5 % → 6 %                           │
//! │ 12:03:10 guard  ✗ BREACH error rate 7.50 % > 5.00 % → rollback │
//! └────────────────────────────────────────────────────────────┘
//! ```

use super::fmt;
use crate::model::{Actor, Event, EventKind};
use crate::tui::app::App;
use crate::tui::prompts::pct;
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
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
    let start = end.saturating_sub(h);
    let lines: Vec<Line> = app
        .events
        .range(start..end)
        .map(|e| line(e, theme, inner.width as usize))
        .collect();
    if lines.is_empty() {
        frame.render_widget(
            Paragraph::new(Span::styled(
                "nothing has happened yet",
                theme.fg(theme.dim),
            )),
            inner,
        );
        return;
    }
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

/// One event as one line.
pub fn line(e: &Event, theme: &Theme, width: usize) -> Line<'static> {
    let mut spans = vec![Span::styled(
        format!("{} ", e.at.format("%H:%M:%S")),
        theme.fg(theme.dim),
    )];
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
                    fmt::guard_label(guard),
                    fmt::guard_value(guard, *value),
                    fmt::guard_value(guard, *threshold)
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
                    "{} {}{}",
                    fmt::clip(replica, 12),
                    format!("{status:?}").to_lowercase(),
                    if detail.is_empty() {
                        String::new()
                    } else {
                        format!(": {detail}")
                    }
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
        EventKind::Snapshot { .. } | EventKind::Tick { .. } => (String::new(), theme.fg(theme.dim)),
    };
    let used: usize = spans.iter().map(|s| s.width()).sum();
    spans.push(Span::styled(
        fmt::clip(&body, width.saturating_sub(used)),
        style,
    ));
    Line::from(spans)
}
