//! What a service behind the proxy gets, through real sockets: header
//! hygiene, request ids, streaming both ways, upgrades, plain 502/503/504
//! answers counted on the right version, smuggling refused.

use crate::support::proxy as support;

use cutover::model::Role;
use std::time::Duration;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WINDOW: Duration = Duration::from_secs(60);

async fn one_version(behaviour: Behaviour, plan: cutover::plan::ProxyPlan) -> (Proxy, Upstream) {
    let up = Upstream::start_with("stable", behaviour).await;
    let proxy = Proxy::start(plan).await;
    proxy
        .router
        .set_members(Role::Stable, vec![up.addr.to_string()]);
    (proxy, up)
}

/// Raw HTTP/1.1 exchange, for requests a polite client would never send.
async fn raw(addr: std::net::SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    String::from_utf8_lossy(&buf).into_owned()
}

#[tokio::test]
async fn forwarding_headers_and_request_id() {
    let (proxy, _up) = one_version(Behaviour::default(), Default::default()).await;
    let c = client();
    let r = c
        .get(proxy.url("/"))
        .header("x-request-id", "req-42")
        .header("connection", "keep-alive, x-drop-me")
        .header("x-drop-me", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-request-id"], "req-42");
    assert_eq!(r.headers()["x-seen-request-id"], "req-42");
    assert_eq!(r.headers()["x-seen-forwarded-for"], "127.0.0.1");
    assert!(
        r.headers().get("x-seen-connection").is_none(),
        "hop-by-hop Connection is not forwarded"
    );
    let r = c.get(proxy.url("/")).send().await.unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(id.len(), 32, "a request id is added when missing");
    assert_eq!(r.headers()["x-seen-request-id"].to_str().unwrap(), id);
}

/// Ambiguous framing is refused with 400 and never reaches an upstream:
/// conflicting Content-Lengths, and Content-Length with Transfer-Encoding
/// (the CL.TE smuggling probe), also as the second request on a keep-alive
/// connection.
#[tokio::test]
async fn ambiguous_framing_cannot_smuggle() {
    let (proxy, up) = one_version(Behaviour::default(), Default::default()).await;
    let resp = raw(
        proxy.addr,
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    assert_eq!(up.served(), 0);
    // CL.TE: the smuggled "GET /admin" must not become a second request.
    let resp = raw(
        proxy.addr,
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    assert_eq!(resp.matches("HTTP/1.1 ").count(), 1, "{resp}");
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    assert_eq!(up.served(), 0);
    let resp = raw(
        proxy.addr,
        "GET /ok HTTP/1.1\r\nHost: x\r\n\r\nPOST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert_eq!(resp.matches("HTTP/1.1 400").count(), 1, "{resp}");
    assert_eq!(up.served(), 1);
}

#[tokio::test]
async fn bodies_stream_both_ways() {
    let (proxy, _up) = one_version(Behaviour::default(), Default::default()).await;
    // A chunked upload of 4 MiB produced on the fly, echoed back.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..64u8).map(|i| Ok(vec![i; 64 * 1024])).collect();
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let r = client()
        .post(proxy.url("/echo"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let got = r.bytes().await.unwrap();
    assert_eq!(got.len(), 64 * 64 * 1024);
    assert!(
        got.chunks(64 * 1024)
            .enumerate()
            .all(|(i, c)| c.iter().all(|b| *b == i as u8))
    );
}

#[tokio::test]
async fn empty_pool_is_503_with_a_reason_counted_on_the_version() {
    let proxy = Proxy::start(Default::default()).await;
    let r = client().get(proxy.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.text().await.unwrap().contains("no healthy upstream"));
    assert_eq!(proxy.router.metrics().stats(Role::Stable, WINDOW).errors, 1);
}

#[tokio::test]
async fn connect_failure_is_502_and_slow_upstream_is_504() {
    // Nothing listens on this port (bound then dropped).
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let body_plan = cutover::plan::ProxyPlan::default();
    let proxy = Proxy::start(body_plan).await;
    proxy
        .router
        .set_members(Role::Stable, vec![dead.to_string()]);
    let r = client().get(proxy.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 502);
    let s = proxy.router.metrics().stats(Role::Stable, WINDOW);
    assert!(s.status_502 >= 1, "{s:?}");

    let plan = cutover::plan::ProxyPlan {
        upstream_timeout: cutover::plan::HumanDuration::from_millis(200),
        ..Default::default()
    };
    let (proxy, _up) = one_version(
        Behaviour {
            status: 200,
            delay: Duration::from_secs(3),
        },
        plan,
    )
    .await;
    let r = client().get(proxy.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 504);
    assert_eq!(
        proxy
            .router
            .metrics()
            .stats(Role::Stable, WINDOW)
            .status_504,
        1
    );
}

#[tokio::test]
async fn client_abort_is_not_an_error() {
    let (proxy, up) = one_version(
        Behaviour {
            status: 200,
            delay: Duration::from_millis(500),
        },
        Default::default(),
    )
    .await;
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(s);
    // Wait until the proxy has noticed and accounted for it.
    let m = proxy.router.metrics();
    for _ in 0..200 {
        if m.in_flight(Role::Stable) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(m.in_flight(Role::Stable), 0);
    let st = m.stats(Role::Stable, WINDOW);
    assert_eq!(st.errors, 0, "{st:?}");
    drop(up);
}

#[tokio::test]
async fn upgrade_is_tunnelled_and_stays_on_its_version() {
    // An upstream that accepts `Upgrade: echo` and then echoes raw bytes.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let mut head = Vec::new();
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut buf).await.unwrap();
            head.extend_from_slice(&buf[..n]);
        }
        s.write_all(
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n",
        )
        .await
        .unwrap();
        loop {
            let n = s.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            s.write_all(&buf[..n]).await.unwrap();
        }
    });
    let proxy = Proxy::start(Default::default()).await;
    proxy
        .router
        .set_members(Role::Stable, vec![addr.to_string()]);
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 1024];
    let mut got = Vec::new();
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        String::from_utf8_lossy(&got).starts_with("HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    // Changing the weight does not move an open tunnel.
    proxy.router.set_weight(1000);
    s.write_all(b"ping").await.unwrap();
    let mut echo = [0u8; 4];
    s.read_exact(&mut echo).await.unwrap();
    assert_eq!(&echo, b"ping");
    assert_eq!(
        proxy.router.metrics().in_flight(Role::Stable),
        1,
        "the tunnel counts as in flight"
    );
}

#[tokio::test]
async fn drain_cuts_in_flight_after_the_timeout_with_504() {
    let (proxy, _up) = one_version(
        Behaviour {
            status: 200,
            delay: Duration::from_secs(5),
        },
        Default::default(),
    )
    .await;
    let url = proxy.url("/");
    let slow = tokio::spawn(async move { client().get(url).send().await.unwrap().status() });
    let m = proxy.router.metrics().clone();
    for _ in 0..200 {
        if m.in_flight(Role::Stable) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    proxy.router.set_members(Role::Stable, vec![]);
    assert_eq!(m.in_flight(Role::Stable), 1);
    let report = proxy
        .router
        .drain(Role::Stable, Duration::from_millis(200))
        .await;
    assert_eq!(report.cut, 1);
    assert_eq!(slow.await.unwrap(), 504);
    assert_eq!(m.stats(Role::Stable, WINDOW).status_504, 1);
}

#[tokio::test]
async fn error_trip_zeroes_the_weight_on_the_crossing_request() {
    let stable = Upstream::start("stable").await;
    let canary = Upstream::start_with(
        "canary",
        Behaviour {
            status: 500,
            delay: Duration::ZERO,
        },
    )
    .await;
    let proxy = Proxy::start(Default::default()).await;
    proxy
        .router
        .set_members(Role::Stable, vec![stable.addr.to_string()]);
    proxy
        .router
        .set_members(Role::Canary, vec![canary.addr.to_string()]);
    proxy.router.set_weight(1000);
    proxy.router.arm_error_trip(Some(5));
    let trips = proxy.router.trips();
    let c = client();
    let mut statuses = Vec::new();
    for _ in 0..20 {
        statuses.push(
            c.get(proxy.url("/"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 500).count(),
        5,
        "{statuses:?}"
    );
    assert!(statuses[5..].iter().all(|s| *s == 200));
    assert_eq!(proxy.router.weight(), 0);
    assert_eq!(*trips.borrow(), 1);
}

#[tokio::test]
async fn access_log_has_one_line_per_request() {
    let (proxy, _up) = one_version(Behaviour::default(), Default::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let log = cutover::proxy::access_log::AccessLog::open(&path)
        .await
        .unwrap();
    proxy.router.set_access_log(Some(log));
    let c = client();
    for i in 0..3 {
        c.get(proxy.url(&format!("/item/{i}")))
            .header("x-request-id", format!("r{i}"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
    }
    let mut text = String::new();
    for _ in 0..100 {
        text = std::fs::read_to_string(&path).unwrap_or_default();
        if text.lines().count() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[1].contains("\"GET /item/1\" 200 stable"),
        "{}",
        lines[1]
    );
    assert!(lines[1].ends_with("rid=r1"), "{}", lines[1]);
}
