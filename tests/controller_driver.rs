//! The controller task end to end with a real proxy on 127.0.0.1, in-test
//! upstreams as replicas (`TestRuntime`), real health checks and real load:
//! a bad canary is rolled back by the guard, a good one steps and promotes,
//! promote / rollback keep every client request answered, a canary that is
//! never healthy fails without traffic, and a restart restores and adopts.
//! Also: a canary lost mid-promote keeps stable, drains cut at the timeout
//! with counted 504s, the p99-ratio guard, guard edits across a restart, a
//! start without any readable state adopting what runs, the trip's own
//! figure after an unmute, and the guard cadence under a command flood.

use crate::support::controller as support;
use crate::support::wait::eventually;

use cutover::controller::{self, ControllerDeps, ControllerHandle, Outcome, persist};
use cutover::model::{Action, ActionRequest, Actor, EventKind, Guard, Phase, Role, StateView};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use support::*;

pub(crate) struct Rig {
    pub(crate) handle: ControllerHandle,
    pub(crate) task: tokio::task::JoinHandle<()>,
    pub(crate) proxy: TestProxy,
    pub(crate) runtime: TestRuntime,
    pub(crate) dir: tempfile::TempDir,
}

pub(crate) async fn rig(service: &str, extra: &str) -> Rig {
    let plan = driver_plan(service, extra);
    let proxy = TestProxy::start(&plan).await;
    let runtime = TestRuntime::default();
    let dir = tempfile::tempdir().unwrap();
    let (handle, task) = start(&plan, &proxy, &runtime, dir.path(), None);
    let rig = Rig {
        handle,
        task,
        proxy,
        runtime,
        dir,
    };
    let h = rig.handle.clone();
    eventually(5, "stable healthy", || h.state().stable.healthy() == 2).await;
    rig
}

fn start(
    plan: &cutover::plan::Plan,
    proxy: &TestProxy,
    runtime: &TestRuntime,
    dir: &std::path::Path,
    restored: Option<persist::PersistedState>,
) -> (ControllerHandle, tokio::task::JoinHandle<()>) {
    start_with(plan, proxy, runtime, dir, restored, |_| {})
}

pub(crate) fn start_with(
    plan: &cutover::plan::Plan,
    proxy: &TestProxy,
    runtime: &TestRuntime,
    dir: &std::path::Path,
    restored: Option<persist::PersistedState>,
    tweak: impl FnOnce(&mut ControllerDeps),
) -> (ControllerHandle, tokio::task::JoinHandle<()>) {
    let mut deps = ControllerDeps::new(
        plan.clone(),
        Arc::new(runtime.clone()),
        proxy.router.clone(),
        proxy.metrics.clone(),
        dir.to_path_buf(),
    );
    deps.public_addr = proxy.addr.to_string();
    deps.restored = restored;
    tweak(&mut deps);
    controller::spawn(deps)
}

pub(crate) async fn act(h: &ControllerHandle, action: Action) -> Result<String, String> {
    h.act(ActionRequest {
        action,
        by: Actor::Cli,
        reason: Some("test".into()),
    })
    .await
    .map(|r| r.detail)
    .map_err(|r| format!("{}: {}", r.code, r.message))
}

pub(crate) async fn until(
    h: &ControllerHandle,
    secs: u64,
    what: &str,
    f: impl Fn(&StateView) -> bool,
) {
    let h = h.clone();
    eventually(secs, what, || f(&h.state())).await;
}

fn url(p: &TestProxy) -> String {
    format!("http://{}/", p.addr)
}

/// What the event stream said around a rollback: the breach, and the
/// canary figures of the first tick after the phase went back to idle.
#[derive(Default)]
struct AfterRollback {
    breach: Option<(Guard, f64, f64)>,
    idle: bool,
    closing: Option<Option<cutover::model::VersionStats>>,
}

