//! The daemon killed with SIGKILL and started again on the same state
//! directory (the real binary, static runtime, in-test upstreams): the
//! weights and the phase come back within a second, the guard is still
//! armed, and a release interrupted mid-promote finishes.

use cutover::api::client::Client;
use cutover::model::{Phase, StateView};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

/// An upstream whose answer can be switched while it runs; `/slow` takes 3 s.
struct Switchable {
    addr: SocketAddr,
    status: Arc<AtomicU16>,
}

async fn switchable(name: &'static str) -> Switchable {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let status = Arc::new(AtomicU16::new(200));
    let st = status.clone();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else {
                continue;
            };
            let st = st.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let st = st.clone();
                    async move {
                        let path = req.uri().path().to_string();
                        if path == "/slow" {
                            tokio::time::sleep(Duration::from_secs(3)).await;
                        }
                        let code = if path == "/healthz" {
                            200
                        } else {
                            st.load(Ordering::SeqCst)
                        };
                        let mut r = hyper::Response::new(Full::new(Bytes::from_static(b"x")));
                        *r.status_mut() = hyper::StatusCode::from_u16(code).unwrap();
                        r.headers_mut().insert("x-version", name.parse().unwrap());
                        Ok::<_, std::convert::Infallible>(r)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    Switchable { addr, status }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Daemon {
    child: Option<Child>,
    plan: std::path::PathBuf,
    dir: std::path::PathBuf,
}

impl Daemon {
    fn spawn(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_cutover"))
            .args(["up", "--plan"])
            .arg(&self.plan)
            .arg("--state-dir")
            .arg(&self.dir)
            .env("CUTOVER_LOG", "warn")
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGKILL,
            )
            .unwrap();
            let _ = c.wait();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

async fn state_when(
    client: &Client,
    secs: u64,
    what: &str,
    ok: impl Fn(&StateView) -> bool,
) -> StateView {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Ok(s) = client.state().await
            && ok(&s)
        {
            return s;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn setup() -> (
    Daemon,
    Client,
    Switchable,
    Switchable,
    SocketAddr,
    tempfile::TempDir,
) {
    let stable = switchable("stable").await;
    let canary = switchable("canary").await;
    let (public, admin) = (free_port(), free_port());
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("cutover.toml");
    std::fs::write(
        &plan,
        format!(
            "service = \"restart\"\nruntime = \"static\"\n[listen]\npublic = \"127.0.0.1:{public}\"\nadmin = \"127.0.0.1:{admin}\"\n\
             [stable]\nupstreams = [\"{}\"]\n[canary]\nupstreams = [\"{}\"]\n\
             [health]\ninterval = \"100ms\"\ntimeout = \"100ms\"\nhealthy_after = 1\n\
             [guard]\nmax_failed_requests = 3\nmin_requests = 20\n\
             [drain]\ntimeout = \"10s\"\nstop_grace = \"1s\"\n",
            stable.addr, canary.addr
        ),
    )
    .unwrap();
    let state = dir.path().join("state");
    let mut d = Daemon {
        child: None,
        plan,
        dir: state.clone(),
    };
    d.spawn();
    let admin_addr: SocketAddr = format!("127.0.0.1:{admin}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !state.join("restart/token").exists() {
        assert!(
            Instant::now() < deadline,
            "the daemon never wrote its token"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let token = std::fs::read_to_string(state.join("restart/token")).unwrap();
    let client = Client::new(admin_addr, token.trim().to_string());
    state_when(&client, 20, "canary phase", |s| s.phase == Phase::Canary).await;
    (
        d,
        client,
        stable,
        canary,
        format!("127.0.0.1:{public}").parse().unwrap(),
        dir,
    )
}

async fn weight(client: &Client, permille: u16) {
    client
        .act(&cutover::model::ActionRequest {
            action: cutover::model::Action::SetWeight { permille },
            by: cutover::model::Actor::Cli,
            reason: None,
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_mid_canary_restores_weight_phase_and_the_armed_guard() {
    let (mut d, client, _stable, canary, public, _dir) = setup().await;
    weight(&client, 250).await;
    d.kill9();
    d.spawn();
    let started = Instant::now();
    // The admin API answers, then weight and phase are back within a second.
    let first = state_when(&client, 20, "the admin API", |_| true).await;
    let answered = started.elapsed();
    let back = state_when(&client, 1, "weight and phase restored", |s| {
        s.phase == Phase::Canary && s.weight_permille == 250
    })
    .await;
    eprintln!(
        "restart: API answered after {answered:?}; first state {} at {} ‰",
        first.phase, first.weight_permille
    );
    assert_eq!(
        back.canary.as_ref().unwrap().replicas.len(),
        1,
        "adopted, not duplicated"
    );
    // Traffic flows at that weight through the same public port.
    let http = crate::support::http();
    let mut canaries = 0;
    for _ in 0..200 {
        let r = http.get(format!("http://{public}/")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        canaries += usize::from(r.headers()["x-version"] == "canary");
    }
    assert!(
        (20..=80).contains(&canaries),
        "{canaries} of 200 went to the canary at 25 %"
    );
    // The guard is still armed: the canary turns bad and is rolled back.
    canary.status.store(500, Ordering::SeqCst);
    for _ in 0..200 {
        let _ = http.get(format!("http://{public}/")).send().await;
        if client
            .state()
            .await
            .map(|s| s.weight_permille == 0)
            .unwrap_or(false)
        {
            break;
        }
    }
    state_when(&client, 10, "rolled back", |s| {
        s.phase == Phase::Idle && s.canary.is_none()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_mid_promote_finishes_the_promotion_after_restart() {
    let (mut d, client, _stable, _canary, public, _dir) = setup().await;
    weight(&client, 10).await;
    // A slow request in flight on stable keeps stable's drain waiting. It is
    // sent at weight 0: the split is a fixed sequence whose first bucket is
    // the canary's at any weight above 0, so sending it before the weight
    // went back to 0 raced that change.
    weight(&client, 0).await;
    let slow = tokio::spawn(async move {
        let _ = crate::support::http()
            .get(format!("http://{public}/slow"))
            .header("x-probe", "slow")
            .send()
            .await;
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let m = client.metrics().await.unwrap();
        if m["stable"]["in_flight"].as_u64() == Some(1) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the slow request never reached stable: {m}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    weight(&client, 500).await;
    client
        .act(&cutover::model::ActionRequest {
            action: cutover::model::Action::Promote { force: false },
            by: cutover::model::Actor::Cli,
            reason: None,
        })
        .await
        .unwrap();
    let mid = client.state().await.unwrap();
    assert_eq!(
        mid.phase,
        Phase::Promoting,
        "stable is draining its slow request"
    );
    d.kill9();
    d.spawn();
    let done = state_when(&client, 30, "the promotion finished", |s| {
        s.phase == Phase::Idle
    })
    .await;
    assert_eq!(done.stable.version, "canary", "the canary became stable");
    assert!(done.canary.is_none());
    let http = crate::support::http();
    for _ in 0..50 {
        let r = http.get(format!("http://{public}/")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-version"], "canary");
    }
    slow.abort();
}

/// Docker: after SIGKILL and a restart, the daemon adopts the very same
/// containers (same ids, not restarted), removes an orphan of its service,
/// never touches a container without its labels, and serves at the weight
/// it had.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_with_docker_adopts_the_same_containers() {
    let Some(_engine) = crate::support::docker::engine_with_demo_images().await else {
        return;
    };
    let service = format!("adopt-{}", std::process::id());
    let (public, admin) = (free_port(), free_port());
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("cutover.toml");
    std::fs::write(
        &plan,
        format!(
            "service = \"{service}\"\nruntime = \"docker\"\n[listen]\npublic = \"127.0.0.1:{public}\"\nadmin = \"127.0.0.1:{admin}\"\n\
             [stable]\nimage = \"cutover-demo:v1\"\nversion = \"v1\"\nreplicas = 2\n[canary]\nimage = \"cutover-demo:v2\"\nversion = \"v2\"\n\
             [health]\ninterval = \"200ms\"\ntimeout = \"200ms\"\nhealthy_after = 1\n"
        ),
    )
    .unwrap();
    let docker_ids = |filter: String| {
        let out = Command::new("docker")
            .args(["ps", "-aq", "--no-trunc", "--filter", &filter])
            .output()
            .unwrap();
        let mut ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        ids.sort();
        ids
    };
    let started_at = |id: &str| {
        let out = Command::new("docker")
            .args(["inspect", "--format", "{{.State.StartedAt}}", id])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    // Cleanup of everything of this service, even when the test fails.
    struct Gone(String);
    impl Drop for Gone {
        fn drop(&mut self) {
            for filter in [
                format!("label=cutover.service={}", self.0),
                format!("name=bystander-{}", self.0),
            ] {
                if let Ok(out) = Command::new("docker")
                    .args(["ps", "-aq", "--filter", &filter])
                    .output()
                {
                    for id in String::from_utf8_lossy(&out.stdout).lines() {
                        let _ = Command::new("docker").args(["rm", "-f", id]).output();
                    }
                }
            }
        }
    }
    let _gone = Gone(service.clone());
    let state = dir.path().join("state");
    let mut d = Daemon {
        child: None,
        plan: plan.clone(),
        dir: state.clone(),
    };
    d.spawn();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !state.join(&service).join("token").exists() {
        assert!(
            Instant::now() < deadline,
            "the daemon never wrote its token"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let token = std::fs::read_to_string(state.join(&service).join("token")).unwrap();
    let client = Client::new(
        format!("127.0.0.1:{admin}").parse().unwrap(),
        token.trim().to_string(),
    );
    state_when(&client, 60, "canary phase", |s| s.phase == Phase::Canary).await;
    weight(&client, 300).await;
    let before = docker_ids(format!("label=cutover.service={service}"));
    assert_eq!(before.len(), 3, "v1 ×2 and v2 ×1");
    let starts: Vec<String> = before.iter().map(|id| started_at(id)).collect();
    // A bystander without cutover labels, and an orphan of this service.
    let bystander = format!("bystander-{service}");
    assert!(
        Command::new("docker")
            .args(["run", "-d", "--name", &bystander, "cutover-demo:v1"])
            .output()
            .unwrap()
            .status
            .success()
    );
    let orphan = Command::new("docker")
        .args([
            "run",
            "-d",
            "--label",
            &format!("cutover.service={service}"),
            "--label",
            "cutover.role=canary",
            "--label",
            "cutover.release=99",
            "--label",
            "cutover.version=v2",
            "cutover-demo:v2",
        ])
        .output()
        .unwrap();
    let orphan = String::from_utf8_lossy(&orphan.stdout).trim().to_string();
    // A look-alike with the service label alone is not cutover's: it stays.
    let lookalike = Command::new("docker")
        .args([
            "run",
            "-d",
            "--label",
            &format!("cutover.service={service}"),
            "cutover-demo:v1",
        ])
        .output()
        .unwrap();
    let lookalike = String::from_utf8_lossy(&lookalike.stdout)
        .trim()
        .to_string();

    d.kill9();
    d.spawn();
    let back = state_when(&client, 20, "restored", |s| {
        s.phase == Phase::Canary && s.weight_permille == 300
    })
    .await;
    assert_eq!(back.stable.replicas.len(), 2);
    // The orphan goes; ours stay, untouched; the bystander is never touched.
    let deadline = Instant::now() + Duration::from_secs(20);
    while docker_ids(format!("label=cutover.service={service}")).contains(&orphan) {
        assert!(Instant::now() < deadline, "the orphan was not removed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after: Vec<String> = docker_ids(format!("label=cutover.service={service}"))
        .into_iter()
        .filter(|id| *id != lookalike)
        .collect();
    assert_eq!(after, before, "the same containers, no duplicates");
    assert_eq!(
        docker_ids(format!("id={lookalike}")),
        vec![lookalike.clone()],
        "a container with only the service label is never touched"
    );
    // The journal is flushed once a second.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let journal =
            std::fs::read_to_string(state.join(&service).join("journal.jsonl")).unwrap_or_default();
        if journal.contains(&lookalike[..12]) && journal.contains("left alone") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a warning says the look-alike was left alone"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let starts_after: Vec<String> = after.iter().map(|id| started_at(id)).collect();
    assert_eq!(starts_after, starts, "no container was restarted");
    assert_eq!(
        docker_ids(format!("name={bystander}")).len(),
        1,
        "a container without cutover labels is never touched"
    );
    let http = crate::support::http();
    let mut v2 = 0;
    for _ in 0..100 {
        let r = http
            .get(format!("http://127.0.0.1:{public}/"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        v2 += usize::from(r.headers()["x-version"] == "v2");
    }
    assert!((10..=55).contains(&v2), "{v2} of 100 on the canary at 30 %");
    d.kill9();
}

/// A second daemon on the same state directory would remove the first one's
/// replicas as orphans: it is refused, says who holds the directory, and the
/// first one keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_on_the_same_state_dir_is_refused() {
    let (d, client, _stable, _canary, public, _dir) = setup().await;
    let out = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["up", "--plan"])
        .arg(&d.plan)
        .arg("--state-dir")
        .arg(&d.dir)
        .env("CUTOVER_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let pid = d.child.as_ref().unwrap().id();
    assert!(
        stderr.contains(&format!(
            "another cutover daemon (pid {pid}) already runs service \"restart\""
        )),
        "{stderr}"
    );
    let s = client
        .state()
        .await
        .expect("the first daemon still answers");
    assert_eq!(s.phase, Phase::Canary);
    let r = reqwest::get(format!("http://{public}/")).await.unwrap();
    assert_eq!(r.status(), 200);
}

/// SIGKILL while a rollback drains a canary that holds a slow request: the
/// restarted daemon finishes the rollback (canary removed, stable serving),
/// and the test's own client, from the moment the daemon serves again, sees
/// no failure but counted drain-timeout 504s. (The slow request itself was
/// on the killed process: it is the one request a kill -9 cannot save.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_mid_drain_finishes_the_rollback_after_restart() {
    let (mut d, client, _stable, _canary, public, _dir) = setup().await;
    weight(&client, 1000).await;
    let slow = tokio::spawn(async move {
        crate::support::http()
            .get(format!("http://{public}/slow"))
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let m = client.metrics().await.unwrap();
        if m["canary"]["in_flight"].as_u64() == Some(1) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the slow request never reached the canary: {m}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    client
        .act(&cutover::model::ActionRequest {
            action: cutover::model::Action::Rollback,
            by: cutover::model::Actor::Cli,
            reason: Some("kill -9 test".into()),
        })
        .await
        .unwrap();
    let mid = client.state().await.unwrap();
    assert_eq!(
        mid.phase,
        Phase::RollingBack,
        "the canary is draining its slow request"
    );
    assert_eq!(mid.weight_permille, 0);
    d.kill9();
    assert!(slow.await.unwrap().is_err(), "died with the daemon");
    d.spawn();
    let back = state_when(&client, 20, "serving again", |s| {
        s.stable.healthy() == 1 && s.weight_permille == 0
    })
    .await;
    assert!(
        matches!(back.phase, Phase::RollingBack | Phase::Idle),
        "restored mid-rollback, not before it: {}",
        back.phase
    );
    // The test's own client from here on.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let st = stop.clone();
    let load = tokio::spawn(async move {
        let http = crate::support::http();
        let (mut ok, mut cut, mut failed) = (0u32, 0u32, Vec::new());
        while !st.load(Ordering::SeqCst) {
            match http.get(format!("http://{public}/")).send().await {
                Ok(r) if r.status() == 200 && r.headers()["x-version"] == "stable" => ok += 1,
                Ok(r) if r.status() == 504 => cut += 1,
                Ok(r) => failed.push(format!(
                    "{} from {:?}",
                    r.status(),
                    r.headers().get("x-version")
                )),
                Err(e) => failed.push(e.to_string()),
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        (ok, cut, failed)
    });
    let done = state_when(&client, 30, "the rollback finished", |s| {
        s.phase == Phase::Idle && s.canary.is_none()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    let (ok, cut, failed) = load.await.unwrap();
    assert_eq!(done.last_outcome, Some(cutover::model::Outcome::RolledBack));
    assert_eq!(done.stable.version, "stable");
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(
        cut, 0,
        "nothing was left on the canary to cut after the restart"
    );
    assert!(ok > 20, "stable served throughout ({ok} requests)");
}
