//! Snapshots of every cockpit screen and popup at 80×24 and 160×48, drawn
//! from fixture models with a fixed clock. Popups are opened the way an
//! operator opens them (keys through `App::handle_key`), so a snapshot also
//! proves the key reaches the popup.

use crate::support::tui as support;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use cutover::tui::app::{App, Popup};
use cutover::tui::{Effect, Theme};
use support::*;

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];
/// The main screens also at 120×36: the asciicast export size, and the
/// first size with the roomy layout (the tightest for its legends).
const MAIN_SIZES: [(u16, u16); 3] = [(80, 24), (120, 36), (160, 48)];

fn key(app: &mut App, c: KeyCode) -> Option<Effect> {
    app.handle_key(KeyEvent::new(c, KeyModifiers::NONE))
}

fn snap(name: &str, app: &App) {
    snap_theme(name, app, &Theme::dark());
}

fn snap_main(name: &str, app: &App) {
    for (w, h) in MAIN_SIZES {
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), screen(app, &Theme::dark(), w, h));
    }
}

fn snap_theme(name: &str, app: &App, theme: &Theme) {
    for (w, h) in SIZES {
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), screen(app, theme, w, h));
    }
}

/// Theme snapshots carry the style map too: the text alone is the same for
/// every theme.
fn snap_colours(name: &str, app: &App, theme: &Theme) {
    for (w, h) in SIZES {
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), styled_screen(app, theme, w, h));
    }
}

#[test]
fn idle() {
    snap_main("idle", &support::idle());
}

#[test]
fn canary_at_25() {
    snap_main("canary25", &canary25());
}

/// `cutover tui --read-only`: the same release, "read-only" first in the
/// footer and no hint that acts (the model's test says no key acts either).
#[test]
fn read_only_cockpit() {
    let mut app = canary25();
    app.access = cutover::tui::app::Access::ReadOnly;
    snap("read_only", &app);
}

/// A promotion draining stable while the canary's memory history suggests
/// a larger limit: the drain strip (what is left, the oldest, sticky
/// clients, the countdown to the cut) and the usage line with its sparkline.
#[test]
fn drain_strip_and_usage() {
    let mut app = canary25();
    let state = app.state.as_mut().unwrap();
    let at = state.at;
    state.stable.drain = Some(cutover::model::DrainView {
        in_flight: 3,
        oldest_secs: Some(41),
        sticky_clients: Some(12),
        sticky_at_least: false,
        deadline: at + chrono::Duration::seconds(12),
    });
    let mib = 1u64 << 20;
    let history: Vec<u64> = (0..60u64)
        .map(|i| (100 + (i * 7) % 60 + if i == 40 { 80 } else { 0 }) * mib)
        .collect();
    state.canary.as_mut().unwrap().usage = Some(cutover::model::UsageView {
        span_secs: 600,
        cpu_peak_percent: Some(40.0),
        memory_peak: Some(180 * mib),
        memory_limit: Some(256 * mib),
        memory_history: history,
        cpu_history: vec![40; 60],
        suggested_memory: Some(224 * mib),
        suggested_cpus: None,
        summary: "canary peak 180 MiB of 256 MiB over 10 min → 224 MiB".into(),
    });
    snap("drain_usage", &app);
}

#[test]
fn pull_gauge_while_deploying() {
    snap_main("pulling", &support::pulling());
}

#[test]
fn guard_breach_banner() {
    snap_main("breach", &breach());
}

#[test]
fn breach_banner_goes_once_acknowledged() {
    let mut app = breach();
    let effect = key(&mut app, KeyCode::Char('a'));
    assert!(
        matches!(effect, Some(Effect::Send(r)) if r.action == cutover::model::Action::AckBreach)
    );
    assert!(app.breach_banner().is_none());
    assert!(!screen(&app, &Theme::dark(), 80, 24).contains("GUARD BREACH"));
}

#[test]
fn confirm_promote() {
    let mut app = canary25();
    assert_eq!(key(&mut app, KeyCode::Char('p')), None);
    snap("confirm_promote", &app);
}

#[test]
fn confirm_rollback() {
    let mut app = canary25();
    key(&mut app, KeyCode::Char('r'));
    snap("confirm_rollback", &app);
}

#[test]
fn drain_picker_then_confirm_each_version() {
    let mut app = canary25();
    key(&mut app, KeyCode::Char('d'));
    snap("drain_picker", &app);
    let mut canary = app.clone();
    key(&mut canary, KeyCode::Enter);
    snap("confirm_drain_canary", &canary);
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Enter);
    snap("confirm_drain_stable", &app);
}

#[test]
fn confirm_weight_jump() {
    let mut app = canary25();
    key(&mut app, KeyCode::Char('8'));
    key(&mut app, KeyCode::Char('0'));
    snap("weight_typing", &app);
    assert_eq!(key(&mut app, KeyCode::Enter), None);
    snap("confirm_weight_jump", &app);
}

