//! The public listener: accept, serve HTTP/1.1 with keep-alive and upgrades,
//! and stop gracefully (stop accepting, let connections finish their
//! in-flight requests, up to a bound).

use super::router::Router;
use super::routes::Routes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::task::TaskTracker;

/// How long a retiring daemon (one with a linger, see
/// [`Router::set_linger`]) keeps its keep-alive connections after it stops
/// accepting, closing each after its next answer: clients move to the
/// successor on their own, instead of racing a close of an idle connection.
pub const CLOSE_WINDOW: Duration = Duration::from_secs(2);

/// Serve `listener` until `shutdown` resolves, then finish in-flight
/// requests for at most `grace`.
pub async fn serve(
    listener: TcpListener,
    routes: impl Into<Routes>,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> std::io::Result<()> {
    let routes: Routes = routes.into();
    let router = routes.first().clone();
    let (stop_tx, stop_rx) = watch::channel(false);
    let tracker = TaskTracker::new();
    // One worker per service: each its own upstream pool and table copy.
    let workers: Arc<[Arc<super::forward::Worker>]> = routes
        .all()
        .iter()
        .map(|r| {
            super::forward::Worker::new(
                r.router.clone(),
                super::upstream::Upstreams::new(r.router.inner.opts.connect_timeout),
            )
        })
        .collect();
    let dispatch = Dispatch {
        routes: routes.clone(),
        workers,
    };
    let limit = &router.inner.conn_limit;
    tokio::pin!(shutdown);
    loop {
        // A slot first: at the cap, the worker stops accepting and new
        // connections wait in the kernel's backlog (see `conn_limit`).
        let slot = tokio::select! {
            slot = limit.slot() => slot,
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors and the like: back off, keep serving.
                    limit.warn_accept_failed(&e);
                    drop(slot);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let stream = super::conn_limit::Counted::new(stream, slot);
        tracker.spawn(connection(
            stream,
            peer,
            dispatch.clone(),
            router.clone(),
            stop_rx.clone(),
        ));
    }
    drop(listener);
    if !router.linger().is_zero() {
        for r in routes.all() {
            r.router.close_connections();
        }
        tokio::time::sleep(CLOSE_WINDOW).await;
    }
    let _ = stop_tx.send(true);
    tracker.close();
    let _ = tokio::time::timeout(grace, tracker.wait()).await;
    Ok(())
}

/// The services of a listener and a worker for each.
#[derive(Clone)]
struct Dispatch {
    routes: Routes,
    workers: Arc<[Arc<super::forward::Worker>]>,
}

impl Dispatch {
    /// The worker of the service `req` is for (see [`Routes::pick`]).
    fn worker(
        &self,
        req: &hyper::Request<hyper::body::Incoming>,
    ) -> Option<&Arc<super::forward::Worker>> {
        // No Host to read when there is only one place to go.
        if self.routes.takes_everything() {
            return self.workers.first();
        }
        let host = req
            .headers()
            .get(hyper::header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()));
        let i = self.routes.pick(host, req.uri().path())?;
        self.workers.get(i)
    }
}

/// One client connection: HTTP/1.1 with keep-alive and upgrades, watched
/// by the framing watchdog, until the client closes or the stop comes
/// (then gracefully: the request in flight finishes). Each request goes to
/// the service it is for (a keep-alive client may ask several).
async fn connection(
    stream: super::conn_limit::Counted<tokio::net::TcpStream>,
    peer: std::net::SocketAddr,
    dispatch: Dispatch,
    router: Router,
    mut stop: watch::Receiver<bool>,
) {
    let opts = &router.inner.opts;
    let (header_timeout, max_head) = (opts.header_timeout, opts.max_head_size);
    let (io, verdicts) = super::framing::SniffIo::new(stream, max_head);
    let peer = super::forward::Peer::new(peer);
    let svc = service_fn(move |req| {
        let verdict = verdicts.next();
        // Read when the request arrives (no reference count moves per
        // request): one already in flight when the window opens is closed
        // by the graceful shutdown after it, which also says `close`.
        let closing = router.closing();
        let answer =
            super::forward::handle(dispatch.worker(&req).cloned(), req, peer.clone(), verdict);
        async move {
            let mut resp = answer.await?;
            if closing && resp.status() != hyper::StatusCode::SWITCHING_PROTOCOLS {
                resp.headers_mut().insert(
                    hyper::header::CONNECTION,
                    hyper::header::HeaderValue::from_static("close"),
                );
            }
            Ok::<_, std::convert::Infallible>(resp)
        }
    });
    // hyper and the watchdog share the head cap: a larger head is
    // refused with 431 in one write or many.
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_header_size(max_head)
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), svc)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = async { stop.wait_for(|s| *s).await.map(|_| ()) } => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Serve `addr` on `workers` threads, each with its own single-threaded
/// runtime, its own `SO_REUSEPORT` listener and its own upstream pool — the
/// nginx worker model: a request, its client connection and its upstream
/// connection never hop between threads. Returns the bound address (useful
/// with port 0) and the threads, which end after `stop` fires and in-flight
/// requests finish (bounded by `grace`).
pub fn spawn_workers(
    addr: std::net::SocketAddr,
    router: impl Into<Routes>,
    workers: usize,
    stop: watch::Receiver<bool>,
    grace: Duration,
) -> std::io::Result<(std::net::SocketAddr, Vec<std::thread::JoinHandle<()>>)> {
    let listeners = bind_public(addr, workers)?;
    let bound = listeners[0].local_addr()?;
    Ok((bound, serve_listeners(listeners, router, stop, grace)?))
}

