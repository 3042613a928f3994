//! Test support for the controller: plans, a fixed clock, action builders,
//! and helpers that walk a [`Machine`] into each release phase.
#![allow(dead_code)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use cutover::controller::{Effect, Input, Machine, Trips};
use cutover::model::{
    Action, ActionRequest, Actor, EventKind, Guard, GuardStatus, GuardVerdict, Phase, Role,
};
use cutover::plan::{Plan, parse};

/// A process-runtime plan: two steps (10 % for 30 s, 50 % for 60 s), no warm-up.
pub const PLAN: &str = r#"
service = "shop"
runtime = "process"
[stable]
command = ["demo-app", "--port", "{port}", "--version", "v1"]
replicas = 2
[canary]
command = ["demo-app", "--port", "{port}", "--version", "v2"]
replicas = 2
[health]
start_timeout = "60s"
[guard]
trip_after = 20
[[steps]]
weight = 10
bake = "30s"
[[steps]]
weight = 50
bake = "60s"
[drain]
timeout = "5s"
stop_grace = "2s"
[hooks]
post_promote = ["notify", "promoted"]
[deploy]
command = ["demo-app", "--port", "{port}", "--version", "{version}"]
"#;

pub fn plan() -> Plan {
    parse(PLAN, "test.toml").expect("test plan parses")
}

pub fn plan_with(extra: &str) -> Plan {
    parse(&format!("{PLAN}\n{extra}"), "test.toml").expect("test plan parses")
}

/// A plan from scratch (for variants that change a table already in [`PLAN`]).
pub fn plan_text(text: &str) -> Plan {
    parse(text, "test.toml").expect("test plan parses")
}

/// The fixed "now" every test starts from.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

pub fn secs(n: i64) -> Duration {
    Duration::seconds(n)
}

pub fn act(action: Action) -> Input {
    Input::Action(ActionRequest {
        action,
        by: Actor::Cli,
        reason: None,
    })
}

pub fn act_why(action: Action, reason: &str) -> Input {
    Input::Action(ActionRequest {
        action,
        by: Actor::Cli,
        reason: Some(reason.to_string()),
    })
}

/// The guards report enough evidence.
pub fn enough() -> Input {
    Input::Evidence { waiting: None }
}

/// The guards still wait for `what`.
pub fn waiting(what: &str) -> Input {
    Input::Evidence {
        waiting: Some(what.to_string()),
    }
}

/// The trips armed with `trip_after = n` and no budget.
pub fn trip(n: u64) -> Trips {
    Trips {
        in_a_row: Some(n),
        budget: None,
    }
}

pub fn breach() -> Input {
    Input::Breach {
        verdict: GuardVerdict {
            name: Guard::TripAfter,
            value: Some(21.0),
            threshold: 20.0,
            status: GuardStatus::Breach,
            detail: "21 canary failures in a row while stable answered".into(),
            evidence: None,
        },
    }
}

/// The warnings among a transition's effects, in order.
pub fn warnings(fx: &[Effect]) -> Vec<String> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Emit(EventKind::Warning { message }) => Some(message.clone()),
            _ => None,
        })
        .collect()
}

pub fn ok(m: &mut Machine, input: Input, now: DateTime<Utc>) -> Vec<Effect> {
    let name = input.name();
    m.apply(input, now)
        .unwrap_or_else(|r| panic!("{name} refused in phase {}: {r:?}", m.state().phase))
}

/// Walk a fresh machine on `plan` into `phase`, the way a real release gets
/// there. The canary has replicas `c1` (healthy once serving) and `c2`.
pub fn machine_in(plan: Plan, phase: Phase) -> Machine {
    let mut m = Machine::new(plan);
    let now = t0();
    if phase == Phase::Idle {
        return m;
    }
    ok(
        &mut m,
        act(Action::Deploy {
            image: String::new(),
        }),
        now,
    );
    if phase == Phase::Deploying {
        return m;
    }
    if phase == Phase::Failed {
        ok(
            &mut m,
            Input::CanaryStartFailed {
                detail: "boom".into(),
            },
            now,
        );
        ok(&mut m, Input::Removed { role: Role::Canary }, now);
        return m;
    }
    ok(
        &mut m,
        Input::CanaryStarted {
            replicas: vec!["c1".into(), "c2".into()],
        },
        now,
    );
    if phase == Phase::Warming {
        return m;
    }
    ok(
        &mut m,
        Input::ReplicaHealthy {
            role: Role::Canary,
            id: "c1".into(),
        },
        now,
    );
    // The guards have seen enough: bakes move on (the evidence tests feed
    // their own `Input::Evidence`).
    ok(&mut m, enough(), now);
    match phase {
        Phase::Canary => {}
        Phase::Paused => {
            ok(&mut m, act(Action::Pause), now);
        }
        Phase::Promoting => {
            ok(&mut m, act(Action::Promote { force: false }), now);
        }
        Phase::RollingBack => {
            ok(&mut m, act(Action::Rollback), now);
        }
        _ => unreachable!(),
    }
    assert_eq!(m.state().phase, phase, "fixture reached the wrong phase");
    m
}

