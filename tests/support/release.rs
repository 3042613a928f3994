//! Harness for release tests on real runtimes: a daemon in-process with the
//! demo app as stable v1 ×2 and canary v2 ×1 (local processes or Docker
//! containers), a paced client that counts every answer itself, and cleanup
//! of everything the test started, even when it fails.

#![allow(dead_code)]

use cutover::daemon::{DaemonConfig, RunningDaemon};
use cutover::model::{Action, ActionRequest, Actor, EventKind, Phase, Role, StateView};
use cutover::runtime::Runtime;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{UnixListener, UnixStream};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Process,
    Docker,
    /// Swarm services on the engine, which must be a swarm manager already
    /// (`support::swarm::SwarmGuard` makes it one).
    Swarm,
}

pub struct Steps(pub String);

impl Steps {
    pub fn manual() -> Steps {
        Steps(String::new())
    }
    pub fn quick() -> Steps {
        Steps(
            "[[steps]]\nweight = 20\nbake = \"2s\"\n[[steps]]\nweight = 50\nbake = \"2s\"\n".into(),
        )
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

pub fn docker_required() -> bool {
    std::env::var("CUTOVER_REQUIRE_DOCKER").is_ok_and(|v| v == "1")
}

pub struct Harness {
    pub kind: Kind,
    pub service: String,
    pub daemon: Option<RunningDaemon>,
    pub runtime: Arc<dyn Runtime>,
    pub dir: tempfile::TempDir,
    pub plan: cutover::plan::Plan,
}

async fn runtime_for(kind: Kind) -> Option<Arc<dyn Runtime>> {
    match kind {
        Kind::Process => Some(Arc::new(cutover::runtime::process::ProcessRuntime::new())),
        Kind::Docker => match cutover::runtime::docker::DockerRuntime::connect().await {
            Ok(rt) => {
                let took = super::images::demo_images(rt.client()).await;
                eprintln!("demo images ready in {:.2} s", took.as_secs_f64());
                Some(Arc::new(rt))
            }
            Err(e) if docker_required() => {
                panic!("Docker is required (CUTOVER_REQUIRE_DOCKER=1) but unreachable: {e}")
            }
            Err(e) => {
                eprintln!("skipping: no Docker engine reachable ({e})");
                None
            }
        },
        Kind::Swarm => {
            let engine = cutover::runtime::docker::DockerRuntime::connect()
                .await
                .expect("the engine the swarm guard reached");
            super::images::demo_images(engine.client()).await;
            let rt = cutover::runtime::swarm::SwarmRuntime::on(engine, Default::default())
                .await
                .expect("the engine is a swarm manager (the test's guard made it one)");
            Some(Arc::new(rt))
        }
    }
}

/// What a harness plan varies: the canary's env and extra keys, the
/// release's budget of failed requests, steps, `[proxy]` keys.
#[derive(Default)]
pub struct Options<'a> {
    /// `KEY=VALUE` pairs separated by spaces.
    pub canary_env: &'a str,
    /// The same for stable (both v1 replicas).
    pub stable_env: &'a str,
    /// The whole `[guard]` table instead of the harness's (`Some("")`: the
    /// defaults, as a plan without the table gets them).
    pub guard: Option<&'a str>,
    /// The whole `[health]` table instead of the harness's quick one.
    pub health: Option<&'a str>,
    /// Extra `[canary]` keys, e.g. `memory = "32MiB"`.
    pub canary_extra: &'a str,
    pub steps: Option<&'a Steps>,
    /// `guard.max_failed_requests`: the release's budget of client requests
    /// that may get a canary failure (the request that spends it zeroes the
    /// weight in the proxy).
    pub max_failed_requests: u64,
    /// Extra `[proxy]` keys, e.g. `upstream_timeout = "500ms"`.
    pub proxy_extra: &'a str,
    /// The canary's image instead of `cutover-demo:v2` (docker).
    pub canary_image: Option<&'a str>,
    /// `[swarm]` keys, e.g. `max_replicas_per_node = 1` (swarm).
    pub swarm: &'a str,
}

impl Harness {
    /// `None` when the runtime is unavailable and not required (skip).
    pub async fn start(
        kind: Kind,
        canary_env: &str,
        steps: &Steps,
        max_failed_requests: u64,
    ) -> Option<Harness> {
        Self::start_with(kind, canary_env, steps, max_failed_requests, "").await
    }

