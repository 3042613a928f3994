//! `cutover demo`: one command that shows the whole product.
//!
//! It starts a daemon on free loopback ports, runs the demo app v1 ×2 as
//! stable and v2 ×1 as canary — in Docker when the engine is reachable
//! (building its images locally first), otherwise as local processes —
//! drives live traffic with the built-in load generator, and opens the
//! cockpit (or, with `--no-tui`, prints what happens). Whatever way it ends
//! (quit, Ctrl-C, time up, a panic) every container and process it started
//! is removed.

use crate::cli::{DemoArgs, RuntimeChoice, Scenario};
use crate::daemon::{DaemonConfig, RunningDaemon};
use crate::model::{EventKind, Phase};
use crate::plan::{HumanDuration, Plan};
use crate::runtime::Runtime;
use color_eyre::eyre::{Result, WrapErr, eyre};
use futures::StreamExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The demo's service name (labels, state directory).
pub const SERVICE: &str = "cutover-demo";

/// The canary's fault knobs per scenario, as `DEMO_*` environment.
pub fn scenario_env(s: Scenario) -> Vec<(&'static str, &'static str)> {
    match s {
        Scenario::Good => vec![],
        Scenario::Bad => vec![("DEMO_ERROR_RATE", "0.3")],
        Scenario::Slow => vec![("DEMO_LATENCY", "400ms")],
        Scenario::Crashy => vec![("DEMO_CRASH_AFTER", "150")],
    }
}

/// The demo plan for a runtime: stable v1 ×2, canary v2 ×1 with the
/// scenario's faults, quick health checks, three short steps, guards.
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
bake = "6s"
[[steps]]
weight = 25
bake = "6s"
[[steps]]
weight = 50
bake = "6s"

[drain]
timeout = "5s"
stop_grace = "3s"
"#
    );
    Ok(crate::plan::parse(&text, "demo plan")?)
}

/// The demo's own state directory, removed when the demo ends.
struct StateDir(std::path::PathBuf);

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

/// Removes every replica of the demo service when dropped, even on a panic
/// (a fresh single-threaded runtime does the async work).
struct Cleanup {
    runtime: Arc<dyn Runtime>,
    armed: bool,
}

impl Cleanup {
    async fn run(&mut self) {
        self.armed = false;
        remove_all(&self.runtime).await;
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let runtime = self.runtime.clone();
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(remove_all(&runtime));
            }
        })
        .join();
    }
}

async fn remove_all(runtime: &Arc<dyn Runtime>) {
    let Ok(replicas) = runtime.list(SERVICE).await else {
        return;
    };
    for r in replicas {
        let _ = runtime.stop(&r, Duration::from_secs(2)).await;
        let _ = runtime.remove(&r).await;
    }
}

/// `cutover demo`.
pub async fn run(args: &DemoArgs) -> Result<u8> {
    let exe = std::env::current_exe()
        .wrap_err("cannot find the cutover binary to run the demo app from")?;
    // One demo per machine: a second one would remove this one's replicas
    // as "leftovers". A demo on its way out gets a few seconds to finish.
    let lock_path = std::env::temp_dir().join("cutover-demo.lock");
    let _one_demo = crate::lock::lock_within(&lock_path, Duration::from_secs(15), |e| {
        eprintln!(
            "cutover demo: another demo ({}) is running; waiting up to 15 s for it to finish…",
            e.holder().map_or_else(|| "pid unknown".to_string(), |p| format!("pid {p}"))
        );
    })
    .await
    .map_err(|e| match e.holder() {
        Some(pid) => eyre!(
            "another cutover demo (pid {pid}) is running on this machine and owns the {SERVICE} replicas; quit it first"
        ),
        None => eyre!(e),
    })?;
    let (runtime, kind, why) = choose_runtime(args.runtime, &exe).await?;
    eprintln!("cutover demo: runtime {kind} — {why}");
    let plan = demo_plan(kind, args.scenario, &exe)?;
    let state = StateDir::new()?;
    let mut cleanup = Cleanup {
        runtime: runtime.clone(),
        armed: true,
    };
    // Leftovers of an earlier demo that was killed hard go first.
    remove_all(&runtime).await;

    let mut cfg = DaemonConfig::new(plan, state.0.clone());
    cfg.runtime = Some(runtime.clone());
    let daemon = crate::daemon::start(cfg).await?;
    eprintln!(
        "cutover demo: traffic on http://{}  admin http://{}  scenario {:?}",
        daemon.public_addr, daemon.admin_addr, args.scenario
    );

    let duration: Option<Duration> = match &args.duration {
        Some(d) => Some(
            d.parse::<HumanDuration>()
                .map_err(|e| eyre!("--duration: {e}"))?
                .get(),
        ),
        None if args.no_tui => Some(Duration::from_secs(30)),
        None => None,
    };
    // Traffic starts once stable can take it (before that, the only honest
    // answer would be 503).
    let client = daemon.client();
    let ready_by = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        match client.state().await {
            Ok(s) if s.stable.healthy() >= s.stable.replicas.len().max(1) => break,
            _ if tokio::time::Instant::now() > ready_by => {
                return Err(eyre!(
                    "the stable version never became healthy (see the journal in {})",
                    state.0.display()
                ));
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let (stop_load_tx, stop_load_rx) = tokio::sync::watch::channel(false);
    let url = format!("http://{}/", daemon.public_addr);
    let load = tokio::spawn(async move {
        let mut rx = stop_load_rx;
        crate::demo::load::generate(&url, 100.0, Duration::from_secs(24 * 3600), 8, async move {
            let _ = rx.wait_for(|s| *s).await;
        })
        .await
    });

    let outcome = if args.no_tui {
        headless(&daemon, args.scenario, duration).await
    } else {
        interactive(&daemon, args, duration).await
    };

    let _ = stop_load_tx.send(true);
    let summary = load.await.ok();
    let journal = daemon.dir.file("journal.jsonl");
    daemon.stop().await;
    cleanup.run().await;
    if let Some(path) = &args.record {
        std::fs::copy(&journal, path)
            .wrap_err_with(|| format!("cannot write the recording to {}", path.display()))?;
        eprintln!("cutover demo: recorded to {}", path.display());
    }
    if let Some(s) = summary {
        eprintln!("cutover demo: load generator: {}", s.one_line());
    }
    let left = runtime.list(SERVICE).await.map(|l| l.len()).unwrap_or(0);
    eprintln!("cutover demo: cleaned up ({left} replicas left)");
    outcome
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

/// `--no-tui`: print what happens, stop when time is up (or shortly after
/// the release reached its outcome). Exit 0 when the scenario ended as
/// expected (good: promoted; bad, slow, crashy: rolled back), else 1.
async fn headless(
    daemon: &RunningDaemon,
    scenario: Scenario,
    duration: Option<Duration>,
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
            _ = tokio::signal::ctrl_c() => { eprintln!("cutover demo: interrupted"); break; }
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
                if outcome.is_some() && linger.is_none() {
                    linger = Some(tokio::time::Instant::now() + Duration::from_secs(2));
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
                println!("[{t:6.1}s] {role} replica {replica}: {status:?} {detail}");
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
