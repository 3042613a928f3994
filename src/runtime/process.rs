//! The process runtime: replicas as local child processes, for machines
//! without Docker and for fast tests. Each replica gets a free loopback port
//! (`{port}` in the command), its own process group (so stopping it stops
//! everything it spawned), and a bounded ring of its output for `logs`.
//!
//! Children carry their identity in their environment (`CUTOVER_SERVICE`,
//! `CUTOVER_ROLE`, `CUTOVER_RELEASE`, `CUTOVER_VERSION`, `CUTOVER_ADDR`), so a
//! restarted daemon can find and adopt them from `/proc` after it was killed.

use super::{Replica, ReplicaStats, Runtime, RuntimeError, RuntimeEvent, VersionSpec};
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

struct Child {
    replica: Replica,
    service: String,
    pid: i32,
    logs: Arc<Mutex<VecDeque<String>>>,
    /// Set once the process has exited (its code).
    exited: Arc<Mutex<Option<i64>>>,
    /// (utime+stime ticks, when) of the last CPU sample.
    last_cpu: Mutex<Option<(u64, std::time::Instant)>>,
}

pub struct ProcessRuntime {
    children: Mutex<BTreeMap<String, Arc<Child>>>,
    events: broadcast::Sender<RuntimeEvent>,
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
        }
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

fn alive(pid: i32) -> bool {
    // Signal 0 probes existence; a zombie counts as gone.
    nix::sys::signal::kill(Pid::from_raw(pid), None).is_ok()
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                !s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(false)
}

/// Adoptable children of `service` found in /proc (after a daemon restart).
fn scan_proc(service: &str) -> Vec<(Replica, i32)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
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
        let leader = std::fs::read_to_string(e.path().join("stat"))
            .ok()
            .and_then(|s| s.rsplit(')').next().map(str::to_string))
            .and_then(|rest| {
                rest.split_whitespace()
                    .nth(2)
                    .and_then(|g| g.parse::<i32>().ok())
            })
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
        out.push((
            Replica {
                id: format!("pid:{pid}"),
                role,
                release: vars
                    .get("CUTOVER_RELEASE")
                    .and_then(|r| r.parse().ok())
                    .unwrap_or(0),
                version: vars.get("CUTOVER_VERSION").cloned().unwrap_or_default(),
                addr: addr.clone(),
            },
            pid,
        ));
    }
    out
}

#[async_trait::async_trait]
impl Runtime for ProcessRuntime {
    fn kind(&self) -> &'static str {
        "process"
    }

    async fn start(&self, spec: &VersionSpec) -> Result<Vec<Replica>, RuntimeError> {
        let Some(command) = spec.command.as_ref().filter(|c| !c.is_empty()) else {
            return Err(RuntimeError::CreateRefused(format!(
                "the process runtime needs a command for {} (command = [\"program\", \"--port\", \"{{port}}\"])",
                spec.role
            )));
        };
        let mut started = Vec::new();
        for _ in 0..spec.replicas {
            let port = free_port()?;
            let addr = format!("127.0.0.1:{port}");
            let args: Vec<String> = command
                .iter()
                .map(|a| a.replace("{port}", &port.to_string()))
                .collect();
            let mut cmd = tokio::process::Command::new(&args[0]);
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
                tokio::spawn(async move {
                    let mut lines = BufReader::new(stream).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let mut l = logs.lock().unwrap_or_else(|e| e.into_inner());
                        if l.len() == LOG_LINES {
                            l.pop_front();
                        }
                        l.push_back(line);
                    }
                });
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
                    let code = match child.wait().await {
                        Ok(status) => {
                            use std::os::unix::process::ExitStatusExt;
                            status
                                .code()
                                .map(i64::from)
                                .or(status.signal().map(|s| 128 + i64::from(s)))
                                .unwrap_or(-1)
                        }
                        Err(_) => -1,
                    };
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
                }),
            );
            started.push(replica);
        }
        Ok(started)
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
        Ok(())
    }

    async fn remove(&self, replica: &Replica) -> Result<(), RuntimeError> {
        if let Some(pid) = pid_of(&replica.id) {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
        self.lock().remove(&replica.id);
        Ok(())
    }

    async fn list(&self, service: &str) -> Result<Vec<Replica>, RuntimeError> {
        let mut out: BTreeMap<String, Replica> = self
            .lock()
            .values()
            .filter(|c| {
                c.service == service && c.exited.lock().map(|e| e.is_none()).unwrap_or(true)
            })
            .map(|c| (c.replica.id.clone(), c.replica.clone()))
            .collect();
        // Children of an earlier daemon of this service (adopted on restart).
        for (r, _) in scan_proc(service) {
            out.entry(r.id.clone()).or_insert(r);
        }
        Ok(out.into_values().collect())
    }

    async fn stats(&self, replica: &Replica) -> Result<ReplicaStats, RuntimeError> {
        let pid =
            pid_of(&replica.id).ok_or_else(|| RuntimeError::NoSuchReplica(replica.id.clone()))?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map_err(|_| RuntimeError::NoSuchReplica(replica.id.clone()))?;
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
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
        match self.lock().get(&replica.id) {
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