pub const ALL_PHASES: [Phase; 8] = [
    Phase::Idle,
    Phase::Deploying,
    Phase::Warming,
    Phase::Canary,
    Phase::Paused,
    Phase::Promoting,
    Phase::RollingBack,
    Phase::Failed,
];

/// Position of the first effect matching `f`.
pub fn pos(fx: &[Effect], f: impl Fn(&Effect) -> bool) -> Option<usize> {
    fx.iter().position(f)
}

// ---- driver harness: an in-test runtime, a proxy, a load generator --------

use cutover::runtime::{Replica, ReplicaStats, Runtime, RuntimeError, RuntimeEvent, VersionSpec};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// How the replicas of one version behave; changeable while they run.
#[derive(Debug, Default)]
pub struct Knobs {
    /// Errors per mille of requests (deterministic: spread evenly).
    pub error_permille: AtomicU64,
    /// `/healthz` answers 503.
    pub unhealthy: AtomicBool,
    /// Non-health requests served.
    pub served: AtomicU64,
    /// Added latency on every non-health request, in milliseconds.
    pub latency_ms: AtomicU64,
    /// How long `GET /slow` takes, in milliseconds.
    pub slow_ms: AtomicU64,
    /// How long a stop takes before the replica goes, in milliseconds.
    pub stop_delay_ms: AtomicU64,
}

struct Running {
    replica: Replica,
    service: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

/// A [`Runtime`] whose replicas are in-test HTTP servers on 127.0.0.1:0.
/// The command line picks the behaviour: `--version V`, `--error-rate F`,
/// `--latency MS`, `--unhealthy`. Knobs are shared per version label, so a
/// test sets a deployed version's behaviour through [`TestRuntime::knobs`]
/// before it deploys it by name (deploys name versions, not command lines).
#[derive(Clone)]
pub struct TestRuntime {
    running: Arc<Mutex<BTreeMap<String, Running>>>,
    knobs: Arc<Mutex<BTreeMap<String, Arc<Knobs>>>>,
    events: broadcast::Sender<RuntimeEvent>,
    pub starts: Arc<AtomicU64>,
    /// Stops begun (whether finished or not).
    pub stops: Arc<AtomicU64>,
    /// The next start fails with this error text (what an engine says).
    pub fail_next_start: Arc<Mutex<Option<String>>>,
}

impl Default for TestRuntime {
    fn default() -> Self {
        TestRuntime {
            running: Default::default(),
            knobs: Default::default(),
            events: broadcast::channel(256).0,
            starts: Default::default(),
            stops: Default::default(),
            fail_next_start: Default::default(),
        }
    }
}

fn arg(cmd: &[String], name: &str) -> Option<String> {
    cmd.iter()
        .position(|a| a == name)
        .and_then(|i| cmd.get(i + 1).cloned())
}

impl TestRuntime {
    pub fn knobs(&self, version: &str) -> Arc<Knobs> {
        self.knobs
            .lock()
            .unwrap()
            .entry(version.to_string())
            .or_default()
            .clone()
    }

    /// Ids and roles of what runs now.
    pub fn running(&self) -> Vec<Replica> {
        self.running
            .lock()
            .unwrap()
            .values()
            .map(|r| r.replica.clone())
            .collect()
    }

