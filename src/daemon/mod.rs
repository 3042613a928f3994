//! The daemon (`cutover up`): wires the data plane, the controller and the
//! admin API together and runs them until told to stop.
//!
//! [`start`] runs everything in the current tokio runtime and returns a
//! [`RunningDaemon`] handle, so tests run a real daemon in-process on port 0;
//! [`run_up`] is the foreground command with logging and signal handling.
//! Its listeners come from `listeners` (bound, from systemd, or handed over
//! by the daemon it takes over from, `takeover`); the steps [`start`]
//! takes, in its order, are in `steps`.

pub mod fleet;
pub mod listeners;
mod steps;
pub mod takeover;

use crate::api::server::ApiState;
use crate::cli::UpArgs;
use crate::controller::{ControllerDeps, ControllerHandle};
use crate::metrics::Metrics;
use crate::plan::Plan;
use crate::plan::RuntimeKind;
use crate::proxy::Router;
use crate::runtime::Runtime;
use crate::runtime::static_upstreams::StaticRuntime;
use crate::state_dir::{self, ServiceDir};
use color_eyre::eyre::{Result, WrapErr, eyre};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use steps::{
    Claim, Sockets, abort_on_stop, announce, build_router, deploy_plan_canary, owned_runtime,
    raise_open_file_limit, refuse_remote_admin, serve_public, spawn_admin_api, spawn_controller,
    spawn_takeover_listener,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What a daemon needs to start.
#[derive(Debug)]
pub struct DaemonConfig {
    pub plan: Plan,
    /// Root state directory; the service's own directory is made inside it.
    pub state_root: PathBuf,
    pub allow_remote_admin: bool,
    /// Deploy the plan's `[canary]` on a fresh start (not after a restore).
    pub deploy_canary: bool,
    /// Use this runtime instead of the plan's (tests, the demo).
    pub runtime: Option<Arc<dyn Runtime>>,
    /// Extra labels on every replica (tests use one per test).
    pub labels: std::collections::BTreeMap<String, String>,
    /// Listeners already bound (systemd's, or a predecessor's); else the
    /// plan's addresses are bound.
    pub listeners: Option<listeners::Listeners>,
    /// The guards' running tests from a predecessor.
    pub evidence: Option<crate::controller::handover::EvidenceSnapshot>,
    /// The release's failed requests as a predecessor counted them.
    pub failed_in_release: u64,
    /// How long to wait for the state directory's lock (a predecessor
    /// lets go of it during a takeover); zero: refuse at once.
    pub lock_patience: Duration,
}

impl DaemonConfig {
    pub fn new(plan: Plan, state_root: PathBuf) -> DaemonConfig {
        DaemonConfig {
            plan,
            state_root,
            allow_remote_admin: false,
            deploy_canary: true,
            runtime: None,
            labels: Default::default(),
            listeners: None,
            evidence: None,
            failed_in_release: 0,
            lock_patience: Duration::ZERO,
        }
    }
}

impl std::fmt::Debug for dyn Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Runtime({})", self.kind())
    }
}

/// The runtime the plan asks for, for the service whose state directory is
/// `dir` (the process runtime keeps its replicas' output there, where the
/// next daemon finds it).
pub async fn connect_runtime(plan: &Plan, dir: &std::path::Path) -> Result<Arc<dyn Runtime>> {
    match plan.runtime {
        RuntimeKind::Static => Ok(Arc::new(StaticRuntime::for_plan(plan))),
        RuntimeKind::Process => Ok(Arc::new(
            crate::runtime::process::ProcessRuntime::for_service_dir(dir),
        )),
        RuntimeKind::Docker => Ok(Arc::new(
            crate::runtime::docker::DockerRuntime::connect().await?,
        )),
        // Refused with `swarm::NOT_MANAGER` unless the engine is a manager.
        RuntimeKind::Swarm => Ok(Arc::new(
            crate::runtime::swarm::SwarmRuntime::connect(plan.swarm.clone()).await?,
        )),
    }
}

