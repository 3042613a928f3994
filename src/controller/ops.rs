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
    /// A planned stop or drain is under way: its exit is not a crash, and it
    /// rejoins its pool only if the stop is called off before it begins.
    pub stopping: bool,
    /// The worker began stopping it (SIGTERM sent): it can no longer be kept.
    pub stop_started: bool,
    /// Its status when a drain took it out of its pool (to put it back as it was).
    pub drained_from: Option<ReplicaStatus>,
    pub health: Option<JoinHandle<()>>,
}

impl Tracked {
    pub fn new(replica: Replica, status: ReplicaStatus) -> Self {
        Tracked {
            replica,
            status,
            exit_code: None,
            stats: ReplicaStats::default(),
            stopping: false,
            stop_started: false,
            drained_from: None,
            health: None,
        }
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
    /// A fact for the machine.
    Fact(Input),
    /// Something an operator should read.
    Note(String),
    /// How a pull for `role` is going (throttled by the runtime).
    Pull { role: Role, report: PullReport },
}
