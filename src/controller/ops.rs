//! What the driver and its worker share: the replicas the controller owns
//! ([`Registry`] of [`Tracked`]), the tickets that call stops off, the
//! operations the worker runs ([`Op`]) and what it reports ([`Report`]).
//! The worker itself is `worker.rs`.

use super::effect::Input;
use crate::model::{ReplicaStatus, Role};
use crate::runtime::pull::PullReport;
use crate::runtime::{Replica, ReplicaStats, VersionSpec};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// One replica the controller owns.
#[derive(Debug)]
pub(super) struct Tracked {
    pub replica: Replica,
    pub status: ReplicaStatus,
    pub exit_code: Option<i64>,
    pub stats: ReplicaStats,
    /// How far it is on its way out of service.
    pub stage: Stage,
    pub health: Option<JoinHandle<()>>,
    /// Order of tracking (higher: newer), so a scale-down takes the newest.
    pub born: u64,
}

/// The next [`Tracked::born`].
static BORN: AtomicU64 = AtomicU64::new(0);

/// How far a replica is on its way out of service.
///
/// ```text
///  Serving ── leave() ──▶ Leaving ── begin_stop() ──▶ Stopping
///     ▲                      │                           ▲
///     └─────── keep() ───────┘                           │
///  Serving ── begin_stop() ──▶ StopBegun ── leave(), stopped() ──┘
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stage {
    /// In service, or on its way into it: nothing planned.
    Serving,
    /// A planned stop or drain is under way (out of its pool): its exit is
    /// not a crash, and it rejoins its pool, with the status it had
    /// (`from`), only if the stop is called off before it begins.
    Leaving { from: ReplicaStatus },
    /// The worker began stopping it (SIGTERM sent) before the driver took
    /// it out of its pool (it joined its role after the stop was asked
    /// for). It can no longer be kept, but until the stop returns it is
    /// treated as serving: health changes count, an exit is a crash.
    StopBegun,
    /// A planned stop the worker began: it can no longer be kept.
    Stopping,
}

impl Stage {
    /// A planned stop or drain is under way: out of its pool, health
    /// changes ignored, its exit not a crash.
    pub fn leaving(self) -> bool {
        matches!(self, Stage::Leaving { .. } | Stage::Stopping)
    }

    /// The worker began stopping it: it can no longer be kept.
    pub fn stop_begun(self) -> bool {
        matches!(self, Stage::StopBegun | Stage::Stopping)
    }
}

impl Tracked {
    pub fn new(replica: Replica, status: ReplicaStatus) -> Self {
        Tracked {
            replica,
            status,
            exit_code: None,
            stats: ReplicaStats::default(),
            stage: Stage::Serving,
            health: None,
            born: BORN.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// A planned stop or drain takes it out of its pool.
    pub fn leave(&mut self) {
        self.stage = match self.stage {
            Stage::Serving => Stage::Leaving { from: self.status },
            Stage::StopBegun => Stage::Stopping,
            kept => kept,
        };
    }

    /// The worker begins stopping (or removing) it.
    pub fn begin_stop(&mut self) {
        self.stage = match self.stage {
            Stage::Serving | Stage::StopBegun => Stage::StopBegun,
            Stage::Leaving { .. } | Stage::Stopping => Stage::Stopping,
        };
    }

    /// The stop the worker began has returned.
    pub fn stopped(&mut self) {
        self.stage = Stage::Stopping;
    }

    /// A stop called off before the worker began it: back in service, with
    /// the status it had when it left (healthy, if it never left). `false`
    /// (and nothing changed) when it can no longer be kept.
    pub fn keep(&mut self) -> bool {
        if self.stage.stop_begun() || !self.status.is_alive() {
            return false;
        }
        self.status = match self.stage {
            Stage::Leaving { from } => from,
            _ => ReplicaStatus::Healthy,
        };
        self.stage = Stage::Serving;
        true
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if let Some(h) = self.health.take() {
            h.abort();
        }
    }
}

/// Replicas by id, shared by the driver and the worker (never locked across an await).
pub(super) type Registry = Arc<Mutex<BTreeMap<String, Tracked>>>;

pub(super) fn lock(r: &Registry) -> std::sync::MutexGuard<'_, BTreeMap<String, Tracked>> {
    r.lock().unwrap_or_else(|e| e.into_inner())
}

/// One ticket per role for its queued stops and removals: calling a removal
/// off (a promotion abandoned) takes a new ticket, and the worker skips every
/// stop or removal queued with an older one. Read and bumped under the
/// registry lock, so a stop either began before the call-off or never does.
#[derive(Debug, Default)]
pub(super) struct Tickets([AtomicU64; 2]);

impl Tickets {
    pub fn current(&self, role: Role) -> u64 {
        self.0[role.index()].load(Ordering::SeqCst)
    }

    pub fn call_off(&self, role: Role) {
        self.0[role.index()].fetch_add(1, Ordering::SeqCst);
    }
}

/// Replicas of one role, as they are now.
pub(super) fn of_role(r: &Registry, role: Role) -> Vec<Replica> {
    lock(r)
        .values()
        .filter(|t| t.replica.role == role)
        .map(|t| t.replica.clone())
        .collect()
}

/// Work for the worker.
#[derive(Debug)]
pub(super) enum Op {
    Start {
        spec: Box<VersionSpec>,
    },
    Warmup {
        role: Role,
        path: String,
        requests: u32,
    },
    /// Ends early, without cutting anything, when `cancel` fires.
    Drain {
        role: Role,
        timeout: Duration,
        cancel: CancellationToken,
    },
    Stop {
        role: Role,
        grace: Duration,
        ticket: u64,
    },
    Remove {
        role: Role,
        ticket: u64,
    },
    Resize {
        role: Role,
        cpus: Option<f64>,
        memory: Option<u64>,
    },
    /// Start `spec.replicas` more replicas beside the role's (a scale from
    /// `from` to `to` on record); report with [`Report::Scaled`].
    ScaleUp {
        spec: Box<VersionSpec>,
        from: u32,
        to: u32,
    },
    /// Replicas already out of their pool (a scale-down): wait up to
    /// `timeout` for their in-flight requests (`held`), then stop (`grace`)
    /// and remove them; report `Input::Scaled`.
    Retire {
        role: Role,
        replicas: Vec<Replica>,
        held: crate::proxy::Held,
        timeout: Duration,
        grace: Duration,
    },
    /// Replicas that exited on their own and were replaced (out of the
    /// registry already): remove what the runtime keeps of them.
    Discard {
        replicas: Vec<Replica>,
    },
    /// Replicas of this service nobody owns (reconcile): stop and remove.
    Cleanup {
        replicas: Vec<Replica>,
        grace: Duration,
    },
}

/// What the worker reports.
#[derive(Debug)]
pub(super) enum Report {
    /// Replicas started and recorded in the registry (or why not).
    Started {
        role: Role,
        result: Result<Vec<Replica>, String>,
    },
    /// The replicas a scale-up started and recorded (or why none).
    Scaled {
        role: Role,
        from: u32,
        to: u32,
        result: Result<Vec<Replica>, String>,
    },
    /// A fact for the machine.
    Fact(Input),
    /// Something an operator should read.
    Note(String),
    /// How a pull for `role` is going (throttled by the runtime).
    Pull { role: Role, report: PullReport },
}
