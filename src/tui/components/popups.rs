//! Popups drawn over the cockpit: the confirmation prompt (owning its
//! action), help (from the keymap), the drain picker, the logs of a
//! replica, and the reason input of a forced promote or drain. The guard
//! panel has its own file (`guard_panel`), and so do the prompts of the
//! keys that deploy, scale and resize, and the typed confirmation
//! (`act_popups`).
//!
//! ```text
//!            ┌ Roll back? ───────────────────────────────────────┐
//!            │                                                   │
//!            │  canary 25 % → 0 %, drain shop:1.5.0 (1 replica), │
//!            │  remove it                                        │
//!            │                                                   │
//!            │        ⏎/y yes, do it        esc/n no, cancel     │
//!            └───────────────────────────────────────────────────┘
//! ```

use super::{act_popups, fit, guard_panel};
use crate::model::Role;
use crate::tui::app::{App, LogsView, Popup, ReasonFor};
use crate::tui::keymap::Mode;
use crate::tui::prompts::{self, Confirm};
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let Some(popup) = &app.popup else {
        return;
    };
    match popup {
        Popup::Confirm(c) => confirm(frame, area, app, theme, c),
        Popup::Help { scroll } => help(frame, area, app, theme, *scroll),
        Popup::DrainPicker { selected } => drain_picker(frame, area, app, theme, *selected),
        Popup::Guards(v) => guard_panel::render(frame, area, app, theme, v),
        Popup::Logs(v) => logs(frame, area, app, theme, v),
        Popup::Reason {
            purpose,
            input,
            error,
        } => reason(frame, area, app, theme, *purpose, input, error.as_deref()),
        Popup::Deploy(p) => act_popups::deploy(frame, area, app, theme, p),
        Popup::Scale(p) => act_popups::scale(frame, area, app, theme, p),
        Popup::Resize(p) => act_popups::resize(frame, area, app, theme, p),
        Popup::TypedConfirm(p) => act_popups::typed_confirm(frame, area, app, theme, p),
    }
}

/// Where a centred box of at most `w`×`h` goes.
fn centred(area: Rect, w: u16, h: u16) -> Rect {
    let [r] = Layout::horizontal([Constraint::Length(w.min(area.width))])
        .flex(Flex::Center)
        .areas(area);
    let [r] = Layout::vertical([Constraint::Length(h.min(area.height))])
        .flex(Flex::Center)
        .areas(r);
    r
}

/// A centred box of at most `w`×`h`, cleared, with a titled border.
pub(super) fn frame_box(
    frame: &mut Frame,
    area: Rect,
    theme: &Theme,
    w: u16,
    h: u16,
    title: &str,
) -> Rect {
    let r = centred(area, w, h);
    frame.render_widget(Clear, r);
    let block = Block::bordered()
        .border_style(theme.strong(theme.popup_border))
        .title(Span::styled(format!(" {title} "), theme.title_style()));
    let inner = block.inner(r);
    frame.render_widget(block, r);
    inner
}

/// The inside of the help popup on a screen of `area`.
fn help_inner(area: Rect) -> Rect {
    let r = centred(
        area,
        76.min(area.width.saturating_sub(2)),
        area.height.saturating_sub(2),
    );
    Block::bordered().inner(r)
}

/// The inside of the logs popup on a screen of `area`.
fn logs_inner(area: Rect) -> Rect {
    let r = centred(
        area,
        area.width.saturating_sub(4),
        area.height.saturating_sub(4),
    );
    Block::bordered().inner(r)
}

/// How many log lines one page of the logs popup shows (the model stops
/// scrolling once the oldest line tops a full page).
pub fn logs_page(area: Rect) -> usize {
    logs_inner(area).height.saturating_sub(1) as usize
}

/// How far the help text scrolls before its last line is at the bottom.
pub fn help_max_scroll(app: &App, area: Rect) -> u16 {
    (help_lines(app, &Theme::dark()).len() as u16).saturating_sub(help_inner(area).height)
}

pub(super) fn hints(app: &App, theme: &Theme, mode: Mode) -> Line<'static> {
    let mut spans = Vec::new();
    for (keys, hint) in app.footer_hints(mode) {
        spans.push(Span::styled(format!("  {keys}"), theme.strong(theme.key)));
        spans.push(Span::styled(format!(" {hint}"), theme.fg(theme.dim)));
    }
    Line::from(spans).centered()
}

