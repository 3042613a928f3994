//! The test's own client for "no request lost" across daemon handovers: a
//! mix of what real clients do at once — keep-alive GETs, a new connection
//! per request, uploads echoed back (bodies both ways, compared byte for
//! byte) and one upgraded connection (`GET /ws`, the demo app's raw echo,
//! standing in for a WebSocket) held open and used throughout. Every loop
//! paces itself and stops when told. Counts are its own, never cutover's.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

/// What the HTTP loops saw.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    pub ok: u64,
    /// Answers that were not 2xx, bodies that came back wrong, and
    /// transport errors after the connection was made.
    pub failed: u64,
    /// Connections refused (or reset before a request could be sent).
    pub refused: u64,
    /// The first few failures, described.
    pub examples: Vec<String>,
    pub by_version: BTreeMap<String, u64>,
}

impl Seen {
    fn note(&mut self, what: String) {
        if self.examples.len() < 20 {
            self.examples.push(what);
        }
    }
}

/// What the upgraded connection saw.
#[derive(Clone, Debug, Default)]
pub struct Tunnel {
    /// `x-version` of its `101` answer.
    pub version: String,
    /// Messages echoed back intact.
    pub echoes: u64,
    /// Why it broke, if it did.
    pub broken: Option<String>,
}

pub struct MixedLoad {
    stop: Arc<AtomicBool>,
    stop_tunnel: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    loops: Vec<JoinHandle<()>>,
    tunnel: Option<JoinHandle<Tunnel>>,
}

impl MixedLoad {
    /// Start every loop against `addr`; with `tunnel`, also hold one
    /// upgraded connection open.
    pub async fn start(addr: SocketAddr, tunnel: bool) -> MixedLoad {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let keep_alive = client(true);
        let fresh = client(false);
        let base = format!("http://{addr}");
        let mut loops = Vec::new();
        for (http, upload) in [
            (keep_alive.clone(), false),
            (keep_alive.clone(), false),
            (fresh.clone(), false),
            (keep_alive, true),
            (fresh, true),
        ] {
            let (stop, seen, base) = (stop.clone(), seen.clone(), base.clone());
            loops.push(tokio::spawn(async move {
                let mut n = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    one(&http, &base, upload, n, &seen).await;
                    tokio::time::sleep(Duration::from_millis(4)).await;
                }
            }));
        }
        let stop_tunnel = Arc::new(AtomicBool::new(false));
        let tunnel = if tunnel {
            Some(tokio::spawn(hold_tunnel(addr, stop_tunnel.clone())))
        } else {
            None
        };
        MixedLoad {
            stop,
            stop_tunnel,
            seen,
            loops,
            tunnel,
        }
    }

    /// What was seen so far.
    pub fn seen(&self) -> Seen {
        self.seen.lock().unwrap().clone()
    }

    /// Close the upgraded connection (the other loops go on) and say what
    /// it saw.
    pub async fn close_tunnel(&mut self) -> Tunnel {
        self.stop_tunnel.store(true, Ordering::SeqCst);
        match self.tunnel.take() {
            Some(t) => t.await.unwrap_or_default(),
            None => Tunnel::default(),
        }
    }

    /// Stop every loop (the tunnel closes) and say what they saw.
    pub async fn stop(mut self) -> (Seen, Tunnel) {
        let tunnel = self.close_tunnel().await;
        self.stop.store(true, Ordering::SeqCst);
        for l in std::mem::take(&mut self.loops) {
            let _ = l.await;
        }
        let seen = self.seen.lock().unwrap().clone();
        (seen, tunnel)
    }
}

fn client(keep_alive: bool) -> reqwest::Client {
    let b = reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(20));
    let b = if keep_alive {
        b
    } else {
        b.pool_max_idle_per_host(0)
    };
    b.build().expect("an HTTP client")
}

async fn one(http: &reqwest::Client, base: &str, upload: bool, n: u64, seen: &Mutex<Seen>) {
    let body: Vec<u8> = (0..8192u32).map(|i| (i as u64 * 31 + n) as u8).collect();
    let sent = if upload {
        http.post(format!("{base}/echo"))
            .body(body.clone())
            .send()
            .await
    } else {
        http.get(format!("{base}/")).send().await
    };
    let resp = match sent {
        Ok(r) => r,
        Err(e) => {
            let mut s = seen.lock().unwrap();
            if e.is_connect() {
                s.refused += 1;
                s.note(format!("refused: {e:?}"));
            } else {
                s.failed += 1;
                s.note(format!("transport: {e:?}"));
            }
            return;
        }
    };
    let status = resp.status();
    let version = resp
        .headers()
        .get("x-version")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("?")
        .to_string();
    let got = resp.bytes().await;
    let mut s = seen.lock().unwrap();
    match got {
        Ok(b) if status.is_success() && (!upload || b[..] == body[..]) => {
            s.ok += 1;
            *s.by_version.entry(version).or_default() += 1;
        }
        Ok(b) => {
            s.failed += 1;
            s.note(format!(
                "{status} from {version} ({} body bytes{})",
                b.len(),
                if upload { ", upload" } else { "" }
            ));
        }
        Err(e) => {
            s.failed += 1;
            s.note(format!("body from {version}: {e:?}"));
        }
    }
}

/// One upgraded connection: a message every 50 ms, each echoed back whole.
async fn hold_tunnel(addr: SocketAddr, stop: Arc<AtomicBool>) -> Tunnel {
    let mut t = Tunnel::default();
    let mut s = match tokio::net::TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) => {
            t.broken = Some(format!("connect: {e}"));
            return t;
        }
    };
    let req = b"GET /ws HTTP/1.1\r\nHost: tunnel\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n";
    if let Err(e) = s.write_all(req).await {
        t.broken = Some(format!("upgrade request: {e}"));
        return t;
    }
    let Some(head) = crate::support::proxy::read_head(&mut s).await else {
        t.broken = Some("no answer to the upgrade".into());
        return t;
    };
    let head = String::from_utf8_lossy(&head).to_string();
    if !head.starts_with("HTTP/1.1 101") {
        t.broken = Some(format!("not switched: {head}"));
        return t;
    }
    t.version = crate::support::proxy::head_fields(&head)
        .into_iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("x-version"))
        .map(|(_, v)| v)
        .unwrap_or_default();
    let mut n = 0u64;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let msg = format!("message {n}\n");
        let mut back = vec![0u8; msg.len()];
        let round = async {
            s.write_all(msg.as_bytes()).await?;
            s.read_exact(&mut back).await
        };
        match tokio::time::timeout(Duration::from_secs(5), round).await {
            Ok(Ok(_)) if back == msg.as_bytes() => t.echoes += 1,
            Ok(Ok(_)) => {
                t.broken = Some(format!("echo {n} came back different"));
                return t;
            }
            Ok(Err(e)) => {
                t.broken = Some(format!("echo {n}: {e}"));
                return t;
            }
            Err(_) => {
                t.broken = Some(format!("echo {n}: no answer in 5 s"));
                return t;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    t
}
