//! Banners across the top: a guard breach (which guard, the figures, until
//! acknowledged), the daemon going away ("disconnected — retrying in 2.0 s"),
//! and replay ("REPLAY — read-only") with a timeline bar marking actions
//! (◆) and breaches (✗) and the position (●); with a "what if" (thresholds
//! edited in the replay) also where they would have tripped (◇, or ◈ on a
//! recorded breach's cell), and a line saying so next to what was recorded.
//!
//! ```text
//!  ✗ GUARD BREACH  error rate 7.50 % > limit 5.00 % at 12:03:10 — canary rolled back
//!    12 errors of 160 requests in 10 s                              a acknowledge
//!  ⚡ disconnected — retrying in 2.0 s (attempt 3): connection refused; last state greyed
//!  ▶ REPLAY — read-only  demo-bad.jsonl  2× ▶  0:42 / 1:30
//!  ━━━━━━━━━━◆━━━━━━━━✗━━━━●────◇─────────────────────────────────────────────
//!  ◇ with max_error_ratio ×2.00: trips at 0:31 by errors vs stable (recorded: breach at 0:24)
//! ```

use super::fit::{self, Piece};
use super::fmt;
use crate::tui::app::{App, Link, MarkKind, ReplayView};
use crate::tui::keymap::{Command, Mode};
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

pub fn breach(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let Some(b) = app.breach_banner() else {
        return;
    };
    let style = theme.banner(theme.banner_breach_bg);
    frame.render_widget(Block::default().style(style), area);
    let outcome = match app.state.as_ref().map(|s| s.phase) {
        Some(crate::model::Phase::RollingBack) => "rolling back",
        Some(crate::model::Phase::Paused) => "paused",
        Some(crate::model::Phase::Idle) => "rolled back",
        _ => "",
    };
    let what = format!(
        " ✗ GUARD BREACH  {} {} > {}",
        b.guard.label(),
        b.guard.value_text(b.value),
        b.guard.value_text(b.threshold),
    );
    let when = format!(" at {}", b.at.format("%H:%M:%S"));
    let outcome = if outcome.is_empty() {
        String::new()
    } else {
        format!(" — {outcome}")
    };
    // The guard, its figures and the outcome stay; the time goes first.
    let l1 = fit::squeeze(
        vec![
            Piece::fixed(vec![Span::styled(what, style)]),
            Piece::optional(vec![Span::styled(when, style)]),
            Piece::fixed(vec![Span::styled(outcome, style)]),
        ],
        &[1],
        area.width as usize,
    );
    // Live, `a` acknowledges the breach in the daemon; in a read-only view
    // it only hides the banner here, and says so.
    let mode = if app.replay.is_some() {
        Mode::Replay
    } else {
        Mode::Live
    };
    let word = if app.read_only() {
        "hide"
    } else {
        "acknowledge"
    };
    let hint = app
        .offered_key(mode, Command::Ack)
        .map_or_else(String::new, |key| format!("{key} {word} "));
    let w = area.width as usize;
    let detail = format!(
        "   {}",
        fit::words(&b.detail, w.saturating_sub(fit::width(&hint) + 4))
    );
    let pad = w.saturating_sub(fit::width(&detail) + fit::width(&hint));
    let lines = vec![
        Line::from(l1),
        Line::from(vec![
            Span::styled(detail, style),
            Span::styled(" ".repeat(pad), style),
            Span::styled(hint, style),
        ]),
    ];
    frame.render_widget(Paragraph::new(lines).style(style), area);
}

pub fn link(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let w = area.width as usize;
    let text = match &app.link {
        Link::Live => return,
        Link::Connecting => " ⚡ connecting to the daemon…".to_string(),
        Link::Lost {
            retry_in_ms,
            attempt,
            error,
        } => {
            let head = format!(
                " ⚡ disconnected — retry in {:.1} s (#{attempt})",
                *retry_in_ms as f64 / 1000.0
            );
            let tail = " · last state, greyed";
            // The error gets what is left, shortened at a word; the note
            // about the greyed state goes first when it is tight.
            let room = w.saturating_sub(fit::width(&head) + 2);
            if fit::width(error) + fit::width(tail) <= room {
                format!("{head}: {error}{tail}")
            } else {
                format!("{head}: {}", fit::words(error, room))
            }
        }
    };
    let style = theme.banner(theme.banner_info_bg);
    frame.render_widget(Paragraph::new(fit::words(&text, w)).style(style), area);
}

