//! The Docker engine becomes unreachable mid-release: cutover keeps serving
//! the last known pools (health checks go straight to the replicas), says so
//! loudly, does not roll anything back, and carries on when the engine is
//! back. The engine is reached through a socket forwarder this test can cut.

use crate::support::release as support;

use cutover::model::{EventKind, Phase};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use support::*;
use tokio::net::{UnixListener, UnixStream};

/// A unix-socket forwarder to the real engine that can be cut and restored.
struct Forwarder {
    path: std::path::PathBuf,
    up: Arc<AtomicBool>,
    cut: Arc<tokio::sync::Notify>,
}

impl Forwarder {
    fn start(dir: &std::path::Path) -> Forwarder {
        let path = dir.join("docker.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let cut = Arc::new(tokio::sync::Notify::new());
        let (up2, cut2) = (up.clone(), cut.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: the engine "does not answer"
                }
                let cut = cut2.clone();
                tokio::spawn(async move {
                    let Ok(mut engine) = UnixStream::connect("/var/run/docker.sock").await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut engine) => {}
                        _ = cut.notified() => {}
                    }
                });
            }
        });
        Forwarder { path, up, cut }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.notify_waiters();
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

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
    tokio::time::sleep(Duration::from_secs(2)).await;
    let seen = load.stop().await;
    assert_eq!(seen.failed(), 0, "traffic kept flowing: {seen:?}");
    assert!(
        seen.by_version.get("v2").copied().unwrap_or(0) > 0,
        "the canary kept its share"
    );
    h.finish().await;
}
