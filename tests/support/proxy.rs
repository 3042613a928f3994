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
        let name_s = name.to_string();
        let counter = served.clone();
        let task = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
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
        .build()
        .unwrap()
}
