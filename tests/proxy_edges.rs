//! The public listener's edges against a hostile client, through real
//! sockets (raw TCP where a polite client would never send such bytes): the
//! framing watchdog and hyper agree on every request boundary (an `Upgrade`
//! that is not one, a head over the cap in one write or two), RFC 9112's
//! Host and CONNECT rules, error bodies that name nothing internal, and
//! stalled uploads answered 408 without charging the version.

use crate::support::proxy as support;

use bytes::Bytes;
use cutover::model::Role;
use cutover::plan::{ByteSize, HumanDuration, ProxyPlan};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What an upstream received: method, request target, every Host value.
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    method: String,
    target: String,
    hosts: Vec<String>,
}

/// An upstream that records every request it gets and answers 200.
struct Recorder {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Recorder {
    async fn start() -> Recorder {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let log = log.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: hyper::Request<Incoming>| {
                        let log = log.clone();
                        async move {
                            let hosts = req
                                .headers()
                                .get_all("host")
                                .iter()
                                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                                .collect();
                            log.lock().unwrap().push(Seen {
                                method: req.method().to_string(),
                                target: req.uri().to_string(),
                                hosts,
                            });
                            let _ = req.into_body().collect().await;
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                                Bytes::from_static(b"ok"),
                            )))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .with_upgrades()
                        .await;
                });
            }
        });
        Recorder { addr, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn proxy_to(addr: SocketAddr, plan: ProxyPlan) -> Proxy {
    let proxy = Proxy::start(plan).await;
    proxy
        .router
        .set_members(Role::Stable, vec![addr.to_string()]);
    proxy
}

/// Send `writes` one after the other on a fresh connection (each its own
/// write), then read everything the proxy sends until it closes.
async fn exchange(addr: SocketAddr, writes: &[&[u8]]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    for w in writes {
        // A refused head closes the connection; later writes may fail.
        if s.write_all(w).await.is_err() {
            break;
        }
        let _ = s.flush().await;
    }
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    String::from_utf8_lossy(&buf).into_owned()
}

const CL_TE: &[u8] = b"POST /smuggled HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";

/// `Upgrade:` without `Connection: upgrade` is an ordinary request for hyper;
/// the watchdog must keep watching too, so the CL+TE request behind it on
/// the same connection is refused and never forwarded.
#[tokio::test]
async fn an_upgrade_header_without_connection_upgrade_does_not_blind_the_watchdog() {
    let up = Recorder::start().await;
    let proxy = proxy_to(up.addr, ProxyPlan::default()).await;
    let mut raw = b"GET /first HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n".to_vec();
    raw.extend_from_slice(CL_TE);
    let answer = exchange(proxy.addr, &[&raw]).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(answer.matches("HTTP/1.1 400").count(), 1, "{answer}");
    let targets: Vec<String> = up.seen().into_iter().map(|s| s.target).collect();
    assert_eq!(targets, ["/first"], "the CL+TE request was never forwarded");
}

/// A real upgrade the upstream declines: the answer closes the connection,
/// so nothing the watchdog stopped following can be forwarded after it.
#[tokio::test]
async fn a_declined_upgrade_closes_the_connection() {
    let up = Recorder::start().await;
    let proxy = proxy_to(up.addr, ProxyPlan::default()).await;
    let mut raw =
        b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"
            .to_vec();
    raw.extend_from_slice(CL_TE);
    let answer = exchange(proxy.addr, &[&raw]).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "{answer}");
    let targets: Vec<String> = up.seen().into_iter().map(|s| s.target).collect();
    assert_eq!(targets, ["/ws"]);
}

fn big_head(header_bytes: usize) -> Vec<u8> {
    let mut head = b"GET /big HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    head.extend(std::iter::repeat_n(b'a', header_bytes));
    head.extend_from_slice(b"\r\n\r\n");
    head
}

