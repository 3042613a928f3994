//! A version's memory over the last minutes as a sparkline, with the size
//! it suggests: one line in the roomy versions panel.
//!
//! ```text
//! ▁▁▂▂▃▅▇█▅▃▂▂ canary peak 180 MiB of 256 MiB over 10 min → 224 MiB
//! ```

use super::fit;
use crate::model::VersionView;
use crate::tui::theme::Theme;
use ratatui::text::{Line, Span};

/// The usage line of `v`, if the daemon sent a history.
pub fn line(v: &VersionView, theme: &Theme, width: usize) -> Option<Line<'static>> {
    let u = v.usage.as_ref()?;
    // Scaled to the limit when there is one (a full bar is the limit), so
    // the height says how close to an OOM the version ran.
    let top = u
        .memory_limit
        .or(u.memory_history.iter().copied().max())
        .filter(|t| *t > 0)?;
    let cells = (width / 3).min(u.memory_history.len()).min(24);
    let recent = &u.memory_history[u.memory_history.len() - cells..];
    let points: Vec<Option<f64>> = recent.iter().map(|m| Some(*m as f64)).collect();
    let spark = super::spark::spark(&points, top as f64);
    let colour = if u.suggested_memory.is_some_and(|s| Some(s) > u.memory_limit) {
        theme.warn
    } else {
        theme.role(v.role)
    };
    let room = width.saturating_sub(cells + 1);
    Some(Line::from(vec![
        Span::styled(spark, theme.fg(colour)),
        Span::raw(" "),
        Span::styled(fit::words(&u.summary, room), theme.fg(theme.dim)),
    ]))
}
