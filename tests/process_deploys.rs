//! The process runtime through the real binary (`cutover up` as a child,
//! so its environment is this test's to set): a deploy through the admin
//! API runs only the plan's `[deploy] command` filled with a plain
//! version, and anything else is a 400 that says what the plan allows;
//! replicas and hooks get a clean environment (the plan's `pass_env` and
//! cutover's own variables), so a secret in the daemon's environment
//! reaches neither.

use crate::support::up::Up;
use cutover::api::client::Client;
use cutover::model::{EventKind, Phase, StateView};
use std::time::{Duration, Instant};

async fn until(client: &Client, up: &Up, what: &str, ok: impl Fn(&StateView) -> bool) -> StateView {
    up.until(client, 30, what, ok).await
}

fn plan(exe: &str) -> String {
    format!(
        r#"service = "envcheck"
runtime = "process"
pass_env = ["PATH", "CUTOVER_TEST_PASSED"]
[listen]
public = "127.0.0.1:0"
admin = "127.0.0.1:0"
[stable]
command = ["sh", "-c", "env; exec \"$0\" demo-app --bind 127.0.0.1 --port \"$PORT\" --version v1", {exe:?}]
env = {{ FROM_THE_PLAN = "kept" }}
[health]
interval = "100ms"
timeout = "100ms"
healthy_after = 1
[hooks]
post_rollback = ["sh", "-c", "env"]
[deploy]
command = [{exe:?}, "demo-app", "--bind", "127.0.0.1", "--port", "{{port}}", "--version", "{{version}}"]
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploys_fill_the_template_and_children_see_a_clean_environment() {
    let exe = env!("CARGO_BIN_EXE_cutover");
    let mut up = Up::start(
        "envcheck",
        &plan(exe),
        &[
            ("CUTOVER_TEST_SECRET", "hunter2"),
            ("CUTOVER_TEST_PASSED", "yes"),
            ("HOME", "/root"),
        ],
    );
    let client = up.client(30).await;
    until(&client, &up, "stable healthy", |s| s.stable.healthy() == 1).await;
    // Its resource history starts with the first stats samples (procfs).
    let s = until(&client, &up, "stable's memory history", |s| {
        s.stable
            .usage
            .as_ref()
            .is_some_and(|u| u.memory_peak.is_some_and(|m| m > 1 << 20))
    })
    .await;
    let usage = s.stable.usage.unwrap();
    assert!(
        usage.summary.starts_with("stable peak ")
            && usage.summary.ends_with("a size suggestion after 5 min"),
        "{usage:?}"
    );
    assert_eq!(
        usage.suggested_memory, None,
        "too little history to size by"
    );

    // The replica's environment, as it printed it.
    let env = client
        .logs(cutover::model::Role::Stable, 500)
        .await
        .unwrap();
    let has = |prefix: &str| env.iter().any(|l| l.starts_with(prefix));
    for present in [
        "CUTOVER_TEST_PASSED=yes",
        "PATH=",
        "FROM_THE_PLAN=kept",
        "PORT=",
        "CUTOVER_SERVICE=envcheck",
        "CUTOVER_INSTANCE=",
    ] {
        assert!(
            has(present),
            "{present} missing from the replica's env: {env:#?}"
        );
    }
    for absent in ["CUTOVER_TEST_SECRET=", "HOME="] {
        assert!(!has(absent), "{absent} reached the replica: {env:#?}");
    }

    // A deploy that is not a version of the template: 400, nothing runs.
    let marker = up.dir.path().join("pwned");
    let http = crate::support::http();
    let url = format!("http://{}/v1/actions", client.addr());
    let token = std::fs::read_to_string(up.state().join("token")).unwrap();
    for hostile in [
        format!("sh -c 'touch {}'", marker.display()),
        "--help".to_string(),
        "../../bin/sh".to_string(),
        "v2 --error-rate 1".to_string(),
    ] {
        let r = http
            .post(&url)
            .bearer_auth(token.trim())
            .json(&serde_json::json!({"action": "deploy", "image": hostile, "by": "api"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{hostile}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["code"], "not_allowed", "{v}");
        let said = v["error"].as_str().unwrap();
        assert!(
            said.contains("the plan deploys versions by name through its deploy.command")
                && said.contains("--version {version}")
                && said.contains("name a version such as 1.5.0"),
            "{said}"
        );
    }
    assert!(!marker.exists(), "a refused deploy ran something");
    assert_eq!(client.state().await.unwrap().phase, Phase::Idle);

    // A version: the template, filled in, runs.
    let r = http
        .post(&url)
        .bearer_auth(token.trim())
        .json(&serde_json::json!({"action": "deploy", "image": "v2", "by": "api"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let s = until(&client, &up, "canary v2 serving", |s| {
        s.phase == Phase::Canary
    })
    .await;
    let canary = s.canary.expect("a canary");
    assert_eq!(canary.version, "v2");
    assert!(
        canary.image.contains("demo-app") && canary.image.ends_with("--version v2"),
        "{}",
        canary.image
    );
    let said = client.logs(cutover::model::Role::Canary, 50).await.unwrap();
    // The same from the command line.
    let printed = std::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
        .arg("--state-dir")
        .arg(up.root())
        .args(["logs", "canary", "--tail", "50"])
        .output()
        .unwrap();
    assert!(
        printed.status.success(),
        "{}",
        String::from_utf8_lossy(&printed.stderr)
    );
    assert!(
        String::from_utf8_lossy(&printed.stdout).contains("demo-app v2 listening"),
        "{}",
        String::from_utf8_lossy(&printed.stdout)
    );
    assert!(
        said.iter().any(|l| l.contains("demo-app v2 listening")),
        "{said:#?}"
    );

    // A rollback runs the hook; what it printed is its environment.
    client
        .act(&cutover::model::ActionRequest {
            action: cutover::model::Action::Rollback,
            by: cutover::model::Actor::Cli,
            reason: Some("env check".into()),
        })
        .await
        .unwrap();
    let journal = up.state().join("journal.jsonl");
    let deadline = Instant::now() + Duration::from_secs(30);
    let note = loop {
        let found = cutover::journal::read_journal(&journal).ok().and_then(|j| {
            j.events.into_iter().find_map(|e| match e.kind {
                EventKind::Warning { message } if message.starts_with("hook post_rollback") => {
                    Some(message)
                }
                _ => None,
            })
        });
        if let Some(n) = found {
            break n;
        }
        assert!(Instant::now() < deadline, "no hook note:\n{}", up.stderr());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for present in [
        "CUTOVER_TEST_PASSED=yes",
        "CUTOVER_HOOK=post_rollback",
        "CUTOVER_SERVICE=envcheck",
        "PATH=",
        // The release it runs for.
        "CUTOVER_RELEASE=",
        "CUTOVER_PHASE=",
        "CUTOVER_WEIGHT_PERMILLE=",
        "CUTOVER_STABLE_VERSION=",
        "CUTOVER_OUTCOME=rolled_back",
    ] {
        assert!(
            note.contains(present),
            "{present} missing from the hook's env: {note}"
        );
    }
    for absent in ["hunter2", "CUTOVER_TEST_SECRET", "HOME="] {
        assert!(!note.contains(absent), "{absent} reached the hook: {note}");
    }
    assert!(up.stop().await.success(), "{}", up.stderr());
}
