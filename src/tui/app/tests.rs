//! The app model: keys become the right effects, confirmations own their
//! action, pending vs applied weight, replay is read-only.

use super::*;
use crate::model::*;
use chrono::TimeZone;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 14, 12, 0, 0).unwrap()
}

pub(crate) fn state(phase: Phase, weight: u16) -> StateView {
    let v = |role| VersionView {
        role,
        version: "1.0".into(),
        image: "shop:1.0".into(),
        replicas: vec![],
        stats: VersionStats::default(),
        cpus: None,
        memory: None,
        pinned: None,
        usage: None,
        drain: None,
    };
    StateView {
        service: "shop".into(),
        runtime: "static".into(),
        phase,
        release: 1,
        weight_permille: weight,
        step: None,
        stable: v(Role::Stable),
        canary: Some(v(Role::Canary)),
        // Judged and passing: the ordinary confirmations (the typed ones
        // have their own tests).
        guards: vec![GuardVerdict {
            name: Guard::MaxErrorRatio,
            value: Some(0.9),
            threshold: 1.25,
            status: GuardStatus::Pass,
            detail: String::new(),
            evidence: None,
        }],
        guards_muted: false,
        thresholds: Some(crate::plan::GuardPlan::default()),
        freeze: None,
        last_breach: None,
        last_outcome: None,
        failed_requests: None,
        public_addr: "127.0.0.1:1".into(),
        at: t0(),
    }
}

pub(crate) fn app(phase: Phase, weight: u16) -> App {
    let mut a = App::default();
    a.set_link(Link::Live);
    a.apply_event(&Event {
        seq: 1,
        at: t0(),
        kind: EventKind::Snapshot {
            state: Box::new(state(phase, weight)),
        },
    });
    a
}

pub(crate) fn key(a: &mut App, code: KeyCode) -> Option<Effect> {
    a.handle_key(KeyEvent::new(code, KeyModifiers::NONE))
}

pub(crate) fn sent(e: Option<Effect>) -> Action {
    match e {
        Some(Effect::Send(r)) => {
            assert_eq!(r.by, Actor::Tui);
            r.action
        }
        other => panic!("expected a send, got {other:?}"),
    }
}

#[test]
fn arrows_send_weights_and_show_them_pending_until_applied() {
    let mut a = app(Phase::Canary, 0);
    for want in [10, 20, 30, 40, 50] {
        assert_eq!(
            sent(key(&mut a, KeyCode::Right)),
            Action::SetWeight { permille: want }
        );
    }
    assert_eq!(a.pending_permille, Some(50));
    assert_eq!(a.applied(), 0);
    a.apply_event(&Event {
        seq: 2,
        at: t0(),
        kind: EventKind::Weight {
            from: 0,
            to: 50,
            by: Actor::Tui,
            reason: None,
        },
    });
    assert_eq!((a.pending_permille, a.applied()), (None, 50));
    let big = a.handle_key(KeyEvent::new(KeyCode::Left, KeyModifiers::SHIFT));
    assert_eq!(sent(big), Action::SetWeight { permille: 0 });
    // ±1 % from 2.5 % lands on whole percents.
    let mut a = app(Phase::Canary, 25);
    assert_eq!(
        sent(key(&mut a, KeyCode::Right)),
        Action::SetWeight { permille: 30 }
    );
    let mut a = app(Phase::Canary, 25);
    assert_eq!(
        sent(key(&mut a, KeyCode::Left)),
        Action::SetWeight { permille: 20 }
    );
}

#[test]
fn a_refused_weight_clears_pending_and_says_why() {
    let mut a = app(Phase::Canary, 0);
    let req = match key(&mut a, KeyCode::Right) {
        Some(Effect::Send(r)) => r,
        e => panic!("{e:?}"),
    };
    a.apply_reply(&req, Err("refused: cannot set the weight".into()));
    assert_eq!(a.pending_permille, None);
    assert!(
        a.live_toast()
            .unwrap()
            .text
            .contains("cannot set the weight")
    );
}

