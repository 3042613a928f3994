//! Live graphs over the last minutes: error rate per version with the
//! guard's limit drawn as a line, p99 per version (with its limit), and
//! request rate. Roomy screens get bordered charts with axes; compact ones
//! get three mini charts with the figures in a title line.
//!
//! The time axis spans the data there is, not always five minutes: from
//! the oldest sample kept (at most five minutes back), at least 60 s, and
//! rounded up to a span whose labels read well (60 s, 90 s, 2, 3, 4, 5 min),
//! so the first minutes of a release fill the chart instead of hugging its
//! right edge, and the scale changes a few times, not every second.
//!
//! ```text
//! ┌ error rate ─ ━ stable 0.10 % ━ canary 4.20 % ┄ limit 5 % ┐   roomy
//! │ 6 ┤┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄ │
//! │   │                                  ⣀⡠⠤⠒⠉              │
//! │ 0 ┼⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀ │
//! │   -5m                  -2.5m                      now   │
//! └──────────────────────────────────────────────────────────┘
//! error % ━ 0.10 ━ 4.20 ┄ 5           (compact: a title line, then the chart)
//! ```
//!
//! A legend that does not fit gives way in order — the word `limit`, the
//! limit (the dashed line still shows it), units, version names — and is
//! never cut from the left into the border's corner.

use super::fit::{self, Piece};
use super::fmt;
use super::plot;
use crate::model::{Guard, Role};
use crate::tui::app::App;
use crate::tui::history::{Metric, SECONDS};
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Chart, Paragraph};

pub fn render(frame: &mut Frame, areas: [Rect; 3], app: &App, theme: &Theme, roomy: bool) {
    for (area, metric) in areas
        .into_iter()
        .zip([Metric::ErrorPercent, Metric::P99Ms, Metric::Rps])
    {
        render_one(frame, area, app, theme, metric, roomy);
    }
}

fn title(metric: Metric) -> &'static str {
    match metric {
        Metric::ErrorPercent => "error rate",
        Metric::P99Ms => "p99 latency",
        Metric::Rps => "request rate",
    }
}

/// The guard limit drawn on a graph, in the graph's unit.
fn limit(app: &App, metric: Metric) -> Option<f64> {
    let name = match metric {
        Metric::ErrorPercent => Guard::MaxErrorRate,
        Metric::P99Ms => Guard::MaxP99,
        Metric::Rps => return None,
    };
    let g = app.state.as_ref()?.guards.iter().find(|g| g.name == name)?;
    Some(match metric {
        Metric::ErrorPercent => g.threshold * 100.0,
        _ => g.threshold,
    })
}

fn figure(metric: Metric, v: Option<f64>) -> String {
    match (metric, v) {
        (_, None) => "—".into(),
        (Metric::ErrorPercent, Some(v)) => crate::model::percent_text(v / 100.0),
        (Metric::P99Ms, v) => fmt::ms(v),
        (Metric::Rps, Some(v)) => fmt::rps(v),
    }
}

/// The figure without its unit word where the title already says it
/// (`37.5/s` under "request rate").
fn short_figure(metric: Metric, v: Option<f64>) -> String {
    let full = figure(metric, v);
    match metric {
        Metric::Rps => full.replace(" req/s", "/s"),
        _ => full,
    }
}

/// The legend, fitted to `width` columns: the limit's word goes first,
/// then the limit (the dashed line still shows it), then units, then the
/// version names (the markers still tell them apart) — never a figure.
fn legend(
    app: &App,
    theme: &Theme,
    metric: Metric,
    roomy: bool,
    width: usize,
) -> Vec<Span<'static>> {
    let mut pieces = Vec::new();
    let has_canary = app.state.as_ref().is_some_and(|s| s.canary.is_some());
    // Both versions shrink together, so the legend reads the same for each.
    let mut levels: [Vec<Span<'static>>; 3] = Default::default();
    for role in Role::ALL {
        if role == Role::Canary && !has_canary {
            continue;
        }
        let last = app.history.latest(role, metric);
        let sym = marker_symbol(marker(theme, role));
        let style = theme.fg(theme.role(role));
        let (full, short) = (figure(metric, last), short_figure(metric, last));
        let (a, b) = if roomy {
            (
                format!(" {sym} {role} {full}"),
                format!(" {sym} {role} {short}"),
            )
        } else {
            (format!(" {sym} {full}"), format!(" {sym} {full}"))
        };
        levels[0].push(Span::styled(a, style));
        levels[1].push(Span::styled(b, style));
        levels[2].push(Span::styled(format!(" {sym} {short}"), style));
    }
    let roles = pieces.len();
    pieces.push(Piece::shrinking(levels.into()));
    let limit_at = pieces.len();
    if let Some(l) = limit(app, metric) {
        let style = theme.fg(theme.threshold);
        let l = figure(metric, Some(l));
        pieces.push(Piece::shrinking(vec![
            vec![Span::styled(format!(" ┄ limit {l}"), style)],
            vec![Span::styled(format!(" ┄ {l}"), style)],
            vec![],
        ]));
    }
    pieces.push(Piece::fixed(vec![Span::raw(" ")]));
    fit::squeeze(pieces, &[limit_at, limit_at, roles, roles], width)
}

