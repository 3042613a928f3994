//! The one task that runs the release machine: it turns commands, runtime
//! events, health transitions, the proxy's error trip and timers into
//! [`Input`]s, and executes the [`Effect`]s that come back.
//!
//! Quick effects (weight, trip, pool membership, events) run here at once;
//! the state file is handed to the writer in `writer.rs` (disk I/O never
//! runs on this task, and an action is answered once its change is on disk);
//! slow ones (start, warm-up, drain, stop, remove, resize) go to the worker
//! in `ops.rs`, which reports back with facts. Timers: guards and deadlines
//! every 250 ms, a snapshot and a metrics tick every second, one-shot
//! resource stats every 2 s. Timers are served before commands, reports and
//! health events: they fire at a fixed rate, so they cannot starve the rest,
//! and a flood of commands cannot stretch the guard cadence.
//!
//! Pool membership follows health: only healthy replicas of a role are
//! members; unhealthy or exited ones leave at once; a planned stop or drain
//! takes the role's members out first. Rollback never waits on the canary:
//! the weight goes to 0 before anything else, in this task, and the drain
//! and removal follow on the worker.

use super::bus::EventBus;
use super::effect::{Effect, Input};
use super::machine::{Machine, refused_event};
use super::ops::{self, Op, Registry, Report, Tickets, Tracked};
use super::persist::{OwnedReplica, PersistedState};
use super::probe::HttpProbe;
use super::seams::{EventSink, GuardFacts, GuardFn, HealthChecker, HealthEvent, basic_guards};
use super::view::{self, ViewParts};
use super::writer::StateWriter;
use super::{Command, ControllerHandle};
use crate::metrics::Metrics;
use crate::model::{
    ActionReply, Event, EventKind, GuardStatus, GuardVerdict, Phase, ReplicaStatus, Role, StateView,
};
use crate::plan::{GuardPlan, Plan};
use crate::proxy::Router;
use crate::runtime::{Replica, ReplicaStats, Runtime, RuntimeEvent};
use chrono::Utc;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

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
    /// The state loaded by [`super::persist::load`], if any.
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
/// Aborting it (as a `kill -9` would) also stops its worker at once; the
/// state writer still finishes the save it was handed last.
pub fn spawn(deps: ControllerDeps) -> (ControllerHandle, JoinHandle<()>) {
    let (cmd_tx, cmd_rx) = mpsc::channel::<Command>(64);
    let events = EventBus::new(4096);
    let machine = match &deps.restored {
        Some(s) => Machine::restore(deps.plan.clone(), s.release.clone()),
        None => Machine::new(deps.plan.clone()),
    };
    let registry: Registry = Arc::new(Mutex::new(BTreeMap::new()));
    let tickets = Arc::new(Tickets::default());
    let (reports_tx, reports_rx) = mpsc::unbounded_channel();
    let (ops_tx, ops_rx) = mpsc::unbounded_channel();
    let worker = ops::spawn_worker(
        deps.runtime.clone(),
        deps.router.clone(),
        registry.clone(),
        tickets.clone(),
        ops_rx,
        reports_tx.clone(),
    );
    let (health_tx, health_rx) = mpsc::unbounded_channel();
    let (stats_tx, stats_rx) = mpsc::unbounded_channel();
    let writer = StateWriter::spawn(deps.state_dir.clone(), reports_tx.clone());
    let guard_plan = machine.state().guard(machine.plan()).clone();
    let mut eval_plan = deps.plan.clone();
    eval_plan.guard = guard_plan.clone();
    let (guard_tx, guard_rx) = watch::channel(guard_plan);
    let mut driver = Driver {
        kind: deps.runtime.kind(),
        machine,
        registry,
        tickets,
        drains: [None, None],
        events: events.clone(),
        seq: 0,
        state_tx: None,
        guard_tx,
        ops_tx,
        reports_tx,
        health_tx,
        stats_tx,
        writer,
        sampling: false,
        guards: Vec::new(),
        eval_plan,
        trip_base_errors: 0,
        trip_base_requests: 0,
        stable_starting: false,
        _worker: AbortOnDrop(worker),
        deps,
    };
    let first = driver.view();
    let (state_tx, state_rx) = watch::channel(first);
    driver.state_tx = Some(state_tx);
    let handle = ControllerHandle::new(cmd_tx, state_rx, events, guard_rx);
    let task = tokio::spawn(async move {
        driver.run(cmd_rx, reports_rx, health_rx, stats_rx).await;
    });
    (handle, task)
}

