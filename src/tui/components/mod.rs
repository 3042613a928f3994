//! One pure `render` function per screen region (trippy style); [`draw`]
//! puts them together following [`layout::areas`], and [`render_frame`]
//! draws a whole frame into a buffer without a terminal (snapshot tests,
//! the benchmark and the asciicast exporter use it).

pub mod act_popups;
pub mod banners;
pub mod drain;
pub mod events;
pub mod fit;
pub mod fmt;
pub mod footer;
pub mod graphs;
pub mod guard_panel;
pub mod guards;
pub mod header;
pub mod layout;
pub mod plot;
pub mod popups;
pub mod pull_gauge;
pub mod slider;
pub mod spark;
pub mod usage;
pub mod versions;

use super::app::{App, Link};
use super::theme::Theme;
use crate::model::Role;
use ratatui::Frame;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// Draw the whole cockpit.
pub fn draw(frame: &mut Frame, app: &App, theme: &Theme) {
    let area = frame.area();
    if layout::too_small(area) {
        too_small(frame, area, theme);
        return;
    }
    let a = layout::areas(app, area);
    header::render(frame, a.header, app, theme);
    versions::render(frame, a.stable, app, theme, Role::Stable);
    versions::render(frame, a.canary, app, theme, Role::Canary);
    slider::render(frame, a.slider, app, theme);
    graphs::render(frame, a.graphs, app, theme, a.roomy);
    guards::render(frame, a.guards, app, theme, a.roomy);
    events::render(frame, a.events, app, theme);
    if matches!(app.link, Link::Lost { .. }) && app.replay.is_none() {
        // The last known state, greyed: still readable, clearly stale.
        let body = Rect {
            y: a.stable.y,
            height: a.footer.y.saturating_sub(a.stable.y),
            ..area
        };
        let grey = if theme.no_color {
            Style::default().add_modifier(Modifier::DIM)
        } else {
            Style::default().fg(theme.dim).add_modifier(Modifier::DIM)
        };
        frame.buffer_mut().set_style(body, grey);
    }
    banners::breach(frame, a.breach, app, theme);
    banners::link(frame, a.link, app, theme);
    banners::replay(frame, a.replay, app, theme);
    pull_gauge::render(frame, a.pull, app, theme);
    drain::render(frame, a.drain, app, theme);
    footer::render(frame, a.footer, app, theme);
    popups::render(frame, area, app, theme);
}

fn too_small(frame: &mut Frame, area: Rect, theme: &Theme) {
    let lines = vec![
        Line::from(Span::styled("terminal too small", theme.strong(theme.warn))),
        Line::from(Span::styled(
            format!(
                "need {}×{}, have {}×{}",
                layout::MIN_WIDTH,
                layout::MIN_HEIGHT,
                area.width,
                area.height
            ),
            theme.fg(theme.text),
        )),
        Line::from(Span::styled(
            "enlarge the window · q quits",
            theme.fg(theme.dim),
        )),
    ];
    let y = area.height.saturating_sub(3) / 2;
    frame.render_widget(
        Paragraph::new(lines).centered(),
        Rect {
            y: area.y + y,
            height: 3.min(area.height),
            ..area
        },
    );
}

/// Draw one frame of `app` at `width`×`height` into a buffer. The frame is
/// drawn straight into the terminal's buffer and taken out: no diff, no
/// flush to the backend and no copy, none of which a one-shot frame needs.
pub fn render_frame(app: &App, theme: &Theme, width: u16, height: u16) -> Buffer {
    let mut terminal =
        Terminal::new(TestBackend::new(width, height)).expect("a test backend always opens");
    let mut frame = terminal.get_frame();
    draw(&mut frame, app, theme);
    std::mem::take(terminal.current_buffer_mut())
}
