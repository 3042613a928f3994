//! Snapshots of the screens of the acting keys at 80×24 and 160×48: the
//! new canary's image prompt with its completions and its confirmation,
//! scale and resize (and a runtime that cannot resize), the typed
//! confirmation of a risky promote, the footer counting an undo down.
//! Each is reached the way an operator reaches it, keys through
//! `App::handle_key`, so a snapshot also proves the keys get there.

use crate::support::tui as support;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use cutover::model::{
    Action, ActionReply, Event, EventKind, Guard, GuardStatus, ImageCandidates, Phase, Role,
    VersionStats,
};
use cutover::tui::app::{Access, App, Popup};
use cutover::tui::{Effect, Theme};
use support::*;

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

fn key(app: &mut App, c: KeyCode) -> Option<Effect> {
    app.handle_key(KeyEvent::new(c, KeyModifiers::NONE))
}

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        key(app, KeyCode::Char(c));
    }
}

fn snap(name: &str, app: &App) {
    for (w, h) in SIZES {
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), screen(app, &Theme::dark(), w, h));
    }
}

/// After a rollback: stable alone, the canary it rolled back remembered.
fn after_rollback() -> App {
    let mut app = support::idle();
    app.seen_canaries
        .insert(0, ("shop:1.5.0".into(), "1.5.0".into()));
    app
}

fn local_images() -> ImageCandidates {
    ImageCandidates {
        images: vec![
            "shop:1.6.0".into(),
            "shop:1.6.0-rc1".into(),
            "shop:1.4.2".into(),
            "registry.example.com/tools/debug:latest".into(),
        ],
        by_version: false,
        replicas: Some(2),
        first_step_permille: Some(50),
    }
}

#[test]
fn new_canary_prompt_completes_then_confirms_the_exact_effect() {
    let mut app = after_rollback();
    assert!(screen(&app, &Theme::dark(), 80, 24).contains("n deploys a new canary"));
    assert_eq!(key(&mut app, KeyCode::Char('n')), Some(Effect::FetchImages));
    snap("deploy_prompt_loading", &app);
    app.set_images(Ok(local_images()));
    typed(&mut app, "shop:1.");
    key(&mut app, KeyCode::Tab);
    snap("deploy_prompt", &app);
    key(&mut app, KeyCode::Enter);
    snap("confirm_deploy", &app);
    let Some(Popup::Confirm(c)) = &app.popup else {
        panic!("no confirmation: {:?}", app.popup)
    };
    assert_eq!(
        c.summary,
        "start canary shop:1.6.0 (2 replicas); it gets traffic only when healthy, then step 1: 5 %"
    );
}

/// Tab selects stable, `s`, 3, Enter: the confirmation says 2 → 3.
#[test]
fn scale_stable_to_three() {
    let mut app = canary25();
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.selection.role, Role::Stable);
    key(&mut app, KeyCode::Char('s'));
    key(&mut app, KeyCode::Backspace);
    typed(&mut app, "3");
    snap("scale_prompt", &app);
    key(&mut app, KeyCode::Enter);
    snap("confirm_scale", &app);
    let Some(Popup::Confirm(c)) = &app.popup else {
        panic!("no confirmation")
    };
    assert_eq!(c.summary, "stable shop:1.4.2: 2 → 3 replicas");
    assert!(matches!(
        key(&mut app, KeyCode::Char('y')),
        Some(Effect::Send(r)) if r.action == Action::Scale { role: Role::Stable, replicas: 3 }
    ));
}

#[test]
fn resize_the_canary() {
    let mut app = canary25();
    key(&mut app, KeyCode::Char('z'));
    typed(&mut app, "1");
    key(&mut app, KeyCode::Tab);
    typed(&mut app, "512MiB");
    snap("resize_prompt", &app);
    key(&mut app, KeyCode::Enter);
    snap("confirm_resize", &app);
}

#[test]
fn resize_on_the_process_runtime_says_it_cannot_at_once() {
    let mut state = canary_state();
    state.runtime = "process".into();
    let mut app = app_with(state, false);
    assert_eq!(key(&mut app, KeyCode::Char('z')), None);
    assert_eq!(app.popup, None);
    snap("resize_not_supported", &app);
}

fn red_canary() -> App {
    let mut state = canary_state();
    let g = &mut state.guards[0];
    assert_eq!(g.name, Guard::MaxErrorRatio);
    g.status = GuardStatus::Breach;
    g.value = Some(8.3);
    app_with(state, true)
}

#[test]
fn a_promote_while_a_guard_is_red_wants_the_service_name() {
    let mut app = red_canary();
    key(&mut app, KeyCode::Char('p'));
    typed(&mut app, "sh");
    assert_eq!(key(&mut app, KeyCode::Enter), None);
    snap("typed_confirm_promote", &app);
    typed(&mut app, "op");
    assert!(matches!(
        key(&mut app, KeyCode::Enter),
        Some(Effect::Send(r)) if r.action == Action::Promote { force: false }
    ));
}

/// With every guard judged and passing, a promote asks y/N as before.
#[test]
fn a_promote_on_good_evidence_asks_the_ordinary_way() {
    let mut state = canary_state();
    for g in &mut state.guards {
        if g.status == GuardStatus::NotJudged {
            g.status = GuardStatus::Pass;
            g.value = Some(1.1);
        }
    }
    let mut app = app_with(state, false);
    key(&mut app, KeyCode::Char('p'));
    assert!(matches!(app.popup, Some(Popup::Confirm(_))));
    snap("confirm_promote_judged", &app);
}

/// `→` sends 26 %, the daemon accepts, a second passes: the footer offers
/// the undo with nine seconds left.
fn undo_offered() -> App {
    let mut app = canary25();
    let Some(Effect::Send(req)) = key(&mut app, KeyCode::Right) else {
        panic!("→ sent nothing")
    };
    let mut after = canary_state();
    after.weight_permille = 260;
    app.apply_reply(
        &req,
        Ok(ActionReply {
            detail: "canary weight 25 % → 26 %".into(),
            state: Box::new(after),
        }),
    );
    app.apply_event(&Event {
        seq: 9000,
        at: now() + chrono::Duration::seconds(1),
        kind: EventKind::Tick {
            stable: VersionStats::default(),
            canary: Some(VersionStats::default()),
            sample: None,
        },
    });
    app
}

#[test]
fn the_footer_counts_the_undo_down() {
    let app = undo_offered();
    let s = screen(&app, &Theme::dark(), 80, 24);
    assert!(s.contains("u undo weight 25 % → 26 % (9 s)"), "{s}");
    snap("undo_countdown", &app);
}

/// Read-only: none of the new keys' hints, whatever the model holds.
#[test]
fn read_only_shows_none_of_the_new_hints() {
    let mut app = undo_offered();
    app.access = Access::ReadOnly;
    let mut idle = after_rollback();
    idle.access = Access::ReadOnly;
    key(&mut idle, KeyCode::Char('?'));
    for (w, h) in SIZES {
        for a in [&app, &idle] {
            let s = screen(a, &Theme::dark(), w, h);
            for hint in [
                "undo",
                "deploys a new canary",
                "scale",
                "resize",
                "new canary",
            ] {
                assert!(!s.contains(hint), "{w}x{h} shows {hint:?}:\n{s}");
            }
        }
    }
    assert_eq!(app.state.as_ref().unwrap().phase, Phase::Canary);
}
