//! Watchers: the state directory holds `token.read` beside `token`. With
//! it, every GET of the admin API answers and every action route answers
//! 403, changing nothing; the operator's token still acts. The CLI's
//! `--read-only` uses it: `status` works, `weight` is refused with the
//! reason.

use crate::support::daemon::CanaryDaemon;
use serde_json::json;

/// Every way to act through the admin API: the weight route and each
/// action `POST /v1/actions` knows.
fn actions() -> Vec<(&'static str, serde_json::Value)> {
    let act = |body: serde_json::Value| ("/v1/actions", body);
    vec![
        ("/v1/weight", json!({"percent": 50})),
        act(json!({"action": "set_weight", "permille": 500})),
        act(json!({"action": "deploy", "image": ""})),
        act(json!({"action": "step"})),
        act(json!({"action": "pause"})),
        act(json!({"action": "resume"})),
        act(json!({"action": "promote"})),
        act(json!({"action": "rollback"})),
        act(json!({"action": "drain", "role": "canary"})),
        act(json!({"action": "drain", "role": "stable"})),
        act(json!({"action": "resize", "role": "canary", "cpus": 1.0})),
        act(json!({"action": "abort"})),
        act(json!({"action": "mute_guards", "muted": true})),
        act(json!({"action": "ack_breach"})),
        act(json!({"action": "set_guards", "guard": {"max_error_ratio": 3.0}})),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_token_reads_everything_and_acts_on_nothing() {
    let f = CanaryDaemon::start().await;
    let admin = f.daemon.admin_addr;
    let watcher = std::fs::read_to_string(f.daemon.dir.file("token.read"))
        .expect("the daemon made token.read")
        .trim()
        .to_string();
    assert_ne!(watcher, f.daemon.token, "two different tokens");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let before = f.daemon.client().state().await.unwrap();

    for path in [
        "/v1/state",
        "/v1/metrics",
        "/v1/guards",
        "/v1/logs?tail=5",
        "/v1/images",
    ] {
        let r = http
            .get(format!("http://{admin}{path}"))
            .bearer_auth(&watcher)
            .send()
            .await
            .unwrap();
        assert!(
            ![401, 403].contains(&r.status().as_u16()),
            "{path}: {}",
            r.status()
        );
    }
    // The event stream opens (its first line is a snapshot).
    let r = http
        .get(format!("http://{admin}/v1/events"))
        .bearer_auth(&watcher)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    drop(r);

    for (path, body) in actions() {
        let r = http
            .post(format!("http://{admin}{path}"))
            .bearer_auth(&watcher)
            .json(&{
                let mut b = body.clone();
                b["by"] = json!("api");
                b
            })
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{path} {body}");
        let reason: serde_json::Value = r.json().await.unwrap();
        assert_eq!(reason["code"], "read_only", "{path} {body}");
    }
    let after = f.daemon.client().state().await.unwrap();
    assert_eq!(
        (
            after.weight_permille,
            after.phase,
            after.release,
            after.guards_muted
        ),
        (
            before.weight_permille,
            before.phase,
            before.release,
            before.guards_muted
        ),
        "nothing changed"
    );
    // The operator's token still acts.
    let r = http
        .post(format!("http://{admin}/v1/weight"))
        .bearer_auth(&f.daemon.token)
        .json(&json!({"percent": 20}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // The CLI: --read-only watches, and says why it cannot act.
    let root = f.dir.path().to_str().unwrap().to_string();
    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
            .args(["--state-dir", &root, "--read-only"])
            .args(args)
            .env_remove("CUTOVER_TOKEN")
            .output()
            .unwrap()
    };
    let status = cli(&["status", "--json"]);
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    // `--yes`: past the CLI's own risk prompt, so the daemon is the one
    // that refuses.
    let weight = cli(&["weight", "50", "--yes"]);
    assert_eq!(weight.status.code(), Some(1));
    let said = String::from_utf8_lossy(&weight.stderr);
    assert!(said.contains("only watches"), "{said}");
    assert_eq!(
        f.daemon.client().state().await.unwrap().weight_permille,
        200
    );
    f.daemon.stop().await;
}
