//! The replay's "what if": `g` in the replay cockpit opens the guard panel
//! over the recorded thresholds, an edit sends nothing and marks on the
//! timeline where the edited thresholds would have tripped (◇, ◈ on the
//! recorded breach), with a line next to what was recorded. Frames at
//! 80×24 and 160×48 (insta), and the same keys in a real terminal.

use crate::support::tmux::Tmux;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use cutover::journal::read_journal;
use cutover::tui::keymap::{Keymap, Mode};
use cutover::tui::{Effect, ReplaySession, Theme, render_frame};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn text(buf: &ratatui::buffer::Buffer) -> String {
    let area = buf.area;
    let mut out = String::new();
    for y in area.top()..area.bottom() {
        let mut line = String::new();
        for x in area.left()..area.right() {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A recording in the replay cockpit, at its end.
fn at_end(rel: &str) -> ReplaySession {
    let journal = read_journal(&path(rel)).expect("the recording reads");
    let name = Path::new(rel).file_name().unwrap().to_str().unwrap();
    ReplaySession::new(journal, name, Keymap::default(), Default::default(), 0.0)
}

fn frame(s: &mut ReplaySession, w: u16, h: u16) -> String {
    s.app_mut().set_size(w, h);
    let theme = Theme::load("dark", None, true).unwrap();
    text(&render_frame(s.app(), &theme, w, h))
}

/// Keys as the cockpit gets them; a "what if" goes to the session as the
/// replay loop sends it. Nothing else may come out: nothing is sent.
fn keys(s: &mut ReplaySession, keys: &[KeyCode]) {
    for &k in keys {
        match s.app_mut().handle_key(KeyEvent::new(k, KeyModifiers::NONE)) {
            None => {}
            Some(Effect::WhatIf(p)) => s.what_if(p),
            Some(other) => panic!("{k:?} asked for {other:?}"),
        }
    }
}

fn typed(t: &str) -> Vec<KeyCode> {
    t.chars().map(KeyCode::Char).collect()
}

/// Edit the threshold on row `row` of the panel to `value`.
fn edit(s: &mut ReplaySession, row: usize, value: &str) {
    keys(s, &[KeyCode::Char('g')]);
    keys(s, &vec![KeyCode::Down; row]);
    keys(s, &[KeyCode::Enter]);
    keys(s, &typed(value));
    keys(s, &[KeyCode::Enter]);
}

/// The rollback's own guard, a little more tolerant: it still trips where
/// the recorded breach is (◈), and the line says so.
#[test]
fn a_tolerant_error_guard_still_catches_the_bad_canary() {
    let mut s = at_end("recordings/rollback.jsonl");
    edit(&mut s, 0, "2");
    assert_eq!(s.app().mode(), Mode::Replay, "the panel closed");
    for (w, h) in [(80, 24), (160, 48)] {
        let f = frame(&mut s, w, h);
        assert!(f.contains("◇ with max_error_ratio ×2.00: trips at"), "{f}");
        assert!(f.contains("(recorded: breach at"), "{f}");
        assert!(f.contains('◈'), "{f}");
        insta::assert_snapshot!(format!("what_if_rollback_ratio2_{w}x{h}"), f);
    }
    // Opened again, the panel shows the edited limit, marked.
    keys(&mut s, &[KeyCode::Char('g')]);
    let f = frame(&mut s, 120, 36);
    assert!(f.contains("×2.00 ◇"), "{f}");
    keys(&mut s, &[KeyCode::Esc]);
    assert_eq!(s.app().mode(), Mode::Replay);
}

/// A p99 ceiling below what the good canary served would have rolled it
/// back: a ◇ where no breach was recorded.
#[test]
fn a_tight_p99_ceiling_would_have_rolled_the_good_canary_back() {
    let mut s = at_end("recordings/promote.jsonl");
    edit(&mut s, 3, "1ms");
    for (w, h) in [(80, 24), (160, 48)] {
        let f = frame(&mut s, w, h);
        assert!(f.contains("◇ with max_p99 1ms: trips at"), "{f}");
        assert!(f.contains("(recorded: promoted at"), "{f}");
        assert!(f.contains('◇') && !f.contains('✗'), "{f}");
        insta::assert_snapshot!(format!("what_if_promote_p99_{w}x{h}"), f);
    }
    // x clears it: the timeline is the recording's again.
    keys(&mut s, &[KeyCode::Char('g'), KeyCode::Char('x')]);
    let f = frame(&mut s, 80, 24);
    assert!(!f.contains('◇'), "{f}");
}

/// The panel in its "what if" form, while a threshold is typed.
#[test]
fn the_what_if_panel_while_typing() {
    let mut s = at_end("recordings/rollback.jsonl");
    keys(&mut s, &[KeyCode::Char('g'), KeyCode::Enter]);
    keys(&mut s, &typed("off"));
    assert_eq!(s.app().mode(), Mode::WhatIfEdit);
    let f = frame(&mut s, 80, 24);
    assert!(f.contains("what if — nothing is sent"), "{f}");
    assert!(f.contains("new errors vs stable › off"), "{f}");
    insta::assert_snapshot!("what_if_panel_typing_80x24", f);
    keys(&mut s, &[KeyCode::Enter]);
    let f = frame(&mut s, 80, 24);
    assert!(
        f.contains("◇ with max_error_ratio off: no trip (recorded: breach at"),
        "{f}"
    );
}

/// A 1.0 recording still plays in the cockpit; its "what if" says why it
/// cannot be judged again.
#[test]
fn an_old_recording_plays_and_says_why_it_cannot_be_judged() {
    let mut s = at_end("tests/fixtures/journals/rollback-1.0.jsonl");
    let f = frame(&mut s, 120, 36);
    assert!(f.contains("REPLAY") && f.contains("GUARD BREACH"), "{f}");
    keys(&mut s, &[KeyCode::Char('g'), KeyCode::Enter]);
    assert_eq!(s.app().mode(), Mode::WhatIf, "no editor opens");
    let f = frame(&mut s, 120, 36);
    assert!(
        f.contains("recorded before per-second samples (format 1.0)"),
        "{f}"
    );
}

/// The same keys in `cutover replay` in a real terminal.
#[test]
fn what_if_in_a_real_terminal() {
    if !Tmux::available() {
        eprintln!("skipping: tmux is not installed");
        return;
    }
    let t = Tmux::new("cutover-what-if", "whatif");
    t.start(
        120,
        36,
        &format!(
            "exec {} replay {} --speed 0",
            env!("CARGO_BIN_EXE_cutover"),
            path("recordings/rollback.jsonl").display()
        ),
    );
    let wait = |what: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = t.screen();
            if screen.contains(what) {
                return screen;
            }
            assert!(Instant::now() < deadline, "no {what:?} on\n{screen}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait("■ end");
    t.keys(&["g"]);
    wait("what if — nothing is sent");
    t.keys(&["Enter"]);
    wait("new errors vs stable ›");
    t.keys(&["o", "f", "f", "Enter"]);
    let screen = wait("◇ with max_error_ratio off: no trip (recorded: breach at");
    assert!(!screen.contains("what if — nothing is sent"), "{screen}");
    t.keys(&["q"]);
}
