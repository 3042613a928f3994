//! Release trains (issue 16) through real sockets and real replicas (the
//! process runtime running the demo app): a train of three, two at a
//! time, whose third canary is bad, under the test's own load; a daemon
//! `kill -9`ed mid-train and again mid-reversal; and the refusals that
//! come before anything starts (an unapproved entry, a freeze window).

use crate::support::fleet_load::{Load, plan};
use crate::support::fleet_up::FleetUp;
use cutover::api::client::Client;
use cutover::daemon::fleet::RunningFleet;
use cutover::model::{Action, ActionRequest, Actor, EventKind, Phase, Role};
use cutover::train::{EntryPhase, StartRequest, TrainStatus};
use std::time::Duration;

const SERVICES: [&str; 3] = ["shop", "api", "web"];

fn train_file(p: &str, rollback: &str, max_parallel: u32) -> String {
    format!(
        r#"max_parallel = {max_parallel}
abort_on = "first_breach"
rollback = "{rollback}"
[[entries]]
service = "{p}-shop"
image = "shop-v2"
[[entries]]
service = "{p}-api"
image = "api-v2"
[[entries]]
service = "{p}-web"
image = "web-bad"
"#
    )
}

async fn in_process(plan_text: &str, root: &std::path::Path) -> RunningFleet {
    crate::support::fleet_load::in_process(plan_text, root, Default::default()).await
}

async fn approve_all(c: &Client, p: &str) {
    for (s, image) in [("shop", "shop-v2"), ("api", "api-v2"), ("web", "web-bad")] {
        c.approve(&format!("{p}-{s}"), image, "tester", Some("reviewed"))
            .await
            .unwrap();
    }
}

fn start(text: &str) -> StartRequest {
    StartRequest {
        file: "train.toml".into(),
        text: text.into(),
        by: Some("tester".into()),
        ..Default::default()
    }
}

/// The lines of a service's journal that are train steps, in order.
fn journal_story(root: &std::path::Path, service: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root.join(service).join("journal.jsonl")).unwrap();
    text.lines()
        .filter_map(|l| serde_json::from_str::<cutover::model::Event>(l).ok())
        .filter_map(|e| match e.kind {
            EventKind::Action {
                action,
                detail,
                reason,
                ok: true,
                ..
            } if action == "train"
                || reason.as_deref().is_some_and(|r| r.starts_with("train ")) =>
            {
                Some(format!(
                    "{action}: {detail} [{}]",
                    reason.unwrap_or_default()
                ))
            }
            _ => None,
        })
        .collect()
}

/// `want` appear in `story` in this order (each a substring of a line).
fn in_order(story: &[String], want: &[&str]) {
    let mut at = 0;
    for w in want {
        match story[at..].iter().position(|l| l.contains(w)) {
            Some(i) => at += i + 1,
            None => panic!("{w:?} missing (or out of order) in:\n{}", story.join("\n")),
        }
    }
}

/// Three services at rest on v1, shop on two replicas (it must come back
/// with two), every canary of the train approved.
async fn three_ready(root: &std::path::Path) -> (RunningFleet, Client) {
    let d = in_process(
        &plan(env!("CARGO_BIN_EXE_cutover"), "tb", &SERVICES, None, None),
        root,
    )
    .await;
    let shop = d.client("tb-shop").unwrap();
    for name in SERVICES {
        let h = d.service(&format!("tb-{name}")).unwrap().controller.clone();
        crate::support::wait::eventually(30, "stable healthy", || h.state().stable.healthy() == 1)
            .await;
    }
    let scale = ActionRequest {
        action: Action::Scale {
            role: Role::Stable,
            replicas: 2,
        },
        by: Actor::Cli,
        reason: None,
    };
    shop.act(&scale).await.unwrap();
    let h = d.service("tb-shop").unwrap().controller.clone();
    crate::support::wait::eventually(30, "shop on 2", || h.state().stable.healthy() == 2).await;
    approve_all(&shop, "tb").await;
    (d, shop)
}

/// Wait for the train to end, counting the most services that had a
/// canary at once while it ran.
async fn to_the_end(d: &RunningFleet) -> (cutover::train::Train, usize) {
    let handles: Vec<_> = d.services.iter().map(|s| s.controller.clone()).collect();
    let mut most_at_once = 0;
    let ended =
        crate::support::wait::poll(Duration::from_secs(50), Duration::from_millis(20), || {
            // While it runs (an abort may deploy previous versions while
            // the canaries in flight are still being removed): the states
            // first, then the status, which only moves on.
            let releasing = handles
                .iter()
                .filter(|h| h.state().canary.is_some())
                .count();
            let t = d.trains.current().unwrap();
            if t.status == TrainStatus::Running {
                most_at_once = most_at_once.max(releasing);
            }
            std::future::ready(t.status.is_over().then_some(t))
        })
        .await
        .unwrap_or_else(|| panic!("the train did not end: {:#?}", d.trains.current()));
    (ended, most_at_once)
}

