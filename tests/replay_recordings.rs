//! The shipped recordings, played in the cockpit: deterministic frames
//! (insta snapshots) at the end and at the guard breach, a fast replay,
//! the asciicast export, and `cutover replay` in a real terminal.

use crate::support::tmux;

use cutover::journal::read_journal;
use cutover::tui::keymap::Keymap;
use cutover::tui::{ReplayControl, ReplaySession, Theme, render_frame};
use std::path::Path;
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

fn session(name: &str, speed: f64) -> ReplaySession {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("recordings")
        .join(name);
    let journal = read_journal(&path).expect("the shipped recording reads");
    assert_eq!(journal.corrupt_lines, 0);
    ReplaySession::new(journal, name, Keymap::default(), Default::default(), speed)
}

fn frame(s: &mut ReplaySession, w: u16, h: u16) -> String {
    s.app_mut().set_size(w, h);
    let theme = Theme::load("dark", None, true).unwrap();
    text(&render_frame(s.app(), &theme, w, h))
}

#[test]
fn rollback_recording_frames() {
    let mut s = session("rollback.jsonl", 0.0);
    assert!(s.at_end());
    for (w, h) in [(120, 36), (80, 24)] {
        let f = frame(&mut s, w, h);
        assert!(f.contains("REPLAY"), "{f}");
        assert!(f.contains("GUARD BREACH"), "{f}");
        insta::assert_snapshot!(format!("rollback_end_{w}x{h}"), f);
    }
}

#[test]
fn promote_recording_frames() {
    let mut s = session("promote.jsonl", 0.0);
    for (w, h) in [(120, 36), (80, 24)] {
        let f = frame(&mut s, w, h);
        assert!(f.contains("REPLAY"), "{f}");
        insta::assert_snapshot!(format!("promote_end_{w}x{h}"), f);
    }
    // Seeking back lands mid-release, with the canary on screen.
    s.control(ReplayControl::Seek(-12));
    let f = frame(&mut s, 120, 36);
    assert!(f.contains("CANARY v2"), "{f}");
    insta::assert_snapshot!("promote_mid_120x36", f);
}

/// `--speed 100`: the whole recording plays in a fraction of its length.
#[test]
fn fast_replay_finishes_quickly() {
    let mut s = session("promote.jsonl", 100.0);
    let started = Instant::now();
    let mut frames = 0;
    while !s.at_end() {
        s.tick(Duration::from_millis(33));
        frames += 1;
        assert!(frames < 10_000, "the player never reached the end");
    }
    eprintln!(
        "replayed {:.1} s of recording at 64× (the cap) in {frames} frames, {:?} of CPU",
        s.duration().as_secs_f64(),
        started.elapsed()
    );
}

#[test]
fn export_writes_a_playable_cast() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rollback.cast");
    let journal = Path::new(env!("CARGO_MANIFEST_DIR")).join("recordings/rollback.jsonl");
    let report = cutover::journal::export::export(&journal, &out, 120, 36, None).unwrap();
    assert!(report.frames > 5);
    let text = std::fs::read_to_string(&out).unwrap();
    let header: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(
        (header["version"].as_u64(), header["width"].as_u64()),
        (Some(2), Some(120))
    );
    // Deterministic: the same recording gives the same bytes.
    let again = dir.path().join("again.cast");
    cutover::journal::export::export(&journal, &again, 120, 36, None).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&again).unwrap());
    assert!(cutover::journal::export::parse_size("60x20").is_err());
    if std::process::Command::new("asciinema")
        .arg("--version")
        .output()
        .is_ok()
    {
        let ok = std::process::Command::new("script")
            .args([
                "-qec",
                &format!("asciinema cat {}", out.display()),
                "/dev/null",
            ])
            .output()
            .unwrap();
        assert!(ok.status.success(), "asciinema cat reads the cast");
    } else {
        eprintln!("skipping the asciinema check: asciinema is not installed");
    }
}

#[test]
fn replay_in_a_real_terminal() {
    if !tmux::Tmux::available() {
        eprintln!("skipping: tmux is not installed");
        return;
    }
    let t = tmux::Tmux::new("cutover-replay", "replay");
    let rec = Path::new(env!("CARGO_MANIFEST_DIR")).join("recordings/rollback.jsonl");
    t.start(
        120,
        36,
        &format!(
            "exec {} replay {} --speed 4",
            env!("CARGO_BIN_EXE_cutover"),
            rec.display()
        ),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut screen = String::new();
    while Instant::now() < deadline {
        screen = t.screen();
        if screen.contains("REPLAY") && screen.contains("GUARD BREACH") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        screen.contains("REPLAY") && screen.contains("GUARD BREACH"),
        "{screen}"
    );
    t.keys(&["q"]);
    std::thread::sleep(Duration::from_millis(500));
    let after = t.run(&["list-panes", "-t", "replay", "-F", "#{pane_dead}"]);
    assert!(
        after.trim().is_empty() || after.trim() == "1",
        "the replay quit: {after:?}"
    );
}
