//! `cutover up --takeover` as an operator upgrading cutover mid-release
//! would use it: the real binary, a release stepping through its weights
//! under the test's own mixed load (keep-alive, a new connection per
//! request, uploads echoed back, one upgraded connection held open), and
//! twenty takeovers in a row while it runs.
//!
//! What must hold: no request fails and no connection is refused; the
//! release ends exactly as it would have (promoted, no breach, the guards'
//! evidence carried on rather than started afresh); the upgraded
//! connection stays on the version it opened on until the test closes it,
//! and the daemon that holds it exits then. A takeover that cannot start
//! (a plan that does not load, a missing daemon) leaves the running daemon
//! serving, untouched.

use crate::support::demo_app::App;
use crate::support::mixed_load::MixedLoad;
use crate::support::up::Up;
use crate::support::wait::poll;
use cutover::api::client::Client;
use cutover::controller::Outcome;
use cutover::model::{EventKind, Phase, StateView};
use std::time::Duration;

const TAKEOVERS: usize = 20;

/// Three steps of 8 s each (the takeovers take about ten seconds), guards on their defaults but with little
/// evidence needed (the load is modest) and patience for it.
const RELEASE: &str = r#"
[health]
interval = "200ms"
timeout = "200ms"
healthy_after = 1
[guard]
min_requests = 20
evidence_timeout = "2m"
[drain]
timeout = "5s"
stop_grace = "1s"
[[steps]]
weight = 10
bake = "8s"
[[steps]]
weight = 30
bake = "8s"
[[steps]]
weight = 60
bake = "8s"
"#;

async fn until(
    client: &Client,
    up: &Up,
    secs: u64,
    what: &str,
    ok: impl Fn(&StateView) -> bool,
) -> StateView {
    up.until(client, secs, what, ok).await
}

