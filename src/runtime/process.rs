//! The process runtime: replicas as local child processes, for machines
//! without Docker and for fast tests. Each replica gets a free loopback port
//! (`{port}` in the command), its own process group (so stopping it stops
//! everything it spawned), and a bounded ring of its output for `logs`.
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
//! [`EXIT_CODE_UNKNOWN`].
//!
//! Ports: a free port is found by binding port 0 and letting it go, so
//! another process may take it before the child binds it. To make that rare
//! race harmless, `start` waits (at most [`SETTLE`]) until the child accepts
//! connections on its port or exits; a child that exits within that second
//! is started once more on a fresh port, and a second quick exit fails the
//! start with the child's last output. What remains: a thief that takes the
//! port and accepts on it looks like our child to that check (the health
//! checks then see whatever it answers).

use super::{
    Claim, EXIT_CODE_UNKNOWN, Instance, Inventory, Replica, ReplicaStats, Runtime, RuntimeError,
    RuntimeEvent, VersionSpec, exit_detail,
};
use crate::model::Role;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::broadcast;

/// Lines of output kept per replica.
const LOG_LINES: usize = 1000;

/// How often an adopted process (not our child) is checked for liveness.
pub const ADOPTED_POLL: Duration = Duration::from_millis(250);

/// How long `start` waits for a child to accept on its port (or exit).
pub const SETTLE: Duration = Duration::from_secs(1);

struct Child {
    replica: Replica,
    service: String,
    pid: i32,
    logs: Arc<Mutex<VecDeque<String>>>,
    /// Set once the process has exited (its code).
    exited: Arc<Mutex<Option<i64>>>,
    /// (utime+stime ticks, when) of the last CPU sample.
    last_cpu: Mutex<Option<(u64, std::time::Instant)>>,
    /// Started by an earlier daemon and adopted: not our child, and its
    /// output went to that daemon.
    adopted: bool,
}

pub struct ProcessRuntime {
    children: Mutex<BTreeMap<String, Arc<Child>>>,
    events: broadcast::Sender<RuntimeEvent>,
    /// The instance this runtime works for (see `instance.rs`).
    instance: Mutex<Option<Instance>>,
}

impl Default for ProcessRuntime {
    fn default() -> Self {
        ProcessRuntime::new()
    }
}

impl ProcessRuntime {
    pub fn new() -> ProcessRuntime {
        ProcessRuntime {
            children: Mutex::new(BTreeMap::new()),
            events: broadcast::channel(256).0,
            instance: Mutex::new(None),
        }
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

fn pid_of(id: &str) -> Option<i32> {
    id.strip_prefix("pid:")?.parse().ok()
}

fn free_port() -> Result<u16, RuntimeError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| RuntimeError::PortClash(format!("no free loopback port: {e}")))?;
    Ok(l.local_addr()
        .map_err(|e| RuntimeError::Other(e.to_string()))?
        .port())
}

/// The fields of `/proc/PID/stat` after the command name (state first).
fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(
        stat.rsplit(')')
            .next()?
            .split_whitespace()
            .map(str::to_string)
            .collect(),
    )
}

/// When the process started (clock ticks since boot): tells a pid from a
/// later process that reused it.
fn start_time(pid: i32) -> Option<u64> {
    stat_fields(pid)?.get(19)?.parse().ok()
}

