//! Faults during a release on real runtimes, each ending in a known state
//! with no client failure (counted by the test's own client):
//! - a canary that hangs (SIGSTOP / `docker pause`) is charged 504s after the
//!   upstream timeout while its requests are retried on stable, and is rolled
//!   back by the error guard or by its failed health checks (the journal says
//!   which);
//! - a canary killed with SIGKILL / `docker kill` is reported `exited 137`,
//!   leaves the pool within the unhealthy window, and the release rolls back
//!   once no canary is left;
//! - an OOM-killed canary (memory hog under a small limit) is reported as
//!   OOM and rolled back;
//! - a replica that died while the daemon was down is not adopted: the
//!   restarted daemon removes it and says so.

use crate::support::release as support;

use cutover::model::{Actor, Event, EventKind, Phase, ReplicaStatus, Role};
use std::time::Duration;
use support::*;

/// Why the release was rolled back and who did it, from the journal.
fn rollback_of(events: &[Event]) -> Option<(Actor, String)> {
    events.iter().find_map(|e| match &e.kind {
        EventKind::Phase {
            to: Phase::RollingBack,
            by,
            reason,
            ..
        } => Some((*by, reason.clone().unwrap_or_default())),
        _ => None,
    })
}

/// The most 504s the canary was charged within one metrics window.
fn canary_504s(events: &[Event]) -> u64 {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Tick {
                canary: Some(c), ..
            } => Some(c.status_504),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

/// The release was rolled back because no canary was left to serve: its
/// exit (`how`) reached the daemon first, or its failed health checks did
/// (the runtime's event and the checker race; both end the same way).
fn no_canary_left(kind: Kind, why: &str, how: &str) {
    let by_exit = why.contains("every canary replica exited") && why.contains(how);
    let by_health = why.contains("no canary replica is healthy") && why.contains("health checks");
    assert!(by_exit || by_health, "{why}");
    eprintln!(
        "{kind:?}: rolled back by {}: {why}",
        if by_exit { "the exit event" } else { "health" }
    );
}

fn freeze(kind: Kind, canary: &str) {
    match kind {
        Kind::Process => {
            let pid: i32 = canary.trim_start_matches("pid:").parse().unwrap();
            nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGSTOP,
            )
            .unwrap();
        }
        Kind::Docker | Kind::Swarm => docker(&["pause", canary]),
    }
}

fn kill(kind: Kind, canary: &str) {
    match kind {
        Kind::Process => {
            let pid: i32 = canary.trim_start_matches("pid:").parse().unwrap();
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            )
            .unwrap();
        }
        Kind::Docker | Kind::Swarm => docker(&["kill", canary]),
    }
}

