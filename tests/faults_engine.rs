//! The Docker engine becomes unreachable mid-release: cutover keeps serving
//! the last known pools (health checks go straight to the replicas), says so
//! loudly, does not roll anything back, and carries on when the engine is
//! back (the warning is followed by "reachable again" and runtime
//! operations work again). The engine is reached through a socket forwarder
//! this test can cut.

use crate::support::release as support;

use cutover::model::{EventKind, Phase};
use std::time::Duration;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_unreachable_mid_release_keeps_serving() {
    if !std::path::Path::new("/var/run/docker.sock").exists() {
        assert!(
            !docker_required(),
            "Docker is required but /var/run/docker.sock is missing"
        );
        eprintln!("skipping: no local Docker socket");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let fwd = Forwarder::start(dir.path());
    let Some(h) = Harness::start_docker_at(
        &format!("unix://{}", fwd.path.display()),
        "",
        &Steps::manual(),
        3,
    )
    .await
    else {
        return;
    };
    h.wait_phase(Phase::Canary, Duration::from_secs(60)).await;
    h.set_weight(300).await;
    let mut events = h.daemon().client().events().await.unwrap();
    let load = h.load(50.0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    fwd.cut();
    // The warning arrives; the release stays where it was.
    let warned = tokio::time::timeout(Duration::from_secs(20), async {
        use futures::StreamExt;
        while let Some(Ok(ev)) = events.next().await {
            if let EventKind::Warning { message } = &ev.kind
                && message.contains("unreachable")
            {
                return message.clone();
            }
        }
        String::new()
    })
    .await
    .expect("a warning that the engine is unreachable");
    assert!(warned.contains("unreachable"), "{warned}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let during = h.state().await;
    assert_eq!(
        (during.phase, during.weight_permille),
        (Phase::Canary, 300),
        "no rollback storm"
    );
    fwd.restore();
    // It resumes when the engine returns: the warning clears…
    let cleared = tokio::time::timeout(Duration::from_secs(20), async {
        use futures::StreamExt;
        while let Some(Ok(ev)) = events.next().await {
            if let EventKind::Warning { message } = &ev.kind
                && message.contains("reachable again")
            {
                return message.clone();
            }
        }
        String::new()
    })
    .await
    .expect("a notice that the engine is reachable again");
    assert!(cleared.contains("reachable again"), "{cleared}");
    // …and the runtime answers again (through the same socket).
    let listed = h.runtime.list(&h.service).await.expect("list works again");
    assert_eq!(listed.len(), 3, "v1 ×2 and v2 ×1: {listed:?}");
    let stats = h.runtime.stats(&listed[0]).await.expect("stats work again");
    assert!(stats.memory_bytes.is_some(), "{stats:?}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let seen = load.stop().await;
    assert_eq!(seen.failed(), 0, "traffic kept flowing: {seen:?}");
    assert!(
        seen.by_version.get("v2").copied().unwrap_or(0) > 0,
        "the canary kept its share"
    );
    let after = h.state().await;
    assert_eq!(
        (after.phase, after.weight_permille),
        (Phase::Canary, 300),
        "the release carries on where it was"
    );
    // The last word on reachability in the journal is the all-clear.
    let journal = h.journal().await;
    let last = journal
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Warning { message } if message.starts_with("runtime ") => Some(message),
            _ => None,
        })
        .next_back()
        .expect("reachability warnings in the journal");
    assert!(last.contains("reachable again"), "{last}");
    h.finish().await;
}