pub fn replay(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let Some(r) = &app.replay else {
        return;
    };
    let style = theme.banner(theme.banner_replay_bg);
    frame.render_widget(
        Paragraph::new(fit::words(
            &replay_head(r, area.width as usize),
            area.width as usize,
        ))
        .style(style),
        Rect { height: 1, ..area },
    );
    if area.height < 2 {
        return;
    }
    let w = area.width.saturating_sub(2) as usize;
    if w == 0 {
        return;
    }
    let mut line = vec![Span::raw(" ")];
    line.extend(timeline(r, w, theme));
    frame.render_widget(Paragraph::new(Line::from(line)), row(area, 1));
    let Some(l) = r.what_if.as_ref().and_then(|w| w.line_at(r.position_ms)) else {
        return;
    };
    if area.height < 3 {
        return;
    }
    // Which guard trips gives way first; what was recorded stays.
    let style = theme.strong(theme.warn);
    let piece = |t: String| vec![Span::styled(t, style)];
    let by = if l.by.is_empty() {
        Piece::fixed(Vec::new())
    } else {
        Piece::optional(piece(format!(" {}", l.by)))
    };
    let spans = fit::squeeze(
        vec![
            Piece::fixed(piece(format!(" ◇ {}", l.head))),
            by,
            Piece::fixed(piece(format!(" {}", l.recorded))),
        ],
        &[1],
        area.width as usize,
    );
    frame.render_widget(Paragraph::new(Line::from(spans)), row(area, 2));
}

/// Line `dy` of `area`.
fn row(area: Rect, dy: u16) -> Rect {
    Rect {
        y: area.y + dy,
        height: 1,
        ..area
    }
}

/// The replay banner's first line, `width` wide: what plays, where, and
/// the recording's damage; the file's name gives way first.
fn replay_head(r: &ReplayView, width: usize) -> String {
    // At the end nothing plays, whatever the speed (`--speed 0` starts there).
    let state = if r.position_ms >= r.duration_ms {
        "■ end".to_string()
    } else if r.paused {
        format!("‖ paused at {}×", trim_speed(r.speed))
    } else {
        format!("▶ playing at {}×", trim_speed(r.speed))
    };
    let play = format!(
        "  {state}  {} / {}",
        fmt::countdown(r.position_ms),
        fmt::countdown(r.duration_ms)
    );
    let damage = match (r.skipped_lines, r.truncated_tail) {
        (0, false) => String::new(),
        (n, false) => format!("  ({n} corrupt lines skipped)"),
        (0, true) => "  (last line truncated)".to_string(),
        (n, true) => format!("  ({n} corrupt lines skipped, last line truncated)"),
    };
    let head = " REPLAY — read-only  ";
    let room = width.saturating_sub(fit::width(head) + fit::width(&play) + fit::width(&damage));
    format!("{head}{}{play}{damage}", fit::image(&r.file, room))
}

/// The timeline bar, `w` cells (`w` > 0): played so far, the recorded
/// actions and breaches, where a "what if" would trip, and the position.
fn timeline<'a>(r: &ReplayView, w: usize, theme: &Theme) -> Vec<Span<'a>> {
    let at = |ms: u64| -> usize {
        if r.duration_ms == 0 {
            0
        } else {
            ((ms.min(r.duration_ms) as u128 * (w as u128 - 1)) / r.duration_ms as u128) as usize
        }
    };
    let pos = at(r.position_ms);
    let mut cells: Vec<Span> = (0..w)
        .map(|i| {
            if i <= pos {
                Span::styled("━", theme.fg(theme.banner_replay_bg))
            } else {
                Span::styled("─", theme.fg(theme.dim))
            }
        })
        .collect();
    for m in &r.marks {
        let i = at(m.at_ms);
        cells[i] = match m.kind {
            MarkKind::Action => Span::styled("◆", theme.strong(theme.key)),
            MarkKind::Breach => Span::styled("✗", theme.strong(theme.bad)),
        };
    }
    if let Some(w) = &r.what_if {
        let breaches: Vec<usize> = r
            .marks
            .iter()
            .filter(|m| m.kind == MarkKind::Breach)
            .map(|m| at(m.at_ms))
            .collect();
        for &ms in &w.trips {
            let i = at(ms);
            // Where it would trip just as the recorded breach did: both.
            let mark = if breaches.contains(&i) { "◈" } else { "◇" };
            cells[i] = Span::styled(mark, theme.strong(theme.warn));
        }
    }
    cells[pos] = Span::styled("●", theme.strong(theme.text));
    cells
}

fn trim_speed(s: f64) -> String {
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s:.2}").trim_end_matches('0').to_string()
    }
}
