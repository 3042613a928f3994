//! The headless CLI verbs against a real daemon (in-process, static runtime,
//! in-test upstreams), run as the real binary with no terminal: deploy,
//! weight, pause, resume, promote, rollback, drain, status and wait, with the
//! exit codes DESIGN.md gives (0 done, 1 refused or failed, 2 usage,
//! 3 daemon unreachable), refusals without `--yes` that change nothing, and
//! `cutover up --allow-remote-admin`.

use crate::support::proxy::Upstream;

use cutover::daemon::{DaemonConfig, RunningDaemon};
use cutover::model::{Outcome, Phase, StateView};
use std::process::Stdio;
use std::time::{Duration, Instant};

struct Fixture {
    daemon: RunningDaemon,
    root: String,
    upstreams: Vec<Upstream>,
    _dir: tempfile::TempDir,
}

/// A daemon with stable on upstream 0, idle (no canary deployed).
async fn fixture(service: &str) -> Fixture {
    let mut upstreams = Vec::new();
    for name in ["one", "two", "three"] {
        upstreams.push(Upstream::start(name).await);
    }
    let text = format!(
        r#"
service = "{service}"
runtime = "static"
[listen]
public = "127.0.0.1:0"
admin = "127.0.0.1:0"
[stable]
upstreams = ["{}"]
[health]
interval = "50ms"
timeout = "50ms"
healthy_after = 1
start_timeout = "2s"
[drain]
timeout = "1s"
stop_grace = "100ms"
"#,
        upstreams[0].addr
    );
    let plan = cutover::plan::parse(&text, "cli.toml").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = DaemonConfig::new(plan, dir.path().to_path_buf());
    cfg.deploy_canary = false;
    let daemon = cutover::daemon::start(cfg).await.unwrap();
    let f = Fixture {
        daemon,
        root: dir.path().to_str().unwrap().to_string(),
        upstreams,
        _dir: dir,
    };
    f.until("stable healthy", |s| s.stable.healthy() == 1).await;
    f
}

impl Fixture {
    fn addr(&self, i: usize) -> String {
        self.upstreams[i].addr.to_string()
    }

    async fn state(&self) -> StateView {
        self.daemon.client().state().await.unwrap()
    }

    async fn until(&self, what: &str, ok: impl Fn(&StateView) -> bool) -> StateView {
        let held = crate::support::wait::poll(
            Duration::from_secs(20),
            Duration::from_millis(20),
            || async { Some(self.state().await).filter(|s| ok(s)) },
        )
        .await;
        match held {
            Some(s) => s,
            None => panic!("timed out waiting for {what}: {:?}", self.state().await),
        }
    }

    /// `cutover --state-dir ROOT args…` with no terminal on stdin.
    async fn run(&self, args: &[&str]) -> Ran {
        cutover(&["--state-dir", &self.root], args).await
    }

    fn spawn(&self, args: &[&str]) -> tokio::task::JoinHandle<Ran> {
        let root = self.root.clone();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        tokio::spawn(async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            cutover(&["--state-dir", &root], &args).await
        })
    }
}

#[derive(Debug)]
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

