//! What a service behind the proxy gets, through real sockets: header
//! hygiene, request ids, streaming both ways, upgrades, plain 502/503/504
//! answers counted on the right version, smuggling refused.

use crate::support::proxy as support;

use cutover::model::Role;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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
    assert_eq!(
        r.text().await.unwrap(),
        "503 Service Unavailable: no instance of the service is ready to answer\n"
    );
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
        read_head(&mut s).await.expect("the upgrade request's head");
        let mut buf = vec![0u8; 4096];
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
    let got = read_head(&mut s).await.expect("the 101 head");
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
    proxy.router.arm_trips(cutover::proxy::Trips {
        in_a_row: None,
        budget: Some(5),
    });
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

async fn two_versions(stable: Vec<String>, canary: Vec<String>, weight: u16) -> Proxy {
    let proxy = Proxy::start(Default::default()).await;
    proxy.router.set_members(Role::Stable, stable);
    proxy.router.set_members(Role::Canary, canary);
    proxy.router.set_weight(weight);
    proxy
}

/// A canary whose members are all dead (1, 2 or 3 of them) never keeps a
/// bodyless GET from stable: the last attempt is kept for the version not
/// tried yet. Each failed attempt is charged to the canary, once.
#[tokio::test]
async fn a_dead_canary_pool_sends_bodyless_requests_to_stable() {
    for dead in 1..=3usize {
        let stable = Upstream::start("stable").await;
        let canary: Vec<String> = (0..dead).map(|_| dead_addr()).collect();
        let proxy = two_versions(vec![stable.addr.to_string()], canary, 1000).await;
        let c = client();
        for _ in 0..6 {
            let r = c.get(proxy.url("/")).send().await.unwrap();
            assert_eq!(r.status(), 200, "{dead} dead canary members");
            assert_eq!(r.headers()["x-version"], "stable");
        }
        let m = proxy.router.metrics();
        let canary = m.stats(Role::Canary, WINDOW);
        let stable_s = m.stats(Role::Stable, WINDOW);
        // Two attempts on the canary (or its only member), then stable.
        let per_request = dead.min(2) as u64;
        assert_eq!(canary.status_502, 6 * per_request, "{dead}: {canary:?}");
        assert_eq!(canary.requests, canary.status_502);
        assert_eq!((stable_s.requests, stable_s.errors), (6, 0), "{stable_s:?}");
        assert_eq!(m.in_flight(Role::Canary) + m.in_flight(Role::Stable), 0);
    }
}

/// When every attempt fails, the client's 502 is the last attempt's answer,
/// and every attempt was counted on the version it went to: nothing is
/// answered uncounted, nothing counted twice.
#[tokio::test]
async fn when_both_versions_are_dead_every_attempt_is_charged_to_its_version() {
    let proxy = two_versions(vec![dead_addr()], vec![dead_addr(), dead_addr()], 1000).await;
    let r = client().get(proxy.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 502);
    let text = r.text().await.unwrap();
    assert_eq!(
        text, "502 Bad Gateway: the service did not answer\n",
        "a plain status line: which versions were tried stays inside"
    );
    let m = proxy.router.metrics();
    let (c, s) = (m.stats(Role::Canary, WINDOW), m.stats(Role::Stable, WINDOW));
    assert_eq!((c.status_502, s.status_502), (2, 1), "{c:?} {s:?}");
    // A request with a body is never sent twice: one attempt, one 502.
    let r = client()
        .post(proxy.url("/echo"))
        .body("payload")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    let (c2, s2) = (m.stats(Role::Canary, WINDOW), m.stats(Role::Stable, WINDOW));
    assert_eq!(c2.status_502 + s2.status_502, 4, "{c2:?} {s2:?}");
    assert_eq!(m.in_flight(Role::Canary) + m.in_flight(Role::Stable), 0);
}