/// A head over the 64 KiB default sent in two writes, then a CL+TE request:
/// 431, and nothing reaches the upstream (before, hyper took heads up to
/// ~400 KB while the watchdog gave up at 64 KiB, and the CL+TE request went
/// through).
#[tokio::test]
async fn a_head_over_the_cap_in_two_writes_is_431_and_nothing_is_forwarded() {
    let up = Recorder::start().await;
    let proxy = proxy_to(up.addr, ProxyPlan::default()).await;
    let head = big_head(70 * 1024);
    let (a, b) = head.split_at(40 * 1024);
    let answer = exchange(proxy.addr, &[a, b, CL_TE]).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:.200}");
    assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "{answer:.400}");
    assert!(up.seen().is_empty(), "{:?}", up.seen());
    // Under the cap, the same shape passes.
    let small = big_head(60 * 1024);
    let (a, b) = small.split_at(30 * 1024);
    let answer = exchange(proxy.addr, &[a, b]).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:.200}");
}

/// A 420 KB header (hyper's own buffer limit is ~400 KB, the watchdog's was
/// 64 KiB) is 431; so is a head over a lower planned cap.
#[tokio::test]
async fn a_420_kb_header_is_431() {
    let up = Recorder::start().await;
    let proxy = proxy_to(up.addr, ProxyPlan::default()).await;
    let answer = exchange(proxy.addr, &[&big_head(420_000)]).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:.200}");
    let plan = ProxyPlan {
        max_head_size: ByteSize(8 * 1024),
        ..ProxyPlan::default()
    };
    let capped = proxy_to(up.addr, plan).await;
    let answer = exchange(capped.addr, &[&big_head(10 * 1024)]).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:.200}");
    assert!(up.seen().is_empty(), "{:?}", up.seen());
}

