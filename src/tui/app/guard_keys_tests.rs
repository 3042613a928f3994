//! Keys → actions of the guard panel (choose, type, check inline,
//! confirm, send `SetGuards`) and of a forced drain of stable inside a
//! freeze window (reason, confirm, `Drain { force: true }`).

use super::tests::{app, key, sent, state, t0};
use super::*;
use crate::model::*;
use crate::tui::keymap::Mode;
use crossterm::event::KeyCode;

fn typed(a: &mut App, text: &str) {
    for c in text.chars() {
        assert_eq!(key(a, KeyCode::Char(c)), None, "typing {c:?} did something");
    }
}

fn panel(a: &App) -> &GuardsView {
    match &a.popup {
        Some(Popup::Guards(v)) => v,
        other => panic!("expected the guard panel, got {other:?}"),
    }
}

#[test]
fn a_threshold_is_typed_checked_inline_confirmed_then_sent() {
    let mut a = app(Phase::Canary, 250);
    key(&mut a, KeyCode::Char('g'));
    assert_eq!(a.mode(), Mode::Guards);
    key(&mut a, KeyCode::Down);
    assert_eq!(panel(&a).selected, 1, "error ceiling");
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.mode(), Mode::GuardEdit);
    // `q`, `g`, `m` are text here, not close or mute.
    typed(&mut a, "qgm");
    assert_eq!(panel(&a).edit.as_ref().unwrap().input, "qgm");
    for _ in 0..3 {
        key(&mut a, KeyCode::Backspace);
    }
    // A mistake is said inline; the panel stays, nothing is sent.
    typed(&mut a, "2");
    assert_eq!(key(&mut a, KeyCode::Enter), None);
    let edit = panel(&a).edit.clone().unwrap();
    assert!(edit.error.unwrap().contains("type 2 % or 0.02"));
    assert_eq!(a.mode(), Mode::GuardEdit);
    typed(&mut a, " %");
    assert_eq!(
        panel(&a).edit.as_ref().unwrap().error,
        None,
        "typing clears it"
    );
    assert_eq!(key(&mut a, KeyCode::Enter), None);
    let Some(Popup::Confirm(c)) = &a.popup else {
        panic!("{:?}", a.popup)
    };
    assert!(
        c.summary.starts_with("max_error_rate off → 2.00 %"),
        "{}",
        c.summary
    );
    let want = Action::SetGuards {
        guards: GuardPatch {
            max_error_rate: Some(Some(0.02)),
            ..GuardPatch::default()
        },
    };
    assert_eq!(sent(key(&mut a, KeyCode::Char('y'))), want);
    // Back on the same row of the panel.
    assert_eq!(
        panel(&a),
        &GuardsView {
            selected: 1,
            edit: None
        }
    );
    // n cancels: nothing sent, back on the panel.
    key(&mut a, KeyCode::Enter);
    typed(&mut a, "0.03");
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.mode(), Mode::Confirm);
    assert_eq!(key(&mut a, KeyCode::Char('n')), None);
    assert_eq!(a.mode(), Mode::Guards);
    // Esc leaves the input for the list, then closes the panel.
    key(&mut a, KeyCode::Enter);
    key(&mut a, KeyCode::Esc);
    assert_eq!(a.mode(), Mode::Guards);
    key(&mut a, KeyCode::Esc);
    assert_eq!(a.popup, None);
}

#[test]
fn on_breach_switches_through_a_confirmation() {
    let mut a = app(Phase::Paused, 250);
    key(&mut a, KeyCode::Char('g'));
    key(&mut a, KeyCode::Up);
    assert_eq!(panel(&a).selected, 10, "↑ from the top wraps to on breach");
    assert_eq!(key(&mut a, KeyCode::Enter), None);
    assert_eq!(a.mode(), Mode::Confirm);
    assert_eq!(
        sent(key(&mut a, KeyCode::Enter)),
        Action::SetGuards {
            guards: GuardPatch {
                on_breach: Some(crate::plan::OnBreach::Pause),
                ..GuardPatch::default()
            }
        }
    );
}

#[test]
fn outside_a_release_thresholds_are_not_edited() {
    let mut a = app(Phase::Idle, 0);
    key(&mut a, KeyCode::Char('g'));
    assert_eq!(key(&mut a, KeyCode::Enter), None);
    assert_eq!(a.mode(), Mode::Guards);
    assert!(a.toast.as_ref().unwrap().text.contains("phase idle"));
    // Mute is still there.
    key(&mut a, KeyCode::Char('m'));
    assert_eq!(a.mode(), Mode::Confirm);
}

#[test]
fn draining_stable_inside_a_freeze_asks_a_reason_then_forces() {
    let mut s = state(Phase::Canary, 250);
    s.freeze = Some("holidays".into());
    let mut a = app(Phase::Canary, 250);
    a.apply_event(&Event {
        seq: 2,
        at: t0(),
        kind: EventKind::Snapshot { state: Box::new(s) },
    });
    key(&mut a, KeyCode::Char('d'));
    key(&mut a, KeyCode::Down);
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.mode(), Mode::Reason);
    assert_eq!(key(&mut a, KeyCode::Enter), None);
    match &a.popup {
        Some(Popup::Reason {
            purpose: ReasonFor::DrainStable,
            error: Some(e),
            ..
        }) => assert!(e.contains("drain stable"), "{e}"),
        other => panic!("{other:?}"),
    }
    typed(&mut a, "INC-42 hotfix");
    key(&mut a, KeyCode::Enter);
    let Some(Popup::Confirm(c)) = &a.popup else {
        panic!("{:?}", a.popup)
    };
    assert!(c.title.contains("freeze"), "{}", c.title);
    match key(&mut a, KeyCode::Char('y')) {
        Some(Effect::Send(r)) => {
            assert_eq!(
                r.action,
                Action::Drain {
                    role: Role::Stable,
                    force: true
                }
            );
            assert_eq!(r.reason.as_deref(), Some("INC-42 hotfix"));
        }
        e => panic!("{e:?}"),
    }
    // The canary drains as a rollback, freeze or not: no reason asked.
    key(&mut a, KeyCode::Char('d'));
    key(&mut a, KeyCode::Enter);
    assert_eq!(
        sent(key(&mut a, KeyCode::Char('y'))),
        Action::Drain {
            role: Role::Canary,
            force: false
        }
    );
}