/// Aborts a task when dropped (the worker dies with its driver).
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct Driver {
    deps: ControllerDeps,
    kind: &'static str,
    machine: Machine,
    registry: Registry,
    /// Call-offs of queued stops and removals (a promotion abandoned).
    tickets: Arc<Tickets>,
    /// The drain under way per role (stable, canary), to call it off.
    drains: [Option<CancellationToken>; 2],
    events: EventBus,
    seq: u64,
    state_tx: Option<watch::Sender<StateView>>,
    /// The guard thresholds in force, for clients (`GET /v1/guards`).
    guard_tx: watch::Sender<GuardPlan>,
    ops_tx: mpsc::UnboundedSender<Op>,
    reports_tx: mpsc::UnboundedSender<Report>,
    health_tx: mpsc::UnboundedSender<HealthEvent>,
    stats_tx: mpsc::UnboundedSender<Vec<(String, ReplicaStats)>>,
    writer: StateWriter,
    sampling: bool,
    guards: Vec<GuardVerdict>,
    /// The plan with the guard thresholds in force, as guards are judged.
    eval_plan: Plan,
    /// Canary `errors_total` / `requests_total` when the proxy's error trip
    /// was last armed: the trip and the error count guard count from there
    /// (the step's start, an unmute, a guard edit).
    trip_base_errors: u64,
    trip_base_requests: u64,
    /// A start of stable is queued or running (not reported yet).
    stable_starting: bool,
    _worker: AbortOnDrop,
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
        for t in [&mut second, &mut stats_tick] {
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        }
        // On a fixed grid: a late evaluation does not push the later ones back.
        guard_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            // Biased, in this order: the trip (it is a rollback), then the
            // timers (fixed rate, so they cannot starve what follows), then
            // everything that can arrive without pause.
            tokio::select! {
                biased;
                changed = trips.changed() => match changed {
                    Ok(()) => self.tripped(),
                    Err(_) => trips = watch::channel(0).1,
                },
                _ = guard_tick.tick() => self.guard_tick(),
                _ = second.tick() => self.second(),
                _ = stats_tick.tick() => self.sample_stats(),
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
        for w in self.machine.take_notes() {
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
            self.fresh_start(listed, grace);
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

    /// No state to restore. Replicas of this service that still run are
    /// adopted from their labels (see `adopt.rs`) rather than removed: a
    /// lost state file must not take a serving stable down with it.
    fn fresh_start(&mut self, listed: Option<Vec<Replica>>, grace: Duration) {
        if self.kind == "static" {
            // Static upstreams run elsewhere and the runtime's list is only
            // the plan's addresses: nothing to adopt, nothing to take down.
            if let Some(listed) = listed.filter(|l| !l.is_empty()) {
                self.op(Op::Cleanup {
                    replicas: listed,
                    grace,
                });
            }
            self.ensure_stable();
            self.persist();
            return;
        }
        let adoption = super::adopt::from_labels(&self.deps.plan, listed.unwrap_or_default());
        for note in &adoption.notes {
            tracing::warn!("{note}");
            self.emit(EventKind::Warning {
                message: note.clone(),
            });
        }
        if !adoption.remove.is_empty() {
            self.op(Op::Cleanup {
                replicas: adoption.remove,
                grace,
            });
        }
        if let Some(state) = adoption.state {
            self.machine = Machine::restore(self.deps.plan.clone(), state);
            for w in self.machine.take_notes() {
                self.emit(EventKind::Warning { message: w });
            }
            for r in adoption.adopt {
                self.adopt_replica(r);
            }
            for role in Role::ALL {
                self.sync_pool(role);
            }
            let quick: Vec<Effect> = self
                .machine
                .resume_effects()
                .into_iter()
                .filter(|e| matches!(e, Effect::SetWeight { .. } | Effect::ArmErrorTrip { .. }))
                .collect();
            self.execute(quick);
        }
        self.ensure_stable();
        self.persist();
    }

    /// Track a replica that was already running (it was serving: it stays
    /// in its pool until its health checks say otherwise).
    fn adopt_replica(&mut self, replica: Replica) {
        let mut t = Tracked::new(replica.clone(), ReplicaStatus::Healthy);
        t.health = Some(self.deps.health.spawn(
            replica.clone(),
            self.deps.plan.health.clone(),
            true,
            self.health_tx.clone(),
        ));
        ops::lock(&self.registry).insert(replica.id.clone(), t);
    }

    /// Start stable from the release state when none of its replicas is
    /// left or on its way (outside a promotion, where stable leaves on purpose).
    fn ensure_stable(&mut self) {
        if self.machine.state().phase == Phase::Promoting || self.stable_starting {
            return;
        }
        let have = ops::lock(&self.registry)
            .values()
            .any(|t| t.replica.role == Role::Stable && t.status.is_alive() && !t.stop_started);
        if !have && let Some(spec) = self.machine.spec(Role::Stable) {
            self.start(spec);
        }
    }

    /// A promotion was abandoned: stable stays. Its drain is called off
    /// (nothing is cut), stops and removals not yet begun are skipped, its
    /// replicas rejoin their pool as they were, and if none is left
    /// (already stopped) stable is started again.
    fn restore_stable(&mut self) {
        if let Some(cancel) = self.drains[slot(Role::Stable)].take() {
            cancel.cancel();
        }
        let kept = {
            let mut reg = ops::lock(&self.registry);
            self.tickets.call_off(Role::Stable);
            let mut kept = 0;
            for t in reg.values_mut().filter(|t| t.replica.role == Role::Stable) {
                if !t.stop_started && t.status.is_alive() {
                    t.stopping = false;
                    t.status = t.drained_from.take().unwrap_or(ReplicaStatus::Healthy);
                    kept += 1;
                }
            }
            kept
        };
        self.sync_pool(Role::Stable);
        if kept == 0 {
            self.emit(EventKind::Warning {
                message: "stable's replicas were already stopped: starting stable again".into(),
            });
        }
        self.ensure_stable();
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
                let saved = self.writer.generation();
                self.execute(fx);
                let state = self.publish();
                let answer = Ok(ActionReply {
                    detail,
                    state: Box::new(state),
                });
                if self.writer.generation() == saved {
                    let _ = reply.send(answer);
                } else {
                    // Answered once the change is on disk, without waiting here.
                    let durable = self.writer.durable(self.writer.generation());
                    tokio::spawn(async move {
                        durable.await;
                        let _ = reply.send(answer);
                    });
                }
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
        if let Report::Started {
            role: Role::Stable, ..
        } = r
        {
            self.stable_starting = false;
        }
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
                let stable_gone = matches!(input, Input::Removed { role: Role::Stable });
                self.feed(input);
                if stable_gone {
                    // A removal that had begun before a promotion was
                    // abandoned (or an inconsistent restore): stable again.
                    self.ensure_stable();
                }
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
                // The detail begins with what happened, so it reads whole
                // on its own ("stopped (exit 0)"); clients word it with
                // `model::replica_phrase`, which never repeats the status.
                let detail = if status == ReplicaStatus::Stopped {
                    let code = how
                        .strip_prefix("exited ")
                        .filter(|c| c.parse::<i64>().is_ok());
                    format!(
                        "stopped ({})",
                        code.map_or(how.clone(), |c| format!("exit {c}"))
                    )
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
    /// The figure is the trip's own: errors since it was armed (the step's
    /// start, an unmute or a guard edit), not since the step began.
    fn tripped(&mut self) {
        let st = self.machine.state();
        let limit = st.guard(self.machine.plan()).max_errors.unwrap_or(0);
        let errors = self
            .deps
            .metrics
            .errors_total(Role::Canary)
            .saturating_sub(self.trip_base_errors);
        let verdict = GuardVerdict {
            name: "max_errors".into(),
            value: Some(errors as f64),
            threshold: limit as f64,
            status: GuardStatus::Breach,
            detail: format!(
                "{errors} canary errors since the error trip was armed reached the limit {limit}; the proxy set the weight to 0 on the request that crossed it"
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
        let in_force = st.guard(self.machine.plan());
        if self.eval_plan.guard != *in_force {
            // An edit applies from this evaluation on.
            self.eval_plan.guard = in_force.clone();
        }
        let plan = &self.eval_plan;
        let window = plan.guard.window.get();
        let canary = self.deps.metrics.stats(Role::Canary, window);
        let stable = self.deps.metrics.stats(Role::Stable, window);
        // Counted like the proxy's trip: from when it was armed (the step's
        // start, an unmute, a guard edit), so errors made while muted are
        // not held against the canary once the guards are back on.
        let errors = self
            .deps
            .metrics
            .errors_total(Role::Canary)
            .saturating_sub(self.trip_base_errors);
        let facts = GuardFacts {
            plan,
            canary: &canary,
            stable: &stable,
            canary_errors_since_step: errors,
            canary_requests_since_step: self
                .deps
                .metrics
                .requests_total(Role::Canary)
                .saturating_sub(self.trip_base_requests),
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
        let window = self.eval_plan.guard.window.get();
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
                Effect::ArmErrorTrip { limit } => {
                    self.trip_base_errors = self.deps.metrics.errors_total(Role::Canary);
                    self.trip_base_requests = self.deps.metrics.requests_total(Role::Canary);
                    self.deps.router.arm_error_trip(limit);
                }
                Effect::Drain { role, timeout } => {
                    self.leave_pool(role);
                    let cancel = CancellationToken::new();
                    self.drains[slot(role)] = Some(cancel.clone());
                    self.op(Op::Drain {
                        role,
                        timeout,
                        cancel,
                    });
                }
                Effect::Stop { role, grace } => {
                    self.leave_pool(role);
                    let ticket = self.tickets.current(role);
                    self.op(Op::Stop {
                        role,
                        grace,
                        ticket,
                    });
                }
                Effect::Remove { role } => {
                    let ticket = self.tickets.current(role);
                    self.op(Op::Remove { role, ticket });
                }
                Effect::SwapRoles => self.swap_roles(),
                Effect::RestoreStable => self.restore_stable(),
                Effect::ResetMetrics { role } => self.deps.metrics.reset(role),
                Effect::Resize { role, cpus, memory } => self.op(Op::Resize { role, cpus, memory }),
                Effect::RunHook { name, command } => self.run_hook(name, command),
                Effect::Persist => self.persist(),
                Effect::Emit(kind) => self.emit(kind),
            }
        }
    }

    fn start(&mut self, mut spec: crate::runtime::VersionSpec) {
        if spec.role == Role::Stable {
            self.stable_starting = true;
        }
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
                if !t.stopping {
                    t.drained_from = Some(t.status);
                }
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
        self.writer.submit(state);
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
        self.events.send(event);
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
        let in_force = self.machine.state().guard(self.machine.plan());
        self.guard_tx.send_if_modified(|g| {
            let changed = g != in_force;
            if changed {
                *g = in_force.clone();
            }
            changed
        });
        v
    }
}

fn slot(role: Role) -> usize {
    match role {
        Role::Stable => 0,
        Role::Canary => 1,
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
