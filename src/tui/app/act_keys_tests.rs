//! The acting prompts: new canary (with completions), scale, resize, and
//! the typed confirmation of a risky action.

use super::tests::{app, key, sent, t0};
use super::*;
use crate::model::*;
use crossterm::event::KeyCode;

fn typed(a: &mut App, text: &str) {
    for c in text.chars() {
        assert_eq!(key(a, KeyCode::Char(c)), None, "{c}");
    }
}

fn confirm_of(a: &App) -> &super::super::prompts::Confirm {
    match &a.popup {
        Some(Popup::Confirm(c)) => c,
        other => panic!("expected a confirmation, got {other:?}"),
    }
}

fn idle_docker() -> App {
    let mut a = app(Phase::Idle, 0);
    let s = a.state.as_mut().unwrap();
    s.runtime = "docker".into();
    s.canary = None;
    s.stable.image = "shop:1.4.2".into();
    s.stable.version = "1.4.2".into();
    a
}

fn candidates() -> ImageCandidates {
    ImageCandidates {
        images: vec![
            "shop:1.6.0".into(),
            "shop:1.6.0-rc1".into(),
            "other:2".into(),
        ],
        by_version: false,
        replicas: Some(2),
        first_step_permille: Some(50),
    }
}

#[test]
fn new_canary_completes_from_local_images_and_recent_deploys_then_confirms() {
    let mut a = idle_docker();
    // A canary seen earlier (rolled back since) is a recent deploy.
    a.seen_canaries = vec![("shop:1.5.0".into(), "1.5.0".into())];
    assert_eq!(key(&mut a, KeyCode::Char('n')), Some(Effect::FetchImages));
    assert_eq!(a.mode(), Mode::DeployPrompt);
    a.set_images(Ok(candidates()));
    let Some(Popup::Deploy(p)) = &a.popup else {
        panic!("no prompt")
    };
    assert_eq!(
        p.matches(),
        ["shop:1.6.0", "shop:1.6.0-rc1", "other:2", "shop:1.5.0"]
    );
    typed(&mut a, "shop:1.");
    key(&mut a, KeyCode::Tab);
    key(&mut a, KeyCode::Tab);
    let Some(Popup::Deploy(p)) = &a.popup else {
        panic!("no prompt")
    };
    assert_eq!(p.input(), "shop:1.6.0-rc1");
    // Tab cycles around the matches only.
    key(&mut a, KeyCode::Tab);
    key(&mut a, KeyCode::Tab);
    let Some(Popup::Deploy(p)) = &a.popup else {
        panic!("no prompt")
    };
    assert_eq!(p.input(), "shop:1.6.0");
    // Backspace edits what Tab put there.
    key(&mut a, KeyCode::Backspace);
    typed(&mut a, "1");
    assert_eq!(key(&mut a, KeyCode::Enter), None);
    let c = confirm_of(&a);
    assert_eq!(
        c.summary,
        "start canary shop:1.6.1 (2 replicas); it gets traffic only when healthy, then step 1: 5 %"
    );
    assert_eq!(
        sent(key(&mut a, KeyCode::Char('y'))),
        Action::Deploy {
            image: "shop:1.6.1".into()
        }
    );
}

#[test]
fn new_canary_is_refused_at_once_while_a_release_runs() {
    let mut a = app(Phase::Canary, 250);
    assert_eq!(key(&mut a, KeyCode::Char('n')), None);
    assert_eq!(a.popup, None);
    let t = a.live_toast().unwrap().text.clone();
    assert!(
        t.contains("phase canary") && t.contains("roll back first"),
        "{t}"
    );
}

#[test]
fn an_empty_image_is_not_sent_and_a_failed_lookup_still_lets_one_be_typed() {
    let mut a = idle_docker();
    key(&mut a, KeyCode::Char('n'));
    a.set_images(Err("the daemon answered 404".into()));
    assert_eq!(key(&mut a, KeyCode::Enter), None);
    assert!(matches!(&a.popup, Some(Popup::Deploy(p)) if p.error.is_some()));
    typed(&mut a, "shop:2");
    key(&mut a, KeyCode::Enter);
    // Without the daemon's figures the summary says only what is known.
    assert_eq!(
        confirm_of(&a).summary,
        "start canary shop:2; it gets traffic only when healthy"
    );
}

#[test]
fn scale_asks_a_count_for_the_selected_version_and_says_the_change() {
    let mut a = idle_docker();
    a.selection.role = Role::Stable;
    key(&mut a, KeyCode::Char('s'));
    let Some(Popup::Scale(p)) = &a.popup else {
        panic!("no scale prompt: {:?}", a.popup)
    };
    assert_eq!((p.role, p.input.as_str()), (Role::Stable, "0"));
    key(&mut a, KeyCode::Backspace);
    typed(&mut a, "x0");
    key(&mut a, KeyCode::Enter);
    assert!(
        matches!(&a.popup, Some(Popup::Scale(p)) if p.error.as_deref().unwrap().contains("1–64"))
    );
    key(&mut a, KeyCode::Backspace);
    typed(&mut a, "3");
    key(&mut a, KeyCode::Enter);
    assert_eq!(confirm_of(&a).summary, "stable shop:1.4.2: 0 → 3 replicas");
    assert_eq!(
        sent(key(&mut a, KeyCode::Enter)),
        Action::Scale {
            role: Role::Stable,
            replicas: 3
        }
    );
}

