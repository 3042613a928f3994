//! `cutover demo --no-tui` end to end, as CI runs it: the bad canary is
//! caught by the guard and rolled back, the recording says so, and nothing
//! the demo started is left behind — on the real Docker engine and with
//! local processes.

use cutover::journal::read_journal;
use cutover::model::{EventKind, Phase};
use std::process::Command;

fn run_demo(runtime: &str, record: &std::path::Path, marker: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args([
            "demo",
            "--no-tui",
            "--scenario",
            "bad",
            "--duration",
            "45s",
            "--runtime",
            runtime,
            "--record",
        ])
        .arg(record)
        .env("CUTOVER_DEMO_MARKER", marker)
        .output()
        .expect("cutover demo runs")
}

fn assert_rolled_back(out: &std::process::Output, record: &std::path::Path) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "demo failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("GUARD BREACH"), "{stdout}");
    let journal = read_journal(record).expect("the recording reads back");
    let breach = journal
        .events
        .iter()
        .any(|e| matches!(e.kind, EventKind::Breach { .. }));
    let rolled_back = journal.events.iter().any(|e| {
        matches!(
            e.kind,
            EventKind::Phase {
                from: Phase::RollingBack,
                to: Phase::Idle,
                ..
            }
        )
    });
    assert!(
        breach && rolled_back,
        "the journal records the breach and the rollback"
    );
}

/// Processes whose environment carries `marker` (the demo passes it on).
fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(env) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if env
            .split(|b| *b == 0)
            .any(|kv| kv == format!("CUTOVER_DEMO_MARKER={marker}").as_bytes())
        {
            found.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    found
}

#[test]
fn demo_bad_canary_is_rolled_back_with_processes() {
    let _turn = crate::support::one_demo_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("demo.jsonl");
    let marker = format!("process-{}", std::process::id());
    let out = run_demo("process", &record, &marker);
    assert_rolled_back(&out, &record);
    let me = std::process::id().to_string();
    let left: Vec<String> = processes_with(&marker)
        .into_iter()
        .filter(|p| *p != me)
        .collect();
    assert!(left.is_empty(), "demo processes left behind: {left:?}");
}

fn docker_containers_of_demo() -> Option<usize> {
    let out = Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            "label=cutover.service=cutover-demo",
        ])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).lines().count())
}

#[test]
fn demo_bad_canary_is_rolled_back_in_docker() {
    let reachable = Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success());
    if !reachable {
        assert!(
            std::env::var("CUTOVER_REQUIRE_DOCKER").as_deref() != Ok("1"),
            "Docker is required (CUTOVER_REQUIRE_DOCKER=1) but `docker info` fails"
        );
        eprintln!("skipping: no Docker engine reachable");
        return;
    }
    let _turn = crate::support::one_demo_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("demo.jsonl");
    let out = run_demo("docker", &record, "docker");
    assert_rolled_back(&out, &record);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("runtime docker"), "{stderr}");
    assert_eq!(
        docker_containers_of_demo(),
        Some(0),
        "demo containers left behind"
    );
}