    /// Docker through a specific engine endpoint (a socket the test controls).
    pub async fn start_docker_at(
        endpoint: &str,
        canary_env: &str,
        steps: &Steps,
        max_failed_requests: u64,
    ) -> Option<Harness> {
        let rt = cutover::runtime::docker::DockerRuntime::connect_to(endpoint)
            .await
            .expect("the engine answers through the forwarder");
        super::images::demo_images(rt.client()).await;
        let opts = Options {
            canary_env,
            steps: Some(steps),
            max_failed_requests,
            ..Options::default()
        };
        Self::start_on(Kind::Docker, Arc::new(rt), &opts).await
    }

    /// Like `start`, with extra `[proxy]` keys (e.g. `upstream_timeout = "500ms"`).
    pub async fn start_with(
        kind: Kind,
        canary_env: &str,
        steps: &Steps,
        max_failed_requests: u64,
        proxy_extra: &str,
    ) -> Option<Harness> {
        let opts = Options {
            canary_env,
            steps: Some(steps),
            max_failed_requests,
            proxy_extra,
            ..Options::default()
        };
        Self::start_options(kind, &opts).await
    }

    /// The general form.
    pub async fn start_options(kind: Kind, opts: &Options<'_>) -> Option<Harness> {
        let runtime = runtime_for(kind).await?;
        Self::start_on(kind, runtime, opts).await
    }

    /// Swarm on a runtime the test made (its own placement).
    pub async fn start_on_swarm(runtime: Arc<dyn Runtime>, opts: &Options<'_>) -> Harness {
        Self::start_on(Kind::Swarm, runtime, opts)
            .await
            .expect("the harness starts")
    }

    /// On a runtime the test made (its own engine endpoint, credentials).
    pub async fn start_on_runtime(
        runtime: Arc<dyn Runtime>,
        opts: &Options<'_>,
    ) -> Option<Harness> {
        Self::start_on(Kind::Docker, runtime, opts).await
    }

