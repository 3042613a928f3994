//! `cutover scale ROLE N` and `undo_promote` as an operator uses them: the
//! real binary on the process runtime, the test's own load running
//! throughout (keep-alive GETs, a new connection per request, uploads
//! echoed back). Every replica answers with its own port in `X-Version`
//! (`v1@PORT`), so the test sees which replicas served.
//!
//! What must hold: the new replicas serve once healthy, the ones a
//! scale-down takes finish their requests first, so no request fails; a
//! canary scaled mid-release stays mid-release; refusals change nothing;
//! the count survives a daemon restart; an undone promotion gives stable
//! its traffic and weight back, and one undone too late is refused.

use crate::support::mixed_load::{MixedLoad, Seen};
use crate::support::up::Up;
use cutover::api::client::{Client, ClientError};
use cutover::model::{Action, ActionRequest, Actor, Phase, RefusalCode, Role, StateView};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

fn plan(service: &str, extra: &str) -> String {
    let exe = env!("CARGO_BIN_EXE_cutover");
    let cmd = |v: &str| {
        format!(
            r#"[{exe:?}, "demo-app", "--bind", "127.0.0.1", "--port", "{{port}}", "--version", "{v}@{{port}}", "--latency", "5ms"]"#
        )
    };
    format!(
        r#"service = "{service}"
runtime = "process"
[listen]
public = "127.0.0.1:0"
admin = "127.0.0.1:0"
[stable]
version = "v1"
command = {}
[canary]
version = "v2"
command = {}
[health]
interval = "200ms"
timeout = "200ms"
healthy_after = 1
[guard]
min_requests = 20
evidence_timeout = "2m"
[drain]
timeout = "10s"
stop_grace = "2s"
{extra}
"#,
        cmd("v1"),
        cmd("v2")
    )
}

async fn until(client: &Client, up: &Up, what: &str, ok: impl Fn(&StateView) -> bool) -> StateView {
    up.until(client, 30, what, ok).await
}

async fn act(client: &Client, action: Action) -> Result<String, ClientError> {
    let req = ActionRequest {
        action,
        by: Actor::Cli,
        reason: Some("test".into()),
    };
    client.act(&req).await.map(|r| r.detail)
}

fn healthy(s: &StateView, role: Role) -> usize {
    s.version(role).map_or(0, |v| v.healthy())
}

fn alive(s: &StateView, role: Role) -> usize {
    s.version(role).map_or(0, |v| {
        v.replicas.iter().filter(|r| r.status.is_alive()).count()
    })
}

/// Replicas (by port) of `prefix` (`v1@`) that answered between two looks.
fn served(before: &Seen, after: &Seen, prefix: &str) -> BTreeSet<String> {
    after
        .by_version
        .iter()
        .filter(|(v, n)| v.starts_with(prefix) && before.by_version.get(*v) < Some(n))
        .map(|(v, _)| v.clone())
        .collect()
}

fn no_failures(seen: &Seen, up: &Up) {
    assert_eq!(
        (seen.failed, seen.refused),
        (0, 0),
        "requests failed: {:#?}\n{}",
        seen.examples,
        up.all_stderr()
    );
    assert!(seen.ok > 200, "too little load to judge: {seen:?}");
}

async fn public(client: &Client) -> SocketAddr {
    client.state().await.unwrap().public_addr.parse().unwrap()
}

