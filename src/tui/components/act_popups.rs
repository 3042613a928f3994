//! The popups of the keys that act beyond the weight: the new canary's
//! image prompt with its completions, the scale and resize prompts, and
//! the confirmation that asks for the service name (with why it does).
//!
//! ```text
//!        ┌ New canary: which image? ──────────────────────────────┐
//!        │ stable runs shop:1.4.2                                 │
//!        │                                                        │
//!        │ › shop:1.6.0▏                                          │
//!        │                                                        │
//!        │ ▸ shop:1.6.0                                   local   │
//!        │   shop:1.5.0                                   recent  │
//!        │                                                        │
//!        │        tab complete  ⏎ confirm…  esc cancel            │
//!        └────────────────────────────────────────────────────────┘
//! ```

use super::fit;
use super::popups::{frame_box, hints};
use crate::tui::app::{App, DeployPrompt, ResizeField, ResizePrompt, ScalePrompt, TypedConfirm};
use crate::tui::keymap::Mode;
use crate::tui::prompts;
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// The boxes' width: the y/N confirmation's, so a typed one is the same
/// box with more in it.
const WIDTH: u16 = 64;

/// How many completions the image prompt lists at most.
const LISTED: usize = 8;

/// Draw `lines` in a titled box as tall as they are, the mode's key
/// hints on its last row.
fn boxed(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    theme: &Theme,
    (title, mode): (&str, Mode),
    lines: Vec<Line<'static>>,
) {
    let w = WIDTH.min(area.width.saturating_sub(4));
    // Borders, the text, a blank line, the hints.
    let h = lines.len() as u16 + 4;
    let inner = frame_box(frame, area, theme, w, h, title);
    let text = Rect {
        x: inner.x + 1,
        width: inner.width.saturating_sub(2),
        height: inner.height.saturating_sub(1),
        ..inner
    };
    frame.render_widget(Paragraph::new(lines), text);
    frame.render_widget(
        Paragraph::new(hints(app, theme, mode)),
        Rect {
            y: inner.bottom().saturating_sub(1),
            height: 1,
            ..inner
        },
    );
}

/// The text inside a popup box of the usual width on `area`.
fn body_width(area: Rect) -> usize {
    WIDTH.min(area.width.saturating_sub(4)).saturating_sub(4) as usize
}

/// `› text▏`: an input line, its end kept in view.
fn input_line(label: &str, text: &str, width: usize, active: bool, theme: &Theme) -> Line<'static> {
    let room = width.saturating_sub(fit::width(label) + 4);
    let n = text.chars().count();
    let shown: String = text.chars().skip(n.saturating_sub(room)).collect();
    let cursor = if active { "▏" } else { "" };
    Line::from(vec![
        Span::styled(label.to_string(), theme.fg(theme.text)),
        Span::styled("› ", theme.strong(theme.key)),
        Span::styled(format!("{shown}{cursor}"), theme.strong(theme.text)),
    ])
}

fn error_line(error: Option<&str>, width: usize, theme: &Theme) -> Vec<Line<'static>> {
    error.map_or_else(Vec::new, |e| {
        fit::wrap(&format!("✗ {e}"), width, 3)
            .into_iter()
            .map(|row| Line::from(Span::styled(row, theme.fg(theme.bad))))
            .collect()
    })
}

pub fn deploy(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, p: &DeployPrompt) {
    let width = body_width(area);
    let stable = app
        .state
        .as_ref()
        .map_or(String::new(), |s| prompts::describe(&s.stable));
    let mut lines = vec![
        Line::from(Span::styled(
            fit::chars(&format!("stable runs {stable}"), width),
            theme.fg(theme.dim),
        )),
        Line::default(),
        input_line("", &p.input(), width, true, theme),
    ];
    lines.extend(error_line(p.error.as_deref(), width, theme));
    lines.push(Line::default());
    let matches = p.matches();
    let local: &[String] = p
        .local
        .as_ref()
        .and_then(|r| r.as_ref().ok())
        .map_or(&[], |c| c.images.as_slice());
    // The chosen one stays in view when the list is longer than the box.
    let first = p.choice.map_or(0, |i| (i + 1).saturating_sub(LISTED));
    for (i, m) in matches.iter().enumerate().skip(first).take(LISTED) {
        let from = if local.contains(m) { "local" } else { "recent" };
        let name = fit::image(m, width.saturating_sub(12));
        let mut line = Line::from(vec![
            Span::raw(if p.choice == Some(i) { "▸ " } else { "  " }),
            Span::styled(
                format!("{name:<w$}", w = width.saturating_sub(12)),
                theme.fg(theme.text),
            ),
            Span::styled(format!("  {from}"), theme.fg(theme.dim)),
        ]);
        if p.choice == Some(i) {
            line = line.style(theme.selected());
        }
        lines.push(line);
    }
    let more = matches.len().saturating_sub(first + LISTED);
    let status = match (&p.local, matches.len()) {
        (None, _) => Some("asking the daemon for local images…".to_string()),
        (Some(Err(e)), _) => Some(format!("local images: ✗ {e}")),
        (Some(Ok(_)), 0) if p.typed.is_empty() => {
            Some("no local image or recent deploy to offer: type one".into())
        }
        (Some(Ok(_)), 0) => Some(format!("nothing matches `{}`", p.typed)),
        _ if more > 0 => Some(format!("… {more} more: type to narrow")),
        _ => None,
    };
    if let Some(status) = status {
        for row in fit::wrap(&status, width, 2) {
            lines.push(Line::from(Span::styled(row, theme.fg(theme.dim))));
        }
    }
    boxed(
        frame,
        area,
        app,
        theme,
        ("New canary: which image?", Mode::DeployPrompt),
        lines,
    );
}

