//! The controller task end to end with a real proxy on 127.0.0.1, in-test
//! upstreams as replicas (`TestRuntime`), real health checks and real load:
//! a bad canary is rolled back by the guard, a good one steps and promotes,
//! promote / rollback keep every client request answered, a canary that is
//! never healthy fails without traffic, and a restart restores and adopts.

use crate::support::controller as support;

use cutover::controller::{self, ControllerDeps, ControllerHandle, Outcome, persist};
use cutover::model::{Action, ActionRequest, Actor, EventKind, Phase, Role, StateView};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use support::*;

struct Rig {
    handle: ControllerHandle,
    task: tokio::task::JoinHandle<()>,
    proxy: TestProxy,
    runtime: TestRuntime,
    dir: tempfile::TempDir,
}

async fn rig(service: &str, extra: &str) -> Rig {
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
    let mut deps = ControllerDeps::new(
        plan.clone(),
        Arc::new(runtime.clone()),
        proxy.router.clone(),
        proxy.metrics.clone(),
        dir.to_path_buf(),
    );
    deps.public_addr = proxy.addr.to_string();
    deps.restored = restored;
    controller::spawn(deps)
}

async fn act(h: &ControllerHandle, action: Action) -> Result<String, String> {
    h.act(ActionRequest {
        action,
        by: Actor::Cli,
        reason: Some("test".into()),
    })
    .await
    .map(|r| r.detail)
    .map_err(|r| format!("{}: {}", r.code, r.message))
}

async fn until(h: &ControllerHandle, secs: u64, what: &str, f: impl Fn(&StateView) -> bool) {
    let h = h.clone();
    eventually(secs, what, || f(&h.state())).await;
}

fn url(p: &TestProxy) -> String {
    format!("http://{}/", p.addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_canary_is_rolled_back_by_the_guard() {
    let r = rig(
        "drv-bad",
        "[guard]\nmax_errors = 5\nmin_requests = 1000\n[[steps]]\nweight = 10\nbake = \"60s\"",
    )
    .await;
    let mut events = r.handle.subscribe();
    let stop = Arc::new(AtomicBool::new(false));
    let load = load(url(&r.proxy), 200, 4, "v2", stop.clone());

    act(
        &r.handle,
        Action::Deploy {
            image: "app --version v2 --error-rate 0.3".into(),
        },
    )
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
    // The breach was announced with its figures.
    let mut breach = None;
    while let Ok(ev) = events.try_recv() {
        if let EventKind::Breach {
            guard,
            value,
            threshold,
            ..
        } = ev.kind
        {
            breach = Some((guard, value, threshold));
        }
    }
    let (guard, value, threshold) = breach.expect("a breach event");
    assert_eq!(guard, "max_errors");
    assert_eq!(threshold, 5.0);
    assert!(value >= 5.0);
    let st = persist::load(r.dir.path(), "drv-bad").state.unwrap();
    assert_eq!(st.release.last_outcome, Some(Outcome::RolledBack));
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
    act(
        &r.handle,
        Action::Deploy {
            image: "app --version v3".into(),
        },
    )
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
    act(
        &r.handle,
        Action::Deploy {
            image: "app --version v2 --unhealthy".into(),
        },
    )
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
    act(
        &r.handle,
        Action::Deploy {
            image: "app --version v4".into(),
        },
    )
    .await
    .unwrap();
    until(&r.handle, 10, "v4 canary", |s| s.phase == Phase::Canary).await;
    r.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_restores_phase_and_weight_and_adopts_replicas() {
    let plan = driver_plan(
        "drv-restart",
        "[guard]\nmax_errors = 3\nmin_requests = 1000\n",
    );
    let r = rig(
        "drv-restart",
        "[guard]\nmax_errors = 3\nmin_requests = 1000\n",
    )
    .await;
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
