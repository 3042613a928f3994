//! The shipped recordings, played in the cockpit: they tell the whole story,
//! deterministic frames (insta snapshots) at the end and at the guard
//! breach, a replay header that counts what was skipped, a fast replay, the
//! asciicast export (the shipped casts current and readable by `asciinema
//! cat`), and `cutover replay` in a real terminal.

use crate::support::tmux;

use cutover::journal::read_journal;
use cutover::model::{EventKind, Phase};
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

/// `--speed 100` is 100×, not capped: at 33 ms frames each frame plays
/// 3.3 s of recording, so the whole recording takes exactly
/// ceil(duration / 3.3 s) frames (a minute in 19 frames, well under 1 s).
#[test]
fn fast_replay_finishes_quickly() {
    let mut s = session("promote.jsonl", 100.0);
    assert_eq!(s.speed, 100.0);
    let started = Instant::now();
    let mut frames = 0u64;
    while !s.at_end() {
        s.tick(Duration::from_millis(33));
        frames += 1;
        assert!(frames < 10_000, "the player never reached the end");
    }
    let ms = s.duration().as_millis() as u64;
    assert_eq!(frames, ms.div_ceil(3300), "{ms} ms of recording");
    eprintln!(
        "replayed {:.1} s of recording at 100× in {frames} frames ({:.2} s of frame clock), {:?} of CPU",
        s.duration().as_secs_f64(),
        frames as f64 * 0.033,
        started.elapsed()
    );
}

fn recording(name: &str) -> cutover::journal::Journal {
    read_journal(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("recordings")
            .join(name),
    )
    .unwrap()
}

fn offset_of(j: &cutover::journal::Journal, pick: impl Fn(&EventKind) -> bool) -> Option<f64> {
    let t0 = j.events[0].at;
    j.events
        .iter()
        .find(|e| pick(&e.kind))
        .map(|e| (e.at - t0).num_milliseconds() as f64 / 1000.0)
}

/// The shipped rollback recording tells the whole story: stable serving
/// alone, the canary deployed and warmed, its first steps, the breach, the
/// rollback, and stable alone again — at least 30 s of it.
#[test]
fn the_rollback_recording_covers_the_whole_story() {
    let j = recording("rollback.jsonl");
    let end = (j.events.last().unwrap().at - j.events[0].at).num_seconds();
    assert!(end >= 30, "{end} s");
    let deploy = offset_of(&j, |k| {
        matches!(
            k,
            EventKind::Phase {
                to: Phase::Deploying,
                ..
            }
        )
    })
    .unwrap();
    let canary = offset_of(&j, |k| {
        matches!(
            k,
            EventKind::Phase {
                from: Phase::Warming,
                to: Phase::Canary,
                ..
            }
        )
    })
    .unwrap();
    let step2 = offset_of(&j, |k| matches!(k, EventKind::Weight { to: 250, .. })).unwrap();
    let breach = offset_of(&j, |k| matches!(k, EventKind::Breach { .. })).unwrap();
    let idle = offset_of(&j, |k| {
        matches!(
            k,
            EventKind::Phase {
                from: Phase::RollingBack,
                to: Phase::Idle,
                ..
            }
        )
    })
    .unwrap();
    assert!(deploy >= 4.0, "stable serves alone first ({deploy} s)");
    assert!(deploy < canary && canary < step2 && step2 < breach && breach <= idle);
    assert!(end as f64 - idle >= 10.0, "stable alone again afterwards");
}

/// The promote recording runs through every step to the promotion.
#[test]
fn the_promote_recording_covers_every_step() {
    let j = recording("promote.jsonl");
    let weights: Vec<u16> = j
        .events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Weight { to, .. } => Some(to),
            _ => None,
        })
        .collect();
    assert_eq!(weights, vec![100, 250, 500, 1000, 0]);
    assert!(
        offset_of(&j, |k| matches!(
            k,
            EventKind::Phase {
                from: Phase::Promoting,
                to: Phase::Idle,
                ..
            }
        ))
        .is_some()
    );
}

