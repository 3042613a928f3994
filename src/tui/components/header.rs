//! The top line: what service, what phase, which runtime, how the guards
//! stand, and the clock (the time of the newest event, so replays and tests
//! draw the time of the recording, never the wall clock).
//!
//! ```text
//!  cutover  shop  ● CANARY  release 3 · docker       guards ✓2 ?1 ✗1      12:03:04 UTC
//! ```

use crate::model::{GuardStatus, Phase, StateView};
use crate::tui::app::App;
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let mut left = vec![Span::styled(
        " cutover ",
        theme.title_style().add_modifier(Modifier::BOLD),
    )];
    let mut right: Vec<Span> = Vec::new();
    if let Some(s) = &app.state {
        left.push(Span::styled(
            format!(" {} ", s.service),
            theme.strong(theme.text),
        ));
        left.push(Span::raw(" "));
        left.push(phase_span(s.phase, theme));
        if let Some(f) = &s.freeze {
            left.push(Span::styled(
                format!("  ❄ freeze: {f}"),
                theme.strong(theme.warn),
            ));
        }
        left.push(Span::styled(
            format!("  release {} · {}", s.release, s.runtime),
            theme.fg(theme.dim),
        ));
        right.extend(guard_summary(s, theme));
    } else {
        left.push(Span::styled(
            " waiting for the daemon…",
            theme.fg(theme.dim),
        ));
    }
    if let Some(now) = app.now {
        right.push(Span::styled(
            format!("  {} UTC ", now.format("%H:%M:%S")),
            theme.fg(theme.text),
        ));
    }
    let right_w: usize = right.iter().map(|s| s.width()).sum();
    let left_area = Rect {
        width: area.width.saturating_sub(right_w as u16 + 1),
        ..area
    };
    frame.render_widget(Paragraph::new(Line::from(left)), left_area);
    if (right_w as u16) < area.width {
        let r = Rect {
            x: area.right() - right_w as u16,
            width: right_w as u16,
            ..area
        };
        frame.render_widget(
            Paragraph::new(Line::from(right)).alignment(Alignment::Right),
            r,
        );
    }
}

/// The phase as a word that reads from across the room.
pub fn phase_span(phase: Phase, theme: &Theme) -> Span<'static> {
    let (label, colour) = match phase {
        Phase::Idle => ("● IDLE", theme.dim),
        Phase::Deploying => ("◐ DEPLOYING", theme.warn),
        Phase::Warming => ("◑ WARMING", theme.warn),
        Phase::Canary => ("● CANARY", theme.canary),
        Phase::Paused => ("‖ PAUSED", theme.warn),
        Phase::Promoting => ("▲ PROMOTING", theme.ok),
        Phase::RollingBack => ("▼ ROLLING BACK", theme.bad),
        Phase::Failed => ("✗ FAILED", theme.bad),
    };
    Span::styled(label, theme.strong(colour))
}

/// `guards ✓2 ?1 ✗1` — counts by verdict, or `guards muted`.
fn guard_summary(s: &StateView, theme: &Theme) -> Vec<Span<'static>> {
    let mut out = vec![Span::styled("guards ", theme.fg(theme.dim))];
    if s.guards_muted {
        out.push(Span::styled("⊘ MUTED", theme.strong(theme.muted)));
        return out;
    }
    if s.guards.is_empty() {
        out.push(Span::styled("—", theme.fg(theme.dim)));
        return out;
    }
    let count = |st: GuardStatus| s.guards.iter().filter(|g| g.status == st).count();
    for (status, sym, colour) in [
        (GuardStatus::Pass, "✓", theme.ok),
        (GuardStatus::NotJudged, "?", theme.warn),
        (GuardStatus::Breach, "✗", theme.bad),
        (GuardStatus::Muted, "⊘", theme.muted),
    ] {
        let n = count(status);
        if n > 0 {
            let style = if status == GuardStatus::Breach {
                theme.strong(colour)
            } else {
                Style::default().fg(colour)
            };
            out.push(Span::styled(format!("{sym}{n} "), style));
        }
    }
    out
}
