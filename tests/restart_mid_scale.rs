//! `cutover up` (the real binary, process runtime, demo-app replicas)
//! killed with SIGKILL in the middle of `scale stable N`, or handed over
//! with `up --takeover` after a replica died, and started again on the
//! same state directory: the next daemon converges on the count on record.
//! Up: the replicas the kill cut short are removed as orphans and the
//! missing ones started again, joining the pool once healthy; a replica
//! that died while no daemon watched is replaced (one that dies while a
//! daemon runs is replaced by that daemon, and a takeover then adopts the
//! full count). Down: the replicas a
//! cut-short scale-down was draining are retired again, the oldest stays.
//! Across a takeover, the test's own load loses no request meanwhile.
//!
//! Every replica binds its port 2 s after it starts (`--startup-delay`,
//! past the process runtime's 1 s settle wait), so a scale-up is still
//! starting its replicas when the daemon is killed.

use crate::support::mixed_load::MixedLoad;
use crate::support::up::Up;
use crate::support::wait::poll;
use cutover::api::client::Client;
use cutover::model::{Action, ActionRequest, Actor, Role, StateView};
use std::time::Duration;

fn plan(service: &str) -> String {
    let exe = env!("CARGO_BIN_EXE_cutover");
    format!(
        r#"service = "{service}"
runtime = "process"
[listen]
public = "127.0.0.1:0"
admin = "127.0.0.1:0"
[stable]
version = "v1"
command = [{exe:?}, "demo-app", "--bind", "127.0.0.1", "--port", "{{port}}", "--version", "v1@{{port}}", "--latency", "5ms", "--startup-delay", "2s"]
[health]
interval = "100ms"
timeout = "100ms"
healthy_after = 1
[drain]
timeout = "10s"
stop_grace = "2s"
"#
    )
}

async fn scale(client: &Client, replicas: u32) -> String {
    let req = ActionRequest {
        action: Action::Scale {
            role: Role::Stable,
            replicas,
        },
        by: Actor::Cli,
        reason: Some("test".into()),
    };
    client.act(&req).await.expect("scale accepted").detail
}

/// Exactly `n` stable replicas, all healthy (in the pool), none on its
/// way in or out.
fn exactly(s: &StateView, n: usize) -> bool {
    s.stable.replicas.len() == n && s.stable.healthy() == n
}

async fn processes_become(up: &Up, n: usize) {
    let count = || async { (up.replica_pids(Some("stable")).len() == n).then_some(()) };
    poll(Duration::from_secs(20), Duration::from_millis(50), count)
        .await
        .unwrap_or_else(|| {
            panic!(
                "{} stable processes, not {n}:\n{}",
                up.replica_pids(Some("stable")).len(),
                up.all_stderr()
            )
        });
}

/// Wait for the journal (flushed every second, continued across
/// restarts) to say `line`.
async fn journal_says(up: &Up, line: &str) {
    let file = up.state().join("journal.jsonl");
    let said = || async {
        let text = std::fs::read_to_string(&file).ok()?;
        text.contains(line).then_some(())
    };
    poll(Duration::from_secs(20), Duration::from_millis(100), said)
        .await
        .unwrap_or_else(|| panic!("the journal never said {line:?}:\n{}", up.all_stderr()));
}

/// SIGKILL the daemon, then start it again on the same state; a client
/// of the new one.
async fn kill_and_restart(up: &mut Up, before_restart: impl FnOnce(&Up)) -> Client {
    up.kill9();
    before_restart(up);
    // The dead daemon's address file would send the client to it.
    let _ = std::fs::remove_file(up.state().join("admin.addr"));
    up.spawn(&[]);
    up.client(30).await
}