fn confirm(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, c: &Confirm) {
    let w = 64.min(area.width.saturating_sub(4));
    let body_w = w.saturating_sub(4) as usize;
    // Wrapped here, at words, so the box is exactly as tall as its text.
    let wrapped = |text: &str| fit::wrap(text, body_w, usize::MAX);
    let mut lines = vec![Line::default()];
    for row in wrapped(&c.summary) {
        lines.push(Line::from(Span::styled(row, theme.strong(theme.text))));
    }
    if let Some(reason) = &c.action.reason {
        for row in wrapped(&format!("reason: {reason}")) {
            lines.push(Line::from(Span::styled(row, theme.fg(theme.text))));
        }
    }
    if let Some(warn) = &c.warning {
        lines.push(Line::default());
        for row in wrapped(&format!("⚠ {warn}")) {
            lines.push(Line::from(Span::styled(row, theme.fg(theme.warn))));
        }
    }
    lines.push(Line::default());
    // Borders, the text (ending in a blank line), the hints.
    let h = lines.len() as u16 + 3;
    let inner = frame_box(frame, area, theme, w, h, &c.title);
    let text_area = Rect {
        x: inner.x + 1,
        width: inner.width.saturating_sub(2),
        height: inner.height.saturating_sub(1),
        ..inner
    };
    frame.render_widget(Paragraph::new(lines), text_area);
    frame.render_widget(
        Paragraph::new(hints(app, theme, Mode::Confirm)),
        Rect {
            y: inner.bottom().saturating_sub(1),
            height: 1,
            ..inner
        },
    );
}

/// The help text, from the keymap of every mode the operator can be in.
fn help_lines(app: &App, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    for (mode, rows) in app.help_sections() {
        lines.push(Line::from(Span::styled(
            mode.title().to_string(),
            theme.strong(theme.title),
        )));
        for (keys, hint) in rows {
            lines.push(Line::from(vec![
                Span::styled(format!("  {keys:<14}"), theme.strong(theme.key)),
                Span::styled(hint.to_string(), theme.fg(theme.text)),
            ]));
        }
        lines.push(Line::default());
    }
    // The example names a key this view offers.
    let note = if app.read_only() {
        "keys can be rebound in ~/.config/cutover/config.toml: [keys] quit = \"x\""
    } else {
        "keys can be rebound in ~/.config/cutover/config.toml: [keys] promote = \"P\""
    };
    for row in fit::wrap(note, HELP_TEXT_WIDTH, usize::MAX) {
        lines.push(Line::from(Span::styled(row, theme.fg(theme.dim))));
    }
    lines
}

/// The help text's width inside its box (the box is at most 76 wide).
const HELP_TEXT_WIDTH: usize = 72;

fn help(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, scroll: u16) {
    let lines = help_lines(app, theme);
    let w = 76.min(area.width.saturating_sub(2));
    let h = area.height.saturating_sub(2);
    let inner = frame_box(frame, area, theme, w, h, "help — esc closes");
    debug_assert_eq!(inner, help_inner(area));
    let max_scroll = (lines.len() as u16).saturating_sub(inner.height);
    let scroll = scroll.min(max_scroll);
    let text = Rect {
        x: inner.x + 1,
        width: inner.width.saturating_sub(1),
        ..inner
    };
    frame.render_widget(Paragraph::new(lines).scroll((scroll, 0)), text);
    // Say when there is more than the box shows, and how to get to it.
    let more = match (scroll > 0, scroll < max_scroll) {
        (false, false) => None,
        (false, true) => Some(" ↓ more: ↓/j or the wheel "),
        (true, true) => Some(" ↑↓ more "),
        (true, false) => Some(" ↑ more above "),
    };
    if let Some(more) = more {
        let w = fit::width(more) as u16;
        let at = Rect {
            x: inner.right().saturating_sub(w + 1),
            y: inner.bottom(),
            width: w.min(inner.width),
            height: 1,
        };
        frame.render_widget(Paragraph::new(Span::styled(more, theme.fg(theme.warn))), at);
    }
}

fn drain_picker(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, selected: Role) {
    let inner = frame_box(frame, area, theme, 66, 9, "Drain which version?");
    let Some(s) = &app.state else {
        return;
    };
    let mut lines = vec![Line::default()];
    for role in Role::ALL {
        let v = s.version(role);
        let label = fit::image(
            &v.map_or("none running".into(), prompts::describe),
            (inner.width as usize).saturating_sub(36),
        );
        let meaning = match role {
            Role::Stable => "= promote the canary",
            Role::Canary => "= roll the canary back",
        };
        let mut line = Line::from(vec![
            Span::raw(if role == selected { " ▸ " } else { "   " }),
            Span::styled(
                format!("{:<7}", role.as_str()),
                theme.strong(theme.role(role)),
            ),
            Span::styled(format!("{label}  "), theme.fg(theme.text)),
            Span::styled(meaning, theme.fg(theme.dim)),
        ]);
        if role == selected {
            line = line.style(theme.selected());
        }
        lines.push(line);
    }
    lines.push(Line::default());
    lines.push(Line::from(Span::styled(
        " the next screen says exactly what will happen",
        theme.fg(theme.dim),
    )));
    frame.render_widget(Paragraph::new(lines), inner);
    frame.render_widget(
        Paragraph::new(hints(app, theme, Mode::DrainPicker)),
        Rect {
            y: inner.bottom().saturating_sub(1),
            height: 1,
            ..inner
        },
    );
}

