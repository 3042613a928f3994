//! The top line: what service, what phase, which runtime, how the guards
//! stand, and the clock (the time of the newest event, so replays and tests
//! draw the time of the recording, never the wall clock).
//!
//! ```text
//!  cutover  shop  ● CANARY  release 3 · docker       guards ✓2 ?1 ✗1      12:03:04 UTC
//!  cutover  shop  ▼ ROLLING BACK  release 3 · docker  guards ✓2 ?1 ✗1   12:03 UTC   (80 wide)
//! ```

use super::fit::{self, Piece};
use crate::model::{GuardStatus, Phase, StateView};
use crate::tui::app::App;
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// The header's pieces and the order they give way on a narrow screen:
/// the clock's seconds, then the release number, the `UTC` and the
/// freeze's reason shrink first; the service, phase, runtime and guard
/// counts always stay whole.
pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let mut h = Halves::default();
    match &app.state {
        Some(s) => h.state(s, theme),
        None => h.waiting(theme),
    }
    if let Some(now) = app.now {
        h.at.clock = Some(h.right.len());
        h.right.push(clock(now, theme));
    }
    let order = h.order();
    let n_left = h.left.len();
    let mut pieces = h.left;
    pieces.extend(h.right);
    // Two columns between the halves at least.
    let chosen = fit::choose(&pieces, &order, (area.width as usize).saturating_sub(2));
    let mut spans: Vec<Vec<Span>> = pieces
        .into_iter()
        .zip(chosen)
        .map(|(p, v)| p.variants.into_iter().nth(v).unwrap_or_default())
        .collect();
    let right_spans: Vec<Span> = spans.split_off(n_left).into_iter().flatten().collect();
    let left_spans: Vec<Span> = spans.into_iter().flatten().collect();
    let right_w = fit::spans_width(&right_spans) as u16;
    frame.render_widget(Paragraph::new(Line::from(left_spans)), area);
    if right_w < area.width {
        let r = Rect {
            x: area.right() - right_w,
            width: right_w,
            ..area
        };
        frame.render_widget(
            Paragraph::new(Line::from(right_spans)).alignment(Alignment::Right),
            r,
        );
    }
}

/// The header's two halves as pieces, and where the ones that give way are.
#[derive(Default)]
struct Halves {
    left: Vec<Piece<'static>>,
    right: Vec<Piece<'static>>,
    at: Shrinking,
}

/// Indices of the pieces that give way: into `left` (brand, freeze,
/// release) or `right` (clock, guards).
#[derive(Default)]
struct Shrinking {
    brand: Option<usize>,
    freeze: Option<usize>,
    release: Option<usize>,
    clock: Option<usize>,
    guards: Option<usize>,
}

impl Halves {
    /// With a state: brand, service, phase, freeze, release and runtime on
    /// the left; the guards' counts on the right.
    fn state(&mut self, s: &StateView, theme: &Theme) {
        let left = &mut self.left;
        self.at.brand = Some(left.len());
        left.push(Piece::optional(vec![brand(theme)]));
        left.push(Piece::fixed(vec![Span::styled(
            format!(" {} ", s.service),
            theme.strong(theme.text),
        )]));
        left.push(Piece::fixed(vec![
            Span::raw(" "),
            phase_span(s.phase, theme),
        ]));
        if let Some(f) = &s.freeze {
            let style = theme.strong(theme.warn);
            let short = f.split(" (").next().unwrap_or(f);
            self.at.freeze = Some(left.len());
            left.push(Piece::shrinking(vec![
                vec![Span::styled(format!("  ❄ freeze: {f}"), style)],
                vec![Span::styled(format!("  ❄ freeze: {short}"), style)],
                vec![Span::styled("  ❄ FROZEN", style)],
            ]));
        }
        let dim = theme.fg(theme.dim);
        self.at.release = Some(left.len());
        left.push(Piece::shrinking(vec![
            vec![Span::styled(
                format!("  release {} · {}", s.release, s.runtime),
                dim,
            )],
            vec![Span::styled(format!("  {}", s.runtime), dim)],
        ]));
        self.at.guards = Some(self.right.len());
        self.right.push(guard_summary(s, theme));
    }

    /// No state yet: the brand and a word that the daemon is awaited.
    fn waiting(&mut self, theme: &Theme) {
        self.left.push(Piece::fixed(vec![brand(theme)]));
        self.left.push(Piece::fixed(vec![Span::styled(
            " waiting for the daemon…",
            theme.fg(theme.dim),
        )]));
    }

    /// Indices into left ++ right, in the order they shrink.
    fn order(&self) -> Vec<usize> {
        let n_left = self.left.len();
        let r = |i: Option<usize>| i.map(|i| i + n_left);
        let at = &self.at;
        [
            r(at.clock),
            at.release,
            at.freeze,
            r(at.clock),
            at.freeze,
            at.brand,
            r(at.guards),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

fn brand(theme: &Theme) -> Span<'static> {
    Span::styled(
        " cutover ",
        theme.title_style().add_modifier(Modifier::BOLD),
    )
}

/// The clock: seconds go first, then `UTC`.
fn clock(now: chrono::DateTime<chrono::Utc>, theme: &Theme) -> Piece<'static> {
    let style = theme.fg(theme.text);
    Piece::shrinking(vec![
        vec![Span::styled(
            format!("  {} UTC ", now.format("%H:%M:%S")),
            style,
        )],
        vec![Span::styled(
            format!("  {} UTC ", now.format("%H:%M")),
            style,
        )],
        vec![Span::styled(format!("  {} ", now.format("%H:%M")), style)],
    ])
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

/// `guards ✓2 ?1 ✗1` — counts by verdict, or `guards muted`; the word
/// `guards` goes last of all on a narrow screen.
fn guard_summary(s: &StateView, theme: &Theme) -> Piece<'static> {
    let mut counts: Vec<Span<'static>> = Vec::new();
    if s.guards_muted {
        counts.push(Span::styled("⊘ MUTED", theme.strong(theme.muted)));
    } else if s.guards.is_empty() {
        counts.push(Span::styled("—", theme.fg(theme.dim)));
    } else {
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
                counts.push(Span::styled(format!("{sym}{n} "), style));
            }
        }
    }
    let mut full = vec![Span::styled("guards ", theme.fg(theme.dim))];
    full.extend(counts.iter().cloned());
    Piece::shrinking(vec![full, counts])
}
