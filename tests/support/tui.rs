//! Fixture models for the cockpit's snapshot tests: states a real daemon
//! sends (idle, a canary at 25 %, a guard breach…), fed through the same
//! `App::apply_event` the live client uses, with a fixed clock so every
//! frame is deterministic.
#![allow(dead_code)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use cutover::model::*;
use cutover::plan::OnBreach;
use cutover::tui::app::{App, Link, LogsView, Popup, ReplayMark, ReplayView};
use cutover::tui::{Theme, render_frame};
use ratatui::buffer::Buffer;
use ratatui::text::Span;

/// 2026-03-14 12:00:00 UTC: the moment every fixture is drawn at.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 14, 12, 0, 0).unwrap()
}

fn replica(id: &str, port: u16, status: ReplicaStatus, cpu: f64, mem_mib: u64) -> ReplicaView {
    ReplicaView {
        id: id.into(),
        addr: format!("127.0.0.1:{port}"),
        status,
        exit_code: None,
        cpu_percent: Some(cpu),
        memory_bytes: Some(mem_mib * 1024 * 1024),
        memory_limit: Some(256 * 1024 * 1024),
    }
}

fn stats(rps: f64, errors: u64, p50: f64, p99: f64) -> VersionStats {
    let requests = (rps * 10.0) as u64;
    VersionStats {
        window_secs: 10.0,
        requests,
        errors,
        error_rate: (requests > 0).then(|| errors as f64 / requests as f64),
        rps,
        p50_ms: Some(p50),
        p99_ms: Some(p99),
        status_2xx: requests - errors,
        status_5xx: errors,
        in_flight: 2,
        total_requests: requests * 30,
        total_errors: errors * 3,
        ..VersionStats::default()
    }
}

fn stable() -> VersionView {
    VersionView {
        role: Role::Stable,
        version: "1.4.2".into(),
        image: "shop:1.4.2".into(),
        replicas: vec![
            replica("3f2a1b9c0d", 9101, ReplicaStatus::Healthy, 6.2, 41),
            replica("8e7d6c5b4a", 9102, ReplicaStatus::Healthy, 5.9, 39),
        ],
        stats: stats(37.5, 1, 11.0, 46.0),
        cpus: Some(0.5),
        memory: Some(256 * 1024 * 1024),
        pinned: None,
        usage: None,
        drain: None,
    }
}

fn canary() -> VersionView {
    VersionView {
        role: Role::Canary,
        version: "1.5.0".into(),
        image: "shop:1.5.0".into(),
        replicas: vec![replica("c0ffee1234", 9201, ReplicaStatus::Healthy, 4.1, 37)],
        stats: stats(12.5, 1, 13.0, 58.0),
        cpus: Some(0.5),
        memory: Some(256 * 1024 * 1024),
        pinned: None,
        usage: None,
        drain: None,
    }
}

fn verdict(
    name: Guard,
    value: Option<f64>,
    threshold: f64,
    status: GuardStatus,
    detail: &str,
) -> GuardVerdict {
    GuardVerdict {
        name,
        value,
        threshold,
        status,
        detail: detail.into(),
        evidence: None,
    }
}

/// A sequential guard's verdict with its evidence: `canary` and `stable`
/// as (failures, requests), `log_e` against the 99.5 % threshold.
fn judged(
    name: Guard,
    value: Option<f64>,
    threshold: f64,
    status: GuardStatus,
    canary: (u64, u64),
    stable: Option<(u64, u64)>,
    log_e: f64,
) -> GuardVerdict {
    let slow_ms = match name {
        Guard::MaxP99 => Some(threshold),
        Guard::MaxP99Ratio => Some(69.0),
        _ => None,
    };
    let p = |(failures, requests)| Proportion { failures, requests };
    let evidence = Evidence {
        canary: p(canary),
        stable: stable.map(p),
        confidence: 0.995,
        log_e,
        log_threshold: -(0.005f64.ln()),
        slow_ms,
    };
    let detail = match (status, slow_ms) {
        (GuardStatus::NotJudged, _) => format!(
            "not enough evidence yet: {} of 50 canary requests",
            canary.1
        ),
        (_, Some(ms)) => format!("slower than {}: {}", latency_text(ms), evidence.summary()),
        (_, None) => evidence.summary(),
    };
    GuardVerdict {
        name,
        value,
        threshold,
        status,
        detail,
        evidence: Some(evidence),
    }
}

