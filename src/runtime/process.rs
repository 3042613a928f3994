//! The process runtime: replicas as local child processes, for machines
//! without Docker and for fast tests. Each replica gets a free loopback port
//! (`{port}` in the command), its own process group (so stopping it stops
//! everything it spawned), and a log file in the service's state directory
//! as its stdout and stderr (`process/logfile.rs`): never a pipe to the
//! daemon, whose death would break it under the replica's next line.
//!
//! Children carry their identity in their environment (`CUTOVER_SERVICE`,
//! `CUTOVER_ROLE`, `CUTOVER_RELEASE`, `CUTOVER_VERSION`, `CUTOVER_ADDR`, and
//! the daemon's instance as `CUTOVER_INSTANCE`, `CUTOVER_ADMIN`,
//! `CUTOVER_STATE`), so a restarted daemon can find and adopt them from
//! `/proc` after it was killed. Only processes of the daemon's own user
//! and of no other instance are ever adopted: another local user cannot
//! plant a "replica" by setting those variables.
//!
//! A child's environment is clean: the version's `env`, the variables
//! above, `PORT`, and of the daemon's own environment only what the plan's
//! `pass_env` names (PATH, HOME, LANG, LC_ALL, TZ by default). A secret in
//! the daemon's environment does not reach a replica.
//! An adopted process is not our child: nobody here can wait for it, so its
//! liveness is polled (every [`ADOPTED_POLL`]) and its exit reported with
//! [`EXIT_CODE_UNKNOWN`](super::EXIT_CODE_UNKNOWN).
//!
//! Ports: a free port is found by binding port 0 and letting it go, so
//! another process may take it before the child binds it. To make that rare
//! race harmless, `start` waits (at most [`SETTLE`]) until the child accepts
//! connections on its port or exits; a child that exits within that second
//! is started once more on a fresh port, and a second quick exit fails the
//! start with the child's last output. What remains: a thief that takes the
//! port and accepts on it looks like our child to that check (the health
//! checks then see whatever it answers).
//!
//! This file holds the runtime and its [`Runtime`] methods; beside it,
//! `process/launch.rs` starts (or adopts) one replica,
//! `process/logfile.rs` keeps its output and `process/procfs.rs` reads
//! `/proc`.

mod launch;
mod logfile;
mod procfs;

use logfile::LogDir;
pub use logfile::{LOG_CAP, TRIM_EVERY};

use procfs::{alive, pid_of, scan_proc, stat_fields, wait_gone};

use super::{
    Instance, Inventory, Replica, ReplicaStats, Runtime, RuntimeError, RuntimeEvent, VersionSpec,
};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;

/// The directory of a service's state directory that holds its process
/// replicas' output (`pid-N.log`, see `process/logfile.rs`).
pub const REPLICA_LOGS: &str = "replicas";

/// How often an adopted process (not our child) is checked for liveness.
pub const ADOPTED_POLL: Duration = Duration::from_millis(250);

/// How long `start` waits for a child to accept on its port (or exit).
pub const SETTLE: Duration = Duration::from_secs(1);

struct Child {
    replica: Replica,
    service: String,
    pid: i32,
    /// Set once the process has exited (its code).
    exited: Arc<Mutex<Option<i64>>>,
    /// (utime+stime ticks, when) of the last CPU sample.
    last_cpu: Mutex<Option<(u64, std::time::Instant)>>,
}

pub struct ProcessRuntime {
    children: Mutex<BTreeMap<String, Arc<Child>>>,
    /// Versions this runtime started, newest first (at most
    /// [`VERSIONS_KEPT`]): what the deploy prompt offers.
    ran: Mutex<Vec<String>>,
    events: broadcast::Sender<RuntimeEvent>,
    /// The instance this runtime works for (see `instance.rs`).
    instance: Mutex<Option<Instance>>,
    /// Where replicas write their output. Tasks that trim a replica's file
    /// hold it weakly: they end with the runtime.
    logs: Arc<LogDir>,
    /// Whether the files of replicas that no longer run were deleted (once,
    /// at the first inventory: a restarted daemon's reconcile).
    swept: AtomicBool,
}

/// How many versions a process runtime remembers having run.
pub const VERSIONS_KEPT: usize = 8;

impl Default for ProcessRuntime {
    fn default() -> Self {
        ProcessRuntime::new()
    }
}

impl ProcessRuntime {
    /// A runtime whose replicas' output goes to a fresh private directory
    /// under the system's temporary directory, deleted with the runtime:
    /// for tests and embedders that have no state directory. A daemon uses
    /// [`ProcessRuntime::for_service_dir`] instead, so that its successor
    /// finds the output of the replicas it adopts; two runtimes made with
    /// `new` never see each other's files.
    pub fn new() -> ProcessRuntime {
        ProcessRuntime::with_logs(LogDir::temporary())
    }

