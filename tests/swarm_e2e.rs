//! The Swarm runtime end to end, on a single-node swarm the test makes if
//! the engine has none (and leaves again; `support/swarm.rs`):
//! - a stable task's container killed (`docker kill`) leaves the pool, is
//!   reported `exited 137`, and Swarm's replacement enters the pool once
//!   healthy; the good canary is then promoted;
//! - a bad canary is rolled back by the guard;
//! - nothing with cutover's labels (service or container) is left;
//! - the test's own client sees no failure except the few canary errors
//!   the guard exists to catch.
//!
//! One test function, so the swarm the guard made is left only when every
//! part is done.

use crate::support::release::*;
use crate::support::swarm::{SwarmGuard, kill, left_with_label};

use cutover::model::{Action, ActionRequest, Actor, EventKind, Phase, Role};
use std::time::Duration;

async fn wait_for(what: &str, within: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    while !ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Nothing with the test's label is left on the engine (Swarm removes a
/// deleted service's containers shortly after).
async fn nothing_left(service: &str) {
    let label = format!("cutover.test={service}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left = left_with_label(&label);
        if left.is_empty() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "services or containers labelled {label} are left: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn killed_task_is_replaced_then_promoted() {
    let steps = Steps::manual();
    let opts = Options {
        steps: Some(&steps),
        max_failed_requests: 20,
        ..Options::default()
    };
    let h = Harness::start_options(Kind::Swarm, &opts)
        .await
        .expect("the swarm harness");
    h.wait_phase(Phase::Canary, Duration::from_secs(90)).await;
    h.wait_stable().await;
    let load = h.load(100.0);
    h.set_weight(200).await;

    let victim = h.state().await.stable.replicas[0].clone();
    assert!(h.pool(Role::Stable).contains(&victim.addr));
    kill(&victim.id);
    wait_for(
        "the killed task to leave the pool",
        Duration::from_secs(5),
        || !h.pool(Role::Stable).contains(&victim.addr),
    )
    .await;
    wait_for(
        "Swarm's replacement in the pool",
        Duration::from_secs(60),
        || h.pool(Role::Stable).len() == 2,
    )
    .await;
    let state = h.state().await;
    assert_eq!(state.stable.healthy(), 2, "{:?}", state.stable.replicas);
    let journal = h.journal().await;
    let said = |pred: &dyn Fn(&str, &str) -> bool| {
        journal.iter().any(|e| {
            matches!(&e.kind, EventKind::Replica { replica, detail, .. } if pred(replica, detail))
        })
    };
    assert!(
        said(&|r, d| {
            (victim.id.starts_with(r) || r.starts_with(&victim.id)) && d.contains("exited 137")
        }),
        "the kill was reported:\n{}",
        h.story()
    );
    assert!(
        said(&|_, d| d.contains("replacing a lost replica")),
        "the replacement was announced:\n{}",
        h.story()
    );

    h.daemon()
        .client()
        .act(&ActionRequest {
            action: Action::Promote { force: false },
            by: Actor::Cli,
            reason: None,
        })
        .await
        .expect("promote accepted");
    let done = h.wait_promoted(Duration::from_secs(60)).await;
    let seen = load.stop().await;
    assert_eq!(done.stable.version, "v2");
    assert_eq!(seen.failed(), 0, "no client saw a failure: {seen:?}");
    eprintln!("swarm: killed task replaced, canary promoted; client saw {seen:?}");
    h.assert_only(Role::Stable).await;
    let service = h.service.clone();
    h.finish().await;
    nothing_left(&service).await;
}

async fn bad_canary_is_rolled_back() {
    let h = Harness::start(Kind::Swarm, "DEMO_ERROR_RATE=0.3", &Steps::manual(), 3)
        .await
        .expect("the swarm harness");
    h.wait_phase(Phase::Canary, Duration::from_secs(90)).await;
    h.wait_stable().await;
    let load = h.load(200.0);
    h.set_weight(1000).await;
    let rolled = h.wait_phase(Phase::Idle, Duration::from_secs(30)).await;
    let seen = load.stop().await;
    assert_eq!(rolled.canary, None, "the canary is gone");
    assert_eq!(rolled.stable.version, "v1");
    let why = h.rollback_reason().await;
    assert!(!why.is_empty(), "rolled back: {}", h.story());
    assert!(
        seen.errors_from("v2") <= 3,
        "clients saw {} canary errors (max_failed_requests 3)",
        seen.errors_from("v2")
    );
    assert_eq!(seen.errors_from("v1"), 0, "stable never failed");
    assert_eq!(seen.errors_from("none"), 0, "no answer made by the proxy");
    assert_eq!(seen.transport_errors, 0);
    eprintln!(
        "swarm: bad canary rolled back ({why}); clients saw {} canary errors",
        seen.errors_from("v2")
    );
    h.assert_only(Role::Stable).await;
    let service = h.service.clone();
    h.finish().await;
    nothing_left(&service).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swarm_releases_end_to_end() {
    let Some(_swarm) = SwarmGuard::ensure() else {
        return;
    };
    killed_task_is_replaced_then_promoted().await;
    bad_canary_is_rolled_back().await;
}