/// Upstream connections are pooled and kept alive: 100 sequential requests
/// on one client connection reach the upstream over at most 2 TCP
/// connections. (At most one request is in flight, so the pool can only
/// grow when a request arrives before the previous connection has gone back
/// to idle; the connection it then opens joins the pool, and from then on
/// one of the two is always idle.)
#[tokio::test]
async fn upstream_connections_are_pooled_and_kept_alive() {
    let (proxy, up) = one_version(Behaviour::default(), Default::default()).await;
    let stream = TcpStream::connect(proxy.addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake::<
        _,
        http_body_util::Empty<bytes::Bytes>,
    >(hyper_util::rt::TokioIo::new(stream))
    .await
    .unwrap();
    tokio::spawn(conn);
    for _ in 0..100 {
        send.ready().await.unwrap();
        let req = hyper::Request::get("/")
            .header("host", "x")
            .body(Default::default())
            .unwrap();
        let r = send.send_request(req).await.unwrap();
        assert_eq!(r.status(), 200);
        use http_body_util::BodyExt;
        r.into_body().collect().await.unwrap();
    }
    assert_eq!(up.served(), 100);
    assert!(
        up.accepts() <= 2,
        "{} upstream connections for 100 requests",
        up.accepts()
    );
}

/// A server-sent-event style answer (chunked, five pieces) reaches the
/// client piece by piece: the upstream holds back its last piece until the
/// client says it has the first. A proxy that buffered the answer would
/// deliver nothing first, and the order below would break.
#[tokio::test]
async fn a_chunked_answer_streams_to_the_client_before_it_is_complete() {
    use std::sync::{Arc, Mutex};
    let log: Arc<Mutex<Vec<&'static str>>> = Arc::default();
    let (client_got_first, got_first_rx) = tokio::sync::oneshot::channel::<()>();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let up_log = log.clone();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        read_head(&mut s).await.expect("the request head");
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
            .await
            .unwrap();
        for i in 0..4 {
            let event = format!("data: {i}\n\n");
            s.write_all(format!("{:x}\r\n{event}\r\n", event.len()).as_bytes())
                .await
                .unwrap();
            up_log.lock().unwrap().push("upstream sent a piece");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Hold the last piece until the client has the first (bounded, so
        // a buffering proxy fails the order below instead of hanging).
        let _ = tokio::time::timeout(Duration::from_secs(10), got_first_rx).await;
        up_log.lock().unwrap().push("upstream sent the last piece");
        s.write_all(b"b\r\ndata: end\n\n\r\n0\r\n\r\n")
            .await
            .unwrap();
        // Until the client goes away.
        let _ = s.read(&mut [0u8; 4096]).await;
    });
    let proxy = Proxy::start(Default::default()).await;
    proxy
        .router
        .set_members(Role::Stable, vec![addr.to_string()]);
    let mut r = client().get(proxy.url("/events")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let first = r.chunk().await.unwrap().unwrap();
    assert!(first.starts_with(b"data: 0"), "{first:?}");
    log.lock().unwrap().push("client got the first piece");
    let _ = client_got_first.send(());
    let mut rest = Vec::new();
    while let Some(c) = r.chunk().await.unwrap() {
        rest.extend_from_slice(&c);
    }
    assert!(rest.ends_with(b"data: end\n\n"));
    let log = log.lock().unwrap().clone();
    let got = log
        .iter()
        .position(|e| *e == "client got the first piece")
        .unwrap();
    let last = log
        .iter()
        .position(|e| *e == "upstream sent the last piece")
        .unwrap();
    assert!(got < last, "{log:?}");
    assert!(became_true_within(|| proxy.router.metrics().in_flight(Role::Stable) == 0).await);
}

/// An upload reaches the upstream while the client is still sending it: the
/// client holds back its last chunk until the upstream has read the first.
#[tokio::test]
async fn an_upload_streams_to_the_upstream_before_it_is_complete() {
    use http_body_util::BodyExt;
    use std::sync::{Arc, Mutex};
    let log: Arc<Mutex<Vec<&'static str>>> = Arc::default();
    let (upstream_got_first, got_first_rx) = tokio::sync::oneshot::channel::<()>();
    let upstream_got_first = Arc::new(Mutex::new(Some(upstream_got_first)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let up_log = log.clone();
    tokio::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let log = up_log.clone();
            let signal = upstream_got_first.clone();
            async move {
                let mut body = req.into_body();
                let mut total = 0usize;
                while let Some(frame) = body.frame().await {
                    if let Ok(d) = frame.unwrap().into_data() {
                        if total == 0 {
                            log.lock().unwrap().push("upstream read the first chunk");
                            if let Some(tx) = signal.lock().unwrap().take() {
                                let _ = tx.send(());
                            }
                        }
                        total += d.len();
                    }
                }
                Ok::<_, std::convert::Infallible>(hyper::Response::new(http_body_util::Full::new(
                    bytes::Bytes::from(total.to_string()),
                )))
            }
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
            .await;
    });
    let proxy = Proxy::start(Default::default()).await;
    proxy
        .router
        .set_members(Role::Stable, vec![addr.to_string()]);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(tokio_stream_from(rx));
    let url = proxy.url("/upload");
    let answer = tokio::spawn(async move {
        client()
            .post(url)
            .body(body)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    for _ in 0..4 {
        tx.send(Ok(vec![b'x'; 1000])).await.unwrap();
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), got_first_rx).await;
    log.lock().unwrap().push("client sent the last chunk");
    tx.send(Ok(vec![b'y'; 1000])).await.unwrap();
    drop(tx);
    assert_eq!(answer.await.unwrap(), "5000");
    let log = log.lock().unwrap().clone();
    assert_eq!(
        log,
        [
            "upstream read the first chunk",
            "client sent the last chunk"
        ]
    );
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Hop-by-hop fields go both ways, end to end through real sockets: what
/// `Connection` names, Keep-Alive, Proxy-Connection, TE, and Upgrade when
/// there is no upgrade (RFC 9110 §7.6.1). End-to-end fields stay: Trailer,
/// and Proxy-Authorization / Proxy-Authenticate (not hop-by-hop in RFC 9110;
/// nginx relays them too). X-Forwarded-Proto is cutover's, never the client's.
#[tokio::test]
async fn hop_by_hop_fields_are_stripped_both_ways() {
    // An upstream that answers with hop-by-hop fields of its own and echoes
    // the request head it received as its body.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let head = read_head(&mut s).await.expect("the request head");
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: x-up-drop\r\nX-Up-Drop: 1\r\n\
             Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c\r\n\
             Proxy-Authenticate: Basic realm=\"up\"\r\nTrailer: x-checksum\r\nX-Up-Kept: yes\r\n\r\n",
            head.len()
        );
        s.write_all(answer.as_bytes()).await.unwrap();
        s.write_all(&head).await.unwrap();
        // Until the client goes away.
        let _ = s.read(&mut [0u8; 4096]).await;
    });
    let proxy = Proxy::start(Default::default()).await;
    proxy
        .router
        .set_members(Role::Stable, vec![addr.to_string()]);
    let (head, body) = raw_exchange(
        proxy.addr,
        "GET /h HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, x-drop-me\r\nX-Drop-Me: 1\r\n\
         Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\n\
         Upgrade: h2c\r\nTrailer: x-checksum\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\n\
         X-Forwarded-Proto: https\r\nX-Forwarded-For: 10.0.0.1\r\nX-Kept: yes\r\n\
         X-Forwarded-For: 10.0.0.2\r\n\r\n",
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let seen = head_fields(&String::from_utf8_lossy(&body));
    let names: Vec<&str> = seen.iter().map(|(k, _)| k.as_str()).collect();
    for gone in [
        "x-drop-me",
        "keep-alive",
        "proxy-connection",
        "te",
        "upgrade",
    ] {
        assert!(
            !names.contains(&gone),
            "{gone} reached the upstream: {names:?}"
        );
    }
    for (k, v) in &seen {
        if k == "connection" {
            assert!(!v.contains("x-drop-me"), "{v}");
        }
    }
    for kept in [
        "x-kept",
        "trailer",
        "proxy-authorization",
        "host",
        "x-forwarded-for",
    ] {
        assert!(names.contains(&kept), "{kept} missing upstream: {names:?}");
    }
    let protos: Vec<&str> = seen
        .iter()
        .filter(|(k, _)| k == "x-forwarded-proto")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(protos, ["http"], "the client's https claim is overwritten");
    let chain: Vec<&str> = seen
        .iter()
        .filter(|(k, _)| k == "x-forwarded-for")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(
        chain,
        ["10.0.0.1, 10.0.0.2, 127.0.0.1"],
        "two lines from earlier hops are one list, this client last"
    );

    let answer = head_fields(&head);
    let names: Vec<&str> = answer.iter().map(|(k, _)| k.as_str()).collect();
    for gone in ["x-up-drop", "keep-alive", "proxy-connection", "upgrade"] {
        assert!(
            !names.contains(&gone),
            "{gone} reached the client: {names:?}"
        );
    }
    for (k, v) in &answer {
        if k == "connection" {
            assert!(!v.contains("x-up-drop"), "{v}");
        }
    }
    for kept in ["x-up-kept", "proxy-authenticate", "trailer"] {
        assert!(
            names.contains(&kept),
            "{kept} missing at the client: {names:?}"
        );
    }
}

/// `SO_REUSEPORT` must not let a second cutover share a public port
/// silently: binding a port that is in use fails, and the daemon says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_proxy_on_the_same_port_is_refused() {
    let router = || {
        cutover::proxy::Router::new(
            std::sync::Arc::new(cutover::metrics::Metrics::new()),
            cutover::proxy::ProxyOptions::from_plan("clash", &Default::default()),
        )
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    let (bound, threads) =
        cutover::proxy::spawn_workers(any, router(), 2, stop_rx.clone(), Duration::from_secs(1))
            .unwrap();
    let second =
        cutover::proxy::spawn_workers(bound, router(), 2, stop_rx.clone(), Duration::from_secs(1));
    let err = second.expect_err("the port is taken");
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse, "{err}");
    // Another service holding it (no SO_REUSEPORT) is refused the same way.
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let held = other.local_addr().unwrap();
    let err =
        cutover::proxy::spawn_workers(held, router(), 2, stop_rx.clone(), Duration::from_secs(1))
            .expect_err("the port is taken");
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse, "{err}");

    // The daemon turns it into its clear message, and starts nothing.
    let up = Upstream::start("stable").await;
    let text = format!(
        "service = \"clash\"\nruntime = \"static\"\n[listen]\npublic = \"{bound}\"\nadmin = \"127.0.0.1:0\"\n\
         [stable]\nupstreams = [\"{}\"]\n",
        up.addr
    );
    let plan = cutover::plan::parse(&text, "clash").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let started = cutover::daemon::start(cutover::daemon::DaemonConfig::new(
        plan,
        dir.path().to_path_buf(),
    ))
    .await;
    let err = format!("{:#}", started.err().expect("the public port is taken"));
    assert!(
        err.contains(&format!(
            "cannot listen on {bound} (public): is another cutover or service using it?"
        )),
        "{err}"
    );
    // The first proxy is untouched and still answers (503: it has no members).
    let r = client()
        .get(format!("http://{bound}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    stop_tx.send(true).unwrap();
    for t in threads {
        t.join().unwrap();
    }
}

/// An upstream that closes every connection right after its answer, without
/// saying so (no `Connection: close`): the keep-alive race, every time. The
/// pool finds each connection closed, or has it closed under the request and
/// sends a bodyless GET again on a fresh one; nothing fails, nothing is
/// charged to the version.
#[tokio::test]
async fn connections_the_upstream_closes_after_each_answer_cost_no_errors() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepts = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = accepts.clone();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                if read_head(&mut s).await.is_none() {
                    return;
                }
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .await;
                // Dropped: closed with no warning.
            });
        }
    });
    let proxy = Proxy::start(Default::default()).await;
    proxy
        .router
        .set_members(Role::Stable, vec![addr.to_string()]);
    let c = client();
    for i in 0..50 {
        let r = c.get(proxy.url("/")).send().await.unwrap();
        assert_eq!(r.status(), 200, "request {i}");
        assert_eq!(r.text().await.unwrap(), "ok");
    }
    let s = proxy.router.metrics().stats(Role::Stable, WINDOW);
    assert_eq!((s.requests, s.errors), (50, 0), "{s:?}");
    assert!(accepts.load(std::sync::atomic::Ordering::SeqCst) >= 50);
}

