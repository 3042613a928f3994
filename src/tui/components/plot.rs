//! The data of the graphs, drawn the way the cockpit has always drawn them.
//! ratatui 0.30's `Chart` rounds a value to the nearest dot, clips a line
//! at the chart's edge and shares one canvas among the series; 0.29's, which
//! the cockpit's look, its snapshots and the shipped recordings were made
//! with, put a value on the dot it falls in, left out a segment with an end
//! off the chart, laid each series over the last on a canvas of its own, and
//! coloured a `Block` dot's foreground only.
//! So `Chart` draws the frame, axes and labels, and this draws the series the
//! 0.29 way on the area it leaves for them ([`graph_area`]).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Color;
use ratatui::symbols::Marker;
use ratatui::widgets::canvas::{Canvas, Painter, Shape};

/// One series: its points, each joined to the next by a straight line.
pub struct Series<'a> {
    pub points: &'a [(f64, f64)],
    pub marker: Marker,
    pub color: Color,
}

/// Draw `series` in order over `area`, which spans `x` and `y`.
pub fn draw(frame: &mut Frame, area: Rect, x: [f64; 2], y: [f64; 2], series: &[Series<'_>]) {
    for s in series {
        // 0.30 gives a `Block` dot its colour as background too; 0.29 drew
        // the full block in the foreground only, as a custom dot does.
        let marker = match s.marker {
            Marker::Block => Marker::Custom('█'),
            m => m,
        };
        let canvas = Canvas::default()
            .background_color(Color::Reset)
            .x_bounds(x)
            .y_bounds(y)
            .marker(marker)
            .paint(|ctx| ctx.draw(s));
        frame.render_widget(canvas, area);
    }
}

/// The area a `Chart` in `area` (inside its block) leaves for the data: the
/// x axis's labels, the first `first_x_label` columns wide, take the bottom
/// two rows; the y axis's, at most `y_label` wide, the left columns (at most
/// a third of the width) and one for the axis. As `Chart::layout` has it.
pub fn graph_area(area: Rect, first_x_label: Option<u16>, y_label: Option<u16>) -> Rect {
    if area.is_empty() {
        return area;
    }
    let mut x = area.left();
    let mut y = area.bottom() - 1;
    if first_x_label.is_some() && y > area.top() {
        y -= 1;
    }
    let under_x = first_x_label.map_or(0, |w| w.saturating_sub(u16::from(y_label.is_some())));
    x += y_label.unwrap_or(0).max(under_x).min(area.width / 3);
    if first_x_label.is_some() && y > area.top() {
        y -= 1;
    }
    if y_label.is_some() && x + 1 < area.right() {
        x += 1;
    }
    let height = y.saturating_sub(area.top()).saturating_add(1);
    Rect::new(x, area.top(), area.right().saturating_sub(x), height)
}

impl Shape for Series<'_> {
    fn draw(&self, painter: &mut Painter) {
        let (&[left, right], &[bottom, top]) = painter.bounds();
        // The last dot on each axis: the far corner maps to it exactly.
        let Some((last_x, last_y)) = painter.get_point(right, bottom) else {
            return;
        };
        let dot = |&(x, y): &(f64, f64)| {
            let outside = x < left || x > right || y < bottom || y > top;
            (!outside).then(|| {
                (
                    ((x - left) * last_x as f64 / (right - left)) as usize,
                    ((top - y) * last_y as f64 / (top - bottom)) as usize,
                )
            })
        };
        let dots: Vec<Option<(usize, usize)>> = self.points.iter().map(dot).collect();
        for &(x, y) in dots.iter().flatten() {
            painter.paint(x, y, self.color);
        }
        for pair in dots.windows(2) {
            if let [Some(a), Some(b)] = *pair {
                line(painter, a, b, self.color);
            }
        }
    }
}

/// Bresenham's line from `a` to `b`, stepped as ratatui 0.29 stepped it.
fn line(painter: &mut Painter, a: (usize, usize), b: (usize, usize), color: Color) {
    let ((x1, y1), (x2, y2)) = (a, b);
    if x1.abs_diff(x2) == 0 || y1.abs_diff(y2) == 0 {
        for x in x1.min(x2)..=x1.max(x2) {
            for y in y1.min(y2)..=y1.max(y2) {
                painter.paint(x, y, color);
            }
        }
    } else if y1.abs_diff(y2) < x1.abs_diff(x2) {
        let ((x1, y1), (x2, y2)) = if x1 > x2 { (b, a) } else { (a, b) };
        step(x1, y1, x2, y2, |x, y| painter.paint(x, y, color));
    } else {
        let ((x1, y1), (x2, y2)) = if y1 > y2 { (b, a) } else { (a, b) };
        step(y1, x1, y2, x2, |y, x| painter.paint(x, y, color));
    }
}

/// One step along the major axis (`m1 <= m2`) at a time, the minor one
/// following when the error term says so.
fn step(m1: usize, n1: usize, m2: usize, n2: usize, mut plot: impl FnMut(usize, usize)) {
    let dm = (m2 - m1) as isize;
    let dn = n1.abs_diff(n2) as isize;
    let mut d = 2 * dn - dm;
    let mut n = n1;
    for m in m1..=m2 {
        plot(m, n);
        if d > 0 {
            n = if n1 > n2 {
                n.saturating_sub(1)
            } else {
                n.saturating_add(1)
            };
            d -= 2 * dm;
        }
        d += 2 * dn;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::buffer::Buffer;
    use ratatui::widgets::{Axis, Chart, Widget};

    /// `graph_area` is where `Chart` puts its axes: the y axis just left of
    /// it, the x axis just below it.
    #[test]
    fn the_graph_area_is_inside_the_charts_axes() {
        for (x_label, y_label) in [("-5m", "100ms"), ("-90s", "0%"), ("-10m", "1.5s")] {
            let area = Rect::new(3, 2, 40, 10);
            let mut buf = Buffer::empty(Rect::new(0, 0, 50, 15));
            Chart::new(Vec::new())
                .x_axis(Axis::default().labels([x_label, "now"]))
                .y_axis(Axis::default().labels(["0", y_label]))
                .render(area, &mut buf);
            let g = graph_area(area, Some(x_label.len() as u16), Some(y_label.len() as u16));
            assert_eq!(buf[(g.x - 1, g.y)].symbol(), "│", "{g:?}");
            assert_eq!(buf[(g.x, g.bottom())].symbol(), "─", "{g:?}");
            assert_eq!(buf[(g.x - 1, g.bottom())].symbol(), "└", "{g:?}");
            assert_eq!((g.right(), g.y), (area.right(), area.y));
        }
        let bare = Rect::new(0, 0, 20, 5);
        assert_eq!(graph_area(bare, None, None), bare);
    }
}
