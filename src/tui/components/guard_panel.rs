//! The guard panel popup (`g`): every threshold of `[guard]` with the
//! guard's latest verdict and value, one selected; under the list the
//! selected guard's detail, or, while a new threshold is typed, the input
//! with what may be typed and what was wrong with the last try.
//!
//! In a replay the same panel is the "what if": the limits are the recorded
//! ones with the replay's edits (marked ◇), and an edit marks the timeline
//! instead of being sent (`app/what_if_keys.rs`).
//!
//! ```text
//! ┌ guards ───────────────────────────────────────────────────────┐
//! │ guards are ON — a breach rolls the canary back                │
//! │                                                               │
//! │   verdict      threshold           now   limit                │
//! │ ▸ ✓ pass       errors                1   20                   │
//! │   ✗ BREACH     error rate       7.50 %   5.00 %               │
//! │                window                    10s                  │
//! │                                                               │
//! │ new error rate › 2 %▏                                         │
//! │ over the window: 5 % or 0.05, or off                          │
//! │ ✗ `2` reads as a fraction above 1: type 2 % or 0.02           │
//! │                                                               │
//! │       ⏎ confirm…  esc back                                    │
//! └───────────────────────────────────────────────────────────────┘
//! ```

use super::{fit, guards, popups};
use crate::model::{GuardVerdict, StateView};
use crate::plan::GuardPlan;
use crate::tui::app::{App, GuardsView};
use crate::tui::guard_edit::{self, GuardKey};
use crate::tui::keymap::Mode;
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

const VERDICT: usize = 13;
const LABEL: usize = 18;
const VALUE: usize = 9;

fn verdict_of(s: &StateView, key: GuardKey) -> Option<&GuardVerdict> {
    match key {
        GuardKey::Guard(name) => s.guards.iter().find(|g| g.name == name),
        _ => None,
    }
}

/// The limit in force: from the thresholds shown (the daemon's, or a
/// replay's "what if"), else (an older daemon) from the verdict.
fn limit(s: &StateView, shown: Option<&GuardPlan>, key: GuardKey) -> String {
    let edited = match (shown, &s.thresholds) {
        (Some(a), Some(b)) if key.value(a) != key.value(b) => " ◇",
        _ => "",
    };
    match (shown, verdict_of(s, key)) {
        (Some(t), _) => format!("{}{edited}", key.value(t)),
        (None, Some(v)) => v.name.value_text(v.threshold),
        (None, None) => "?".into(),
    }
}

fn row(
    s: &StateView,
    shown: Option<&GuardPlan>,
    key: GuardKey,
    selected: bool,
    theme: &Theme,
) -> Line<'static> {
    let v = verdict_of(s, key);
    let (words, style) = v.map_or(("", theme.fg(theme.dim)), |v| {
        let (_, words, style) = guards::verdict(v.status, theme);
        (words, style)
    });
    let value = v
        .and_then(|v| v.value.map(|x| v.name.value_text(x)))
        .unwrap_or_else(|| {
            if v.is_some() {
                "—".into()
            } else {
                String::new()
            }
        });
    let line = Line::from(vec![
        Span::styled(
            if selected { " ▸ " } else { "   " },
            theme.strong(theme.key),
        ),
        Span::styled(format!("{words:<VERDICT$}"), style),
        Span::styled(format!("{:<LABEL$}", key.label()), theme.fg(theme.text)),
        Span::styled(format!("{value:>VALUE$}"), theme.strong(theme.text)),
        Span::styled(
            format!("   {}", limit(s, shown, key)),
            theme.strong(theme.text),
        ),
    ]);
    if selected {
        line.style(theme.selected())
    } else {
        line
    }
}

