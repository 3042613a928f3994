//! Guard reaction time: from the first canary error a client sees to the
//! canary weight reaching 0, at 50 and 500 req/s, through a real daemon
//! (static runtime, in-process upstreams; the canary answers 500 to all,
//! stable 200, so stable's latest answer is always good).
//!
//! Three paths are measured:
//! - the budget (`max_failed_requests`) on the request path: at 1 it fires
//!   on the first canary failure, so its row is the reaction itself (the
//!   proxy sets the weight to 0 within the request that spends it);
//! - the request-path trip (`trip_after`: N canary failures in a row while
//!   stable answers), through the same code: its time adds how long the
//!   canary takes to fail N requests at its share of the load (N ≥ 2: one
//!   failure is no pattern);
//! - the statistical guard alone (`max_error_ratio`, the sequential
//!   comparison with stable at the default confidence, judged every 250 ms;
//!   the trips off).
//!
//! Run: `cargo bench --bench reaction` (prints a markdown table).

use cutover::daemon::DaemonConfig;
use cutover::model::Phase;
use cutover::proxy::Tripped;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

async fn upstream(status: u16) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let svc = service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| async move {
                        let st = if req.uri().path() == "/healthz" {
                            200
                        } else {
                            status
                        };
                        let mut r = hyper::Response::new(Full::new(Bytes::from_static(b"x")));
                        *r.status_mut() = hyper::StatusCode::from_u16(st).unwrap();
                        Ok::<_, std::convert::Infallible>(r)
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    addr
}

/// What one run measured.
struct Reaction {
    /// From the client's first failing answer to the weight seen at 0 (the
    /// watcher's wake-up granularity, about 1 ms, when it already was).
    ms: f64,
    /// Canary failures clients got.
    seen: u64,
    /// The weight was already 0 when the client got the last failing
    /// answer (the one that crossed the line, for the request-path guards):
    /// zeroed within that request.
    within_request: bool,
    /// Which path set the weight to 0.
    by: String,
}

async fn run(rps: f64, guard: &str) -> Reaction {
    let stable = upstream(200).await;
    let canary = upstream(500).await;
    let text = format!(
        r#"service = "bench"
runtime = "static"
[listen]
public = "127.0.0.1:0"
admin = "127.0.0.1:0"
[stable]
upstreams = ["{stable}"]
[canary]
upstreams = ["{canary}"]
[health]
interval = "100ms"
timeout = "100ms"
healthy_after = 1
[guard]
{guard}
window = "10s"
"#
    );
    let plan = cutover::plan::parse(&text, "bench").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let daemon = cutover::daemon::start(DaemonConfig::new(plan, dir.path().to_path_buf()))
        .await
        .unwrap();
    let client = daemon.client();
    while client.state().await.unwrap().phase != Phase::Canary {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    client
        .act(&cutover::model::ActionRequest {
            action: cutover::model::Action::SetWeight { permille: 100 },
            by: cutover::model::Actor::Cli,
            reason: None,
        })
        .await
        .unwrap();
    let router = daemon.router.clone();
    let url = format!("http://{}/", daemon.public_addr);
    let http = reqwest::Client::new();
    let first_error: Arc<std::sync::Mutex<Option<Instant>>> = Default::default();
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let within_request = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    // A watcher samples the weight every 100 µs once the first error is seen.
    let watcher = {
        let (fe, done, router) = (first_error.clone(), done.clone(), router.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_micros(100)).await;
                let seen = fe.lock().unwrap().is_some();
                if seen && router.weight() == 0 {
                    done.store(true, Ordering::SeqCst);
                    return Instant::now();
                }
            }
        })
    };
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rps));
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) && !done.load(Ordering::SeqCst) {
        tick.tick().await;
        let (http, url, fe, errors, within, router) = (
            http.clone(),
            url.clone(),
            first_error.clone(),
            errors.clone(),
            within_request.clone(),
            router.clone(),
        );
        tokio::spawn(async move {
            if let Ok(r) = http.get(&url).send().await
                && r.status() == 500
            {
                errors.fetch_add(1, Ordering::SeqCst);
                within.store(router.weight() == 0, Ordering::SeqCst);
                let mut f = fe.lock().unwrap();
                if f.is_none() {
                    *f = Some(Instant::now());
                }
            }
        });
    }
    let zero = watcher.await.unwrap();
    let fe = first_error
        .lock()
        .unwrap()
        .expect("the canary answered with errors");
    let ms = zero.saturating_duration_since(fe).as_secs_f64() * 1000.0;
    let by = match router.last_trip() {
        Some(Tripped::InARow(n)) => format!("trip ({n} in a row)"),
        Some(Tripped::Budget(n)) => format!("budget ({n} failed)"),
        None => "guard tick".to_string(),
    };
    daemon.stop().await;
    Reaction {
        ms,
        seen: errors.load(Ordering::SeqCst),
        within_request: within_request.load(Ordering::SeqCst),
        by,
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "| guards | load | first canary error → weight 0 | weight 0 before the client got the crossing failure | set to 0 by | canary errors clients saw |"
    );
    println!("|---|---:|---:|---|---|---:|");
    for (name, guard) in [
        (
            "request path: budget (max_failed_requests = 1, trip off)",
            "trip_after = \"off\"\nmax_failed_requests = 1",
        ),
        (
            "request path: trip (trip_after = 2, the least)",
            "trip_after = 2",
        ),
        (
            "request path: trip (trip_after = 10, the default)",
            "trip_after = 10",
        ),
        (
            "statistical (max_error_ratio = 1.25 at 99.5 %, trips off)",
            "trip_after = \"off\"\nmax_error_ratio = 1.25",
        ),
    ] {
        for rps in [50.0, 500.0] {
            let r = rt.block_on(run(rps, guard));
            println!(
                "| {name} | {rps:.0} req/s (10 % canary) | {:.1} ms | {} | {} | {} |",
                r.ms,
                if r.within_request { "yes" } else { "no" },
                r.by,
                r.seen
            );
        }
    }
}