/// Returns once `pid` is gone: SIGKILL is delivered, not instantaneous, and
/// a process still in /proc would be adopted again by the next `list`.
async fn wait_gone(replica: &Replica, pid: i32) -> Result<(), RuntimeError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while alive(pid) {
        if tokio::time::Instant::now() >= deadline {
            return Err(RuntimeError::Other(format!(
                "{} still runs 5 s after SIGKILL",
                replica.id
            )));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

fn alive(pid: i32) -> bool {
    // Signal 0 probes existence; a zombie counts as gone.
    nix::sys::signal::kill(Pid::from_raw(pid), None).is_ok()
        && stat_fields(pid).is_some_and(|f| f.first().is_some_and(|s| s != "Z"))
}

/// Whether `pid` is still the process that started at `started`.
fn alive_since(pid: i32, started: Option<u64>) -> bool {
    alive(pid) && (started.is_none() || start_time(pid) == started)
}

/// The environment variables that carry an instance, by label.
const INSTANCE_ENV: [(&str, &str); 3] = [
    (super::instance::LABEL_INSTANCE, "CUTOVER_INSTANCE"),
    (super::instance::LABEL_ADMIN, "CUTOVER_ADMIN"),
    (super::instance::LABEL_STATE, "CUTOVER_STATE"),
];

/// What /proc holds of `service`: our adoptable children (after a daemon
/// restart), and other instances' children by instance. Only processes of
/// our own user count. Reads every process's environment: blocking work,
/// run off the async threads.
fn scan_proc(service: &str, me: Option<&Instance>) -> (Vec<(Replica, i32)>, Vec<Claim>) {
    use std::os::unix::fs::MetadataExt;
    let mut others: Vec<Claim> = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return (Vec::new(), others);
    };
    let uid = nix::unistd::geteuid().as_raw();
    let mut out = Vec::new();
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        // Another user's process is never ours, whatever it claims.
        if e.metadata().map_or(true, |m| m.uid() != uid) {
            continue;
        }
        let Ok(env) = std::fs::read(e.path().join("environ")) else {
            continue;
        };
        let vars: BTreeMap<String, String> = env
            .split(|b| *b == 0)
            .filter_map(|kv| std::str::from_utf8(kv).ok())
            .filter_map(|kv| kv.split_once('='))
            .filter(|(k, _)| k.starts_with("CUTOVER_"))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if vars.get("CUTOVER_SERVICE").map(String::as_str) != Some(service) {
            continue;
        }
        // Only the group leader (the process we started), not its children.
        let leader = stat_fields(pid).and_then(|f| f.get(2).and_then(|g| g.parse::<i32>().ok()))
            == Some(pid);
        if !leader || !alive(pid) {
            continue;
        }
        let role = match vars.get("CUTOVER_ROLE").map(String::as_str) {
            Some("canary") => Role::Canary,
            Some("stable") => Role::Stable,
            _ => continue,
        };
        let Some(addr) = vars.get("CUTOVER_ADDR") else {
            continue;
        };
        let label = |k: &str| {
            INSTANCE_ENV
                .iter()
                .find(|(l, _)| *l == k)
                .and_then(|(_, var)| vars.get(*var))
                .map(String::as_str)
        };
        if let Some(other) = Instance::other_than(label, me) {
            Claim::add(&mut others, other, format!("pid:{pid}"));
            continue;
        }
        out.push((
            Replica {
                id: format!("pid:{pid}"),
                role,
                release: vars
                    .get("CUTOVER_RELEASE")
                    .and_then(|r| r.parse().ok())
                    .unwrap_or(0),
                version: crate::text::clean_owned(
                    vars.get("CUTOVER_VERSION").cloned().unwrap_or_default(),
                ),
                addr: addr.clone(),
            },
            pid,
        ));
    }
    (out, others)
}

fn exit_code(status: std::io::Result<std::process::ExitStatus>) -> i64 {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Ok(status) => status
            .code()
            .map(i64::from)
            .or(status.signal().map(|s| 128 + i64::from(s)))
            .unwrap_or(-1),
        Err(_) => -1,
    }
}

/// How the first moments of a child went.
enum Settled {
    /// It accepts on its port, or it is still running after [`SETTLE`]
    /// (a slow starter: the health checks take it from here).
    Running,
    /// It exited within [`SETTLE`], with this code.
    Exited(i64),
}