#[test]
fn resize_takes_cpus_and_memory_in_the_plans_syntax() {
    let mut a = app(Phase::Canary, 250);
    let s = a.state.as_mut().unwrap();
    s.runtime = "docker".into();
    let c = s.canary.as_mut().unwrap();
    (c.cpus, c.memory) = (Some(0.5), Some(256 << 20));
    a.selection.role = Role::Canary;
    key(&mut a, KeyCode::Char('z'));
    assert_eq!(a.mode(), Mode::ResizePrompt);
    key(&mut a, KeyCode::Enter);
    assert!(matches!(&a.popup, Some(Popup::Resize(p)) if p.error.is_some()));
    typed(&mut a, "1");
    key(&mut a, KeyCode::Tab);
    typed(&mut a, "512MB!");
    key(&mut a, KeyCode::Enter);
    let Some(Popup::Resize(p)) = &a.popup else {
        panic!("no resize prompt")
    };
    assert!(p.error.as_deref().unwrap().starts_with("memory:"), "{p:?}");
    for _ in 0..2 {
        key(&mut a, KeyCode::Backspace);
    }
    typed(&mut a, "iB");
    key(&mut a, KeyCode::Enter);
    assert_eq!(
        confirm_of(&a).summary,
        "canary shop:1.0: cpus 0.5 → 1, memory 256 MiB → 512 MiB"
    );
    assert_eq!(
        sent(key(&mut a, KeyCode::Char('y'))),
        Action::Resize {
            role: Role::Canary,
            cpus: Some(1.0),
            memory: Some(512 << 20)
        }
    );
}

/// What a runtime cannot do is said before any prompt.
#[test]
fn a_runtime_that_cannot_says_so_up_front() {
    for (runtime, k, word) in [
        ("static", 's', "static"),
        ("static", 'z', "static"),
        ("process", 'z', "process"),
    ] {
        let mut a = app(Phase::Canary, 250);
        a.state.as_mut().unwrap().runtime = runtime.into();
        assert_eq!(key(&mut a, KeyCode::Char(k)), None);
        assert_eq!(a.popup, None, "{runtime} {k}");
        let t = a.live_toast().unwrap().text.clone();
        assert!(t.starts_with('✗') && t.contains(word), "{t}");
    }
    let mut a = app(Phase::Canary, 250);
    a.state.as_mut().unwrap().runtime = "process".into();
    key(&mut a, KeyCode::Char('s'));
    assert!(matches!(a.popup, Some(Popup::Scale(_))));
}

fn red_guard(a: &mut App) {
    a.state.as_mut().unwrap().guards = vec![GuardVerdict {
        name: Guard::MaxErrorRatio,
        value: Some(8.3),
        threshold: 1.25,
        status: GuardStatus::Breach,
        detail: String::new(),
        evidence: None,
    }];
}

#[test]
fn a_risky_promote_wants_the_service_name_typed() {
    let mut a = app(Phase::Canary, 250);
    red_guard(&mut a);
    key(&mut a, KeyCode::Char('p'));
    assert_eq!(a.mode(), Mode::TypedConfirm);
    // y and n are letters here, not yes and no.
    typed(&mut a, "ny");
    assert_eq!(key(&mut a, KeyCode::Enter), None);
    let Some(Popup::TypedConfirm(p)) = &a.popup else {
        panic!("closed")
    };
    assert_eq!(p.error.as_deref(), Some("type `shop` to go ahead"));
    assert_eq!(
        p.risk.reasons,
        ["guard max_error_ratio is red (×8.30 > ×1.25)"]
    );
    key(&mut a, KeyCode::Backspace);
    key(&mut a, KeyCode::Backspace);
    typed(&mut a, "shop");
    assert_eq!(
        sent(key(&mut a, KeyCode::Enter)),
        Action::Promote { force: false }
    );
    assert_eq!(a.popup, None);
}

#[test]
fn a_big_jump_up_against_a_red_guard_is_typed_and_esc_drops_it() {
    let mut a = app(Phase::Canary, 50);
    red_guard(&mut a);
    typed(&mut a, "50");
    assert_eq!(key(&mut a, KeyCode::Enter), None);
    assert_eq!(a.mode(), Mode::TypedConfirm);
    assert_eq!(key(&mut a, KeyCode::Esc), None);
    assert_eq!((&a.popup, a.pending_permille), (&None, None));
    // Down is never made harder.
    typed(&mut a, "0");
    assert_eq!(
        sent(key(&mut a, KeyCode::Enter)),
        Action::SetWeight { permille: 0 }
    );
}

#[test]
fn read_only_offers_none_of_the_new_keys() {
    let mut a = app(Phase::Idle, 0);
    a.state.as_mut().unwrap().runtime = "docker".into();
    a.access = Access::ReadOnly;
    for c in ['n', 's', 'z', 'u'] {
        assert_eq!(key(&mut a, KeyCode::Char(c)), None, "{c}");
        assert_eq!(a.popup, None, "{c}");
        assert!(a.live_toast().is_none(), "{c}");
    }
    for (_, rows) in a.help_sections() {
        for (_, hint) in rows {
            for word in ["new canary", "scale", "resize", "undo"] {
                assert!(!hint.contains(word), "{hint}");
            }
        }
    }
    assert_eq!(a.now, Some(t0()));
}
