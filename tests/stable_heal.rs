//! A stable replica that dies while the daemon runs (`kill -9`, `docker
//! kill`) is replaced by that daemon: the real binary on the process and
//! Docker runtimes, two stable replicas under the test's own load. And a stable whose every
//! replica exits soon after it starts is restarted with a growing wait,
//! never in a hot loop.
//!
//! The load is idempotent and bodyless (keep-alive GETs and a new
//! connection per GET): a request the killed replica had in flight is
//! retried by the proxy on the other, so none may fail.

use crate::support::up::Up;
use crate::support::wait::poll;
use cutover::model::StateView;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

fn plan(service: &str, replicas: u32, command: &str) -> String {
    format!(
        r#"service = "{service}"
runtime = "process"
[listen]
public = "127.0.0.1:0"
admin = "127.0.0.1:0"
[stable]
version = "v1"
replicas = {replicas}
command = {command}
[health]
interval = "100ms"
timeout = "100ms"
healthy_after = 1
[drain]
timeout = "5s"
stop_grace = "2s"
"#
    )
}

fn demo_app() -> String {
    let exe = env!("CARGO_BIN_EXE_cutover");
    format!(
        r#"[{exe:?}, "demo-app", "--bind", "127.0.0.1", "--port", "{{port}}", "--version", "v1@{{port}}", "--latency", "5ms"]"#
    )
}

/// The ids of the healthy stable replicas.
fn healthy(s: &StateView) -> Vec<String> {
    s.stable
        .replicas
        .iter()
        .filter(|r| r.status == cutover::model::ReplicaStatus::Healthy)
        .map(|r| r.id.clone())
        .collect()
}

/// GET loops (two keep-alive, one a new connection per request) counting
/// what they saw, until told to stop.
struct GetLoad {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<Mutex<Vec<String>>>,
    loops: Vec<tokio::task::JoinHandle<()>>,
}

impl GetLoad {
    fn start(public: &str) -> GetLoad {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(Mutex::new(Vec::new()));
        let keep = crate::support::http();
        let fresh = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let url = format!("http://{public}/");
        let loops = [keep.clone(), keep, fresh]
            .into_iter()
            .map(|http| {
                let (stop, ok, failed, url) =
                    (stop.clone(), ok.clone(), failed.clone(), url.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::SeqCst) {
                        match http.get(&url).send().await {
                            Ok(r) if r.status().is_success() => {
                                ok.fetch_add(1, Ordering::SeqCst);
                            }
                            Ok(r) => failed.lock().unwrap().push(format!("{}", r.status())),
                            Err(e) => failed.lock().unwrap().push(format!("{e}")),
                        }
                        tokio::time::sleep(Duration::from_millis(3)).await;
                    }
                })
            })
            .collect();
        GetLoad {
            stop,
            ok,
            failed,
            loops,
        }
    }

    async fn stop(self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        for l in self.loops {
            let _ = l.await;
        }
        let failed = self.failed.lock().unwrap().clone();
        (self.ok.load(Ordering::SeqCst), failed)
    }
}

fn journal(up: &Up) -> String {
    std::fs::read_to_string(up.state().join("journal.jsonl")).unwrap_or_default()
}

async fn journal_says(up: &Up, secs: u64, line: &str) {
    let said = || async { journal(up).contains(line).then_some(()) };
    poll(Duration::from_secs(secs), Duration::from_millis(100), said)
        .await
        .unwrap_or_else(|| panic!("the journal never said {line:?}:\n{}", up.all_stderr()));
}

/// With two healthy stable replicas, kill one (`kill` gets its id) under
/// the GET load: two healthy again within `secs`, the victim not among
/// them, no request failed, and the journal says why. Returns the victim.
async fn kill_one_under_load(
    up: &Up,
    client: &cutover::api::client::Client,
    secs: u64,
    kill: impl FnOnce(&str),
) -> String {
    let s = up
        .until(client, secs, "two healthy", |s| healthy(s).len() == 2)
        .await;
    let load = GetLoad::start(&s.public_addr);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let victim = s.stable.replicas[0].id.clone();
    kill(&victim);
    up.until(client, secs, "two healthy again, one of them new", |s| {
        let h = healthy(s);
        h.len() == 2 && !h.contains(&victim)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (ok, failed) = load.stop().await;
    assert!(failed.is_empty(), "{} failed: {failed:?}", failed.len());
    assert!(ok > 100, "too little load to judge: {ok}");
    journal_says(
        up,
        5,
        &format!(
            "stable {victim} exited 137 (on its own): starting a replacement (1 of 2 running)"
        ),
    )
    .await;
    victim
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_stable_replica_is_replaced_without_a_failed_request() {
    let mut up = Up::start("heal-kill", &plan("heal-kill", 2, &demo_app()), &[]);
    let client = up.client(30).await;
    kill_one_under_load(&up, &client, 10, |victim| {
        let pid: i32 = victim.strip_prefix("pid:").unwrap().parse().unwrap();
        nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .expect("kill -9 the replica");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_looping_stable_is_restarted_with_a_growing_wait() {
    // Past the process runtime's 1 s settle wait, so each start succeeds
    // and the replica then dies on its own.
    let command = r#"["sh", "-c", "sleep 1.5; exit 3"]"#;
    let mut up = Up::start("heal-loop", &plan("heal-loop", 1, command), &[]);
    let client = up.client(30).await;
    let began = std::time::Instant::now();
    journal_says(&up, 20, "next replacement in 4 s").await;
    let left = Duration::from_secs(15).saturating_sub(began.elapsed());
    tokio::time::sleep(left).await;
    let text = journal(&up);
    assert!(text.contains("next replacement in 2 s"), "{text}");
    assert!(
        text.contains("stable keeps exiting (stable pid:"),
        "the journal says why: {text}"
    );
    let starts = text.matches("started at 127.0.0.1:").count();
    assert!(
        (3..=5).contains(&starts),
        "{starts} starts in 15 s (no hot loop, but replaced):\n{text}"
    );
    // Exited replicas do not pile up, one per turn: a replacement takes
    // all but the latest with it (kept for its logs), so at most that one
    // and one that died since, waiting out its backoff, are listed.
    let state = client.state().await.unwrap();
    let exited = state
        .stable
        .replicas
        .iter()
        .filter(|r| r.exit_code.is_some())
        .count();
    assert!(
        exited <= 2,
        "{exited} exited replicas listed: {:?}",
        state.stable.replicas
    );
}

/// Docker: `docker kill` of one of two stable containers under load; the
/// daemon starts a replacement container, no request fails, and the
/// killed container is the only exited one left (kept for its logs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_a_killed_stable_container_is_replaced_without_a_failed_request() {
    let Some(_engine) = crate::support::docker::engine_with_demo_images().await else {
        return;
    };
    let service = format!("heal-docker-{}", std::process::id());
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
replicas = 2
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
    kill_one_under_load(&up, &client, 60, |victim| {
        let killed = std::process::Command::new("docker")
            .args(["kill", victim])
            .output()
            .unwrap();
        assert!(killed.status.success(), "docker kill {victim}: {killed:?}");
    })
    .await;
    let label = format!("cutover.service={service}");
    let all = crate::support::docker::ids(&label, true);
    let running = crate::support::docker::ids(&label, false);
    assert_eq!(running.len(), 2, "two containers run");
    assert_eq!(
        all.len(),
        3,
        "the killed one is kept, stopped, for its logs"
    );
}
