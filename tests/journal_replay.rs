//! Headless replay: `final_state` ends where the recording ends, and
//! `cutover replay FILE --no-tui` prints that as JSON (or a clear refusal).

use crate::support::journal as support;

use cutover::journal::final_state;
use cutover::model::{Actor, Event, EventKind, Phase};
use std::process::Command;

fn write(dir: &tempfile::TempDir, events: &[Event]) -> std::path::PathBuf {
    let path = dir.path().join("rec.jsonl");
    std::fs::write(&path, support::to_text(&support::header(), events)).unwrap();
    path
}

#[test]
fn final_state_counts_what_happened() {
    let dir = tempfile::tempdir().unwrap();
    let mut events = support::recording(60);
    // A weight change after the last snapshot must show in the final state.
    let last = events.last().unwrap().at;
    events.push(Event {
        seq: 10_000,
        at: last + chrono::Duration::milliseconds(100),
        kind: EventKind::Weight {
            from: 0,
            to: 250,
            by: Actor::Cli,
            reason: None,
        },
    });
    let path = write(&dir, &events);
    let out = final_state(&path).unwrap();
    assert_eq!(out.service, "shop");
    assert_eq!(out.events, events.len());
    assert_eq!((out.breaches, out.actions, out.corrupt_lines), (1, 1, 0));
    assert_eq!(
        out.phases,
        vec![
            (Phase::Idle, Phase::Canary),
            (Phase::Canary, Phase::RollingBack),
            (Phase::RollingBack, Phase::Idle)
        ]
    );
    assert_eq!(out.duration_ms, 60_100);
    let state = out.state.unwrap();
    assert_eq!((state.phase, state.weight_permille), (Phase::Idle, 250));
}

#[test]
fn the_cli_prints_the_outcome_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, &support::recording(10));
    let out = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["replay", "--no-tui", "--speed", "3"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["state"]["phase"], "idle");
    assert_eq!(v["breaches"], 1);
    assert_eq!(
        v["phases"][1],
        serde_json::json!(["canary", "rolling_back"])
    );
}

#[test]
fn the_cli_refuses_a_newer_journal_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.jsonl");
    std::fs::write(
        &path,
        "{\"format\":\"cutover-journal\",\"version\":\"3.1\",\"service\":\"x\",\"started_at\":\"2026-03-01T12:00:00Z\"}\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["replay", "--no-tui"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("format version 3.1 is newer than this cutover understands (1.x)"),
        "{err}"
    );
}

/// Prints how long reading and playing a 60 s recording takes (measured, not
/// asserted: timings belong in reports, not in test verdicts).
#[test]
fn measure_a_60s_replay() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, &support::recording(60));
    let size = std::fs::metadata(&path).unwrap().len();
    let start = std::time::Instant::now();
    let out = final_state(&path).unwrap();
    let took = start.elapsed();
    eprintln!(
        "replayed a {} ms recording ({} events, {size} bytes) in {took:?}",
        out.duration_ms, out.events
    );
    assert_eq!(out.corrupt_lines, 0);
}
