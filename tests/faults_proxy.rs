//! Faults at the proxy, through real sockets: a client that never finishes
//! its headers, an upstream that breaks off mid-body, and ten thousand
//! weight changes through the admin API under load.

use crate::support::proxy as support;

use cutover::model::{Action, ActionRequest, Actor, Phase, Role};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let up = Upstream::start("stable").await;
    let plan = cutover::plan::ProxyPlan {
        header_timeout: cutover::plan::HumanDuration::from_millis(300),
        ..Default::default()
    };
    let proxy = Proxy::start(plan).await;
    proxy
        .router
        .set_members(Role::Stable, vec![up.addr.to_string()]);
    let mut s = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the proxy closed the connection");
    assert!(started.elapsed() < Duration::from_secs(3));
    let answer = String::from_utf8_lossy(&buf);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    assert_eq!(proxy.router.metrics().in_flight(Role::Stable), 0);
    assert_eq!(up.served(), 0);
    // The proxy still serves everyone else.
    assert_eq!(
        client().get(proxy.url("/")).send().await.unwrap().status(),
        200
    );
}

#[tokio::test]
async fn an_upstream_that_breaks_off_mid_body_is_charged_a_502() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nonly the start")
                    .await;
                // Reset: close with the body unfinished.
            });
        }
    });
    let stable = Upstream::start("stable").await;
    let proxy = Proxy::start(Default::default()).await;
    proxy
        .router
        .set_members(Role::Canary, vec![addr.to_string()]);
    proxy
        .router
        .set_members(Role::Stable, vec![stable.addr.to_string()]);
    proxy.router.set_weight(1000);
    let r = client().get(proxy.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200, "the head had already been sent");
    assert!(
        r.bytes().await.is_err(),
        "the client sees the body break off"
    );
    let m = proxy.router.metrics();
    let w = Duration::from_secs(60);
    for _ in 0..100 {
        if m.stats(Role::Canary, w).status_502 == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        m.stats(Role::Canary, w).status_502,
        1,
        "charged to the version that broke"
    );
    assert_eq!(m.stats(Role::Stable, w).errors, 0);
    assert_eq!(m.in_flight(Role::Canary), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_weight_changes_under_load_fail_nothing() {
    let stable = Upstream::start("stable").await;
    let canary = Upstream::start("canary").await;
    let text = format!(
        "service = \"flip\"\nruntime = \"static\"\n[listen]\npublic = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n\
         [stable]\nupstreams = [\"{}\"]\n[canary]\nupstreams = [\"{}\"]\n\
         [health]\ninterval = \"100ms\"\ntimeout = \"100ms\"\nhealthy_after = 1\n",
        stable.addr, canary.addr
    );
    let plan = cutover::plan::parse(&text, "flip").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let daemon = cutover::daemon::start(cutover::daemon::DaemonConfig::new(
        plan,
        dir.path().to_path_buf(),
    ))
    .await
    .unwrap();
    let api = daemon.client();
    while api.state().await.unwrap().phase != Phase::Canary {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let mut load = Vec::new();
    for _ in 0..2 {
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        let url = format!("http://{}/", daemon.public_addr);
        load.push(tokio::spawn(async move {
            let http = client();
            while !stop.load(Ordering::Relaxed) {
                match http.get(&url).send().await {
                    Ok(r) if r.status() == 200 => ok.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    for i in 0..10_000u32 {
        let req = ActionRequest {
            action: Action::SetWeight {
                permille: (i * 37 % 1001) as u16,
            },
            by: Actor::Api,
            reason: None,
        };
        api.act(&req)
            .await
            .expect("every weight change is accepted");
    }
    stop.store(true, Ordering::Relaxed);
    for l in load {
        l.await.unwrap();
    }
    assert_eq!(failed.load(Ordering::Relaxed), 0);
    assert!(ok.load(Ordering::Relaxed) > 100, "load ran alongside");
    assert_eq!(
        api.state().await.unwrap().weight_permille,
        (9_999u32 * 37 % 1001) as u16
    );
    daemon.stop().await;
}

/// An upstream that sends its head and part of its body, then goes quiet
/// with the connection open. Each accepted connection is kept until the
/// test ends, so nothing but cutover's idle timeout can end the answer.
async fn stalling_upstream(answer: &'static [u8]) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 2048];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(answer).await;
            held.push(s);
        }
    });
    addr
}

/// The idle timeout between body frames: an upstream that stalls mid-body
/// (fixed length or chunked, large or small) is cut after `upstream_timeout`
/// without a frame, the client sees the body break off (never a clean end),
/// the version is charged a 504, and nothing stays in flight.
#[tokio::test]
async fn an_upstream_that_stalls_mid_body_is_cut_and_charged_a_504() {
    let answers: [&'static [u8]; 3] = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nthe first half",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nsmall, but unfinished",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n",
    ];
    for (i, answer) in answers.into_iter().enumerate() {
        let addr = stalling_upstream(answer).await;
        let stable = Upstream::start("stable").await;
        let plan = cutover::plan::ProxyPlan {
            upstream_timeout: cutover::plan::HumanDuration::from_millis(300),
            ..Default::default()
        };
        let proxy = Proxy::start(plan).await;
        proxy
            .router
            .set_members(Role::Canary, vec![addr.to_string()]);
        proxy
            .router
            .set_members(Role::Stable, vec![stable.addr.to_string()]);
        proxy.router.set_weight(1000);
        let r = client().get(proxy.url("/")).send().await.unwrap();
        assert_eq!(
            r.status(),
            200,
            "answer {i}: the head had already been sent"
        );
        let body = tokio::time::timeout(Duration::from_secs(10), r.bytes())
            .await
            .expect("the proxy ends the stalled body");
        assert!(
            body.is_err(),
            "answer {i}: the client must see the body break off"
        );
        let m = proxy.router.metrics();
        let w = Duration::from_secs(60);
        assert!(
            became_true_within(|| m.in_flight(Role::Canary) == 0).await,
            "answer {i}: in flight back to 0"
        );
        let c = m.stats(Role::Canary, w);
        assert_eq!((c.requests, c.status_504), (1, 1), "answer {i}: {c:?}");
        assert_eq!(m.stats(Role::Stable, w).requests, 0);
        assert_eq!(m.lifetime(Role::Canary).gateway, [0, 0, 1]);
    }
}