#[test]
fn weight_outside_a_canary_is_not_sent() {
    let mut a = app(Phase::Idle, 0);
    assert_eq!(key(&mut a, KeyCode::Right), None);
    assert!(a.live_toast().unwrap().text.contains("phase idle"));
}

#[test]
fn typed_weight_small_jump_sends_large_jump_asks() {
    let mut a = app(Phase::Canary, 100);
    key(&mut a, KeyCode::Char('2'));
    key(&mut a, KeyCode::Char('5'));
    assert_eq!(a.mode(), Mode::WeightEntry);
    assert_eq!(
        sent(key(&mut a, KeyCode::Enter)),
        Action::SetWeight { permille: 250 }
    );
    let mut a = app(Phase::Canary, 100);
    for c in "7.5".chars() {
        key(&mut a, KeyCode::Char(c));
    }
    // Fractions are per mille: 7.5 % is 75 ‰, a small move from 10 %.
    assert_eq!(
        sent(key(&mut a, KeyCode::Enter)),
        Action::SetWeight { permille: 75 }
    );
    let mut a = app(Phase::Canary, 100);
    key(&mut a, KeyCode::Char('9'));
    key(&mut a, KeyCode::Char('0'));
    assert_eq!(key(&mut a, KeyCode::Enter), None);
    let Some(Popup::Confirm(c)) = &a.popup else {
        panic!("no confirmation")
    };
    assert!(c.summary.contains("10 % → 90 %"), "{}", c.summary);
    assert_eq!(
        sent(key(&mut a, KeyCode::Char('y'))),
        Action::SetWeight { permille: 900 }
    );
    assert_eq!(a.pending_permille, Some(900));
    let mut a = app(Phase::Canary, 100);
    for c in "150".chars() {
        key(&mut a, KeyCode::Char(c));
    }
    assert_eq!(key(&mut a, KeyCode::Enter), None);
    assert!(a.popup.is_none());
}

#[test]
fn every_dangerous_key_asks_first_and_the_popup_owns_the_action() {
    for (k, want) in [
        ('p', Action::Promote { force: false }),
        ('r', Action::Rollback),
    ] {
        let mut a = app(Phase::Canary, 250);
        assert_eq!(
            key(&mut a, KeyCode::Char(k)),
            None,
            "{k} sent without asking"
        );
        assert_eq!(a.mode(), Mode::Confirm);
        // The state changing under the popup does not change what is confirmed.
        a.apply_event(&Event {
            seq: 9,
            at: t0(),
            kind: EventKind::Weight {
                from: 250,
                to: 500,
                by: Actor::System,
                reason: None,
            },
        });
        assert_eq!(sent(key(&mut a, KeyCode::Enter)), want);
        let mut a = app(Phase::Canary, 250);
        key(&mut a, KeyCode::Char(k));
        assert_eq!(key(&mut a, KeyCode::Char('n')), None);
        assert_eq!(a.popup, None);
    }
    // Drain: pick, then confirm.
    let mut a = app(Phase::Canary, 250);
    key(&mut a, KeyCode::Char('d'));
    assert_eq!(
        a.popup,
        Some(Popup::DrainPicker {
            selected: Role::Canary
        })
    );
    key(&mut a, KeyCode::Down);
    key(&mut a, KeyCode::Enter);
    assert_eq!(
        sent(key(&mut a, KeyCode::Char('y'))),
        Action::Drain {
            role: Role::Stable,
            force: false
        }
    );
    // Guards: g opens the panel, m asks, y mutes.
    let mut a = app(Phase::Canary, 250);
    key(&mut a, KeyCode::Char('g'));
    assert_eq!(key(&mut a, KeyCode::Char('m')), None);
    assert_eq!(
        sent(key(&mut a, KeyCode::Enter)),
        Action::MuteGuards { muted: true }
    );
}

