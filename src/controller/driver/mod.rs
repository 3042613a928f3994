//! The one task that runs the release machine: it turns commands, runtime
//! events, health transitions, the proxy's error trip and timers into
//! [`Input`]s, and executes the [`Effect`]s that come back.
//!
//! Quick effects (weight, trip, pool membership, events) run here at once;
//! the state file is handed to the writer in `writer.rs` (disk I/O never
//! runs on this task, and an action is answered once its change is on disk);
//! slow ones (start, warm-up, drain, stop, remove, resize) go to the worker
//! in `worker.rs` (its vocabulary in `ops.rs`), which reports back with facts. Timers: guards and deadlines
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

mod autoscaling;
mod effects;
mod evidence;
mod handover;
mod inputs;
mod scaling;
mod startup;

pub use evidence::EvidenceSnapshot;

use crate::controller::bus::EventBus;
use crate::controller::effect::{Effect, Input};
use crate::controller::interfaces::{
    EventSink, GuardFacts, GuardFn, HealthChecker, HealthEvent, basic_guards,
};
use crate::controller::machine::{Machine, refused_event};
use crate::controller::ops::{self, Op, Registry, Report, Tickets, Tracked};
use crate::controller::persist::{OwnedReplica, PersistedState};
use crate::controller::probe::HttpProbe;
use crate::controller::view::{self, ViewParts};
use crate::controller::writer::StateWriter;
use crate::controller::{Command, ControllerHandle};
use crate::metrics::Metrics;
use crate::model::{
    ActionReply, Event, EventKind, GuardVerdict, Phase, ReplicaStatus, Role, StateView,
};
use crate::plan::{GuardPlan, Plan};
use crate::proxy::Router;
use crate::runtime::{Replica, ReplicaStats, Runtime, RuntimeEvent, VersionSpec};
use chrono::Utc;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
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
    /// The guards' running tests, handed over by the daemon this one took
    /// over from (carried on when the plan's thresholds are the same).
    pub evidence: Option<EvidenceSnapshot>,
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
            evidence: None,
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
    let busy = Arc::new(AtomicUsize::new(0));
    let worker = super::worker::spawn_worker(
        busy.clone(),
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
    let (guard_tx, guard_rx) = watch::channel(guard_plan.clone());
    let mut driver = Driver {
        kind: deps.runtime.kind(),
        machine,
        work: Work {
            registry,
            tickets,
            drains: [None, None],
            ops_tx,
            busy,
            stable_starting: false,
            _worker: AbortOnDrop(worker),
        },
        out: Outputs {
            events: events.clone(),
            seq: 0,
            state_tx: None,
            guard_tx,
            writer,
        },
        back: Returns {
            reports_tx,
            health_tx,
            stats_tx,
            sampling: false,
        },
        judging: Judging {
            guards: Vec::new(),
            evidence: evidence::Feed::new(&guard_plan, &deps.metrics),
            canary_since_tick: false,
        },
        usage: Default::default(),
        scaler: autoscaling::Scaler::new(&deps.plan, deps.runtime.kind()),
        deps,
    };
    let first = driver.view();
    let (state_tx, state_rx) = watch::channel(first);
    driver.out.state_tx = Some(state_tx);
    let (pause_tx, pause_rx) = mpsc::channel(1);
    let (records_tx, records_rx) = mpsc::unbounded_channel();
    let (started_tx, started_rx) = watch::channel(false);
    let handle = ControllerHandle::new(cmd_tx, state_rx, events, guard_rx)
        .with_handover(pause_tx, started_rx)
        .with_records(records_tx);
    let task = tokio::spawn(async move {
        let inputs = Inputs {
            commands: cmd_rx,
            reports: reports_rx,
            health: health_rx,
            stats: stats_rx,
            pauses: pause_rx,
            records: records_rx,
        };
        driver.run(inputs, started_tx).await;
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
    kind: crate::plan::RuntimeKind,
    machine: Machine,
    work: Work,
    out: Outputs,
    back: Returns,
    judging: Judging,
    /// Each role's resource history (stable, canary), from the stats samples.
    usage: [super::usage::UsageHistory; 2],
    /// `[autoscale]`: what it has seen and last changed.
    scaler: autoscaling::Scaler,
}

/// The worker's side: the replicas it and the driver share, the operations
/// queued for it, and what calls them off.
struct Work {
    registry: Registry,
    /// Call-offs of queued stops and removals (a promotion abandoned).
    tickets: Arc<Tickets>,
    /// The drain under way per role (stable, canary), to call it off.
    drains: [Option<CancellationToken>; 2],
    ops_tx: mpsc::UnboundedSender<Op>,
    /// Operations queued for the worker or running there (a takeover
    /// pauses only when there are none).
    busy: Arc<AtomicUsize>,
    /// A start of stable is queued or running (not reported yet).
    stable_starting: bool,
    _worker: AbortOnDrop,
}

/// What the driver tells the world: events (numbered by `seq`) on the bus
/// and in the journal, the state and guard thresholds for clients, the
/// state file.
struct Outputs {
    events: EventBus,
    seq: u64,
    state_tx: Option<watch::Sender<StateView>>,
    /// The guard thresholds in force, for clients (`GET /v1/guards`).
    guard_tx: watch::Sender<GuardPlan>,
    writer: StateWriter,
}

/// The senders handed to what reports back to the driver: the worker and
/// the state writer, the health checks, the stats sampler.
struct Returns {
    reports_tx: mpsc::UnboundedSender<Report>,
    health_tx: mpsc::UnboundedSender<HealthEvent>,
    stats_tx: mpsc::UnboundedSender<Vec<(String, ReplicaStats)>>,
    /// A stats sample is being taken (one at a time).
    sampling: bool,
}

/// The guards' side: their evidence and latest verdicts.
struct Judging {
    /// The latest verdicts, one per configured guard.
    guards: Vec<GuardVerdict>,
    /// What the guards have seen since they were armed, and when counts
    /// and seconds were last taken for it (see `evidence.rs`).
    evidence: evidence::Feed,
    /// A canary was on record at some point since the last second's tick:
    /// that tick still reports its figures, so the flight recorder keeps
    /// what a canary removed mid-second was charged (a rollback's last 504s).
    canary_since_tick: bool,
}

/// Everything the driver's loop listens to besides its timers.
struct Inputs {
    commands: mpsc::Receiver<Command>,
    reports: mpsc::UnboundedReceiver<Report>,
    health: mpsc::UnboundedReceiver<HealthEvent>,
    stats: mpsc::UnboundedReceiver<Vec<(String, ReplicaStats)>>,
    pauses: mpsc::Receiver<crate::controller::handover::PauseAsk>,
    /// What was done beside the controller, to journal (`ControllerHandle::record`).
    records: mpsc::UnboundedReceiver<EventKind>,
}

impl Driver {
    /// Until every handle is gone, or a takeover retires this controller.
    async fn run(&mut self, inputs: Inputs, started: watch::Sender<bool>) {
        let Inputs {
            mut commands,
            mut reports,
            mut health,
            mut stats,
            mut pauses,
            mut records,
        } = inputs;
        let mut runtime_events = Some(self.deps.runtime.subscribe());
        let mut trips = self.deps.router.trips();
        trips.mark_unchanged();
        self.startup().await;
        self.carry_on_evidence();
        self.publish();
        // The routing table is what the restored state says: the daemon
        // may open its public listener now.
        started.send_replace(true);
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
                    Some(cmd) => {
                        // What a caller recorded before it asked comes first.
                        while let Ok(kind) = records.try_recv() {
                            self.emit(kind);
                        }
                        self.command(cmd)
                    }
                    None => break,
                },
                Some(kind) = records.recv() => self.emit(kind),
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
                Some(ask) = pauses.recv() => {
                    if self.hand_over(ask).await {
                        break;
                    }
                }
            }
            self.publish();
        }
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
