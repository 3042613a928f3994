//! A daemon for a plan with several services (`[[services]]`): each
//! service keeps what a single-service daemon has — its own state
//! directory and lock, token, runtime, router, controller, guards, state
//! and journal — and they share one public listener, which picks the
//! service by Host and path prefix (`crate::proxy::Routes`), and one admin
//! API, which picks it by the `X-Cutover-Service` header
//! (`crate::api::fleet`).
//!
//! The steps are the single-service daemon's (`steps`), once per service:
//! every service's directory is claimed before anything is bound, and the
//! public listener serves only once every controller has restored its
//! routing table.

use super::steps::{
    Claim, Sockets, abort_on_stop, announce, build_router, deploy_plan_canary, owned_runtime,
    raise_open_file_limit, refuse_remote_admin, serve_public, spawn_controller,
};
use crate::api::server::ApiState;
use crate::controller::{ControllerDeps, ControllerHandle};
use crate::metrics::Metrics;
use crate::plan::services::Fleet;
use crate::proxy::{Route, Router, Routes};
use crate::runtime::Runtime;
use crate::state_dir::ServiceDir;
use color_eyre::eyre::{Result, eyre};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What a daemon for several services needs to start.
pub struct FleetConfig {
    pub fleet: Fleet,
    /// Root state directory; each service's directory is made inside it.
    pub state_root: PathBuf,
    pub allow_remote_admin: bool,
    /// Deploy each plan's `[canary]` on a fresh start.
    pub deploy_canary: bool,
    /// Use this runtime for every service instead of the plans' (tests).
    pub runtime: Option<Arc<dyn Runtime>>,
    /// Extra labels on every replica (tests use one per test).
    pub labels: std::collections::BTreeMap<String, String>,
}

/// One service of a running fleet daemon.
pub struct ServiceCore {
    pub name: String,
    pub dir: ServiceDir,
    pub token: String,
    pub router: Router,
    pub controller: ControllerHandle,
    journal: crate::journal::SharedJournal,
    _lock: crate::lock::HeldLock,
}

/// A daemon with several services, running in this process.
pub struct RunningFleet {
    pub public_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub services: Vec<ServiceCore>,
    /// Its release trains and approvals (`crate::train`).
    pub trains: crate::train::Trains,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningFleet {
    /// The service called `name`.
    pub fn service(&self, name: &str) -> Option<&ServiceCore> {
        self.services.iter().find(|s| s.name == name)
    }

    /// A client for `name`'s admin API (its token, its header).
    pub fn client(&self, name: &str) -> Option<crate::api::client::Client> {
        let s = self.service(name)?;
        Some(crate::api::client::Client::new(self.admin_addr, s.token.clone()).for_service(name))
    }

    /// Stop accepting, finish in-flight requests (bounded), close every
    /// journal with its final state.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
        for s in &self.services {
            if let Err(e) = s.journal.close_with_snapshot(s.controller.state()) {
                tracing::warn!("closing the journal of {}: {e}", s.name);
            }
        }
    }
}

/// One service started: what the fleet keeps of it and shares.
struct Started {
    core: ServiceCore,
    route: Route,
    api: (String, ApiState),
    /// Aborts its controller when the daemon stops.
    task: JoinHandle<()>,
}

/// A single-service daemon's steps for `s`, minus the listeners: runtime,
/// router, controller (waited for until it has restored its routing
/// table), the plan's canary on a fresh start.
async fn start_service(
    cfg: &FleetConfig,
    s: &crate::plan::services::Service,
    claim: Claim,
    at: super::steps::Addresses,
    stop_rx: &watch::Receiver<bool>,
) -> Result<Started> {
    let plan = &s.plan;
    let runtime = owned_runtime(cfg.runtime.clone(), plan, &claim, at.admin).await?;
    let metrics = Arc::new(Metrics::new());
    let router = build_router(plan, &claim.dir, metrics.clone()).await?;
    let mut deps = ControllerDeps::new(
        plan.clone(),
        runtime.clone(),
        router.clone(),
        metrics.clone(),
        claim.dir.path.clone(),
    );
    deps.public_addr = at.public.to_string();
    deps.labels = cfg.labels.clone();
    let spawned = spawn_controller(deps, &claim.dir, &plan.service)?;
    spawned.handle.started().await;
    if spawned.fresh && cfg.deploy_canary && plan.canary.is_some() {
        deploy_plan_canary(spawned.handle.clone());
    }
    let api = ApiState {
        controller: spawned.handle.clone(),
        metrics,
        runtime: Some(runtime),
        token: claim.token.clone().into(),
        read_token: Some(claim.dir.ensure_read_token()?.into()),
        instance: claim.instance_id.clone().into(),
        plan: Some(Arc::new(plan.clone())),
    };
    Ok(Started {
        api: (plan.service.clone(), api),
        route: Route {
            name: plan.service.clone(),
            hosts: s.hosts.clone(),
            prefix: s.path_prefix.clone(),
            router: router.clone(),
        },
        task: abort_on_stop(spawned.task, stop_rx),
        core: ServiceCore {
            name: plan.service.clone(),
            dir: claim.dir,
            token: claim.token,
            router,
            controller: spawned.handle,
            journal: spawned.journal,
            _lock: claim.lock,
        },
    })
}

