//! The steps [`super::start`] takes, each on its own, in the order it
//! takes them: the checks, the state directory's lock, the sockets, the
//! runtime bound to this instance, the router, the controller, then
//! serving (the public proxy, the admin API, the takeover listener) and
//! the address files.

use super::takeover;
use super::{connect_runtime, listeners};
use crate::api::server::ApiState;
use crate::controller::{ControllerDeps, ControllerHandle, persist};
use crate::metrics::Metrics;
use crate::model::{Action, ActionRequest, Actor};
use crate::plan::Plan;
use crate::proxy::{ProxyOptions, Router};
use crate::runtime::Runtime;
use crate::state_dir::ServiceDir;
use color_eyre::eyre::{Result, WrapErr, bail, eyre};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Raise the process's open-file limit as far as it goes (logged either way).
pub(super) fn raise_open_file_limit() {
    match crate::proxy::conn_limit::raise_open_file_limit() {
        Ok(l) if l.now > l.was => {
            tracing::info!("raised the open-file limit from {} to {}", l.was, l.now);
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("could not raise the open-file limit: {e}"),
    }
}

/// Refuse a non-loopback admin address unless the flag or the plan allow it.
pub(super) fn refuse_remote_admin(plan: &Plan, allowed_by_flag: bool) -> Result<()> {
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
pub(super) struct Claim {
    pub(super) dir: ServiceDir,
    pub(super) lock: crate::lock::HeldLock,
    pub(super) token: String,
    pub(super) instance_id: String,
}

impl Claim {
    pub(super) async fn take(
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
pub(super) struct Sockets {
    /// The public listeners (one per proxy worker).
    pub(super) public: Vec<std::net::TcpListener>,
    pub(super) admin: TcpListener,
    /// A second handle on every listener, lent to a successor.
    pub(super) kept: listeners::Listeners,
    pub(super) at: Addresses,
}

/// Where the daemon listens, and how it got its listeners.
#[derive(Clone, Copy)]
pub(super) struct Addresses {
    pub(super) public: SocketAddr,
    pub(super) admin: SocketAddr,
    pub(super) origin: listeners::Origin,
}

impl Sockets {
    /// The listeners given, else systemd's, else the plan's addresses bound.
    pub(super) fn open(given: Option<listeners::Listeners>, plan: &Plan) -> Result<Sockets> {
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
pub(super) async fn owned_runtime(
    given: Option<Arc<dyn Runtime>>,
    plan: &Plan,
    claim: &Claim,
    admin_addr: SocketAddr,
) -> Result<Arc<dyn Runtime>> {
    let runtime = match given {
        Some(r) => r,
        None => connect_runtime(plan, &claim.dir.path).await?,
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
pub(super) async fn build_router(
    plan: &Plan,
    dir: &ServiceDir,
    metrics: Arc<Metrics>,
) -> Result<Router> {
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
pub(super) struct SpawnedController {
    pub(super) handle: ControllerHandle,
    pub(super) task: JoinHandle<()>,
    pub(super) journal: crate::journal::SharedJournal,
    /// Nothing was restored from the state directory.
    pub(super) fresh: bool,
}

/// Load the saved state, open the journal and spawn the controller.
pub(super) fn spawn_controller(
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
pub(super) async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Serve the public listeners on the proxy's own threads; the task ends
/// when they do.
pub(super) fn serve_public(
    public: Vec<std::net::TcpListener>,
    routes: impl Into<crate::proxy::Routes>,
    stop_rx: &watch::Receiver<bool>,
    grace: Duration,
    public_addr: SocketAddr,
) -> Result<JoinHandle<()>> {
    let proxy_threads = crate::proxy::serve_listeners(public, routes, stop_rx.clone(), grace)
        .wrap_err_with(|| format!("cannot serve on {public_addr} (public)"))?;
    Ok(tokio::task::spawn_blocking(move || {
        for t in proxy_threads {
            let _ = t.join();
        }
    }))
}

/// Deploy the plan's `[canary]` in the background, as the system.
pub(super) fn deploy_plan_canary(handle: ControllerHandle) {
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
pub(super) fn spawn_admin_api(
    listener: TcpListener,
    state: ApiState,
    stop_rx: &watch::Receiver<bool>,
) -> JoinHandle<()> {
    let stop = stopped(stop_rx.clone());
    // A daemon of one service checks a request that names a service names
    // this one (a stale address file must not reach another daemon).
    let name = state.controller.state().service;
    let routes = crate::api::fleet::fleet_router(vec![(name, state)]);
    tokio::spawn(async move {
        if let Err(e) = crate::api::server::serve_routes(listener, routes, stop).await {
            tracing::error!(error = %e, "admin API stopped");
        }
    })
}

/// Abort the controller's task when told to stop.
pub(super) fn abort_on_stop(
    task: JoinHandle<()>,
    stop_rx: &watch::Receiver<bool>,
) -> JoinHandle<()> {
    let stop = stopped(stop_rx.clone());
    tokio::spawn(async move {
        stop.await;
        task.abort();
    })
}

/// Listen for a successor on the takeover socket until one serves or the
/// daemon stops.
pub(super) fn spawn_takeover_listener(
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
pub(super) fn announce(
    dir: &ServiceDir,
    service: &str,
    router: &Router,
    at: Addresses,
) -> Result<()> {
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
/// is handing over, and a few seconds (`lock::DEAD_HOLDER_GRACE`) for a
/// dead daemon's lock that a process it started still shares: a restart
/// right after a crash starts, while a live daemon is refused at once.
pub(super) async fn take_lock(
    dir: &ServiceDir,
    service: &str,
    patience: Duration,
) -> Result<crate::lock::HeldLock> {
    let path = dir.file("daemon.lock");
    crate::lock::lock_within(&path, patience, |e| {
        if let crate::lock::LockError::Held { holder_gone: true, .. } = e {
            tracing::warn!("{e}; waiting up to {:?} for it", crate::lock::DEAD_HOLDER_GRACE);
        }
    })
        .await
        .map_err(|e| match e {
            crate::lock::LockError::Held { holder, holder_gone: true, .. } => eyre!(
                "the cutover daemon that ran service {service:?} from {} ({}) is gone, but {} is still locked {:?} later: a process it started holds the lock (a replica or hook spawned as it died); find it with `fuser -v {}` and stop it, then start again",
                dir.path.display(),
                holder.map_or_else(|| "pid unknown".to_string(), |p| format!("pid {p}")),
                path.display(),
                crate::lock::DEAD_HOLDER_GRACE,
                path.display()
            ),
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
pub(super) async fn refuse_live_owners(runtime: &dyn Runtime, service: &str) -> Result<()> {
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
