//! The replay's "what if" keys: the guard panel edits the recorded
//! thresholds locally and asks the replay to judge again; a mistake is said
//! inline; nothing is ever sent.

use super::tests::{key, state, t0};
use super::*;
use crate::model::{Event, EventKind, GuardPatch, Phase};
use crate::tui::config_file::Config;
use crate::tui::guard_edit::GuardKey;
use crossterm::event::KeyCode;

fn replay(unavailable: Option<&str>) -> App {
    let view = ReplayView {
        file: "x.jsonl".into(),
        duration_ms: 60_000,
        speed: 1.0,
        what_if_unavailable: unavailable.map(str::to_string),
        ..ReplayView::default()
    };
    let mut a = App::for_replay(Keymap::default(), &Config::default(), view);
    a.apply_event(&Event {
        seq: 1,
        at: t0(),
        kind: EventKind::Snapshot {
            state: Box::new(state(Phase::Canary, 250)),
        },
    });
    a
}

fn typed(a: &mut App, text: &str) {
    for c in text.chars() {
        assert_eq!(key(a, KeyCode::Char(c)), None);
    }
}

fn what_if(e: Option<Effect>) -> GuardPatch {
    match e {
        Some(Effect::WhatIf(p)) => p,
        other => panic!("expected a what-if, got {other:?}"),
    }
}

#[test]
fn an_edit_marks_the_timeline_and_sends_nothing() {
    let mut a = replay(None);
    assert_eq!(key(&mut a, KeyCode::Char('g')), None);
    assert_eq!(a.mode(), Mode::WhatIf);
    // Row 0 is max_error_ratio.
    assert_eq!(key(&mut a, KeyCode::Enter), None);
    assert_eq!(a.mode(), Mode::WhatIfEdit);
    typed(&mut a, "2");
    let p = what_if(key(&mut a, KeyCode::Enter));
    assert_eq!(p.max_error_ratio, Some(Some(2.0)));
    assert_eq!(a.popup, None, "closed: the timeline shows the marks");
    assert_eq!(a.mode(), Mode::Replay);
}

#[test]
fn a_mistake_is_said_inline_and_nothing_is_asked() {
    let mut a = replay(None);
    key(&mut a, KeyCode::Char('g'));
    key(&mut a, KeyCode::Enter);
    typed(&mut a, "0.5");
    assert_eq!(key(&mut a, KeyCode::Enter), None);
    assert_eq!(a.mode(), Mode::WhatIfEdit);
    let Some(Popup::Guards(v)) = &a.popup else {
        panic!("the panel stays open")
    };
    let err = v.edit.as_ref().unwrap().error.clone().unwrap();
    assert!(err.contains("from 1.0 to 100"), "{err}");
    // Esc goes back to the list, another Esc closes it.
    key(&mut a, KeyCode::Esc);
    assert_eq!(a.mode(), Mode::WhatIf);
    key(&mut a, KeyCode::Esc);
    assert_eq!(a.mode(), Mode::Replay);
}

#[test]
fn edits_add_up_and_a_recorded_value_typed_back_leaves_the_edit() {
    let mut a = replay(None);
    if let Some(r) = a.replay.as_mut() {
        r.what_if = Some(WhatIf {
            patch: GuardPatch {
                max_error_ratio: Some(Some(2.0)),
                ..GuardPatch::default()
            },
            ..WhatIf::default()
        });
    }
    assert_eq!(a.what_if_thresholds().unwrap().max_error_ratio, Some(2.0));
    key(&mut a, KeyCode::Char('g'));
    // Row 3: max_p99, off in the recording.
    for _ in 0..3 {
        key(&mut a, KeyCode::Down);
    }
    key(&mut a, KeyCode::Enter);
    typed(&mut a, "50ms");
    let p = what_if(key(&mut a, KeyCode::Enter));
    assert_eq!(p.max_error_ratio, Some(Some(2.0)));
    assert!(p.max_p99.is_some());
    // max_error_ratio typed back to the recorded 1.25: no longer edited.
    if let Some(r) = a.replay.as_mut() {
        r.what_if.as_mut().unwrap().patch = p;
    }
    key(&mut a, KeyCode::Char('g'));
    key(&mut a, KeyCode::Enter);
    typed(&mut a, "1.25");
    let p = what_if(key(&mut a, KeyCode::Enter));
    assert_eq!(p.max_error_ratio, None);
    assert!(p.max_p99.is_some());
}

#[test]
fn on_breach_switches_at_once_and_x_clears() {
    let mut a = replay(None);
    key(&mut a, KeyCode::Char('g'));
    for _ in 0..GuardKey::ALL.len() - 1 {
        key(&mut a, KeyCode::Down);
    }
    let p = what_if(key(&mut a, KeyCode::Enter));
    assert_eq!(p.on_breach, Some(crate::plan::OnBreach::Pause));
    key(&mut a, KeyCode::Char('g'));
    assert!(what_if(key(&mut a, KeyCode::Char('x'))).is_empty());
    assert_eq!(a.popup, None);
}

#[test]
fn a_recording_without_samples_says_why() {
    let why = "recorded before per-second samples (format 1.0): cannot be backtested";
    let mut a = replay(Some(why));
    key(&mut a, KeyCode::Char('g'));
    assert_eq!(key(&mut a, KeyCode::Enter), None);
    assert_eq!(a.mode(), Mode::WhatIf, "no editor opens");
    assert_eq!(a.live_toast().unwrap().text, format!("✗ {why}"));
}