pub fn guards_ok() -> Vec<GuardVerdict> {
    vec![
        judged(
            Guard::MaxErrorRatio,
            Some(0.89),
            1.25,
            GuardStatus::Pass,
            (1, 125),
            Some((9, 1000)),
            0.4,
        ),
        judged(
            Guard::MaxP99Ratio,
            None,
            1.5,
            GuardStatus::NotJudged,
            (0, 41),
            Some((2, 1000)),
            0.0,
        ),
        judged(
            Guard::MaxP99,
            Some(58.0),
            300.0,
            GuardStatus::Pass,
            (0, 125),
            None,
            0.0,
        ),
        verdict(
            Guard::TripAfter,
            Some(0.0),
            10.0,
            GuardStatus::Pass,
            "0 canary failures in a row now; 10 in a row while stable answers set the weight to 0 at once",
        ),
    ]
}

/// The fixture's `[guard]`: the limits its verdicts show.
pub fn thresholds() -> cutover::plan::GuardPlan {
    cutover::plan::GuardPlan {
        max_p99: Some("300ms".parse().unwrap()),
        ..Default::default()
    }
}

pub fn idle_state() -> StateView {
    StateView {
        service: "shop".into(),
        runtime: "docker".into(),
        phase: Phase::Idle,
        release: 2,
        weight_permille: 0,
        step: None,
        stable: stable(),
        canary: None,
        guards: vec![],
        guards_muted: false,
        thresholds: Some(thresholds()),
        freeze: None,
        last_breach: None,
        last_outcome: None,
        failed_requests: None,
        public_addr: "127.0.0.1:8080".into(),
        at: now(),
    }
}

pub fn canary_state() -> StateView {
    StateView {
        phase: Phase::Canary,
        release: 3,
        weight_permille: 250,
        step: Some(StepView {
            index: 1,
            total: 3,
            weight_permille: 250,
            bake_remaining_ms: Some(41_200),
        }),
        canary: Some(canary()),
        guards: guards_ok(),
        ..idle_state()
    }
}

pub fn breach_state() -> StateView {
    let mut s = canary_state();
    s.phase = Phase::RollingBack;
    s.weight_permille = 0;
    s.step = None;
    if let Some(c) = s.canary.as_mut() {
        c.stats = stats(16.0, 12, 14.0, 61.0);
        c.stats.rps = 0.0;
        c.replicas[0].status = ReplicaStatus::Draining;
    }
    s.guards[0] = judged(
        Guard::MaxErrorRatio,
        Some(8.3),
        1.25,
        GuardStatus::Breach,
        (12, 160),
        Some((9, 1000)),
        6.1,
    );
    s.last_breach = Some(BreachView {
        guard: Guard::MaxErrorRatio,
        value: 8.3,
        threshold: 1.25,
        detail: s.guards[0].detail.clone(),
        at: now() - Duration::seconds(3),
    });
    s
}

fn ev(seq: u64, at: DateTime<Utc>, kind: EventKind) -> Event {
    Event { seq, at, kind }
}

