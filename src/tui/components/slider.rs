//! The split slider: the canary's share of live traffic. The applied share
//! (what the proxy does now) is the solid part; a pending share (sent, not
//! yet applied, or being dragged) shows as a marker with a lighter fill; the
//! step, its target and the bake countdown sit in the title.
//!
//! ```text
//! ┌ split ── canary share of live traffic ─────────────── step 2/3 → 50 % · bake 0:42 ┐
//! │ canary  25 % ██████████████▒▒▒▒┃──────────────────────────────────────  75 % stable │
//! │              0         25 ◆       50          75          100                      │  (roomy)
//! └──────────────────────────────────────────────── pending 30 % (sent, not applied) ──┘
//! ```

use super::{fit, fmt};
use crate::model::{Permille, Phase};
use crate::tui::app::App;
use crate::tui::prompts::pct;
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

const LEFT: u16 = 13;
const RIGHT: u16 = 13;

fn block(app: &App, theme: &Theme, width: u16) -> Block<'static> {
    let mut b = Block::bordered().border_style(theme.fg(theme.border));
    let mut left = vec![Span::styled(" split ", theme.title_style())];
    let subtitle = Span::styled("canary share of live traffic ", theme.fg(theme.dim));
    let mut right = Vec::new();
    if let Some(s) = &app.state {
        if let Some(step) = &s.step {
            right.push(Span::styled(
                format!(
                    " step {}/{} → {}",
                    step.index + 1,
                    step.total,
                    pct(step.weight_permille)
                ),
                theme.fg(theme.text),
            ));
            match (step.bake_remaining_ms, s.phase) {
                (_, Phase::Paused) => {
                    right.push(Span::styled(" · bake held (paused)", theme.fg(theme.warn)))
                }
                (Some(ms), _) => right.push(Span::styled(
                    format!(" · bake {}", fmt::countdown(ms)),
                    theme.fg(theme.text),
                )),
                (None, _) => {}
            }
            right.push(Span::raw(" "));
        } else if s.phase.takes_traffic() {
            right.push(Span::styled(" manual (no steps) ", theme.fg(theme.dim)));
        }
    }
    // The step and bake countdown matter more than the subtitle.
    let room = (width as usize).saturating_sub(4);
    if fit::spans_width(&left) + subtitle.width() + fit::spans_width(&right) <= room {
        left.push(subtitle);
    }
    b = b.title(Line::from(left));
    if !right.is_empty() {
        b = b.title(Line::from(right).right_aligned());
    }
    let bottom = if let Some(input) = &app.weight_input {
        Some(Line::from(vec![
            Span::styled(" set canary to ", theme.fg(theme.text)),
            Span::styled(format!("{input}▏%"), theme.strong(theme.slider_pending)),
            Span::styled("  ⏎ apply · esc cancel ", theme.fg(theme.dim)),
        ]))
    } else {
        app.pending_permille.map(|p| {
            Line::from(vec![
                Span::styled(" pending ", theme.fg(theme.dim)),
                Span::styled(pct(p), theme.strong(theme.slider_pending)),
                Span::styled(
                    format!(" (applied {}) ", pct(app.applied())),
                    theme.fg(theme.dim),
                ),
            ])
        })
    };
    if let Some(line) = bottom {
        b = b.title_bottom(line.right_aligned());
    }
    b
}

/// Where the bar is drawn inside the slider's area (mouse hits use this).
pub fn track(area: Rect) -> Rect {
    let inner = Block::bordered().inner(area);
    Rect {
        x: inner.x + LEFT,
        y: inner.y,
        width: inner.width.saturating_sub(LEFT + RIGHT),
        height: 1.min(inner.height),
    }
}

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let b = block(app, theme, area.width);
    let inner = b.inner(area);
    frame.render_widget(b, area);
    let Some(s) = &app.state else {
        return;
    };
    let applied = Permille::clamped(s.weight_permille.into());
    let t = track(area);
    let w = t.width as usize;
    let cells = |permille: u16| ((permille as usize * w) + 500) / 1000;
    let applied_cells = cells(applied.get());
    let pending_cells = app
        .pending_permille
        .map(|p| cells(Permille::clamped(p.into()).get()));
    let mut bar: Vec<Span> = Vec::with_capacity(w + 2);
    let live = s.phase.takes_traffic();
    let fill = if live {
        theme.slider_applied
    } else {
        theme.dim
    };
    for i in 0..w {
        let (sym, style) = match pending_cells {
            Some(p) if i == p.min(w.saturating_sub(1)) && p != applied_cells => {
                ("┃", theme.strong(theme.slider_pending))
            }
            Some(p) if (applied_cells..p).contains(&i) => ("▒", theme.fg(theme.slider_pending)),
            Some(p) if (p..applied_cells).contains(&i) => ("▒", theme.fg(theme.slider_applied)),
            _ if i < applied_cells => ("█", theme.fg(fill)),
            _ => ("─", theme.fg(theme.slider_track)),
        };
        bar.push(Span::styled(sym, style));
    }
    let mut line = vec![Span::styled(
        format!(
            "{:<LEFT$}",
            format!("canary {:>5}", pct(applied.get())),
            LEFT = LEFT as usize
        ),
        theme.strong(theme.canary),
    )];
    line.extend(bar);
    line.push(Span::styled(
        format!(
            "{:>RIGHT$}",
            format!("{} stable", pct(applied.stable_share())),
            RIGHT = RIGHT as usize
        ),
        theme.strong(theme.stable),
    ));
    frame.render_widget(
        Paragraph::new(Line::from(line)),
        Rect { height: 1, ..inner },
    );
    if inner.height >= 2 {
        frame.render_widget(
            Paragraph::new(scale(app, theme, w)),
            Rect {
                x: t.x,
                y: inner.y + 1,
                width: t.width,
                height: 1,
            },
        );
    }
}

/// `0    25 ◆   50    75    100`: the scale, with the current step's target.
fn scale(app: &App, theme: &Theme, w: usize) -> Line<'static> {
    let mut chars: Vec<(char, bool)> = vec![(' ', false); w];
    if w < 20 {
        return Line::default();
    }
    let step_pos = app
        .state
        .as_ref()
        .and_then(|s| s.step.as_ref())
        .map(|step| {
            (Permille::clamped(step.weight_permille.into()).get() as usize * (w - 1)) / 1000
        });
    for mark in [0usize, 25, 50, 75, 100] {
        let label = mark.to_string();
        let mut pos = (mark * (w - 1) / 100).min(w - label.len());
        // The step's diamond goes first; its label steps aside.
        if let Some(sp) = step_pos
            && (pos..pos + label.len()).contains(&sp)
        {
            pos = (sp + 1).min(w - label.len());
        }
        for (k, c) in label.chars().enumerate() {
            chars[pos + k] = (c, false);
        }
    }
    if let Some(pos) = step_pos {
        chars[pos] = ('◆', true);
    }
    Line::from(
        chars
            .into_iter()
            .map(|(c, step)| {
                if step {
                    Span::styled(c.to_string(), theme.strong(theme.canary))
                } else {
                    Span::styled(
                        c.to_string(),
                        theme.fg(theme.dim).add_modifier(Modifier::empty()),
                    )
                }
            })
            .collect::<Vec<_>>(),
    )
}