/// Two Host headers are a 400 (RFC 9112 §3.2) and never forwarded.
#[tokio::test]
async fn two_host_headers_are_refused() {
    let up = Recorder::start().await;
    let proxy = proxy_to(up.addr, ProxyPlan::default()).await;
    let answer = exchange(
        proxy.addr,
        &[b"GET /two HTTP/1.1\r\nHost: shop.example\r\nHost: admin.internal\r\nConnection: close\r\n\r\n"],
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("more than one Host"), "{answer}");
    let answer = exchange(
        proxy.addr,
        &[b"GET /none HTTP/1.1\r\nConnection: close\r\n\r\n"],
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(up.seen().is_empty(), "{:?}", up.seen());
}

/// `Connection: host` names Host as a connection option; Host is never
/// hop-by-hop, so the upstream still gets it.
#[tokio::test]
async fn connection_host_does_not_strip_host() {
    let up = Recorder::start().await;
    let proxy = proxy_to(up.addr, ProxyPlan::default()).await;
    let answer = exchange(
        proxy.addr,
        &[b"GET /c HTTP/1.1\r\nHost: shop.example\r\nConnection: host, close\r\n\r\n"],
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(up.seen()[0].hosts, ["shop.example"]);
}

/// An absolute-form target's authority replaces the Host the client sent
/// (RFC 9112 §3.2.2), without userinfo; the upstream gets the origin form.
#[tokio::test]
async fn an_absolute_form_target_names_the_host() {
    let up = Recorder::start().await;
    let proxy = proxy_to(up.addr, ProxyPlan::default()).await;
    let answer = exchange(
        proxy.addr,
        &[b"GET http://user:pw@real.example:8081/path?q=1 HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n"],
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(
        up.seen(),
        [Seen {
            method: "GET".into(),
            target: "/path?q=1".into(),
            hosts: vec!["real.example:8081".into()],
        }]
    );
}

/// CONNECT is refused with 501 and a plain reason, and the connection
/// closes (what follows would be tunnel bytes); it is never forwarded.
#[tokio::test]
async fn connect_is_refused_never_forwarded() {
    let up = Recorder::start().await;
    let proxy = proxy_to(up.addr, ProxyPlan::default()).await;
    let mut raw = b"CONNECT db.internal:5432 HTTP/1.1\r\nHost: db.internal:5432\r\n\r\n".to_vec();
    raw.extend_from_slice(b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n");
    let answer = exchange(proxy.addr, &[&raw]).await;
    assert!(answer.starts_with("HTTP/1.1 501"), "{answer}");
    assert!(answer.contains("CONNECT is not supported"), "{answer}");
    assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "{answer}");
    assert!(up.seen().is_empty(), "{:?}", up.seen());
}

/// Every answer cutover makes itself is a plain status line: no upstream
/// address, no version name, no error chain. (The detail is in the access
/// log, checked at the end.)
#[tokio::test]
async fn no_error_body_names_an_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let dead = dead_addr();
    // An upstream that answers a head promising 10 bytes, then closes.
    let breaker = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let breaker_addr = breaker.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = breaker.accept().await else {
                continue;
            };
            let _ = read_head(&mut s).await;
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")
                .await;
        }
    });
    let slow = Upstream::start_with(
        "slow",
        Behaviour {
            status: 200,
            delay: Duration::from_secs(30),
        },
    )
    .await;
    let plan = ProxyPlan {
        upstream_timeout: HumanDuration::from_millis(300),
        ..ProxyPlan::default()
    };
    let proxy = Proxy::start(plan).await;
    let log_path = dir.path().join("access.log");
    proxy.router.set_access_log(Some(
        cutover::proxy::access_log::AccessLog::open(&log_path)
            .await
            .unwrap(),
    ));
    let c = client();
    let mut bodies = Vec::new();
    // (members, expected status)
    let cases: [(Vec<String>, u16); 4] = [
        (vec![], 503),
        (vec![dead.clone()], 502),
        (vec![breaker_addr.to_string()], 502),
        (vec![slow.addr.to_string()], 504),
    ];
    for (members, want) in cases {
        proxy.router.set_members(Role::Stable, members.clone());
        let r = c.get(proxy.url("/x")).send().await.unwrap();
        assert_eq!(r.status(), want, "{members:?}");
        bodies.push(r.text().await.unwrap());
    }
    // A POST to the dead member (not retried) too.
    proxy.router.set_members(Role::Stable, vec![dead.clone()]);
    let r = c.post(proxy.url("/x")).body("b").send().await.unwrap();
    assert_eq!(r.status(), 502);
    bodies.push(r.text().await.unwrap());
    let secrets = [
        dead.clone(),
        breaker_addr.to_string(),
        slow.addr.to_string(),
        "127.0.0.1".to_string(),
        "stable".to_string(),
        "canary".to_string(),
    ];
    for body in &bodies {
        for secret in &secrets {
            assert!(!body.contains(secret.as_str()), "{body:?} names {secret}");
        }
        let (status, reason) = body.split_once(": ").expect("`NNN Reason: why`");
        assert!(
            status.len() > 4 && status[..3].chars().all(|c| c.is_ascii_digit()),
            "{body:?}"
        );
        assert!(
            reason.ends_with('\n') && !reason.trim().is_empty(),
            "{body:?}"
        );
    }
    assert_eq!(
        bodies[1], "502 Bad Gateway: the service did not answer\n",
        "{bodies:?}"
    );
    // The detail stays inside: the access log names the dead member and why.
    let logged = || std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(
        became_true_within(|| logged().lines().count() >= 5).await,
        "{}",
        logged()
    );
    let text = logged();
    assert!(
        text.lines()
            .any(|l| l.contains(&dead) && l.contains(" 502 ") && l.contains("error=")),
        "{text}"
    );
}

/// Raw upload head + part of its body; the connection is returned open so
/// the test decides when (never) to send the rest.
async fn stalled_upload(addr: SocketAddr, chunked: bool) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let raw: &[u8] = if chunked {
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"
    } else {
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc"
    };
    s.write_all(raw).await.unwrap();
    s
}