    async fn serve_one(&self, spec: &VersionSpec, knobs: Arc<Knobs>) -> Running {
        use axum::extract::State;
        use axum::http::StatusCode;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let version = spec.version.clone();
        let counter = Arc::new(AtomicU64::new(0));
        let app = axum::Router::new()
            .route(
                "/healthz",
                axum::routing::get(
                    |State((k, _, _)): State<(Arc<Knobs>, String, Arc<AtomicU64>)>| async move {
                        if k.unhealthy.load(Ordering::SeqCst) {
                            StatusCode::SERVICE_UNAVAILABLE
                        } else {
                            StatusCode::OK
                        }
                    },
                ),
            )
            .fallback(
                |State((k, v, n)): State<(Arc<Knobs>, String, Arc<AtomicU64>)>,
                 uri: axum::http::Uri| async move {
                    k.served.fetch_add(1, Ordering::SeqCst);
                    let mut ms = k.latency_ms.load(Ordering::SeqCst);
                    if uri.path() == "/slow" {
                        ms += k.slow_ms.load(Ordering::SeqCst);
                    }
                    if ms > 0 {
                        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                    }
                    let i = n.fetch_add(1, Ordering::SeqCst);
                    let p = k.error_permille.load(Ordering::SeqCst);
                    // Error when the running count of errors steps up: exact share.
                    let err = (i + 1) * p / 1000 > i * p / 1000;
                    let status = if err {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::OK
                    };
                    (status, [("x-version", v.clone())], v)
                },
            )
            .with_state((knobs, version.clone(), counter));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Running {
            replica: Replica {
                id: format!("t:{}", addr.port()),
                role: spec.role,
                release: spec.release,
                version,
                addr: addr.to_string(),
            },
            service: spec.service.clone(),
            stop: Some(tx),
            task,
        }
    }

    /// Kill a replica as a crash would (exit 137).
    /// Report a runtime event as the runtime would (e.g. the engine gone).
    pub fn say(&self, event: RuntimeEvent) {
        let _ = self.events.send(event);
    }

    pub fn kill(&self, id: &str) {
        if let Some(r) = self.running.lock().unwrap().get_mut(id) {
            r.task.abort();
        }
        let _ = self.events.send(RuntimeEvent::Exited {
            id: id.to_string(),
            code: 137,
            oom_killed: false,
        });
    }
}

#[async_trait::async_trait]
impl Runtime for TestRuntime {
    fn kind(&self) -> cutover::plan::RuntimeKind {
        cutover::plan::RuntimeKind::Process
    }

    async fn start(&self, spec: &VersionSpec) -> Result<Vec<Replica>, RuntimeError> {
        self.starts.fetch_add(1, Ordering::SeqCst);
        if let Some(error) = self.fail_next_start.lock().unwrap().take() {
            return Err(RuntimeError::CreateRefused(error));
        }
        let cmd = spec.command.clone().unwrap_or_default();
        let knobs = self.knobs(&spec.version);
        if let Some(rate) = arg(&cmd, "--error-rate") {
            let f: f64 = rate.parse().unwrap();
            knobs
                .error_permille
                .store((f * 1000.0).round() as u64, Ordering::SeqCst);
        }
        if let Some(ms) = arg(&cmd, "--latency") {
            knobs
                .latency_ms
                .store(ms.parse().unwrap(), Ordering::SeqCst);
        }
        if cmd.iter().any(|a| a == "--unhealthy") {
            knobs.unhealthy.store(true, Ordering::SeqCst);
        }
        let mut out = Vec::new();
        for _ in 0..spec.replicas {
            let r = self.serve_one(spec, knobs.clone()).await;
            out.push(r.replica.clone());
            self.running.lock().unwrap().insert(r.replica.id.clone(), r);
        }
        Ok(out)
    }

    async fn stop(
        &self,
        replica: &Replica,
        grace: std::time::Duration,
    ) -> Result<(), RuntimeError> {
        self.stops.fetch_add(1, Ordering::SeqCst);
        let delay = self
            .knobs(&replica.version)
            .stop_delay_ms
            .load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        }
        let run = {
            let mut m = self.running.lock().unwrap();
            m.get_mut(&replica.id)
                .map(|r| (r.stop.take(), r.task.abort_handle()))
        };
        if let Some((stop, abort)) = run {
            if let Some(s) = stop {
                let _ = s.send(());
            }
            let deadline = tokio::time::Instant::now() + grace;
            while !abort.is_finished() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            abort.abort();
            let _ = self.events.send(RuntimeEvent::Exited {
                id: replica.id.clone(),
                code: 0,
                oom_killed: false,
            });
        }
        Ok(())
    }

    async fn remove(&self, replica: &Replica) -> Result<(), RuntimeError> {
        if let Some(r) = self.running.lock().unwrap().remove(&replica.id) {
            r.task.abort();
        }
        Ok(())
    }

    async fn list(&self, service: &str) -> Result<Vec<Replica>, RuntimeError> {
        Ok(self
            .running
            .lock()
            .unwrap()
            .values()
            .filter(|r| r.service == service)
            .map(|r| r.replica.clone())
            .collect())
    }

