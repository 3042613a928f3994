//! Key → command for the whole table, and rebinding from the config file.

use super::*;
use crossterm::event::KeyEventState;
use std::collections::BTreeMap;

fn k(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn km(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
    KeyEvent::new(code, mods)
}

/// Every default binding, spelled as the events a terminal sends.
///
/// Long on purpose: one row per binding, a table read top to bottom; split,
/// it would only be harder to check against the keymap.
#[test]
fn every_default_key_maps_to_its_command() {
    use Command as C;
    use KeyCode as K;
    use Mode as M;
    let shift = KeyModifiers::SHIFT;
    let ctrl = KeyModifiers::CONTROL;
    let none = KeyModifiers::NONE;
    let cases: &[(Mode, KeyCode, KeyModifiers, Command)] = &[
        (M::Live, K::Left, none, C::WeightDown),
        (M::Live, K::Right, none, C::WeightUp),
        (M::Live, K::Left, shift, C::WeightDownBig),
        (M::Live, K::Right, shift, C::WeightUpBig),
        (M::Live, K::Char('0'), none, C::WeightDigit),
        (M::Live, K::Char('7'), none, C::WeightDigit),
        (M::Live, K::Char('p'), none, C::Promote),
        (M::Live, K::Char('r'), none, C::Rollback),
        (M::Live, K::Char('d'), none, C::Drain),
        (M::Live, K::Char(' '), none, C::PauseResume),
        (M::Live, K::Char('g'), none, C::Guards),
        // Terminals send uppercase letters with or without SHIFT.
        (M::Live, K::Char('L'), shift, C::Logs),
        (M::Live, K::Char('L'), none, C::Logs),
        (M::Live, K::Tab, none, C::Focus),
        (M::Live, K::Up, none, C::ScrollUp),
        (M::Live, K::Char('k'), none, C::ScrollUp),
        (M::Live, K::Down, none, C::ScrollDown),
        (M::Live, K::Char('j'), none, C::ScrollDown),
        (M::Live, K::Char('a'), none, C::Ack),
        (M::Live, K::Char('n'), none, C::NewCanary),
        (M::Live, K::Char('s'), none, C::Scale),
        (M::Live, K::Char('z'), none, C::Resize),
        (M::Live, K::Char('u'), none, C::Undo),
        (M::Live, K::Char('?'), shift, C::Help),
        (M::Live, K::Char('q'), none, C::Quit),
        (M::Live, K::Char('c'), ctrl, C::Quit),
        (M::Replay, K::Char(' '), none, C::ReplayPause),
        (M::Replay, K::Char('-'), none, C::SpeedDown),
        (M::Replay, K::Char('+'), shift, C::SpeedUp),
        (M::Replay, K::Char('='), none, C::SpeedUp),
        (M::Replay, K::Left, none, C::SeekBack),
        (M::Replay, K::Right, none, C::SeekForward),
        (M::Replay, K::Tab, none, C::Focus),
        (M::Replay, K::Up, none, C::ScrollUp),
        (M::Replay, K::Down, none, C::ScrollDown),
        (M::Replay, K::Char('a'), none, C::Ack),
        (M::Replay, K::Char('?'), none, C::Help),
        (M::Replay, K::Char('q'), none, C::Quit),
        (M::Replay, K::Char('c'), ctrl, C::Quit),
        (M::Replay, K::Char('g'), none, C::Guards),
        (M::WeightEntry, K::Char('5'), none, C::WeightDigit),
        (M::WeightEntry, K::Char('.'), none, C::WeightDigit),
        (M::WeightEntry, K::Backspace, none, C::Backspace),
        (M::WeightEntry, K::Enter, none, C::Apply),
        (M::WeightEntry, K::Esc, none, C::Cancel),
        (M::Confirm, K::Enter, none, C::Confirm),
        (M::Confirm, K::Char('y'), none, C::Confirm),
        (M::Confirm, K::Esc, none, C::Cancel),
        (M::Confirm, K::Char('n'), none, C::Cancel),
        (M::Help, K::Up, none, C::ScrollUp),
        (M::Help, K::Down, none, C::ScrollDown),
        (M::Help, K::Esc, none, C::Close),
        (M::Help, K::Char('?'), none, C::Close),
        (M::Help, K::Char('q'), none, C::Close),
        (M::DrainPicker, K::Up, none, C::Up),
        (M::DrainPicker, K::Down, none, C::Down),
        (M::DrainPicker, K::Tab, none, C::Down),
        (M::DrainPicker, K::Enter, none, C::Select),
        (M::DrainPicker, K::Esc, none, C::Cancel),
        (M::Guards, K::Up, none, C::Up),
        (M::Guards, K::Char('k'), none, C::Up),
        (M::Guards, K::Down, none, C::Down),
        (M::Guards, K::Char('j'), none, C::Down),
        (M::Guards, K::Tab, none, C::Down),
        (M::Guards, K::Enter, none, C::Select),
        (M::Guards, K::Char('m'), none, C::ToggleMute),
        (M::Guards, K::Esc, none, C::Close),
        (M::Guards, K::Char('g'), none, C::Close),
        (M::GuardEdit, K::Enter, none, C::Apply),
        (M::GuardEdit, K::Backspace, none, C::Backspace),
        (M::GuardEdit, K::Esc, none, C::Cancel),
        (M::Logs, K::Up, none, C::ScrollUp),
        (M::Logs, K::Down, none, C::ScrollDown),
        (M::Logs, K::Tab, none, C::Focus),
        (M::Logs, K::Char('L'), none, C::Close),
        (M::Logs, K::Esc, none, C::Close),
        (M::Reason, K::Enter, none, C::Apply),
        (M::Reason, K::Backspace, none, C::Backspace),
        (M::Reason, K::Esc, none, C::Cancel),
        (M::WhatIf, K::Up, none, C::Up),
        (M::WhatIf, K::Down, none, C::Down),
        (M::WhatIf, K::Tab, none, C::Down),
        (M::WhatIf, K::Enter, none, C::Select),
        (M::WhatIf, K::Char('x'), none, C::ClearWhatIf),
        (M::WhatIf, K::Esc, none, C::Close),
        (M::WhatIf, K::Char('g'), none, C::Close),
        (M::WhatIfEdit, K::Enter, none, C::Apply),
        (M::WhatIfEdit, K::Backspace, none, C::Backspace),
        (M::WhatIfEdit, K::Esc, none, C::Cancel),
        (M::DeployPrompt, K::Tab, none, C::Complete),
        (M::DeployPrompt, K::Enter, none, C::Apply),
        (M::DeployPrompt, K::Backspace, none, C::Backspace),
        (M::DeployPrompt, K::Esc, none, C::Cancel),
        (M::ScalePrompt, K::Enter, none, C::Apply),
        (M::ScalePrompt, K::Backspace, none, C::Backspace),
        (M::ScalePrompt, K::Esc, none, C::Cancel),
        (M::ResizePrompt, K::Tab, none, C::Complete),
        (M::ResizePrompt, K::Enter, none, C::Apply),
        (M::ResizePrompt, K::Backspace, none, C::Backspace),
        (M::ResizePrompt, K::Esc, none, C::Cancel),
        (M::TypedConfirm, K::Enter, none, C::Confirm),
        (M::TypedConfirm, K::Backspace, none, C::Backspace),
        (M::TypedConfirm, K::Esc, none, C::Cancel),
    ];
    let map = Keymap::default();
    for (mode, code, mods, want) in cases {
        assert_eq!(
            map.lookup(*mode, &km(*code, *mods)),
            Some(*want),
            "{mode:?} {code:?} {mods:?}"
        );
    }
    // Every binding of the table is exercised above.
    for b in &map.bindings {
        assert!(
            cases
                .iter()
                .any(|(m, _, _, c)| *m == b.mode && *c == b.command),
            "{:?} {:?} has no test case",
            b.mode,
            b.command
        );
    }
}

#[test]
fn keys_outside_the_table_and_releases_mean_nothing() {
    let map = Keymap::default();
    assert_eq!(map.lookup(Mode::Live, &k(KeyCode::Char('x'))), None);
    // Action keys do nothing in replay: it is read-only (`g` opens the
    // replay's own "what if", which sends nothing).
    for c in ['p', 'r', 'd', 'L', '5', 'm', 'n', 's', 'z', 'u'] {
        assert_eq!(map.lookup(Mode::Replay, &k(KeyCode::Char(c))), None, "{c}");
    }
    // Only y/Enter confirm: a stray key is not a yes.
    assert_eq!(map.lookup(Mode::Confirm, &k(KeyCode::Char('p'))), None);
    // Where the service name is typed, every letter is a letter: y is no
    // yes and n no no (a service may be called "ny").
    for c in ['y', 'n', 'q', 'u'] {
        assert_eq!(map.lookup(Mode::TypedConfirm, &k(KeyCode::Char(c))), None);
        assert_eq!(map.lookup(Mode::DeployPrompt, &k(KeyCode::Char(c))), None);
        assert_eq!(map.lookup(Mode::ResizePrompt, &k(KeyCode::Char(c))), None);
    }
    let mut release = k(KeyCode::Char('q'));
    release.kind = KeyEventKind::Release;
    release.state = KeyEventState::NONE;
    assert_eq!(map.lookup(Mode::Live, &release), None);
    // Ctrl+p is not p.
    assert_eq!(
        map.lookup(Mode::Live, &km(KeyCode::Char('p'), KeyModifiers::CONTROL)),
        None
    );
}

#[test]
fn rebinding_moves_the_key_in_handling_footer_and_help() {
    let mut o = BTreeMap::new();
    o.insert("promote".to_string(), "P".to_string());
    o.insert("weight_up_big".to_string(), "ctrl+right".to_string());
    o.insert("quit".to_string(), "f10".to_string());
    let map = Keymap::with_overrides(&o).unwrap();
    assert_eq!(
        map.lookup(Mode::Live, &k(KeyCode::Char('P'))),
        Some(Command::Promote)
    );
    assert_eq!(
        map.lookup(Mode::Live, &km(KeyCode::Char('P'), KeyModifiers::SHIFT)),
        Some(Command::Promote)
    );
    assert_eq!(map.lookup(Mode::Live, &k(KeyCode::Char('p'))), None);
    assert_eq!(
        map.lookup(Mode::Live, &km(KeyCode::Right, KeyModifiers::CONTROL)),
        Some(Command::WeightUpBig)
    );
    assert_eq!(
        map.lookup(Mode::Live, &km(KeyCode::Right, KeyModifiers::SHIFT)),
        None
    );
    assert_eq!(
        map.lookup(Mode::Live, &k(KeyCode::F(10))),
        Some(Command::Quit)
    );
    assert_eq!(
        map.lookup(Mode::Replay, &k(KeyCode::F(10))),
        Some(Command::Quit)
    );
    assert_eq!(map.lookup(Mode::Live, &k(KeyCode::Char('q'))), None);
    let footer = map.footer(Mode::Live);
    assert!(footer.contains(&("P".to_string(), "promote")), "{footer:?}");
    assert!(footer.contains(&("F10".to_string(), "quit")), "{footer:?}");
    let help = map.help(&[Mode::Live]);
    assert!(
        help[0].1.contains(&("^→".to_string(), "canary +10 %")),
        "{help:?}"
    );
}

/// `u`, `n`, `s` and `z` rebind like every key: handling, help and the
/// canary panel's hint follow (`undo = "U"`).
#[test]
fn the_acting_keys_rebind_too() {
    let mut o = BTreeMap::new();
    o.insert("undo".to_string(), "U".to_string());
    o.insert("new_canary".to_string(), "N".to_string());
    let map = Keymap::with_overrides(&o).unwrap();
    assert_eq!(
        map.lookup(Mode::Live, &k(KeyCode::Char('U'))),
        Some(Command::Undo)
    );
    assert_eq!(map.lookup(Mode::Live, &k(KeyCode::Char('u'))), None);
    assert_eq!(map.key_for(Mode::Live, Command::NewCanary).unwrap(), "N");
    // A clash with another key of the cockpit is refused by name.
    o.insert("scale".to_string(), "p".to_string());
    let e = Keymap::with_overrides(&o).unwrap_err().to_string();
    assert!(e.contains("scale") && e.contains("promote"), "{e}");
}

#[test]
fn rebinding_errors_name_the_key() {
    let one = |name: &str, key: &str| {
        let mut o = BTreeMap::new();
        o.insert(name.to_string(), key.to_string());
        Keymap::with_overrides(&o).unwrap_err().to_string()
    };
    let e = one("promte", "P");
    assert!(e.contains("promte") && e.contains("promote"), "{e}");
    let e = one("promote", "hyper+x");
    assert!(e.contains("hyper"), "{e}");
    let e = one("promote", "r");
    assert!(e.contains("rollback"), "{e}");
}

#[test]
fn footer_pairs_neighbours_and_key_spelling_round_trips() {
    let map = Keymap::default();
    let footer = map.footer(Mode::Live);
    assert_eq!(footer[0], ("←/→".to_string(), "±1 %"));
    for s in [
        "P",
        "shift+left",
        "ctrl+c",
        "space",
        "enter",
        "esc",
        "f1",
        "-",
        "+",
        "?",
    ] {
        KeyPattern::parse(s).unwrap();
    }
    assert_eq!(KeyPattern::parse("shift+left").unwrap().display(), "⇧←");
    assert_eq!(
        KeyPattern::parse("shift+p").unwrap(),
        KeyPattern::parse("P").unwrap()
    );
}
