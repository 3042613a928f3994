//! Faults during a release on real runtimes: a canary that hangs (SIGSTOP /
//! `docker pause`) is charged 504s after the upstream timeout while its
//! requests are retried on stable, and is rolled back (error trip or failed
//! health checks); no client sees a failure.

use crate::support::release as support;

use cutover::model::Phase;
use std::time::Duration;
use support::*;

async fn hung_canary_is_rolled_back(kind: Kind) {
    let Some(h) = Harness::start_with(
        kind,
        "",
        &Steps::manual(),
        3,
        "upstream_timeout = \"500ms\"",
    )
    .await
    else {
        return;
    };
    h.wait_phase(Phase::Canary, Duration::from_secs(60)).await;
    h.set_weight(200).await;
    let canary = h.state().await.canary.expect("a canary").replicas[0]
        .id
        .clone();
    let load = h.load(50.0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Freeze the canary: it accepts connections and never answers.
    match kind {
        Kind::Process => {
            let pid: i32 = canary.trim_start_matches("pid:").parse().unwrap();
            nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGSTOP,
            )
            .unwrap();
        }
        Kind::Docker => {
            let out = std::process::Command::new("docker")
                .args(["pause", &canary])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let done = h.wait_phase(Phase::Idle, Duration::from_secs(30)).await;
    let seen = load.stop().await;
    assert!(done.canary.is_none(), "the hung canary was removed");
    assert_eq!(done.weight_permille, 0);
    // Every GET that hit the frozen canary timed out there (charged to it)
    // and was then served by stable; the canary was taken out either by
    // the error trip or by its failed health checks, whichever came first.
    assert_eq!(seen.failed(), 0, "no client saw a failure: {seen:?}");
    let why = h.rollback_reason().await;
    assert!(
        why.contains("max_errors") || why.contains("health checks"),
        "the rollback says why: {why}"
    );
    assert_eq!(seen.errors_from("v1"), 0, "stable never failed");
    assert_eq!(seen.transport_errors, 0);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_hung_canary_is_rolled_back() {
    hung_canary_is_rolled_back(Kind::Process).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_paused_canary_is_rolled_back() {
    hung_canary_is_rolled_back(Kind::Docker).await;
}

async fn killed_canary_leaves_the_pool(kind: Kind) {
    let Some(h) = Harness::start(kind, "", &Steps::manual(), 50).await else {
        return;
    };
    h.wait_phase(Phase::Canary, Duration::from_secs(60)).await;
    h.wait_stable().await;
    h.set_weight(500).await;
    let canary = h.state().await.canary.expect("a canary").replicas[0]
        .id
        .clone();
    let mut events = h.daemon().client().events().await.unwrap();
    let load = h.load(100.0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    match kind {
        Kind::Process => {
            let pid: i32 = canary.trim_start_matches("pid:").parse().unwrap();
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            )
            .unwrap();
        }
        Kind::Docker => {
            let out = std::process::Command::new("docker")
                .args(["kill", &canary])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let said = tokio::time::timeout(Duration::from_secs(20), async {
        use futures::StreamExt;
        while let Some(Ok(ev)) = events.next().await {
            if let cutover::model::EventKind::Replica {
                replica, detail, ..
            } = &ev.kind
                && *replica == canary
                && detail.contains("137")
            {
                return detail.clone();
            }
        }
        String::new()
    })
    .await
    .expect("an event saying the canary exited 137");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = load.stop().await;
    assert!(said.contains("137"), "{said}");
    assert_eq!(seen.failed(), 0, "stable served everything: {seen:?}");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_killed_canary_leaves_the_pool() {
    killed_canary_leaves_the_pool(Kind::Process).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_killed_canary_leaves_the_pool() {
    killed_canary_leaves_the_pool(Kind::Docker).await;
}
