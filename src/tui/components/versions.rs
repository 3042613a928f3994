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

use super::fit::{self, Piece};
use super::fmt;
use crate::model::{Guard, Permille, ReplicaStatus, Role, StateView, VersionStats, VersionView};
use crate::tui::app::{App, replica_bad};
use crate::tui::keymap::{Command, Mode};
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
    let version = s.version(role);
    let share = match role {
        Role::Stable => Permille::clamped(s.weight_permille.into()).stable_share(),
        Role::Canary => s.weight_permille,
    };
    let mut title = vec![Span::styled(
        format!(" {} ", role.as_str().to_uppercase()),
        theme.strong(theme.role(role)),
    )];
    if let Some(v) = version {
        // Room for the role, the share on the right and the corners.
        let room = (area.width as usize).saturating_sub(20);
        title.push(Span::styled(
            format!("{} ", fit::chars(&v.version, room)),
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
        let mut lines = vec![Line::from(Span::styled(
            "no canary running",
            theme.fg(theme.dim),
        ))];
        // How to start one is an action hint: not in a read-only view.
        if !app.read_only() {
            // The key that deploys one, from the table (rebinding shows here).
            let hint = app
                .offered_key(Mode::Live, Command::NewCanary)
                .map_or("cutover deploy --canary IMAGE starts one".into(), |k| {
                    format!("{k} deploys a new canary")
                });
            let rows = (inner.height as usize).saturating_sub(1);
            for row in fit::wrap(&hint, inner.width as usize, rows) {
                lines.push(Line::from(Span::styled(row, theme.fg(theme.dim))));
            }
        }
        frame.render_widget(Paragraph::new(lines), inner);
        return;
    };
    let mut lines = summary(s, v, theme, inner.width as usize);
    // The usage line when there is room for it and a replica row besides.
    if inner.height as usize >= lines.len() + 2 {
        lines.extend(super::usage::line(v, theme, inner.width as usize));
    }
    let room = (inner.height as usize).saturating_sub(lines.len());
    if room > 0 {
        lines.extend(replica_lines(app, v, theme, room, inner.width as usize));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

fn summary(s: &StateView, v: &VersionView, theme: &Theme, width: usize) -> Vec<Line<'static>> {
    vec![
        health_line(v, theme, width),
        errors_line(s, v, theme, width),
        latency_line(&v.stats, theme, width),
        resources_line(v, theme, width),
    ]
}

/// `shop:1.4.2        ●●○ 2/3 healthy`: the image, a dot per replica, the count.
fn health_line(v: &VersionView, theme: &Theme, width: usize) -> Line<'static> {
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
    let image = fit::image(&v.image, width.saturating_sub(right_w + 1));
    let pad = width.saturating_sub(fit::width(&image) + right_w);
    let mut l1 = vec![
        Span::styled(image, theme.fg(theme.text)),
        Span::raw(" ".repeat(pad)),
    ];
    l1.extend(dots);
    l1.push(Span::styled(
        format!(" {healthy}/{total} healthy"),
        theme.fg(health_colour),
    ));
    Line::from(l1)
}

/// `120 req/s  errors 0.12 % (3/2400) [0.1–1.3]`: marked when an error guard
/// judged them too many.
fn errors_line(s: &StateView, v: &VersionView, theme: &Theme, width: usize) -> Line<'static> {
    let st = &v.stats;
    // The canary's errors are marked when an error guard judged them too
    // many (against stable, or the absolute ceiling).
    let over = v.role == Role::Canary
        && s.guards.iter().any(|g| {
            matches!(g.name, Guard::MaxErrorRatio | Guard::MaxErrorRate)
                && g.status == crate::model::GuardStatus::Breach
        });
    let err_style = if over {
        theme.strong(theme.bad)
    } else if st.errors > 0 {
        theme.fg(theme.warn)
    } else {
        theme.fg(theme.text)
    };
    // The rate's uncertainty at the guards' confidence: `[0.1–1.3]`.
    let confidence = s
        .thresholds
        .as_ref()
        .map_or(crate::plan::GuardPlan::default().confidence, |t| {
            t.confidence
        });
    let interval = crate::model::Proportion {
        failures: st.errors,
        requests: st.requests,
    }
    .interval(confidence)
    .map(|(lo, hi)| format!(" [{}–{}]", fmt_interval(lo), fmt_interval(hi)))
    .unwrap_or_default();
    // Figures first; their counts and side notes give way on a narrow panel.
    let l2 = fit::squeeze(
        vec![
            Piece::fixed(vec![
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
            ]),
            Piece::optional(vec![Span::styled(
                format!(" ({}/{})", st.errors, st.requests),
                theme.fg(theme.dim),
            )]),
            Piece::optional(vec![Span::styled(interval, theme.fg(theme.dim))]),
        ],
        &[2, 1],
        width,
    );
    Line::from(l2)
}

