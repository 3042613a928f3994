//! The fleet view on screen: a header with the counts that matter, one row
//! per service, and the keys. Narrow screens keep the columns an operator
//! decides on (service, phase, weight, versions, the canary's errors,
//! guards); wide ones add p99s, stable's errors and the last word.
//!
//! ```text
//!  cutover fleet  3 services · 1 breached · 1 releasing                       12:00:00 UTC
//! ┌ services ────────────────────────────────────────────────────────────────────────────┐
//! │  SERVICE        PHASE        WEIGHT  VERSIONS           CANARY ERRORS        GUARDS  │
//! │▸ shop           ✗ canary       25 %  1.4.2 → 1.5.0      ▁▂▅█▇ 4.2 %          ✓2 ✗1   │
//! │  api            ● canary       10 %  2.0 → 2.1          ▁▁▁▁▁ 0 %            ✓4      │
//! │  admin            idle          0 %  3.1                                     —       │
//! └──────────────────────────────────────────────────────────────────────────────────────┘
//!  ↑/↓ choose  ⏎ open  / filter  q quit
//! ```

use super::model::{Fleet, Row};
use crate::model::{GuardStatus, Role};
use crate::tui::components::{fit, fmt, spark};
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

/// Draw `fleet` over the whole frame. Updates the scroll offset so the
/// selection is in view (hence `&mut`).
pub fn draw(frame: &mut Frame, fleet: &mut Fleet, theme: &Theme) {
    let area = frame.area();
    let train_h = u16::from(fleet.train.is_some());
    let [head, train, body, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(train_h),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    if let Some(t) = &fleet.train {
        let line = super::train_line::line(t, theme, train.width as usize);
        frame.render_widget(Paragraph::new(line), train);
    }
    let rows_room = body.height.saturating_sub(3) as usize;
    fleet.scroll_into_view(rows_room);
    frame.render_widget(
        Paragraph::new(header(fleet, theme, head.width as usize)),
        head,
    );
    let block = Block::bordered()
        .border_style(theme.fg(theme.border))
        .title(Span::styled(" services ", theme.strong(theme.text)));
    let inner = block.inner(body);
    frame.render_widget(block, body);
    let w = Widths::for_width(inner.width as usize);
    let mut lines = vec![columns_line(theme, w)];
    let visible = fleet.visible();
    if visible.is_empty() {
        let why = if fleet.filter.is_empty() {
            "no services yet".to_string()
        } else {
            format!("no service matches {:?}", fleet.filter)
        };
        lines.push(Line::from(Span::styled(why, theme.fg(theme.dim))));
    }
    for (i, row) in visible
        .iter()
        .enumerate()
        .skip(fleet.offset)
        .take(rows_room)
    {
        lines.push(row_line(
            row,
            i == fleet.selected,
            theme,
            w,
            inner.width as usize,
        ));
    }
    frame.render_widget(Paragraph::new(lines), inner);
    frame.render_widget(Paragraph::new(footer(fleet, theme)), foot);
}

fn header(fleet: &Fleet, theme: &Theme, width: usize) -> Line<'static> {
    let rows = fleet.visible();
    let breached = rows.iter().filter(|r| r.breached()).count();
    let releasing = rows.iter().filter(|r| r.releasing()).count();
    let clock = rows
        .iter()
        .map(|r| r.state.at)
        .max()
        .map(|t| t.format("%H:%M:%S UTC").to_string())
        .unwrap_or_default();
    let mut spans = vec![
        Span::styled(" cutover fleet ", theme.strong(theme.title)),
        Span::styled(format!(" {} services", fleet.len()), theme.fg(theme.text)),
    ];
    if breached > 0 {
        spans.push(Span::styled(
            format!(" · {breached} breached"),
            theme.strong(theme.bad),
        ));
    }
    if releasing > 0 {
        spans.push(Span::styled(
            format!(" · {releasing} releasing"),
            theme.fg(theme.warn),
        ));
    }
    if let Some(e) = &fleet.error {
        spans.push(Span::styled(
            format!(" · ✗ {}", fit::words(e, 40)),
            theme.strong(theme.bad),
        ));
    }
    let used = fit::spans_width(&spans);
    let pad = width.saturating_sub(used + clock.chars().count() + 1);
    spans.push(Span::raw(" ".repeat(pad)));
    spans.push(Span::styled(clock, theme.fg(theme.dim)));
    Line::from(spans)
}