    /// A runtime for the service whose state directory is `dir`: replicas'
    /// output in `dir/replicas/` ([`REPLICA_LOGS`]), where a restarted
    /// daemon or a successor reads it again.
    pub fn for_service_dir(dir: &Path) -> ProcessRuntime {
        ProcessRuntime::with_log_dir(dir.join(REPLICA_LOGS))
    }

    /// A runtime whose replicas' output goes to `dir` (created 0700 when
    /// the first replica starts; refused if it is not only ours).
    pub fn with_log_dir(dir: PathBuf) -> ProcessRuntime {
        ProcessRuntime::with_logs(LogDir::new(dir))
    }

    fn with_logs(logs: LogDir) -> ProcessRuntime {
        ProcessRuntime {
            children: Mutex::new(BTreeMap::new()),
            ran: Mutex::new(Vec::new()),
            events: broadcast::channel(256).0,
            instance: Mutex::new(None),
            logs: Arc::new(logs),
            swept: AtomicBool::new(false),
        }
    }

    /// The last `n` lines of `pid`'s log file (off the async threads).
    async fn tail(&self, pid: i32, n: usize) -> std::io::Result<Option<Vec<String>>> {
        let logs = self.logs.clone();
        tokio::task::spawn_blocking(move || logs.tail(pid, n))
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())))
    }

    /// Delete the files of replicas that no longer run, once: a daemon
    /// killed while one died left them.
    async fn sweep_once(&self) {
        if self.swept.swap(true, Ordering::SeqCst) {
            return;
        }
        let ours: BTreeSet<i32> = self.lock().values().map(|c| c.pid).collect();
        let logs = self.logs.clone();
        let _ = tokio::task::spawn_blocking(move || {
            logs.sweep(&|pid| ours.contains(&pid) || alive(pid));
        })
        .await;
    }

    fn instance(&self) -> Option<Instance> {
        self.instance
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<Child>>> {
        self.children.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait::async_trait]
impl Runtime for ProcessRuntime {
    fn kind(&self) -> crate::plan::RuntimeKind {
        crate::plan::RuntimeKind::Process
    }

    async fn start(&self, spec: &VersionSpec) -> Result<Vec<Replica>, RuntimeError> {
        let Some(command) = spec.command.as_ref().filter(|c| !c.is_empty()) else {
            return Err(RuntimeError::CreateRefused(format!(
                "the process runtime needs a command for {} (command = [\"program\", \"--port\", \"{{port}}\"])",
                spec.role
            )));
        };
        // Side by side: every replica settles at the same time.
        let results =
            futures::future::join_all((0..spec.replicas).map(|_| self.launch(spec, command))).await;
        if let Some(pos) = results.iter().position(Result::is_err) {
            // All or nothing: no replica of a failed start is left running.
            for r in results.iter().flatten() {
                let _ = self.remove(r).await;
            }
            return Err(results
                .into_iter()
                .nth(pos)
                .and_then(Result::err)
                .unwrap_or_else(|| RuntimeError::Other("start failed".into())));
        }
        let mut ran = self.ran.lock().unwrap_or_else(|e| e.into_inner());
        ran.retain(|v| *v != spec.version);
        ran.insert(0, spec.version.clone());
        ran.truncate(VERSIONS_KEPT);
        Ok(results.into_iter().flatten().collect())
    }

    async fn stop(&self, replica: &Replica, grace: Duration) -> Result<(), RuntimeError> {
        let Some(pid) = pid_of(&replica.id) else {
            return Err(RuntimeError::NoSuchReplica(replica.id.clone()));
        };
        let group = Pid::from_raw(pid);
        if killpg(group, Signal::SIGTERM).is_err() {
            return Ok(()); // already gone
        }
        let deadline = tokio::time::Instant::now() + grace;
        while tokio::time::Instant::now() < deadline {
            if !alive(pid) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Whatever is left of the group (the leader or what it spawned).
        let _ = killpg(group, Signal::SIGKILL);
        wait_gone(replica, pid).await
    }

    async fn remove(&self, replica: &Replica) -> Result<(), RuntimeError> {
        let gone = match pid_of(&replica.id) {
            Some(pid) => {
                let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
                wait_gone(replica, pid).await
            }
            None => Ok(()),
        };
        self.lock().remove(&replica.id);
        // Its output goes with it; kept while it might still run.
        if let (Ok(()), Some(pid)) = (&gone, pid_of(&replica.id)) {
            self.logs.remove(pid);
        }
        gone
    }

    async fn list(&self, service: &str) -> Result<Vec<Replica>, RuntimeError> {
        Ok(self.inventory(service).await?.running)
    }

    async fn inventory(&self, service: &str) -> Result<Inventory, RuntimeError> {
        // Children of an earlier daemon of this service: adopted and watched.
        let wanted = service.to_string();
        let me = self.instance();
        let (found, others) = tokio::task::spawn_blocking(move || scan_proc(&wanted, me.as_ref()))
            .await
            .unwrap_or_default();
        for (r, pid) in found {
            self.adopt(service, r, pid);
        }
        self.sweep_once().await;
        let running = self
            .lock()
            .values()
            .filter(|c| {
                c.service == service && c.exited.lock().map(|e| e.is_none()).unwrap_or(true)
            })
            .map(|c| c.replica.clone())
            .collect();
        let foreign = others
            .iter()
            .map(|c| {
                format!(
                    "processes {} of {service} belong to another cutover, {}: not ours, left alone",
                    c.replicas.join(", "),
                    c.instance.describe()
                )
            })
            .collect();
        Ok(Inventory {
            running,
            exited: Vec::new(),
            foreign,
            others,
        })
    }

    async fn stats(&self, replica: &Replica) -> Result<ReplicaStats, RuntimeError> {
        let pid =
            pid_of(&replica.id).ok_or_else(|| RuntimeError::NoSuchReplica(replica.id.clone()))?;
        let fields =
            stat_fields(pid).ok_or_else(|| RuntimeError::NoSuchReplica(replica.id.clone()))?;
        let ticks = fields
            .get(11)
            .and_then(|u| u.parse::<u64>().ok())
            .unwrap_or(0)
            + fields
                .get(12)
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0);
        let rss_kb = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            });
        let now = std::time::Instant::now();
        let child = self.lock().get(&replica.id).cloned();
        let cpu_percent = child.and_then(|c| {
            let mut last = c.last_cpu.lock().unwrap_or_else(|e| e.into_inner());
            let pct = last.and_then(|(t0, at)| {
                let secs = now.duration_since(at).as_secs_f64();
                (secs > 0.0).then(|| (ticks.saturating_sub(t0)) as f64 / 100.0 / secs * 100.0)
            });
            *last = Some((ticks, now));
            pct
        });
        Ok(ReplicaStats {
            cpu_percent,
            memory_bytes: rss_kb.map(|k| k * 1024),
            memory_limit: None,
        })
    }

    /// From the replica's log file: the same for our children and for
    /// those an earlier daemon started (see `process/logfile.rs`).
    async fn logs(&self, replica: &Replica, tail: usize) -> Result<Vec<String>, RuntimeError> {
        let pid =
            pid_of(&replica.id).ok_or_else(|| RuntimeError::NoSuchReplica(replica.id.clone()))?;
        match self.tail(pid, tail).await {
            Ok(Some(lines)) => Ok(lines),
            Ok(None) => Ok(vec![format!(
                "{} has no log file in {}: a cutover from before replica log files started it, and its output went to that daemon",
                replica.id,
                self.logs.path().display()
            )]),
            Err(e) => Err(RuntimeError::Other(format!(
                "cannot read the output of {}: {e}",
                replica.id
            ))),
        }
    }

    async fn resize(
        &self,
        _replica: &Replica,
        _cpus: Option<f64>,
        _memory: Option<u64>,
    ) -> Result<(), RuntimeError> {
        Err(RuntimeError::Other(
            "the process runtime cannot change the limits of a running process".into(),
        ))
    }

    /// The versions of recent deploys: a process runtime has no image
    /// store to list.
    async fn images(&self, _prefer: Option<&str>) -> Result<Vec<String>, RuntimeError> {
        Ok(self.ran.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }

    fn subscribe(&self) -> broadcast::Receiver<RuntimeEvent> {
        self.events.subscribe()
    }

    fn bind_instance(&self, instance: &Instance) {
        *self.instance.lock().unwrap_or_else(|e| e.into_inner()) = Some(instance.clone());
    }

    fn let_go(&self) {
        self.lock().clear();
        self.logs.let_go();
    }
}

impl Drop for ProcessRuntime {
    /// Nothing is left behind when the runtime goes (also on a panic):
    /// neither its replicas nor their log files. A daemon killed with
    /// SIGKILL cannot run this; its children are adopted by the next daemon
    /// instead, and their files read by it.
    fn drop(&mut self) {
        for c in self.lock().values() {
            let _ = killpg(Pid::from_raw(c.pid), Signal::SIGKILL);
            self.logs.remove(c.pid);
        }
    }
}

#[cfg(test)]
#[path = "process_tests.rs"]
mod tests;