fn marker(theme: &Theme, role: Role) -> Marker {
    match role {
        Role::Stable => theme.stable_marker,
        Role::Canary => theme.canary_marker,
    }
}

fn marker_symbol(m: Marker) -> &'static str {
    match m {
        Marker::Dot => "•",
        Marker::Block => "█",
        Marker::Bar => "▄",
        _ => "━",
    }
}

fn render_one(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    theme: &Theme,
    metric: Metric,
    roomy: bool,
) {
    if area.height < 2 || area.width < 10 {
        return;
    }
    let series: Vec<(Role, Vec<(f64, f64)>)> = Role::ALL
        .into_iter()
        .map(|r| (r, app.history.series(r, metric)))
        .filter(|(_, s)| !s.is_empty())
        .collect();
    let lim = limit(app, metric);
    let top = series
        .iter()
        .flat_map(|(_, s)| s.iter().map(|p| p.1))
        .chain(lim)
        .fold(0.0f64, f64::max);
    let span = x_span(app.history.span_secs());
    let bounds = Bounds {
        x_min: -(span.min(SECONDS as u64 - 1) as f64),
        y_max: y_ceiling(metric, top),
        span,
    };
    let threshold = lim
        .map(|l| vec![(bounds.x_min, l), (0.0, l)])
        .unwrap_or_default();
    let mut lines: Vec<plot::Series> = Vec::new();
    if !threshold.is_empty() {
        lines.push(plot::Series {
            points: &threshold,
            marker: Marker::Braille,
            color: theme.threshold,
        });
    }
    for (role, points) in &series {
        lines.push(plot::Series {
            points,
            marker: marker(theme, *role),
            color: theme.role(*role),
        });
    }
    let (chart_area, block) = chart_frame(frame, area, app, theme, metric, roomy);
    draw_chart(
        frame,
        (chart_area, block),
        theme,
        metric,
        roomy,
        bounds,
        &lines,
    );
    if series.is_empty() && chart_area.height > 2 {
        let msg = Rect {
            x: chart_area.x + 2,
            y: chart_area.y + chart_area.height / 2,
            width: chart_area.width.saturating_sub(4),
            height: 1,
        };
        frame.render_widget(
            Paragraph::new(Span::styled("no samples yet", theme.fg(theme.dim))).centered(),
            msg,
        );
    }
}

/// The chart's axes: seconds back from now, and 0 to the top of the scale.
#[derive(Clone, Copy)]
struct Bounds {
    x_min: f64,
    y_max: f64,
    /// The time axis's span in seconds (its labels).
    span: u64,
}

/// The top of the scale for values up to `top`: some headroom, rounded,
/// and never below a floor per metric.
fn y_ceiling(metric: Metric, top: f64) -> f64 {
    nice_ceiling(top * 1.15).max(match metric {
        Metric::ErrorPercent => 1.0,
        Metric::P99Ms => 10.0,
        Metric::Rps => 1.0,
    })
}

fn y_label(metric: Metric, v: f64) -> String {
    match metric {
        Metric::ErrorPercent => format!("{v:.0}%"),
        Metric::P99Ms if v >= 1000.0 => format!("{:.1}s", v / 1000.0),
        Metric::P99Ms => format!("{v:.0}ms"),
        Metric::Rps => format!("{v:.0}"),
    }
}

