//! The slow half of the driver: one worker task that runs runtime and
//! network operations (start, warm-up, drain, stop, remove, resize) one after
//! another, in the order the machine asked for them, and reports back.
//!
//! Sequential on purpose: a rollback queued behind a start still finds the
//! replicas that start created, because the worker records them in the
//! shared [`Registry`] before it moves on. The quick effects (weight, trip,
//! membership, events) never wait here; the driver applies them at once.

use super::effect::Input;
use super::ops::{Op, Registry, Report, Tickets, Tracked, lock, of_role};
use crate::model::{ReplicaStatus, Role};
use crate::proxy::Router;
use crate::runtime::{Replica, Runtime, VersionSpec};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The worker: what it works on, and where it reports. One method per [`Op`].
struct Worker {
    runtime: Arc<dyn Runtime>,
    router: Router,
    registry: Registry,
    tickets: Arc<Tickets>,
    reports: mpsc::UnboundedSender<Report>,
    /// For warm-up requests (none if a client cannot be built here).
    http: Option<reqwest::Client>,
}

/// Start the worker; it runs until the driver drops its end of `ops`.
pub(super) fn spawn_worker(
    busy: Arc<std::sync::atomic::AtomicUsize>,
    runtime: Arc<dyn Runtime>,
    router: Router,
    registry: Registry,
    tickets: Arc<Tickets>,
    mut ops: mpsc::UnboundedReceiver<Op>,
    reports: mpsc::UnboundedSender<Report>,
) -> JoinHandle<()> {
    let worker = Worker {
        runtime,
        router,
        registry,
        tickets,
        reports,
        http: reqwest::Client::builder().no_proxy().build().ok(),
    };
    tokio::spawn(async move {
        while let Some(op) = ops.recv().await {
            worker.run(op).await;
            busy.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        }
    })
}

impl Worker {
    async fn run(&self, op: Op) {
        match op {
            Op::Start { spec } => self.start(*spec).await,
            Op::Warmup {
                role,
                path,
                requests,
            } => self.warmup(role, &path, requests).await,
            Op::Drain {
                role,
                timeout,
                cancel,
            } => self.drain(role, timeout, cancel).await,
            Op::Stop {
                role,
                grace,
                ticket,
            } => self.stop(role, grace, ticket).await,
            Op::Remove { role, ticket } => self.remove(role, ticket).await,
            Op::Resize { role, cpus, memory } => self.resize(role, cpus, memory).await,
            Op::ScaleUp { spec, from, to } => self.scale_up(*spec, from, to).await,
            Op::Retire {
                role,
                replicas,
                held,
                timeout,
                grace,
            } => self.retire(role, replicas, held, timeout, grace).await,
            Op::Discard { replicas } => self.discard(replicas).await,
            Op::Cleanup { replicas, grace } => self.cleanup(replicas, grace).await,
        }
    }

    fn report(&self, r: Report) {
        let _ = self.reports.send(r);
    }

    async fn start(&self, spec: VersionSpec) {
        let role = spec.role;
        let result = self.launch(spec).await;
        self.report(Report::Started { role, result });
    }

    /// More replicas of a running version (a scale-up): started like any,
    /// reported apart, so a canary's never reads as a deploy starting.
    async fn scale_up(&self, spec: VersionSpec, from: u32, to: u32) {
        let role = spec.role;
        let result = self.launch(spec).await;
        self.report(Report::Scaled {
            role,
            from,
            to,
            result,
        });
    }

    /// The image first (pulled, pinned), so a pull that fails has created
    /// nothing and changed nothing; then the replicas, recorded in the
    /// registry before the start is reported.
    async fn launch(&self, mut spec: VersionSpec) -> Result<Vec<Replica>, String> {
        let role = spec.role;
        let pull_reports = self.reports.clone();
        let progress = move |report| {
            let _ = pull_reports.send(Report::Pull { role, report });
        };
        let pin = self
            .runtime
            .prepare(&spec, &progress)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(reference) = pin.filter(|p| spec.pinned.as_ref() != Some(p)) {
            spec.pinned = Some(reference.clone());
            let image = spec.image.clone().unwrap_or_default();
            self.report(Report::Fact(Input::ImagePinned {
                role,
                image,
                reference,
            }));
        }
        let replicas = self.runtime.start(&spec).await.map_err(|e| e.to_string())?;
        let mut reg = lock(&self.registry);
        for r in &replicas {
            reg.insert(
                r.id.clone(),
                Tracked::new(r.clone(), ReplicaStatus::Starting),
            );
        }
        Ok(replicas)
    }