/// Start a daemon for every service of `cfg.fleet` in the current runtime.
pub async fn start_fleet(cfg: FleetConfig) -> Result<RunningFleet> {
    let first = &cfg
        .fleet
        .services
        .first()
        .ok_or_else(|| eyre!("a plan with [[services]] needs at least one"))?
        .plan;
    raise_open_file_limit();
    refuse_remote_admin(first, cfg.allow_remote_admin)?;
    // Every directory claimed before anything is bound: a service another
    // daemon runs stops this one before it takes a port. No patience for a
    // live holder, the dead holder's grace as for one service (`take_lock`).
    let mut claims = Vec::new();
    for s in &cfg.fleet.services {
        claims.push(Claim::take(&cfg.state_root, &s.plan.service, Duration::ZERO).await?);
    }
    let sockets = Sockets::open(None, first)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut routes = Vec::new();
    let mut apis = Vec::new();
    let mut tasks = Vec::new();
    let mut cores = Vec::new();
    for (s, claim) in cfg.fleet.services.iter().zip(claims) {
        let started = start_service(&cfg, s, claim, sockets.at, &stop_rx).await?;
        apis.push(started.api);
        routes.push(started.route);
        tasks.push(started.task);
        cores.push(started.core);
    }
    // The longest drain of any service bounds the public listener's grace.
    let grace = cfg
        .fleet
        .services
        .iter()
        .map(|s| s.plan.drain.timeout.get())
        .max()
        .unwrap_or_default();
    tasks.push(serve_public(
        sockets.public,
        Routes::new(routes),
        &stop_rx,
        grace,
        sockets.at.public,
    )?);
    let trains = start_trains(&cfg, &cores, &stop_rx, &mut tasks)?;
    let access = crate::api::train::Access::of(&apis);
    let routes = crate::api::fleet::fleet_router(apis)
        .merge(crate::api::train::routes(trains.clone(), access));
    let stop = super::steps::stopped(stop_rx.clone());
    let admin = sockets.admin;
    tasks.push(tokio::spawn(async move {
        if let Err(e) = crate::api::server::serve_routes(admin, routes, stop).await {
            tracing::error!(error = %e, "admin API stopped");
        }
    }));
    for c in &cores {
        announce(&c.dir, &c.name, &c.router, sockets.at)?;
    }
    Ok(RunningFleet {
        public_addr: sockets.at.public,
        admin_addr: sockets.at.admin,
        services: cores,
        trains,
        stop: stop_tx,
        tasks,
    })
}

/// The daemon's trains: read back from the state root (a train that was
/// running or aborting carries on), run by a task beside the controllers.
fn start_trains(
    cfg: &FleetConfig,
    cores: &[ServiceCore],
    stop_rx: &watch::Receiver<bool>,
    tasks: &mut Vec<JoinHandle<()>>,
) -> Result<crate::train::Trains> {
    let services = cores
        .iter()
        .zip(&cfg.fleet.services)
        .map(|(c, s)| crate::train::TrainService {
            name: c.name.clone(),
            plan: s.plan.clone(),
            controller: c.controller.clone(),
        })
        .collect();
    let trains = crate::train::Trains::open(&cfg.state_root, services)
        .map_err(|e| eyre!("cannot read the trains: {e}"))?;
    tasks.push(crate::train::runner::spawn(trains.clone(), stop_rx.clone()));
    Ok(trains)
}
