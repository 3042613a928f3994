//! The load generator against an in-test server: exact counts by class and
//! version (checked against what the server itself answered), it stops by
//! itself, `stop` ends every worker (no request after it returns), and the
//! `cutover load` command prints a summary whose counts are exact.

use crate::support::tmux::Tmux;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What the in-test server answered, by class.
#[derive(Default)]
struct Answered {
    total: AtomicU64,
    s2xx: AtomicU64,
    s4xx: AtomicU64,
    s5xx: AtomicU64,
    s503: AtomicU64,
    v1: AtomicU64,
    v2: AtomicU64,
}

impl Answered {
    fn get(n: &AtomicU64) -> u64 {
        n.load(Ordering::SeqCst)
    }
}

/// A plain HTTP server on port 0: the n-th request (0-based) is answered
/// `status(n)` after `delay`, alternately as `X-Version: v1` and `v2`.
async fn server(status: fn(u64) -> u16, delay: Duration) -> (SocketAddr, Arc<Answered>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let answered = Arc::new(Answered::default());
    let a = answered.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let a = a.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |_req| {
                    let a = a.clone();
                    async move {
                        let n = a.total.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(delay).await;
                        let code = status(n);
                        let counter = match code {
                            200..=299 => &a.s2xx,
                            400..=499 => &a.s4xx,
                            _ => &a.s5xx,
                        };
                        counter.fetch_add(1, Ordering::SeqCst);
                        if code == 503 {
                            a.s503.fetch_add(1, Ordering::SeqCst);
                        }
                        let version = if n % 2 == 0 { "v1" } else { "v2" };
                        if n % 2 == 0 { &a.v1 } else { &a.v2 }.fetch_add(1, Ordering::SeqCst);
                        let mut r = hyper::Response::new(Full::new(Bytes::from_static(b"ok")));
                        *r.status_mut() = hyper::StatusCode::from_u16(code).unwrap();
                        r.headers_mut()
                            .insert("x-version", version.parse().unwrap());
                        Ok::<_, std::convert::Infallible>(r)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, answered)
}

fn every_fourth_503(n: u64) -> u16 {
    if n % 4 == 3 { 503 } else { 200 }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_match_what_the_server_answered_and_it_stops() {
    let (addr, answered) = server(every_fourth_503, Duration::ZERO).await;
    let started = std::time::Instant::now();
    let s = cutover::demo::load::generate(
        &format!("http://{addr}/"),
        200.0,
        Duration::from_secs(1),
        4,
        std::future::pending(),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "it stops by itself"
    );
    let served = Answered::get(&answered.total);
    assert_eq!(s.requests, served);
    assert_eq!(s.status_5xx, Answered::get(&answered.s5xx));
    assert_eq!(s.status_503, s.status_5xx);
    assert_eq!(s.ok + s.status_5xx, s.requests);
    assert_eq!(s.transport_errors, 0);
    assert_eq!(s.by_version.values().sum::<u64>(), s.requests);
    assert!(
        (100..=260).contains(&s.requests),
        "about 200 requests in a second: {}",
        s.requests
    );
    assert!(s.p99_ms.is_some());
}

/// `stop` ends the workers instead of only no longer waiting for them: once
/// `generate` returns, not one more request reaches the server (the demo
/// stops its daemon right after, and left-over workers kept sending to it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_stop_no_more_requests_arrive() {
    // Slow answers, so requests are in flight when `stop` fires.
    let (addr, answered) = server(|_| 200, Duration::from_millis(30)).await;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let gen_task = tokio::spawn(async move {
        cutover::demo::load::generate(
            &format!("http://{addr}/"),
            200.0,
            Duration::from_secs(60),
            8,
            async move {
                let _ = rx.await;
            },
        )
        .await
    });
    // Let traffic flow, then stop.
    while Answered::get(&answered.total) < 50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tx.send(()).unwrap();
    let s = gen_task.await.unwrap();
    // Requests already on the wire when the workers were aborted may still
    // be read by the server; give them a moment, then nothing may come.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let settled = Answered::get(&answered.total);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        Answered::get(&answered.total),
        settled,
        "requests kept arriving after stop"
    );
    // (The server counts arrivals, the generator answers: it saw fewer.)
    assert!(s.requests > 0 && s.requests <= settled, "{s:?}");
    assert_eq!(s.transport_errors, 0);
}