    /// `requests` GETs of `path`, spread over the role's healthy replicas.
    async fn warmup(&self, role: Role, path: &str, requests: u32) {
        let addrs: Vec<String> = lock(&self.registry)
            .values()
            .filter(|t| t.replica.role == role && t.status == ReplicaStatus::Healthy)
            .map(|t| t.replica.addr.clone())
            .collect();
        let (mut ok, mut bad) = (0u32, 0u32);
        if let (Some(http), false) = (&self.http, addrs.is_empty()) {
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
        self.report(Report::Fact(Input::WarmupDone {
            detail,
            failed: bad,
        }));
    }

    async fn drain(&self, role: Role, timeout: Duration, cancel: CancellationToken) {
        tokio::select! {
            r = self.router.drain(role, timeout) => self.report(Report::Fact(Input::DrainDone {
                role,
                finished: r.finished,
                cut: r.cut,
            })),
            // Called off (the role is kept): nothing is cut.
            _ = cancel.cancelled() => {}
        }
    }

    /// Stop every replica of `role`, unless the stop was called off (its
    /// ticket is old) before it began.
    async fn stop(&self, role: Role, grace: Duration, ticket: u64) {
        let replicas: Vec<Replica> = {
            let mut reg = lock(&self.registry);
            if self.tickets.current(role) != ticket {
                return;
            }
            reg.values_mut()
                .filter(|t| t.replica.role == role)
                .map(|t| {
                    t.begin_stop();
                    t.replica.clone()
                })
                .collect()
        };
        if !replicas.is_empty() {
            self.report(Report::Fact(Input::StopBegun { role }));
        }
        let results =
            futures::future::join_all(replicas.iter().map(|r| self.runtime.stop(r, grace))).await;
        let mut reg = lock(&self.registry);
        for (r, res) in replicas.iter().zip(results) {
            if let Some(t) = reg.get_mut(&r.id) {
                t.stopped();
                if let Some(h) = t.health.take() {
                    h.abort();
                }
                if t.status.is_alive() {
                    t.status = ReplicaStatus::Stopped;
                }
            }
            if let Err(e) = res {
                self.report(Report::Note(format!(
                    "stopping {role} replica {}: {e}",
                    r.id
                )));
            }
        }
    }

    /// Remove the replicas of `role`. Called off (the role is kept): only
    /// what was already being stopped goes, as it cannot serve again, and no
    /// removal of the role is reported.
    async fn remove(&self, role: Role, ticket: u64) {
        let (called_off, replicas) = {
            let mut reg = lock(&self.registry);
            let called_off = self.tickets.current(role) != ticket;
            let replicas: Vec<Replica> = reg
                .values_mut()
                .filter(|t| t.replica.role == role && (!called_off || t.stage.stop_begun()))
                .map(|t| {
                    t.begin_stop();
                    t.replica.clone()
                })
                .collect();
            (called_off, replicas)
        };
        for r in &replicas {
            if let Err(e) = self.runtime.remove(r).await {
                self.report(Report::Note(format!(
                    "removing {role} replica {}: {e}",
                    r.id
                )));
            }
            lock(&self.registry).remove(&r.id);
        }
        if !called_off {
            self.report(Report::Fact(Input::Removed { role }));
        }
    }

    /// A scale-down: the replicas left their pool already; their
    /// in-flight requests finish (up to `timeout`), then they are stopped
    /// and removed. One at a time with the other operations, so a removal
    /// of the whole role queued after it finds them gone.
    async fn retire(
        &self,
        role: Role,
        replicas: Vec<Replica>,
        held: crate::proxy::Held,
        timeout: Duration,
        grace: Duration,
    ) {
        let left = held.idle_within(timeout).await;
        if left > 0 {
            self.report(Report::Note(format!(
                "scale-down of {role}: {left} request(s) still in flight after the {}s drain timeout; stopping anyway",
                timeout.as_secs()
            )));
        }
        let mut stopped = Vec::new();
        for r in &replicas {
            match lock(&self.registry).get_mut(&r.id) {
                Some(t) => t.begin_stop(),
                None => continue,
            }
            if let Err(e) = self.runtime.stop(r, grace).await {
                self.report(Report::Note(format!(
                    "stopping {role} replica {}: {e}",
                    r.id
                )));
            }
            if let Err(e) = self.runtime.remove(r).await {
                self.report(Report::Note(format!(
                    "removing {role} replica {}: {e}",
                    r.id
                )));
            }
            lock(&self.registry).remove(&r.id);
            stopped.push(r.id.clone());
        }
        self.report(Report::Fact(Input::Scaled {
            role,
            started: Vec::new(),
            stopped,
        }));
    }

    async fn resize(&self, role: Role, cpus: Option<f64>, memory: Option<u64>) {
        for r in of_role(&self.registry, role) {
            if let Err(e) = self.runtime.resize(&r, cpus, memory).await {
                self.report(Report::Note(format!(
                    "resizing {role} replica {}: {e}",
                    r.id
                )));
            }
        }
    }

    /// Replicas that exited on their own and were replaced: what the
    /// runtime keeps of them (a stopped container, a log file) goes.
    async fn discard(&self, replicas: Vec<Replica>) {
        for r in replicas {
            if let Err(e) = self.runtime.remove(&r).await {
                self.report(Report::Note(format!(
                    "removing {} replica {} (exited, replaced): {e}",
                    r.role, r.id
                )));
            }
        }
    }

    /// Replicas of this service nobody owns (reconcile): stop and remove.
    async fn cleanup(&self, replicas: Vec<Replica>, grace: Duration) {
        for r in replicas {
            let stopped = self.runtime.stop(&r, grace).await;
            let removed = self.runtime.remove(&r).await;
            let outcome = match (stopped, removed) {
                (Ok(()), Ok(())) => "removed".to_string(),
                (Err(e), _) | (_, Err(e)) => format!("could not be removed: {e}"),
            };
            self.report(Report::Note(format!(
                "reconcile: replica {} ({} {}, release {}) is not part of the restored state; {outcome}",
                r.id, r.role, r.version, r.release
            )));
        }
    }
}
