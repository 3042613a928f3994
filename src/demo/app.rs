//! The demo app (`cutover demo-app`): a small HTTP service that says which
//! version it is and can be told to misbehave — errors (from the start or
//! after N requests), latency, a slow start, a crash after N requests, a memory hog, a health check that never
//! passes — with flags or `DEMO_*` environment variables, so a container
//! needs nothing but its environment. Two endpoints make load on demand:
//! `GET /slow?ms=N` answers after N ms (requests in flight, for scaling by
//! in-flight) and `GET /grow?mib=N` keeps N MiB more (memory nearing a limit).

use bytes::Bytes;
use color_eyre::eyre::{Result, WrapErr, eyre};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;

/// The knobs, parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct AppConfig {
    pub version: String,
    pub error_rate: f64,
    /// Requests served before `error_rate` applies.
    pub error_after: u64,
    pub latency: Duration,
    pub crash_after: Option<u64>,
    pub hog_mib: Option<u64>,
    pub never_healthy: bool,
}

impl AppConfig {
    pub fn from_args(a: &crate::cli::DemoAppArgs) -> Result<AppConfig> {
        let latency = a.latency;
        if !(0.0..=1.0).contains(&a.error_rate) {
            return Err(eyre!(
                "--error-rate {} is not between 0 and 1",
                a.error_rate
            ));
        }
        Ok(AppConfig {
            version: a.version.clone(),
            error_rate: a.error_rate,
            error_after: a.error_after.unwrap_or(0),
            latency: latency.get(),
            crash_after: a.crash_after,
            hog_mib: a.hog_mib,
            never_healthy: a.never_healthy,
        })
    }
}

type Body = BoxBody<Bytes, hyper::Error>;

struct State {
    cfg: AppConfig,
    served: AtomicU64,
    /// Memory kept on purpose by the hog knob.
    hoard: Mutex<Vec<Vec<u8>>>,
}

/// `cutover demo-app`: bind after the startup delay, serve until SIGTERM.
pub async fn run(args: crate::cli::DemoAppArgs) -> Result<()> {
    let cfg = AppConfig::from_args(&args)?;
    tokio::time::sleep(args.startup_delay.get()).await;
    let addr = format!("{}:{}", args.bind, args.port);
    let listener = TcpListener::bind(&addr)
        .await
        .wrap_err_with(|| format!("cannot listen on {addr}"))?;
    say(&format!("demo-app {} listening on {addr}", cfg.version));
    serve(listener, cfg, crate::daemon::wait_for_signal()).await;
    say("demo-app: stopped");
    Ok(())
}

