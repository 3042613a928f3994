//! The one task that runs the release machine: it turns commands, runtime
//! events, health transitions, the proxy's error trip and timers into
//! [`Input`]s, and executes the [`Effect`]s that come back.
//!
//! Quick effects (weight, trip, pool membership, events, the state file) run
//! here at once; slow ones (start, warm-up, drain, stop, remove, resize) go
//! to the worker in `ops.rs`, which reports back with facts. Timers:
//! guards and deadlines every 250 ms, a snapshot and a metrics tick every
//! second, one-shot resource stats every 2 s.
//!
//! Pool membership follows health: only healthy replicas of a role are
//! members; unhealthy or exited ones leave at once; a planned stop or drain
//! takes the role's members out first. Rollback never waits on the canary:
//! the weight goes to 0 before anything else, in this task, and the drain
//! and removal follow on the worker.

use super::effect::{Effect, Input};
use super::machine::{Machine, refused_event};
use super::ops::{self, Op, Registry, Report, Tracked};
use super::persist::{self, OwnedReplica, PersistedState};
use super::probe::HttpProbe;
use super::seams::{EventSink, GuardFacts, GuardFn, HealthChecker, HealthEvent, basic_guards};
use super::view::{self, ViewParts};
use super::{Command, ControllerHandle};
use crate::metrics::Metrics;
use crate::model::{
    ActionReply, Event, EventKind, GuardStatus, GuardVerdict, Phase, ReplicaStatus, Role, StateView,
};
use crate::plan::Plan;
use crate::proxy::Router;
use crate::runtime::{Replica, ReplicaStats, Runtime, RuntimeEvent};
use chrono::Utc;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

/// How often guards and deadlines are evaluated (the issue asks for ≥ 4/s).
pub const GUARD_EVERY: Duration = Duration::from_millis(250);
/// How often resource stats are sampled (one-shot, never streamed).
pub const STATS_EVERY: Duration = Duration::from_secs(2);
/// A post-promote / post-rollback hook is killed after this long.
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(60);

/// Everything the controller task needs.
pub struct ControllerDeps {
    pub plan: Plan,
    pub runtime: Arc<dyn Runtime>,
    pub router: Router,
    pub metrics: Arc<Metrics>,
    /// The service's state directory (`state.json` lives there).
    pub state_dir: PathBuf,
    /// Where events are journaled, besides the broadcast.
    pub journal: Option<Arc<dyn EventSink>>,
    /// The state loaded by [`persist::load`], if any.
    pub restored: Option<PersistedState>,
    /// Warnings from loading the state (journaled at start).
    pub warnings: Vec<String>,
    /// Public listener address, shown in the state.
    pub public_addr: String,
    /// Extra labels on every replica started (tests use a per-test label).
    pub labels: BTreeMap<String, String>,
    pub guard: GuardFn,
    pub health: Arc<dyn HealthChecker>,
}

impl ControllerDeps {
    /// Deps with the built-in guard evaluation and HTTP health checks, no
    /// journal, nothing restored.
    pub fn new(
        plan: Plan,
        runtime: Arc<dyn Runtime>,
        router: Router,
        metrics: Arc<Metrics>,
        state_dir: PathBuf,
    ) -> Self {
        let public_addr = plan.listen.public.to_string();
        ControllerDeps {
            plan,
            runtime,
            router,
            metrics,
            state_dir,
            journal: None,
            restored: None,
            warnings: Vec::new(),
            public_addr,
            labels: BTreeMap::new(),
            guard: Arc::new(basic_guards),
            health: Arc::new(HttpProbe::default()),
        }
    }
}

