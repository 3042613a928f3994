//! The load generator against an in-test server: exact counts by class and
//! version (checked against what the server itself answered), and it stops
//! by itself.

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_match_what_the_server_answered_and_it_stops() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let (s2, e2) = (served.clone(), errors.clone());
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (served, errors) = (s2.clone(), e2.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |_req| {
                    let n = served.fetch_add(1, Ordering::SeqCst);
                    let status = if n % 4 == 3 {
                        errors.fetch_add(1, Ordering::SeqCst);
                        503
                    } else {
                        200
                    };
                    let version = if n % 2 == 0 { "v1" } else { "v2" };
                    async move {
                        let mut r = hyper::Response::new(Full::new(Bytes::from_static(b"ok")));
                        *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
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
    let served = served.load(Ordering::SeqCst);
    assert_eq!(s.requests, served);
    assert_eq!(s.status_5xx, errors.load(Ordering::SeqCst));
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
