//! Harness for proxy tests: in-test upstream servers on 127.0.0.1:0 that say
//! who they are, a proxy in front of them, and a plain keep-alive client.

#![allow(dead_code)]

use bytes::Bytes;
use cutover::metrics::Metrics;
use cutover::plan::ProxyPlan;
use cutover::proxy::{ProxyOptions, Router};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// How an upstream answers.
#[derive(Clone, Debug)]
pub struct Behaviour {
    pub status: u16,
    pub delay: Duration,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            status: 200,
            delay: Duration::ZERO,
        }
    }
}

/// An HTTP server that answers `X-Version: <name>` until killed.
pub struct Upstream {
    pub addr: SocketAddr,
    pub name: String,
    pub served: Arc<AtomicU64>,
    /// TCP connections it accepted.
    pub accepts: Arc<AtomicU64>,
    tasks: Option<tokio::task::JoinHandle<()>>,
}

impl Upstream {
    pub async fn start(name: &str) -> Upstream {
        Self::start_with(name, Behaviour::default()).await
    }

    pub async fn start_with(name: &str, behaviour: Behaviour) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let served = Arc::new(AtomicU64::new(0));
        let accepts = Arc::new(AtomicU64::new(0));
        let name_s = name.to_string();
        let counter = served.clone();
        let accepted = accepts.clone();
        let task = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                accepted.fetch_add(1, Ordering::SeqCst);
                let name = name_s.clone();
                let counter = counter.clone();
                let behaviour = behaviour.clone();
                conns.spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let name = name.clone();
                        let counter = counter.clone();
                        let behaviour = behaviour.clone();
                        async move {
                            let path = req.uri().path().to_string();
                            let rid = req.headers().get("x-request-id").cloned();
                            let xff = req.headers().get("x-forwarded-for").cloned();
                            let conn_hdr = req.headers().get("connection").cloned();
                            let body = req
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            if !behaviour.delay.is_zero() {
                                tokio::time::sleep(behaviour.delay).await;
                            }
                            counter.fetch_add(1, Ordering::Relaxed);
                            let mut resp = Response::new(Full::new(if path == "/echo" {
                                body
                            } else {
                                Bytes::from(name.clone())
                            }));
                            *resp.status_mut() = StatusCode::from_u16(behaviour.status).unwrap();
                            resp.headers_mut()
                                .insert("x-version", name.parse().unwrap());
                            if let Some(r) = rid {
                                resp.headers_mut().insert("x-seen-request-id", r);
                            }
                            if let Some(x) = xff {
                                resp.headers_mut().insert("x-seen-forwarded-for", x);
                            }
                            if let Some(c) = conn_hdr {
                                resp.headers_mut().insert("x-seen-connection", c);
                            }
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Upstream {
            addr,
            name: name.to_string(),
            served,
            accepts,
            tasks: Some(task),
        }
    }

    /// Kill it: the listener closes and every open connection drops.
    pub fn kill(&mut self) {
        if let Some(t) = self.tasks.take() {
            t.abort();
        }
    }

    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    pub fn accepts(&self) -> u64 {
        self.accepts.load(Ordering::SeqCst)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A proxy on 127.0.0.1:0 in front of a fresh router.
pub struct Proxy {
    pub addr: SocketAddr,
    pub router: Router,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Proxy {
    pub async fn start(plan: ProxyPlan) -> Proxy {
        let metrics = Arc::new(Metrics::new());
        let router = Router::new(metrics, ProxyOptions::from_plan("test", &plan));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let r = router.clone();
        tokio::spawn(async move {
            let _ = cutover::proxy::serve(
                listener,
                r,
                async {
                    let _ = rx.await;
                },
                Duration::from_secs(5),
            )
            .await;
        });
        Proxy {
            addr,
            router,
            stop: Some(tx),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

pub fn route_header_plan() -> ProxyPlan {
    ProxyPlan {
        route_header: true,
        ..ProxyPlan::default()
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(8)
        // A bound against a hung suite, far above any answer the tests wait for.
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap()
}

/// An address nothing listens on (bound, then released): connecting is refused.
pub fn dead_addr() -> String {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string()
}

/// Whether `check` came to hold within ~5 s (polled; no sleeps as
/// synchronisation in the assertions themselves). Answers instead of
/// panicking, unlike `wait::eventually`: the caller asserts with its own
/// message.
pub async fn became_true_within(mut check: impl FnMut() -> bool) -> bool {
    super::wait::poll(Duration::from_secs(5), Duration::from_millis(10), || {
        std::future::ready(check().then_some(()))
    })
    .await
    .is_some()
}

/// Read from `s` until a whole HTTP head (through its blank line) is in;
/// returns all bytes read, or `None` when the peer closed or failed first.
pub async fn read_head(s: &mut (impl tokio::io::AsyncRead + Unpin)) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 4096];
    let mut head = Vec::new();
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    Some(head)
}

/// One raw HTTP/1.1 exchange on a fresh connection: send `request`, read the
/// answer's head and a `Content-Length` body. Returns (head lines lower-cased
/// names kept as sent, body).
pub async fn raw_exchange(addr: SocketAddr, request: &str) -> (String, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("an answer in time")
            .unwrap();
        assert!(
            n > 0,
            "closed before a full head: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&got[..head_end]).into_owned();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = got[head_end..].to_vec();
    while body.len() < len {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0);
        body.extend_from_slice(&buf[..n]);
    }
    (head, body)
}

/// The header names of a raw head, lower-cased, and the value of each.
pub fn head_fields(head: &str) -> Vec<(String, String)> {
    head.lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect()
}