fn logs(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, v: &LogsView) {
    let version = app.state.as_ref().and_then(|s| match v.role {
        Role::Stable => Some(s.stable.version.clone()),
        Role::Canary => s.canary.as_ref().map(|c| c.version.clone()),
    });
    let title = match &v.replica {
        Some(id) => format!("logs · {} {} · {id}", v.role, version.unwrap_or_default()),
        None => format!("logs · {} {}", v.role, version.unwrap_or_default()),
    };
    let w = area.width.saturating_sub(4);
    let h = area.height.saturating_sub(4);
    let inner = frame_box(frame, area, theme, w, h, &title);
    let body = Rect {
        height: inner.height.saturating_sub(1),
        ..inner
    };
    let lines: Vec<Line> = match &v.lines {
        None => vec![Line::from(Span::styled("loading…", theme.fg(theme.dim)))],
        Some(Err(e)) => vec![Line::from(Span::styled(
            format!("✗ {e}"),
            theme.fg(theme.bad),
        ))],
        Some(Ok(lines)) if lines.is_empty() => {
            vec![Line::from(Span::styled(
                "no log lines",
                theme.fg(theme.dim),
            ))]
        }
        Some(Ok(lines)) => {
            let h = body.height as usize;
            let scroll = v.scroll.min(lines.len().saturating_sub(h));
            let end = lines.len().saturating_sub(scroll);
            // Newest at the bottom; a long line wraps at words (at most
            // three rows) rather than losing its end.
            let mut rows: Vec<Line> = Vec::new();
            for l in lines[..end].iter().rev() {
                if rows.len() >= h {
                    break;
                }
                let wrapped = fit::wrap(l, body.width as usize, 3);
                for row in wrapped.into_iter().rev() {
                    rows.push(Line::from(Span::styled(row, theme.fg(theme.text))));
                }
            }
            rows.truncate(h);
            rows.reverse();
            rows
        }
    };
    frame.render_widget(Paragraph::new(lines), body);
    frame.render_widget(
        Paragraph::new(hints(app, theme, Mode::Logs)),
        Rect {
            y: inner.bottom().saturating_sub(1),
            height: 1,
            ..inner
        },
    );
}

fn reason(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    theme: &Theme,
    purpose: ReasonFor,
    input: &str,
    error: Option<&str>,
) {
    let (title, force) = match purpose {
        ReasonFor::Promote => (
            "Promote inside a freeze window",
            " to force it, say why (journaled with your action):",
        ),
        // Draining stable promotes the canary, so the freeze holds it too.
        ReasonFor::DrainStable => (
            "Drain stable inside a freeze window",
            " draining stable promotes the canary; to force it, say why:",
        ),
    };
    let inner = frame_box(frame, area, theme, 66, 10, title);
    let freeze = app
        .state
        .as_ref()
        .and_then(|s| s.freeze.clone())
        .unwrap_or_default();
    let w = inner.width.saturating_sub(6) as usize;
    let shown: String = {
        let n = input.chars().count();
        input.chars().skip(n.saturating_sub(w)).collect()
    };
    let mut lines = vec![
        Line::from(vec![
            Span::styled(" ❄ promotion is frozen: ", theme.strong(theme.warn)),
            Span::styled(freeze, theme.fg(theme.text)),
        ]),
        Line::from(Span::styled(force, theme.fg(theme.text))),
        Line::default(),
        Line::from(vec![
            Span::styled(" › ", theme.strong(theme.key)),
            Span::styled(format!("{shown}▏"), theme.strong(theme.text)),
        ]),
    ];
    if let Some(e) = error {
        lines.push(Line::from(Span::styled(
            format!(" ✗ {e}"),
            theme.fg(theme.bad),
        )));
    }
    frame.render_widget(Paragraph::new(lines), inner);
    frame.render_widget(
        Paragraph::new(hints(app, theme, Mode::Reason)),
        Rect {
            y: inner.bottom().saturating_sub(1),
            height: 1,
            ..inner
        },
    );
}