/// The frame right after the guard's breach: the banner, the weight at 0.
#[test]
fn rollback_recording_breach_frame() {
    let j = recording("rollback.jsonl");
    let breach = offset_of(&j, |k| matches!(k, EventKind::Breach { .. })).unwrap();
    let mut s = session("rollback.jsonl", 1.0);
    s.paused = true;
    s.control(ReplayControl::Seek(breach.ceil() as i64));
    let f = frame(&mut s, 120, 36);
    assert!(f.contains("GUARD BREACH"), "{f}");
    assert!(f.contains("paused"), "{f}");
    insta::assert_snapshot!("rollback_breach_120x36", f);
}

/// A journal with corrupt lines and a torn last line (a daemon killed
/// mid-write) still plays; the replay header says what was skipped.
#[test]
fn replay_header_counts_corrupt_lines_and_a_truncated_tail() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("recordings/rollback.jsonl"),
    )
    .unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(5, "{\"seq\": oops");
    lines.insert(9, "\u{1}\u{2} not json at all");
    lines.insert(12, "{\"type\":\"weight\",\"seq\":\"x\"}");
    let mut damaged = lines.join("\n");
    damaged.push_str("\n{\"seq\":99999,\"at\":\"2026-");
    let journal = cutover::journal::parse_journal(&damaged).unwrap();
    assert_eq!((journal.corrupt_lines, journal.truncated_tail), (3, true));
    let mut s = ReplaySession::new(
        journal,
        "damaged.jsonl",
        Keymap::default(),
        Default::default(),
        0.0,
    );
    let f = frame(&mut s, 120, 36);
    assert!(
        f.contains("(3 corrupt lines skipped, last line truncated)"),
        "{f}"
    );
    let header: String = f.lines().take(6).collect::<Vec<_>>().join("\n");
    insta::assert_snapshot!("replay_header_damaged_journal", header);
}

/// The shipped `.cast` files are what `cutover export` makes of the shipped
/// recordings today (re-exported, not stale), and `asciinema cat` reads them.
#[test]
fn shipped_casts_are_current_and_asciinema_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["rollback", "promote"] {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("recordings");
        let shipped = root.join(format!("{name}.cast"));
        let fresh = dir.path().join(format!("{name}.cast"));
        cutover::journal::export::export(
            &root.join(format!("{name}.jsonl")),
            &fresh,
            120,
            36,
            None,
        )
        .unwrap();
        let (a, b) = (
            std::fs::read_to_string(&shipped).unwrap(),
            std::fs::read_to_string(&fresh).unwrap(),
        );
        // The title names the path it was exported from; the rest is equal.
        let header = |t: &str| {
            let mut h: serde_json::Value = serde_json::from_str(t.lines().next().unwrap()).unwrap();
            h.as_object_mut().unwrap().remove("title");
            h
        };
        assert_eq!(header(&a), header(&b), "{name}.cast header");
        assert!(
            a.lines().skip(1).eq(b.lines().skip(1)),
            "recordings/{name}.cast is stale: run scripts/record-demos.sh"
        );
        if !asciinema_installed() {
            eprintln!(
                "skipping `asciinema cat {name}.cast`: asciinema is not installed (apt-get install asciinema)"
            );
            continue;
        }
        let out = asciinema_cat(&shipped);
        assert!(
            out.status.success(),
            "asciinema cat {name}.cast failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("REPLAY"));
    }
}

fn asciinema_installed() -> bool {
    std::process::Command::new("asciinema")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `asciinema cat` opens /dev/tty: give it a pseudo-terminal with util-linux
/// `script` (-e: its exit code is asciinema's).
fn asciinema_cat(path: &Path) -> std::process::Output {
    std::process::Command::new("script")
        .args([
            "-qec",
            &format!("asciinema cat '{}'", path.display()),
            "/dev/null",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
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
    if asciinema_installed() {
        let ok = asciinema_cat(&out);
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
