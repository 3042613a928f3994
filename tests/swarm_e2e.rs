//! The Swarm runtime end to end, on a single-node swarm the test makes if
//! the engine has none (and leaves again; `support/swarm.rs`):
//! - a stable task's container killed (`docker kill`) leaves the pool, is
//!   reported `exited 137`, and Swarm's replacement enters the pool once
//!   healthy; a live resize (a service update) replaces stable's tasks
//!   and the pool follows; the good canary is then promoted, and a
//!   replacement of its task serves as stable;
//! - a bad canary is rolled back by the guard;
//! - a restarted daemon adopts stable's tasks (and Swarm's replacement of
//!   one killed while it was down) and the canary's;
//! - on two nodes (a second dockerd joined as a worker), one stable task
//!   per node; the worker's task killed there is reported from the task
//!   list, replaced, and the canary promoted;
//! - `cutover demo --runtime swarm` promotes its good canary; without a
//!   swarm (before the test makes one), the daemon's runtime and the demo
//!   refuse with the reason;
//! - nothing with cutover's labels (service or container) is left;
//! - the test's own client sees no failure except the few canary errors
//!   the guard exists to catch.
//!
//! One test function, so the swarm the guard made is left only when every
//! part is done.

use crate::support::release::*;
use crate::support::swarm::{SwarmGuard, WorkerNode, kill, left_with_label};

use cutover::model::{Action, ActionRequest, Actor, EventKind, Phase, Role};
use std::time::Duration;

async fn wait_for(what: &str, within: Duration, mut ok: impl FnMut() -> bool) {
    let held = crate::support::wait::poll(within, Duration::from_millis(50), || {
        std::future::ready(ok().then_some(()))
    })
    .await;
    assert!(
        held.is_some(),
        "timed out after {within:?} waiting for {what}"
    );
}

