//! The guard panel: each guard with its value, its limit, a gauge of how
//! close the evidence is to a breach, and a verdict that never reads as a
//! pass when there was too little traffic ("not judged": not enough
//! evidence yet). Verdicts carry a symbol and a word, never colour alone.
//!
//! ```text
//! ┌ guards ───────────────────────────────────────────────────┐  roomy: the detail
//! │✓ pass       errors vs stable  ×0.91  ≤ ×1.25  ■□□□□       │  under each guard
//! │             canary 0.9 % [0.4–2.0] vs stable 1.0 % […     │  when it does not
//! │? not judged latency vs stable     —  ≤ ×1.50  □□□□□       │  fit after it
//! │             not enough evidence yet: 31 of 50 canary…     │
//! └───────────────────────────────────────────────────────────┘
//! ┌ guards ──────────────────────────────┐  narrow: the verdict shrinks to its
//! │✓ errors vs stable ×0.91  ≤ ×1.25     │  symbol, then the gauge goes, before
//! │✗ error ceiling   7.50 %  ≤ 5.00 %    │  any figure or limit
//! └──────────────────────────────────────┘
//! ```

use super::fit;
use crate::model::{GuardStatus, GuardVerdict};
use crate::tui::app::App;
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

pub fn verdict(status: GuardStatus, theme: &Theme) -> (&'static str, &'static str, Style) {
    match status {
        GuardStatus::Pass => ("✓", "✓ pass", theme.fg(theme.ok)),
        GuardStatus::NotJudged => ("?", "? not judged", theme.fg(theme.warn)),
        GuardStatus::Breach => ("✗", "✗ BREACH", theme.strong(theme.bad)),
        GuardStatus::Muted => ("⊘", "⊘ muted", theme.fg(theme.muted)),
    }
}

/// How the rows are laid out, shared by every row so the figures line up.
/// On a narrow panel the verdict shrinks to its symbol (the header's
/// `guards ✓3 ?1` and the help say what they mean) before any figure goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Columns {
    words: bool,
    name: usize,
    value: usize,
    limit: usize,
    gauge: bool,
}

const VERDICT_WORDS: usize = 13;
/// Cells of the evidence gauge (and the space before it).
const GAUGE: usize = 5;

/// How close a guard is to a breach, 0..=1: the evidence so far against
/// what a breach needs, or a count against its limit.
pub fn closeness(g: &GuardVerdict) -> f64 {
    match (&g.evidence, g.value) {
        (Some(e), _) => e.progress(),
        (None, Some(v)) if g.threshold > 0.0 => (v / g.threshold).clamp(0.0, 1.0),
        _ => 0.0,
    }
}

/// `■■□□□`: [`closeness`] in [`GAUGE`] cells (a breach fills it).
fn gauge(g: &GuardVerdict) -> String {
    let full = if g.status == GuardStatus::Breach {
        GAUGE
    } else {
        ((closeness(g) * GAUGE as f64).floor() as usize).min(GAUGE - 1)
    };
    format!("{}{}", "■".repeat(full), "□".repeat(GAUGE - full))
}

fn value_text(g: &GuardVerdict) -> String {
    g.value.map_or("—".into(), |x| g.name.value_text(x))
}

fn limit_text(g: &GuardVerdict) -> String {
    format!("≤ {}", g.name.value_text(g.threshold))
}

/// The columns for `guards` in `width` columns.
pub fn columns(guards: &[GuardVerdict], width: usize) -> Columns {
    let max = |f: &dyn Fn(&GuardVerdict) -> usize| guards.iter().map(f).max().unwrap_or(0);
    let mut c = Columns {
        words: true,
        name: max(&|g| fit::width(g.name.label())),
        value: max(&|g| fit::width(&value_text(g))),
        limit: max(&|g| fit::width(&limit_text(g))),
        gauge: true,
    };
    // The words go first, then the gauge; the figures stay.
    if c.width() > width {
        c.words = false;
    }
    if c.width() > width {
        c.gauge = false;
    }
    c
}

