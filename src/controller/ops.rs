//! The slow half of the driver: one worker task that runs runtime and
//! network operations (start, warm-up, drain, stop, remove, resize) one after
//! another, in the order the machine asked for them, and reports back.
//!
//! Sequential on purpose: a rollback queued behind a start still finds the
//! replicas that start created, because the worker records them in the
//! shared [`Registry`] before it moves on. The quick effects (weight, trip,
//! membership, events) never wait here; the driver applies them at once.

use super::effect::Input;
use crate::model::{ReplicaStatus, Role};
use crate::proxy::Router;
use crate::runtime::pull::PullReport;
use crate::runtime::{Replica, ReplicaStats, Runtime, VersionSpec};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
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

pub(super) fn spawn_worker(
    runtime: Arc<dyn Runtime>,
    router: Router,
    registry: Registry,
    tickets: Arc<Tickets>,
    mut ops: mpsc::UnboundedReceiver<Op>,
    reports: mpsc::UnboundedSender<Report>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let http = reqwest::Client::builder().no_proxy().build().ok();
        while let Some(op) = ops.recv().await {
            let report = |r| {
                let _ = reports.send(r);
            };
            match op {
                Op::Start { mut spec } => {
                    let role = spec.role;
                    // The image first (pulled, pinned), so a pull that
                    // fails has created nothing and changed nothing.
                    let pull_reports = reports.clone();
                    let progress = move |report| {
                        let _ = pull_reports.send(Report::Pull { role, report });
                    };
                    match runtime.prepare(&spec, &progress).await {
                        Ok(pin) => {
                            if let Some(reference) = pin.filter(|p| spec.pinned.as_ref() != Some(p))
                            {
                                spec.pinned = Some(reference.clone());
                                let image = spec.image.clone().unwrap_or_default();
                                report(Report::Fact(Input::ImagePinned {
                                    role,
                                    image,
                                    reference,
                                }));
                            }
                        }
                        Err(e) => {
                            report(Report::Started {
                                role,
                                result: Err(e.to_string()),
                            });
                            continue;
                        }
                    }
                    match runtime.start(&spec).await {
                        Ok(replicas) => {
                            let mut reg = lock(&registry);
                            for r in &replicas {
                                reg.insert(
                                    r.id.clone(),
                                    Tracked::new(r.clone(), ReplicaStatus::Starting),
                                );
                            }
                            drop(reg);
                            report(Report::Started {
                                role,
                                result: Ok(replicas),
                            });
                        }
                        Err(e) => report(Report::Started {
                            role,
                            result: Err(e.to_string()),
                        }),
                    }
                }
                Op::Warmup {
                    role,
                    path,
                    requests,
                } => {
                    let addrs: Vec<String> = lock(&registry)
                        .values()
                        .filter(|t| t.replica.role == role && t.status == ReplicaStatus::Healthy)
                        .map(|t| t.replica.addr.clone())
                        .collect();
                    let (mut ok, mut bad) = (0u32, 0u32);
                    if let (Some(http), false) = (&http, addrs.is_empty()) {
                        for i in 0..requests {
                            let url = format!("http://{}{}", addrs[i as usize % addrs.len()], path);
                            match http.get(&url).timeout(Duration::from_secs(5)).send().await {
                                Ok(r) if !r.status().is_server_error() => ok += 1,
                                _ => bad += 1,
                            }
                        }
                    }
                    let detail = format!(
                        "{ok} of {requests} warm-up requests to {} canary replica(s) answered, {bad} failed",
                        addrs.len()
                    );
                    report(Report::Fact(Input::WarmupDone { detail }));
                }
                Op::Drain {
                    role,
                    timeout,
                    cancel,
                } => {
                    tokio::select! {
                        r = router.drain(role, timeout) => report(Report::Fact(Input::DrainDone {
                            role,
                            finished: r.finished,
                            cut: r.cut,
                        })),
                        // Called off (the role is kept): nothing is cut.
                        _ = cancel.cancelled() => {}
                    }
                }
                Op::Stop {
                    role,
                    grace,
                    ticket,
                } => {
                    let replicas: Vec<Replica> = {
                        let mut reg = lock(&registry);
                        if tickets.current(role) != ticket {
                            continue;
                        }
                        reg.values_mut()
                            .filter(|t| t.replica.role == role)
                            .map(|t| {
                                t.stop_started = true;
                                t.replica.clone()
                            })
                            .collect()
                    };
                    let results =
                        futures::future::join_all(replicas.iter().map(|r| runtime.stop(r, grace)))
                            .await;
                    let mut reg = lock(&registry);
                    for (r, res) in replicas.iter().zip(results) {
                        if let Some(t) = reg.get_mut(&r.id) {
                            t.stopping = true;
                            if let Some(h) = t.health.take() {
                                h.abort();
                            }
                            if t.status.is_alive() {
                                t.status = ReplicaStatus::Stopped;
                            }
                        }
                        if let Err(e) = res {
                            report(Report::Note(format!(
                                "stopping {role} replica {}: {e}",
                                r.id
                            )));
                        }
                    }
                }
                Op::Remove { role, ticket } => {
                    // Called off (the role is kept): only what was already
                    // being stopped goes, as it cannot serve again, and no
                    // removal of the role is reported.
                    let (called_off, replicas) = {
                        let mut reg = lock(&registry);
                        let called_off = tickets.current(role) != ticket;
                        let replicas: Vec<Replica> = reg
                            .values_mut()
                            .filter(|t| t.replica.role == role && (!called_off || t.stop_started))
                            .map(|t| {
                                t.stop_started = true;
                                t.replica.clone()
                            })
                            .collect();
                        (called_off, replicas)
                    };
                    for r in &replicas {
                        if let Err(e) = runtime.remove(r).await {
                            report(Report::Note(format!(
                                "removing {role} replica {}: {e}",
                                r.id
                            )));
                        }
                        lock(&registry).remove(&r.id);
                    }
                    if !called_off {
                        report(Report::Fact(Input::Removed { role }));
                    }
                }
                Op::Resize { role, cpus, memory } => {
                    for r in of_role(&registry, role) {
                        if let Err(e) = runtime.resize(&r, cpus, memory).await {
                            report(Report::Note(format!(
                                "resizing {role} replica {}: {e}",
                                r.id
                            )));
                        }
                    }
                }
                Op::Cleanup { replicas, grace } => {
                    for r in replicas {
                        let stopped = runtime.stop(&r, grace).await;
                        let removed = runtime.remove(&r).await;
                        let outcome = match (stopped, removed) {
                            (Ok(()), Ok(())) => "removed".to_string(),
                            (Err(e), _) | (_, Err(e)) => format!("could not be removed: {e}"),
                        };
                        report(Report::Note(format!(
                            "reconcile: replica {} ({} {}, release {}) is not part of the restored state; {outcome}",
                            r.id, r.role, r.version, r.release
                        )));
                    }
                }
            }
        }
    })
}