/// Bind `workers` `SO_REUSEPORT` listeners on `addr` (one per worker, so
/// each has its own accept queue); with port 0, all on the port the first
/// got. A port someone already listens on is refused, not shared.
pub fn bind_public(
    addr: std::net::SocketAddr,
    workers: usize,
) -> std::io::Result<Vec<std::net::TcpListener>> {
    if addr.port() != 0 {
        ensure_port_free(addr)?;
    }
    let mut bound = addr;
    let mut listeners = Vec::new();
    for _ in 0..workers.max(1) {
        let l = reuseport_listener(bound)?;
        bound = l.local_addr()?;
        listeners.push(l);
    }
    Ok(listeners)
}

/// Serve listeners that are already bound (by [`bind_public`], inherited
/// from systemd, or handed over by the daemon this one takes over from):
/// one worker thread per listener. Each thread ends after `stop` fires,
/// its connections' in-flight requests finish (bounded by `grace`) and then,
/// for [`Router::set_linger`], upgraded connections (WebSockets) close.
pub fn serve_listeners(
    listeners: Vec<std::net::TcpListener>,
    routes: impl Into<Routes>,
    stop: watch::Receiver<bool>,
    grace: Duration,
) -> std::io::Result<Vec<std::thread::JoinHandle<()>>> {
    let routes: Routes = routes.into();
    let mut threads = Vec::new();
    for (i, l) in listeners.into_iter().enumerate() {
        l.set_nonblocking(true)?;
        let routes = routes.clone();
        let router = routes.first().clone();
        let mut stop = stop.clone();
        let t = std::thread::Builder::new()
            .name(format!("cutover-proxy-{i}"))
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot start a proxy worker runtime");
                        return;
                    }
                };
                rt.block_on(async move {
                    let listener = match TcpListener::from_std(l) {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::error!(error = %e, "proxy worker listener");
                            return;
                        }
                    };
                    let stopped = async move {
                        let _ = stop.wait_for(|s| *s).await;
                    };
                    let _ = serve(listener, routes, stopped, grace).await;
                    // Tunnels run on this runtime: it lives until they close
                    // (or the linger passes), then takes them down with it.
                    router.idle_within(router.linger()).await;
                });
            })?;
        threads.push(t);
    }
    Ok(threads)
}

/// `SO_REUSEPORT` would let a second process of the same user bind the same
/// public port silently and take a share of the traffic. A probe bound
/// *without* it fails while anyone listens there (with or without the
/// option), so a clash is an `AddrInUse` error instead. `SO_REUSEADDR` keeps
/// a restart from tripping over the old process's TIME_WAIT sockets.
fn ensure_port_free(addr: std::net::SocketAddr) -> std::io::Result<()> {
    use socket2::{Domain, Socket, Type};
    let probe = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    probe.set_reuse_address(true)?;
    probe.bind(&addr.into())?;
    Ok(())
}

fn reuseport_listener(addr: std::net::SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}