/// A daemon running in this process.
pub struct RunningDaemon {
    pub public_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub token: String,
    pub dir: ServiceDir,
    pub router: Router,
    pub controller: ControllerHandle,
    journal: crate::journal::SharedJournal,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// One daemon per service state directory (released when this drops,
    /// and lent to a successor during a takeover).
    _lock: Arc<std::sync::Mutex<Option<crate::lock::HeldLock>>>,
    /// The successor's pid, once one serves (see [`takeover`]).
    retired: watch::Receiver<Option<u32>>,
}

impl RunningDaemon {
    /// Stop accepting, finish in-flight requests (bounded), stop the tasks.
    /// A daemon a successor took over from leaves the journal and the
    /// takeover socket to it, and keeps its WebSockets open until they close
    /// (up to [`takeover::LINGER`]).
    pub async fn stop(self) {
        let successor = *self.retired.borrow();
        if successor.is_some() {
            self.router.set_linger(takeover::LINGER);
        }
        let _ = self.stop.send(true);
        let bound = Duration::from_secs(10) + self.router.linger();
        for t in self.tasks {
            let _ = tokio::time::timeout(bound, t).await;
        }
        if successor.is_some() {
            return;
        }
        let _ = std::fs::remove_file(self.dir.file(takeover::SOCKET));
        // The last snapshot is the final state, so a replay ends exactly here.
        if let Err(e) = self.journal.close_with_snapshot(self.controller.state()) {
            tracing::warn!("closing the journal: {e}");
        }
    }

    /// Resolves with the successor's pid once a `cutover up --takeover`
    /// serves in this daemon's place (never, if none does).
    pub async fn retired(&self) -> u32 {
        let mut rx = self.retired.clone();
        match rx.wait_for(Option::is_some).await {
            Ok(pid) => pid.unwrap_or_default(),
            Err(_) => std::future::pending().await,
        }
    }

    /// Where this daemon journals its events.
    pub fn journal_path(&self) -> PathBuf {
        self.dir.file("journal.jsonl")
    }

    /// A client for this daemon's admin API.
    pub fn client(&self) -> crate::api::client::Client {
        crate::api::client::Client::new(self.admin_addr, self.token.clone())
    }
}

/// Start a daemon for `cfg.plan` in the current runtime.
///
/// The steps run in this order on purpose: the checks and the state
/// directory's lock come before anything is bound or started; the public
/// proxy serves only once the controller has restored the routing table
/// (`ControllerHandle::started`); the takeover listener opens only once
/// there is a controller to hand over (see [`takeover`]).
pub async fn start(cfg: DaemonConfig) -> Result<RunningDaemon> {
    let plan = cfg.plan;
    // Descriptors first: the public connection cap is derived from them.
    raise_open_file_limit();
    refuse_remote_admin(&plan, cfg.allow_remote_admin)?;
    let claim = Claim::take(&cfg.state_root, &plan.service, cfg.lock_patience).await?;
    let sockets = Sockets::open(cfg.listeners, &plan)?;
    let runtime = owned_runtime(cfg.runtime, &plan, &claim, sockets.at.admin).await?;
    let metrics = Arc::new(Metrics::new());
    let router = build_router(&plan, &claim.dir, metrics.clone()).await?;
    let grace = plan.drain.timeout.get();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut deps = ControllerDeps::new(
        plan.clone(),
        runtime.clone(),
        router.clone(),
        metrics.clone(),
        claim.dir.path.clone(),
    );
    deps.public_addr = sockets.at.public.to_string();
    deps.labels = cfg.labels;
    deps.evidence = cfg.evidence;
    let spawned = spawn_controller(deps, &claim.dir, &plan.service)?;
    let controller = spawned.handle;
    // Public traffic only once the routing table is what the state says:
    // until then connections wait in the listen backlog, never refused and
    // never answered from an empty table.
    controller.started().await;
    if cfg.failed_in_release > 0 {
        router.carry_failed_in_release(cfg.failed_in_release);
    }
    let public = (sockets.public, router.clone());
    let proxy_task = serve_public(public.0, public.1, &stop_rx, grace, sockets.at.public)?;
    if spawned.fresh && cfg.deploy_canary && plan.canary.is_some() {
        deploy_plan_canary(controller.clone());
    }
    let api_state = ApiState {
        controller: controller.clone(),
        metrics,
        runtime: Some(runtime.clone()),
        plan: Some(Arc::new(plan.clone())),
        token: claim.token.clone().into(),
        read_token: Some(claim.dir.ensure_read_token()?.into()),
        instance: claim.instance_id.into(),
    };
    let api_task = spawn_admin_api(sockets.admin, api_state, &stop_rx);
    let controller_stop = abort_on_stop(spawned.task, &stop_rx);
    // A successor may ask for the listeners (`cutover up --takeover`).
    let lock = Arc::new(std::sync::Mutex::new(Some(claim.lock)));
    let (retired_tx, retired) = watch::channel(None);
    let offer = takeover::Offering {
        controller: controller.clone(),
        router: router.clone(),
        runtime,
        journal: spawned.journal.clone(),
        listeners: sockets.kept,
        lock: lock.clone(),
        lock_path: claim.dir.file("daemon.lock"),
        retired: retired_tx,
    };
    let takeover_task = spawn_takeover_listener(&claim.dir, offer, stop_rx)?;
    announce(&claim.dir, &plan.service, &router, sockets.at)?;
    Ok(RunningDaemon {
        public_addr: sockets.at.public,
        admin_addr: sockets.at.admin,
        token: claim.token,
        dir: claim.dir,
        router,
        controller,
        journal: spawned.journal,
        stop: stop_tx,
        tasks: vec![proxy_task, api_task, controller_stop, takeover_task],
        _lock: lock,
        retired,
    })
}