impl AfterRollback {
    fn take(&mut self, ev: cutover::model::Event) {
        match ev.kind {
            EventKind::Breach {
                guard,
                value,
                threshold,
                ..
            } => self.breach = Some((guard, value, threshold)),
            EventKind::Phase {
                to: Phase::Idle, ..
            } => self.idle = true,
            EventKind::Tick { canary, .. } if self.idle && self.closing.is_none() => {
                self.closing = Some(canary)
            }
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_canary_is_rolled_back_by_the_guard() {
    let r = rig(
        "drv-bad",
        "[guard]\nmax_failed_requests = 5\nmax_error_ratio = \"off\"\n[[steps]]\nweight = 10\nbake = \"60s\"",
    )
    .await;
    let mut events = r.handle.subscribe();
    let stop = Arc::new(AtomicBool::new(false));
    let load = load(url(&r.proxy), 200, 4, "v2", stop.clone());

    // v2 fails 30 % of its requests (the plan's template only names it).
    r.runtime
        .knobs("v2")
        .error_permille
        .store(300, Ordering::SeqCst);
    act(&r.handle, Action::Deploy { image: "v2".into() })
        .await
        .unwrap();
    // Record when the proxy's weight first returns to 0 after the canary got traffic.
    let router = r.proxy.router.clone();
    let zeroed = tokio::spawn(async move {
        let mut was_up = false;
        loop {
            let w = router.weight();
            was_up |= w > 0;
            if was_up && w == 0 {
                return tokio::time::Instant::now();
            }
            tokio::time::sleep(std::time::Duration::from_micros(200)).await;
        }
    });
    until(&r.handle, 15, "rolled back to idle", |s| {
        s.phase == Phase::Idle && s.release == 1 && s.canary.is_none()
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    let seen = load.await.unwrap();
    let zero_at = zeroed.await.unwrap();

    let canary_errors = seen
        .responses
        .iter()
        .filter(|(v, s)| v == "v2" && *s >= 500)
        .count();
    let canary_ok = seen
        .responses
        .iter()
        .filter(|(v, s)| v == "v2" && *s < 500)
        .count();
    let stable_bad = seen
        .responses
        .iter()
        .filter(|(v, s)| v != "v2" && *s != 200)
        .count();
    let first = seen
        .first_canary_error
        .expect("the canary erred at least once");
    let last = seen.last_canary_error.unwrap();
    println!(
        "first canary error → weight 0: {:?} (crossing error → weight 0: {:?}); client-seen canary errors {canary_errors} (limit 5); canary ok {canary_ok}; total {}",
        zero_at.saturating_duration_since(first),
        zero_at.saturating_duration_since(last),
        seen.responses.len()
    );
    assert!(
        (1..=5).contains(&canary_errors),
        "client-seen canary errors: {canary_errors}"
    );
    assert_eq!(stable_bad, 0, "stable served every other request");
    assert_eq!(seen.transport_errors, 0);
    // The canary is gone from the runtime; stable untouched.
    let running = r.runtime.running();
    assert!(running.iter().all(|x| x.version == "v1"), "{running:?}");
    assert_eq!(running.len(), 2);
    // The breach was announced with its figures; and the first tick after
    // the canary left still carries its figures: the flight recorder keeps
    // what the canary was charged in its last second.
    let mut said = AfterRollback::default();
    while let Ok(ev) = events.try_recv() {
        said.take(ev);
    }
    tokio::time::timeout(std::time::Duration::from_secs(3), async {
        while said.closing.is_none() {
            said.take(events.recv().await.expect("the event stream goes on"));
        }
    })
    .await
    .expect("a tick within a second or so of the rollback");
    let (guard, value, threshold) = said.breach.expect("a breach event");
    assert_eq!(guard, Guard::MaxFailedRequests);
    assert_eq!(threshold, 5.0);
    assert!(value >= 5.0);
    let closing = said
        .closing
        .flatten()
        .expect("the closing tick reports the canary");
    assert!(closing.errors >= 5, "{closing:?}");
    // The state file is written off the controller's task, in order: it
    // follows the published state by at most the save in progress.
    saved_outcome(r.dir.path(), "drv-bad", Outcome::RolledBack).await;
    r.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_canary_steps_and_promotes_under_load() {
    let r = rig(
        "drv-good",
        "[[steps]]\nweight = 10\nbake = \"300ms\"\n[[steps]]\nweight = 50\nbake = \"300ms\"\n[hooks]\npost_promote = [\"true\"]",
    )
    .await;
    let stop = Arc::new(AtomicBool::new(false));
    let load = load(url(&r.proxy), 200, 4, "v2", stop.clone());
    let mut events = r.handle.subscribe();
    act(
        &r.handle,
        Action::Deploy {
            image: String::new(),
        },
    )
    .await
    .unwrap();
    until(&r.handle, 15, "promoted", |s| {
        s.phase == Phase::Idle && s.stable.version == "v2" && s.canary.is_none()
    })
    .await;
    // Let the load see the new stable for a moment.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    stop.store(true, Ordering::SeqCst);
    let seen = load.await.unwrap();
    let failed = seen.responses.iter().filter(|(_, s)| *s != 200).count();
    let cut_504 = seen.responses.iter().filter(|(_, s)| *s == 504).count();
    assert_eq!(
        failed, cut_504,
        "only counted drain cuts may fail: {seen:?}"
    );
    assert_eq!(failed, 0, "nothing was in flight long enough to be cut");
    assert_eq!(seen.transport_errors, 0);
    assert!(seen.responses.iter().any(|(v, _)| v == "v2"));
    // Old replicas gone; the promoted canary is the only thing running.
    let running = r.runtime.running();
    assert_eq!(running.len(), 1, "{running:?}");
    assert_eq!(running[0].version, "v2");
    let st = r.handle.state();
    assert_eq!(st.stable.replicas.len(), 1);
    assert_eq!(st.weight_permille, 0);
    assert_eq!(
        r.proxy.router.members(Role::Stable),
        vec![running[0].addr.clone()]
    );
    // Steps went 10 % → 50 % → 100 %, then back to 0 once promoted.
    let mut weights = Vec::new();
    while let Ok(ev) = events.try_recv() {
        if let EventKind::Weight { to, .. } = ev.kind {
            weights.push(to);
        }
    }
    assert_eq!(weights, vec![100, 500, 1000, 0]);
    r.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_rollback_and_drain_stable_lose_no_request() {
    let r = rig("drv-manual", "").await;
    let stop = Arc::new(AtomicBool::new(false));
    let load = load(url(&r.proxy), 200, 4, "v2", stop.clone());

    // Rollback at 50 %.
    act(
        &r.handle,
        Action::Deploy {
            image: String::new(),
        },
    )
    .await
    .unwrap();
    until(&r.handle, 10, "canary", |s| s.phase == Phase::Canary).await;
    assert_eq!(
        r.handle.state().weight_permille,
        0,
        "no steps: the slider starts at 0"
    );
    act(&r.handle, Action::SetWeight { permille: 500 })
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    act(&r.handle, Action::Rollback).await.unwrap();
    until(&r.handle, 10, "rolled back", |s| s.phase == Phase::Idle).await;

    // Deploy again and drain stable (the promote path).
    act(&r.handle, Action::Deploy { image: "v3".into() })
        .await
        .unwrap();
    until(&r.handle, 10, "canary again", |s| s.phase == Phase::Canary).await;
    act(&r.handle, Action::SetWeight { permille: 300 })
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    act(
        &r.handle,
        Action::Drain {
            role: Role::Stable,
            force: false,
        },
    )
    .await
    .unwrap();
    until(&r.handle, 10, "promoted v3", |s| {
        s.phase == Phase::Idle && s.stable.version == "v3"
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    stop.store(true, Ordering::SeqCst);
    let seen = load.await.unwrap();

    let failed: Vec<_> = seen.responses.iter().filter(|(_, s)| *s != 200).collect();
    assert!(
        failed.iter().all(|(_, s)| *s == 504),
        "only drain cuts may fail: {failed:?}"
    );
    assert!(
        failed.is_empty(),
        "fast requests finish inside the drain timeout: {failed:?}"
    );
    assert_eq!(seen.transport_errors, 0);
    for v in ["v1", "v2", "v3"] {
        assert!(
            seen.responses.iter().any(|(x, _)| x == v),
            "{v} served some requests"
        );
    }
    let running = r.runtime.running();
    assert!(running.iter().all(|x| x.version == "v3"), "{running:?}");
    r.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_never_healthy_fails_without_traffic() {
    let r = rig("drv-sick", "[[steps]]\nweight = 50\nbake = \"1s\"").await;
    let stop = Arc::new(AtomicBool::new(false));
    let load = load(url(&r.proxy), 100, 2, "v2", stop.clone());
    let mut events = r.handle.subscribe();
    r.runtime
        .knobs("v2")
        .unhealthy
        .store(true, Ordering::SeqCst);
    act(&r.handle, Action::Deploy { image: "v2".into() })
        .await
        .unwrap();
    until(&r.handle, 10, "failed", |s| {
        s.phase == Phase::Failed && s.canary.is_none()
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    let seen = load.await.unwrap();
    assert_eq!(
        r.runtime.knobs("v2").served.load(Ordering::SeqCst),
        0,
        "no request reached it"
    );
    assert!(seen.responses.iter().all(|(v, s)| v == "v1" && *s == 200));
    while let Ok(ev) = events.try_recv() {
        if let EventKind::Weight { to, .. } = ev.kind {
            panic!("the weight moved to {to}");
        }
    }
    let running = r.runtime.running();
    assert_eq!(running.len(), 2);
    assert!(running.iter().all(|x| x.version == "v1"));
    // A new deploy is allowed from Failed.
    act(&r.handle, Action::Deploy { image: "v4".into() })
        .await
        .unwrap();
    until(&r.handle, 10, "v4 canary", |s| s.phase == Phase::Canary).await;
    r.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_restores_phase_and_weight_and_adopts_replicas() {
    let plan = driver_plan("drv-restart", "[guard]\nmax_failed_requests = 3\n");
    let r = rig("drv-restart", "[guard]\nmax_failed_requests = 3\n").await;
    act(
        &r.handle,
        Action::Deploy {
            image: String::new(),
        },
    )
    .await
    .unwrap();
    until(&r.handle, 10, "canary", |s| s.phase == Phase::Canary).await;
    act(&r.handle, Action::SetWeight { permille: 250 })
        .await
        .unwrap();
    let starts = r.runtime.starts.load(Ordering::SeqCst);
    // "kill -9": the task stops dead, nothing is cleaned up.
    r.task.abort();
    let _ = r.task.await;

    // A new proxy (new process) with the state from disk.
    let loaded = persist::load(r.dir.path(), "drv-restart");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let proxy = TestProxy::start(&plan).await;
    assert_eq!(proxy.router.weight(), 0);
    let (handle, task) = start(&plan, &proxy, &r.runtime, r.dir.path(), loaded.state);
    let router = proxy.router.clone();
    eventually(1, "weight restored within a second", || {
        router.weight() == 250
    })
    .await;
    let st = handle.state();
    assert_eq!(st.phase, Phase::Canary);
    assert_eq!(st.release, 1);
    assert_eq!(
        r.runtime.starts.load(Ordering::SeqCst),
        starts,
        "adopted, nothing restarted"
    );
    // The weight is restored first, then the replicas are adopted into
    // their pools (startup.rs): the pools may lag the weight by a moment.
    eventually(
        1,
        "2 stable and 1 canary members adopted into the pools",
        || router.members(Role::Stable).len() == 2 && router.members(Role::Canary).len() == 1,
    )
    .await;
    assert_eq!(proxy.router.members(Role::Stable).len(), 2);
    assert_eq!(proxy.router.members(Role::Canary).len(), 1);

    // The guard is still armed: a canary turning bad is rolled back.
    r.runtime
        .knobs("v2")
        .error_permille
        .store(1000, Ordering::SeqCst);
    let stop = Arc::new(AtomicBool::new(false));
    // One client: requests are sequential, so the count is exact.
    let load = load(url(&proxy), 200, 1, "v2", stop.clone());
    until(&handle, 10, "rolled back after restart", |s| {
        s.phase == Phase::Idle
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    let seen = load.await.unwrap();
    let canary_errors = seen
        .responses
        .iter()
        .filter(|(v, s)| v == "v2" && *s >= 500)
        .count();
    assert!(canary_errors <= 3, "{canary_errors}");
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_state_file_falls_back_on_restart() {
    let plan = driver_plan("drv-corrupt", "");
    let r = rig("drv-corrupt", "").await;
    act(
        &r.handle,
        Action::Deploy {
            image: String::new(),
        },
    )
    .await
    .unwrap();
    until(&r.handle, 10, "canary", |s| s.phase == Phase::Canary).await;
    act(&r.handle, Action::SetWeight { permille: 100 })
        .await
        .unwrap();
    act(&r.handle, Action::SetWeight { permille: 200 })
        .await
        .unwrap();
    r.task.abort();
    let _ = r.task.await;
    let path = r.dir.path().join(persist::STATE_FILE);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 3]).unwrap();

    let loaded = persist::load(r.dir.path(), "drv-corrupt");
    assert_eq!(loaded.warnings.len(), 1, "a loud warning");
    let state = loaded.state.clone().unwrap();
    assert_eq!(state.release.phase, Phase::Canary);
    assert_eq!(state.release.weight_permille, 100, "the previous copy");
    let proxy = TestProxy::start(&plan).await;
    let mut deps = ControllerDeps::new(
        plan.clone(),
        Arc::new(r.runtime.clone()),
        proxy.router.clone(),
        proxy.metrics.clone(),
        r.dir.path().to_path_buf(),
    );
    deps.restored = loaded.state;
    deps.warnings = loaded.warnings;
    let (handle, task) = controller::spawn(deps);
    let mut events = handle.subscribe();
    let router = proxy.router.clone();
    eventually(1, "weight of the previous copy", || router.weight() == 100).await;
    let _ = &mut events;
    task.abort();
}

/// Wait (bounded) until the state file records `want` as the last outcome.
async fn saved_outcome(dir: &std::path::Path, service: &str, want: Outcome) {
    let dir = dir.to_path_buf();
    let service = service.to_string();
    eventually(5, &format!("{want} saved in the state file"), || {
        persist::load(&dir, &service)
            .state
            .is_some_and(|s| s.release.last_outcome == Some(want))
    })
    .await;
}

pub(crate) async fn deploy(h: &ControllerHandle, image: &str) {
    act(
        h,
        Action::Deploy {
            image: image.into(),
        },
    )
    .await
    .unwrap();
    until(h, 10, "canary", |s| s.phase == Phase::Canary).await;
}

/// One GET through the proxy: (version header or "-", status).
pub(crate) async fn get(http: reqwest::Client, url: String) -> (String, u16) {
    let r = http.get(url).send().await.unwrap();
    let v = r
        .headers()
        .get("x-version")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string();
    (v, r.status().as_u16())
}

fn breaches(
    events: &mut tokio::sync::broadcast::Receiver<cutover::model::Event>,
) -> Vec<(Guard, f64, f64)> {
    let mut out = Vec::new();
    while let Ok(ev) = events.try_recv() {
        if let EventKind::Breach {
            guard,
            value,
            threshold,
            ..
        } = ev.kind
        {
            out.push((guard, value, threshold));
        }
    }
    out
}

/// Argo Rollouts #777 at the driver: the canary fails its health checks
/// while stable drains a slow request. The promotion is abandoned, stable is
/// never stopped (same replicas, none started), its drain is called off so
/// the slow request finishes normally, and no client request fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_lost_mid_promote_keeps_stable_serving() {
    let r = rig("drv-lost", "").await;
    deploy(&r.handle, "").await;
    let stable_before: Vec<String> = r
        .runtime
        .running()
        .into_iter()
        .filter(|x| x.version == "v1")
        .map(|x| x.id)
        .collect();
    let starts = r.runtime.starts.load(Ordering::SeqCst);
    r.runtime.knobs("v1").slow_ms.store(3000, Ordering::SeqCst);
    let http = crate::support::http();
    let slow = tokio::spawn(get(http.clone(), format!("http://{}/slow", r.proxy.addr)));
    let metrics = r.proxy.metrics.clone();
    eventually(5, "the slow request on stable", || {
        metrics.in_flight(Role::Stable) == 1
    })
    .await;
    act(&r.handle, Action::SetWeight { permille: 500 })
        .await
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let load = load(url(&r.proxy), 200, 4, "v2", stop.clone());
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    act(&r.handle, Action::Promote { force: false })
        .await
        .unwrap();
    assert_eq!(r.handle.state().phase, Phase::Promoting);
    // The canary stops answering its health checks mid-drain (drain timeout 1 s).
    r.runtime
        .knobs("v2")
        .unhealthy
        .store(true, Ordering::SeqCst);
    until(&r.handle, 10, "rolled back", |s| {
        s.phase == Phase::Idle && s.canary.is_none()
    })
    .await;
    let st = r.handle.state();
    assert_eq!(st.stable.version, "v1", "stable stayed stable");
    assert_eq!(st.last_outcome, Some(Outcome::RolledBack));
    assert_eq!(st.weight_permille, 0);
    assert_eq!(r.proxy.router.members(Role::Stable).len(), 2);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    stop.store(true, Ordering::SeqCst);
    let seen = load.await.unwrap();
    let (v, status) = slow.await.unwrap();
    assert_eq!(
        (v.as_str(), status),
        ("v1", 200),
        "the drain was called off: nothing cut"
    );
    let failed: Vec<_> = seen.responses.iter().filter(|(_, s)| *s != 200).collect();
    assert!(failed.is_empty(), "no request failed: {failed:?}");
    assert_eq!(seen.transport_errors, 0);
    assert!(seen.responses.iter().any(|(v, _)| v == "v2"));
    let mut stable_after: Vec<String> = r
        .runtime
        .running()
        .into_iter()
        .filter(|x| x.version == "v1")
        .map(|x| x.id)
        .collect();
    let mut before = stable_before.clone();
    before.sort();
    stable_after.sort();
    assert_eq!(
        stable_after, before,
        "the same stable replicas, never stopped"
    );
    assert_eq!(
        r.runtime.starts.load(Ordering::SeqCst),
        starts,
        "no stable had to be started again"
    );
    assert!(
        r.runtime.running().iter().all(|x| x.version == "v1"),
        "the canary is gone"
    );
    saved_outcome(r.dir.path(), "drv-lost", Outcome::RolledBack).await;
    r.task.abort();
}

/// Drain at release level: a rollback's drain of the canary and a
/// promotion's drain of stable each answer the request still in flight at
/// `drain.timeout` (1 s here) with a 504, counted on its version, and say so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drains_cut_at_the_timeout_with_counted_504s() {
    let r = rig("drv-cut", "").await;
    let mut events = r.handle.subscribe();
    let http = crate::support::http();
    let slow_url = format!("http://{}/slow", r.proxy.addr);

    // Rollback: the canary holds a 5 s request.
    deploy(&r.handle, "").await;
    r.runtime.knobs("v2").slow_ms.store(5000, Ordering::SeqCst);
    act(&r.handle, Action::SetWeight { permille: 1000 })
        .await
        .unwrap();
    let slow = tokio::spawn(get(http.clone(), slow_url.clone()));
    let metrics = r.proxy.metrics.clone();
    eventually(5, "the slow request on the canary", || {
        metrics.in_flight(Role::Canary) == 1
    })
    .await;
    act(&r.handle, Action::Rollback).await.unwrap();
    assert_eq!(slow.await.unwrap().1, 504, "cut at the drain timeout");
    until(&r.handle, 10, "rolled back", |s| s.phase == Phase::Idle).await;
    let canary = r
        .proxy
        .metrics
        .stats(Role::Canary, std::time::Duration::from_secs(60));
    assert_eq!(canary.status_504, 1, "counted on the canary: {canary:?}");
    assert_eq!(r.proxy.metrics.in_flight(Role::Canary), 0);

    // Promote: stable holds a 5 s request.
    deploy(&r.handle, "v3").await;
    r.runtime.knobs("v1").slow_ms.store(5000, Ordering::SeqCst);
    let stable_errors = r.proxy.metrics.errors_total(Role::Stable);
    let slow = tokio::spawn(get(http.clone(), slow_url));
    eventually(5, "the slow request on stable", || {
        metrics.in_flight(Role::Stable) == 1
    })
    .await;
    act(&r.handle, Action::Promote { force: false })
        .await
        .unwrap();
    assert_eq!(slow.await.unwrap().1, 504, "cut at the drain timeout");
    until(&r.handle, 10, "promoted", |s| {
        s.phase == Phase::Idle && s.stable.version == "v3"
    })
    .await;
    assert_eq!(
        r.proxy.metrics.errors_total(Role::Stable),
        stable_errors + 1,
        "the cut is one error of stable's"
    );
    let cuts: Vec<String> = std::iter::from_fn(|| events.try_recv().ok())
        .filter_map(|e| match e.kind {
            EventKind::Warning { message } if message.contains("answered 504") => Some(message),
            _ => None,
        })
        .collect();
    assert_eq!(cuts.len(), 2, "{cuts:?}");
    assert!(cuts[0].starts_with("drained canary: 0 in-flight requests finished, 1 answered 504"));
    assert!(cuts[1].starts_with("drained stable: 0 in-flight requests finished, 1 answered 504"));
    r.task.abort();
}

/// The p99 guard relative to stable: a canary 200 ms slower than a fast
/// stable breaches `max_p99_ratio` and is rolled back, stable untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p99_ratio_to_stable_breach_rolls_back() {
    let r = rig(
        "drv-p99",
        "[guard]\nmax_p99_ratio = 3.0\nmin_requests = 20\nwindow = \"2s\"\n",
    )
    .await;
    let mut events = r.handle.subscribe();
    r.runtime
        .knobs("v2")
        .latency_ms
        .store(200, Ordering::SeqCst);
    deploy(&r.handle, "v2").await;
    let stop = Arc::new(AtomicBool::new(false));
    let load = load(url(&r.proxy), 200, 8, "v2", stop.clone());
    act(&r.handle, Action::SetWeight { permille: 500 })
        .await
        .unwrap();
    until(&r.handle, 20, "rolled back", |s| {
        s.phase == Phase::Idle && s.canary.is_none()
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    let seen = load.await.unwrap();
    let found = breaches(&mut events);
    assert_eq!(found.len(), 1, "{found:?}");
    let (guard, value, threshold) = &found[0];
    assert_eq!(*guard, Guard::MaxP99Ratio);
    assert_eq!(*threshold, 3.0);
    assert!(*value > 3.0, "{value}");
    assert_eq!(r.handle.state().last_outcome, Some(Outcome::RolledBack));
    assert!(
        seen.responses.iter().all(|(_, s)| *s == 200),
        "slow is not failed"
    );
    assert_eq!(seen.transport_errors, 0);
    let running = r.runtime.running();
    assert!(running.iter().all(|x| x.version == "v1"), "{running:?}");
    assert_eq!(running.len(), 2);
    r.task.abort();
}

/// Guard thresholds edited on a running release are persisted: after a
/// restart they are still in force, and the trip is armed with the new
/// budget (a canary turning bad is caught within 2 failed requests, not 20).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guard_edits_survive_a_restart() {
    let plan = driver_plan(
        "drv-edit",
        "[guard]\nmax_failed_requests = 20\nmax_error_ratio = \"off\"\nmin_requests = 1000\n",
    );
    let r = rig(
        "drv-edit",
        "[guard]\nmax_failed_requests = 20\nmax_error_ratio = \"off\"\nmin_requests = 1000\n",
    )
    .await;
    deploy(&r.handle, "").await;
    act(&r.handle, Action::SetWeight { permille: 500 })
        .await
        .unwrap();
    let reply = r
        .handle
        .act(ActionRequest {
            action: Action::SetGuards {
                guards: cutover::model::GuardPatch {
                    max_failed_requests: Some(Some(2)),
                    window: Some("30s".parse().unwrap()),
                    ..Default::default()
                },
            },
            by: Actor::Tui,
            reason: Some("canary must be spotless".into()),
        })
        .await
        .unwrap();
    assert!(
        reply.detail.contains("max_failed_requests 20 → 2"),
        "{}",
        reply.detail
    );
    assert_eq!(r.handle.guards().max_failed_requests, Some(2));
    r.task.abort();
    let _ = r.task.await;

    let loaded = persist::load(r.dir.path(), "drv-edit");
    let proxy = TestProxy::start(&plan).await;
    let (handle, task) = start(&plan, &proxy, &r.runtime, r.dir.path(), loaded.state);
    let router = proxy.router.clone();
    eventually(2, "weight restored", || router.weight() == 500).await;
    let g = handle.guards();
    assert_eq!(g.max_failed_requests, Some(2));
    assert_eq!(g.window.to_string(), "30s");
    assert_eq!(g.min_requests, 1000, "what was not edited stays the plan's");
    eventually(5, "canary back in its pool", || {
        router.members(Role::Canary).len() == 1
    })
    .await;
    r.runtime
        .knobs("v2")
        .error_permille
        .store(1000, Ordering::SeqCst);
    let stop = Arc::new(AtomicBool::new(false));
    // One client: sequential requests, so the count is exact.
    let load = load(url(&proxy), 200, 1, "v2", stop.clone());
    until(&handle, 10, "rolled back by the edited guard", |s| {
        s.phase == Phase::Idle
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    let seen = load.await.unwrap();
    let canary_errors = seen
        .responses
        .iter()
        .filter(|(v, s)| v == "v2" && *s >= 500)
        .count();
    assert_eq!(canary_errors, 2, "the edited budget, not the plan's 20");
    task.abort();
}

/// Both state copies torn: the replicas still running are adopted from
/// their labels (stable as stable, the canary at weight 0), nothing is
/// stopped or started, and traffic is served at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_readable_state_adopts_what_runs_instead_of_removing_it() {
    let plan = driver_plan("drv-torn", "");
    let r = rig("drv-torn", "").await;
    deploy(&r.handle, "").await;
    act(&r.handle, Action::SetWeight { permille: 250 })
        .await
        .unwrap();
    let mut before: Vec<String> = r.runtime.running().into_iter().map(|x| x.id).collect();
    before.sort();
    assert_eq!(before.len(), 3);
    let starts = r.runtime.starts.load(Ordering::SeqCst);
    r.task.abort();
    let _ = r.task.await;
    for f in [persist::STATE_FILE, persist::PREV_FILE] {
        std::fs::write(r.dir.path().join(f), b"{\"torn").unwrap();
    }
    let loaded = persist::load(r.dir.path(), "drv-torn");
    assert!(loaded.state.is_none());
    assert_eq!(loaded.warnings.len(), 1);

    let proxy = TestProxy::start(&plan).await;
    let journal = Recorder::default();
    let (handle, task) = start_with(&plan, &proxy, &r.runtime, r.dir.path(), None, |d| {
        d.journal = Some(Arc::new(journal.clone()));
        d.warnings = loaded.warnings;
    });
    let router = proxy.router.clone();
    eventually(2, "adopted into the pools", || {
        router.members(Role::Stable).len() == 2 && router.members(Role::Canary).len() == 1
    })
    .await;
    let st = handle.state();
    assert_eq!(st.phase, Phase::Canary);
    assert_eq!(st.weight_permille, 0, "nothing goes to an adopted canary");
    assert_eq!(st.release, 1);
    assert_eq!(st.stable.version, "v1");
    assert_eq!(st.canary.as_ref().unwrap().version, "v2");
    let http = crate::support::http();
    for _ in 0..50 {
        assert_eq!(
            get(http.clone(), url(&proxy)).await,
            ("v1".to_string(), 200)
        );
    }
    let mut after: Vec<String> = r.runtime.running().into_iter().map(|x| x.id).collect();
    after.sort();
    assert_eq!(after, before, "nothing stopped, nothing added");
    assert_eq!(r.runtime.starts.load(Ordering::SeqCst), starts);
    let warnings = journal.warnings();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("adopted 2 running stable replica(s) (v1)")
                && w.contains("canary weight 0")),
        "{warnings:?}"
    );
    // And it is a release like any other: roll it back.
    act(&handle, Action::Rollback).await.unwrap();
    until(&handle, 10, "rolled back", |s| s.phase == Phase::Idle).await;
    assert!(r.runtime.running().iter().all(|x| x.version == "v1"));
    task.abort();
}

/// The failures-in-a-row trip counts from when it was armed, and so does
/// the guards' evidence: after an unmute, the failures made while muted are
/// not held against the canary, and the breach reports the trip's figure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_unmute_the_trip_reports_its_own_figure() {
    let r = rig(
        "drv-unmute",
        "[guard]\ntrip_after = 5\nmax_error_ratio = \"off\"\n",
    )
    .await;
    let mut events = r.handle.subscribe();
    deploy(&r.handle, "").await;
    act(&r.handle, Action::SetWeight { permille: 1000 })
        .await
        .unwrap();
    act(&r.handle, Action::MuteGuards { muted: true })
        .await
        .unwrap();
    r.runtime
        .knobs("v2")
        .error_permille
        .store(1000, Ordering::SeqCst);
    let http = crate::support::http();
    for _ in 0..10 {
        assert_eq!(
            get(http.clone(), url(&r.proxy)).await,
            ("v2".to_string(), 500)
        );
    }
    // Let guard evaluations see the muted errors: none may act.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(r.handle.state().phase, Phase::Canary);
    act(&r.handle, Action::MuteGuards { muted: false })
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(
        r.handle.state().phase,
        Phase::Canary,
        "errors made while muted are not held against the canary"
    );
    let mut canary_errors = 0;
    while r.proxy.router.weight() > 0 {
        let (v, s) = get(http.clone(), url(&r.proxy)).await;
        canary_errors += usize::from(v == "v2" && s >= 500);
        assert!(canary_errors <= 5, "the trip did not fire");
    }
    assert_eq!(
        canary_errors, 5,
        "tripped on the 5th error since the unmute"
    );
    until(&r.handle, 10, "rolled back", |s| s.phase == Phase::Idle).await;
    let found = breaches(&mut events);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0],
        (Guard::TripAfter, 5.0, 5.0),
        "the trip's own figure: 5 since it was re-armed, not 15 since the step began"
    );
    r.task.abort();
}

/// A health checker that calls a replica healthy, then (canary replicas
/// only, once `go` flips) repeats it 100,000 times in bursts (the driver
/// ignores repeats, but must read each one): an input that is always ready,
/// like a burst of reports on a busy daemon, more than the window can drain.
struct ChattyHealth {
    go: tokio::sync::watch::Receiver<bool>,
}

impl cutover::controller::HealthChecker for ChattyHealth {
    fn spawn(
        &self,
        replica: cutover::runtime::Replica,
        _health: cutover::plan::Health,
        _assume_healthy: bool,
        tx: tokio::sync::mpsc::UnboundedSender<cutover::controller::HealthEvent>,
    ) -> tokio::task::JoinHandle<()> {
        let mut go = self.go.clone();
        tokio::spawn(async move {
            let repeats = if replica.role == Role::Canary { 500 } else { 0 };
            let _ = tx.send(cutover::controller::HealthEvent {
                replica_id: replica.id.clone(),
                addr: replica.addr.clone(),
                role: replica.role,
                status: cutover::model::ReplicaStatus::Healthy,
                detail: "fine".into(),
            });
            let _ = go.wait_for(|g| *g).await;
            for _ in 0..repeats {
                for _ in 0..200 {
                    let ev = cutover::controller::HealthEvent {
                        replica_id: replica.id.clone(),
                        addr: replica.addr.clone(),
                        role: replica.role,
                        status: cutover::model::ReplicaStatus::Healthy,
                        detail: "still fine".into(),
                    };
                    if tx.send(ev).is_err() {
                        return;
                    }
                }
                tokio::task::yield_now().await;
            }
            std::future::pending::<()>().await;
        })
    }
}

/// Guards are evaluated at least 4 times a second (issue 5) even while
/// commands and health reports arrive without pause: the timers are served
/// before them. Paused time makes the count exact.
#[tokio::test(start_paused = true)]
async fn guard_cadence_holds_under_a_command_flood() {
    use std::sync::atomic::AtomicU64;
    let plan = driver_plan("drv-cadence", "");
    let proxy = TestProxy::start(&plan).await;
    let runtime = TestRuntime::default();
    let dir = tempfile::tempdir().unwrap();
    let evaluations = Arc::new(AtomicU64::new(0));
    let counted = evaluations.clone();
    let (go, go_rx) = tokio::sync::watch::channel(false);
    let (handle, task) = start_with(&plan, &proxy, &runtime, dir.path(), None, |d| {
        d.health = Arc::new(ChattyHealth { go: go_rx });
        d.guard = Arc::new(move |f| {
            counted.fetch_add(1, Ordering::SeqCst);
            controller::basic_guards(f)
        });
    });
    deploy(&handle, "").await;
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let mut flood = Vec::new();
    for _ in 0..100 {
        let (h, stop, sent) = (handle.clone(), stop.clone(), sent.clone());
        flood.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                // Refused at once (nothing is paused): no disk, no waiting.
                let _ = h
                    .act(ActionRequest {
                        action: Action::Resume,
                        by: Actor::Api,
                        reason: None,
                    })
                    .await;
                sent.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    go.send_replace(true);
    tokio::task::yield_now().await;
    let before = evaluations.load(Ordering::SeqCst);
    let sent_before = sent.load(Ordering::SeqCst);
    let started = tokio::time::Instant::now();
    for _ in 0..400 {
        tokio::time::advance(std::time::Duration::from_millis(5)).await;
    }
    for _ in 0..20 {
        // Let the driver serve the last tick the clock reached.
        tokio::task::yield_now().await;
    }
    let simulated = started.elapsed();
    let n = evaluations.load(Ordering::SeqCst) - before;
    let commands = sent.load(Ordering::SeqCst) - sent_before;
    stop.store(true, Ordering::SeqCst);
    for f in flood {
        let _ = f.await;
    }
    println!("{n} guard evaluations and {commands} commands in {simulated:?} of simulated time");
    assert!(commands >= 1000, "commands kept arriving: {commands}");
    assert!(
        n as f64 >= 4.0 * simulated.as_secs_f64(),
        "{n} guard evaluations in {simulated:?}"
    );
    task.abort();
}

/// The canary fails after stable's stop has begun (too late to keep those
/// replicas): the promotion is still abandoned, stable is started again
/// from the release state, the stopped replicas are removed, and stable v1
/// serves with a new set of replicas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_lost_after_stable_stopped_starts_stable_again() {
    let r = rig("drv-restart-stable", "").await;
    deploy(&r.handle, "").await;
    let old: Vec<String> = r
        .runtime
        .running()
        .into_iter()
        .filter(|x| x.version == "v1")
        .map(|x| x.id)
        .collect();
    let starts = r.runtime.starts.load(Ordering::SeqCst);
    r.runtime
        .knobs("v1")
        .stop_delay_ms
        .store(1500, Ordering::SeqCst);
    act(&r.handle, Action::Promote { force: false })
        .await
        .unwrap();
    let stops = r.runtime.stops.clone();
    eventually(5, "stable's stop begun", || {
        stops.load(Ordering::SeqCst) >= 1
    })
    .await;
    r.runtime
        .knobs("v2")
        .unhealthy
        .store(true, Ordering::SeqCst);
    until(&r.handle, 15, "rolled back with stable back", |s| {
        s.phase == Phase::Idle && s.canary.is_none() && s.stable.healthy() == 2
    })
    .await;
    let st = r.handle.state();
    assert_eq!(st.stable.version, "v1");
    assert_eq!(st.last_outcome, Some(Outcome::RolledBack));
    assert_eq!(
        r.runtime.starts.load(Ordering::SeqCst),
        starts + 1,
        "stable started once more, not twice"
    );
    let running = r.runtime.running();
    assert_eq!(running.len(), 2, "{running:?}");
    assert!(
        running
            .iter()
            .all(|x| x.version == "v1" && !old.contains(&x.id))
    );
    let http = crate::support::http();
    for _ in 0..20 {
        assert_eq!(
            get(http.clone(), url(&r.proxy)).await,
            ("v1".to_string(), 200)
        );
    }
    r.task.abort();
}