/// Nothing with the test's label is left on the engine (Swarm removes a
/// deleted service's containers shortly after).
async fn nothing_left(service: &str) {
    let label = format!("cutover.test={service}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left = left_with_label(&label);
        if left.is_empty() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "services or containers labelled {label} are left: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn docker_out(args: &[&str]) -> String {
    let out = std::process::Command::new("docker")
        .args(args)
        .output()
        .expect("docker runs");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn killed_task_is_replaced_then_promoted() {
    let steps = Steps::manual();
    let opts = Options {
        steps: Some(&steps),
        max_failed_requests: 20,
        ..Options::default()
    };
    let h = Harness::start_options(Kind::Swarm, &opts)
        .await
        .expect("the swarm harness");
    h.wait_phase(Phase::Canary, Duration::from_secs(90)).await;
    h.wait_stable().await;
    let load = h.load(100.0);
    h.set_weight(200).await;

    let victim = h.state().await.stable.replicas[0].clone();
    assert!(h.pool(Role::Stable).contains(&victim.addr));
    kill(&victim.id);
    wait_for(
        "the killed task to leave the pool",
        Duration::from_secs(15),
        || !h.pool(Role::Stable).contains(&victim.addr),
    )
    .await;
    wait_for(
        "Swarm's replacement in the pool",
        Duration::from_secs(60),
        || h.pool(Role::Stable).len() == 2,
    )
    .await;
    let state = h.state().await;
    assert_eq!(state.stable.healthy(), 2, "{:?}", state.stable.replicas);
    let journal = h.journal().await;
    let said = |pred: &dyn Fn(&str, &str) -> bool| {
        journal.iter().any(|e| {
            matches!(&e.kind, EventKind::Replica { replica, detail, .. } if pred(replica, detail))
        })
    };
    assert!(
        said(&|r, d| {
            (victim.id.starts_with(r) || r.starts_with(&victim.id)) && d.contains("exited 137")
        }),
        "the kill was reported:\n{}",
        h.story()
    );
    assert!(
        said(&|_, d| d.contains("by the runtime, in place of a lost or replaced replica")),
        "the replacement was announced:\n{}",
        h.story()
    );

    // A live resize is a service update: Swarm replaces stable's tasks one
    // at a time (the new one first) and the pool follows.
    let before: Vec<String> = state.stable.replicas.iter().map(|r| r.id.clone()).collect();
    h.daemon()
        .client()
        .act(&ActionRequest {
            action: Action::Resize {
                role: Role::Stable,
                cpus: Some(0.75),
                memory: Some(96 << 20),
            },
            by: Actor::Cli,
            reason: None,
        })
        .await
        .expect("resize accepted");
    let resized = h
        .wait_until(
            "stable's tasks replaced by the resize",
            Duration::from_secs(90),
            |s| {
                let live: Vec<_> = s
                    .stable
                    .replicas
                    .iter()
                    .filter(|r| r.status == cutover::model::ReplicaStatus::Healthy)
                    .collect();
                live.len() == 2 && live.iter().all(|r| !before.contains(&r.id))
            },
        )
        .await;
    wait_for(
        "the resized tasks in the pool",
        Duration::from_secs(30),
        || {
            let pool = h.pool(Role::Stable);
            pool.len() == 2
                && resized
                    .stable
                    .replicas
                    .iter()
                    .filter(|r| r.status == cutover::model::ReplicaStatus::Healthy)
                    .all(|r| pool.contains(&r.addr))
        },
    )
    .await;
    let limits = docker_out(&[
        "service",
        "ls",
        "--filter",
        &format!("label=cutover.test={}", h.service),
        "--filter",
        "label=cutover.role=stable",
        "--format",
        "{{.ID}}",
    ]);
    let inspect = docker_out(&[
        "service",
        "inspect",
        "--format",
        "{{.Spec.TaskTemplate.Resources.Limits.NanoCPUs}} {{.Spec.TaskTemplate.Resources.Limits.MemoryBytes}}",
        limits.trim(),
    ]);
    assert_eq!(inspect.trim(), format!("750000000 {}", 96 << 20));

    h.daemon()
        .client()
        .act(&ActionRequest {
            action: Action::Promote { force: false },
            by: Actor::Cli,
            reason: None,
        })
        .await
        .expect("promote accepted");
    let done = h.wait_promoted(Duration::from_secs(60)).await;
    let seen = load.stop().await;
    assert_eq!(done.stable.version, "v2");
    assert_eq!(seen.failed(), 0, "no client saw a failure: {seen:?}");
    eprintln!("swarm: killed task replaced, canary promoted; client saw {seen:?}");
    // The promoted version's tasks still carry the canary's labels: a
    // replacement of one serves as stable.
    let promoted = done.stable.replicas[0].clone();
    kill(&promoted.id);
    wait_for(
        "the promoted version's replacement in stable's pool",
        Duration::from_secs(60),
        || {
            let pool = h.pool(Role::Stable);
            pool.len() == 1 && !pool.contains(&promoted.addr)
        },
    )
    .await;
    h.assert_only(Role::Stable).await;
    let service = h.service.clone();
    h.finish().await;
    nothing_left(&service).await;
}

async fn bad_canary_is_rolled_back() {
    let h = Harness::start(Kind::Swarm, "DEMO_ERROR_RATE=0.3", &Steps::manual(), 3)
        .await
        .expect("the swarm harness");
    h.wait_phase(Phase::Canary, Duration::from_secs(90)).await;
    h.wait_stable().await;
    let load = h.load(200.0);
    h.set_weight(1000).await;
    let rolled = h.wait_phase(Phase::Idle, Duration::from_secs(30)).await;
    let seen = load.stop().await;
    assert_eq!(rolled.canary, None, "the canary is gone");
    assert_eq!(rolled.stable.version, "v1");
    let why = h.rollback_reason().await;
    assert!(!why.is_empty(), "rolled back: {}", h.story());
    assert!(
        seen.errors_from("v2") <= 3,
        "clients saw {} canary errors (max_failed_requests 3)",
        seen.errors_from("v2")
    );
    assert_eq!(seen.errors_from("v1"), 0, "stable never failed");
    assert_eq!(seen.errors_from("none"), 0, "no answer made by the proxy");
    assert_eq!(seen.transport_errors, 0);
    eprintln!(
        "swarm: bad canary rolled back ({why}); clients saw {} canary errors",
        seen.errors_from("v2")
    );
    h.assert_only(Role::Stable).await;
    let service = h.service.clone();
    h.finish().await;
    nothing_left(&service).await;
}

/// Running containers of the test's service with `role`, by short id.
fn running(service: &str, role: &str) -> Vec<String> {
    docker_out(&[
        "ps",
        "-q",
        "--no-trunc",
        "--filter",
        &format!("label=cutover.test={service}"),
        "--filter",
        &format!("label=cutover.role={role}"),
        "--filter",
        "status=running",
    ])
    .lines()
    .map(String::from)
    .collect()
}

async fn restarted_daemon_adopts_the_tasks() {
    let mut h = Harness::start(Kind::Swarm, "", &Steps::manual(), 20)
        .await
        .expect("the swarm harness");
    h.wait_phase(Phase::Canary, Duration::from_secs(90)).await;
    h.wait_stable().await;
    let before = h.state().await;
    let stable: Vec<String> = before
        .stable
        .replicas
        .iter()
        .map(|r| r.id.clone())
        .collect();
    let canary = before.canary.as_ref().expect("a canary").replicas[0]
        .id
        .clone();
    let victim = stable[0].clone();
    let service = h.service.clone();
    // While the daemon is down, a stable task dies and Swarm replaces it.
    h.restart_daemon(async || {
        kill(&victim);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let now = running(&service, "stable");
            if now.len() == 2 && !now.iter().any(|c| c.starts_with(&victim)) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no replacement: {now:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    let after = h
        .wait_until(
            "stable adopted, two healthy",
            Duration::from_secs(60),
            |s| s.phase == Phase::Canary && s.stable.healthy() == 2,
        )
        .await;
    let ids: Vec<&str> = after
        .stable
        .replicas
        .iter()
        .map(|r| r.id.as_str())
        .collect();
    assert!(
        ids.contains(&stable[1].as_str()),
        "the survivor adopted: {ids:?}"
    );
    assert!(
        !ids.contains(&victim.as_str()),
        "the dead one not adopted: {ids:?}"
    );
    assert_eq!(
        after.canary.as_ref().expect("the canary").replicas[0].id,
        canary,
        "the canary adopted"
    );
    assert_eq!(h.pool(Role::Stable).len(), 2, "the replacement serves too");
    let load = h.load(50.0);
    h.daemon()
        .client()
        .act(&ActionRequest {
            action: Action::Rollback,
            by: Actor::Cli,
            reason: None,
        })
        .await
        .expect("rollback accepted");
    h.wait_phase(Phase::Idle, Duration::from_secs(30)).await;
    let seen = load.stop().await;
    assert_eq!(seen.failed(), 0, "no client saw a failure: {seen:?}");
    eprintln!("swarm: a restarted daemon adopted stable, its replacement and the canary");
    h.assert_only(Role::Stable).await;
    h.finish().await;
    nothing_left(&service).await;
}

/// Two nodes: the manager's engine and a second dockerd joined as a
/// worker. One stable task per node (`max_replicas_per_node = 1`), each
/// reached at its node's address; the worker's task killed there (no event
/// of it reaches the manager's engine: the task list says so) leaves the
/// pool and its replacement enters it; the canary is promoted.
async fn two_nodes() {
    let Some(worker) = WorkerNode::join(&["cutover-demo:v1", "cutover-demo:v2"]).await else {
        return;
    };
    let engine = cutover::runtime::docker::DockerRuntime::connect()
        .await
        .expect("the manager's engine");
    let placement = cutover::plan::SwarmPlan {
        placement: Vec::new(),
        max_replicas_per_node: Some(1),
    };
    let runtime = cutover::runtime::swarm::SwarmRuntime::on(engine, placement)
        .await
        .expect("a manager");
    let steps = Steps::manual();
    let opts = Options {
        steps: Some(&steps),
        max_failed_requests: 20,
        swarm: "max_replicas_per_node = 1",
        ..Options::default()
    };
    let h = Harness::start_on_swarm(std::sync::Arc::new(runtime), &opts).await;
    h.wait_phase(Phase::Canary, Duration::from_secs(120)).await;
    h.wait_stable().await;
    let on_worker = |role: &str| -> Vec<String> {
        worker
            .docker(&[
                "ps",
                "-q",
                "--no-trunc",
                "--filter",
                &format!("label=cutover.test={}", h.service),
                "--filter",
                &format!("label=cutover.role={role}"),
                "--filter",
                "status=running",
            ])
            .expect("the worker answers")
            .lines()
            .map(String::from)
            .collect()
    };
    let there = on_worker("stable");
    assert_eq!(there.len(), 1, "one stable task per node: {there:?}");
    let here = running(&h.service, "stable");
    assert_eq!(here.len(), 1, "one stable task per node: {here:?}");
    let load = h.load(100.0);
    h.set_weight(200).await;
    let state = h.state().await;
    let victim = state
        .stable
        .replicas
        .iter()
        .find(|r| there[0].starts_with(&r.id) || r.id.starts_with(&there[0]))
        .expect("the worker's task is a stable replica")
        .clone();
    worker
        .docker(&["kill", &there[0]])
        .expect("docker kill on the worker");
    wait_for(
        "the worker's killed task to leave the pool",
        Duration::from_secs(15),
        || !h.pool(Role::Stable).contains(&victim.addr),
    )
    .await;
    wait_for(
        "its replacement in the pool",
        Duration::from_secs(90),
        || h.pool(Role::Stable).len() == 2,
    )
    .await;
    let journal = h.journal().await;
    assert!(
        journal.iter().any(|e| matches!(&e.kind,
            EventKind::Replica { replica, detail, .. }
                if (victim.id.starts_with(replica.as_str()) || replica.starts_with(&victim.id))
                    && detail.contains("exited 137"))),
        "the kill on the worker was reported from the task list:\n{}",
        h.story()
    );
    h.daemon()
        .client()
        .act(&ActionRequest {
            action: Action::Promote { force: false },
            by: Actor::Cli,
            reason: None,
        })
        .await
        .expect("promote accepted");
    h.wait_promoted(Duration::from_secs(60)).await;
    let seen = load.stop().await;
    assert_eq!(seen.failed(), 0, "no client saw a failure: {seen:?}");
    eprintln!("swarm: two nodes, the worker's task killed and replaced, promoted; {seen:?}");
    h.assert_only(Role::Stable).await;
    let service = h.service.clone();
    h.finish().await;
    nothing_left(&service).await;
    let label = format!("label=cutover.test={service}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left = worker
            .docker(&["ps", "-aq", "--filter", &label])
            .unwrap_or_default();
        if left.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "containers left on the worker: {left}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A demo outside this test process holds the machine's demo lock
/// (the suite's own demos take turns with this one).
const DEMO_ELSEWHERE: &str = "another cutover demo";

/// `cutover demo` with `args`, in the suite's demo turn; up to three tries
/// while a demo outside this process runs. `None`: it kept running.
async fn demo(args: &'static [&'static str]) -> Option<std::process::Output> {
    for attempt in 1..=3 {
        let out = tokio::task::spawn_blocking(move || {
            let _turn = crate::support::one_demo_at_a_time();
            std::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
                .arg("demo")
                .args(args)
                .env(
                    "CUTOVER_DEMO_MARKER",
                    format!("swarm-demo-{}", std::process::id()),
                )
                .stdin(std::process::Stdio::null())
                .output()
                .expect("cutover demo runs")
        })
        .await
        .unwrap();
        if !String::from_utf8_lossy(&out.stderr).contains(DEMO_ELSEWHERE) {
            return Some(out);
        }
        eprintln!("try {attempt}: a cutover demo outside this test runs on this machine");
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
    None
}

/// `cutover demo --runtime swarm`, headless, as an operator runs it.
async fn demo_runs_on_swarm() {
    let Some(out) = demo(&[
        "--runtime",
        "swarm",
        "--scenario",
        "good",
        "--no-tui",
        "--duration",
        "60s",
    ])
    .await
    else {
        eprintln!("skipping the swarm demo: another cutover demo kept this machine's demo lock");
        return;
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("outcome promoted"),
        "demo --runtime swarm: {}\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stderr.contains("runtime swarm"), "{stderr}");
    eprintln!(
        "swarm: demo {}",
        stdout.lines().find(|l| l.contains("outcome")).unwrap_or("")
    );
}

/// Before the test makes a swarm: an engine that is not a manager is
/// refused with the reason and what to do.
async fn refused_without_a_swarm() {
    let plan = cutover::plan::parse(
        "service = \"s\"\nruntime = \"swarm\"\n[stable]\nimage = \"cutover-demo:v1\"\n",
        "swarm plan",
    )
    .unwrap();
    let err = match cutover::daemon::connect_runtime(&plan, &std::env::temp_dir()).await {
        Ok(_) => panic!("runtime swarm accepted an engine that is not a swarm manager"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains(cutover::runtime::swarm::NOT_MANAGER), "{err}");
    let Some(demo) = demo(&["--runtime", "swarm", "--no-tui"]).await else {
        eprintln!("not checking the demo's refusal: another cutover demo kept the lock");
        return;
    };
    assert_eq!(demo.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&demo.stderr).contains(cutover::runtime::swarm::NOT_MANAGER),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    eprintln!("swarm: refused without a swarm: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swarm_releases_end_to_end() {
    if swarm_inactive() {
        refused_without_a_swarm().await;
    }
    let Some(_swarm) = SwarmGuard::ensure() else {
        return;
    };
    killed_task_is_replaced_then_promoted().await;
    bad_canary_is_rolled_back().await;
    restarted_daemon_adopts_the_tasks().await;
    two_nodes().await;
    demo_runs_on_swarm().await;
}

/// The engine is reachable and its swarm inactive.
fn swarm_inactive() -> bool {
    std::process::Command::new("docker")
        .args(["info", "--format", "{{.Swarm.LocalNodeState}}"])
        .output()
        .is_ok_and(|o| {
            o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "inactive"
        })
}