/// SIGKILL one replica's process group (`pid:N`): it dies unannounced.
fn kill_replica(id: &str) {
    let pid: i32 = id.strip_prefix("pid:").unwrap().parse().unwrap();
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_scale_up_starts_the_missing_replicas_on_restart() {
    let mut up = Up::start("scaleup-kill", &plan("scaleup-kill"), &[]);
    let client = up.client(30).await;
    up.until(&client, 30, "stable healthy", |s| exactly(s, 1))
        .await;
    assert_eq!(scale(&client, 3).await, "stable replicas 1 → 3");
    // The record says 3 (the answer waits for it to be on disk); the two
    // new replicas are still settling.
    let client = kill_and_restart(&mut up, |_| {}).await;
    journal_says(&up, "restart: stable runs 1 of 3 replicas: starting 2").await;
    let s = up
        .until(&client, 30, "three healthy", |s| exactly(s, 3))
        .await;
    // What the cut-short start left is gone: three processes, no more.
    processes_become(&up, 3).await;

    // A replica dies while no daemon runs.
    let victim = s.stable.replicas[1].id.clone();
    let client = kill_and_restart(&mut up, |_| kill_replica(&victim)).await;
    journal_says(&up, "restart: stable runs 2 of 3 replicas: starting 1").await;
    let s = up
        .until(&client, 30, "three healthy again", |s| exactly(s, 3))
        .await;
    assert!(s.stable.replicas.iter().all(|r| r.id != victim));
    processes_become(&up, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_drain_retires_the_extra_replicas_on_restart() {
    let mut up = Up::start("scaledown-kill", &plan("scaledown-kill"), &[]);
    let client = up.client(30).await;
    let s = up
        .until(&client, 30, "stable healthy", |s| exactly(s, 1))
        .await;
    let oldest = s.stable.replicas[0].id.clone();
    scale(&client, 3).await;
    up.until(&client, 30, "three healthy", |s| exactly(s, 3))
        .await;
    // Slow requests on every replica hold the scale-down's drain open.
    let public = client.state().await.unwrap().public_addr;
    let http = crate::support::http();
    for _ in 0..12 {
        let url = format!("http://{public}/slow?ms=8000");
        let http = http.clone();
        tokio::spawn(async move { http.get(url).send().await.ok() });
    }
    up.until(&client, 10, "the slow requests in flight", |s| {
        s.stable.stats.in_flight >= 12
    })
    .await;
    assert_eq!(scale(&client, 1).await, "stable replicas 3 → 1");
    let draining = up
        .until(&client, 5, "two draining", |s| {
            s.stable
                .replicas
                .iter()
                .filter(|r| r.status == cutover::model::ReplicaStatus::Draining)
                .count()
                == 2
        })
        .await;
    assert_eq!(draining.stable.healthy(), 1);
    let client = kill_and_restart(&mut up, |_| {}).await;
    journal_says(
        &up,
        "restart: stable runs 3 of 1 replica: retiring the newest 2",
    )
    .await;
    let s = up.until(&client, 30, "one left", |s| exactly(s, 1)).await;
    assert_eq!(s.stable.replicas[0].id, oldest, "the oldest stays");
    processes_become(&up, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_replica_replaced_before_a_takeover_stays_three_without_a_failed_request() {
    let mut up = Up::start("scale-takeover", &plan("scale-takeover"), &[]);
    let client = up.client(30).await;
    up.until(&client, 30, "stable healthy", |s| exactly(s, 1))
        .await;
    scale(&client, 3).await;
    let s = up
        .until(&client, 30, "three healthy", |s| exactly(s, 3))
        .await;
    // One dies; this daemon takes it out of the pool and replaces it
    // (`machine/heal.rs`), so the successor adopts three and has nothing
    // to converge (a replica dead while no daemon ran is the test above).
    let victim = s.stable.replicas[2].id.clone();
    kill_replica(&victim);
    up.until(&client, 10, "three serving, the dead one replaced", |s| {
        s.stable.healthy() == 3
            && s.stable
                .replicas
                .iter()
                .all(|r| r.id != victim || !r.status.is_alive())
    })
    .await;
    let load = MixedLoad::start(
        client.state().await.unwrap().public_addr.parse().unwrap(),
        false,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    up.take_over(60).await;
    let client = up.client(30).await;
    up.until(&client, 30, "three healthy after the takeover", |s| {
        exactly(s, 3)
    })
    .await;
    let said = std::fs::read_to_string(up.state().join("journal.jsonl")).unwrap_or_default();
    assert!(
        said.contains("starting a replacement (2 of 3 running)"),
        "the first daemon replaced it"
    );
    assert!(
        !said.contains("restart: stable runs"),
        "the successor had nothing to converge"
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let (seen, _) = load.stop().await;
    assert_eq!(
        (seen.failed, seen.refused),
        (0, 0),
        "requests failed: {:#?}\n{}",
        seen.examples,
        up.all_stderr()
    );
    assert!(seen.ok > 200, "too little load to judge: {seen:?}");
    processes_become(&up, 3).await;
}
