//! The daemon (`cutover up`): wires the data plane, the controller and the
//! admin API together and runs them until told to stop.
//!
//! [`start`] runs everything in the current tokio runtime and returns a
//! [`RunningDaemon`] handle, so tests run a real daemon in-process on port 0;
//! [`run_up`] is the foreground command with logging and signal handling.
//! Its listeners come from `listeners` (bound, from systemd, or handed over
//! by the daemon it takes over from, `takeover`).

pub mod listeners;
pub mod takeover;

use crate::api::server::{ApiState, serve as serve_api};
use crate::cli::UpArgs;
use crate::controller::{ControllerDeps, ControllerHandle, persist};
use crate::metrics::Metrics;
use crate::model::{Action, ActionRequest, Actor};
use crate::plan::Plan;
use crate::plan::RuntimeKind;
use crate::proxy::{ProxyOptions, Router};
use crate::runtime::Runtime;
use crate::runtime::static_upstreams::StaticRuntime;
use crate::state_dir::{self, ServiceDir};
use color_eyre::eyre::{Result, WrapErr, bail, eyre};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
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

/// The runtime the plan asks for.
pub async fn connect_runtime(plan: &Plan) -> Result<Arc<dyn Runtime>> {
    match plan.runtime {
        RuntimeKind::Static => Ok(Arc::new(StaticRuntime::for_plan(plan))),
        RuntimeKind::Process => Ok(Arc::new(crate::runtime::process::ProcessRuntime::new())),
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
    let proxy_task = serve_public(sockets.public, &router, &stop_rx, grace, sockets.at.public)?;
    if spawned.fresh && cfg.deploy_canary && plan.canary.is_some() {
        deploy_plan_canary(controller.clone());
    }
    let api_state = ApiState {
        controller: controller.clone(),
        metrics,
        runtime: Some(runtime.clone()),
        token: claim.token.clone().into(),
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

/// Raise the process's open-file limit as far as it goes (logged either way).
fn raise_open_file_limit() {
    match crate::proxy::conn_limit::raise_open_file_limit() {
        Ok(l) if l.now > l.was => {
            tracing::info!("raised the open-file limit from {} to {}", l.was, l.now);
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("could not raise the open-file limit: {e}"),
    }
}

/// Refuse a non-loopback admin address unless the flag or the plan allow it.
fn refuse_remote_admin(plan: &Plan, allowed_by_flag: bool) -> Result<()> {
    let admin = plan.listen.admin;
    if !(admin.ip().is_loopback() || allowed_by_flag || plan.listen.allow_remote_admin) {
        bail!(
            "refusing to serve the admin API on non-loopback address {admin}: pass --allow-remote-admin \
             (or set listen.allow_remote_admin = true) if you really want that"
        );
    }
    Ok(())
}

/// The service's state directory, held: its lock, token and instance id.
struct Claim {
    dir: ServiceDir,
    lock: crate::lock::HeldLock,
    token: String,
    instance_id: String,
}

impl Claim {
    async fn take(
        state_root: &std::path::Path,
        service: &str,
        patience: Duration,
    ) -> Result<Claim> {
        let dir = ServiceDir::create(state_root, service)?;
        let lock = take_lock(&dir, service, patience).await?;
        let token = dir.ensure_token()?;
        let instance_id = dir.ensure_instance()?;
        Ok(Claim {
            dir,
            lock,
            token,
            instance_id,
        })
    }
}

/// The daemon's listening sockets, ready to serve.
struct Sockets {
    /// The public listeners (one per proxy worker).
    public: Vec<std::net::TcpListener>,
    admin: TcpListener,
    /// A second handle on every listener, lent to a successor.
    kept: listeners::Listeners,
    at: Addresses,
}

/// Where the daemon listens, and how it got its listeners.
#[derive(Clone, Copy)]
struct Addresses {
    public: SocketAddr,
    admin: SocketAddr,
    origin: listeners::Origin,
}

impl Sockets {
    /// The listeners given, else systemd's, else the plan's addresses bound.
    fn open(given: Option<listeners::Listeners>, plan: &Plan) -> Result<Sockets> {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let listeners = match given {
            Some(l) => l,
            None => match listeners::from_systemd(plan, workers)? {
                Some(l) => l,
                None => listeners::Listeners::bind(plan, workers)?,
            },
        };
        let kept = listeners.duplicate()?;
        let origin = listeners.origin;
        let public_addr = listeners.public_addr()?;
        listeners.admin.set_nonblocking(true)?;
        let admin = TcpListener::from_std(listeners.admin)?;
        let admin_addr = admin.local_addr()?;
        Ok(Sockets {
            public: listeners.public,
            admin,
            kept,
            at: Addresses {
                public: public_addr,
                admin: admin_addr,
                origin,
            },
        })
    }
}

/// The runtime to use, bound to this state directory's instance.
///
/// What the runtime starts carries the instance, and a live daemon of
/// another instance that runs this service on the same engine is refused
/// here, before anything starts.
async fn owned_runtime(
    given: Option<Arc<dyn Runtime>>,
    plan: &Plan,
    claim: &Claim,
    admin_addr: SocketAddr,
) -> Result<Arc<dyn Runtime>> {
    let runtime = match given {
        Some(r) => r,
        None => connect_runtime(plan).await?,
    };
    let instance = crate::runtime::Instance {
        id: claim.instance_id.clone(),
        admin: admin_addr.to_string(),
        state: claim.dir.path.display().to_string(),
    };
    runtime.bind_instance(&instance);
    refuse_live_owners(runtime.as_ref(), &plan.service).await?;
    Ok(runtime)
}

/// The proxy's router, with the plan's access log (relative to the state
/// directory) open.
async fn build_router(plan: &Plan, dir: &ServiceDir, metrics: Arc<Metrics>) -> Result<Router> {
    let router = Router::new(metrics, ProxyOptions::from_plan(&plan.service, &plan.proxy));
    if let Some(path) = &plan.proxy.access_log {
        let path = if path.is_absolute() {
            path.clone()
        } else {
            dir.path.join(path)
        };
        let log = crate::proxy::access_log::AccessLog::open(&path)
            .await
            .wrap_err_with(|| format!("cannot open the access log {}", path.display()))?;
        router.set_access_log(Some(log));
    }
    Ok(router)
}

/// A controller spawned, with what the daemon keeps of it.
struct SpawnedController {
    handle: ControllerHandle,
    task: JoinHandle<()>,
    journal: crate::journal::SharedJournal,
    /// Nothing was restored from the state directory.
    fresh: bool,
}

/// Load the saved state, open the journal and spawn the controller.
fn spawn_controller(
    mut deps: ControllerDeps,
    dir: &ServiceDir,
    service: &str,
) -> Result<SpawnedController> {
    let loaded = persist::load(&dir.path, service);
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let fresh = loaded.state.is_none();
    // The flight recorder: every event, one JSON line each (continued
    // across restarts of the same service directory).
    let journal_path = dir.file("journal.jsonl");
    let journal = crate::journal::SharedJournal::create(
        &journal_path,
        &crate::model::JournalHeader::new(service.to_string(), chrono::Utc::now()),
    )
    .wrap_err_with(|| format!("cannot open the journal {}", journal_path.display()))?;
    deps.journal = Some(Arc::new(journal.clone()));
    deps.restored = loaded.state;
    deps.warnings = loaded.warnings;
    let (handle, task) = crate::controller::spawn(deps);
    Ok(SpawnedController {
        handle,
        task,
        journal,
        fresh,
    })
}

/// Resolves once `rx` says stop (or its sender is gone).
async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Serve the public listeners on the proxy's own threads; the task ends
/// when they do.
fn serve_public(
    public: Vec<std::net::TcpListener>,
    router: &Router,
    stop_rx: &watch::Receiver<bool>,
    grace: Duration,
    public_addr: SocketAddr,
) -> Result<JoinHandle<()>> {
    let proxy_threads =
        crate::proxy::serve_listeners(public, router.clone(), stop_rx.clone(), grace)
            .wrap_err_with(|| format!("cannot serve on {public_addr} (public)"))?;
    Ok(tokio::task::spawn_blocking(move || {
        for t in proxy_threads {
            let _ = t.join();
        }
    }))
}

/// Deploy the plan's `[canary]` in the background, as the system.
fn deploy_plan_canary(handle: ControllerHandle) {
    tokio::spawn(async move {
        let req = ActionRequest {
            action: Action::Deploy {
                image: String::new(),
            },
            by: Actor::System,
            reason: Some("the plan declares a canary".into()),
        };
        if let Err(r) = handle.act(req).await {
            tracing::warn!("could not deploy the plan's canary: {}", r.message);
        }
    });
}

/// Serve the admin API until told to stop.
fn spawn_admin_api(
    listener: TcpListener,
    state: ApiState,
    stop_rx: &watch::Receiver<bool>,
) -> JoinHandle<()> {
    let stop = stopped(stop_rx.clone());
    tokio::spawn(async move {
        if let Err(e) = serve_api(listener, state, stop).await {
            tracing::error!(error = %e, "admin API stopped");
        }
    })
}

/// Abort the controller's task when told to stop.
fn abort_on_stop(task: JoinHandle<()>, stop_rx: &watch::Receiver<bool>) -> JoinHandle<()> {
    let stop = stopped(stop_rx.clone());
    tokio::spawn(async move {
        stop.await;
        task.abort();
    })
}

/// Listen for a successor on the takeover socket until one serves or the
/// daemon stops.
fn spawn_takeover_listener(
    dir: &ServiceDir,
    offer: takeover::Offering,
    stop_rx: watch::Receiver<bool>,
) -> Result<JoinHandle<()>> {
    let listener = takeover::listen(&dir.path)?;
    let stop = stopped(stop_rx);
    Ok(tokio::spawn(async move {
        tokio::select! {
            () = takeover::serve(listener, offer) => {}
            () = stop => {}
        }
    }))
}

/// Write the address files clients find the daemon through, and log it up.
fn announce(dir: &ServiceDir, service: &str, router: &Router, at: Addresses) -> Result<()> {
    let (public_addr, admin_addr) = (at.public, at.admin);
    dir.write_addr("public.addr", public_addr)?;
    dir.write_addr("admin.addr", admin_addr)?;
    tracing::info!(
        %public_addr,
        %admin_addr,
        service = %service,
        max_connections = router.max_connections(),
        listeners = ?at.origin,
        "cutover daemon up"
    );
    Ok(())
}

/// The state directory's lock, waiting up to `patience` for a holder that
/// is handing over.
async fn take_lock(
    dir: &ServiceDir,
    service: &str,
    patience: Duration,
) -> Result<crate::lock::HeldLock> {
    crate::lock::lock_within(&dir.file("daemon.lock"), patience, |_| {})
        .await
        .map_err(|e| match e {
            crate::lock::LockError::Held { holder, .. } => eyre!(
                "another cutover daemon ({}) already runs service {service:?} from {}; stop it first, talk to it (`cutover status`), or replace it without a gap (`cutover up --takeover`)",
                holder.map_or_else(|| "pid unknown".to_string(), |p| format!("pid {p}")),
                dir.path.display()
            ),
            other => eyre!(other),
        })
}

/// Refuse to start while a live daemon of another instance owns replicas
/// of `service` on this runtime: the two would fight over them (see
/// `crate::runtime::instance`). Another instance whose daemon is gone is
/// only reported (its replicas are left alone either way).
async fn refuse_live_owners(runtime: &dyn Runtime, service: &str) -> Result<()> {
    let inventory = match runtime.inventory(service).await {
        Ok(inv) => inv,
        // The controller's own reconcile says so again, in the journal.
        Err(e) => {
            tracing::warn!("cannot list the replicas of {service} to check their owners: {e}");
            return Ok(());
        }
    };
    for claim in &inventory.others {
        if crate::runtime::instance::alive(&claim.instance).await {
            bail!(
                "service {service:?} on this {} runtime is run by another cutover daemon, {}, which owns its replicas {}; two daemons would fight over them. Stop that daemon (or talk to it: `cutover status --state-dir` its state root), or give this plan another service name",
                runtime.kind(),
                claim.instance.describe(),
                claim.replicas.join(", ")
            );
        }
        tracing::warn!(
            "replicas {} of {service} belong to {}, whose daemon does not answer: left alone (remove them, or start that state directory's daemon to take them back)",
            claim.replicas.join(", "),
            claim.instance.describe()
        );
    }
    Ok(())
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
    let plan = crate::plan::load_with(&plan_path, opts)?;
    let root = state_dir::root(args.state_dir.as_deref().or(target.state_dir.as_deref()));
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
            let (w, g) = tracing_appender::non_blocking(f);
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