/// Five minutes of history ending at `now()`: stable steady, canary
/// wandering, then `final_state` as the last snapshot, with a few journal
/// lines of who did what.
pub fn app_with(final_state: StateView, bad_canary: bool) -> App {
    let mut app = App::default();
    app.set_link(Link::Live);
    let start = now() - Duration::seconds(299);
    let mut seq = 0;
    for i in 0..300i64 {
        let at = start + Duration::seconds(i);
        let t = i as f64;
        let wave = (t / 17.0).sin();
        let s = stats(
            36.0 + 3.0 * wave,
            (i % 7 == 0) as u64,
            11.0 + wave,
            45.0 + 4.0 * (t / 9.0).cos(),
        );
        let canary_on = final_state.canary.is_some() && i >= 60;
        let c = canary_on.then(|| {
            let mut c = stats(12.0 + 2.0 * (t / 11.0).cos(), 1, 13.0, 55.0 + 6.0 * wave);
            let rate = if bad_canary && i > 240 {
                0.02 + (i - 240) as f64 * 0.001
            } else {
                0.004 + 0.003 * wave.abs()
            };
            c.error_rate = Some(rate);
            c
        });
        seq += 1;
        app.apply_event(&ev(
            seq,
            at,
            EventKind::Tick {
                stable: s,
                canary: c,
                sample: None,
            },
        ));
        let journal = match i {
            50 => Some(EventKind::Action {
                action: "deploy".into(),
                by: Actor::Cli,
                reason: None,
                ok: true,
                detail: "release 3: canary 1.5.0 (shop:1.5.0)".into(),
            }),
            52 => Some(EventKind::Phase {
                from: Phase::Idle,
                to: Phase::Deploying,
                by: Actor::Cli,
                reason: Some("deploy 1.5.0".into()),
            }),
            55 => Some(EventKind::Replica {
                role: Role::Canary,
                replica: "c0ffee1234".into(),
                status: ReplicaStatus::Healthy,
                detail: "2 checks passed".into(),
            }),
            58 => Some(EventKind::Phase {
                from: Phase::Warming,
                to: Phase::Canary,
                by: Actor::System,
                reason: Some("warm-up done".into()),
            }),
            60 => Some(EventKind::Weight {
                from: 0,
                to: 50,
                by: Actor::System,
                reason: Some("step 1 of 3".into()),
            }),
            200 => Some(EventKind::Weight {
                from: 50,
                to: 250,
                by: Actor::Tui,
                reason: None,
            }),
            230 => Some(EventKind::Action {
                action: "pause".into(),
                by: Actor::Tui,
                reason: None,
                ok: true,
                detail: "steps and bake held; guards stay on".into(),
            }),
            235 => Some(EventKind::Action {
                action: "resume".into(),
                by: Actor::Tui,
                reason: None,
                ok: true,
                detail: "steps and bake resume".into(),
            }),
            290 if bad_canary => Some(EventKind::Breach {
                guard: Guard::MaxErrorRatio,
                value: 8.3,
                threshold: 1.25,
                on_breach: OnBreach::Rollback,
                detail: "canary 7.5 % [3.5–15] vs stable 0.90 % [0.4–2.1], n=160, 99.5 %".into(),
                evidence: None,
            }),
            291 if bad_canary => Some(EventKind::Phase {
                from: Phase::Canary,
                to: Phase::RollingBack,
                by: Actor::Guard,
                reason: Some("max_error_rate breached".into()),
            }),
            _ => None,
        };
        if let Some(kind) = journal.filter(|_| final_state.canary.is_some()) {
            seq += 1;
            app.apply_event(&ev(seq, at, kind));
        }
    }
    seq += 1;
    app.apply_event(&ev(
        seq,
        now(),
        EventKind::Snapshot {
            state: Box::new(final_state),
        },
    ));
    app
}

/// A release `secs` seconds old: the canary from the first second at 5 %,
/// so the graphs have less than their five minutes to show.
pub fn early_release(secs: i64) -> App {
    let mut app = App::default();
    app.set_link(Link::Live);
    let start = now() - Duration::seconds(secs - 1);
    let mut seq = 0;
    for i in 0..secs {
        let t = i as f64;
        seq += 1;
        let mut c = stats(2.0 + (t / 5.0).sin(), 0, 13.0, 55.0 + 8.0 * (t / 7.0).cos());
        c.error_rate = Some(0.004 + 0.002 * (t / 6.0).sin().abs());
        app.apply_event(&ev(
            seq,
            start + Duration::seconds(i),
            EventKind::Tick {
                stable: stats(36.0 + 3.0 * (t / 9.0).sin(), 0, 11.0, 45.0),
                canary: Some(c),
                sample: None,
            },
        ));
    }
    let mut state = canary_state();
    state.weight_permille = 50;
    state.step = Some(StepView {
        index: 0,
        total: 3,
        weight_permille: 50,
        bake_remaining_ms: Some(12_000),
    });
    seq += 1;
    app.apply_event(&ev(
        seq,
        now(),
        EventKind::Snapshot {
            state: Box::new(state),
        },
    ));
    app
}

pub fn idle() -> App {
    app_with(idle_state(), false)
}

/// A canary deploying from a registry: the pull half done (one layer
/// already on the engine, one fetched, one under way).
pub fn pulling() -> App {
    let mut state = idle_state();
    state.phase = Phase::Deploying;
    state.release = 3;
    let mut app = app_with(state, false);
    let layer = |id: &str, current: u64, total: u64, done: bool| LayerProgress {
        id: id.into(),
        current,
        total: Some(total),
        done,
    };
    app.apply_event(&ev(
        900,
        now() + Duration::milliseconds(500),
        EventKind::Pull {
            role: Role::Canary,
            image: "registry.example:5000/team/shop:1.5.0".into(),
            layers: vec![
                layer("9a1f3c2b", 0, 0, true),
                layer("4d5e6f70", 12 << 20, 12 << 20, true),
                layer("b7c8d9e0", 3 << 20, 17 << 20, false),
            ],
            done: false,
            digest: None,
        },
    ));
    app
}