/// Every service at rest on its v1, with the replicas it had.
fn back_on_previous(d: &RunningFleet, replicas: [usize; 3]) {
    for (name, replicas) in SERVICES.into_iter().zip(replicas) {
        let s = d.service(&format!("tb-{name}")).unwrap().controller.state();
        assert_eq!(
            (s.phase, s.stable.version.as_str()),
            (Phase::Idle, format!("{name}-v1").as_str()),
            "{name}"
        );
        let alive = s
            .stable
            .replicas
            .iter()
            .filter(|r| r.status.is_alive())
            .count();
        assert_eq!(alive, replicas, "{name}: {:?}", s.stable.replicas);
        assert!(s.canary.is_none(), "{name}: the canary is gone");
    }
}

/// The journals (closed, so complete) tell the story in order.
fn the_story_is_journaled(root: &std::path::Path, train_lines: &[String]) {
    let story = journal_story(root, "tb-shop");
    let steps = [
        "train 1 started by tester",
        "starting, canary shop-v2",
        "promoted",
    ];
    in_order(&story, &steps);
    in_order(&story, &["promoted", "aborting", "restoring", "restored"]);
    let story = journal_story(root, "tb-web");
    let steps = [
        "train 1 started",
        "starting, canary web-bad",
        "deploy: release 1: canary web-bad",
    ];
    in_order(&story, &steps);
    in_order(
        &story,
        &["deploy: release 1", "breached", "train 1 aborted"],
    );
    // Its own rollback and the train's abort race: both follow the breach.
    in_order(&story, &["breached", "aborting"]);
    in_order(&story, &["breached", "failed"]);
    eprintln!("tb-web's journal, train steps:\n{}", story.join("\n"));
    let steps = [
        "train 1 started",
        "tb-shop: promoted",
        "tb-web: starting",
        "aborting",
    ];
    in_order(train_lines, &steps);
    in_order(
        train_lines,
        &["aborting", "tb-shop: restored", "train 1 aborted"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_third_canary_aborts_the_train_and_rollback_all_returns_every_service() {
    let root = tempfile::tempdir().unwrap();
    let (d, shop) = three_ready(root.path()).await;
    let load = Load::start(d.public_addr, &SERVICES, "web-bad");
    let t = shop
        .train_start(&start(&train_file("tb", "all", 2)))
        .await
        .unwrap();
    assert_eq!(t.status, TrainStatus::Running);
    let (ended, most_at_once) = to_the_end(&d).await;
    let seen = load.stop().await;
    eprintln!("train under load: {seen}\n{}", ended.render());

    assert_eq!(ended.status, TrainStatus::Aborted, "{}", ended.render());
    let why = ended.abort_reason.as_deref().unwrap();
    assert!(
        why.contains("a guard breached in tb-web"),
        "{}",
        ended.render()
    );
    assert!(
        most_at_once <= 2,
        "max_parallel = 2, yet {most_at_once} canaries at once"
    );
    assert_eq!(ended.entry("tb-web").unwrap().phase, EntryPhase::Failed);
    assert_eq!(ended.entry("tb-shop").unwrap().phase, EntryPhase::Restored);
    back_on_previous(&d, [2, 1, 1]);
    // Every failure the clients saw was the bad canary's own answer.
    assert_eq!(seen.failed, 0, "{seen}");
    assert!(seen.bad_canary_failed > 0 && seen.ok > 300, "{seen}");

    let lines: Vec<String> = d.trains.journal().into_iter().map(|l| l.text).collect();
    d.stop().await;
    the_story_is_journaled(root.path(), &lines);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_mid_train_and_mid_reversal_ends_in_the_same_place() {
    let exe = env!("CARGO_BIN_EXE_cutover");
    let ports = crate::support::fleet_load::free_ports();
    let mut up = FleetUp::start(&plan(exe, "tk", &SERVICES, None, Some(ports)));
    let shop = up.client("tk-shop", 30).await;
    for name in SERVICES {
        let c = up.client(&format!("tk-{name}"), 30).await;
        crate::support::wait::eventually_async(30, "stable healthy", || {
            let c = c.clone();
            async move { c.state().await.is_ok_and(|s| s.stable.healthy() == 1) }
        })
        .await;
    }
    approve_all(&shop, "tk").await;
    let load = Load::start(ports.0, &SERVICES, "web-bad");
    shop.train_start(&start(&train_file("tk", "all", 1)))
        .await
        .unwrap();

    // First kill: shop's canary takes traffic, and its state file says
    // so (what a kill -9 leaves is what is on disk). A kill while the
    // file still says "warming" is not what this test is about: see the
    // report of issue 16 (a restored warming canary that is already
    // healthy was seen not to move on).
    let state = up.root().join("tk-shop").join("state.json");
    crate::support::wait::eventually(30, "shop's canary serving, on disk", || {
        std::fs::read_to_string(&state)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .is_some_and(|v| v["release"]["phase"] == "canary")
    })
    .await;
    up.kill9();
    up.spawn();
    let shop = up.client("tk-shop", 30).await;
    let t = shop.train().await.unwrap();
    assert_eq!(
        (t.id, t.status),
        (1, TrainStatus::Running),
        "{}\n{}",
        t.render(),
        up.stderr()
    );

    // Second kill: as soon as the train aborts (web's canary breached).
    until_aborting(&shop, &mut up).await;
    up.kill9();
    up.spawn();
    let shop = up.client("tk-shop", 30).await;
    let ended =
        crate::support::wait::poll(Duration::from_secs(40), Duration::from_millis(50), || {
            let shop = shop.clone();
            async move { shop.train().await.ok().filter(|t| t.status.is_over()) }
        })
        .await
        .unwrap_or_else(|| panic!("the train did not finish reversing:\n{}", up.stderr()));
    let seen = load.stop().await;
    eprintln!("killed twice: {seen}\n{}", ended.render());
    assert_eq!(ended.status, TrainStatus::Aborted, "{}", ended.render());
    ended_where_it_would_have(&mut up, &ended).await;
}

/// Poll the train until it aborts (panicking with every service's state
/// when it does not within 40 s).
async fn until_aborting(shop: &Client, up: &mut FleetUp) {
    let mut status = TrainStatus::Running;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    while status == TrainStatus::Running && tokio::time::Instant::now() < deadline {
        if let Ok(t) = shop.train().await {
            status = t.status;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if status != TrainStatus::Aborting {
        let t = shop.train().await.map(|t| t.render()).unwrap_or_default();
        let mut states = String::new();
        for name in SERVICES {
            let c = up.client(&format!("tk-{name}"), 5).await;
            if let Ok(s) = c.state().await {
                states += &format!(
                    "{name}: {} release {} weight {} step {:?} guards {:?} canary {:?}\n",
                    s.phase,
                    s.release,
                    s.weight_permille,
                    s.step,
                    s.guards
                        .iter()
                        .map(|g| (g.name, g.status, g.detail.clone()))
                        .collect::<Vec<_>>(),
                    s.canary.map(|c| (
                        c.version,
                        c.replicas.iter().map(|r| r.status).collect::<Vec<_>>()
                    ))
                );
            }
        }
        panic!("the train did not abort:\n{t}\n{states}\n{}", up.stderr());
    }
}

/// All three on v1, as an uninterrupted run with one at a time leaves
/// them: shop and api promoted then returned, web failed.
async fn ended_where_it_would_have(up: &mut FleetUp, ended: &cutover::train::Train) {
    for name in SERVICES {
        let c = up.client(&format!("tk-{name}"), 5).await;
        let s = c.state().await.unwrap();
        assert_eq!(
            (s.phase, s.stable.version.clone()),
            (Phase::Idle, format!("{name}-v1")),
            "{name}: {}",
            ended.render()
        );
        assert!(s.canary.is_none());
    }
    let phases: Vec<EntryPhase> = ended.entries.iter().map(|e| e.phase).collect();
    assert_eq!(
        phases,
        [
            EntryPhase::Restored,
            EntryPhase::Restored,
            EntryPhase::Failed
        ],
        "{}",
        ended.render()
    );
    let lines: Vec<String> = cutover::train::store::Store::open(&up.root())
        .unwrap()
        .read_journal()
        .into_iter()
        .map(|l| l.text)
        .collect();
    in_order(
        &lines,
        &[
            "tk-shop: starting",
            "tk-shop: promoted",
            "tk-web: starting",
            "aborting",
            "restored",
            "train 1 aborted",
        ],
    );
}

/// `cutover --state-dir ROOT ARGS…`: its exit code and what it printed.
fn cutover(root: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
        .arg("--state-dir")
        .arg(root)
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

/// Two services, shop inside a freeze window ("launch"), and a train file
/// for both.
async fn frozen_pair(root: &std::path::Path) -> (RunningFleet, String) {
    let freeze = ("2020-01-01T00:00:00Z", "2099-01-01T00:00:00Z");
    let exe = env!("CARGO_BIN_EXE_cutover");
    let d = in_process(&plan(exe, "tf", &["shop", "api"], Some(freeze), None), root).await;
    let file = root.join("train.toml");
    let text = "[[entries]]\nservice = \"tf-shop\"\nimage = \"shop-v2\"\n[[entries]]\nservice = \"tf-api\"\nimage = \"api-v2\"\n";
    std::fs::write(&file, text).unwrap();
    (d, file.to_str().unwrap().to_string())
}

/// Nothing released, nothing deployed.
fn nothing_started(d: &RunningFleet) {
    for s in &d.services {
        let v = s.controller.state();
        assert_eq!(
            (v.phase, v.release),
            (Phase::Idle, 0),
            "{}: nothing started",
            s.name
        );
    }
}

/// Refused while an entry is unapproved, then while shop is frozen, then
/// for `--force` without a reason: nothing starts.
fn refused_until_approved_and_forced(root: &std::path::Path, d: &RunningFleet, path: &str) {
    let (code, said) = cutover(
        root,
        &["approve", "tf-shop", "shop-v2", "--reason", "reviewed"],
    );
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("shop-v2 approved for tf-shop by "), "{said}");
    let (code, said) = cutover(root, &["train", "start", path]);
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("not approved: tf-api api-v2; nothing started"),
        "{said}"
    );
    let (code, said) = cutover(root, &["train", "status"]);
    assert_eq!(code, Some(1), "no train ran: {said}");
    nothing_started(d);

    let (code, _) = cutover(root, &["approve", "tf-api", "api-v2"]);
    assert_eq!(code, Some(0));
    let (code, said) = cutover(root, &["train", "start", path]);
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("inside a freeze window: tf-shop (freeze window \"launch\""),
        "{said}"
    );
    assert!(said.contains("--force --reason TEXT"), "{said}");
    let (code, said) = cutover(root, &["train", "start", path, "--force"]);
    assert_eq!(
        code,
        Some(2),
        "--force without a reason is a usage mistake: {said}"
    );
    nothing_started(d);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unapproved_or_frozen_trains_are_refused_before_anything_starts() {
    let root = tempfile::tempdir().unwrap();
    let (d, path) = frozen_pair(root.path()).await;
    let root = root.path();
    refused_until_approved_and_forced(root, &d, &path);

    let (code, said) = cutover(
        root,
        &["train", "start", &path, "--force", "--reason", "hotfix"],
    );
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("train 1  running"), "{said}");
    let (code, said) = cutover(root, &["train", "status", "--json"]);
    assert_eq!(code, Some(0), "{said}");
    let t: serde_json::Value = serde_json::from_str(&said).unwrap();
    assert_eq!(t["forced"], true);
    assert_eq!(t["entries"][0]["service"], "tf-shop");
    assert!(t["entries"][0]["phase"].is_string(), "{t}");
    assert_eq!(
        t["approvals"].as_array().unwrap().len(),
        2,
        "the approvals snapshot"
    );

    // A watcher's token reads the train and acts on nothing.
    let read = std::fs::read_to_string(root.join("tf-api").join("token.read")).unwrap();
    let http = crate::support::http();
    let url = format!("http://{}/v1/train", d.admin_addr);
    let r = http
        .get(&url)
        .bearer_auth(read.trim())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let abort = http.post(format!("{url}/abort")).bearer_auth(read.trim());
    let r = abort.json(&serde_json::json!({})).send().await.unwrap();
    assert_eq!(r.status(), 403);

    let (code, said) = cutover(root, &["train", "abort", "--reason", "changed our minds"]);
    assert_eq!(code, Some(0), "{said}");
    let ended =
        crate::support::wait::poll(Duration::from_secs(30), Duration::from_millis(20), || {
            std::future::ready(d.trains.current().filter(|t| t.status.is_over()))
        })
        .await
        .unwrap();
    assert_eq!(ended.status, TrainStatus::Aborted, "{}", ended.render());
    for s in &d.services {
        crate::support::wait::eventually(30, "back at rest", || {
            let v = s.controller.state();
            v.phase == Phase::Idle && v.canary.is_none()
        })
        .await;
        assert!(s.controller.state().stable.version.ends_with("-v1"));
    }
    d.stop().await;
}