impl Columns {
    /// Columns used by the figures (without the detail).
    pub fn width(&self) -> usize {
        let verdict = if self.words { VERDICT_WORDS } else { 2 };
        let gauge = if self.gauge { GAUGE + 2 } else { 0 };
        verdict + self.name + 1 + self.value + 2 + self.limit + gauge
    }
}

/// The detail after the figures: whole, or shortened at a word when a
/// useful part fits, else left out.
const DETAIL_MIN: usize = 24;

/// One guard as one line: verdict, name, value, limit (and the detail in
/// what is left of `width`, if asked).
pub fn line(
    g: &GuardVerdict,
    theme: &Theme,
    cols: &Columns,
    width: usize,
    detail: bool,
) -> Line<'static> {
    let (sym, words, style) = verdict(g.status, theme);
    let verdict = if cols.words {
        format!("{words:<w$}", w = VERDICT_WORDS)
    } else {
        format!("{sym} ")
    };
    let name_style = if g.status == GuardStatus::Breach {
        theme.strong(theme.bad)
    } else {
        theme.fg(theme.text)
    };
    let mut spans = vec![
        Span::styled(verdict, style),
        Span::styled(
            format!("{:<w$} ", g.name.label(), w = cols.name),
            name_style,
        ),
        Span::styled(
            format!("{:>w$}", value_text(g), w = cols.value),
            theme.strong(theme.text),
        ),
        Span::styled(
            format!("  {:<w$}", limit_text(g), w = cols.limit),
            theme.fg(theme.dim),
        ),
    ];
    if cols.gauge {
        let near = closeness(g);
        let colour = match g.status {
            GuardStatus::Breach => theme.bad,
            GuardStatus::Muted => theme.muted,
            _ if near >= 0.5 => theme.warn,
            _ => theme.dim,
        };
        spans.push(Span::styled(format!("  {}", gauge(g)), theme.fg(colour)));
    }
    let used = fit::spans_width(&spans);
    let room = width.saturating_sub(used + 3);
    if detail && !g.detail.is_empty() && (fit::width(&g.detail) <= room || room >= DETAIL_MIN) {
        spans.push(Span::styled(
            format!("   {}", fit::words(&g.detail, room)),
            theme.fg(theme.dim),
        ));
    }
    Line::from(spans)
}

/// A guard as its figures line plus, when `below`, its detail on a line of
/// its own under the name (whole where it fits, else cut at a word).
pub fn rows(
    g: &GuardVerdict,
    theme: &Theme,
    cols: &Columns,
    width: usize,
    below: bool,
) -> Vec<Line<'static>> {
    if !below {
        return vec![line(g, theme, cols, width, true)];
    }
    let mut out = vec![line(g, theme, cols, width, false)];
    if !g.detail.is_empty() {
        let indent = if cols.words { VERDICT_WORDS } else { 2 };
        out.push(Line::from(vec![
            Span::raw(" ".repeat(indent)),
            Span::styled(
                fit::words(&g.detail, width.saturating_sub(indent)),
                theme.fg(theme.dim),
            ),
        ]));
    }
    out
}

/// Whether every guard's detail fits whole after its figures.
pub fn details_fit_inline(guards: &[GuardVerdict], cols: &Columns, width: usize) -> bool {
    guards
        .iter()
        .all(|g| cols.width() + 3 + fit::width(&g.detail) <= width)
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
        let width = inner.width as usize;
        let cols = columns(&s.guards, width);
        // Details go under their guard when they do not fit after it and
        // the panel has the rows; else after it, cut at a word.
        let below = roomy
            && !details_fit_inline(&s.guards, &cols, width)
            && inner.height as usize >= 2 * s.guards.len();
        if roomy {
            s.guards
                .iter()
                .flat_map(|g| rows(g, theme, &cols, width, below))
                .collect()
        } else {
            s.guards
                .iter()
                .map(|g| line(g, theme, &cols, width, false))
                .collect()
        }
    };
    frame.render_widget(Paragraph::new(lines), inner);
}