/// `cutover up`: run the daemon in the foreground until SIGINT / SIGTERM.
pub async fn run_up(args: &UpArgs, target: &crate::cli::Target) -> Result<()> {
    // The flag permits a non-loopback admin address at validation already,
    // like the plan's `listen.allow_remote_admin`.
    let opts = crate::plan::LoadOptions {
        allow_remote_admin: args.allow_remote_admin,
    };
    // `cutover --plan P --state-dir D up` means the same as `cutover up --plan P --state-dir D`.
    let plan_path = args.plan.clone().or_else(|| target.plan.clone());
    let plan_path = plan_path.unwrap_or_else(|| args.plan_path());
    let root = state_dir::root(args.state_dir.as_deref().or(target.state_dir.as_deref()));
    if let Some(fleet) = crate::plan::load_fleet(&plan_path, opts)? {
        return run_fleet(args, fleet, root).await;
    }
    let plan = crate::plan::load_with(&plan_path, opts)?;
    let dir = ServiceDir::create(&root, &plan.service)?;
    let _log_guard = init_logging(&dir);
    let mut cfg = DaemonConfig::new(plan, root);
    cfg.allow_remote_admin = args.allow_remote_admin;
    cfg.deploy_canary = !args.no_deploy;
    let (daemon, handed) = if args.takeover {
        start_in_place_of(cfg, &dir).await?
    } else {
        (start(cfg).await?, None)
    };
    eprintln!(
        "cutover: serving {} on http://{}  (admin API http://{}, state {})",
        daemon
            .dir
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        daemon.public_addr,
        daemon.admin_addr,
        daemon.dir.path.display()
    );
    if let Some(h) = handed {
        eprintln!(
            "cutover: took over from pid {} (cutover {}); it finishes its in-flight requests and exits",
            h.0, h.1
        );
    }
    tokio::select! {
        () = wait_for_signal() => {
            eprintln!("cutover: stopping (finishing in-flight requests)");
            let _ = std::fs::remove_file(daemon.dir.file("admin.addr"));
        }
        pid = daemon.retired() => {
            eprintln!("cutover: pid {pid} took over; finishing in-flight requests (WebSockets until they close) and exiting");
        }
    }
    daemon.stop().await;
    Ok(())
}

