//! `cutover demo --no-tui` end to end, as CI runs it (`--duration 30s`):
//! each scenario ends as it should — bad and slow caught by their guards and
//! rolled back, crashy rolled back when its canary exits, good promoted
//! through every step — and the recording says so. Whatever ends the demo
//! (its outcome, SIGINT mid-run or during startup, SIGTERM, a panic),
//! nothing it started is left: no process carrying the test's
//! `CUTOVER_DEMO_MARKER`, no container with the demo's label.

use cutover::journal::read_journal;
use cutover::model::{Actor, EventKind, Phase};
use nix::sys::signal::Signal;
use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A `cutover demo` child with its output collected as it comes.
struct Demo {
    child: Child,
    marker: String,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

fn collect(mut from: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let buf = Arc::new(Mutex::new(String::new()));
    let b = buf.clone();
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = from.read(&mut chunk) {
            if n == 0 {
                break;
            }
            b.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
    });
    buf
}

impl Demo {
    fn start(args: &[&str], marker: &str, env: &[(&str, &str)]) -> Demo {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cutover"))
            .arg("demo")
            .arg("--no-tui")
            .args(args)
            .env("CUTOVER_DEMO_MARKER", marker)
            .env("COLORBT_SHOW_HIDDEN", "0")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cutover demo starts");
        let stdout = collect(child.stdout.take().unwrap());
        let stderr = collect(child.stderr.take().unwrap());
        Demo {
            child,
            marker: marker.to_string(),
            stdout,
            stderr,
        }
    }

    fn output(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            self.stdout.lock().unwrap(),
            self.stderr.lock().unwrap()
        )
    }

    /// The demo printed `text` by now (on either stream); else fail with
    /// everything it printed.
    fn assert_said(&self, text: &str) {
        let output = self.output();
        assert!(output.contains(text), "{text:?} not printed\n{output}");
    }

    /// Wait until the demo printed `text` (on either stream).
    fn wait_for(&mut self, text: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            if self.stdout.lock().unwrap().contains(text)
                || self.stderr.lock().unwrap().contains(text)
            {
                return;
            }
            assert!(
                self.child.try_wait().unwrap().is_none(),
                "the demo ended before printing {text:?}\n{}",
                self.output()
            );
            assert!(
                Instant::now() < deadline,
                "the demo never printed {text:?}\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn signal(&self, sig: Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig).unwrap();
    }

    /// Wait for the demo to end (it must, within `within`).
    fn finish(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader threads take the last bytes.
                std::thread::sleep(Duration::from_millis(100));
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the demo did not end within {within:?}\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }
}

impl Drop for Demo {
    /// A failed test still leaves nothing behind: the demo gets SIGTERM (its
    /// own cleanup), then SIGKILL, then whatever carries the marker is killed.
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.signal(Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline && self.child.try_wait().ok().flatten().is_none() {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        for pid in processes_with(&self.marker) {
            if let Ok(pid) = pid.parse::<i32>() {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
}

/// Processes whose environment carries `marker` (the demo passes it on to
/// every process it starts), other than this test process.
fn processes_with(marker: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(env) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != me
            && env
                .split(|b| *b == 0)
                .any(|kv| kv == format!("CUTOVER_DEMO_MARKER={marker}").as_bytes())
        {
            found.push(name);
        }
    }
    found
}

/// No process of the demo is left once it has ended (a zombie being reaped
/// by init may linger a moment).
fn assert_no_process_left(marker: &str, demo: &Demo) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut left = processes_with(marker);
    while !left.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        left = processes_with(marker);
    }
    assert!(
        left.is_empty(),
        "demo processes left behind: {left:?}\n{}",
        demo.output()
    );
}

fn marker(what: &str) -> String {
    format!("{what}-{}-{}", std::process::id(), fastrand::u32(..))
}

/// Run a scenario to its end (30 s at most, as CI does), recording it.
fn run_scenario(runtime: &str, scenario: &str, record: &std::path::Path) -> (Demo, ExitStatus) {
    let marker = marker(&format!("{runtime}-{scenario}"));
    let record = record.to_str().unwrap();
    let mut demo = Demo::start(
        &[
            "--scenario",
            scenario,
            "--duration",
            "30s",
            "--runtime",
            runtime,
            "--record",
            record,
        ],
        &marker,
        &[],
    );
    let status = demo.finish(Duration::from_secs(120));
    assert_no_process_left(&marker, &demo);
    (demo, status)
}

fn phases(journal: &cutover::journal::Journal) -> Vec<(Phase, Phase, Actor, String)> {
    journal
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Phase {
                from,
                to,
                by,
                reason,
            } => Some((*from, *to, *by, reason.clone().unwrap_or_default())),
            _ => None,
        })
        .collect()
}