/// Column widths: 80 columns hold the narrow set, 120 and more the wide.
#[derive(Clone, Copy)]
struct Widths {
    wide: bool,
    name: usize,
    /// The mark (✗ ●) and the phase word (`rolling_back` is 12).
    phase: usize,
    weight: usize,
    versions: usize,
    /// Sparkline cells; a series is these plus its figure.
    spark: usize,
    series: usize,
}

impl Widths {
    fn for_width(width: usize) -> Widths {
        if width >= 118 {
            Widths {
                wide: true,
                name: 16,
                phase: 15,
                weight: 6,
                versions: 20,
                spark: 10,
                series: 19,
            }
        } else {
            Widths {
                wide: false,
                name: 13,
                phase: 15,
                weight: 6,
                versions: 15,
                spark: 8,
                series: 17,
            }
        }
    }
}

const GUARDS: usize = 9;

fn columns_line(theme: &Theme, w: Widths) -> Line<'static> {
    let mut text = format!(
        "  {:<name$}{:<phase$}{:>weight$}  {:<versions$}{:<series$}",
        "SERVICE",
        "  PHASE",
        "WEIGHT",
        "VERSIONS",
        "CANARY ERRORS",
        name = w.name,
        phase = w.phase,
        weight = w.weight,
        versions = w.versions,
        series = w.series
    );
    if w.wide {
        text.push_str(&format!(
            "{:<series$}{:<series$}{:<series$}",
            "STABLE ERRORS",
            "CANARY P99",
            "STABLE P99",
            series = w.series
        ));
    }
    text.push_str("GUARDS   ");
    if w.wide {
        text.push_str("LAST");
    }
    Line::from(Span::styled(text, theme.strong(theme.dim)))
}

fn row_line(row: &Row, selected: bool, theme: &Theme, w: Widths, width: usize) -> Line<'static> {
    let s = &row.state;
    let base = if selected {
        theme
            .strong(theme.text)
            .patch(Style::default().bg(theme.selection_bg))
    } else {
        theme.fg(theme.text)
    };
    let (mark, mark_style) = if row.breached() {
        ("✗ ", theme.strong(theme.bad))
    } else if row.releasing() {
        ("● ", theme.fg(theme.warn))
    } else {
        ("  ", theme.fg(theme.dim))
    };
    let versions = match &s.canary {
        Some(c) => format!("{} → {}", s.stable.version, c.version),
        None => s.stable.version.clone(),
    };
    let weight = if s.canary.is_some() {
        crate::tui::prompts::pct(s.weight_permille)
    } else {
        String::new()
    };
    let mut spans = vec![
        Span::styled(if selected { "▸ " } else { "  " }, base),
        Span::styled(
            format!("{:<n$}", fit::chars(&s.service, w.name - 1), n = w.name),
            base,
        ),
        Span::styled(mark, mark_style),
        Span::styled(
            format!("{:<p$}", s.phase.to_string(), p = w.phase - 2),
            theme.fg(theme.text),
        ),
        Span::styled(
            format!("{weight:>n$}  ", n = w.weight),
            theme.fg(theme.text),
        ),
        Span::styled(
            format!(
                "{:<n$}",
                fit::chars(&versions, w.versions - 1),
                n = w.versions
            ),
            theme.fg(theme.text),
        ),
    ];
    spans.extend(errors(row, Role::Canary, theme, w));
    if w.wide {
        spans.extend(errors(row, Role::Stable, theme, w));
        spans.extend(p99(row, Role::Canary, theme, w));
        spans.extend(p99(row, Role::Stable, theme, w));
    }
    spans.extend(guards(row, theme));
    if w.wide {
        let used = fit::spans_width(&spans);
        let last = last_word(row);
        spans.push(Span::styled(
            fit::words(&last, width.saturating_sub(used)),
            theme.fg(theme.dim),
        ));
    }
    Line::from(spans)
}

/// A role's sparkline and latest figure, padded to the column.
fn series(
    points: Vec<Option<f64>>,
    top: f64,
    latest: String,
    style: Style,
    theme: &Theme,
    w: Widths,
) -> Vec<Span<'static>> {
    let line = spark::spark(&points, top);
    let figure = format!(" {latest}");
    let pad = w.series.saturating_sub(w.spark + figure.chars().count());
    vec![
        Span::styled(format!("{line:>n$}", n = w.spark), style),
        Span::styled(figure, theme.fg(theme.text)),
        Span::raw(" ".repeat(pad)),
    ]
}