#[tokio::test]
async fn refused_connections_are_transport_errors() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let s = cutover::demo::load::generate(
        &format!("http://{dead}/"),
        50.0,
        Duration::from_millis(300),
        2,
        std::future::pending(),
    )
    .await;
    assert!(s.requests > 0);
    assert_eq!(s.transport_errors, s.requests);
    assert_eq!(s.ok, 0);
}

/// 200, with a 404 every 5th and a 503 every 7th request.
fn mixed(n: u64) -> u16 {
    if n % 7 == 6 {
        503
    } else if n % 5 == 4 {
        404
    } else {
        200
    }
}

async fn run_load(args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
        .arg("load")
        .args(args)
        .output()
        .await
        .expect("cutover load runs")
}

/// `cutover load URL --rps N --duration D --concurrency C`: the summary
/// counts exactly what the server answered, by class and by version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_command_summary_counts_exactly() {
    let (addr, answered) = server(mixed, Duration::ZERO).await;
    let url = format!("http://{addr}/");
    let out = run_load(&[
        &url,
        "--rps",
        "150",
        "--duration",
        "1s",
        "--concurrency",
        "3",
        "--json",
    ])
    .await;
    assert!(out.status.success(), "{out:?}");
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON summary");
    let n = |k: &str| s[k].as_u64().unwrap_or_else(|| panic!("{k} in {s}"));
    assert_eq!(n("requests"), Answered::get(&answered.total));
    assert_eq!(n("status_2xx"), Answered::get(&answered.s2xx));
    assert_eq!(n("status_4xx"), Answered::get(&answered.s4xx));
    assert_eq!(n("status_5xx"), Answered::get(&answered.s5xx));
    assert_eq!(n("status_503"), Answered::get(&answered.s503));
    assert_eq!(n("ok"), n("status_2xx"));
    assert_eq!(n("transport_errors"), 0);
    assert_eq!(
        s["by_version"]["v1"].as_u64(),
        Some(Answered::get(&answered.v1))
    );
    assert_eq!(
        s["by_version"]["v2"].as_u64(),
        Some(Answered::get(&answered.v2))
    );
    assert!(n("status_4xx") > 0 && n("status_5xx") > 0, "{s}");
    assert!(s["p50_ms"].is_number() && s["p99_ms"].is_number(), "{s}");

    // The human summary: requests, errors by class, p50/p99, per version.
    let before = Answered::get(&answered.total);
    let out = run_load(&[&url, "--rps", "100", "--duration", "500ms"]).await;
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let sent = Answered::get(&answered.total) - before;
    assert!(
        text.starts_with(&format!("{sent} requests, ")),
        "the summary counts {sent} requests: {text}"
    );
    for part in [
        "4xx",
        "5xx",
        "503",
        "transport errors",
        "p50",
        "p99",
        "X-Version v1:",
    ] {
        assert!(text.contains(part), "{part:?} in the summary: {text}");
    }
    // Not a terminal: no progress line on stderr.
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("requests"),
        "{out:?}"
    );
}

/// On a terminal, a live progress line on stderr, left with the final figures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_command_shows_progress_on_a_terminal() {
    if !Tmux::available() {
        eprintln!("skipping: tmux is not installed");
        return;
    }
    let (addr, answered) = server(|_| 200, Duration::ZERO).await;
    let tmux = Tmux::new("cutover-load", "load");
    tmux.start(
        120,
        10,
        &format!(
            "{} load http://{addr}/ --rps 50 --duration 1500ms --concurrency 2; sleep 30",
            env!("CARGO_BIN_EXE_cutover")
        ),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut screen = String::new();
    while std::time::Instant::now() < deadline {
        screen = tmux.screen();
        if screen.contains("p99") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let total = Answered::get(&answered.total);
    assert!(total > 0);
    assert!(
        screen.contains(&format!(" {total} requests  {total} ok")),
        "the progress line ends on the final count ({total}):\n{screen}"
    );
    assert!(
        screen.contains(&format!("{total} requests, {total} ok")),
        "{screen}"
    );
}