/// The status line of what the proxy answers on `s` (bounded wait).
async fn status_of(s: &mut TcpStream) -> String {
    let head = tokio::time::timeout(Duration::from_secs(10), read_head(s))
        .await
        .expect("an answer in time")
        .expect("a head before the close");
    String::from_utf8_lossy(&head)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// A client that sends a head with a body (length or chunked) and stalls
/// gets 408 after `client_body_timeout`, and the version is not charged —
/// even with an `upstream_timeout` shorter than the client's: while the
/// proxy waits on the client, the upstream's clock does not run.
#[tokio::test]
async fn a_stalled_upload_is_408_and_not_the_versions() {
    let up = Upstream::start("stable").await;
    let plan = ProxyPlan {
        upstream_timeout: HumanDuration::from_millis(100),
        client_body_timeout: HumanDuration::from_millis(400),
        ..ProxyPlan::default()
    };
    let proxy = proxy_to(up.addr, plan).await;
    for chunked in [false, true] {
        let mut s = stalled_upload(proxy.addr, chunked).await;
        assert_eq!(status_of(&mut s).await, "HTTP/1.1 408 Request Timeout");
    }
    let m = proxy.router.metrics();
    assert!(became_true_within(|| m.in_flight(Role::Stable) == 0).await);
    let l = m.lifetime(Role::Stable);
    assert_eq!(
        (l.requests, l.errors, l.client_timeouts, l.gateway),
        (0, 0, 2, [0, 0, 0]),
        "{l:?}"
    );
    let s = m.stats(Role::Stable, Duration::from_secs(60));
    assert_eq!((s.requests, s.errors), (0, 0), "{s:?}");
    // The same upload finished in time goes through.
    let r = client()
        .post(proxy.url("/echo"))
        .body("0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "0123456789");
}

/// An upstream that got the whole request and does not answer within
/// `upstream_timeout` is a 504 charged to its version.
#[tokio::test]
async fn a_hung_upstream_after_a_complete_body_is_a_504_charged() {
    let hung = Upstream::start_with(
        "stable",
        Behaviour {
            status: 200,
            delay: Duration::from_secs(30),
        },
    )
    .await;
    let plan = ProxyPlan {
        upstream_timeout: HumanDuration::from_millis(300),
        client_body_timeout: HumanDuration::from_secs(10),
        ..ProxyPlan::default()
    };
    let proxy = proxy_to(hung.addr, plan).await;
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789")
        .await
        .unwrap();
    assert_eq!(status_of(&mut s).await, "HTTP/1.1 504 Gateway Timeout");
    let l = proxy.router.metrics().lifetime(Role::Stable);
    assert_eq!(
        (l.requests, l.errors, l.gateway[2], l.client_timeouts),
        (1, 1, 1, 0),
        "{l:?}"
    );
}

/// A slow but steady upload — each piece within `client_body_timeout`, the
/// whole far longer than `upstream_timeout` — is neither cut as a stalled
/// client nor charged as a hung upstream: the upstream's clock runs from the
/// last piece, and the client's resets with each.
#[tokio::test]
async fn a_slow_steady_upload_goes_through() {
    let up = Upstream::start("stable").await;
    let plan = ProxyPlan {
        upstream_timeout: HumanDuration::from_millis(150),
        client_body_timeout: HumanDuration::from_millis(400),
        ..ProxyPlan::default()
    };
    let proxy = proxy_to(up.addr, plan).await;
    // Ten pieces, 100 ms apart (the pacing is the client's behaviour).
    let pieces = futures::stream::unfold(0u8, |i| async move {
        if i == 10 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        Some((Ok::<_, std::io::Error>(vec![b'a' + i; 100]), i + 1))
    });
    let r = client()
        .post(proxy.url("/echo"))
        .body(reqwest::Body::wrap_stream(pieces))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().len(), 1000);
    let l = proxy.router.metrics().lifetime(Role::Stable);
    assert_eq!(
        (l.requests, l.errors, l.client_timeouts),
        (1, 0, 0),
        "{l:?}"
    );
}
