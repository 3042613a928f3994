//! The cockpit end to end in a real terminal (tmux) against a real daemon
//! (static runtime, in-test upstreams): the screen shows both versions;
//! `→` five times moves the weight to 5 % on the daemon; `r` then `y` rolls
//! back and the phase shows it; `q` leaves the terminal restored and the
//! daemon still serving. Skips with a reason when tmux is not installed.

use crate::support::proxy as support;
use crate::support::tmux;

use cutover::daemon::DaemonConfig;
use cutover::model::Phase;
use std::time::{Duration, Instant};
use support::Upstream;
use tmux::Tmux;

async fn until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cockpit_drives_a_real_daemon_in_a_real_terminal() {
    if !Tmux::available() {
        eprintln!("skipping: tmux is not installed");
        return;
    }
    let stable = Upstream::start("stable").await;
    let canary = Upstream::start("canary").await;
    let text = format!(
        r#"
service = "shop"
runtime = "static"
[listen]
public = "127.0.0.1:0"
admin = "127.0.0.1:0"
[stable]
upstreams = ["{}"]
[canary]
upstreams = ["{}"]
[health]
interval = "100ms"
timeout = "100ms"
healthy_after = 1
"#,
        stable.addr, canary.addr
    );
    let plan = cutover::plan::parse(&text, "test.toml").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let daemon = cutover::daemon::start(DaemonConfig::new(plan, dir.path().to_path_buf()))
        .await
        .unwrap();
    let client = daemon.client();
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.state().await.unwrap().phase != Phase::Canary {
        assert!(Instant::now() < deadline, "canary never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let tmux = Tmux::new("cutover-tui", "cut");
    let cmd = format!(
        "{} --state-dir {} tui",
        env!("CARGO_BIN_EXE_cutover"),
        dir.path().display()
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "cut",
        "-x",
        "120",
        "-y",
        "36",
        "-e",
        "NO_COLOR=1",
        &cmd,
    ]);
    tmux.run(&["set-option", "-t", "cut", "remain-on-exit", "on"]);
    until(20, "both versions on screen", || {
        let s = tmux.screen();
        s.contains("STABLE") && s.contains("CANARY") && s.contains("● CANARY")
    })
    .await;

    assert_eq!(client.state().await.unwrap().weight_permille, 0);
    for _ in 0..5 {
        tmux.keys(&["Right"]);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = client.state().await.unwrap();
        if s.weight_permille == 50 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "weight is {} ‰, not 50",
            s.weight_permille
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    until(10, "5 % on the slider", || {
        tmux.screen().contains("canary   5 %")
    })
    .await;

    tmux.keys(&["r"]);
    until(10, "the rollback prompt", || {
        tmux.screen().contains("Roll back?")
    })
    .await;
    assert_eq!(
        client.state().await.unwrap().phase,
        Phase::Canary,
        "rolled back before y"
    );
    tmux.keys(&["y"]);
    until(10, "the phase showing the rollback", || {
        let s = tmux.screen();
        s.contains("ROLLING BACK") || s.contains("● IDLE")
    })
    .await;
    let phase = client.state().await.unwrap().phase;
    assert!(
        matches!(phase, Phase::RollingBack | Phase::Idle),
        "{phase:?}"
    );

    tmux.keys(&["q"]);
    until(10, "the cockpit to exit", || {
        tmux.run(&["display-message", "-p", "-t", "cut", "#{pane_dead}"])
            .trim()
            == "1"
    })
    .await;
    // The alternate screen is gone: the pane shows the primary screen again.
    let s = tmux.screen();
    assert!(!s.contains("STABLE"), "alternate screen left behind:\n{s}");
    // Quitting the cockpit never stops traffic.
    let body = reqwest::get(format!("http://{}/", daemon.public_addr))
        .await
        .expect("the daemon still serves");
    assert!(body.status().is_success());
    client.state().await.expect("the daemon still answers");
    daemon.stop().await;
}

/// The cockpit killed with SIGKILL mid-release: traffic is untouched (the
/// test's own client sees no failure), the daemon's state is unchanged, and
/// a new cockpit attaches at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_cockpit_leaves_traffic_alone() {
    if !Tmux::available() {
        eprintln!("skipping: tmux is not installed");
        return;
    }
    let stable = Upstream::start("stable").await;
    let canary = Upstream::start("canary").await;
    let text = format!(
        "service = \"shop\"\nruntime = \"static\"\n[listen]\npublic = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n\
         [stable]\nupstreams = [\"{}\"]\n[canary]\nupstreams = [\"{}\"]\n\
         [health]\ninterval = \"100ms\"\ntimeout = \"100ms\"\nhealthy_after = 1\n",
        stable.addr, canary.addr
    );
    let plan = cutover::plan::parse(&text, "test.toml").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let daemon = cutover::daemon::start(DaemonConfig::new(plan, dir.path().to_path_buf()))
        .await
        .unwrap();
    let client = daemon.client();
    while client.state().await.unwrap().phase != Phase::Canary {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    client
        .act(&cutover::model::ActionRequest {
            action: cutover::model::Action::SetWeight { permille: 300 },
            by: cutover::model::Actor::Cli,
            reason: None,
        })
        .await
        .unwrap();
    let tmux = Tmux::new("cutover-tui-kill", "cut");
    let cmd = format!(
        "exec {} --state-dir {} tui",
        env!("CARGO_BIN_EXE_cutover"),
        dir.path().display()
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "cut",
        "-x",
        "120",
        "-y",
        "36",
        &cmd,
    ]);
    tmux.run(&["set-option", "-t", "cut", "remain-on-exit", "on"]);
    until(20, "the cockpit on screen", || {
        tmux.screen().contains("CANARY")
    })
    .await;

    let url = format!("http://{}/", daemon.public_addr);
    let load = tokio::spawn(async move {
        let http = reqwest::Client::new();
        let (mut ok, mut failed) = (0u32, 0u32);
        let end = Instant::now() + Duration::from_secs(3);
        while Instant::now() < end {
            match http.get(&url).send().await {
                Ok(r) if r.status() == 200 => ok += 1,
                _ => failed += 1,
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        (ok, failed)
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid: i32 = tmux
        .run(&["list-panes", "-t", "cut", "-F", "#{pane_pid}"])
        .trim()
        .parse()
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let (ok, failed) = load.await.unwrap();
    assert_eq!(failed, 0, "traffic is untouched by the cockpit's death");
    assert!(ok > 50);
    let s = client.state().await.unwrap();
    assert_eq!(
        (s.phase, s.weight_permille),
        (Phase::Canary, 300),
        "the release is untouched"
    );
    // A new cockpit attaches at once.
    tmux.run(&["respawn-pane", "-k", "-t", "cut", &cmd]);
    until(20, "a new cockpit", || tmux.screen().contains("30")).await;
    daemon.stop().await;
}