    async fn stats(&self, _: &Replica) -> Result<ReplicaStats, RuntimeError> {
        Ok(ReplicaStats::default())
    }

    async fn logs(&self, _: &Replica, _: usize) -> Result<Vec<String>, RuntimeError> {
        Ok(Vec::new())
    }

    async fn resize(
        &self,
        _: &Replica,
        _: Option<f64>,
        _: Option<u64>,
    ) -> Result<(), RuntimeError> {
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<RuntimeEvent> {
        self.events.subscribe()
    }
}

/// A proxy on 127.0.0.1:0 with a fresh router and metrics; stops on drop.
pub struct TestProxy {
    pub addr: std::net::SocketAddr,
    pub router: cutover::proxy::Router,
    pub metrics: Arc<cutover::metrics::Metrics>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestProxy {
    pub async fn start(plan: &Plan) -> TestProxy {
        let metrics = Arc::new(cutover::metrics::Metrics::new());
        let router = cutover::proxy::Router::new(
            metrics.clone(),
            cutover::proxy::ProxyOptions::from_plan(&plan.service, &plan.proxy),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
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
                std::time::Duration::from_secs(5),
            )
            .await;
        });
        TestProxy {
            addr,
            router,
            metrics,
            stop: Some(tx),
        }
    }
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// What the clients of a load run saw.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// (version header or "-", status) per response, in completion order.
    pub responses: Vec<(String, u16)>,
    /// Requests that got no HTTP answer at all.
    pub transport_errors: u64,
    /// When the first canary (version `canary_version`) error was seen.
    pub first_canary_error: Option<tokio::time::Instant>,
    /// When the last canary error was seen (the one that crossed the limit).
    pub last_canary_error: Option<tokio::time::Instant>,
}

/// Steady load against `url` at about `rps` with `concurrency` clients until `stop` flips.
pub fn load(
    url: String,
    rps: u64,
    concurrency: u64,
    canary_version: &str,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Seen> {
    let canary = canary_version.to_string();
    tokio::spawn(async move {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let mut tasks = Vec::new();
        for _ in 0..concurrency {
            let url = url.clone();
            let stop = stop.clone();
            let seen = seen.clone();
            let canary = canary.clone();
            let client = crate::support::http();
            let every = std::time::Duration::from_micros(1_000_000 * concurrency / rps);
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                while !stop.load(Ordering::SeqCst) {
                    tick.tick().await;
                    match client.get(&url).send().await {
                        Ok(r) => {
                            let v = r
                                .headers()
                                .get("x-version")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("-")
                                .to_string();
                            let status = r.status().as_u16();
                            let _ = r.bytes().await;
                            let mut s = seen.lock().unwrap();
                            if v == canary && status >= 500 {
                                let now = tokio::time::Instant::now();
                                s.first_canary_error.get_or_insert(now);
                                s.last_canary_error = Some(now);
                            }
                            s.responses.push((v, status));
                        }
                        Err(_) => seen.lock().unwrap().transport_errors += 1,
                    }
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
        seen.lock().unwrap().clone()
    })
}

/// A fast plan for driver tests: `service` unique per test.
pub fn driver_plan(service: &str, extra: &str) -> Plan {
    parse(
        &format!(
            r#"
service = "{service}"
runtime = "process"
[stable]
command = ["app", "--version", "v1"]
replicas = 2
[canary]
command = ["app", "--version", "v2"]
replicas = 1
[deploy]
command = ["app", "--version", "{{version}}"]
[health]
interval = "50ms"
timeout = "50ms"
healthy_after = 1
unhealthy_after = 2
start_timeout = "2s"
[drain]
timeout = "1s"
stop_grace = "500ms"
{extra}
"#
        ),
        "driver-test.toml",
    )
    .expect("driver test plan parses")
}

/// Every event the controller journals, kept for the test to read (events
/// sent before a test could subscribe, e.g. at startup, are here too).
#[derive(Clone, Default)]
pub struct Recorder(pub Arc<Mutex<Vec<cutover::model::Event>>>);

impl cutover::controller::EventSink for Recorder {
    fn record(&self, event: &cutover::model::Event) {
        self.0.lock().unwrap().push(event.clone());
    }
}

impl Recorder {
    pub fn kinds(&self) -> Vec<cutover::model::EventKind> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.kind.clone())
            .collect()
    }

    pub fn warnings(&self) -> Vec<String> {
        self.kinds()
            .into_iter()
            .filter_map(|k| match k {
                cutover::model::EventKind::Warning { message } => Some(message),
                _ => None,
            })
            .collect()
    }
}