/// The rollback, with the reason the journal gives for it.
fn rollback_reason(journal: &cutover::journal::Journal) -> Option<(Actor, String)> {
    let p = phases(journal);
    let rolled_back = p
        .iter()
        .any(|(from, to, ..)| *from == Phase::RollingBack && *to == Phase::Idle);
    let why = p
        .iter()
        .find(|(_, to, ..)| *to == Phase::RollingBack)
        .map(|(_, _, by, reason)| (*by, reason.clone()));
    rolled_back.then_some(why).flatten()
}

/// The demo ended rolled back by one breach of one of `guards` (which one
/// may depend on timing when two guards judge the same fault).
fn assert_guard_rolled_back(
    demo: &Demo,
    status: ExitStatus,
    record: &std::path::Path,
    guards: &[&str],
) {
    assert!(status.success(), "demo failed\n{}", demo.output());
    let stdout = demo.stdout();
    let guard = guards
        .iter()
        .copied()
        .find(|g| stdout.contains(&format!("breach of {g}:")))
        .unwrap_or_else(|| panic!("no breach of {guards:?}:\n{stdout}"));
    assert!(stdout.contains("outcome rolled back"), "{stdout}");
    let journal = read_journal(record).expect("the recording reads back");
    let breaches: Vec<&str> = journal
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Breach { guard, .. } => Some(guard.key()),
            _ => None,
        })
        .collect();
    assert_eq!(breaches, vec![guard], "one breach, of {guard}");
    let (by, reason) = rollback_reason(&journal).expect("the journal records the rollback");
    assert_eq!(by, Actor::Guard);
    assert!(reason.contains(guard), "{reason}");
}

#[test]
fn demo_bad_canary_is_rolled_back_with_processes() {
    let _turn = crate::support::one_demo_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("demo.jsonl");
    let (demo, status) = run_scenario("process", "bad", &record);
    assert_guard_rolled_back(&demo, status, &record, &["max_error_ratio"]);
}

#[test]
fn demo_slow_canary_breaches_p99_and_is_rolled_back() {
    let _turn = crate::support::one_demo_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("demo.jsonl");
    let (demo, status) = run_scenario("process", "slow", &record);
    // Both latency guards see a 400 ms canary within its first second of
    // traffic; which has its evidence first depends on how many of its
    // slow requests completed in that second (the ceiling needs fewer).
    assert_guard_rolled_back(&demo, status, &record, &["max_p99", "max_p99_ratio"]);
}

#[test]
fn demo_crashy_canary_exits_and_is_rolled_back() {
    let _turn = crate::support::one_demo_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("demo.jsonl");
    let (demo, status) = run_scenario("process", "crashy", &record);
    assert!(status.success(), "demo failed\n{}", demo.output());
    assert!(
        demo.stdout().contains("outcome rolled back"),
        "{}",
        demo.output()
    );
    let journal = read_journal(&record).unwrap();
    // The canary exited by itself with the demo app's crash code…
    let exited = journal.events.iter().any(|e| {
        matches!(&e.kind, EventKind::Replica { role: cutover::model::Role::Canary, status: cutover::model::ReplicaStatus::Exited, detail, .. } if detail.contains("exited 3"))
    });
    assert!(exited, "the journal records the canary's exit");
    // …and the rollback says that is why.
    let (by, reason) = rollback_reason(&journal).expect("the journal records the rollback");
    assert_eq!(by, Actor::System);
    assert!(reason.contains("every canary replica exited"), "{reason}");
    assert!(reason.contains("exited 3"), "{reason}");
}

