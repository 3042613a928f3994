//! The release train under the fleet view's header: its state, a progress
//! bar of entries that are over, and each entry's word, the ones that need
//! the operator first.
//!
//! ```text
//!  train 3 running ▕██████░░░░░░▏ 1/3  ✓ shop promoted  ● api releasing  · web waiting
//! ```

use crate::train::{EntryPhase, Train, TrainStatus};
use crate::tui::components::fit;
use crate::tui::theme::Theme;
use ratatui::text::{Line, Span};

/// Cells of the progress bar.
const BAR: usize = 12;

pub fn line(t: &Train, theme: &Theme, width: usize) -> Line<'static> {
    let (word, colour) = match t.status {
        TrainStatus::Running => ("running", theme.warn),
        TrainStatus::Aborting => ("aborting", theme.bad),
        TrainStatus::Done => ("done", theme.ok),
        TrainStatus::Aborted => ("aborted", theme.bad),
    };
    let over = t.entries.iter().filter(|e| e.phase.is_over()).count();
    let total = t.entries.len().max(1);
    let filled = over * BAR / total;
    let mut spans = vec![
        Span::styled(format!(" train {} ", t.id), theme.strong(theme.title)),
        Span::styled(format!("{word} "), theme.strong(colour)),
        Span::styled("▕", theme.fg(theme.dim)),
        Span::styled("█".repeat(filled), theme.fg(colour)),
        Span::styled("░".repeat(BAR - filled), theme.fg(theme.dim)),
        Span::styled("▏", theme.fg(theme.dim)),
        Span::styled(
            format!(" {over}/{} ", t.entries.len()),
            theme.fg(theme.text),
        ),
    ];
    if let Some(r) = &t.abort_reason {
        spans.push(Span::styled(
            format!(" {} ", fit::words(r, 40)),
            theme.fg(theme.bad),
        ));
    }
    let mut entries: Vec<_> = t.entries.iter().collect();
    entries.sort_by_key(|e| urgency(e.phase));
    for e in entries {
        let (mark, c) = mark(e.phase, theme);
        let piece = format!(" {mark} {} {}", e.service, e.phase.as_str());
        if fit::spans_width(&spans) + piece.chars().count() > width {
            spans.push(Span::styled(" …", theme.fg(theme.dim)));
            break;
        }
        spans.push(Span::styled(piece, theme.fg(c)));
    }
    Line::from(spans)
}

/// What needs the operator first: failures, then what moves, then the rest.
fn urgency(p: EntryPhase) -> u8 {
    match p {
        EntryPhase::Failed | EntryPhase::RestoreFailed => 0,
        EntryPhase::Releasing | EntryPhase::RollingBack | EntryPhase::Restoring => 1,
        EntryPhase::Waiting => 2,
        _ => 3,
    }
}

fn mark(p: EntryPhase, theme: &Theme) -> (&'static str, ratatui::style::Color) {
    match p {
        EntryPhase::Promoted | EntryPhase::Restored | EntryPhase::RolledBack => ("✓", theme.ok),
        EntryPhase::Failed | EntryPhase::RestoreFailed => ("✗", theme.bad),
        EntryPhase::Releasing | EntryPhase::RollingBack | EntryPhase::Restoring => {
            ("●", theme.warn)
        }
        EntryPhase::Waiting | EntryPhase::Skipped => ("·", theme.dim),
    }
}
