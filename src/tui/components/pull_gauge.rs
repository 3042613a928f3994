//! The gauge of an image pull in progress: one line under the banners,
//! there only while a pull runs (the daemon's throttled `Pull` reports),
//! gone when it ends; the finished pull is a line in the events panel.
//!
//! ```text
//!  ⇣ canary  pulling 127.0.0.1:5000/shop:1.5.0  ▕██████████░░░░░░░░░░▏  52 % 15.2/29.1 MiB · 3/5 layers
//! ```

use super::fit;
use crate::model::{EventKind, pull_totals};
use crate::tui::app::App;
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// Cells of the bar itself (fewer on a narrow screen).
const BAR: usize = 20;
const BAR_NARROW: usize = 10;

/// The end of `image` in `max` cells: the tag is what tells versions apart.
fn tail(image: &str, max: usize) -> String {
    let n = image.chars().count();
    if n <= max {
        return image.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let kept: String = image.chars().skip(n - (max - 1)).collect();
    format!("…{kept}")
}

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let Some(EventKind::Pull {
        role,
        image,
        layers,
        ..
    }) = &app.pull
    else {
        return;
    };
    if area.height == 0 {
        return;
    }
    let (cur, tot, done, n) = pull_totals(layers);
    let share = if tot == 0 {
        0.0
    } else {
        cur as f64 / tot as f64
    };
    let bar = if area.width >= 120 { BAR } else { BAR_NARROW };
    let filled = ((share * bar as f64).round() as usize).min(bar);
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let figures = format!(
        " {:>3.0} % {:.1}/{:.1} MiB · {done}/{n} layers",
        share * 100.0,
        mib(cur),
        mib(tot)
    );
    let head = format!(" ⇣ {:<7} pulling ", role.as_str());
    // The image gives way first (its start, keeping the tag); the bar and
    // the figures stay.
    let room =
        (area.width as usize).saturating_sub(fit::width(&head) + bar + 4 + fit::width(&figures));
    let line = Line::from(vec![
        Span::styled(head, theme.fg(theme.role(*role))),
        Span::styled(tail(image, room), theme.strong(theme.text)),
        Span::styled("  ▕", theme.fg(theme.dim)),
        Span::styled("█".repeat(filled), theme.fg(theme.role(*role))),
        Span::styled("░".repeat(bar - filled), theme.fg(theme.dim)),
        Span::styled("▏", theme.fg(theme.dim)),
        Span::styled(figures, theme.fg(theme.text)),
    ]);
    frame.render_widget(Paragraph::new(line), area);
}