/// The lines under the list: the selected guard's detail, or the input.
fn below(
    s: &StateView,
    replay: bool,
    view: &GuardsView,
    key: GuardKey,
    theme: &Theme,
    width: usize,
) -> Vec<Line<'static>> {
    let dim = |t: String| Line::from(Span::styled(format!(" {t}"), theme.fg(theme.dim)));
    let Some(edit) = &view.edit else {
        let about = verdict_of(s, key)
            .map(|v| v.detail.clone())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| key.hint().to_string());
        let mut out = vec![dim(fit::words(&about, width.saturating_sub(1)))];
        if replay {
            out.push(dim(fit::words(
                "edits stay in this replay: the timeline marks where they would trip (◇)",
                width.saturating_sub(1),
            )));
        } else if !guard_edit::editable(s.phase) {
            out.push(dim(format!(
                "thresholds can be edited while a release is under way (phase {})",
                s.phase
            )));
        } else if s.thresholds.is_none() {
            out.push(dim(
                "this daemon does not say its thresholds: edit the plan".into(),
            ));
        }
        return out;
    };
    let prompt = format!(" new {} › ", key.label());
    let room = width.saturating_sub(fit::width(&prompt) + 1);
    let n = edit.input.chars().count();
    let shown: String = edit.input.chars().skip(n.saturating_sub(room)).collect();
    let mut out = vec![
        Line::from(vec![
            Span::styled(prompt, theme.strong(theme.key)),
            Span::styled(format!("{shown}▏"), theme.strong(theme.text)),
        ]),
        dim(fit::words(key.hint(), width.saturating_sub(1))),
    ];
    if let Some(e) = &edit.error {
        for l in fit::wrap(&format!("✗ {e}"), width.saturating_sub(1), 2) {
            out.push(Line::from(Span::styled(
                format!(" {l}"),
                theme.fg(theme.bad),
            )));
        }
    }
    out
}

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, view: &GuardsView) {
    let Some(s) = &app.state else {
        return;
    };
    let w = 84.min(area.width.saturating_sub(4));
    let width = w.saturating_sub(2) as usize;
    let key = GuardKey::ALL[view.selected.min(GuardKey::ALL.len() - 1)];
    let replay = app.replay.is_some();
    let shown = if replay {
        app.what_if_thresholds()
    } else {
        s.thresholds.clone()
    };
    let mut lines = vec![
        Line::from(vec![
            Span::styled(
                if replay {
                    " recorded guards: "
                } else {
                    " guards are "
                },
                theme.fg(theme.text),
            ),
            if s.guards_muted {
                Span::styled(
                    "⊘ MUTED — breaches are not acted on",
                    theme.strong(theme.muted),
                )
            } else {
                let what = match s.thresholds.as_ref().map(|t| t.on_breach) {
                    Some(crate::plan::OnBreach::Pause) => "ON — a breach pauses the release",
                    _ => "ON — a breach rolls the canary back",
                };
                Span::styled(what, theme.strong(theme.ok))
            },
        ]),
        Line::default(),
        Line::from(Span::styled(
            format!(
                "   {:<VERDICT$}{:<LABEL$}{:>VALUE$}   limit",
                "verdict", "threshold", "now"
            ),
            theme.fg(theme.dim),
        )),
    ];
    for (i, k) in GuardKey::ALL.into_iter().enumerate() {
        lines.push(row(s, shown.as_ref(), k, i == view.selected, theme));
    }
    lines.push(Line::default());
    lines.extend(below(s, replay, view, key, theme, width));
    lines.push(Line::default());
    let mode = match (replay, view.edit.is_some()) {
        (true, true) => Mode::WhatIfEdit,
        (true, false) => Mode::WhatIf,
        (false, true) => Mode::GuardEdit,
        (false, false) => Mode::Guards,
    };
    // Borders, the lines, the hints.
    let h = lines.len() as u16 + 3;
    let title = if replay {
        "what if — nothing is sent"
    } else {
        "guards"
    };
    let inner = popups::frame_box(frame, area, theme, w, h, title);
    frame.render_widget(Paragraph::new(lines), inner);
    frame.render_widget(
        Paragraph::new(popups::hints(app, theme, mode)),
        Rect {
            y: inner.bottom().saturating_sub(1),
            height: 1,
            ..inner
        },
    );
}