fn recent(
    row: &Row,
    role: Role,
    cells: usize,
    f: fn(&super::model::Sample) -> Option<f64>,
) -> Vec<Option<f64>> {
    let h = &row.history[role.index()];
    h.iter()
        .skip(h.len().saturating_sub(cells))
        .map(f)
        .collect()
}

fn errors(row: &Row, role: Role, theme: &Theme, w: Widths) -> Vec<Span<'static>> {
    let Some(v) = row.state.version(role) else {
        return vec![Span::raw(" ".repeat(w.series))];
    };
    let points = recent(row, role, w.spark, |s| s.error_rate);
    // A full bar is 5 % errors, or the worst point if worse.
    let top = points.iter().flatten().copied().fold(0.05, f64::max);
    let style = if v.stats.error_rate.unwrap_or(0.0) > 0.0 {
        theme.fg(theme.warn)
    } else {
        theme.fg(theme.role(role))
    };
    series(points, top, fmt::rate(v.stats.error_rate), style, theme, w)
}

fn p99(row: &Row, role: Role, theme: &Theme, w: Widths) -> Vec<Span<'static>> {
    let Some(v) = row.state.version(role) else {
        return vec![Span::raw(" ".repeat(w.series))];
    };
    let points = recent(row, role, w.spark, |s| s.p99_ms);
    let top = points.iter().flatten().copied().fold(1.0, f64::max);
    let style = theme.fg(theme.role(role));
    series(points, top, fmt::ms(v.stats.p99_ms), style, theme, w)
}

fn guards(row: &Row, theme: &Theme) -> Vec<Span<'static>> {
    let count = |st: GuardStatus| row.state.guards.iter().filter(|g| g.status == st).count();
    let (pass, breach) = (count(GuardStatus::Pass), count(GuardStatus::Breach));
    let mut spans = Vec::new();
    let mut used = 0;
    if row.state.guards.is_empty() {
        spans.push(Span::styled("—", theme.fg(theme.dim)));
        used += 1;
    }
    if pass > 0 {
        let t = format!("✓{pass} ");
        used += t.chars().count();
        spans.push(Span::styled(t, theme.fg(theme.ok)));
    }
    if breach > 0 {
        let t = format!("✗{breach} ");
        used += t.chars().count();
        spans.push(Span::styled(t, theme.strong(theme.bad)));
    }
    spans.push(Span::raw(" ".repeat(GUARDS.saturating_sub(used))));
    spans
}

/// The last thing worth knowing: the breach on record, else how the last
/// release ended.
fn last_word(row: &Row) -> String {
    let s = &row.state;
    if let Some(b) = &s.last_breach {
        return format!("✗ {}: {}", b.guard.label(), b.detail);
    }
    match s.last_outcome {
        Some(o) => format!("last release {}", o.as_str()),
        None => String::new(),
    }
}

fn footer(fleet: &Fleet, theme: &Theme) -> Line<'static> {
    if fleet.filtering {
        return Line::from(vec![
            Span::styled(" / ", theme.strong(theme.key)),
            Span::styled(format!("{}▏", fleet.filter), theme.fg(theme.text)),
            Span::styled("  ⏎ keep  esc clear", theme.fg(theme.dim)),
        ]);
    }
    let mut spans = Vec::new();
    for (k, what) in [
        ("↑/↓", "choose"),
        ("⏎", "open"),
        ("/", "filter"),
        ("q", "quit"),
    ] {
        spans.push(Span::styled(format!(" {k}"), theme.strong(theme.key)));
        spans.push(Span::styled(format!(" {what} "), theme.fg(theme.dim)));
    }
    if !fleet.filter.is_empty() {
        spans.push(Span::styled(
            format!(" filter {:?} (esc clears)", fleet.filter),
            theme.fg(theme.warn),
        ));
    }
    Line::from(spans)
}

/// The fleet view as text, for snapshot tests.
pub fn render_text(fleet: &mut Fleet, theme: &Theme, width: u16, height: u16) -> String {
    let backend = ratatui::backend::TestBackend::new(width, height);
    let mut terminal = ratatui::Terminal::new(backend).expect("a test terminal");
    terminal
        .draw(|f| draw(f, fleet, theme))
        .expect("the fleet view draws");
    let buf = terminal.backend().buffer().clone();
    let area: Rect = buf.area;
    (0..area.height)
        .map(|y| {
            (0..area.width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}