#[test]
fn guard_panel_and_mute_confirmation() {
    let mut app = canary25();
    key(&mut app, KeyCode::Char('g'));
    snap("guard_panel", &app);
    key(&mut app, KeyCode::Char('m'));
    snap("confirm_mute", &app);
}

/// `g`, ↓ to the error ceiling, Enter, a value the rules refuse (said inline,
/// the panel stays), then one they take and its confirmation.
#[test]
fn guard_edit_with_an_error_then_its_confirmation() {
    let mut app = canary25();
    key(&mut app, KeyCode::Char('g'));
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Char('2'));
    assert_eq!(key(&mut app, KeyCode::Enter), None);
    snap("guard_edit_error", &app);
    for c in " %".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    assert_eq!(key(&mut app, KeyCode::Enter), None);
    snap("confirm_guard_edit", &app);
    let Some(Popup::Confirm(c)) = &app.popup else {
        panic!("no confirmation")
    };
    assert_eq!(
        c.summary,
        "max_error_rate off → 2.00 %, from the next evaluation; evidence starts over; trip re-armed at 10 in a row"
    );
    assert!(matches!(
        key(&mut app, KeyCode::Char('y')),
        Some(Effect::Send(r)) if matches!(r.action, cutover::model::Action::SetGuards { .. })
    ));
}

#[test]
fn forced_promote_inside_freeze_asks_a_reason_then_confirms() {
    let mut state = canary_state();
    state.freeze = Some("holidays (until 2026-12-27)".into());
    let mut app = app_with(state, false);
    key(&mut app, KeyCode::Char('p'));
    for c in "hotfix for INC-42".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    snap("reason_input", &app);
    key(&mut app, KeyCode::Enter);
    snap("confirm_forced_promote", &app);
}

#[test]
fn forced_drain_of_stable_inside_freeze_asks_a_reason_then_confirms() {
    let mut state = canary_state();
    state.freeze = Some("holidays (until 2026-12-27)".into());
    let mut app = app_with(state, false);
    key(&mut app, KeyCode::Char('d'));
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Enter);
    for c in "INC-42: stable leaks memory".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    snap("drain_reason_input", &app);
    key(&mut app, KeyCode::Enter);
    snap("confirm_forced_drain", &app);
}

/// Forty seconds into a release the graphs span a minute, not five.
#[test]
fn early_graphs_span_the_data_there_is() {
    let app = support::early_release(40);
    for (w, h) in [(120, 36), (160, 48)] {
        let s = screen(&app, &Theme::dark(), w, h);
        assert!(s.contains("-60s") && s.contains("-30s"), "{s}");
        assert!(!s.contains("-5m"), "{s}");
        insta::assert_snapshot!(format!("graphs_early_{w}x{h}"), s);
    }
}

#[test]
fn help() {
    let mut app = canary25();
    key(&mut app, KeyCode::Char('?'));
    snap("help", &app);
}

#[test]
fn logs_popup() {
    snap("logs", &support::logs_popup(canary25()));
}

#[test]
fn disconnected_greys_the_last_state() {
    let app = support::disconnected(canary25());
    snap("disconnected", &app);
    let buf = cutover::tui::render_frame(&app, &Theme::dark(), 80, 24);
    // The stable panel's title, normally in the stable colour, is greyed.
    assert!(buf.content.iter().any(|c| c.fg == Theme::dark().dim));
}

#[test]
fn replay_banner_with_timeline() {
    snap("replay", &support::replay(breach()));
}

/// A replay is read-only and says nothing an operator could act on: no
/// "n deploys a new canary" in the empty canary panel, no action key in the
/// footer, the banner or the help (which lists the replay keys only). The
/// same model live offers them all.
#[test]
fn replay_shows_no_action_hints() {
    let idle_after_breach = || {
        let mut app = support::idle();
        let breach_state = breach().state.unwrap();
        if let Some(s) = app.state.as_mut() {
            s.last_breach = breach_state.last_breach;
        }
        app
    };
    let live = idle_after_breach();
    let replay = support::replay(idle_after_breach());
    let mut replay_help = support::replay(idle_after_breach());
    key(&mut replay_help, KeyCode::Char('?'));
    assert!(matches!(replay_help.popup, Some(Popup::Help { .. })));
    // What acting looks like on screen: the deploy hint, the acknowledge
    // hint and every acting key's hint in the live footer and help.
    let mut acting: Vec<&str> = vec!["deploys a new canary", "acknowledge"];
    for (_, rows) in live.help_sections() {
        for (_, hint) in rows {
            if [
                "promote",
                "rollback",
                "drain…",
                "pause/resume",
                "canary +1 %",
            ]
            .contains(&hint)
            {
                acting.push(hint);
            }
        }
    }
    assert!(acting.len() >= 7, "{acting:?}");
    let live_screen = screen(&live, &Theme::dark(), 120, 36);
    for hint in [
        "n deploys a new canary",
        "acknowledge",
        "promote",
        "rollback",
    ] {
        assert!(
            live_screen.contains(hint),
            "live shows {hint:?}:\n{live_screen}"
        );
    }
    for (w, h) in [(80, 24), (120, 36)] {
        for (name, app) in [("replay_idle", &replay), ("replay_help", &replay_help)] {
            let s = screen(app, &Theme::dark(), w, h);
            for hint in &acting {
                assert!(!s.contains(hint), "{name} {w}x{h} shows {hint:?}:\n{s}");
            }
            insta::assert_snapshot!(format!("{name}_{w}x{h}"), s);
        }
    }
}