#[test]
fn demo_good_canary_is_promoted_through_every_step() {
    let _turn = crate::support::one_demo_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("demo.jsonl");
    let (demo, status) = run_scenario("process", "good", &record);
    assert!(status.success(), "demo failed\n{}", demo.output());
    assert!(
        demo.stdout().contains("outcome promoted"),
        "{}",
        demo.output()
    );
    let journal = read_journal(&record).unwrap();
    let weights: Vec<(u16, Actor)> = journal
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Weight { to, by, .. } => Some((*to, *by)),
            _ => None,
        })
        .collect();
    // Each step of the demo plan (10, 25, 50 %), then all traffic, then the
    // canary is the new stable (its share reads 0 again).
    assert_eq!(
        weights,
        vec![
            (100, Actor::System),
            (250, Actor::System),
            (500, Actor::System),
            (1000, Actor::System),
            (0, Actor::System)
        ]
    );
    let p: Vec<(Phase, Phase)> = phases(&journal)
        .into_iter()
        .map(|(f, t, ..)| (f, t))
        .collect();
    assert_eq!(
        p,
        vec![
            (Phase::Idle, Phase::Deploying),
            (Phase::Deploying, Phase::Warming),
            (Phase::Warming, Phase::Canary),
            (Phase::Canary, Phase::Promoting),
            (Phase::Promoting, Phase::Idle)
        ]
    );
    assert!(
        !journal
            .events
            .iter()
            .any(|e| matches!(e.kind, EventKind::Breach { .. }))
    );
}

/// SIGINT (Ctrl-C) mid-release: the demo says so, cleans up, exits 130.
#[test]
fn sigint_mid_run_leaves_nothing() {
    let _turn = crate::support::one_demo_at_a_time();
    let marker = marker("sigint");
    let mut demo = Demo::start(
        &[
            "--runtime",
            "process",
            "--scenario",
            "good",
            "--duration",
            "60s",
        ],
        &marker,
        &[],
    );
    demo.wait_for("weight 0 % → 10 %", Duration::from_secs(60));
    assert_eq!(
        processes_with(&marker).len(),
        4,
        "the demo, v1 ×2 and v2 ×1 run"
    );
    demo.signal(Signal::SIGINT);
    let status = demo.finish(Duration::from_secs(30));
    assert_eq!(status.code(), Some(130), "{}", demo.output());
    demo.assert_said("SIGINT: stopping and cleaning up");
    demo.assert_said("cleaned up (0 replicas left)");
    assert_no_process_left(&marker, &demo);
}

/// SIGINT while the demo is still starting (stable is not healthy yet: every
/// demo app takes a minute to open its port): the replicas already started
/// are removed, also though they run in their own process groups.
#[test]
fn sigint_during_startup_leaves_nothing() {
    let _turn = crate::support::one_demo_at_a_time();
    let marker = marker("sigint-startup");
    let mut demo = Demo::start(
        &[
            "--runtime",
            "process",
            "--scenario",
            "bad",
            "--duration",
            "60s",
        ],
        &marker,
        &[("DEMO_STARTUP_DELAY", "60s")],
    );
    demo.wait_for("cutover demo: traffic on", Duration::from_secs(60));
    // The stable replicas are started (and not ready) before the signal:
    // the demo and v1 ×2 carry the marker.
    let deadline = Instant::now() + Duration::from_secs(20);
    while processes_with(&marker).len() < 3 {
        assert!(Instant::now() < deadline, "{}", demo.output());
        std::thread::sleep(Duration::from_millis(50));
    }
    demo.signal(Signal::SIGINT);
    let status = demo.finish(Duration::from_secs(30));
    assert_eq!(status.code(), Some(130), "{}", demo.output());
    assert!(!demo.stdout().contains("phase"), "no release had begun");
    demo.assert_said("cleaned up (0 replicas left)");
    assert_no_process_left(&marker, &demo);
}