/// The title and legend: a bordered block when roomy (legend on the bottom
/// border), else one line above the chart. Returns where the chart goes.
fn chart_frame(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    theme: &Theme,
    metric: Metric,
    roomy: bool,
) -> (Rect, Option<Block<'static>>) {
    if roomy {
        let block = Block::bordered()
            .border_style(theme.fg(theme.border))
            .title(Line::from(vec![Span::styled(
                format!(" {} ", title(metric)),
                theme.title_style(),
            )]))
            .title_bottom(
                // The corners and one `─` stay: a legend never starts at the corner.
                Line::from(legend(
                    app,
                    theme,
                    metric,
                    true,
                    (area.width as usize).saturating_sub(3),
                ))
                .right_aligned(),
            );
        (area, Some(block))
    } else {
        let mut head = vec![Span::styled(title(metric), theme.title_style())];
        let room = (area.width as usize).saturating_sub(fit::width(title(metric)));
        head.extend(legend(app, theme, metric, false, room));
        frame.render_widget(Paragraph::new(Line::from(head)), Rect { height: 1, ..area });
        (
            Rect {
                y: area.y + 1,
                height: area.height - 1,
                ..area
            },
            None,
        )
    }
}

/// The axes (labelled when roomy) and the series inside them, in the area
/// (and the block) [`chart_frame`] gave.
fn draw_chart(
    frame: &mut Frame,
    (chart_area, block): (Rect, Option<Block<'static>>),
    theme: &Theme,
    metric: Metric,
    roomy: bool,
    b: Bounds,
    lines: &[plot::Series],
) {
    let axis_style = theme.fg(theme.dim);
    let mut x_axis = Axis::default().bounds([b.x_min, 0.0]).style(axis_style);
    let mut y_axis = Axis::default().bounds([0.0, b.y_max]).style(axis_style);
    let x_labels = [
        format!("-{}", ago(b.span)),
        format!("-{}", ago(b.span / 2)),
        "now".to_string(),
    ];
    let y_labels = [y_label(metric, 0.0), y_label(metric, b.y_max)];
    if roomy {
        x_axis = x_axis.labels(x_labels.iter().map(|l| Span::raw(l.as_str())));
        y_axis = y_axis.labels(y_labels.iter().map(|l| Span::raw(l.as_str())));
    }
    let inner = block.as_ref().map_or(chart_area, |b| b.inner(chart_area));
    let mut chart = Chart::new(Vec::new())
        .x_axis(x_axis)
        .y_axis(y_axis)
        .legend_position(None);
    if let Some(b) = block {
        chart = chart.block(b);
    }
    frame.render_widget(chart, chart_area);
    // The series the 0.29 way (see `plot`), where the chart leaves room.
    let widest = |labels: &[String]| labels.iter().map(|l| fit::width(l) as u16).max();
    let graph = plot::graph_area(
        inner,
        roomy.then(|| fit::width(&x_labels[0]) as u16),
        roomy.then(|| widest(&y_labels)).flatten(),
    );
    plot::draw(frame, graph, [b.x_min, 0.0], [0.0, b.y_max], lines);
}

/// The spans the time axis steps through, in seconds.
const SPANS: [u64; 6] = [60, 90, 120, 180, 240, 300];

/// The time axis's span for `data` seconds of history: the first of
/// [`SPANS`] that holds it (five minutes at most: the history keeps no more).
fn x_span(data: u64) -> u64 {
    SPANS
        .into_iter()
        .find(|s| *s >= data)
        .unwrap_or(SPANS[SPANS.len() - 1])
}

/// An axis label for `secs` ago: `30s`, `90s`, `2m`, `2.5m`.
fn ago(secs: u64) -> String {
    if secs < 120 {
        format!("{secs}s")
    } else if secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        format!("{}m", secs as f64 / 60.0)
    }
}

/// 1, 2, 5 × 10^k at or above `v`: axis tops that read well.
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 0.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if v <= m * mag {
            return m * mag;
        }
    }
    10.0 * mag
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_time_axis_spans_the_data_in_steps_that_read_well() {
        use super::{ago, x_span};
        let labels = |data| {
            let span = x_span(data);
            (span, ago(span), ago(span / 2))
        };
        assert_eq!(labels(0), (60, "60s".into(), "30s".into()));
        assert_eq!(labels(59), (60, "60s".into(), "30s".into()));
        assert_eq!(labels(61), (90, "90s".into(), "45s".into()));
        assert_eq!(labels(100), (120, "2m".into(), "60s".into()));
        assert_eq!(labels(150), (180, "3m".into(), "90s".into()));
        assert_eq!(labels(200), (240, "4m".into(), "2m".into()));
        assert_eq!(labels(299), (300, "5m".into(), "2.5m".into()));
        assert_eq!(labels(10_000), (300, "5m".into(), "2.5m".into()));
    }

    #[test]
    fn nice_ceilings() {
        assert_eq!(super::nice_ceiling(3.2), 5.0);
        assert_eq!(super::nice_ceiling(0.07), 0.1);
        assert_eq!(super::nice_ceiling(120.0), 200.0);
    }
}