#[test]
fn too_small() {
    for (w, h) in [(79, 24), (60, 20)] {
        insta::assert_snapshot!(
            format!("too_small_{w}x{h}"),
            screen(&canary25(), &Theme::dark(), w, h)
        );
    }
}

#[test]
fn every_theme_main_screen() {
    for (name, _) in cutover::tui::theme::BUILTIN {
        let theme = Theme::builtin(name).unwrap();
        snap_colours(&format!("theme_{name}"), &breach(), &theme);
        // The canary panel's title is drawn in the theme's canary colour.
        let buf = cutover::tui::render_frame(&breach(), &theme, 160, 48);
        assert!(
            buf.content
                .iter()
                .any(|c| c.symbol() == "C" && c.fg == theme.canary),
            "{name}"
        );
    }
    let plain = Theme::load("dark", None, true).unwrap();
    snap_colours("theme_no_color", &breach(), &plain);
    let buf = cutover::tui::render_frame(&breach(), &plain, 160, 48);
    assert!(
        buf.content
            .iter()
            .all(|c| c.fg == ratatui::style::Color::Reset && c.bg == ratatui::style::Color::Reset)
    );
}

#[test]
fn popups_never_hide_what_they_ask() {
    // Each confirmation popup shows its whole summary at 80×24.
    let mut app = canary25();
    key(&mut app, KeyCode::Char('r'));
    let Some(Popup::Confirm(c)) = &app.popup else {
        panic!("no confirm")
    };
    let screen = screen(&app, &Theme::dark(), 80, 24).replace(['\n', '│'], " ");
    let words: Vec<&str> = c.summary.split_whitespace().collect();
    for w in words {
        assert!(screen.contains(w), "`{w}` of the summary is not on screen");
    }
}

/// At every size from 80×24 up, what an operator needs is on screen whole:
/// the runtime, the phase, every guard's figure and limit, the step and
/// bake, each version's figures, the legends' figures; and no legend is
/// drawn into a border's corner (cut from the left).
#[test]
fn every_size_keeps_what_an_operator_needs() {
    let widths = (80..=200).step_by(7).chain([120, 160]);
    let canary = canary25();
    let breached = breach();
    for w in widths {
        for h in [24, 30, 36, 41, 48, 60] {
            let s = screen(&canary, &Theme::dark(), w, h);
            for want in [
                " shop ",
                "● CANARY",
                "docker",
                "guards ✓3 ?1",
                "step 2/3 → 25 %",
                "bake 0:42",
                "≤ ×1.25",
                "≤ 10",
                "≤ 300 ms",
                "≤ ×1.50",
                "37.5 req/s  errors 0.27 %",
                "12.5 req/s  errors 0.80 %",
                "p50 11 ms  p99 46 ms",
                "p50 13 ms  p99 58 ms",
                "25 %",
                "75 % stable",
                // Legends: stable's figure, then canary's marker.
                "0.27 % ━",
                "46 ms ━",
                "weight 5 % → 25 %",
            ] {
                assert!(s.contains(want), "{w}×{h}: `{want}` is not whole:\n{s}");
            }
            assert!(
                s.contains("37.5 req/s ━") || s.contains("37.5/s ━"),
                "{w}×{h}: the request-rate legend lost a figure:\n{s}"
            );
            for (i, line) in s.lines().enumerate() {
                let mut chars = line.chars().peekable();
                while let Some(c) = chars.next() {
                    if c == '└' {
                        assert!(
                            matches!(chars.peek(), Some('─' | '┘')),
                            "{w}×{h} line {i}: something drawn into a corner: {line}"
                        );
                    }
                }
            }
            let s = screen(&breached, &Theme::dark(), w, h);
            for want in [
                "▼ ROLLING BACK",
                "docker",
                "✗ GUARD BREACH  errors vs stable ×8.30 > ×1.25",
                "— rolling back",
                "a acknowledge",
                // The evidence, as the banner says it.
                "canary 7.5 % [3.4–16] vs stable 0.90 % [0.36–2.2]",
                "×8.30  ≤ ×1.25",
            ] {
                assert!(s.contains(want), "{w}×{h}: `{want}` is not whole:\n{s}");
            }
        }
    }
}