pub fn canary25() -> App {
    app_with(canary_state(), false)
}

pub fn breach() -> App {
    app_with(breach_state(), true)
}

pub fn with_popup(mut app: App, popup: Popup) -> App {
    app.popup = Some(popup);
    app
}

pub fn logs_popup(app: App) -> App {
    let lines = (0..60)
        .map(|i| {
            format!(
                "2026-03-14T11:59:{:02}Z INFO GET /cart/{i} 200 {}ms",
                i % 60,
                10 + i % 7
            )
        })
        .collect();
    with_popup(
        app,
        Popup::Logs(LogsView {
            role: Role::Canary,
            replica: Some("c0ffee1234".into()),
            lines: Some(Ok(lines)),
            scroll: 0,
        }),
    )
}

pub fn disconnected(mut app: App) -> App {
    app.set_link(Link::Lost {
        retry_in_ms: 2000,
        attempt: 3,
        error: "connection refused".into(),
    });
    app
}

pub fn replay(mut app: App) -> App {
    let marks = vec![
        ReplayMark {
            at_ms: 50_000,
            kind: cutover::tui::app::MarkKind::Action,
        },
        ReplayMark {
            at_ms: 200_000,
            kind: cutover::tui::app::MarkKind::Action,
        },
        ReplayMark {
            at_ms: 290_000,
            kind: cutover::tui::app::MarkKind::Breach,
        },
    ];
    app.set_replay(ReplayView {
        file: "recordings/demo-bad.jsonl".into(),
        position_ms: 299_000,
        duration_ms: 420_000,
        speed: 4.0,
        paused: false,
        marks,
        skipped_lines: 0,
        truncated_tail: false,
        what_if: None,
        what_if_unavailable: None,
    });
    app
}

/// A buffer as plain text, one line per row, wide characters counted once.
pub fn text(buf: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut skip = 0usize;
        let mut line = String::new();
        for x in 0..buf.area.width {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let sym = buf[(x, y)].symbol();
            line.push_str(sym);
            skip = Span::raw(sym).width().saturating_sub(1);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub fn screen(app: &App, theme: &Theme, w: u16, h: u16) -> String {
    text(&render_frame(app, theme, w, h))
}

/// A buffer's styles as a grid of letters aligned with [`text`], one letter
/// per distinct (fg, bg, modifiers), then the legend. Theme snapshots carry
/// it, so a colour that changes (or a theme that collapses two colours into
/// one) shows in review, not only the text.
pub fn styles(buf: &Buffer) -> String {
    let mut seen: Vec<(
        ratatui::style::Color,
        ratatui::style::Color,
        ratatui::style::Modifier,
    )> = Vec::new();
    let letters: Vec<char> = ('A'..='Z').chain('a'..='z').chain('0'..='9').collect();
    let mut grid = String::new();
    for y in 0..buf.area.height {
        let mut line = String::new();
        let mut skip = 0usize;
        for x in 0..buf.area.width {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let cell = &buf[(x, y)];
            skip = Span::raw(cell.symbol()).width().saturating_sub(1);
            let key = (cell.fg, cell.bg, cell.modifier);
            let i = seen.iter().position(|k| *k == key).unwrap_or_else(|| {
                seen.push(key);
                seen.len() - 1
            });
            line.push(letters.get(i).copied().unwrap_or('?'));
        }
        grid.push_str(&line);
        grid.push('\n');
    }
    let mut legend = String::new();
    for (i, (fg, bg, m)) in seen.iter().enumerate() {
        let c = letters.get(i).copied().unwrap_or('?');
        legend.push_str(&format!("{c} fg={fg:?} bg={bg:?} mod={m:?}\n"));
    }
    format!("{grid}--- styles ---\n{legend}")
}

/// Text, then its styles (see [`styles`]).
pub fn styled_screen(app: &App, theme: &Theme, w: u16, h: u16) -> String {
    let buf = render_frame(app, theme, w, h);
    format!("{}--- style map ---\n{}", text(&buf), styles(&buf))
}
