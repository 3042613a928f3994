//! `GET /v1/images`: what the cockpit's deploy prompt completes from. A
//! process daemon (the real binary) offers the versions it ran, as the
//! plan's `[deploy] command` takes them, to the watchers' token too, with
//! what a deploy would start; the Docker runtime offers the engine's local
//! tags, stable's repository first.

use crate::support::up::Up;
use cutover::model::{ImageCandidates, Phase};
use cutover::runtime::Runtime;
use std::time::Duration;

fn plan(exe: &str) -> String {
    format!(
        r#"service = "imgs"
runtime = "process"
[listen]
public = "127.0.0.1:0"
admin = "127.0.0.1:0"
[stable]
version = "v1"
command = [{exe:?}, "demo-app", "--bind", "127.0.0.1", "--port", "{{port}}", "--version", "v1"]
replicas = 2
[health]
interval = "100ms"
timeout = "100ms"
healthy_after = 1
[[steps]]
weight = 5
bake = "1m"
[deploy]
command = [{exe:?}, "demo-app", "--bind", "127.0.0.1", "--port", "{{port}}", "--version", "{{version}}"]
"#
    )
}

async fn images(up: &Up, addr: std::net::SocketAddr) -> ImageCandidates {
    // The watchers' token reads it: completing a name changes nothing.
    let token = std::fs::read_to_string(up.state().join("token.read")).unwrap();
    let r = crate::support::http()
        .get(format!("http://{addr}/v1/images"))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_daemon_offers_the_versions_it_ran() {
    let exe = env!("CARGO_BIN_EXE_cutover");
    let mut up = Up::start("imgs", &plan(exe), &[]);
    let client = up.client(30).await;
    let healthy = || async {
        let s = client.state().await.ok()?;
        (s.stable.healthy() == 2).then_some(s)
    };
    crate::support::wait::poll(Duration::from_secs(30), Duration::from_millis(50), healthy)
        .await
        .unwrap_or_else(|| panic!("stable never healthy:\n{}", up.stderr()));
    let first = images(&up, client.addr()).await;
    assert!(first.by_version, "{first:?}");
    assert_eq!(first.images, ["v1"]);
    // No [canary]: a deploy starts as many replicas as stable runs.
    assert_eq!(first.replicas, Some(2));
    assert_eq!(first.first_step_permille, Some(50));

    // The client the cockpit uses sees the same.
    assert_eq!(client.images().await.unwrap(), first);
    let deployed = cutover::model::ActionRequest {
        action: cutover::model::Action::Deploy { image: "v2".into() },
        by: cutover::model::Actor::Cli,
        reason: None,
    };
    client.act(&deployed).await.unwrap();
    let started = || async {
        let s = client.state().await.ok()?;
        (s.phase == Phase::Canary).then_some(())
    };
    crate::support::wait::poll(Duration::from_secs(30), Duration::from_millis(50), started)
        .await
        .unwrap_or_else(|| panic!("canary v2 never served:\n{}", up.stderr()));
    assert_eq!(images(&up, client.addr()).await.images, ["v2", "v1"]);
    assert!(up.stop().await.success(), "{}", up.stderr());
}

#[tokio::test]
async fn docker_offers_local_tags_stables_repository_first() {
    let Some(rt) = crate::support::docker::engine_with_demo_images().await else {
        return;
    };
    let tags = rt.images(Some("cutover-demo:v1")).await.unwrap();
    let at = |t: &str| tags.iter().position(|x| x == t);
    let (v1, v2) = (at("cutover-demo:v1"), at("cutover-demo:v2"));
    assert!(v1.is_some() && v2.is_some(), "{tags:?}");
    // Every tag of the preferred repository comes before any other.
    let last_demo = tags
        .iter()
        .rposition(|t| t.starts_with("cutover-demo:"))
        .unwrap();
    assert!(
        tags[..=last_demo]
            .iter()
            .all(|t| t.starts_with("cutover-demo:")),
        "{tags:?}"
    );
    assert!(tags.iter().all(|t| !t.contains("<none>")), "{tags:?}");
}