fn public_addr(up: &Up) -> std::net::SocketAddr {
    std::fs::read_to_string(up.state().join("public.addr"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn static_plan(service: &str, stable: &App, canary: &App) -> String {
    format!(
        "service = \"{service}\"\nruntime = \"static\"\n[listen]\npublic = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n\
         [stable]\nversion = \"v1\"\nupstreams = [\"{}\"]\n[canary]\nversion = \"v2\"\nupstreams = [\"{}\"]\n{RELEASE}",
        stable.1, canary.1
    )
}

fn process_plan(service: &str) -> String {
    let exe = env!("CARGO_BIN_EXE_cutover");
    let cmd = |v: &str| {
        format!(
            "[{exe:?}, \"demo-app\", \"--bind\", \"127.0.0.1\", \"--port\", \"{{port}}\", \"--version\", \"{v}\"]"
        )
    };
    format!(
        "service = \"{service}\"\nruntime = \"process\"\n[listen]\npublic = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n\
         [stable]\nversion = \"v1\"\ncommand = {}\n[canary]\nversion = \"v2\"\ncommand = {}\n{RELEASE}",
        cmd("v1"),
        cmd("v2")
    )
}

/// Start the daemon on `plan`, wait for the canary to take traffic, then
/// take it over [`TAKEOVERS`] times while the release runs under load.
/// With `replicas`, what it lists before the takeovers and at the end.
async fn twenty_takeovers_mid_release(
    service: &str,
    plan: &str,
    replicas: Option<&dyn Fn() -> Vec<String>>,
) -> Option<(Vec<String>, Vec<String>)> {
    let mut up = Up::start(service, plan, &[]);
    let client = up.client(30).await;
    until(&client, &up, 60, "the canary's first step", |s| {
        s.phase == Phase::Canary && s.weight_permille > 0
    })
    .await;
    let before = replicas.map(|list| list());
    let mut load = MixedLoad::start(public_addr(&up), true).await;
    let mut took = Vec::new();
    for i in 0..TAKEOVERS {
        let t0 = std::time::Instant::now();
        up.take_over(60).await;
        took.push(t0.elapsed());
        // A few hundred milliseconds of service between two takeovers.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let s = load.seen();
        assert_eq!(
            (s.failed, s.refused),
            (0, 0),
            "after takeover {}: {:?}\n{}",
            i + 1,
            s.examples,
            up.all_stderr()
        );
    }
    took.sort();
    eprintln!(
        "{service}: {TAKEOVERS} takeovers, each from `cutover up --takeover` starting to it serving: min {:?}, median {:?}, max {:?}",
        took[0],
        took[TAKEOVERS / 2],
        took[TAKEOVERS - 1]
    );
    // The upgraded connection kept echoing through every takeover, on the
    // daemon that accepted it and the version it opened on (still mid-release:
    // a promotion would retire stable's replicas and end it honestly).
    let client = up.client(10).await;
    assert_ne!(
        client.state().await.unwrap().phase,
        Phase::Idle,
        "still mid-release"
    );
    let tunnel = load.close_tunnel().await;
    assert_eq!(tunnel.broken, None, "the tunnel broke");
    assert!(
        ["v1", "v2"].contains(&tunnel.version.as_str()),
        "{tunnel:?}"
    );
    assert!(tunnel.echoes > 50, "the tunnel echoed {}", tunnel.echoes);
    let done = until(&client, &up, 120, "the release to end", |s| {
        s.phase == Phase::Idle && s.last_outcome.is_some()
    })
    .await;
    // Traffic after the promotion too, on the successor of successors.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (seen, _) = load.stop().await;

    assert_eq!(
        done.last_outcome,
        Some(Outcome::Promoted),
        "{}",
        up.all_stderr()
    );
    assert_eq!(done.stable.version, "v2", "the canary is stable now");
    assert_eq!(
        (seen.failed, seen.refused),
        (0, 0),
        "failures: {:?}\n{}",
        seen.examples,
        up.all_stderr()
    );
    assert!(seen.ok > 500, "the load ran: {seen:?}");
    assert!(
        seen.by_version.get("v2").copied().unwrap_or(0) > 50,
        "the canary served its share: {:?}",
        seen.by_version
    );
    // Closed by the client, the daemon that held it has nothing left to
    // finish: every retired daemon exits.
    let gone = poll(Duration::from_secs(15), Duration::from_millis(50), || {
        let running = up.retired_running();
        async move { (running == 0).then_some(()) }
    })
    .await;
    assert!(
        gone.is_some(),
        "retired daemons still run:\n{}",
        up.all_stderr()
    );

    let journal = cutover::journal::read_journal(&up.state().join("journal.jsonl")).unwrap();
    let takeovers = journal
        .events
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::Action { action, .. } if action == "takeover"))
        .count();
    assert_eq!(takeovers, TAKEOVERS, "each takeover is journaled");
    let afresh: Vec<_> = journal
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Warning { message } => Some(message.clone()),
            EventKind::Breach { detail, .. } => Some(detail.clone()),
            _ => None,
        })
        .filter(|m| m.contains("afresh") || m.contains("breach") || m.contains("did not complete"))
        .collect();
    assert_eq!(
        afresh,
        Vec::<String>::new(),
        "evidence carried on, nothing breached"
    );
    assert_eq!(journal.corrupt_lines, 0, "one journal, written in turn");
    let after = replicas.map(|list| list());
    up.stop().await;
    before.zip(after)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_takeovers_mid_release_lose_nothing_static() {
    let (stable, canary) = (App::start("v1"), App::start("v2"));
    twenty_takeovers_mid_release(
        "takeover-static",
        &static_plan("takeover-static", &stable, &canary),
        None,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_takeovers_mid_release_lose_nothing_process() {
    twenty_takeovers_mid_release("takeover-process", &process_plan("takeover-process"), None).await;
}

/// The same on Docker: the successor adopts the very containers (it
/// starts none and removes none but what the promotion retires).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_takeovers_mid_release_lose_nothing_docker() {
    let Some(_engine) = crate::support::docker::engine_with_demo_images().await else {
        return;
    };
    let service = format!("takeover-docker-{}", std::process::id());
    let _gone = crate::support::docker::Cleanup::service(&service);
    let plan = format!(
        "service = \"{service}\"\nruntime = \"docker\"\n[listen]\npublic = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n\
         [stable]\nimage = \"cutover-demo:v1\"\nversion = \"v1\"\n[canary]\nimage = \"cutover-demo:v2\"\nversion = \"v2\"\n{RELEASE}"
    );
    let label = format!("cutover.service={service}");
    let ids = || crate::support::docker::ids(&label, false);
    let observed = twenty_takeovers_mid_release(&service, &plan, Some(&ids)).await;
    let (before, after) = observed.expect("containers observed");
    // The promotion retired stable's container; the canary's is the one
    // that ran all along.
    assert_eq!(before.len(), 2, "{before:?}");
    assert_eq!(after.len(), 1, "{after:?}");
    assert!(before.contains(&after[0]), "no container was started anew");
}

/// A successor whose plan does not load, and one asked where no daemon
/// runs, both fail with a reason; the running daemon never noticed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_takeover_that_cannot_start_leaves_the_daemon_serving() {
    let (stable, canary) = (App::start("v1"), App::start("v2"));
    let plan = static_plan("takeover-fails", &stable, &canary);
    let mut up = Up::start("takeover-fails", &plan, &[]);
    let client = up.client(30).await;
    let before = until(&client, &up, 60, "the canary's first step", |s| {
        s.phase == Phase::Canary
    })
    .await;
    let load = MixedLoad::start(public_addr(&up), false).await;

    let bad = up.dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        plan.replace("runtime = \"static\"", "runtime = \"static\"\nnonsense = 1"),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
        .arg("--state-dir")
        .arg(up.root())
        .args(["up", "--takeover", "--plan"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nonsense"), "{err}");

    let elsewhere = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
        .arg("--state-dir")
        .arg(elsewhere.path())
        .args(["up", "--takeover", "--plan"])
        .arg(up.dir.path().join("cutover.toml"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no daemon to take over"), "{err}");

    // This one gets the listeners and the paused controller, then fails to
    // open its access log: the old daemon takes its lock back and carries
    // on, and a later takeover still works.
    let broken = up.dir.path().join("broken.toml");
    std::fs::write(
        &broken,
        format!("{plan}[proxy]\naccess_log = \"/proc/no-such-dir/access.log\"\n"),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
        .arg("--state-dir")
        .arg(up.root())
        .args(["up", "--takeover", "--plan"])
        .arg(&broken)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("carries on"), "{err}");
    assert!(err.contains("access log"), "{err}");
    until(
        &client,
        &up,
        10,
        "the journal to say the takeover failed",
        |_| {
            std::fs::read_to_string(up.state().join("journal.jsonl"))
                .is_ok_and(|j| j.contains("did not complete"))
        },
    )
    .await;
    let weight = client.state().await.unwrap().weight_permille;
    tokio::time::sleep(Duration::from_millis(300)).await;
    up.take_over(30).await;
    let client = up.client(10).await;
    let moved = client.state().await.expect("the successor answers");
    assert_eq!(moved.release, before.release);
    assert!(moved.weight_permille >= weight);

    tokio::time::sleep(Duration::from_millis(300)).await;
    let (seen, _) = load.stop().await;
    assert_eq!((seen.failed, seen.refused), (0, 0), "{:?}", seen.examples);
    up.stop().await;
}