/// Wait until the child accepts on `port`, exits, or [`SETTLE`] passes.
async fn settle(child: &mut tokio::process::Child, port: u16) -> Settled {
    let accepting = async {
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::select! {
        status = child.wait() => Settled::Exited(exit_code(status)),
        () = accepting => Settled::Running,
        () = tokio::time::sleep(SETTLE) => Settled::Running,
    }
}

fn last_lines(logs: &Mutex<VecDeque<String>>, n: usize) -> String {
    let l = logs.lock().unwrap_or_else(|e| e.into_inner());
    l.iter()
        .skip(l.len().saturating_sub(n))
        .cloned()
        .collect::<Vec<_>>()
        .join(" | ")
}

impl ProcessRuntime {
    /// Start one replica: spawn, settle, once more on a fresh port if it
    /// exited at once; then watch it and record it.
    async fn launch(
        &self,
        spec: &VersionSpec,
        command: &[String],
    ) -> Result<Replica, RuntimeError> {
        let mut first_exit = None;
        for attempt in 0..2 {
            let port = free_port()?;
            let addr = format!("127.0.0.1:{port}");
            let args: Vec<String> = command
                .iter()
                .map(|a| a.replace("{port}", &port.to_string()))
                .collect();
            let mut cmd = tokio::process::Command::new(&args[0]);
            // A clean environment: only what the plan passes on (see the
            // module doc), then the version's own, then cutover's.
            cmd.env_clear();
            for name in &spec.pass_env {
                if let Some(value) = std::env::var_os(name) {
                    cmd.env(name, value);
                }
            }
            if let Some(me) = self.instance() {
                for (label, value) in me.labels() {
                    if let Some((_, var)) = INSTANCE_ENV.iter().find(|(l, _)| *l == label) {
                        cmd.env(var, value);
                    }
                }
            }
            cmd.args(&args[1..])
                .envs(&spec.env)
                .env("PORT", port.to_string())
                .env("CUTOVER_SERVICE", &spec.service)
                .env("CUTOVER_ROLE", spec.role.as_str())
                .env("CUTOVER_RELEASE", spec.release.to_string())
                .env("CUTOVER_VERSION", &spec.version)
                .env("CUTOVER_ADDR", &addr)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .process_group(0)
                .kill_on_drop(false);
            let mut child = cmd.spawn().map_err(|e| {
                RuntimeError::CreateRefused(format!("cannot start {:?}: {e}", args[0]))
            })?;
            let pid = child
                .id()
                .map(|p| p as i32)
                .ok_or_else(|| RuntimeError::Other("the child exited at once".into()))?;
            let logs = Arc::new(Mutex::new(VecDeque::with_capacity(64)));
            let mut readers = Vec::new();
            for stream in [
                child
                    .stdout
                    .take()
                    .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
                child
                    .stderr
                    .take()
                    .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            ]
            .into_iter()
            .flatten()
            {
                let logs = logs.clone();
                readers.push(tokio::spawn(async move {
                    // Bytes, not `lines()`: one line that is not UTF-8 must
                    // not end the reading (the child would block on a full
                    // pipe). Each line is cleaned as it enters the ring: a
                    // replica's output is outside text (see `crate::text`).
                    let mut reader = BufReader::new(stream);
                    let mut raw = Vec::new();
                    while matches!(reader.read_until(b'\n', &mut raw).await, Ok(n) if n > 0) {
                        let text = String::from_utf8_lossy(&raw);
                        let line =
                            crate::text::clean(text.trim_end_matches(['\n', '\r'])).into_owned();
                        raw.clear();
                        let mut l = logs.lock().unwrap_or_else(|e| e.into_inner());
                        if l.len() == LOG_LINES {
                            l.pop_front();
                        }
                        l.push_back(line);
                    }
                }));
            }
            if let Settled::Exited(code) = settle(&mut child, port).await {
                // Let the readers drain what it said before it went.
                for r in readers {
                    let _ = tokio::time::timeout(Duration::from_millis(200), r).await;
                }
                let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
                let said = last_lines(&logs, 5);
                if attempt == 0 {
                    tracing::warn!(
                        "{} replica of {} {} within {:?} on port {port} ({said}); once more on a fresh port",
                        spec.role,
                        spec.service,
                        exit_detail(code, false),
                        SETTLE
                    );
                    first_exit = Some(said);
                    continue;
                }
                return Err(RuntimeError::CreateRefused(format!(
                    "{:?} {} within {:?}, twice (on two ports); its last output: {said} (before: {})",
                    args[0],
                    exit_detail(code, false),
                    SETTLE,
                    first_exit.unwrap_or_default()
                )));
            }
            let replica = Replica {
                id: format!("pid:{pid}"),
                role: spec.role,
                release: spec.release,
                version: spec.version.clone(),
                addr,
            };
            let exited = Arc::new(Mutex::new(None));
            {
                let (exited, events, id) =
                    (exited.clone(), self.events.clone(), replica.id.clone());
                tokio::spawn(async move {
                    let code = exit_code(child.wait().await);
                    *exited.lock().unwrap_or_else(|e| e.into_inner()) = Some(code);
                    let _ = events.send(RuntimeEvent::Exited {
                        id,
                        code,
                        oom_killed: false,
                    });
                });
            }
            self.lock().insert(
                replica.id.clone(),
                Arc::new(Child {
                    replica: replica.clone(),
                    service: spec.service.clone(),
                    pid,
                    logs,
                    exited,
                    last_cpu: Mutex::new(None),
                    adopted: false,
                }),
            );
            return Ok(replica);
        }
        unreachable!("the loop returns on its second attempt")
    }

    /// Take over a replica an earlier daemon started: record it and poll its
    /// liveness (it is not our child, so its exit status is out of reach).
    fn adopt(&self, service: &str, replica: Replica, pid: i32) {
        let mut children = self.lock();
        if children.contains_key(&replica.id) {
            return;
        }
        let started = start_time(pid);
        let exited = Arc::new(Mutex::new(None));
        {
            let (exited, events, id) = (exited.clone(), self.events.clone(), replica.id.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(ADOPTED_POLL);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    if !alive_since(pid, started) {
                        break;
                    }
                }
                *exited.lock().unwrap_or_else(|e| e.into_inner()) = Some(EXIT_CODE_UNKNOWN);
                let _ = events.send(RuntimeEvent::Exited {
                    id,
                    code: EXIT_CODE_UNKNOWN,
                    oom_killed: false,
                });
            });
        }
        children.insert(
            replica.id.clone(),
            Arc::new(Child {
                replica,
                service: service.to_string(),
                pid,
                logs: Arc::new(Mutex::new(VecDeque::new())),
                exited,
                last_cpu: Mutex::new(None),
                adopted: true,
            }),
        );
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

    async fn logs(&self, replica: &Replica, tail: usize) -> Result<Vec<String>, RuntimeError> {
        match self.lock().get(&replica.id).filter(|c| !c.adopted) {
            Some(c) => {
                let l = c.logs.lock().unwrap_or_else(|e| e.into_inner());
                Ok(l.iter()
                    .skip(l.len().saturating_sub(tail))
                    .cloned()
                    .collect())
            }
            None => Ok(vec![format!(
                "{} was started by an earlier daemon: its output went there",
                replica.id
            )]),
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

    fn subscribe(&self) -> broadcast::Receiver<RuntimeEvent> {
        self.events.subscribe()
    }

    fn bind_instance(&self, instance: &Instance) {
        *self.instance.lock().unwrap_or_else(|e| e.into_inner()) = Some(instance.clone());
    }
}

impl Drop for ProcessRuntime {
    /// Nothing is left behind when the runtime goes (also on a panic). A
    /// daemon killed with SIGKILL cannot run this; its children are adopted
    /// by the next daemon instead.
    fn drop(&mut self) {
        for c in self.lock().values() {
            let _ = killpg(Pid::from_raw(c.pid), Signal::SIGKILL);
        }
    }
}

#[cfg(test)]
#[path = "process_tests.rs"]
mod tests;
