//! The undo window: opened by the cockpit's own accepted weight change or
//! promote, counted down in event time, closed when the state moves on.

use super::tests::{app, key, sent, state, t0};
use super::*;
use crate::model::*;
use crossterm::event::KeyCode;

fn reply(a: &mut App, effect: Option<Effect>, phase: Phase, weight: u16) {
    let Some(Effect::Send(req)) = effect else {
        panic!("nothing sent: {effect:?}")
    };
    let mut s = state(phase, weight);
    s.at = a.now.unwrap();
    a.apply_reply(
        &req,
        Ok(ActionReply {
            detail: "ok".into(),
            state: Box::new(s),
        }),
    );
}

fn tick(a: &mut App, secs: i64) {
    a.apply_event(&Event {
        seq: 100 + secs as u64,
        at: t0() + chrono::Duration::seconds(secs),
        kind: EventKind::Tick {
            stable: VersionStats::default(),
            canary: None,
            sample: None,
        },
    });
}

#[test]
fn a_run_of_weight_keys_is_one_undo_back_to_where_it_began() {
    let mut a = app(Phase::Canary, 50);
    let first = key(&mut a, KeyCode::Right);
    let second = key(&mut a, KeyCode::Right);
    // The first reply is out of date: no window yet.
    reply(&mut a, first, Phase::Canary, 60);
    assert_eq!(a.live_undo(), None);
    reply(&mut a, second, Phase::Canary, 70);
    assert_eq!(
        a.live_undo(),
        Some((Undoable::Weight { from: 50, to: 70 }, 10))
    );
    tick(&mut a, 1);
    let (what, secs) = a.live_undo().unwrap();
    assert_eq!(undo_hint(what, secs), "undo weight 5 % → 7 % (9 s)");
    let undo = key(&mut a, KeyCode::Char('u'));
    let Some(Effect::Send(req)) = &undo else {
        panic!("no undo sent")
    };
    assert_eq!(req.reason.as_deref(), Some("undo"));
    assert_eq!(sent(undo), Action::SetWeight { permille: 50 });
    assert_eq!(a.undo, None);
    assert_eq!(a.pending_permille, Some(50));
}

#[test]
fn the_window_runs_out_after_ten_seconds() {
    let mut a = app(Phase::Canary, 50);
    let e = key(&mut a, KeyCode::Right);
    reply(&mut a, e, Phase::Canary, 60);
    tick(&mut a, 9);
    assert_eq!(a.live_undo().map(|u| u.1), Some(1));
    tick(&mut a, 10);
    assert_eq!(a.live_undo(), None);
    assert_eq!(a.undo, None);
    assert_eq!(key(&mut a, KeyCode::Char('u')), None);
    assert!(a.live_toast().unwrap().text.contains("nothing to undo"));
}

#[test]
fn another_weight_change_closes_the_window() {
    let mut a = app(Phase::Canary, 50);
    let e = key(&mut a, KeyCode::Right);
    reply(&mut a, e, Phase::Canary, 60);
    assert!(a.live_undo().is_some());
    a.apply_event(&Event {
        seq: 50,
        at: t0() + chrono::Duration::seconds(2),
        kind: EventKind::Weight {
            from: 60,
            to: 250,
            by: Actor::System,
            reason: Some("step 2".into()),
        },
    });
    assert_eq!(a.undo, None);
}

#[test]
fn an_accepted_promote_can_be_undone_until_it_leaves_promoting() {
    let mut a = app(Phase::Canary, 250);
    key(&mut a, KeyCode::Char('p'));
    let e = key(&mut a, KeyCode::Char('y'));
    reply(&mut a, e, Phase::Promoting, 1000);
    assert_eq!(a.live_undo(), Some((Undoable::Promote, 10)));
    let mut undone = a.clone();
    assert_eq!(
        sent(key(&mut undone, KeyCode::Char('u'))),
        Action::UndoPromote
    );
    a.apply_event(&Event {
        seq: 60,
        at: t0() + chrono::Duration::seconds(3),
        kind: EventKind::Phase {
            from: Phase::Promoting,
            to: Phase::Idle,
            by: Actor::System,
            reason: None,
        },
    });
    assert_eq!(a.undo, None);
}

#[test]
fn a_refused_action_opens_no_window() {
    let mut a = app(Phase::Canary, 50);
    let Some(Effect::Send(req)) = key(&mut a, KeyCode::Right) else {
        panic!()
    };
    a.apply_reply(&req, Err("refused".into()));
    assert_eq!(a.undo, None);
    // The next run starts from the weight applied then.
    let e = key(&mut a, KeyCode::Left);
    reply(&mut a, e, Phase::Canary, 40);
    assert_eq!(a.undo.unwrap().what, Undoable::Weight { from: 50, to: 40 });
}
