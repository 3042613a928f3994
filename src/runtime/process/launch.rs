//! Starting a replica as a child process, and taking over one an earlier
//! daemon started: the command and its clean environment, its log file,
//! the settle check (and the one retry on a fresh port), and the tasks
//! that report the child's exit and keep its log file bounded. Apart from
//! `process.rs` because this is everything that happens between "start"
//! and "it runs".

use super::super::{
    EXIT_CODE_UNKNOWN, Replica, RuntimeError, RuntimeEvent, VersionSpec, exit_detail,
};
use super::logfile::keep_trimmed;
use super::procfs::{INSTANCE_ENV, alive_since, start_time};
use super::{ADOPTED_POLL, Child, ProcessRuntime, SETTLE};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A loopback port nobody listens on now (see the module doc on the race).
fn free_port() -> Result<u16, RuntimeError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| RuntimeError::PortClash(format!("no free loopback port: {e}")))?;
    Ok(l.local_addr()
        .map_err(|e| RuntimeError::Other(e.to_string()))?
        .port())
}

/// A child's exit as one code: its own, or 128 + the signal that ended it.
pub(super) fn exit_code(status: std::io::Result<std::process::ExitStatus>) -> i64 {
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

impl ProcessRuntime {
    /// Start one replica: spawn, settle, once more on a fresh port if it
    /// exited at once; then watch it and record it.
    pub(super) async fn launch(
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
            let (mut child, pid) = self.spawn(spec, &args, port, &addr)?;
            if let Settled::Exited(code) = settle(&mut child, port).await {
                let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
                // Its file holds all it said: each write went there at once.
                let said = match self.tail(pid, 5).await {
                    Ok(lines) => lines.unwrap_or_default().join(" | "),
                    Err(e) => format!("(its output is unreadable: {e})"),
                };
                self.logs.remove(pid);
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
            return Ok(self.keep(spec, child, pid, addr));
        }
        unreachable!("the loop returns on its second attempt")
    }

    /// Spawn `args` with a new log file as its stdout and stderr, named
    /// after its pid once it has one.
    fn spawn(
        &self,
        spec: &VersionSpec,
        args: &[String],
        port: u16,
        addr: &str,
    ) -> Result<(tokio::process::Child, i32), RuntimeError> {
        let log = self
            .logs
            .create()
            .map_err(|e| RuntimeError::CreateRefused(format!("no log file for a replica: {e}")))?;
        let (stdout, stderr) = log.stdio().map_err(|e| {
            RuntimeError::Other(format!("cannot hand its log file to a replica: {e}"))
        })?;
        let child = self
            .command(spec, args, port, addr)
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|e| RuntimeError::CreateRefused(format!("cannot start {:?}: {e}", args[0])))?;
        let pid = child
            .id()
            .map(|p| p as i32)
            .ok_or_else(|| RuntimeError::Other("the child exited at once".into()))?;
        if let Err(e) = log.claim(&self.logs, pid) {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            return Err(RuntimeError::Other(format!(
                "cannot name the log file of pid:{pid} in {}: {e}",
                self.logs.path().display()
            )));
        }
        Ok((child, pid))
    }

    /// The command of one replica: `args` (its `{port}` filled in) in a
    /// process group of its own, with a clean environment: only what the
    /// plan passes on (see the module doc), then the version's own, then
    /// cutover's identity variables. Its output is set by [`Self::spawn`].
    fn command(
        &self,
        spec: &VersionSpec,
        args: &[String],
        port: u16,
        addr: &str,
    ) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&args[0]);
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
            .env("CUTOVER_ADDR", addr)
            .stdin(std::process::Stdio::null())
            .process_group(0)
            .kill_on_drop(false);
        cmd
    }

    /// A child that settled: its exit is watched (and reported once), and
    /// it is recorded as a replica of `spec`.
    fn keep(
        &self,
        spec: &VersionSpec,
        mut child: tokio::process::Child,
        pid: i32,
        addr: String,
    ) -> Replica {
        let replica = Replica {
            id: format!("pid:{pid}"),
            role: spec.role,
            release: spec.release,
            version: spec.version.clone(),
            addr,
        };
        let exited = Arc::new(Mutex::new(None));
        {
            let (exited, events, id) = (exited.clone(), self.events.clone(), replica.id.clone());
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
        keep_trimmed(Arc::downgrade(&self.logs), pid, exited.clone());
        self.lock().insert(
            replica.id.clone(),
            Arc::new(Child {
                replica: replica.clone(),
                service: spec.service.clone(),
                pid,
                exited,
                last_cpu: Mutex::new(None),
            }),
        );
        replica
    }

    /// Take over a replica an earlier daemon started: record it, poll its
    /// liveness (it is not our child, so its exit status is out of reach)
    /// and keep its log file bounded (it still writes to the file it was
    /// started with, which is this runtime's by its pid).
    pub(super) fn adopt(&self, service: &str, replica: Replica, pid: i32) {
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
        keep_trimmed(Arc::downgrade(&self.logs), pid, exited.clone());
        children.insert(
            replica.id.clone(),
            Arc::new(Child {
                replica,
                service: service.to_string(),
                pid,
                exited,
                last_cpu: Mutex::new(None),
            }),
        );
    }
}
