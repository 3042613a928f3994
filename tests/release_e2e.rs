//! The release model end to end on real runtimes (local processes and the
//! Docker engine): a bad canary is rolled back by the guard, a good one is
//! promoted through its steps, a canary that never turns healthy fails
//! without ever seeing traffic. The test's own client counts every answer.

use crate::support::release as support;

use cutover::model::{Phase, Role};
use std::time::Duration;
use support::*;

async fn bad_canary_is_rolled_back(kind: Kind) {
    let Some(h) = Harness::start(kind, "DEMO_ERROR_RATE=0.3", &Steps::manual(), 3).await else {
        return;
    };
    h.wait_phase(Phase::Canary, Duration::from_secs(60)).await;
    let load = h.load(200.0);
    h.set_weight(100).await;
    let rolled = h.wait_phase(Phase::Idle, Duration::from_secs(30)).await;
    let seen = load.stop().await;
    assert_eq!(rolled.canary, None, "the canary is gone");
    assert!(
        seen.errors_from("v2") <= 3,
        "clients saw {} canary errors (max_failed_requests 3)",
        seen.errors_from("v2")
    );
    assert_eq!(seen.errors_from("v1"), 0, "stable never failed");
    assert_eq!(
        seen.errors_from("none"),
        0,
        "no answer made by the proxy itself (502/503/504): stable served every other request"
    );
    assert_eq!(seen.transport_errors, 0);
    if let Some(ms) = h.first_error_to_zero_ms().await {
        eprintln!("[{kind:?}] first canary error → weight 0: {ms:.0} ms at 200 req/s");
    }
    h.assert_only(Role::Stable).await;
    h.finish().await;
}

async fn good_canary_is_promoted(kind: Kind) {
    let Some(mut h) = Harness::start(kind, "", &Steps::quick(), 20).await else {
        return;
    };
    h.wait_stable().await;
    let load = h.load(100.0);
    let done = h.wait_promoted(Duration::from_secs(90)).await;
    let seen = load.stop().await;
    if seen.failed() > 0 {
        h.dump().await;
    }
    assert_eq!(done.stable.version, "v2", "the canary became stable");
    assert_eq!(
        seen.failed(),
        0,
        "zero failed requests through the promotion: {seen:?}"
    );
    h.assert_only(Role::Stable).await;
    h.finish().await;
}

async fn never_healthy_canary_fails_untouched(kind: Kind) {
    let Some(h) = Harness::start(kind, "DEMO_NEVER_HEALTHY=true", &Steps::manual(), 3).await else {
        return;
    };
    h.wait_stable().await;
    let load = h.load(50.0);
    let failed = h.wait_phase(Phase::Failed, Duration::from_secs(60)).await;
    let seen = load.stop().await;
    assert_eq!(failed.weight_permille, 0);
    assert_eq!(
        seen.by_version.get("v2").copied().unwrap_or(0),
        0,
        "no request ever reached the canary"
    );
    assert_eq!(seen.failed(), 0);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_bad_canary_is_rolled_back() {
    bad_canary_is_rolled_back(Kind::Process).await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_good_canary_is_promoted() {
    good_canary_is_promoted(Kind::Process).await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_never_healthy_canary_fails() {
    never_healthy_canary_fails_untouched(Kind::Process).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_bad_canary_is_rolled_back() {
    bad_canary_is_rolled_back(Kind::Docker).await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_good_canary_is_promoted() {
    good_canary_is_promoted(Kind::Docker).await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_never_healthy_canary_fails() {
    never_healthy_canary_fails_untouched(Kind::Docker).await;
}
