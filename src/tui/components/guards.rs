//! The guard panel: each guard with its value, its limit and a verdict that
//! never reads as a pass when there was too little traffic ("not judged").
//! Verdicts carry a symbol and a word, never colour alone.
//!
//! ```text
//! ┌ guards ────────────────────────────────────┐
//! │ ✓ pass        error rate   0.80 %  ≤ 5.00 %│
//! │ ? not judged  p99          —       ≤ 300 ms│
//! │ ✗ BREACH      errors       23      ≤ 20    │
//! └────────────────────────────────────────────┘
//! ```

use super::fmt;
use crate::model::{GuardStatus, GuardVerdict};
use crate::tui::app::App;
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

pub fn verdict(status: GuardStatus, theme: &Theme) -> (Span<'static>, Style) {
    let (text, style) = match status {
        GuardStatus::Pass => ("✓ pass", theme.fg(theme.ok)),
        GuardStatus::NotJudged => ("? not judged", theme.fg(theme.warn)),
        GuardStatus::Breach => ("✗ BREACH", theme.strong(theme.bad)),
        GuardStatus::Muted => ("⊘ muted", theme.fg(theme.muted)),
    };
    (Span::styled(format!("{text:<13}"), style), style)
}

/// One guard as one line: verdict, name, value, limit (and detail if room).
pub fn line(g: &GuardVerdict, theme: &Theme, width: usize, detail: bool) -> Line<'static> {
    let (v, _) = verdict(g.status, theme);
    let value = g.value.map_or("—".into(), |x| fmt::guard_value(&g.name, x));
    let mut spans = vec![
        v,
        Span::styled(
            format!("{:<11}", fmt::guard_label(&g.name)),
            theme.fg(theme.text),
        ),
        Span::styled(format!("{value:>9}"), theme.strong(theme.text)),
        Span::styled(
            format!("  ≤ {}", fmt::guard_value(&g.name, g.threshold)),
            theme.fg(theme.dim),
        ),
    ];
    if detail {
        let used: usize = spans.iter().map(|s| s.width()).sum();
        if width > used + 6 {
            spans.push(Span::styled(
                format!("   {}", fmt::clip(&g.detail, width - used - 3)),
                theme.fg(theme.dim),
            ));
        }
    }
    Line::from(spans)
}

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, roomy: bool) {
    let mut block = Block::bordered()
        .border_style(theme.fg(theme.border))
        .title(Span::styled(" guards ", theme.title_style()));
    if app.state.as_ref().is_some_and(|s| s.guards_muted) {
        block = block.title(
            Line::from(Span::styled(
                " ⊘ MUTED: breaches are not acted on ",
                theme.strong(theme.muted),
            ))
            .right_aligned(),
        );
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(s) = &app.state else {
        return;
    };
    let lines: Vec<Line> = if s.guards.is_empty() {
        vec![Line::from(Span::styled(
            if s.canary.is_some() {
                "no verdict yet"
            } else {
                "no canary: nothing to judge"
            },
            theme.fg(theme.dim),
        ))]
    } else {
        s.guards
            .iter()
            .map(|g| line(g, theme, inner.width as usize, roomy))
            .collect()
    };
    frame.render_widget(Paragraph::new(lines), inner);
}
