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

use super::headless::headless;
use super::plan::{SERVICE, STABLE_ALONE, demo_plan};
use super::teardown::{Signals, Started, StateDir, remove_all, signal_exit_code, unless_signalled};
use crate::cli::{DemoArgs, RuntimeChoice};
use crate::daemon::{DaemonConfig, RunningDaemon};
use crate::model::{Action, ActionRequest, Actor};
use crate::plan::HumanDuration;
use crate::runtime::Runtime;
use color_eyre::eyre::{Result, WrapErr, eyre};
use futures::FutureExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

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
    let duration: Option<Duration> = match args.duration {
        Some(d) => Some(d.get()),
        None if args.no_tui => Some(Duration::from_secs(30)),
        None => None,
    };
    let exe = std::env::current_exe()
        .wrap_err("cannot find the cutover binary to run the demo app from")?;
    match set_up(args, signals, started, &exe).await {
        Ok(()) => {}
        Err(Halt::Signalled(code)) => return Ok(code),
        Err(Halt::Failed(e)) => return Err(e),
    }
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

/// Why setting the demo up stopped short.
enum Halt {
    /// A signal arrived: exit with this code (after the teardown).
    Signalled(u8),
    Failed(color_eyre::Report),
}

impl From<color_eyre::Report> for Halt {
    fn from(e: color_eyre::Report) -> Halt {
        Halt::Failed(e)
    }
}

/// `fut`, unless a signal comes first.
async fn watched<T>(signals: &Signals, fut: impl Future<Output = T>) -> Result<T, Halt> {
    unless_signalled(signals, fut)
        .await
        .map_err(Halt::Signalled)
}

/// Everything up to a running release: the demo's lock, a runtime, a
/// daemon whose stable serves, the load, and the canary's deploy on its
/// timer; each recorded in `started` as it starts.
async fn set_up(
    args: &DemoArgs,
    signals: &Signals,
    started: &mut Started,
    exe: &Path,
) -> Result<(), Halt> {
    started.lock = Some(take_demo_lock(signals).await?);
    let state = StateDir::new()?;
    let state_path = state.0.clone();
    started.state = Some(state);
    let service_dir = state_path.join(SERVICE);
    let choice = choose_runtime(args.runtime, exe, &service_dir);
    let (runtime, kind, why) = watched(signals, choice).await??;
    eprintln!("cutover demo: runtime {kind} — {why}");
    started.runtime = Some(runtime.clone());
    let plan = demo_plan(kind, args.scenario, exe)?;
    // Leftovers of an earlier demo that was killed hard go first.
    watched(signals, remove_all(&runtime)).await?;

    let mut cfg = DaemonConfig::new(plan, state_path.clone());
    cfg.runtime = Some(runtime.clone());
    // The demo deploys the canary itself, once stable has served a while.
    cfg.deploy_canary = false;
    let daemon = watched(signals, crate::daemon::start(cfg)).await??;
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
    watched(signals, stable_serves(&client, &state_path)).await??;
    started.load = Some(start_load(public));
    started.deploy = Some(deploy_later(controller));
    Ok(())
}

/// One demo per machine: a second one would remove this one's replicas
/// as "leftovers". A demo on its way out gets a few seconds to finish.
async fn take_demo_lock(signals: &Signals) -> Result<crate::lock::HeldLock, Halt> {
    let lock_path = std::env::temp_dir().join("cutover-demo.lock");
    let lock = crate::lock::lock_within(&lock_path, Duration::from_secs(15), |e| {
        eprintln!(
            "cutover demo: another demo ({}) is running; waiting up to 15 s for it to finish…",
            e.holder()
                .map_or_else(|| "pid unknown".to_string(), |p| format!("pid {p}"))
        );
    });
    let lock = watched(signals, lock).await?.map_err(|e| match e.holder() {
        Some(pid) => eyre!(
            "another cutover demo (pid {pid}) is running on this machine and owns the {SERVICE} replicas; quit it first"
        ),
        None => eyre!(e),
    })?;
    Ok(lock)
}

/// Resolves once every stable replica is healthy (two minutes at most).
async fn stable_serves(client: &crate::api::client::Client, state_path: &Path) -> Result<()> {
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
}

/// The demo's traffic: 100 requests a second on `public` until told to stop.
fn start_load(
    public: std::net::SocketAddr,
) -> (
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<crate::demo::load::LoadSummary>,
) {
    let (stop_load_tx, stop_load_rx) = tokio::sync::watch::channel(false);
    let url = format!("http://{public}/");
    let load = tokio::spawn(async move {
        let mut rx = stop_load_rx;
        crate::demo::load::generate(&url, 100.0, Duration::from_secs(24 * 3600), 8, async move {
            let _ = rx.wait_for(|s| *s).await;
        })
        .await
    });
    (stop_load_tx, load)
}

/// Deploy the canary after [`STABLE_ALONE`] of stable traffic.
fn deploy_later(
    controller: crate::controller::ControllerHandle,
) -> tokio_util::task::AbortOnDropHandle<()> {
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
    tokio_util::task::AbortOnDropHandle::new(deploy)
}

/// Docker when asked or reachable, else local processes (and say why);
/// Swarm only when asked. `service_dir` is the demo service's state
/// directory (processes write their output there).
async fn choose_runtime(
    choice: Option<RuntimeChoice>,
    exe: &Path,
    service_dir: &Path,
) -> Result<(Arc<dyn Runtime>, &'static str, String)> {
    let processes = || crate::runtime::process::ProcessRuntime::for_service_dir(service_dir);
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
        // Only where a swarm is active: refused with the reason otherwise.
        Some(RuntimeChoice::Swarm) => {
            let engine = crate::runtime::docker::DockerRuntime::connect().await?;
            let rt = crate::runtime::swarm::SwarmRuntime::on(engine, Default::default()).await?;
            eprintln!(
                "cutover demo: building images cutover-demo:v1 and :v2 from {} …",
                exe.display()
            );
            crate::runtime::image::build_demo_images(rt.client(), exe, "cutover-demo").await?;
            Ok((
                Arc::new(rt),
                "swarm",
                "as asked (--runtime swarm; a single-node swarm runs the demo's local images)"
                    .into(),
            ))
        }
        Some(RuntimeChoice::Process) => Ok((
            Arc::new(processes()),
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
                Arc::new(processes()),
                "process",
                format!("Docker is not usable here ({e}); running the versions as local processes"),
            )),
        },
    }
}

/// The cockpit, attached to the demo's daemon. Quitting it ends the demo.
async fn interactive(
    daemon: &RunningDaemon,
    args: &DemoArgs,
    duration: Option<Duration>,
) -> Result<u8> {
    let tui_args = crate::cli::TuiArgs {
        theme: args.theme.clone(),
        target: crate::cli::Target::default(),
    };
    let tui = crate::tui::run(&tui_args, daemon.client());
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