/// `cutover scale` itself, with `--yes` (no terminal to confirm on).
fn cli_scale(up: &Up, role: &str, n: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
        .arg("--state-dir")
        .arg(up.root())
        .args(["scale", role, n, "--yes", "--reason", "more room"])
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stable_scales_up_and_down_under_load_without_a_failed_request() {
    let mut up = Up::start("scale-stable", &plan("scale-stable", ""), &[]);
    let client = up.client(30).await;
    until(&client, &up, "stable healthy", |s| {
        healthy(s, Role::Stable) == 1
    })
    .await;
    let load = MixedLoad::start(public(&client).await, false).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let out = cli_scale(&up, "stable", "3");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(said.trim(), "stable replicas 1 → 3");
    until(&client, &up, "three healthy", |s| {
        healthy(s, Role::Stable) == 3
    })
    .await;
    let before = load.seen();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let three = served(&before, &load.seen(), "v1@");
    assert_eq!(three.len(), 3, "all three serve: {three:?}");

    let detail = act(
        &client,
        Action::Scale {
            role: Role::Stable,
            replicas: 1,
        },
    )
    .await
    .unwrap();
    assert_eq!(detail, "stable replicas 3 → 1");
    let s = until(&client, &up, "one replica left", |s| {
        s.stable.replicas.len() == 1 && healthy(s, Role::Stable) == 1
    })
    .await;
    // The oldest stays: the first replica's port.
    let kept = format!(
        "v1@{}",
        s.stable.replicas[0].addr.rsplit(':').next().unwrap()
    );
    let before = load.seen();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(served(&before, &load.seen(), "v1@"), BTreeSet::from([kept]));
    let (seen, _) = load.stop().await;
    no_failures(&seen, &up);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_scales_mid_release_and_stays_mid_release() {
    let mut up = Up::start("scale-canary", &plan("scale-canary", ""), &[]);
    let client = up.client(30).await;
    until(&client, &up, "stable healthy", |s| {
        healthy(s, Role::Stable) == 1
    })
    .await;
    let load = MixedLoad::start(public(&client).await, false).await;
    // `cutover up` deploys the plan's [canary] by itself.
    until(&client, &up, "canary serving", |s| s.phase == Phase::Canary).await;
    act(&client, Action::SetWeight { permille: 500 })
        .await
        .unwrap();

    act(
        &client,
        Action::Scale {
            role: Role::Canary,
            replicas: 2,
        },
    )
    .await
    .unwrap();
    let s = until(&client, &up, "two canaries", |s| {
        healthy(s, Role::Canary) == 2
    })
    .await;
    assert_eq!(s.phase, Phase::Canary, "a scale is not a deploy");
    assert_eq!(s.weight_permille, 500);
    let before = load.seen();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(served(&before, &load.seen(), "v2@").len(), 2);

    act(
        &client,
        Action::Scale {
            role: Role::Canary,
            replicas: 1,
        },
    )
    .await
    .unwrap();
    let s = until(&client, &up, "one canary", |s| {
        s.canary.as_ref().is_some_and(|c| c.replicas.len() == 1) && healthy(s, Role::Canary) == 1
    })
    .await;
    assert_eq!(s.phase, Phase::Canary);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (seen, _) = load.stop().await;
    no_failures(&seen, &up);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_change_nothing_and_a_restart_keeps_the_count() {
    let text = plan("scale-keep", "");
    let at = text.find("[canary]").unwrap();
    let end = at + text[at..].find("[health]").unwrap();
    let text = format!("{}{}", &text[..at], &text[end..]);
    let mut up = Up::start("scale-keep", &text, &[]);
    let client = up.client(30).await;
    until(&client, &up, "stable healthy", |s| {
        healthy(s, Role::Stable) == 1
    })
    .await;
    let before = client.state().await.unwrap();
    for n in ["0", "65"] {
        let out = cli_scale(&up, "stable", n);
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains("1–64"), "{said}");
    }
    let canary = act(
        &client,
        Action::Scale {
            role: Role::Canary,
            replicas: 2,
        },
    )
    .await;
    assert!(
        matches!(&canary, Err(ClientError::Refused(r)) if r.code == RefusalCode::IllegalInPhase),
        "{canary:?}"
    );
    let after = client.state().await.unwrap();
    assert_eq!(after.stable.replicas, before.stable.replicas);
    assert_eq!(after.phase, before.phase);

    assert!(cli_scale(&up, "stable", "2").status.success());
    let s = until(&client, &up, "two healthy", |s| {
        healthy(s, Role::Stable) == 2
    })
    .await;
    let ids: BTreeSet<String> = s.stable.replicas.iter().map(|r| r.id.clone()).collect();
    up.stop().await;
    up.spawn(&[]);
    let client = up.client(30).await;
    let s = until(&client, &up, "two healthy again", |s| {
        healthy(s, Role::Stable) == 2
    })
    .await;
    // A clean stop takes process replicas with it: the count on record
    // is what the next daemon starts.
    assert_eq!(
        s.stable.replicas.len(),
        2,
        "{:?} before {ids:?}",
        s.stable.replicas
    );
    let saved = std::fs::read_to_string(up.state().join("state.json")).unwrap();
    let saved: serde_json::Value = serde_json::from_str(&saved).unwrap();
    assert_eq!(saved["release"]["stable"]["replicas"], 2, "{saved}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_static_runtime_refuses_to_scale() {
    let app = crate::support::demo_app::App::start("v1");
    let plan = format!(
        r#"service = "scale-static"
runtime = "static"
[listen]
public = "127.0.0.1:0"
admin = "127.0.0.1:0"
[stable]
upstreams = ["{}"]
"#,
        app.1
    );
    let mut up = Up::start("scale-static", &plan, &[]);
    let client = up.client(30).await;
    let before = client.state().await.unwrap();
    let out = cli_scale(&up, "stable", "2");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("fixed in the plan"), "{said}");
    let after = client.state().await.unwrap();
    assert_eq!(after.stable.replicas, before.stable.replicas);
}

/// Stable holds one slow request while the promotion drains it, so the
/// undo lands while stable still runs; for the second promotion nothing
/// holds the drain, and stable's replica takes three seconds to stop (a
/// shell that waits on SIGTERM), so the undo comes while it stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undo_promote_under_load_and_too_late() {
    let exe = env!("CARGO_BIN_EXE_cutover");
    let slow_stop = format!(
        r#"["sh", "-c", "trap 'sleep 3; exit 0' TERM; \"$0\" demo-app --bind 127.0.0.1 --port {{port}} --version v1@{{port}} --latency 5ms & wait; wait", {exe:?}]"#
    );
    let text = plan("scale-undo", "").replace("stop_grace = \"2s\"", "stop_grace = \"6s\"");
    let at = text.find("command = ").unwrap();
    let end = at + text[at..].find('\n').unwrap();
    let text = format!("{}command = {slow_stop}{}", &text[..at], &text[end..]);
    let mut up = Up::start("scale-undo", &text, &[]);
    let client = up.client(30).await;
    until(&client, &up, "stable healthy", |s| {
        healthy(s, Role::Stable) == 1
    })
    .await;
    let addr = public(&client).await;
    let load = MixedLoad::start(addr, false).await;
    // `cutover up` deploys the plan's [canary] by itself.
    until(&client, &up, "canary serving", |s| s.phase == Phase::Canary).await;

    // A slow request on stable (weight 0: it cannot go anywhere else).
    let slow = tokio::spawn(slow_request(addr, 3000));
    tokio::time::sleep(Duration::from_millis(300)).await;
    act(&client, Action::SetWeight { permille: 200 })
        .await
        .unwrap();
    act(&client, Action::Promote { force: false })
        .await
        .unwrap();
    let detail = act(&client, Action::UndoPromote).await.unwrap();
    assert!(detail.contains("20%"), "{detail}");
    let s = client.state().await.unwrap();
    assert_eq!((s.phase, s.weight_permille), (Phase::Paused, 200));
    assert_eq!(
        s.stable.healthy(),
        1,
        "stable back: {:?}",
        s.stable.replicas
    );
    let _ = slow.await;
    let before = load.seen();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let after = load.seen();
    assert!(
        !served(&before, &after, "v1@").is_empty(),
        "stable serves again"
    );
    assert!(
        !served(&before, &after, "v2@").is_empty(),
        "the canary keeps its share: {after:?}\n{:?}",
        client.state().await.unwrap()
    );

    // Too late: nothing holds the drain up now, and stable's stop takes
    // three seconds (its shell waits on SIGTERM).
    act(&client, Action::Promote { force: false })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let late = act(&client, Action::UndoPromote).await;
    match &late {
        Err(ClientError::Refused(r)) => {
            assert_eq!(r.code, RefusalCode::IllegalInPhase);
            assert!(r.message.starts_with("too late to undo"), "{}", r.message);
        }
        other => panic!("undo was not refused: {other:?}"),
    }
    until(&client, &up, "promoted", |s| s.phase == Phase::Idle).await;
    let (seen, _) = load.stop().await;
    no_failures(&seen, &up);
}

/// One GET of `/slow`; its own outcome is not the load's.
async fn slow_request(addr: SocketAddr, ms: u64) -> Option<u16> {
    let http = crate::support::http();
    http.get(format!("http://{addr}/slow?ms={ms}"))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

/// Docker: one more container of stable beside the first, serving once
/// healthy, then back to one, under load, without a failed request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_stable_scales_up_and_down() {
    let Some(_engine) = crate::support::docker::engine_with_demo_images().await else {
        return;
    };
    let service = format!("scale-docker-{}", std::process::id());
    let _cleanup = crate::support::docker::Cleanup::service(&service);
    let plan = format!(
        r#"service = "{service}"
runtime = "docker"
[listen]
public = "127.0.0.1:0"
admin = "127.0.0.1:0"
[stable]
image = "cutover-demo:v1"
version = "v1"
[health]
interval = "200ms"
timeout = "200ms"
healthy_after = 1
[drain]
timeout = "10s"
stop_grace = "2s"
"#
    );
    let mut up = Up::start(&service, &plan, &[]);
    let client = up.client(60).await;
    until(&client, &up, "stable healthy", |s| {
        healthy(s, Role::Stable) == 1
    })
    .await;
    let running = || crate::support::docker::ids(&format!("cutover.service={service}"), false);
    assert_eq!(running().len(), 1);
    let load = MixedLoad::start(public(&client).await, false).await;
    assert!(cli_scale(&up, "stable", "2").status.success());
    until(&client, &up, "two healthy", |s| {
        healthy(s, Role::Stable) == 2
    })
    .await;
    assert_eq!(running().len(), 2, "two containers");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(cli_scale(&up, "stable", "1").status.success());
    until(&client, &up, "one left", |s| {
        s.stable.replicas.len() == 1 && alive(s, Role::Stable) == 1
    })
    .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while running().len() != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the extra container is still there"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (seen, _) = load.stop().await;
    no_failures(&seen, &up);
}
