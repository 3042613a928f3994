//! The two versions side by side: image, replicas healthy/total, CPU and
//! memory, req/s, error rate, p50/p99; in the roomy layout one line per
//! replica too. The version selected with Tab has the focus border.
//!
//! ```text
//! ┌ STABLE 1.4.2 ─────────────── 75 % ┐┌ CANARY 1.5.0 ─────────────── 25 % ┐
//! │ shop:1.4.2           ●● 2/2 healthy││ shop:1.5.0            ● 1/1 healthy│
//! │ 42.0 req/s  errors 0.10 % (3/3000) ││ 14.0 req/s  errors 4.20 % (42/1k)  │
//! │ p50 12 ms  p99 48 ms  in flight 3  ││ p50 14 ms  p99 61 ms  in flight 1  │
//! │ cpu 12 %  mem 48 MiB / 512 MiB     ││ cpu 7 %  mem 20 MiB / 256 MiB      │
//! └────────────────────────────────────┘└────────────────────────────────────┘
//! ```

use super::fmt;
use crate::model::{ReplicaStatus, Role, StateView, VersionView};
use crate::tui::app::{App, replica_bad};
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, role: Role) {
    let Some(s) = &app.state else {
        frame.render_widget(Block::bordered().border_style(theme.fg(theme.border)), area);
        return;
    };
    let focused = app.selection.role == role && app.popup.is_none();
    let border = if focused {
        theme.border_focus
    } else {
        theme.border
    };
    let version = match role {
        Role::Stable => Some(&s.stable),
        Role::Canary => s.canary.as_ref(),
    };
    let share = match role {
        Role::Stable => 1000 - s.weight_permille.min(1000),
        Role::Canary => s.weight_permille,
    };
    let mut title = vec![Span::styled(
        format!(" {} ", role.as_str().to_uppercase()),
        theme.strong(theme.role(role)),
    )];
    if let Some(v) = version {
        title.push(Span::styled(
            format!("{} ", v.version),
            theme.fg(theme.text),
        ));
    }
    let mut block = Block::bordered()
        .border_style(theme.fg(border))
        .title(Line::from(title));
    if version.is_some() {
        block = block.title(
            Line::from(Span::styled(
                format!(" {} ", crate::tui::prompts::pct(share)),
                theme.strong(theme.role(role)),
            ))
            .right_aligned(),
        );
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(v) = version else {
        let lines = vec![
            Line::from(Span::styled("no canary running", theme.fg(theme.dim))),
            Line::from(Span::styled(
                "cutover deploy --canary IMAGE starts one",
                theme.fg(theme.dim),
            )),
        ];
        frame.render_widget(Paragraph::new(lines), inner);
        return;
    };
    let mut lines = summary(s, v, theme, inner.width as usize);
    let room = (inner.height as usize).saturating_sub(lines.len());
    if room > 0 {
        lines.extend(replica_lines(app, v, theme, room, inner.width as usize));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

fn summary(s: &StateView, v: &VersionView, theme: &Theme, width: usize) -> Vec<Line<'static>> {
    let st = &v.stats;
    let healthy = v.healthy();
    let total = v.replicas.len();
    let dots: Vec<Span> = v
        .replicas
        .iter()
        .map(|r| replica_dot(r.status, theme))
        .collect();
    let health_colour = if total > 0 && healthy == total {
        theme.ok
    } else if healthy == 0 {
        theme.bad
    } else {
        theme.warn
    };
    let right_w = total + format!(" {healthy}/{total} healthy").chars().count();
    let image = fmt::clip(&v.image, width.saturating_sub(right_w + 1));
    let pad = width.saturating_sub(image.chars().count() + right_w);
    let mut l1 = vec![
        Span::styled(image, theme.fg(theme.text)),
        Span::raw(" ".repeat(pad)),
    ];
    l1.extend(dots);
    l1.push(Span::styled(
        format!(" {healthy}/{total} healthy"),
        theme.fg(health_colour),
    ));

    let limit = s
        .guards
        .iter()
        .find(|g| g.name == "max_error_rate")
        .map(|g| g.threshold);
    let over = matches!((st.error_rate, limit), (Some(r), Some(l)) if r > l);
    let err_style = if over {
        theme.strong(theme.bad)
    } else if st.errors > 0 {
        theme.fg(theme.warn)
    } else {
        theme.fg(theme.text)
    };
    let l2 = Line::from(vec![
        Span::styled(fmt::rps(st.rps), theme.fg(theme.text)),
        Span::styled("  errors ", theme.fg(theme.dim)),
        Span::styled(
            format!(
                "{}{}",
                fmt::rate(st.error_rate),
                if over { " ✗" } else { "" }
            ),
            err_style,
        ),
        Span::styled(
            format!(" ({}/{})", st.errors, st.requests),
            theme.fg(theme.dim),
        ),
    ]);
    let l3 = Line::from(vec![
        Span::styled("p50 ", theme.fg(theme.dim)),
        Span::styled(fmt::ms(st.p50_ms), theme.fg(theme.text)),
        Span::styled("  p99 ", theme.fg(theme.dim)),
        Span::styled(fmt::ms(st.p99_ms), theme.fg(theme.text)),
        Span::styled("  in flight ", theme.fg(theme.dim)),
        Span::styled(st.in_flight.to_string(), theme.fg(theme.text)),
    ]);
    let cpu: Option<f64> = v
        .replicas
        .iter()
        .filter_map(|r| r.cpu_percent)
        .reduce(|a, b| a + b);
    let mem: Option<u64> = v
        .replicas
        .iter()
        .filter_map(|r| r.memory_bytes)
        .reduce(|a, b| a + b);
    let mem_limit = v.memory.map(|m| {
        m * v
            .replicas
            .iter()
            .filter(|r| r.status.is_alive())
            .count()
            .max(1) as u64
    });
    let mut l4 = vec![
        Span::styled("cpu ", theme.fg(theme.dim)),
        Span::styled(
            cpu.map_or("—".into(), |c| format!("{c:.0} %")),
            theme.fg(theme.text),
        ),
    ];
    if let Some(c) = v.cpus.filter(|_| width >= 50) {
        l4.push(Span::styled(
            format!(" (limit {c} cpu each)"),
            theme.fg(theme.dim),
        ));
    }
    l4.push(Span::styled("  mem ", theme.fg(theme.dim)));
    l4.push(Span::styled(
        mem.map_or("—".into(), fmt::bytes),
        theme.fg(theme.text),
    ));
    if let Some(l) = mem_limit {
        l4.push(Span::styled(
            format!(" / {}", fmt::bytes(l)),
            theme.fg(theme.dim),
        ));
    }
    vec![Line::from(l1), l2, l3, Line::from(l4)]
}

fn replica_lines(
    app: &App,
    v: &VersionView,
    theme: &Theme,
    room: usize,
    width: usize,
) -> Vec<Line<'static>> {
    let selected = (app.selection.role == v.role).then_some(app.selection.replica);
    // Keep the selected replica in view.
    let first = selected.map_or(0, |i| (i + 1).saturating_sub(room));
    v.replicas
        .iter()
        .enumerate()
        .skip(first)
        .take(room)
        .map(|(i, r)| {
            let mut spans = vec![
                Span::raw(if selected == Some(i) { "▸ " } else { "  " }),
                replica_dot(r.status, theme),
                Span::styled(
                    format!(" {:<12}", fmt::clip(&r.id, 12)),
                    theme.fg(theme.text),
                ),
                Span::styled(
                    format!(" {:<9}", status_word(r.status, r.exit_code)),
                    status_style(r.status, theme),
                ),
            ];
            let figures = format!(
                " cpu {:>5}  mem {:>7}  {}",
                r.cpu_percent.map_or("—".into(), |c| format!("{c:.1} %")),
                r.memory_bytes.map_or("—".into(), fmt::bytes),
                r.addr
            );
            spans.push(Span::styled(figures, theme.fg(theme.dim)));
            let mut line = Line::from(spans);
            if selected == Some(i) {
                line = line.style(theme.selected());
            }
            let _ = width;
            line
        })
        .collect()
}

fn replica_dot(status: ReplicaStatus, theme: &Theme) -> Span<'static> {
    let (sym, colour) = match status {
        ReplicaStatus::Healthy => ("●", theme.ok),
        ReplicaStatus::Starting => ("◌", theme.warn),
        ReplicaStatus::Draining => ("◑", theme.dim),
        ReplicaStatus::Stopped => ("○", theme.dim),
        s if replica_bad(s) => ("✗", theme.bad),
        _ => ("?", theme.dim),
    };
    Span::styled(sym, theme.fg(colour))
}

fn status_word(status: ReplicaStatus, exit: Option<i64>) -> String {
    match status {
        ReplicaStatus::Healthy => "healthy".into(),
        ReplicaStatus::Starting => "starting".into(),
        ReplicaStatus::Unhealthy => "UNHEALTHY".into(),
        ReplicaStatus::Draining => "draining".into(),
        ReplicaStatus::Stopped => "stopped".into(),
        ReplicaStatus::Exited => exit.map_or("EXITED".into(), |c| format!("EXIT {c}")),
        ReplicaStatus::OomKilled => "OOM".into(),
    }
}

fn status_style(status: ReplicaStatus, theme: &Theme) -> ratatui::style::Style {
    match status {
        ReplicaStatus::Healthy => theme.fg(theme.ok),
        ReplicaStatus::Starting => theme.fg(theme.warn),
        s if replica_bad(s) => theme.strong(theme.bad).add_modifier(Modifier::BOLD),
        _ => theme.fg(theme.dim),
    }
}