fn docker(args: &[&str]) {
    let out = std::process::Command::new("docker")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

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
    freeze(kind, &canary);
    let done = h.wait_phase(Phase::Idle, Duration::from_secs(30)).await;
    let seen = load.stop().await;
    assert!(done.canary.is_none(), "the hung canary was removed");
    assert_eq!(done.weight_permille, 0);
    // Every GET that hit the frozen canary timed out there (charged to it)
    // and was then served by stable.
    assert_eq!(seen.failed(), 0, "no client saw a failure: {seen:?}");
    assert_eq!(seen.errors_from("v1"), 0, "stable never failed");
    assert_eq!(seen.transport_errors, 0);
    let journal = h.journal().await;
    assert!(
        canary_504s(&journal) > 0,
        "the frozen canary was charged 504s (its ticks hold none):\n{}",
        h.story()
    );
    // Taken out by the error guard or by its failed health checks,
    // whichever came first; the journal says which, and backs it up.
    let (by, why) = rollback_of(&journal).expect("a rollback in the journal");
    let breach = journal.iter().find_map(|e| match &e.kind {
        EventKind::Breach { guard, .. } => Some(*guard),
        _ => None,
    });
    let unhealthy = journal.iter().any(|e| {
        matches!(&e.kind, EventKind::Replica { replica, status: ReplicaStatus::Unhealthy, .. } if *replica == canary)
    });
    match by {
        Actor::Guard => {
            let guard = breach.expect("a guard rollback follows a breach");
            assert!(why.contains(guard.key()), "{why}");
            eprintln!("{kind:?}: rolled back by the guard: {why}");
        }
        Actor::System => {
            assert!(why.contains("health checks"), "{why}");
            assert!(unhealthy, "a health rollback follows an unhealthy canary");
            eprintln!("{kind:?}: rolled back by health: {why}");
        }
        other => panic!("rolled back by {other}: {why}"),
    }
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
    // This is about the pool and the runtime's report of the exit: the
    // guards that would also catch a canary refusing every connection (the
    // in-a-row trip, the comparison with stable) are off, so the release
    // ends the way it does when no guard is there to act first.
    let steps = Steps::manual();
    let opts = Options {
        steps: Some(&steps),
        guard: Some(
            "max_failed_requests = 50\ntrip_after = \"off\"\nmax_error_ratio = \"off\"\nmin_requests = 20",
        ),
        ..Options::default()
    };
    let Some(h) = Harness::start_options(kind, &opts).await else {
        return;
    };
    h.wait_phase(Phase::Canary, Duration::from_secs(60)).await;
    h.wait_stable().await;
    h.set_weight(500).await;
    let state = h.state().await;
    let replica = state.canary.expect("a canary").replicas[0].clone();
    let (canary, addr) = (replica.id, replica.addr);
    assert_eq!(h.pool(Role::Canary), vec![addr.clone()], "in the pool");
    let mut events = h.daemon().client().events().await.unwrap();
    let load = h.load(100.0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    kill(kind, &canary);
    // Out of the pool within the unhealthy window (unhealthy_after × interval)
    // plus one interval, counted from the moment the kill returned.
    let health = &h.plan.health;
    let window = health.interval.get() * (health.unhealthy_after + 1);
    let bound = tokio::time::Instant::now() + window;
    while h.pool(Role::Canary).contains(&addr) {
        assert!(
            tokio::time::Instant::now() < bound,
            "the killed canary is still in the pool after {window:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let said = tokio::time::timeout(Duration::from_secs(20), async {
        use futures::StreamExt;
        while let Some(Ok(ev)) = events.next().await {
            if let EventKind::Replica {
                replica, detail, ..
            } = &ev.kind
                && *replica == canary
                && detail.contains("exited")
            {
                return detail.clone();
            }
        }
        String::new()
    })
    .await
    .expect("an event saying the canary exited");
    assert!(said.contains("exited 137"), "{said}");
    // No canary left: the release rolls back on its own.
    let done = h.wait_phase(Phase::Idle, Duration::from_secs(30)).await;
    let seen = load.stop().await;
    assert_eq!(seen.failed(), 0, "stable served everything: {seen:?}");
    assert!(done.canary.is_none());
    assert_eq!(done.weight_permille, 0);
    let (by, why) = rollback_of(&h.journal().await).expect("a rollback in the journal");
    assert_eq!(by, Actor::System, "{why}");
    no_canary_left(kind, &why, "exited 137");
    h.assert_only(Role::Stable).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_oom_killed_canary_is_rolled_back() {
    let opts = Options {
        canary_env: "DEMO_HOG_MIB=64",
        canary_extra: "memory = \"32MiB\"",
        max_failed_requests: 50,
        ..Options::default()
    };
    let Some(h) = Harness::start_options(Kind::Docker, &opts).await else {
        return;
    };
    h.wait_phase(Phase::Canary, Duration::from_secs(60)).await;
    h.wait_stable().await;
    let canary = h.state().await.canary.expect("a canary").replicas[0]
        .id
        .clone();
    let mut events = h.daemon().client().events().await.unwrap();
    let load = h.load(50.0);
    // The first request the canary serves asks 64 MiB of its 32: killed at
    // once, never left thrashing just under the limit.
    h.set_weight(200).await;
    let (status, said) = tokio::time::timeout(Duration::from_secs(30), async {
        use futures::StreamExt;
        while let Some(Ok(ev)) = events.next().await {
            if let EventKind::Replica {
                replica,
                status,
                detail,
                ..
            } = &ev.kind
                && *replica == canary
                && !status.is_alive()
            {
                return (*status, detail.clone());
            }
        }
        (ReplicaStatus::Starting, String::new())
    })
    .await
    .expect("an event saying the canary went");
    assert_eq!(status, ReplicaStatus::OomKilled, "{said}");
    assert!(said.contains("OOM-killed (exited 137)"), "{said}");
    let done = h.wait_phase(Phase::Idle, Duration::from_secs(30)).await;
    let seen = load.stop().await;
    assert_eq!(seen.failed(), 0, "stable served everything: {seen:?}");
    assert!(done.canary.is_none());
    assert_eq!(done.weight_permille, 0);
    let (by, why) = rollback_of(&h.journal().await).expect("a rollback in the journal");
    assert_eq!(by, Actor::System, "{why}");
    no_canary_left(Kind::Docker, &why, "OOM-killed (exited 137)");
    h.assert_only(Role::Stable).await;
    h.finish().await;
}

/// A stable container killed while the daemon was down: the new daemon does
/// not adopt it as healthy, removes it, says so, and serves with the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_replica_dead_while_the_daemon_was_down_is_removed_not_adopted() {
    let Some(mut h) = Harness::start(Kind::Docker, "", &Steps::manual(), 50).await else {
        return;
    };
    h.wait_phase(Phase::Canary, Duration::from_secs(60)).await;
    let before = h.wait_stable().await;
    let victim = before.stable.replicas[0].clone();
    let survivor = before.stable.replicas[1].clone();
    let id = victim.id.clone();
    h.restart_daemon(async || docker(&["kill", &id])).await;
    let back = h
        .wait_until("restored", Duration::from_secs(30), |s| {
            s.phase == Phase::Canary && s.stable.healthy() >= 1
        })
        .await;
    let ids: Vec<&str> = back.stable.replicas.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![survivor.id.as_str()],
        "only the living one is adopted"
    );
    assert_eq!(h.pool(Role::Stable), vec![survivor.addr.clone()]);
    let out = std::process::Command::new("docker")
        .args(["ps", "-aq", "--no-trunc", "--filter", &format!("id={id}")])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).trim().is_empty(),
        "the dead container was removed"
    );
    let said: Vec<String> = h
        .journal()
        .await
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::Warning { message } if message.contains(&id) => Some(message),
            _ => None,
        })
        .collect();
    assert!(
        said.iter()
            .any(|m| m.contains("exited 137 while nobody watched; removed")),
        "{said:?}"
    );
    let r = reqwest::get(format!("http://{}/", h.daemon().public_addr))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    h.finish().await;
}