/// Start the controller task. It runs until every handle is dropped.
pub fn spawn(deps: ControllerDeps) -> (ControllerHandle, JoinHandle<()>) {
    let (cmd_tx, cmd_rx) = mpsc::channel::<Command>(64);
    let (events, _) = broadcast::channel(4096);
    let machine = match &deps.restored {
        Some(s) => Machine::restore(deps.plan.clone(), s.release.clone()),
        None => Machine::new(deps.plan.clone()),
    };
    let registry: Registry = Arc::new(Mutex::new(BTreeMap::new()));
    let (reports_tx, reports_rx) = mpsc::unbounded_channel();
    let (ops_tx, ops_rx) = mpsc::unbounded_channel();
    let worker = ops::spawn_worker(
        deps.runtime.clone(),
        deps.router.clone(),
        registry.clone(),
        ops_rx,
        reports_tx.clone(),
    );
    let (health_tx, health_rx) = mpsc::unbounded_channel();
    let (stats_tx, stats_rx) = mpsc::unbounded_channel();
    let mut driver = Driver {
        kind: deps.runtime.kind(),
        machine,
        registry,
        events: events.clone(),
        seq: 0,
        state_tx: None,
        ops_tx,
        reports_tx,
        health_tx,
        stats_tx,
        sampling: false,
        guards: Vec::new(),
        step_base_errors: 0,
        step_base_requests: 0,
        deps,
    };
    let first = driver.view();
    let (state_tx, state_rx) = watch::channel(first);
    driver.state_tx = Some(state_tx);
    let handle = ControllerHandle::new(cmd_tx, state_rx, events);
    let task = tokio::spawn(async move {
        driver.run(cmd_rx, reports_rx, health_rx, stats_rx).await;
        worker.abort();
    });
    (handle, task)
}

struct Driver {
    deps: ControllerDeps,
    kind: &'static str,
    machine: Machine,
    registry: Registry,
    events: broadcast::Sender<Event>,
    seq: u64,
    state_tx: Option<watch::Sender<StateView>>,
    ops_tx: mpsc::UnboundedSender<Op>,
    reports_tx: mpsc::UnboundedSender<Report>,
    health_tx: mpsc::UnboundedSender<HealthEvent>,
    stats_tx: mpsc::UnboundedSender<Vec<(String, ReplicaStats)>>,
    sampling: bool,
    guards: Vec<GuardVerdict>,
    /// Canary `errors_total` when the current step began.
    step_base_errors: u64,
    /// Canary `requests_total` when the current step began.
    step_base_requests: u64,
}