async fn cutover(pre: &[&str], args: &[&str]) -> Ran {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(pre)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    Ran {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn code(r: &Ran, want: i32, what: &str) {
    assert_eq!(r.code, Some(want), "{what}: {r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_verbs_drive_releases_with_their_exit_codes() {
    let f = fixture("cli-verbs").await;
    let r = f.run(&["status", "--json"]).await;
    code(&r, 0, "status --json");
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("status --json is JSON");
    assert_eq!(v["phase"], "idle");

    // Deploy, weight, pause, resume.
    code(
        &f.run(&["deploy", "--canary", &f.addr(1)]).await,
        0,
        "deploy",
    );
    f.until("canary", |s| s.phase == Phase::Canary).await;
    code(&f.run(&["weight", "20"]).await, 0, "weight 20");
    code(&f.run(&["pause"]).await, 0, "pause");
    assert_eq!(f.state().await.phase, Phase::Paused);
    let r = f.run(&["pause"]).await;
    code(&r, 1, "pause when paused");
    assert!(
        r.stderr.contains("refused: cannot pause: already paused"),
        "{r:?}"
    );
    code(&f.run(&["resume"]).await, 0, "resume");
    assert_eq!(f.state().await.phase, Phase::Canary);

    // Without --yes and without a terminal: refused, nothing changed.
    for verb in [
        &["promote"][..],
        &["rollback"],
        &["drain", "canary"],
        &["drain", "stable"],
    ] {
        let r = f.run(verb).await;
        code(&r, 1, &verb.join(" "));
        assert!(
            r.stderr.contains("without confirmation") && r.stderr.contains("pass --yes"),
            "{verb:?}: {r:?}"
        );
        let s = f.state().await;
        assert_eq!(
            (s.phase, s.weight_permille),
            (Phase::Canary, 200),
            "{verb:?}"
        );
    }

    // rollback --yes; wait sees the outcome that already happened.
    code(&f.run(&["rollback", "--yes"]).await, 0, "rollback --yes");
    f.until("rolled back", |s| s.phase == Phase::Idle).await;
    code(
        &f.run(&["wait", "--until", "rolled-back", "--timeout", "10s"])
            .await,
        0,
        "wait rolled-back after the fact",
    );
    let r = f
        .run(&["wait", "--until", "promoted", "--timeout", "10s"])
        .await;
    code(&r, 1, "wait promoted after a rollback");
    assert!(r.stderr.contains("ended otherwise"), "{r:?}");
    code(
        &f.run(&["wait", "--until", "idle", "--timeout", "10s"])
            .await,
        0,
        "wait idle",
    );

    // drain canary --yes is a rollback.
    code(
        &f.run(&["deploy", "--canary", &f.addr(1)]).await,
        0,
        "deploy 2",
    );
    f.until("canary 2", |s| s.phase == Phase::Canary).await;
    code(
        &f.run(&["drain", "canary", "--yes"]).await,
        0,
        "drain canary --yes",
    );
    let s = f.until("rolled back 2", |s| s.phase == Phase::Idle).await;
    assert_eq!(s.last_outcome, Some(Outcome::RolledBack));
    assert_eq!(s.release, 2);

    // drain stable --yes is a promotion.
    code(
        &f.run(&["deploy", "--canary", &f.addr(2)]).await,
        0,
        "deploy 3",
    );
    f.until("canary 3", |s| s.phase == Phase::Canary).await;
    code(
        &f.run(&["drain", "stable", "--yes"]).await,
        0,
        "drain stable --yes",
    );
    code(
        &f.run(&["wait", "--until", "promoted", "--timeout", "10s"])
            .await,
        0,
        "wait promoted",
    );
    let s = f.until("promoted 3", |s| s.phase == Phase::Idle).await;
    assert_eq!(s.last_outcome, Some(Outcome::Promoted));
    assert!(s.stable.image.contains(&f.addr(2)), "{}", s.stable.image);

    // promote --yes.
    code(
        &f.run(&["deploy", "--canary", &f.addr(0)]).await,
        0,
        "deploy 4",
    );
    f.until("canary 4", |s| s.phase == Phase::Canary).await;
    code(&f.run(&["promote", "--yes"]).await, 0, "promote --yes");
    code(
        &f.run(&["wait", "--until", "promoted", "--timeout", "10s"])
            .await,
        0,
        "wait promoted 4",
    );
    let r = f
        .run(&["wait", "--until", "rolled-back", "--timeout", "10s"])
        .await;
    code(&r, 1, "wait rolled-back after a promotion");
    assert!(
        r.stderr
            .contains("ended otherwise: release 4 ended promoted"),
        "{r:?}"
    );
    let s = f.state().await;
    assert!(s.stable.image.contains(&f.addr(0)), "{}", s.stable.image);
    assert_eq!(s.release, 4);

    // Usage errors: 2, nothing sent.
    for bad in [
        &["weight", "150"][..],
        &["drain", "sideways", "--yes"],
        &["promote", "--force", "--yes"],
        &["wait", "--until", "idle", "--timeout", "soon"],
        &["frobnicate"],
    ] {
        code(&f.run(bad).await, 2, &bad.join(" "));
    }
    assert_eq!(f.state().await.release, 4, "nothing changed");

    // The daemon gone: 3.
    f.daemon.stop().await;
    for verb in [
        &["pause"][..],
        &["status"],
        &["promote", "--yes"],
        &["wait", "--until", "idle", "--timeout", "2s"],
    ] {
        code(
            &cutover(&["--state-dir", &f.root], verb).await,
            3,
            &verb.join(" "),
        );
    }
}

/// A jump of more than 25 points up while the guards have not judged the
/// canary (no traffic here) wants the service name typed: with no terminal
/// it is refused, saying why and naming --yes; --yes goes ahead; a small
/// step or a move back to stable is never asked about.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_risky_weight_jump_wants_the_service_name_or_yes() {
    let f = fixture("cli-risky").await;
    code(
        &f.run(&["deploy", "--canary", &f.addr(1)]).await,
        0,
        "deploy",
    );
    f.until("canary", |s| s.phase == Phase::Canary).await;
    code(
        &f.run(&["weight", "20"]).await,
        0,
        "weight 20: a small step",
    );
    let r = f.run(&["weight", "80"]).await;
    code(&r, 1, "weight 80 without --yes");
    assert!(
        r.stderr.contains("without confirmation")
            && r.stderr.contains("evidence insufficient")
            && r.stderr.contains("type the service name")
            && r.stderr.contains("pass --yes"),
        "{r:?}"
    );
    assert_eq!(f.state().await.weight_permille, 200, "nothing changed");
    let r = f.run(&["promote"]).await;
    code(&r, 1, "promote without --yes");
    assert!(r.stderr.contains("evidence insufficient"), "{r:?}");
    code(
        &f.run(&["weight", "80", "--yes"]).await,
        0,
        "weight 80 --yes",
    );
    code(&f.run(&["weight", "0"]).await, 0, "back to stable, unasked");
    assert_eq!(f.state().await.weight_permille, 0);
    f.daemon.stop().await;
}

/// `wait` started before the outcome follows the release to its end; one
/// that never comes times out with 1; a failed release is 1 for every wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_follows_a_release_and_says_how_it_ended() {
    let f = fixture("cli-wait").await;
    code(
        &f.run(&["deploy", "--canary", &f.addr(1)]).await,
        0,
        "deploy",
    );
    f.until("canary", |s| s.phase == Phase::Canary).await;
    let waiting = f.spawn(&["wait", "--until", "promoted", "--timeout", "20s"]);
    let r = f.run(&["wait", "--until", "idle", "--timeout", "1s"]).await;
    code(&r, 1, "timed out");
    assert!(
        r.stderr
            .contains("timed out after 1s waiting for idle (phase canary)"),
        "{r:?}"
    );
    assert!(
        !waiting.is_finished(),
        "still waiting while the canary runs"
    );
    code(&f.run(&["promote", "--yes"]).await, 0, "promote");
    code(&waiting.await.unwrap(), 0, "wait promoted, started before");

    code(
        &f.run(&["deploy", "--canary", &f.addr(2)]).await,
        0,
        "deploy 2",
    );
    f.until("canary 2", |s| s.phase == Phase::Canary).await;
    let waiting = f.spawn(&["wait", "--until", "rolled-back", "--timeout", "20s"]);
    let wrong = f.spawn(&["wait", "--until", "promoted", "--timeout", "20s"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    code(&f.run(&["rollback", "--yes"]).await, 0, "rollback");
    code(
        &waiting.await.unwrap(),
        0,
        "wait rolled-back, started before",
    );
    code(
        &wrong.await.unwrap(),
        1,
        "wait promoted, but it rolled back",
    );

    // A canary that never answers: failed, and every wait says 1.
    code(
        &f.run(&["deploy", "--canary", "127.0.0.1:1"]).await,
        0,
        "deploy 3",
    );
    let waiting = f.spawn(&["wait", "--until", "promoted", "--timeout", "20s"]);
    f.until("failed", |s| s.phase == Phase::Failed).await;
    let r = waiting.await.unwrap();
    code(&r, 1, "wait promoted on a failed release");
    assert!(r.stderr.contains("failed"), "{r:?}");
    code(
        &f.run(&["wait", "--until", "idle", "--timeout", "5s"]).await,
        1,
        "idle on failed",
    );
    f.daemon.stop().await;
}

/// `--allow-remote-admin` works: the plan is validated with it, so a
/// non-loopback admin address is refused without it and served with it (or
/// with the plan key).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_remote_admin_flag_reaches_the_plan_check() {
    let dir = tempfile::tempdir().unwrap();
    let plan = |extra: &str| {
        let path = dir.path().join(format!("remote{}.toml", extra.len()));
        std::fs::write(
            &path,
            format!(
                "service = \"remote\"\nruntime = \"static\"\n[listen]\npublic = \"127.0.0.1:0\"\nadmin = \"0.0.0.0:0\"\n{extra}\n[stable]\nupstreams = [\"127.0.0.1:9\"]\n"
            ),
        )
        .unwrap();
        path
    };
    let refused = plan("");
    let state = dir.path().join("state");
    let up = |plan: &std::path::Path, flag: bool| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_cutover"));
        c.arg("up")
            .arg("--plan")
            .arg(plan)
            .arg("--state-dir")
            .arg(&state);
        if flag {
            c.arg("--allow-remote-admin");
        }
        c.env("CUTOVER_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c
    };
    let out = up(&refused, false).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("listen.admin: expected a loopback address")
            && stderr.contains("0.0.0.0:0"),
        "{stderr}"
    );
    assert!(!state.join("remote/admin.addr").exists(), "nothing started");

    for (path, flag) in [
        (refused.clone(), true),
        (plan("allow_remote_admin = true"), false),
    ] {
        let mut child = up(&path, flag).spawn().unwrap();
        let addr_file = state.join("remote/admin.addr");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !addr_file.exists() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("the daemon exited: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "the daemon never served its admin API"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let addr: std::net::SocketAddr = std::fs::read_to_string(&addr_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(
            addr.ip().is_unspecified(),
            "bound on all interfaces: {addr}"
        );
        let token = std::fs::read_to_string(state.join("remote/token")).unwrap();
        let client = cutover::api::client::Client::new(
            format!("127.0.0.1:{}", addr.port()).parse().unwrap(),
            token.trim().to_string(),
        );
        assert_eq!(client.state().await.unwrap().service, "remote");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let _ = child.wait();
        let _ = std::fs::remove_file(&addr_file);
    }
}