pub fn scale(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, p: &ScalePrompt) {
    let width = body_width(area);
    let now = app
        .state
        .as_ref()
        .and_then(|s| s.version(p.role))
        .map_or(String::new(), |v| {
            let n = v.replicas.len();
            format!(
                "{} {} runs {n} replica{}",
                p.role,
                prompts::version_name(v),
                if n == 1 { "" } else { "s" }
            )
        });
    let mut lines = vec![
        Line::from(Span::styled(fit::chars(&now, width), theme.fg(theme.text))),
        Line::default(),
        input_line("replicas ", &p.input, width, true, theme),
    ];
    lines.extend(error_line(p.error.as_deref(), width, theme));
    let title = format!("Scale {}: how many replicas?", p.role);
    boxed(frame, area, app, theme, (&title, Mode::ScalePrompt), lines);
}

pub fn resize(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, p: &ResizePrompt) {
    let width = body_width(area);
    let v = app.state.as_ref().and_then(|s| s.version(p.role));
    let cpus = v
        .and_then(|v| v.cpus)
        .map_or("unlimited".into(), |c| format!("{c}"));
    let memory = v
        .and_then(|v| v.memory)
        .map_or("unlimited".into(), super::fmt::bytes);
    let now = format!("{} now: cpus {cpus}, memory {memory}", p.role);
    let mut lines = vec![
        Line::from(Span::styled(fit::chars(&now, width), theme.fg(theme.text))),
        Line::from(Span::styled(
            fit::chars(
                "empty keeps a limit; memory like the plan: 512MiB, 1GiB",
                width,
            ),
            theme.fg(theme.dim),
        )),
        Line::default(),
    ];
    for (field, label, text) in [
        (ResizeField::Cpus, "cpus    ", &p.cpus),
        (ResizeField::Memory, "memory  ", &p.memory),
    ] {
        let active = p.field == field;
        let mut line = input_line(label, text, width.saturating_sub(2), active, theme);
        line.spans
            .insert(0, Span::raw(if active { "▸ " } else { "  " }));
        lines.push(line);
    }
    lines.extend(error_line(p.error.as_deref(), width, theme));
    let title = format!("Resize {}", p.role);
    boxed(frame, area, app, theme, (&title, Mode::ResizePrompt), lines);
}

pub fn typed_confirm(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, p: &TypedConfirm) {
    let width = body_width(area);
    let wrapped = |text: &str| fit::wrap(text, width, usize::MAX);
    let mut lines = vec![Line::default()];
    for row in wrapped(&p.confirm.summary) {
        lines.push(Line::from(Span::styled(row, theme.strong(theme.text))));
    }
    if let Some(reason) = &p.confirm.action.reason {
        for row in wrapped(&format!("reason: {reason}")) {
            lines.push(Line::from(Span::styled(row, theme.fg(theme.text))));
        }
    }
    if let Some(warn) = &p.confirm.warning {
        lines.push(Line::default());
        for row in wrapped(&format!("⚠ {warn}")) {
            lines.push(Line::from(Span::styled(row, theme.fg(theme.warn))));
        }
    }
    lines.push(Line::default());
    for why in &p.risk.reasons {
        for row in wrapped(&format!("✗ {why}")) {
            lines.push(Line::from(Span::styled(row, theme.strong(theme.warn))));
        }
    }
    lines.push(Line::default());
    let label = format!("type {} to go ahead ", p.risk.expect);
    lines.push(input_line(&label, &p.input, width, true, theme));
    lines.extend(error_line(p.error.as_deref(), width, theme));
    let title = format!("{} — type the service name", p.confirm.title);
    boxed(frame, area, app, theme, (&title, Mode::TypedConfirm), lines);
}