#[test]
fn promote_inside_a_freeze_needs_a_reason() {
    let mut s = state(Phase::Canary, 250);
    s.freeze = Some("holidays".into());
    let mut a = app(Phase::Canary, 250);
    a.apply_event(&Event {
        seq: 2,
        at: t0(),
        kind: EventKind::Snapshot { state: Box::new(s) },
    });
    key(&mut a, KeyCode::Char('p'));
    assert_eq!(a.mode(), Mode::Reason);
    assert_eq!(key(&mut a, KeyCode::Enter), None);
    assert!(matches!(
        &a.popup,
        Some(Popup::Reason { error: Some(_), .. })
    ));
    for c in "hotfix".chars() {
        key(&mut a, KeyCode::Char(c));
    }
    key(&mut a, KeyCode::Enter);
    match key(&mut a, KeyCode::Char('y')) {
        Some(Effect::Send(r)) => {
            assert_eq!(r.action, Action::Promote { force: true });
            assert_eq!(r.reason.as_deref(), Some("hotfix"));
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn space_pauses_and_resumes_without_asking_and_q_quits() {
    let mut a = app(Phase::Canary, 250);
    assert_eq!(sent(key(&mut a, KeyCode::Char(' '))), Action::Pause);
    let mut a = app(Phase::Paused, 250);
    assert_eq!(sent(key(&mut a, KeyCode::Char(' '))), Action::Resume);
    assert_eq!(key(&mut a, KeyCode::Char('q')), Some(Effect::Quit));
}

#[test]
fn disconnected_actions_wait() {
    let mut a = app(Phase::Canary, 250);
    a.set_link(Link::Lost {
        retry_in_ms: 500,
        attempt: 1,
        error: "refused".into(),
    });
    assert_eq!(key(&mut a, KeyCode::Right), None);
    assert_eq!(key(&mut a, KeyCode::Char('r')), None);
    assert_eq!(a.popup, None);
    assert_eq!(key(&mut a, KeyCode::Char('?')), None);
    assert!(matches!(a.popup, Some(Popup::Help { .. })));
}

/// A read-only view that is not a replay (what `tui --read-only` will be):
/// the live keymap minus everything that acts — no key sends or opens an
/// action, and neither the footer nor the help offers one.
#[test]
fn a_read_only_cockpit_offers_no_action() {
    let mut a = app(Phase::Canary, 250);
    a.access = Access::ReadOnly;
    assert_eq!(a.mode(), Mode::Live);
    for c in [
        KeyCode::Char('p'),
        KeyCode::Char('r'),
        KeyCode::Char('d'),
        KeyCode::Char(' '),
        KeyCode::Char('5'),
        KeyCode::Char('a'),
        KeyCode::Left,
        KeyCode::Right,
    ] {
        assert_eq!(key(&mut a, c), None, "{c:?}");
        assert_eq!((&a.popup, &a.weight_input), (&None, &None), "{c:?}");
    }
    let footer: Vec<&str> = a.footer_hints(Mode::Live).iter().map(|h| h.1).collect();
    assert_eq!(footer, ["quit", "guards", "logs", "help"]);
    // The guard panel opens to look at, not to edit or mute.
    key(&mut a, KeyCode::Char('g'));
    assert!(matches!(a.popup, Some(Popup::Guards(_))));
    let footer: Vec<&str> = a.footer_hints(Mode::Guards).iter().map(|h| h.1).collect();
    assert_eq!(footer, ["choose", "close"]);
    assert_eq!(key(&mut a, KeyCode::Enter), None);
    assert!(matches!(&a.popup, Some(Popup::Guards(g)) if g.edit.is_none()));
    assert_eq!(key(&mut a, KeyCode::Char('m')), None);
    assert!(matches!(a.popup, Some(Popup::Guards(_))));
    // Help lists what can be done here, and no popup that only acts.
    let sections: Vec<Mode> = a.help_sections().iter().map(|s| s.0).collect();
    assert_eq!(sections, [Mode::Live, Mode::Guards, Mode::Logs]);
    for (mode, rows) in a.help_sections() {
        for (keys, hint) in rows {
            let b = a.keymap.mode(mode).find(|b| b.hint == hint).unwrap();
            assert!(!b.command.acts(mode), "{mode:?} offers {keys} {hint}");
        }
    }
    // The same model, operated, offers them all.
    a.access = Access::Operate;
    // The cockpit, weight entry, confirmation, drain picker, guards and
    // their edit, logs, reason, then new canary, scale, resize and the
    // typed confirmation.
    assert_eq!(a.help_sections().len(), 12);
    assert!(a.footer_hints(Mode::Live).iter().any(|h| h.1 == "promote"));
}

#[test]
fn replay_is_read_only_and_steers_the_player() {
    let replay = ReplayView {
        file: "x.jsonl".into(),
        position_ms: 0,
        duration_ms: 60_000,
        speed: 1.0,
        paused: false,
        marks: vec![],
        skipped_lines: 0,
        truncated_tail: false,
        what_if: None,
        what_if_unavailable: None,
    };
    let mut a = App::for_replay(Keymap::default(), &Config::default(), replay);
    a.apply_event(&Event {
        seq: 1,
        at: t0(),
        kind: EventKind::Snapshot {
            state: Box::new(state(Phase::Canary, 250)),
        },
    });
    assert_eq!(a.mode(), Mode::Replay);
    for c in ['p', 'r', 'd', '5'] {
        assert_eq!(key(&mut a, KeyCode::Char(c)), None);
        assert_eq!(a.popup, None);
    }
    assert_eq!(
        key(&mut a, KeyCode::Char(' ')),
        Some(Effect::Replay(ReplayControl::TogglePause))
    );
    assert_eq!(
        key(&mut a, KeyCode::Left),
        Some(Effect::Replay(ReplayControl::Seek(-10)))
    );
    assert_eq!(
        key(&mut a, KeyCode::Right),
        Some(Effect::Replay(ReplayControl::Seek(10)))
    );
    assert_eq!(
        key(&mut a, KeyCode::Char('+')),
        Some(Effect::Replay(ReplayControl::Speed(2.0)))
    );
    assert_eq!(
        key(&mut a, KeyCode::Char('-')),
        Some(Effect::Replay(ReplayControl::Speed(0.5)))
    );
}

#[test]
fn seeking_back_restarts_history_and_events() {
    let mut a = app(Phase::Canary, 250);
    for i in 1..=30 {
        a.apply_event(&Event {
            seq: i,
            at: t0() + chrono::Duration::seconds(i as i64),
            kind: EventKind::Tick {
                stable: VersionStats::default(),
                canary: None,
                sample: None,
            },
        });
    }
    a.apply_event(&Event {
        seq: 40,
        at: t0() + chrono::Duration::seconds(30),
        kind: EventKind::Warning {
            message: "w".into(),
        },
    });
    assert_eq!((a.history.len(), a.events.len()), (31, 1));
    a.apply_event(&Event {
        seq: 1,
        at: t0() + chrono::Duration::seconds(5),
        kind: EventKind::Snapshot {
            state: Box::new(state(Phase::Canary, 250)),
        },
    });
    assert_eq!((a.history.len(), a.events.len()), (1, 0));
}

#[test]
fn late_replies_do_not_drop_a_newer_pending_weight() {
    let mut a = app(Phase::Canary, 0);
    let first = match key(&mut a, KeyCode::Right) {
        Some(Effect::Send(r)) => r,
        e => panic!("{e:?}"),
    };
    key(&mut a, KeyCode::Right);
    let reply = ActionReply {
        detail: "0 % → 1 %".into(),
        state: Box::new(state(Phase::Canary, 10)),
    };
    a.apply_reply(&first, Ok(reply));
    assert_eq!(a.pending_permille, Some(20));
    assert_eq!(
        sent(key(&mut a, KeyCode::Right)),
        Action::SetWeight { permille: 30 }
    );
}