/// `cutover up` with a plan of several services, in the foreground.
async fn run_fleet(
    args: &UpArgs,
    fleet: crate::plan::services::Fleet,
    root: PathBuf,
) -> Result<()> {
    if args.takeover {
        return Err(eyre!(
            "--takeover is not built for plans with [[services]] yet: stop the daemon and start it again (each service's release resumes from its state)"
        ));
    }
    let first = fleet.services[0].plan.service.clone();
    let dir = ServiceDir::create(&root, &first)?;
    let _log_guard = init_logging(&dir);
    let names: Vec<String> = fleet
        .services
        .iter()
        .map(|s| {
            let hosts: Vec<String> = s.hosts.iter().map(ToString::to_string).collect();
            format!(
                "{} ({}{})",
                s.plan.service,
                hosts.join(" "),
                s.path_prefix.as_deref().unwrap_or("")
            )
        })
        .collect();
    let daemon = fleet::start_fleet(fleet::FleetConfig {
        fleet,
        state_root: root.clone(),
        allow_remote_admin: args.allow_remote_admin,
        deploy_canary: !args.no_deploy,
        runtime: None,
        labels: Default::default(),
    })
    .await?;
    eprintln!(
        "cutover: serving {} services on http://{}: {}  (admin API http://{}, state {})",
        names.len(),
        daemon.public_addr,
        names.join(", "),
        daemon.admin_addr,
        root.display()
    );
    wait_for_signal().await;
    eprintln!("cutover: stopping (finishing in-flight requests)");
    for s in &daemon.services {
        let _ = std::fs::remove_file(s.dir.file("admin.addr"));
    }
    daemon.stop().await;
    Ok(())
}

/// `cutover up --takeover`: take the running daemon's listeners, state and
/// guard evidence, start in its place, and tell it to retire. Anything
/// that fails before the last step leaves the old daemon serving: it
/// carries on when this process lets go of the conversation (or exits).
async fn start_in_place_of(
    mut cfg: DaemonConfig,
    dir: &ServiceDir,
) -> Result<(RunningDaemon, Option<(u32, String)>)> {
    let handed = takeover::ask(&dir.path, Duration::from_secs(60), |why| {
        eprintln!("cutover: the running daemon cannot hand over yet: {why}");
    })
    .await?;
    for n in &handed.notes {
        tracing::warn!("{n}");
    }
    let from = (handed.from_pid, handed.from_version.clone());
    let takeover::Handed {
        listeners,
        evidence,
        failed_in_release,
        line,
        ..
    } = handed;
    cfg.failed_in_release = failed_in_release;
    cfg.listeners = Some(listeners);
    cfg.evidence = evidence;
    cfg.lock_patience = Duration::from_secs(10);
    // Bounded well within the old daemon's patience, so it never carries
    // on while this one might still start serving.
    let daemon = tokio::time::timeout(takeover::READY_WITHIN / 2, start(cfg))
        .await
        .map_err(|_| {
            eyre!(
                "starting in place of pid {} took too long; it carries on",
                from.0
            )
        })?
        .wrap_err_with(|| format!("the takeover failed; pid {} carries on", from.0))?;
    if let Err(e) = line.ready() {
        // The old daemon stopped waiting: it serves again. Step back.
        daemon.stop().await;
        return Err(e.wrap_err(format!("pid {} no longer waited; it carries on", from.0)));
    }
    Ok((daemon, Some(from)))
}

/// SIGINT or SIGTERM.
pub async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).ok();
    let term = async {
        match term.as_mut() {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

/// Logs to `cutover.log` in the service directory (0600, no link followed:
/// `crate::private_file`) and to stderr. Without the file (it is refused,
/// say), logs go to stderr alone, after saying why.
fn init_logging(dir: &ServiceDir) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::prelude::*;
    let filter =
        || EnvFilter::try_from_env("CUTOVER_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let (file, guard) = match dir.open_private("cutover.log", crate::private_file::Access::Append) {
        Ok(f) => {
            // The default queue of 128,000 lines is 4 MiB, allocated and
            // touched up front: a quarter of an idle daemon's memory. A log
            // line is rare here; 1,024 waiting lines is plenty (beyond it,
            // lines are dropped rather than stalling the daemon).
            let (w, g) = tracing_appender::non_blocking::NonBlockingBuilder::default()
                .buffered_lines_limit(1024)
                .finish(f);
            (Some(w), Some(g))
        }
        Err(e) => {
            eprintln!("cutover: logging to stderr only: {e}");
            (None, None)
        }
    };
    let _ = tracing_subscriber::registry()
        .with(file.map(|file| {
            tracing_subscriber::fmt::layer()
                .with_writer(file)
                .with_ansi(false)
                .with_filter(filter())
        }))
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(filter()),
        )
        .try_init();
    guard
}
