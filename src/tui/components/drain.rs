//! The drain strip: one line per version being drained, there only while
//! the drain runs. It answers what an operator asks while waiting: how much
//! is left, how old the oldest request is, how many sticky clients move,
//! and how many requests get a 504 if the timeout passes now.
//!
//! ```text
//!  ⏏ canary draining  3 in flight · oldest 41 s · 12 sticky clients move · cut in 12 s: 3 × 504 if still running
//! ```
//!
//! The countdown is read against the state's own time (`at`), so a replay
//! and a snapshot show what the operator saw.

use super::{fit, fmt};
use crate::model::{DrainView, Role, StateView};
use crate::tui::app::App;
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// The versions being drained, stable first.
pub fn draining(s: &StateView) -> Vec<(Role, &DrainView)> {
    Role::ALL
        .into_iter()
        .filter_map(|r| Some((r, s.version(r)?.drain.as_ref()?)))
        .collect()
}

/// Lines the strip needs for `app` (0: no drain under way).
pub fn height(app: &App) -> u16 {
    app.state.as_ref().map_or(0, |s| draining(s).len() as u16)
}

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let Some(s) = &app.state else {
        return;
    };
    let lines: Vec<Line> = draining(s)
        .into_iter()
        .take(area.height as usize)
        .map(|(role, d)| line(s, role, d, theme, area.width as usize))
        .collect();
    frame.render_widget(Paragraph::new(lines), area);
}

fn line(s: &StateView, role: Role, d: &DrainView, theme: &Theme, width: usize) -> Line<'static> {
    let left_ms = (d.deadline - s.at).num_milliseconds().max(0) as u64;
    let cut_style = if d.in_flight > 0 {
        theme.strong(theme.warn)
    } else {
        theme.fg(theme.ok)
    };
    let oldest = d
        .oldest_secs
        .map(|a| format!(" · oldest {a} s"))
        .unwrap_or_default();
    let sticky = d
        .sticky_clients
        .map(|n| {
            let floor = if d.sticky_at_least { "≥ " } else { "" };
            format!(
                " · {floor}{n} sticky client{} move",
                if n == 1 { "" } else { "s" }
            )
        })
        .unwrap_or_default();
    let left = fmt::countdown(left_ms);
    let cut: Vec<String> = if d.in_flight == 0 {
        vec![format!("cut in {left}: nothing left to cut")]
    } else {
        vec![
            format!("cut in {left}: {} × 504 if still running", d.in_flight),
            format!("cut in {left} → {} × 504", d.in_flight),
        ]
    };
    let pieces = vec![
        fit::Piece::fixed(vec![
            Span::styled(
                format!(" ⏏ {} draining  ", role.as_str()),
                theme.strong(theme.role(role)),
            ),
            Span::styled(format!("{} in flight", d.in_flight), theme.fg(theme.text)),
        ]),
        fit::Piece::optional(vec![Span::styled(oldest, theme.fg(theme.text))]),
        fit::Piece::optional(vec![Span::styled(sticky, theme.fg(theme.dim))]),
        fit::Piece::shrinking(
            cut.into_iter()
                .map(|c| {
                    vec![
                        Span::styled(" · ", theme.fg(theme.dim)),
                        Span::styled(c, cut_style),
                    ]
                })
                .collect(),
        ),
    ];
    // The sticky count gives way first, then the long form of the cut,
    // then the age; the countdown and what it cuts stay.
    Line::from(fit::squeeze(pieces, &[2, 3, 1], width))
}
