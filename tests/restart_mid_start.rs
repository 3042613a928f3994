//! `cutover up` (the real binary, process runtime, demo-app replicas)
//! killed with SIGKILL while its canary is still starting, and started
//! again on the same state directory: the restarted daemon takes the start
//! up where it was and the release carries on into its first step, exactly
//! as without the kill. Killed while `warming`, it adopts the canary that
//! runs (the same process), checks its health again and runs the warm-up
//! again; killed while `deploying`, it removes what the cut-short start left
//! and starts the canary again, ending with the plan's one canary replica.

use crate::support::up::Up;
use crate::support::wait::poll;
use cutover::model::{Phase, StateView};
use std::time::Duration;

/// Health checks every 100 ms, a warm-up, one long first step. The canary
/// binds its port 3 s after it starts (`--startup-delay`), so the daemon
/// spends seconds in `warming` and about a second in `deploying` (the
/// process runtime's settle wait).
fn plan(service: &str) -> String {
    let exe = env!("CARGO_BIN_EXE_cutover");
    let cmd = |v: &str, extra: &str| {
        format!(
            "[{exe:?}, \"demo-app\", \"--bind\", \"127.0.0.1\", \"--port\", \"{{port}}\", \"--version\", \"{v}\"{extra}]"
        )
    };
    format!(
        "service = \"{service}\"\nruntime = \"process\"\n[listen]\npublic = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n\
         [stable]\nversion = \"v1\"\ncommand = {}\n[canary]\nversion = \"v2\"\ncommand = {}\n\
         [health]\ninterval = \"100ms\"\ntimeout = \"100ms\"\nhealthy_after = 1\n\
         [warmup]\npath = \"/\"\nrequests = 5\n\
         [[steps]]\nweight = 10\nbake = \"10m\"\n",
        cmd("v1", ""),
        cmd("v2", ", \"--startup-delay\", \"3s\"")
    )
}

/// The saved state once its phase is `phase` (polled every 5 ms).
async fn saved_in(up: &Up, phase: &str, secs: u64) -> serde_json::Value {
    let file = up.state().join("state.json");
    let saved = || async {
        let text = std::fs::read_to_string(&file).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        (v["release"]["phase"] == phase).then_some(v)
    };
    poll(Duration::from_secs(secs), Duration::from_millis(5), saved)
        .await
        .unwrap_or_else(|| panic!("state.json never said {phase}:\n{}", up.all_stderr()))
}

/// Start the daemon again; its state once the canary takes its first step.
async fn restart_until_first_step(up: &mut Up) -> StateView {
    // The dead daemon's address file would send the client to it.
    let _ = std::fs::remove_file(up.state().join("admin.addr"));
    up.spawn(&[]);
    let client = up.client(30).await;
    let at_step = || async {
        let s = client.state().await.ok()?;
        assert_ne!(s.phase, Phase::Failed, "{s:?}\n{}", up.all_stderr());
        (s.phase == Phase::Canary && s.weight_permille == 100).then_some(s)
    };
    poll(Duration::from_secs(30), Duration::from_millis(50), at_step)
        .await
        .unwrap_or_else(|| panic!("never reached the first step:\n{}", up.all_stderr()))
}

fn journal(up: &Up) -> String {
    std::fs::read_to_string(up.state().join("journal.jsonl")).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_while_warming_adopts_the_canary_rechecks_it_and_carries_on() {
    let mut up = Up::start("warmkill", &plan("warmkill"), &[]);
    let saved = saved_in(&up, "warming", 60).await;
    let canary = saved["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["role"] == "canary")
        .cloned()
        .unwrap_or_else(|| panic!("warming without a canary replica: {saved}"));
    up.kill9();
    // Restart only once the adopted canary is healthy already: its checker
    // then has no transition of its own to report.
    let url = format!("http://{}/healthz", canary["addr"].as_str().unwrap());
    let answers = || async {
        reqwest::get(&url)
            .await
            .ok()
            .filter(|r| r.status().is_success())
    };
    poll(Duration::from_secs(20), Duration::from_millis(50), answers)
        .await
        .expect("the canary outlived its daemon and came up");
    let s = restart_until_first_step(&mut up).await;
    let ids: Vec<&str> = s
        .canary
        .as_ref()
        .unwrap()
        .replicas
        .iter()
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(
        ids,
        [canary["id"].as_str().unwrap()],
        "the same canary, adopted"
    );
    assert_eq!(up.replica_pids(Some("canary")).len(), 1);
    up.stop().await; // the journal is complete once the daemon stopped
    let j = journal(&up);
    assert!(
        j.contains("health-checked again and warmed up again"),
        "{j}"
    );
    assert!(j.contains("warm-up done"), "the warm-up ran again: {j}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_while_deploying_starts_the_canary_again_and_carries_on() {
    let mut up = Up::start("deploykill", &plan("deploykill"), &[]);
    saved_in(&up, "deploying", 60).await;
    up.kill9();
    let s = restart_until_first_step(&mut up).await;
    assert_eq!(s.canary.as_ref().unwrap().replicas.len(), 1);
    assert_eq!(
        up.replica_pids(Some("canary")).len(),
        1,
        "what the cut-short start left is gone"
    );
}