/// `p50 4.2 ms  p99 48 ms  in flight 3`.
fn latency_line(st: &VersionStats, theme: &Theme, width: usize) -> Line<'static> {
    let l3 = fit::squeeze(
        vec![
            Piece::fixed(vec![
                Span::styled("p50 ", theme.fg(theme.dim)),
                Span::styled(fmt::ms(st.p50_ms), theme.fg(theme.text)),
                Span::styled("  p99 ", theme.fg(theme.dim)),
                Span::styled(fmt::ms(st.p99_ms), theme.fg(theme.text)),
            ]),
            Piece::optional(vec![
                Span::styled("  in flight ", theme.fg(theme.dim)),
                Span::styled(st.in_flight.to_string(), theme.fg(theme.text)),
            ]),
        ],
        &[1],
        width,
    );
    Line::from(l3)
}

/// `cpu 12 % (limit 0.5 cpu each)  mem 80 MiB / 512 MiB`: summed over replicas.
fn resources_line(v: &VersionView, theme: &Theme, width: usize) -> Line<'static> {
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
    let mut l4 = vec![Piece::fixed(vec![
        Span::styled("cpu ", theme.fg(theme.dim)),
        Span::styled(
            cpu.map_or("—".into(), |c| format!("{c:.0} %")),
            theme.fg(theme.text),
        ),
    ])];
    if let Some(c) = v.cpus.filter(|_| width >= 50) {
        l4.push(Piece::optional(vec![Span::styled(
            format!(" (limit {c} cpu each)"),
            theme.fg(theme.dim),
        )]));
    }
    let cpu_limit = l4.len() - 1;
    l4.push(Piece::fixed(vec![
        Span::styled("  mem ", theme.fg(theme.dim)),
        Span::styled(mem.map_or("—".into(), fmt::bytes), theme.fg(theme.text)),
    ]));
    if let Some(l) = mem_limit {
        l4.push(Piece::optional(vec![Span::styled(
            format!(" / {}", fmt::bytes(l)),
            theme.fg(theme.dim),
        )]));
    }
    let mem_limit_at = l4.len() - 1;
    // The size the history suggests: what to resize to, in one glance.
    if let Some(m) = v.usage.as_ref().and_then(|u| u.suggested_memory) {
        l4.push(Piece::optional(vec![Span::styled(
            format!(" → {}", fmt::bytes(m)),
            theme.fg(theme.warn),
        )]));
    }
    let suggestion_at = l4.len() - 1;
    let l4 = fit::squeeze(l4, &[cpu_limit, suggestion_at, mem_limit_at], width);
    Line::from(l4)
}

/// One row per replica, columns sized to the widest entry so they line
/// up; the address (the least needed on a busy screen) goes when the row
/// would not fit, never half of it.
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
    let cpu =
        |r: &crate::model::ReplicaView| r.cpu_percent.map_or("—".into(), |c| format!("{c:.1} %"));
    let mem = |r: &crate::model::ReplicaView| r.memory_bytes.map_or("—".into(), fmt::bytes);
    let id_w = v
        .replicas
        .iter()
        .map(|r| fit::width(&r.id).min(12))
        .max()
        .unwrap_or(0);
    let cpu_w = v
        .replicas
        .iter()
        .map(|r| fit::width(&cpu(r)))
        .max()
        .unwrap_or(0);
    let mem_w = v
        .replicas
        .iter()
        .map(|r| fit::width(&mem(r)))
        .max()
        .unwrap_or(0);
    v.replicas
        .iter()
        .enumerate()
        .skip(first)
        .take(room)
        .map(|(i, r)| {
            let head = vec![
                Span::raw(if selected == Some(i) { "▸ " } else { "  " }),
                replica_dot(r.status, theme),
                Span::styled(
                    format!(" {:<id_w$}", fit::chars(&r.id, 12)),
                    theme.fg(theme.text),
                ),
                Span::styled(
                    format!("  {:<9}", status_word(r.status, r.exit_code)),
                    status_style(r.status, theme),
                ),
                Span::styled(
                    format!(" cpu {:>cpu_w$}  mem {:>mem_w$}", cpu(r), mem(r)),
                    theme.fg(theme.dim),
                ),
            ];
            let addr = vec![Span::styled(format!("  {}", r.addr), theme.fg(theme.dim))];
            let spans = fit::squeeze(vec![Piece::fixed(head), Piece::optional(addr)], &[1], width);
            let mut line = Line::from(spans);
            if selected == Some(i) {
                line = line.style(theme.selected());
            }
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

/// An interval end as a bare percent figure (`0.1`, `1.3`, `12`).
fn fmt_interval(r: f64) -> String {
    let p = r * 100.0;
    if p == 0.0 {
        "0".into()
    } else if p < 10.0 {
        format!("{p:.1}")
    } else {
        format!("{p:.0}")
    }
}
