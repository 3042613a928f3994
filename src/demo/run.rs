//! `cutover demo`: one command that shows the whole product.
//!
//! It starts a daemon on free loopback ports, runs the demo app v1 ×2 as
//! stable and v2 ×1 as canary — in Docker when the engine is reachable
//! (building its images locally first), otherwise as local processes —
//! drives live traffic with the built-in load generator, and opens the
//! cockpit (or, with `--no-tui`, prints what happens). Stable serves alone
//! for [`STABLE_ALONE`] first, so the graphs have a baseline and the
//! recording tells the whole story; then the canary is deployed.
//!
//! Whatever way it ends — quit, time up, SIGINT or SIGTERM at any moment
//! (also while the images build or the replicas start), or a panic — the
//! same teardown runs: the load generator stops, the daemon stops, and every
//! container and process of the demo service is removed (checked, and said).
//! The signal handlers are installed before anything else is started.
//!
//! Test-only: `CUTOVER_DEMO_PANIC_AFTER=<duration>` (e.g. `3s`, counted from
//! the moment traffic starts) makes the demo panic on purpose, so the tests
//! can prove that a panic leaves nothing behind. It is not a feature.

use crate::cli::{DemoArgs, RuntimeChoice, Scenario};
use crate::daemon::{DaemonConfig, RunningDaemon};
use crate::model::{Action, ActionRequest, Actor, EventKind, Phase};
use crate::plan::{HumanDuration, Plan};
use crate::runtime::Runtime;
use color_eyre::eyre::{Result, WrapErr, eyre};
use futures::{FutureExt, StreamExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The demo's service name (labels, state directory).
pub const SERVICE: &str = "cutover-demo";

/// The canary's fault knobs per scenario, as `DEMO_*` environment.
pub fn scenario_env(s: Scenario) -> Vec<(&'static str, &'static str)> {
    match s {
        Scenario::Good => vec![],
        // Fine at the first step, failing under the second step's traffic:
        // the guard catches it mid-release, not at the first request.
        Scenario::Bad => vec![("DEMO_ERROR_RATE", "0.3"), ("DEMO_ERROR_AFTER", "80")],
        Scenario::Slow => vec![("DEMO_LATENCY", "400ms")],
        Scenario::Crashy => vec![("DEMO_CRASH_AFTER", "150")],
    }
}

/// How long stable serves alone before the canary is deployed.
pub const STABLE_ALONE: Duration = Duration::from_secs(5);
/// How long the headless demo goes on after the release's outcome (with
/// `--record` it goes on until `--duration`, so the recording shows the
/// aftermath too).
pub const LINGER: Duration = Duration::from_secs(2);

/// The demo plan for a runtime: stable v1 ×2, canary v2 ×1 with the
/// scenario's faults, quick health checks, three short steps (5 s each, so
/// a good canary is promoted ~22 s in), guards.
pub fn demo_plan(runtime: &str, scenario: Scenario, exe: &Path) -> Result<Plan> {
    let env = scenario_env(scenario)
        .iter()
        .map(|(k, v)| format!("{k} = \"{v}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let (stable, canary) = match runtime {
        "docker" => (
            "image = \"cutover-demo:v1\"\nmemory = \"64MiB\"\ncpus = 0.5".to_string(),
            "image = \"cutover-demo:v2\"\nmemory = \"64MiB\"\ncpus = 0.5".to_string(),
        ),
        _ => {
            let cmd = |v: &str| {
                format!(
                    "command = [{:?}, \"demo-app\", \"--bind\", \"127.0.0.1\", \"--port\", \"{{port}}\", \"--version\", \"{v}\"]",
                    exe.display().to_string()
                )
            };
            (cmd("v1"), cmd("v2"))
        }
    };
    let text = format!(
        r#"service = "{SERVICE}"
runtime = "{runtime}"

[listen]
public = "127.0.0.1:0"
admin = "127.0.0.1:0"

[stable]
{stable}
version = "v1"
replicas = 2

[canary]
{canary}
version = "v2"
replicas = 1
env = {{ {env} }}

[health]
path = "/healthz"
interval = "500ms"
timeout = "300ms"
healthy_after = 2
unhealthy_after = 2
min_healthy = 1
start_timeout = "60s"

[warmup]
path = "/"
requests = 10

[guard]
max_errors = 10
max_error_rate = 0.05
window = "10s"
min_requests = 30
max_p99 = "300ms"
on_breach = "rollback"

[[steps]]
weight = 10
bake = "5s"
[[steps]]
weight = 25
bake = "5s"
[[steps]]
weight = 50
bake = "5s"

[drain]
timeout = "5s"
stop_grace = "3s"
"#
    );
    Ok(crate::plan::parse(&text, "demo plan")?)
}

/// The demo's own state directory, removed when the demo ends.
struct StateDir(PathBuf);

impl StateDir {
    fn new() -> Result<StateDir> {
        let p = std::env::temp_dir().join(format!(
            "cutover-demo-{}-{:08x}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir_all(&p).wrap_err_with(|| format!("cannot create {}", p.display()))?;
        Ok(StateDir(p))
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// SIGINT / SIGTERM, listened for from the demo's first instant on.
struct Signals {
    rx: tokio::sync::watch::Receiver<Option<&'static str>>,
    _task: tokio_util::task::AbortOnDropHandle<()>,
}

impl Signals {
    fn install() -> Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut int = signal(SignalKind::interrupt()).wrap_err("cannot handle SIGINT")?;
        let mut term = signal(SignalKind::terminate()).wrap_err("cannot handle SIGTERM")?;
        let (tx, rx) = tokio::sync::watch::channel(None);
        let task = tokio::spawn(async move {
            loop {
                let name = tokio::select! {
                    _ = int.recv() => "SIGINT",
                    _ = term.recv() => "SIGTERM",
                };
                if tx.borrow().is_some() {
                    eprintln!(
                        "cutover demo: {name} again; still cleaning up (it takes a few seconds)…"
                    );
                } else {
                    tx.send_replace(Some(name));
                }
            }
        });
        Ok(Signals {
            rx,
            _task: tokio_util::task::AbortOnDropHandle::new(task),
        })
    }

    /// The first signal that came.
    async fn received(&self) -> &'static str {
        let mut rx = self.rx.clone();
        match rx.wait_for(Option::is_some).await {
            Ok(s) => s.unwrap_or("SIGTERM"),
            Err(_) => std::future::pending().await,
        }
    }
}

/// The shell's exit code for a process ended by this signal.
fn signal_exit_code(name: &str) -> u8 {
    if name == "SIGINT" { 130 } else { 143 }
}

/// `fut`, unless a signal comes first (then `Err(exit code)`).
async fn unless_signalled<T>(signals: &Signals, fut: impl Future<Output = T>) -> Result<T, u8> {
    tokio::select! {
        v = fut => Ok(v),
        name = signals.received() => {
            eprintln!("cutover demo: {name}: stopping and cleaning up…");
            Err(signal_exit_code(name))
        }
    }
}

/// Everything the demo started so far, in the order it is undone.
#[derive(Default)]
struct Started {
    /// One demo per machine; released last.
    lock: Option<crate::lock::HeldLock>,
    runtime: Option<Arc<dyn Runtime>>,
    state: Option<StateDir>,
    daemon: Option<RunningDaemon>,
    load: Option<(
        tokio::sync::watch::Sender<bool>,
        tokio::task::JoinHandle<crate::demo::load::LoadSummary>,
    )>,
    deploy: Option<tokio_util::task::AbortOnDropHandle<()>>,
}

impl Started {
    /// Undo everything, whatever state the demo reached: stop the load and
    /// the daemon, remove every replica of the demo service, keep the
    /// recording when asked. Returns how many replicas are left (0).
    async fn teardown(mut self, record: Option<&Path>) -> usize {
        self.deploy.take();
        if let Some((stop, load)) = self.load.take() {
            let _ = stop.send(true);
            if let Ok(summary) = load.await {
                eprintln!("cutover demo: load generator: {}", summary.one_line());
            }
        }
        let journal = self.daemon.as_ref().map(RunningDaemon::journal_path);
        if let Some(daemon) = self.daemon.take() {
            daemon.stop().await;
        }
        let mut left = 0;
        if let Some(runtime) = self.runtime.take() {
            left = remove_all(&runtime).await;
            eprintln!("cutover demo: cleaned up ({left} replicas left)");
        }
        if let (Some(path), Some(journal)) = (record, journal) {
            match save_recording(&journal, path) {
                Ok(()) => eprintln!("cutover demo: recorded to {}", path.display()),
                Err(e) => eprintln!("cutover demo: {e:#}"),
            }
        }
        drop(self.state.take());
        drop(self.lock.take());
        left
    }
}

/// The journal (its rotated files first, oldest first) as one recording.
fn save_recording(journal: &Path, to: &Path) -> Result<()> {
    let mut out = Vec::new();
    for f in crate::journal::journal_files(journal) {
        out.extend(std::fs::read(&f).wrap_err_with(|| format!("cannot read {}", f.display()))?);
    }
    std::fs::write(to, out)
        .wrap_err_with(|| format!("cannot write the recording to {}", to.display()))
}

/// Stop and remove every replica of the demo service, until none is left
/// (an operation the stopped daemon had under way may still finish
/// starting one). Returns how many could not be removed.
async fn remove_all(runtime: &Arc<dyn Runtime>) -> usize {
    for round in 0..5 {
        let replicas = runtime.list(SERVICE).await.unwrap_or_default();
        if replicas.is_empty() && round > 0 {
            return 0;
        }
        for r in replicas {
            let _ = runtime.stop(&r, Duration::from_secs(2)).await;
            let _ = runtime.remove(&r).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    runtime.list(SERVICE).await.map_or(0, |l| l.len())
}

/// `CUTOVER_DEMO_PANIC_AFTER` (test-only, see the module docs).
fn test_panic_after() -> Result<Option<Duration>> {
    match std::env::var("CUTOVER_DEMO_PANIC_AFTER") {
        Ok(v) => Ok(Some(
            v.parse::<HumanDuration>()
                .map_err(|e| eyre!("CUTOVER_DEMO_PANIC_AFTER: {e}"))?
                .get(),
        )),
        Err(_) => Ok(None),
    }
}

/// `cutover demo`.
pub async fn run(args: &DemoArgs) -> Result<u8> {
    // First thing: from here on a signal ends the demo through its teardown.
    let signals = Signals::install()?;
    let mut started = Started::default();
    let outcome = std::panic::AssertUnwindSafe(demo(args, &signals, &mut started))
        .catch_unwind()
        .await;
    let left = started.teardown(args.record.as_deref()).await;
    match outcome {
        Err(panic) => std::panic::resume_unwind(panic),
        Ok(Ok(_)) if left > 0 => Err(eyre!(
            "{left} replicas of {SERVICE} could not be removed; see `docker ps` or `ps`"
        )),
        Ok(result) => result,
    }
}

/// Start everything (recording it in `started`, which the caller tears
/// down), run the release, and say how it ended.
async fn demo(args: &DemoArgs, signals: &Signals, started: &mut Started) -> Result<u8> {
    let panic_after = test_panic_after()?;
    let duration: Option<Duration> = match &args.duration {
        Some(d) => Some(
            d.parse::<HumanDuration>()
                .map_err(|e| eyre!("--duration: {e}"))?
                .get(),
        ),
        None if args.no_tui => Some(Duration::from_secs(30)),
        None => None,
    };
    let exe = std::env::current_exe()
        .wrap_err("cannot find the cutover binary to run the demo app from")?;
    // One demo per machine: a second one would remove this one's replicas
    // as "leftovers". A demo on its way out gets a few seconds to finish.
    let lock_path = std::env::temp_dir().join("cutover-demo.lock");
    let lock = crate::lock::lock_within(&lock_path, Duration::from_secs(15), |e| {
        eprintln!(
            "cutover demo: another demo ({}) is running; waiting up to 15 s for it to finish…",
            e.holder()
                .map_or_else(|| "pid unknown".to_string(), |p| format!("pid {p}"))
        );
    });
    let lock = match unless_signalled(signals, lock).await {
        Ok(l) => l,
        Err(code) => return Ok(code),
    }
    .map_err(|e| match e.holder() {
        Some(pid) => eyre!(
            "another cutover demo (pid {pid}) is running on this machine and owns the {SERVICE} replicas; quit it first"
        ),
        None => eyre!(e),
    })?;
    started.lock = Some(lock);
    let (runtime, kind, why) =
        match unless_signalled(signals, choose_runtime(args.runtime, &exe)).await {
            Ok(r) => r?,
            Err(code) => return Ok(code),
        };
    eprintln!("cutover demo: runtime {kind} — {why}");
    started.runtime = Some(runtime.clone());
    let plan = demo_plan(kind, args.scenario, &exe)?;
    let state = StateDir::new()?;
    let state_path = state.0.clone();
    started.state = Some(state);
    // Leftovers of an earlier demo that was killed hard go first.
    if let Err(code) = unless_signalled(signals, remove_all(&runtime)).await {
        return Ok(code);
    }

    let mut cfg = DaemonConfig::new(plan, state_path.clone());
    cfg.runtime = Some(runtime.clone());
    // The demo deploys the canary itself, once stable has served a while.
    cfg.deploy_canary = false;
    let daemon = match unless_signalled(signals, crate::daemon::start(cfg)).await {
        Ok(d) => d?,
        Err(code) => return Ok(code),
    };
    eprintln!(
        "cutover demo: traffic on http://{}  admin http://{}  scenario {:?}",
        daemon.public_addr, daemon.admin_addr, args.scenario
    );
    let public = daemon.public_addr;
    let client = daemon.client();
    let controller = daemon.controller.clone();
    started.daemon = Some(daemon);

    // Traffic starts once stable can take it (before that, the only honest
    // answer would be 503).
    let ready = async {
        let ready_by = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            match client.state().await {
                Ok(s) if s.stable.healthy() >= s.stable.replicas.len().max(1) => return Ok(()),
                _ if tokio::time::Instant::now() > ready_by => {
                    return Err(eyre!(
                        "the stable version never became healthy (see the journal in {})",
                        state_path.display()
                    ));
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    };
    match unless_signalled(signals, ready).await {
        Ok(r) => r?,
        Err(code) => return Ok(code),
    }
    let (stop_load_tx, stop_load_rx) = tokio::sync::watch::channel(false);
    let url = format!("http://{public}/");
    let load = tokio::spawn(async move {
        let mut rx = stop_load_rx;
        crate::demo::load::generate(&url, 100.0, Duration::from_secs(24 * 3600), 8, async move {
            let _ = rx.wait_for(|s| *s).await;
        })
        .await
    });
    started.load = Some((stop_load_tx, load));
    let deploy = tokio::spawn(async move {
        tokio::time::sleep(STABLE_ALONE).await;
        let req = ActionRequest {
            action: Action::Deploy {
                image: String::new(),
            },
            by: Actor::System,
            reason: Some(format!(
                "cutover demo: v2 after {} s of stable traffic",
                STABLE_ALONE.as_secs()
            )),
        };
        if let Err(r) = controller.act(req).await {
            eprintln!("cutover demo: could not deploy the canary: {}", r.message);
        }
    });
    started.deploy = Some(tokio_util::task::AbortOnDropHandle::new(deploy));

    let daemon = started.daemon.as_ref().expect("started above");
    let mode = async {
        if args.no_tui {
            headless(daemon, args.scenario, duration, args.record.is_some()).await
        } else {
            interactive(daemon, args, duration).await
        }
    };
    let forced_panic = async {
        match panic_after {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        r = mode => r,
        name = signals.received() => {
            eprintln!("cutover demo: {name}: stopping and cleaning up…");
            println!("cutover demo: outcome interrupted by {name}");
            Ok(signal_exit_code(name))
        }
        () = forced_panic => panic!("CUTOVER_DEMO_PANIC_AFTER: a panic on purpose (test-only)"),
    }
}

/// Docker when asked or reachable, else local processes (and say why).
async fn choose_runtime(
    choice: Option<RuntimeChoice>,
    exe: &Path,
) -> Result<(Arc<dyn Runtime>, &'static str, String)> {
    let docker = || async {
        let rt = crate::runtime::docker::DockerRuntime::connect().await?;
        eprintln!(
            "cutover demo: building images cutover-demo:v1 and :v2 from {} …",
            exe.display()
        );
        let took =
            crate::runtime::image::build_demo_images(rt.client(), exe, "cutover-demo").await?;
        eprintln!("cutover demo: images ready in {:.1} s", took.as_secs_f64());
        Ok::<_, color_eyre::Report>(rt)
    };
    match choice {
        Some(RuntimeChoice::Docker) => {
            let rt = docker().await?;
            Ok((Arc::new(rt), "docker", "as asked (--runtime docker)".into()))
        }
        Some(RuntimeChoice::Process) => Ok((
            Arc::new(crate::runtime::process::ProcessRuntime::new()),
            "process",
            "as asked (--runtime process)".into(),
        )),
        None => match docker().await {
            Ok(rt) => Ok((
                Arc::new(rt),
                "docker",
                "the Docker engine is reachable".into(),
            )),
            Err(e) => Ok((
                Arc::new(crate::runtime::process::ProcessRuntime::new()),
                "process",
                format!("Docker is not usable here ({e}); running the versions as local processes"),
            )),
        },
    }
}

/// `--no-tui`: print what happens, stop when time is up (or [`LINGER`]
/// after the release reached its outcome, unless recording). Exit 0 when the scenario ended as
/// expected (good: promoted; bad, slow, crashy: rolled back), else 1.
async fn headless(
    daemon: &RunningDaemon,
    scenario: Scenario,
    duration: Option<Duration>,
    recording: bool,
) -> Result<u8> {
    let client = daemon.client();
    let mut events = client.events().await?;
    let start = tokio::time::Instant::now();
    let deadline = start + duration.unwrap_or(Duration::from_secs(30));
    let mut outcome: Option<&'static str> = None;
    let mut linger: Option<tokio::time::Instant> = None;
    let mut last_tick = start;
    loop {
        let until = linger.map_or(deadline, |l| l.min(deadline));
        let ev = tokio::select! {
            ev = events.next() => ev,
            _ = tokio::time::sleep_until(until) => break,
        };
        let Some(Ok(ev)) = ev else { break };
        let t = start.elapsed().as_secs_f64();
        match &ev.kind {
            EventKind::Phase {
                from,
                to,
                by,
                reason,
            } => {
                println!(
                    "[{t:6.1}s] phase {from} → {to} ({by}{})",
                    reason
                        .as_ref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                );
                if *from == Phase::Promoting && *to == Phase::Idle {
                    outcome = Some("promoted");
                } else if *from == Phase::RollingBack && *to == Phase::Idle {
                    outcome = Some("rolled back");
                } else if *to == Phase::Failed {
                    outcome = Some("failed");
                }
                if outcome.is_some() && linger.is_none() && !recording {
                    linger = Some(tokio::time::Instant::now() + LINGER);
                }
            }
            EventKind::Weight { from, to, by, .. } => {
                println!(
                    "[{t:6.1}s] canary weight {:.1} % → {:.1} % ({by})",
                    f64::from(*from) / 10.0,
                    f64::from(*to) / 10.0
                );
            }
            EventKind::Breach {
                guard,
                detail,
                on_breach,
                ..
            } => {
                println!("[{t:6.1}s] GUARD BREACH {guard}: {detail} → {on_breach}");
            }
            EventKind::Replica {
                role,
                replica,
                status,
                detail,
            } => {
                let said = crate::model::replica_phrase(*status, detail);
                println!("[{t:6.1}s] {role} replica {replica} {said}");
            }
            EventKind::Action {
                action,
                by,
                ok,
                detail,
                ..
            } => {
                println!(
                    "[{t:6.1}s] {action} by {by}: {} {detail}",
                    if *ok { "ok" } else { "refused" }
                );
            }
            EventKind::Warning { message } => println!("[{t:6.1}s] warning: {message}"),
            EventKind::Tick { stable, canary } => {
                if last_tick.elapsed() >= Duration::from_secs(5) {
                    last_tick = tokio::time::Instant::now();
                    let f = |s: &crate::model::VersionStats| {
                        format!(
                            "{:5.0} req/s err {:5.1} % p99 {}",
                            s.rps,
                            s.error_rate.unwrap_or(0.0) * 100.0,
                            s.p99_ms.map_or("–".into(), |p| format!("{p:.0} ms"))
                        )
                    };
                    println!(
                        "[{t:6.1}s] stable {} | canary {}",
                        f(stable),
                        canary.as_ref().map_or("–".into(), f)
                    );
                }
            }
            EventKind::Snapshot { .. } => {}
        }
    }
    let expected = match scenario {
        Scenario::Good => "promoted",
        _ => "rolled back",
    };
    let got = outcome.unwrap_or("still running");
    println!("cutover demo: outcome {got} (scenario {scenario:?} expects {expected})");
    Ok(if got == expected { 0 } else { 1 })
}

/// The cockpit, attached to the demo's daemon. Quitting it ends the demo.
async fn interactive(
    daemon: &RunningDaemon,
    args: &DemoArgs,
    duration: Option<Duration>,
) -> Result<u8> {
    let target = crate::cli::Target {
        admin: Some(daemon.admin_addr),
        token: Some(daemon.token.clone()),
        ..Default::default()
    };
    let tui_args = crate::cli::TuiArgs {
        theme: args.theme.clone(),
    };
    let tui = crate::tui::run(&tui_args, &target);
    match duration {
        Some(d) => {
            tokio::select! {
                r = tui => r?,
                _ = tokio::time::sleep(d) => {}
            }
        }
        None => tui.await?,
    }
    Ok(0)
}