/// One line on stderr, if anyone still reads it: a write error (a pipe or
/// terminal that closed, when something else than cutover runs the app)
/// must not take the app down, as `eprintln!` would by panicking. Under
/// cutover's process runtime stderr is a file in the state directory, so
/// this is not what keeps a replica alive when its daemon dies.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Serve on `listener` until `shutdown`, then finish in-flight requests.
pub async fn serve(listener: TcpListener, cfg: AppConfig, shutdown: impl Future<Output = ()>) {
    let state = Arc::new(State {
        cfg,
        served: AtomicU64::new(0),
        hoard: Mutex::new(Vec::new()),
    });
    let tracker = TaskTracker::new();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            a = listener.accept() => match a { Ok((s, _)) => s, Err(_) => continue },
            () = &mut shutdown => break,
        };
        let state = state.clone();
        let mut stop = stop_rx.clone();
        tracker.spawn(async move {
            let svc = service_fn(move |req| handle(state.clone(), req));
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = async { stop.wait_for(|s| *s).await.map(|_| ()) } => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    let _ = stop_tx.send(true);
    tracker.close();
    let _ = tokio::time::timeout(Duration::from_secs(10), tracker.wait()).await;
}

fn text(status: StatusCode, version: &str, body: String) -> Response<Body> {
    let mut r = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert("x-version", version_header(version));
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// `GET /ws` with `Upgrade:`: switch protocols and echo raw bytes back
/// until the client closes (a stand-in for a WebSocket that needs no
/// framing: what the proxy must keep on one version, and keep open).
fn echo_upgrade(mut req: Request<Incoming>, version: &str) -> Response<Body> {
    let upgraded = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        if let Ok(u) = upgraded.await {
            let (mut r, mut w) = tokio::io::split(TokioIo::new(u));
            let _ = tokio::io::copy(&mut r, &mut w).await;
        }
    });
    let mut r = text(StatusCode::SWITCHING_PROTOCOLS, version, String::new());
    r.headers_mut().remove(hyper::header::CONTENT_TYPE);
    r.headers_mut().insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("upgrade"),
    );
    r.headers_mut().insert(
        hyper::header::UPGRADE,
        hyper::header::HeaderValue::from_static("echo"),
    );
    r
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Body>, std::convert::Infallible> {
    let cfg = &state.cfg;
    let v = cfg.version.as_str();
    if req.uri().path() == "/healthz" {
        return Ok(health(cfg));
    }
    let n = state.served.fetch_add(1, Ordering::SeqCst) + 1;
    crash_or_hog(&state, n);
    if !cfg.latency.is_zero() {
        tokio::time::sleep(cfg.latency).await;
    }
    if cfg.error_rate > 0.0 && n > cfg.error_after && fastrand::f64() < cfg.error_rate {
        return Ok(text(
            StatusCode::INTERNAL_SERVER_ERROR,
            v,
            format!("{v}: injected error (DEMO_ERROR_RATE)\n"),
        ));
    }
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/ws") if req.headers().contains_key(hyper::header::UPGRADE) => {
            Ok(echo_upgrade(req, v))
        }
        (&Method::POST, "/echo") => {
            let mut r = Response::new(req.into_body().boxed());
            r.headers_mut().insert("x-version", version_header(v));
            Ok(r)
        }
        (_, "/sse") => Ok(events(v)),
        (&Method::GET, "/slow") => {
            // As long as asked (at most a minute): in-flight load on demand.
            let ms = query(&req, "ms").unwrap_or(1000).min(60_000);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(text(StatusCode::OK, v, format!("{v}: slept {ms} ms\n")))
        }
        (&Method::GET, "/grow") => {
            // Memory that grows a request at a time and is kept (at most
            // 64 MiB a request), so a limit can be watched being neared.
            let mib = query(&req, "mib").unwrap_or(1).min(64);
            let held = hoard(&state, mib);
            Ok(text(
                StatusCode::OK,
                v,
                format!("{v}: holding {held} MiB\n"),
            ))
        }
        _ => Ok(text(StatusCode::OK, v, format!("hello from {v}\n"))),
    }
}

/// `GET /healthz`: ok, unless the app is told never to be healthy.
fn health(cfg: &AppConfig) -> Response<Body> {
    let v = cfg.version.as_str();
    if cfg.never_healthy {
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            v,
            "never healthy (DEMO_NEVER_HEALTHY)\n".into(),
        )
    } else {
        text(StatusCode::OK, v, "ok\n".into())
    }
}

/// `?key=N` of the request's query, if it is a number.
fn query(req: &Request<Incoming>, key: &str) -> Option<u64> {
    req.uri()
        .query()?
        .split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

/// Keep `mib` more MiB (every page touched, so it is really used);
/// returns the MiB held in all.
fn hoard(state: &State, mib: u64) -> u64 {
    let mut block = vec![0u8; (mib as usize) << 20];
    for i in (0..block.len()).step_by(4096) {
        block[i] = 1;
    }
    let mut hoard = state.hoard.lock().unwrap_or_else(|e| e.into_inner());
    hoard.push(block);
    hoard.iter().map(|b| (b.len() >> 20) as u64).sum()
}

/// The faults served request `n` sets off: exit past `DEMO_CRASH_AFTER`,
/// hold on to `DEMO_HOG_MIB` more memory.
fn crash_or_hog(state: &State, n: u64) {
    let cfg = &state.cfg;
    if let Some(limit) = cfg.crash_after
        && n > limit
    {
        say(&format!(
            "demo-app {}: crashing after {limit} requests (DEMO_CRASH_AFTER)",
            cfg.version
        ));
        std::process::exit(3);
    }
    if let Some(mib) = cfg.hog_mib {
        hoard(state, mib);
    }
}

/// `/sse`: five server-sent events, 100 ms apart.
fn events(v: &str) -> Response<Body> {
    let stream = futures::stream::unfold(0u32, |i| async move {
        if i >= 5 {
            return None;
        }
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Some((
            Ok::<_, hyper::Error>(Frame::data(Bytes::from(format!("data: event {i}\n\n")))),
            i + 1,
        ))
    });
    let mut r = Response::new(StreamBody::new(stream).boxed());
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/event-stream"),
    );
    r.headers_mut().insert("x-version", version_header(v));
    r
}

/// The `X-Version` header's value (`invalid` when `v` cannot be one).
fn version_header(v: &str) -> hyper::header::HeaderValue {
    v.parse()
        .unwrap_or_else(|_| hyper::header::HeaderValue::from_static("invalid"))
}