/// A canary whose k-th answer is a 500 that takes 300 + k × 150 ms: the first
/// error trips the weight to 0 while the others are still on the canary.
async fn staggered_failing_canary() -> (std::net::SocketAddr, Arc<AtomicU64>) {
    use http_body_util::Full;
    use hyper::service::service_fn;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let arrived = Arc::new(AtomicU64::new(0));
    let counter = arrived.clone();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else {
                continue;
            };
            let counter = counter.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |_req: hyper::Request<hyper::body::Incoming>| {
                    let k = counter.fetch_add(1, Ordering::SeqCst);
                    async move {
                        tokio::time::sleep(Duration::from_millis(300 + 150 * k)).await;
                        let mut r =
                            hyper::Response::new(Full::new(bytes::Bytes::from_static(b"boom")));
                        *r.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
                        Ok::<_, std::convert::Infallible>(r)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    (addr, arrived)
}

/// Requests already on the canary when the trip fires come back 500 after
/// its share went to 0: stable answers them instead, so the client sees
/// exactly the trip's limit in errors, while the canary is charged every one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_errors_after_the_trip_are_served_by_stable() {
    let stable = Upstream::start("stable").await;
    let (canary, arrived) = staggered_failing_canary().await;
    let proxy = Proxy::start(Default::default()).await;
    proxy
        .router
        .set_members(Role::Stable, vec![stable.addr.to_string()]);
    proxy
        .router
        .set_members(Role::Canary, vec![canary.to_string()]);
    proxy.router.set_weight(1000);
    proxy.router.arm_trips(cutover::proxy::Trips {
        in_a_row: None,
        budget: Some(1),
    });
    let c = client();
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let n = arrived.load(Ordering::SeqCst);
        let (c, url) = (c.clone(), proxy.url("/"));
        tasks.push(tokio::spawn(async move {
            c.get(url).send().await.unwrap().status().as_u16()
        }));
        // All five reach the canary, in order, before the first answers.
        assert!(
            became_true_within(|| arrived.load(Ordering::SeqCst) > n).await,
            "request {} never reached the canary",
            n + 1
        );
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses,
        vec![500, 200, 200, 200, 200],
        "what the clients saw"
    );
    assert_eq!(proxy.router.weight(), 0);
    let m = proxy.router.metrics();
    let canary_stats = m.stats(Role::Canary, WINDOW);
    assert_eq!(
        canary_stats.requests, 5,
        "the canary is charged every request"
    );
    assert_eq!(canary_stats.errors, 5, "and every error");
    assert_eq!(m.stats(Role::Stable, WINDOW).requests, 4);
}
