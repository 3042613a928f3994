//! What the tests of several services behind one daemon share (fleets
//! and trains): a fleet plan of demo-app services on the process runtime
//! (a version whose name holds `bad` answers every request with a 500),
//! and the test's own load on every service, which tells the failures a
//! bad canary answered itself (by its `x-version`) from every other
//! failure, and an answer from the wrong service (versions are named
//! `SERVICE-…`) from a right one.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A plan with services `PREFIX-NAME` (hosts `NAME.example.test`, stable
/// `NAME-v1`, one step of 50 % for 1 s — except `api`, which has no
/// steps, so the train promotes it on evidence). `freeze` puts the first
/// service inside a window called "launch"; `ports` fixes the public and
/// admin addresses (a restarted daemon binds the same ones). Each test
/// has its own prefix: two daemons may not run one service name on the
/// process runtime, and the suite's tests run side by side.
pub fn plan(
    exe: &str,
    prefix: &str,
    names: &[&str],
    freeze: Option<(&str, &str)>,
    ports: Option<(SocketAddr, SocketAddr)>,
) -> String {
    let (public, admin) = ports.map_or(
        ("127.0.0.1:0".to_string(), "127.0.0.1:0".to_string()),
        |(p, a)| (p.to_string(), a.to_string()),
    );
    let mut text = format!("[listen]\npublic = \"{public}\"\nadmin = \"{admin}\"\n");
    // Every request of a "bad" version fails; the others answer as usual.
    let run = "case \"$1\" in *bad*) export DEMO_ERROR_RATE=1;; esac; exec \"$0\" demo-app --bind 127.0.0.1 --port \"$PORT\" --version \"$1\"";
    for (i, name) in names.iter().enumerate() {
        text.push_str(&format!(
            r#"
[[services]]
service = "{prefix}-{name}"
hosts = ["{name}.example.test"]
runtime = "process"
[services.stable]
command = [{exe:?}, "demo-app", "--bind", "127.0.0.1", "--port", "{{port}}", "--version", "{name}-v1"]
[services.health]
interval = "100ms"
timeout = "100ms"
healthy_after = 1
[services.guard]
min_requests = 20
window = "5s"
[services.drain]
timeout = "2s"
stop_grace = "1s"
[services.deploy]
command = ["/bin/sh", "-c", {run:?}, {exe:?}, "{{version}}"]
"#
        ));
        if *name != "api" {
            text.push_str("[[services.steps]]\nweight = 50\nbake = \"1s\"\n");
        }
        if let (Some((from, until)), 0) = (freeze, i) {
            text.push_str(&format!(
                "[[services.freeze]]\nfrom = \"{from}\"\nuntil = \"{until}\"\nreason = \"launch\"\n"
            ));
        }
    }
    text
}

/// A fleet daemon for `plan` in this process, in a state root of its own
/// (`labels` on every replica: a Docker test's own).
pub async fn in_process(
    plan: &str,
    root: &std::path::Path,
    labels: std::collections::BTreeMap<String, String>,
) -> cutover::daemon::fleet::RunningFleet {
    let fleet = cutover::plan::services::parse_fleet(plan, "fleet.toml", Default::default())
        .expect("the test's fleet plan parses");
    cutover::daemon::fleet::start_fleet(cutover::daemon::fleet::FleetConfig {
        fleet,
        state_root: root.to_path_buf(),
        allow_remote_admin: false,
        deploy_canary: false,
        runtime: None,
        labels,
    })
    .await
    .expect("the fleet daemon starts")
}

/// A public and an admin address free right now.
pub fn free_ports() -> (SocketAddr, SocketAddr) {
    let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    (a.local_addr().unwrap(), b.local_addr().unwrap())
}

/// What the test's client saw.
#[derive(Debug, Default)]
pub struct Seen {
    pub ok: u64,
    /// Failures the bad canary answered itself (its `x-version`).
    pub bad_canary_failed: u64,
    /// Every other failure: refused, cut, 5xx from anything else.
    pub failed: u64,
    /// 2xx answers from another service's version.
    pub misrouted: u64,
    pub examples: Vec<String>,
}

impl std::fmt::Display for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ok, {} answered by the bad canary itself, {} other failures, {} misrouted {:?}",
            self.ok, self.bad_canary_failed, self.failed, self.misrouted, self.examples
        )
    }
}

#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    bad: AtomicU64,
    failed: AtomicU64,
    misrouted: AtomicU64,
    examples: Mutex<Vec<String>>,
}

/// Two request loops (keep-alive and a connection per request) over every
/// service's host until stopped, or 90 s at most.
pub struct Load {
    stop: Arc<AtomicBool>,
    counts: Arc<Counts>,
    loops: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    pub fn start(addr: SocketAddr, names: &[&str], bad_version: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(Counts::default());
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let loops = [true, false]
            .into_iter()
            .map(|keep_alive| {
                let (stop, counts, names) = (stop.clone(), counts.clone(), names.clone());
                let bad = bad_version.to_string();
                tokio::spawn(async move {
                    let mut b = reqwest::Client::builder()
                        .no_proxy()
                        .timeout(Duration::from_secs(10));
                    if !keep_alive {
                        b = b.pool_max_idle_per_host(0);
                    }
                    let http = b.build().unwrap();
                    let until = tokio::time::Instant::now() + Duration::from_secs(90);
                    let mut i = 0usize;
                    while !stop.load(Ordering::SeqCst) && tokio::time::Instant::now() < until {
                        let name = &names[i % names.len()];
                        i += 1;
                        let r = http
                            .get(format!("http://{addr}/"))
                            .header("host", format!("{name}.example.test"))
                            .send()
                            .await;
                        counts.count(r, name, &bad);
                        tokio::time::sleep(Duration::from_millis(3)).await;
                    }
                })
            })
            .collect();
        Load {
            stop,
            counts,
            loops,
        }
    }

    pub async fn stop(self) -> Seen {
        self.stop.store(true, Ordering::SeqCst);
        for l in self.loops {
            l.await.unwrap();
        }
        Seen {
            ok: self.counts.ok.load(Ordering::SeqCst),
            bad_canary_failed: self.counts.bad.load(Ordering::SeqCst),
            failed: self.counts.failed.load(Ordering::SeqCst),
            misrouted: self.counts.misrouted.load(Ordering::SeqCst),
            examples: self.counts.examples.lock().unwrap().clone(),
        }
    }
}

impl Counts {
    fn count(&self, r: reqwest::Result<reqwest::Response>, service: &str, bad: &str) {
        let version = |r: &reqwest::Response| {
            r.headers()
                .get("x-version")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        let what = match r {
            Ok(r) if r.status().is_success() => {
                let v = version(&r);
                if v.starts_with(&format!("{service}-")) {
                    self.ok.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                self.misrouted.fetch_add(1, Ordering::SeqCst);
                self.note(format!("{service} answered by {v:?}"));
                return;
            }
            Ok(r) => {
                let v = version(&r);
                if v == bad {
                    self.bad.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                format!("{} from {v:?}", r.status())
            }
            // Debug: with its source, so a refused connection says so.
            Err(e) => format!("{e:?}"),
        };
        self.failed.fetch_add(1, Ordering::SeqCst);
        self.note(what);
    }

    fn note(&self, what: String) {
        let mut ex = self.examples.lock().unwrap();
        if ex.len() < 10 {
            ex.push(what);
        }
    }
}