/// SIGTERM (a supervisor, `timeout`, a CI cancel) is handled the same way.
#[test]
fn sigterm_leaves_nothing() {
    let _turn = crate::support::one_demo_at_a_time();
    let marker = marker("sigterm");
    let mut demo = Demo::start(
        &[
            "--runtime",
            "process",
            "--scenario",
            "slow",
            "--duration",
            "60s",
        ],
        &marker,
        &[],
    );
    demo.wait_for("phase deploying → warming", Duration::from_secs(60));
    demo.signal(Signal::SIGTERM);
    let status = demo.finish(Duration::from_secs(30));
    assert_eq!(status.code(), Some(143), "{}", demo.output());
    demo.assert_said("SIGTERM: stopping and cleaning up");
    assert_no_process_left(&marker, &demo);
}

/// A panic mid-run (forced with the test-only `CUTOVER_DEMO_PANIC_AFTER`)
/// still tears everything down before the process ends with the panic.
#[test]
fn a_panic_leaves_nothing() {
    let _turn = crate::support::one_demo_at_a_time();
    let marker = marker("panic");
    let mut demo = Demo::start(
        &[
            "--runtime",
            "process",
            "--scenario",
            "good",
            "--duration",
            "60s",
        ],
        &marker,
        &[("CUTOVER_DEMO_PANIC_AFTER", "7s")],
    );
    demo.wait_for("phase warming → canary", Duration::from_secs(60));
    let status = demo.finish(Duration::from_secs(60));
    assert!(!status.success(), "{}", demo.output());
    assert_eq!(
        status.code(),
        Some(101),
        "a panic's exit code\n{}",
        demo.output()
    );
    demo.assert_said("a panic on purpose");
    demo.assert_said("cleaned up (0 replicas left)");
    assert_no_process_left(&marker, &demo);
}

/// Whether the engine answers (a skip, or a failure under
/// `CUTOVER_REQUIRE_DOCKER=1`, when not); when it does, the demo images of
/// this binary are built, in the suite's turn, before the demo child looks.
fn docker_reachable() -> bool {
    let reachable = Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success());
    if !reachable {
        assert!(
            std::env::var("CUTOVER_REQUIRE_DOCKER").as_deref() != Ok("1"),
            "Docker is required (CUTOVER_REQUIRE_DOCKER=1) but `docker info` fails"
        );
        eprintln!("skipping: no Docker engine reachable");
    } else {
        crate::support::images::demo_images_blocking();
    }
    reachable
}

fn docker_containers_of_demo() -> Option<usize> {
    let out = Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            "label=cutover.service=cutover-demo",
        ])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).lines().count())
}

#[test]
fn demo_bad_canary_is_rolled_back_in_docker() {
    if !docker_reachable() {
        return;
    }
    let _turn = crate::support::one_demo_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("demo.jsonl");
    let (demo, status) = run_scenario("docker", "bad", &record);
    assert_guard_rolled_back(&demo, status, &record, &["max_error_ratio"]);
    demo.assert_said("runtime docker");
    assert_eq!(
        docker_containers_of_demo(),
        Some(0),
        "demo containers left behind"
    );
}

/// Ctrl-C mid-release on the real Docker engine: every container goes.
#[test]
fn sigint_in_docker_leaves_no_container() {
    if !docker_reachable() {
        return;
    }
    let _turn = crate::support::one_demo_at_a_time();
    let marker = marker("docker-sigint");
    let mut demo = Demo::start(
        &[
            "--runtime",
            "docker",
            "--scenario",
            "good",
            "--duration",
            "60s",
        ],
        &marker,
        &[],
    );
    demo.wait_for("weight 0 % → 10 %", Duration::from_secs(120));
    assert_eq!(docker_containers_of_demo(), Some(3), "v1 ×2 and v2 ×1 run");
    demo.signal(Signal::SIGINT);
    let status = demo.finish(Duration::from_secs(60));
    assert_eq!(status.code(), Some(130), "{}", demo.output());
    assert_eq!(
        docker_containers_of_demo(),
        Some(0),
        "demo containers left behind\n{}",
        demo.output()
    );
    assert_no_process_left(&marker, &demo);
}
