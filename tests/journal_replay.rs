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
        .args(["replay", "--no-tui"])
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

/// A headless replay of a fresh recording ends in the same state as the
/// live run: a real daemon (process runtime, demo app v1 ×2 / v2 ×1) takes
/// the canary through its steps to promotion under load; once the traffic
/// has stopped and been counted, its state view is compared with where a
/// replay of its journal ends — phase, weights, release, replicas and every
/// count — headless (`final_state`) and in the cockpit (`--speed 0`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_recording_replays_to_the_live_final_state() {
    use crate::support::release::{Harness, Kind, Steps};
    let Some(mut h) = Harness::start(Kind::Process, "", &Steps::quick(), 1000).await else {
        return;
    };
    h.wait_stable().await;
    let load = h.load(50.0);
    h.wait_promoted(std::time::Duration::from_secs(60)).await;
    let seen = load.stop().await;
    assert_eq!(seen.failed(), 0, "{seen:?}");
    // Wait until the last answers are counted (totals still for a second).
    let totals = |s: &cutover::model::StateView| {
        (
            s.stable.stats.total_requests,
            s.canary.as_ref().map(|c| c.stats.total_requests),
        )
    };
    let mut last = totals(&h.state().await);
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
        let now = totals(&h.state().await);
        if now == last {
            break;
        }
        last = now;
    }
    let journal = h.daemon().journal_path();
    let daemon = h.daemon.take().unwrap();
    let live = daemon.controller.state();
    daemon.stop().await;

    let out = final_state(&journal).unwrap();
    assert_eq!((out.corrupt_lines, out.truncated_tail), (0, false));
    let replayed = out.state.expect("the recording holds a snapshot");
    let session = cutover::tui::ReplaySession::new(
        cutover::journal::read_journal(&journal).unwrap(),
        "fresh.jsonl",
        cutover::tui::keymap::Keymap::default(),
        Default::default(),
        0.0,
    );
    let cockpit = session
        .app()
        .state
        .clone()
        .expect("the cockpit has a state");
    for (name, r) in [("headless", &replayed), ("cockpit", &cockpit)] {
        assert_same_outcome(&live, r, name);
    }
    assert_eq!(live.phase, Phase::Idle);
    assert_eq!(live.stable.version, "v2");
    assert!(live.stable.stats.total_requests > 0);
    h.finish().await;
}

/// Phase, weight, release, versions, replicas (id and status) and every
/// lifetime count agree; windowed figures (rates, in-flight) are of their
/// moment and are not compared.
fn assert_same_outcome(
    live: &cutover::model::StateView,
    r: &cutover::model::StateView,
    name: &str,
) {
    assert_eq!(
        (r.phase, r.weight_permille, r.release),
        (live.phase, live.weight_permille, live.release),
        "{name}: phase, weight, release"
    );
    assert_eq!(r.step, live.step, "{name}: step");
    assert_eq!(r.last_breach, live.last_breach, "{name}: last breach");
    let versions = |s: &cutover::model::StateView| {
        std::iter::once(&s.stable)
            .chain(s.canary.as_ref())
            .map(|v| {
                (
                    v.role,
                    v.version.clone(),
                    v.image.clone(),
                    v.replicas
                        .iter()
                        .map(|r| (r.id.clone(), r.status))
                        .collect::<Vec<_>>(),
                    v.stats.total_requests,
                    v.stats.total_errors,
                    v.stats.total_aborted,
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(versions(r), versions(live), "{name}: versions and counts");
}