impl Driver {
    async fn run(
        &mut self,
        mut commands: mpsc::Receiver<Command>,
        mut reports: mpsc::UnboundedReceiver<Report>,
        mut health: mpsc::UnboundedReceiver<HealthEvent>,
        mut stats: mpsc::UnboundedReceiver<Vec<(String, ReplicaStats)>>,
    ) {
        let mut runtime_events = Some(self.deps.runtime.subscribe());
        let mut trips = self.deps.router.trips();
        trips.mark_unchanged();
        self.startup().await;
        self.publish();
        let mut guard_tick = tokio::time::interval(GUARD_EVERY);
        let mut second = tokio::time::interval(Duration::from_secs(1));
        let mut stats_tick = tokio::time::interval(STATS_EVERY);
        for t in [&mut guard_tick, &mut second, &mut stats_tick] {
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        }
        loop {
            tokio::select! {
                biased;
                changed = trips.changed() => match changed {
                    Ok(()) => self.tripped(),
                    Err(_) => trips = watch::channel(0).1,
                },
                cmd = commands.recv() => match cmd {
                    Some(cmd) => self.command(cmd),
                    None => break,
                },
                Some(r) = reports.recv() => self.report(r),
                Some(h) = health.recv() => self.health(h),
                ev = recv_runtime(&mut runtime_events) => match ev {
                    Ok(ev) => self.runtime_event(ev),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        self.emit(EventKind::Warning { message: format!("missed {n} runtime events (the controller was too slow)") });
                    }
                    Err(broadcast::error::RecvError::Closed) => runtime_events = None,
                },
                _ = guard_tick.tick() => self.guard_tick(),
                _ = second.tick() => self.second(),
                _ = stats_tick.tick() => self.sample_stats(),
                Some(s) = stats.recv() => self.stats(s),
            }
            self.publish();
        }
    }

    // ---- startup and reconcile -----------------------------------------

    async fn startup(&mut self) {
        for w in std::mem::take(&mut self.deps.warnings) {
            self.emit(EventKind::Warning { message: w });
        }
        let service = self.deps.plan.service.clone();
        let grace = self.deps.plan.drain.stop_grace.get();
        // Only running replicas are adopted; dead ones of ours are removed
        // (and said so); look-alikes without cutover's labels are left alone.
        let listed = match self.deps.runtime.inventory(&service).await {
            Ok(inv) => {
                for message in inv.foreign {
                    self.emit(EventKind::Warning { message });
                }
                for (r, how) in inv.exited {
                    let outcome = match self.deps.runtime.remove(&r).await {
                        Ok(()) => "removed".to_string(),
                        Err(e) => format!("could not be removed: {e}"),
                    };
                    self.emit(EventKind::Warning {
                        message: format!("reconcile: {} replica {} ({}, release {}) {how} while nobody watched; {outcome}", r.role, r.id, r.version, r.release),
                    });
                }
                Some(inv.running)
            }
            Err(e) => {
                self.emit(EventKind::Warning {
                    message: format!("reconcile: cannot list the replicas of {service}: {e}"),
                });
                None
            }
        };
        let Some(restored) = self.deps.restored.take() else {
            // Fresh start: nothing is ours yet; leftovers of this service go.
            if let Some(listed) = listed.filter(|l| !l.is_empty()) {
                self.op(Op::Cleanup {
                    replicas: listed,
                    grace,
                });
            }
            if let Some(spec) = self.machine.spec(Role::Stable) {
                self.start(spec);
            }
            self.persist();
            return;
        };

        // Restore the weight and the trip at once, then adopt.
        let resume = self.machine.resume_effects();
        let (quick, slow): (Vec<_>, Vec<_>) = resume
            .into_iter()
            .partition(|e| matches!(e, Effect::SetWeight { .. } | Effect::ArmErrorTrip { .. }));
        self.execute(quick);
        let owned: BTreeMap<String, OwnedReplica> = restored
            .replicas
            .iter()
            .map(|r| (r.id.clone(), r.clone()))
            .collect();
        let present: Option<BTreeSet<String>> = listed
            .as_ref()
            .map(|l| l.iter().map(|r| r.id.clone()).collect());
        let mut adopted = 0;
        let mut gone = Vec::new();
        for r in owned.values() {
            if present.as_ref().is_some_and(|p| !p.contains(&r.id)) {
                gone.push(r.clone());
                continue;
            }
            let replica = Replica::from(r);
            let mut t = Tracked::new(replica.clone(), ReplicaStatus::Healthy);
            t.health = Some(self.deps.health.spawn(
                replica,
                self.deps.plan.health.clone(),
                true,
                self.health_tx.clone(),
            ));
            ops::lock(&self.registry).insert(r.id.clone(), t);
            adopted += 1;
        }
        for role in Role::ALL {
            self.sync_pool(role);
        }
        let orphans: Vec<Replica> = listed
            .unwrap_or_default()
            .into_iter()
            .filter(|r| !owned.contains_key(&r.id))
            .collect();
        let st = self.machine.state().clone();
        self.emit(EventKind::Warning {
            message: format!(
                "restored release {} in phase {} at canary weight {} (saved {}); adopted {adopted} replica(s), {} gone, {} orphan(s) to remove",
                st.release,
                st.phase,
                super::machine::pct(st.weight_permille),
                restored.saved_at.to_rfc3339(),
                gone.len(),
                orphans.len()
            ),
        });
        if !orphans.is_empty() {
            self.op(Op::Cleanup {
                replicas: orphans,
                grace,
            });
        }
        self.execute(slow);
        for r in gone {
            self.feed(Input::ReplicaExited {
                role: r.role,
                id: r.id.clone(),
                detail: "gone while the daemon was down".into(),
            });
        }
        if st.phase == Phase::Deploying && ops::of_role(&self.registry, Role::Canary).is_empty() {
            self.feed(Input::CanaryStartFailed {
                detail: "the daemon restarted before the canary started".into(),
            });
        }
        if ops::of_role(&self.registry, Role::Stable).is_empty()
            && let Some(spec) = self.machine.spec(Role::Stable)
        {
            self.start(spec);
        }
        self.persist();
    }

    // ---- inputs --------------------------------------------------------

    fn command(&mut self, cmd: Command) {
        let Command { request, reply } = cmd;
        match self
            .machine
            .apply(Input::Action(request.clone()), Utc::now())
        {
            Ok(fx) => {
                let detail = fx
                    .iter()
                    .find_map(|e| match e {
                        Effect::Emit(EventKind::Action {
                            ok: true, detail, ..
                        }) => Some(detail.clone()),
                        _ => None,
                    })
                    .unwrap_or_else(|| "done".into());
                self.execute(fx);
                let state = self.publish();
                let _ = reply.send(Ok(ActionReply {
                    detail,
                    state: Box::new(state),
                }));
            }
            Err(refusal) => {
                self.emit(refused_event(&request, &refusal));
                let _ = reply.send(Err(refusal));
            }
        }
    }

    /// Feed a fact (facts are never refused).
    fn feed(&mut self, input: Input) {
        match self.machine.apply(input, Utc::now()) {
            Ok(fx) => self.execute(fx),
            Err(r) => tracing::error!(refusal = ?r, "the release machine refused a fact"),
        }
    }

    fn report(&mut self, r: Report) {
        match r {
            Report::Started {
                role,
                result: Ok(replicas),
            } => {
                for rep in &replicas {
                    self.emit(EventKind::Replica {
                        role,
                        replica: rep.id.clone(),
                        status: ReplicaStatus::Starting,
                        detail: format!("started at {}", rep.addr),
                    });
                    let handle = self.deps.health.spawn(
                        rep.clone(),
                        self.deps.plan.health.clone(),
                        false,
                        self.health_tx.clone(),
                    );
                    match ops::lock(&self.registry).get_mut(&rep.id) {
                        Some(t) if !t.stopping => t.health = Some(handle),
                        _ => handle.abort(),
                    }
                }
                if role == Role::Canary {
                    let ids = replicas.iter().map(|r| r.id.clone()).collect();
                    self.feed(Input::CanaryStarted { replicas: ids });
                }
                self.persist();
            }
            Report::Started {
                role: Role::Canary,
                result: Err(detail),
            } => {
                self.feed(Input::CanaryStartFailed { detail });
            }
            Report::Started {
                role: Role::Stable,
                result: Err(detail),
            } => {
                self.emit(EventKind::Warning {
                    message: format!("stable could not start: {detail}"),
                });
            }
            Report::Fact(input) => {
                let removed = matches!(input, Input::Removed { .. });
                self.feed(input);
                if removed {
                    self.persist();
                }
            }
            Report::Note(message) => self.emit(EventKind::Warning { message }),
        }
    }

    fn health(&mut self, h: HealthEvent) {
        let role = {
            let mut reg = ops::lock(&self.registry);
            let Some(t) = reg.get_mut(&h.replica_id) else {
                return;
            };
            if t.stopping || !t.status.is_alive() || t.status == h.status {
                return;
            }
            t.status = h.status;
            t.replica.role
        };
        self.emit(EventKind::Replica {
            role,
            replica: h.replica_id.clone(),
            status: h.status,
            detail: h.detail,
        });
        self.sync_pool(role);
        let id = h.replica_id;
        self.feed(match h.status {
            ReplicaStatus::Healthy => Input::ReplicaHealthy { role, id },
            _ => Input::ReplicaUnhealthy { role, id },
        });
    }

    fn runtime_event(&mut self, ev: RuntimeEvent) {
        match ev {
            RuntimeEvent::Exited {
                id,
                code,
                oom_killed,
            } => {
                let (role, planned, status) = {
                    let mut reg = ops::lock(&self.registry);
                    let Some(t) = reg.get_mut(&id) else { return };
                    t.exit_code = Some(code);
                    if let Some(h) = t.health.take() {
                        h.abort();
                    }
                    // The OOM killer is never a planned stop, even mid-drain.
                    t.status = if oom_killed {
                        ReplicaStatus::OomKilled
                    } else if t.stopping {
                        ReplicaStatus::Stopped
                    } else {
                        ReplicaStatus::Exited
                    };
                    (t.replica.role, t.stopping, t.status)
                };
                let how = crate::runtime::exit_detail(code, oom_killed);
                let detail = if status == ReplicaStatus::Stopped {
                    format!("stopped: {how}")
                } else {
                    format!("{how} (on its own)")
                };
                self.emit(EventKind::Replica {
                    role,
                    replica: id.clone(),
                    status,
                    detail: detail.clone(),
                });
                if !planned {
                    self.sync_pool(role);
                    self.feed(Input::ReplicaExited { role, id, detail });
                    let alive = ops::lock(&self.registry)
                        .values()
                        .filter(|t| t.replica.role == Role::Stable && t.status.is_alive())
                        .count();
                    if role == Role::Stable && alive == 0 {
                        self.emit(EventKind::Warning {
                            message: "stable has no replica left: requests it should serve fail until one is back".into(),
                        });
                    }
                }
            }
            RuntimeEvent::Reachable { ok, detail } => self.emit(EventKind::Warning {
                message: if ok {
                    format!("runtime reachable again: {detail}")
                } else {
                    format!("runtime unreachable: {detail}")
                },
            }),
        }
    }

    /// The proxy's error trip fired: it already set the weight to 0 itself.
    fn tripped(&mut self) {
        let limit = self.deps.plan.guard.max_errors.unwrap_or(0);
        let errors = self
            .deps
            .metrics
            .errors_total(Role::Canary)
            .saturating_sub(self.step_base_errors);
        let verdict = GuardVerdict {
            name: "max_errors".into(),
            value: Some(errors as f64),
            threshold: limit as f64,
            status: GuardStatus::Breach,
            detail: format!(
                "{errors} canary errors since step start reached the limit {limit}; the proxy set the weight to 0 on the request that crossed it"
            ),
        };
        self.feed(Input::Breach { verdict });
    }

    fn guard_tick(&mut self) {
        self.feed(Input::Tick);
        let st = self.machine.state();
        if !matches!(st.phase, Phase::Canary | Phase::Paused) {
            self.guards.clear();
            return;
        }
        let muted = st.muted;
        let plan = &self.deps.plan;
        let window = plan.guard.window.get();
        let canary = self.deps.metrics.stats(Role::Canary, window);
        let stable = self.deps.metrics.stats(Role::Stable, window);
        let errors = self
            .deps
            .metrics
            .errors_total(Role::Canary)
            .saturating_sub(self.step_base_errors);
        let facts = GuardFacts {
            plan,
            canary: &canary,
            stable: &stable,
            canary_errors_since_step: errors,
            canary_requests_since_step: self
                .deps
                .metrics
                .requests_total(Role::Canary)
                .saturating_sub(self.step_base_requests),
            muted,
        };
        self.guards = (self.deps.guard)(&facts);
        if muted {
            return;
        }
        if let Some(b) = self
            .guards
            .iter()
            .find(|v| v.status == GuardStatus::Breach)
            .cloned()
        {
            self.feed(Input::Breach { verdict: b });
        }
    }

    fn second(&mut self) {
        let state = self.view();
        let window = self.deps.plan.guard.window.get();
        let canary = state
            .canary
            .is_some()
            .then(|| self.deps.metrics.stats(Role::Canary, window));
        self.emit(EventKind::Snapshot {
            state: Box::new(state),
        });
        self.emit(EventKind::Tick {
            stable: self.deps.metrics.stats(Role::Stable, window),
            canary,
        });
    }

    fn sample_stats(&mut self) {
        if self.sampling {
            return;
        }
        let replicas: Vec<Replica> = ops::lock(&self.registry)
            .values()
            .filter(|t| t.status.is_alive())
            .map(|t| t.replica.clone())
            .collect();
        if replicas.is_empty() {
            return;
        }
        self.sampling = true;
        let runtime = self.deps.runtime.clone();
        let tx = self.stats_tx.clone();
        tokio::spawn(async move {
            let mut out = Vec::new();
            for r in replicas {
                if let Ok(s) = runtime.stats(&r).await {
                    out.push((r.id, s));
                }
            }
            let _ = tx.send(out);
        });
    }

    fn stats(&mut self, samples: Vec<(String, ReplicaStats)>) {
        self.sampling = false;
        let mut reg = ops::lock(&self.registry);
        for (id, s) in samples {
            if let Some(t) = reg.get_mut(&id) {
                t.stats = s;
            }
        }
    }

    // ---- effects -------------------------------------------------------

    fn execute(&mut self, fx: Vec<Effect>) {
        for e in fx {
            match e {
                Effect::SetWeight { permille, .. } => {
                    self.deps.router.set_weight(permille);
                }
                Effect::StartCanary { spec } => self.start(spec),
                Effect::Warmup => {
                    if let Some(w) = &self.deps.plan.warmup {
                        self.op(Op::Warmup {
                            role: Role::Canary,
                            path: w.path.clone(),
                            requests: w.requests,
                        });
                    }
                }
                Effect::ArmErrorTrip { limit } => self.deps.router.arm_error_trip(limit),
                Effect::Drain { role, timeout } => {
                    self.leave_pool(role);
                    self.op(Op::Drain { role, timeout });
                }
                Effect::Stop { role, grace } => {
                    self.leave_pool(role);
                    self.op(Op::Stop { role, grace });
                }
                Effect::Remove { role } => self.op(Op::Remove { role }),
                Effect::SwapRoles => self.swap_roles(),
                Effect::ResetMetrics { role } => {
                    self.deps.metrics.reset(role);
                    if role == Role::Canary {
                        self.step_base_errors = self.deps.metrics.errors_total(Role::Canary);
                        self.step_base_requests = self.deps.metrics.requests_total(Role::Canary);
                    }
                }
                Effect::Resize { role, cpus, memory } => self.op(Op::Resize { role, cpus, memory }),
                Effect::RunHook { name, command } => self.run_hook(name, command),
                Effect::Persist => self.persist(),
                Effect::Emit(kind) => self.emit(kind),
            }
        }
    }

    fn start(&mut self, mut spec: crate::runtime::VersionSpec) {
        spec.labels.extend(self.deps.labels.clone());
        self.op(Op::Start { spec });
    }

    fn op(&self, op: Op) {
        let _ = self.ops_tx.send(op);
    }

    /// A planned stop or drain: no new requests for `role`, at once.
    fn leave_pool(&mut self, role: Role) {
        {
            let mut reg = ops::lock(&self.registry);
            for t in reg.values_mut().filter(|t| t.replica.role == role) {
                t.stopping = true;
                if t.status.is_alive() {
                    t.status = ReplicaStatus::Draining;
                }
            }
        }
        self.deps.router.set_members(role, Vec::new());
    }

    /// Members of `role` = its healthy replicas not being stopped.
    fn sync_pool(&self, role: Role) {
        let addrs: Vec<String> = ops::lock(&self.registry)
            .values()
            .filter(|t| t.replica.role == role && t.status == ReplicaStatus::Healthy && !t.stopping)
            .map(|t| t.replica.addr.clone())
            .collect();
        self.deps.router.set_members(role, addrs);
    }

    /// The canary's replicas become the stable pool; then weight 0.
    fn swap_roles(&mut self) {
        {
            let mut reg = ops::lock(&self.registry);
            for t in reg.values_mut().filter(|t| t.replica.role == Role::Canary) {
                t.replica.role = Role::Stable;
            }
        }
        self.sync_pool(Role::Stable);
        self.deps.router.set_weight(0);
        self.deps.router.set_members(Role::Canary, Vec::new());
    }

    fn run_hook(&self, name: String, command: Vec<String>) {
        let tx = self.reports_tx.clone();
        let dir = self.deps.state_dir.clone();
        tokio::spawn(async move {
            let shown = command.join(" ");
            let mut cmd = tokio::process::Command::new(&command[0]);
            cmd.args(&command[1..]).current_dir(&dir).kill_on_drop(true);
            let note = match tokio::time::timeout(HOOK_TIMEOUT, cmd.output()).await {
                Ok(Ok(out)) => {
                    let text = String::from_utf8_lossy(&out.stdout).into_owned()
                        + &String::from_utf8_lossy(&out.stderr);
                    let tail: String = text
                        .trim()
                        .chars()
                        .rev()
                        .take(2000)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect();
                    format!("hook {name} `{shown}` exited with {}: {tail}", out.status)
                }
                Ok(Err(e)) => format!("hook {name} `{shown}` could not run: {e}"),
                Err(_) => format!(
                    "hook {name} `{shown}` killed after {}s",
                    HOOK_TIMEOUT.as_secs()
                ),
            };
            let _ = tx.send(Report::Note(note));
        });
    }

    fn persist(&mut self) {
        let replicas: Vec<OwnedReplica> = ops::lock(&self.registry)
            .values()
            .map(|t| OwnedReplica::from(&t.replica))
            .collect();
        let state = PersistedState::new(
            self.deps.plan.service.clone(),
            self.machine.state().clone(),
            replicas,
            Utc::now(),
        );
        if let Err(e) = persist::save(&self.deps.state_dir, &state) {
            tracing::error!(error = %e, "cannot persist the release state");
            self.emit(EventKind::Warning {
                message: format!("{e} (a restart would not know the current release state)"),
            });
        }
    }

    fn emit(&mut self, kind: EventKind) {
        self.seq += 1;
        let event = Event {
            seq: self.seq,
            at: Utc::now(),
            kind,
        };
        if let Some(j) = &self.deps.journal {
            j.record(&event);
        }
        let _ = self.events.send(event);
    }

    fn view(&self) -> StateView {
        let reg = ops::lock(&self.registry);
        view::build(&ViewParts {
            machine: &self.machine,
            replicas: &reg,
            metrics: &self.deps.metrics,
            router: &self.deps.router,
            guards: &self.guards,
            public_addr: &self.deps.public_addr,
            runtime: self.kind,
            now: Utc::now(),
        })
    }

    fn publish(&self) -> StateView {
        let v = self.view();
        if let Some(tx) = &self.state_tx {
            tx.send_replace(v.clone());
        }
        v
    }
}

async fn recv_runtime(
    rx: &mut Option<broadcast::Receiver<RuntimeEvent>>,
) -> Result<RuntimeEvent, broadcast::error::RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