    async fn start_on(
        kind: Kind,
        runtime: Arc<dyn Runtime>,
        opts: &Options<'_>,
    ) -> Option<Harness> {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let service = format!("e2e-{}-{n}", std::process::id());
        let exe = env!("CARGO_BIN_EXE_cutover");
        let (stable, canary) = match kind {
            Kind::Process => {
                let cmd = |v: &str| {
                    format!(
                        "command = [{exe:?}, \"demo-app\", \"--bind\", \"127.0.0.1\", \"--port\", \"{{port}}\", \"--version\", \"{v}\"]"
                    )
                };
                (cmd("v1"), cmd("v2"))
            }
            Kind::Docker | Kind::Swarm => (
                "image = \"cutover-demo:v1\"".to_string(),
                format!(
                    "image = {:?}",
                    opts.canary_image.unwrap_or("cutover-demo:v2")
                ),
            ),
        };
        let env_of = |pairs: &str| {
            pairs
                .split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| format!("{k} = \"{v}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let env = env_of(opts.canary_env);
        let stable_env = env_of(opts.stable_env);
        let health = opts.health.unwrap_or(
            "interval = \"200ms\"\ntimeout = \"200ms\"\nhealthy_after = 2\nunhealthy_after = 3\nstart_timeout = \"8s\"",
        );
        let guard = match opts.guard {
            Some(table) => table.to_string(),
            None => format!(
                "max_failed_requests = {}\nmin_requests = 20\nwindow = \"10s\"",
                opts.max_failed_requests
            ),
        };
        let text = format!(
            r#"service = "{service}"
runtime = "{rt}"
[listen]
public = "127.0.0.1:0"
admin = "127.0.0.1:0"
[stable]
{stable}
version = "v1"
replicas = 2
env = {{ {stable_env} }}
[canary]
{canary}
version = "v2"
replicas = 1
env = {{ {env} }}
{canary_extra}
[health]
{health}
[guard]
{guard}
[drain]
timeout = "3s"
stop_grace = "2s"
[proxy]
access_log = "access.log"
{proxy_extra}
{swarm}
{steps}
"#,
            rt = match kind {
                Kind::Docker => "docker",
                Kind::Swarm => "swarm",
                Kind::Process => "process",
            },
            canary_extra = opts.canary_extra,
            proxy_extra = opts.proxy_extra,
            swarm = if opts.swarm.is_empty() {
                String::new()
            } else {
                format!("[swarm]\n{}", opts.swarm)
            },
            steps = opts.steps.map_or("", |s| s.0.as_str())
        );
        let plan = cutover::plan::parse(&text, "e2e plan").expect("the test plan is valid");
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = DaemonConfig::new(plan.clone(), dir.path().to_path_buf());
        cfg.runtime = Some(runtime.clone());
        cfg.labels.insert("cutover.test".into(), service.clone());
        let daemon = cutover::daemon::start(cfg)
            .await
            .expect("the daemon starts");
        Some(Harness {
            kind,
            service,
            daemon: Some(daemon),
            runtime,
            dir,
            plan,
        })
    }

    /// Stop the daemon (its replicas keep running, as after a crash), let
    /// `while_down` happen, then start a new daemon with a fresh runtime on
    /// the same state directory: it restores and reconciles.
    pub async fn restart_daemon(&mut self, while_down: impl AsyncFnOnce()) {
        if let Some(d) = self.daemon.take() {
            d.stop().await;
        }
        while_down().await;
        self.runtime = runtime_for(self.kind).await.expect("the runtime is back");
        let mut cfg = DaemonConfig::new(self.plan.clone(), self.dir.path().to_path_buf());
        cfg.runtime = Some(self.runtime.clone());
        cfg.labels
            .insert("cutover.test".into(), self.service.clone());
        self.daemon = Some(
            cutover::daemon::start(cfg)
                .await
                .expect("the daemon starts again"),
        );
    }

    /// Every event journaled so far (the journal is flushed each second).
    pub async fn journal(&self) -> Vec<cutover::model::Event> {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        cutover::journal::read_journal(&self.daemon().journal_path())
            .map(|j| j.events)
            .unwrap_or_default()
    }

    /// Addresses in the proxy's pool for `role` right now.
    pub fn pool(&self, role: Role) -> Vec<String> {
        self.daemon().router.members(role)
    }

    pub fn daemon(&self) -> &RunningDaemon {
        self.daemon.as_ref().expect("running")
    }

    pub async fn state(&self) -> StateView {
        self.daemon().client().state().await.unwrap()
    }

    pub async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        ok: impl Fn(&StateView) -> bool,
    ) -> StateView {
        let held = super::wait::poll(timeout, Duration::from_millis(50), || async {
            Some(self.state().await).filter(|s| ok(s))
        })
        .await;
        match held {
            Some(s) => s,
            None => panic!(
                "timed out waiting for {what}; state: {:#?}\njournal:\n{}",
                self.state().await,
                self.story()
            ),
        }
    }

    /// Stable serving with all its replicas (before that, 503 is the honest answer).
    pub async fn wait_stable(&self) -> StateView {
        self.wait_until("stable healthy", Duration::from_secs(60), |s| {
            s.stable.healthy() >= 2
        })
        .await
    }

    pub async fn wait_phase(&self, phase: Phase, timeout: Duration) -> StateView {
        self.wait_until(&format!("phase {phase}"), timeout, |s| s.phase == phase)
            .await
    }

    pub async fn wait_promoted(&self, timeout: Duration) -> StateView {
        self.wait_until("promotion", timeout, |s| {
            s.phase == Phase::Idle && s.stable.version == "v2"
        })
        .await
    }

    pub async fn set_weight(&self, permille: u16) {
        self.daemon()
            .client()
            .act(&ActionRequest {
                action: Action::SetWeight { permille },
                by: Actor::Cli,
                reason: None,
            })
            .await
            .expect("weight accepted");
    }

    /// Paced GETs through the public listener until stopped.
    pub fn load(&self, rps: f64) -> Load {
        let url = format!("http://{}/", self.daemon().public_addr);
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (seen.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap();
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rps));
            let mut inflight = Vec::new();
            while !st.load(Ordering::SeqCst) {
                tick.tick().await;
                let (http, url, s) = (http.clone(), url.clone(), s.clone());
                inflight.push(tokio::spawn(async move {
                    let r = http.get(&url).send().await;
                    let mut seen = s.lock().unwrap();
                    match r {
                        Ok(r) => {
                            let v = r
                                .headers()
                                .get("x-version")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("none")
                                .to_string();
                            let status = r.status().as_u16();
                            *seen.by_version.entry(v.clone()).or_default() += 1;
                            *seen.by_status.entry((v, status)).or_default() += 1;
                        }
                        Err(_) => seen.transport_errors += 1,
                    }
                }));
                inflight.retain(|t| !t.is_finished());
            }
            for t in inflight {
                let _ = t.await;
            }
        });
        Load { seen, stop, task }
    }

    /// From the access log (first canary 5xx) and the journal (weight → 0 by the guard).
    pub async fn first_error_to_zero_ms(&self) -> Option<f64> {
        let dir = self.daemon().dir.path.clone();
        let access = std::fs::read_to_string(dir.join("access.log")).ok()?;
        let first = access.lines().find(|l| {
            l.contains(" canary ")
                && l.split('"')
                    .nth(2)
                    .is_some_and(|rest| rest.trim_start().starts_with('5'))
        })?;
        let t0 = chrono::DateTime::parse_from_rfc3339(first.split(' ').next()?).ok()?;
        let journal = cutover::journal::read_journal(&self.daemon().journal_path()).ok()?;
        let zero = journal.events.iter().find(|e| {
            matches!(
                e.kind,
                EventKind::Weight {
                    to: 0,
                    by: Actor::Guard,
                    ..
                }
            ) || matches!(&e.kind, EventKind::Breach { .. })
        })?;
        Some((zero.at - t0.with_timezone(&chrono::Utc)).num_microseconds()? as f64 / 1000.0)
    }

    /// What the runtime still runs for this service is exactly the stable
    /// version's replicas the daemon shows (roles in runtime labels are the
    /// ones given at start: a promoted canary keeps `cutover.role=canary`).
    pub async fn assert_only(&self, role: Role) {
        assert_eq!(role, Role::Stable);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let state = self.state().await;
            let mut want: Vec<String> =
                state.stable.replicas.iter().map(|r| r.id.clone()).collect();
            let mut left: Vec<String> = self
                .runtime
                .list(&self.service)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.id)
                .collect();
            want.sort();
            left.sort();
            if state.canary.is_none() && left == want {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "runtime has {left:?}, the daemon's stable is {want:?}, canary {:?}",
                state.canary
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Why the release rolled back, from the journal's phase events.
    pub async fn rollback_reason(&self) -> String {
        let journal = self.daemon().journal_path();
        // The journal is flushed each second.
        tokio::time::sleep(Duration::from_millis(1200)).await;
        cutover::journal::read_journal(&journal)
            .map(|j| {
                j.events
                    .iter()
                    .filter_map(|e| match &e.kind {
                        EventKind::Phase {
                            to: Phase::RollingBack,
                            reason,
                            ..
                        } => reason.clone(),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default()
    }

    /// Print the journal's story and the proxy's own error answers (for failures).
    /// The journal so far without ticks and snapshots: what happened, for
    /// a failure message.
    pub fn story(&self) -> String {
        let Ok(j) = cutover::journal::read_journal(&self.daemon().journal_path()) else {
            return "(journal unreadable)".into();
        };
        j.events
            .iter()
            .filter(|e| !matches!(e.kind, EventKind::Snapshot { .. } | EventKind::Tick { .. }))
            .map(|e| format!("{} {:?}\n", e.at.format("%H:%M:%S%.3f"), e.kind))
            .collect()
    }

    pub async fn dump(&mut self) {
        let dir = self.daemon().dir.path.clone();
        let journal = self.daemon().journal_path();
        if let Some(d) = self.daemon.take() {
            d.stop().await;
        }
        if let Ok(j) = cutover::journal::read_journal(&journal) {
            for e in &j.events {
                match &e.kind {
                    EventKind::Snapshot { .. } | EventKind::Tick { .. } => {}
                    k => eprintln!("{} {:?}", e.at.format("%H:%M:%S%.3f"), k),
                }
            }
        }
        for l in std::fs::read_to_string(dir.join("access.log"))
            .unwrap_or_default()
            .lines()
        {
            if l.contains("\" 5") {
                eprintln!("{l}");
            }
        }
    }

    pub async fn finish(mut self) {
        if let Some(d) = self.daemon.take() {
            d.stop().await;
        }
        remove_all(&self.runtime, &self.service).await;
        let left = self.runtime.list(&self.service).await.unwrap_or_default();
        assert!(left.is_empty(), "cleanup left {left:?}");
    }
}

async fn remove_all(runtime: &Arc<dyn Runtime>, service: &str) {
    for r in runtime.list(service).await.unwrap_or_default() {
        let _ = runtime.stop(&r, Duration::from_secs(1)).await;
        let _ = runtime.remove(&r).await;
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        // A failed test still cleans up (a fresh runtime on another thread).
        let (runtime, service) = (self.runtime.clone(), self.service.clone());
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(remove_all(&runtime, &service));
            }
        })
        .join();
    }
}

#[derive(Debug, Default, Clone)]
pub struct Seen {
    pub by_version: BTreeMap<String, u64>,
    pub by_status: BTreeMap<(String, u16), u64>,
    pub transport_errors: u64,
}

impl Seen {
    pub fn errors_from(&self, version: &str) -> u64 {
        self.by_status
            .iter()
            .filter(|((v, s), _)| v == version && *s >= 500)
            .map(|(_, n)| n)
            .sum()
    }
    /// Answers that were not successes (any version), plus transport errors.
    pub fn failed(&self) -> u64 {
        self.by_status
            .iter()
            .filter(|((_, s), _)| *s >= 500)
            .map(|(_, n)| n)
            .sum::<u64>()
            + self.transport_errors
    }
}

pub struct Load {
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Load {
    pub async fn stop(self) -> Seen {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.task.await;
        self.seen.lock().unwrap().clone()
    }
}

/// A unix-socket forwarder to the real engine that can be cut and restored.
pub struct Forwarder {
    pub path: std::path::PathBuf,
    up: Arc<AtomicBool>,
    cut: Arc<tokio::sync::Notify>,
}

impl Forwarder {
    pub fn start(dir: &std::path::Path) -> Forwarder {
        let path = dir.join("docker.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let cut = Arc::new(tokio::sync::Notify::new());
        let (up2, cut2) = (up.clone(), cut.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: the engine "does not answer"
                }
                let cut = cut2.clone();
                tokio::spawn(async move {
                    let Ok(mut engine) = UnixStream::connect("/var/run/docker.sock").await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut engine) => {}
                        _ = cut.notified() => {}
                    }
                });
            }
        });
        Forwarder { path, up, cut }
    }

    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.notify_waiters();
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}
