//! A real daemon's public listener under hostile clients: idle connections
//! past a low open-file limit (the real binary, started under `ulimit -n`),
//! and stalled uploads during a live release.

use crate::support::daemon::CanaryDaemon;
use crate::support::proxy::{Upstream, read_head};
use cutover::api::client::Client;
use cutover::model::{Action, ActionRequest, Actor, GuardStatus, Phase, Role};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The daemon child; killed when dropped.
struct Child9(Child);

impl Drop for Child9 {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One value of the daemon's Prometheus text (no token needed).
async fn metric(admin: SocketAddr, name: &str) -> Option<u64> {
    let text = crate::support::http()
        .get(format!("http://{admin}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find(|l| l.starts_with(&format!("{name}{{")))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

use crate::support::wait::eventually_async as until;

/// Under `ulimit -n 128` the daemon caps public connections at 32 (128
/// minus 64 reserved, halved for upstream connections). 140 idle clients
/// (with no cap they took every descriptor, starving the admin API and
/// flooding the log with `accept failed`): 32 are accepted, the rest wait in the listen backlog — not refused, not
/// reset — while the admin API keeps answering and the log holds one
/// throttled warning, not a flood of `accept failed`. When the idle clients
/// leave, a request that waited in the backlog is served on the connection
/// it opened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_low_fd_limit_idle_clients_wait_and_the_admin_api_answers() {
    let up = Upstream::start("stable").await;
    let (public, admin) = (free_port(), free_port());
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("cutover.toml");
    std::fs::write(
        &plan,
        format!(
            "service = \"capped\"\nruntime = \"static\"\n[listen]\npublic = \"127.0.0.1:{public}\"\nadmin = \"127.0.0.1:{admin}\"\n\
             [stable]\nupstreams = [\"{}\"]\n\
             [health]\ninterval = \"200ms\"\ntimeout = \"200ms\"\nhealthy_after = 1\n\
             [proxy]\nheader_timeout = \"2m\"\n",
            up.addr
        ),
    )
    .unwrap();
    let state = dir.path().join("state");
    // A shell wrapper sets the limit (soft and hard) for the real binary:
    // no pre_exec, no unsafe.
    let child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 128 && exec \"$0\" up --plan \"$1\" --state-dir \"$2\"")
        .arg(env!("CARGO_BIN_EXE_cutover"))
        .arg(&plan)
        .arg(&state)
        .env("CUTOVER_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _child = Child9(child);
    let admin: SocketAddr = format!("127.0.0.1:{admin}").parse().unwrap();
    let public: SocketAddr = format!("127.0.0.1:{public}").parse().unwrap();
    let token_path = state.join("capped/token");
    until(20, "the daemon's token", || async { token_path.exists() }).await;
    let token = std::fs::read_to_string(&token_path).unwrap();
    let api = Client::new(admin, token.trim().to_string());
    let http = crate::support::http();
    let url = format!("http://{public}/");
    until(20, "stable serving", || async {
        http.get(&url).send().await.is_ok_and(|r| r.status() == 200)
    })
    .await;
    assert_eq!(
        metric(admin, "cutover_public_connections_limit").await,
        Some(32)
    );

    let mut idle = Vec::new();
    for _ in 0..140 {
        idle.push(TcpStream::connect(public).await.unwrap());
    }
    until(20, "32 open public connections", || async {
        metric(admin, "cutover_public_connections").await == Some(32)
    })
    .await;
    // One more client, with a request, queued behind the idle ones.
    let mut queued = TcpStream::connect(public).await.unwrap();
    queued
        .write_all(b"GET /queued HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // The admin API answers while the public side is full.
    let s = tokio::time::timeout(Duration::from_secs(10), api.state())
        .await
        .expect("the admin API answers in time")
        .expect("the admin API answers");
    assert_eq!(s.phase, Phase::Idle, "{s:?}");
    assert_eq!(
        metric(admin, "cutover_public_connections").await,
        Some(32),
        "still at the cap: the queued client waits in the backlog"
    );

    drop(idle);
    let head = tokio::time::timeout(Duration::from_secs(20), read_head(&mut queued))
        .await
        .expect("the queued request is served once the idle clients leave")
        .expect("an answer on the connection it opened");
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let r = http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);

    let log = std::fs::read_to_string(state.join("capped/cutover.log")).unwrap();
    let warnings: Vec<&str> = log.lines().filter(|l| l.contains("WARN")).collect();
    assert!(
        warnings
            .iter()
            .any(|l| l.contains("public connections at the limit of 32")),
        "{log}"
    );
    assert!(
        warnings.len() <= 4,
        "a bounded number of warnings, got {}:\n{log}",
        warnings.len()
    );
    assert!(!log.contains("accept failed"), "{log}");
}

/// A stalled upload: a head promising 10 bytes, 3 of them, then nothing.
async fn stall(public: SocketAddr) -> String {
    let mut s = TcpStream::connect(public).await.unwrap();
    s.write_all(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        .await
        .unwrap();
    let head = tokio::time::timeout(Duration::from_secs(20), read_head(&mut s))
        .await
        .expect("an answer in time")
        .expect("a head");
    String::from_utf8_lossy(&head)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Twenty clients stall their uploads during a live release (50 % canary,
/// tight guards — a trip at 3 failures in a row, a budget of 3 failed
/// requests, the default comparison with stable — and an `upstream_timeout`
/// shorter than the client body timeout): each gets 408, neither version is
/// charged an error, and no guard moves — where before each was a 504 on its
/// version, and the fourth on the canary rolled it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_stalled_uploads_during_a_release_get_408_and_move_no_guard() {
    let f = CanaryDaemon::start_with(
        "[proxy]\nupstream_timeout = \"200ms\"\nclient_body_timeout = \"500ms\"\n\
         [guard]\ntrip_after = 3\nmax_failed_requests = 3\nmin_requests = 5\n",
    )
    .await;
    let api = f.daemon.client();
    api.act(&ActionRequest {
        action: Action::SetWeight { permille: 500 },
        by: Actor::Cli,
        reason: Some("stalled upload test".into()),
    })
    .await
    .unwrap();
    let public = f.daemon.public_addr;
    let stalls: Vec<_> = (0..20).map(|_| tokio::spawn(stall(public))).collect();
    for s in stalls {
        assert_eq!(s.await.unwrap(), "HTTP/1.1 408 Request Timeout");
    }
    let m = f.daemon.router.metrics();
    let (stable, canary) = (m.lifetime(Role::Stable), m.lifetime(Role::Canary));
    assert_eq!(
        stable.client_timeouts + canary.client_timeouts,
        20,
        "{stable:?} {canary:?}"
    );
    assert!(canary.client_timeouts >= 1, "{canary:?}");
    assert_eq!((stable.errors, canary.errors), (0, 0));
    assert_eq!((stable.requests, canary.requests), (0, 0));

    // Ten good requests, then wait until the controller's view counts them:
    // the guards have been evaluated after every stall by then.
    let http = crate::support::http();
    for _ in 0..10 {
        let r = http.get(format!("http://{public}/")).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let s = loop {
        let s = api.state().await.unwrap();
        let seen =
            s.stable.stats.total_requests + s.canary.as_ref().map_or(0, |c| c.stats.total_requests);
        if seen >= 10 {
            break s;
        }
        assert!(Instant::now() < deadline, "the view never counted: {s:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(s.phase, Phase::Canary, "{s:?}");
    assert_eq!(s.weight_permille, 500);
    assert!(s.last_breach.is_none(), "{:?}", s.last_breach);
    assert!(
        s.guards.iter().all(|g| g.status != GuardStatus::Breach),
        "{:?}",
        s.guards
    );
    assert_eq!(s.canary.as_ref().unwrap().stats.total_errors, 0);
    f.daemon.stop().await;
}
