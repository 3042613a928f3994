//! Remote engines end to end: the same releases as `release_e2e`, through
//! an engine reached over `ssh://` (this machine's engine behind an sshd
//! the test runs, `support/sshd.rs`) and over `tcp://` with TLS (a second
//! engine the test runs, `support/dockerd.rs`). On each, a good canary is
//! promoted and a bad one rolled back by the guard, with the test's own
//! client counting every answer.

use crate::support::dockerd::TlsEngine;
use crate::support::release::{Harness, Options, Steps};
use crate::support::sshd::Sshd;
use cutover::model::{Phase, Role};
use cutover::runtime::Runtime;
use cutover::runtime::docker::DockerRuntime;
use cutover::runtime::docker_endpoint::Connection;
use std::sync::Arc;
use std::time::Duration;

async fn promoted_then_rolled_back(runtime: Arc<dyn Runtime>, label: &str) {
    let mut good = Harness::start_on_runtime(
        runtime.clone(),
        &Options {
            steps: Some(&Steps::quick()),
            max_failed_requests: 20,
            ..Options::default()
        },
    )
    .await
    .expect("the harness starts");
    good.wait_stable().await;
    let load = good.load(50.0);
    let done = good.wait_promoted(Duration::from_secs(90)).await;
    let seen = load.stop().await;
    if seen.failed() > 0 {
        good.dump().await;
    }
    assert_eq!(
        done.stable.version, "v2",
        "[{label}] the canary became stable"
    );
    assert_eq!(seen.failed(), 0, "[{label}] no failed request: {seen:?}");
    assert!(
        done.stable
            .replicas
            .iter()
            .all(|r| r.addr.starts_with("127.0.0.1:")),
        "[{label}] replicas are reached at the engine's host: {:?}",
        done.stable.replicas
    );
    good.assert_only(Role::Stable).await;
    good.finish().await;

    let bad = Harness::start_on_runtime(
        runtime,
        &Options {
            canary_env: "DEMO_ERROR_RATE=0.3",
            steps: Some(&Steps::manual()),
            max_failed_requests: 3,
            ..Options::default()
        },
    )
    .await
    .expect("the harness starts");
    bad.wait_phase(Phase::Canary, Duration::from_secs(60)).await;
    let load = bad.load(100.0);
    bad.set_weight(100).await;
    let rolled = bad.wait_phase(Phase::Idle, Duration::from_secs(30)).await;
    let seen = load.stop().await;
    assert_eq!(rolled.canary, None, "[{label}] the canary is gone");
    assert!(seen.errors_from("v2") <= 3, "[{label}] {seen:?}");
    assert_eq!(
        seen.errors_from("v1") + seen.errors_from("none"),
        0,
        "[{label}] {seen:?}"
    );
    assert!(
        bad.rollback_reason().await.starts_with("guard "),
        "[{label}] rolled back by a guard"
    );
    bad.assert_only(Role::Stable).await;
    bad.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_ssh_a_release_is_promoted_and_one_rolled_back() {
    let Some(sshd) = Sshd::start() else {
        return;
    };
    let conn = Connection {
        ssh_key: Some(sshd.key.clone()),
        ..Connection::given(&sshd.url())
    };
    let rt = match DockerRuntime::connect_with(conn).await {
        Ok(rt) => rt,
        Err(e) => panic!(
            "the engine answers over ssh: {e}\nsshd log:\n{}",
            sshd.log()
        ),
    };
    crate::support::images::demo_images(rt.client()).await;
    promoted_then_rolled_back(Arc::new(rt), "ssh").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_a_release_is_promoted_and_one_rolled_back() {
    let Some(engine) = TlsEngine::start().await else {
        return;
    };
    let rt = engine
        .connect()
        .await
        .expect("the second engine answers over TLS");
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_cutover"));
    cutover::runtime::image::build_demo_images(rt.client(), exe, "cutover-demo")
        .await
        .unwrap_or_else(|e| panic!("demo images on the second engine: {e}\n{}", engine.log()));
    promoted_then_rolled_back(Arc::new(rt), "tls").await;
}

/// Without the client certificate the TLS engine is refused, and the
/// error names the file that is missing.
#[tokio::test]
async fn a_missing_client_certificate_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let conn = Connection {
        tls: cutover::runtime::docker_endpoint::TlsFiles::from_env(
            "tcp://127.0.0.1:2376",
            Some("1"),
            Some(&dir.path().display().to_string()),
            None,
        ),
        ..Connection::given("tcp://127.0.0.1:2376")
    };
    let err = DockerRuntime::connect_with(conn)
        .await
        .err()
        .expect("refused");
    let said = err.to_string();
    assert!(
        said.contains(&format!("{}/ca.pem is missing", dir.path().display())),
        "{said}"
    );
}
