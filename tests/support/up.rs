//! `cutover up` as a child process, for tests that need the real binary's
//! edges: its own environment (what a replica or a hook inherits), its
//! stderr (what a refusal says), its log file. The plan is written into a
//! temporary directory that also holds the state root (`state/`); the child
//! gets SIGTERM on [`Up::stop`] and SIGKILL if dropped still running. A
//! daemon that stops leaves its process replicas running on purpose (the
//! next daemon adopts them); dropping an [`Up`] removes them, found by the
//! state directory their environment names (`CUTOVER_STATE`).

#![allow(dead_code)]

use cutover::api::client::Client;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub struct Up {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub service: String,
    /// Daemons a successor took over from, still finishing (or exited).
    retired: Vec<Child>,
    /// How many daemons were started: each writes its own stderr file.
    started: usize,
}

impl Up {
    /// Write `plan` (service `service`) and start `cutover up` on it with
    /// `env` added to this process's environment.
    pub fn start(service: &str, plan: &str, env: &[(&str, &str)]) -> Up {
        let mut up = Up::new(service, plan);
        up.spawn(env);
        up
    }

    /// Write `plan`, start nothing yet (the test prepares the state first).
    pub fn new(service: &str, plan: &str) -> Up {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cutover.toml"), plan).unwrap();
        Up {
            child: None,
            dir,
            service: service.to_string(),
            retired: Vec::new(),
            started: 0,
        }
    }

    /// Start (again) on the same plan and state.
    pub fn spawn(&mut self, env: &[(&str, &str)]) {
        let child = self.command(env, &[]).spawn().unwrap();
        self.child = Some(child);
    }

    /// `cutover up --takeover` on the same plan and state: the running
    /// daemon is kept (as retired) to finish on its own; the new one is
    /// the daemon from now on. Returns once the new one serves.
    pub async fn take_over(&mut self, secs: u64) {
        let child = self.command(&[], &["--takeover"]).spawn().unwrap();
        if let Some(old) = self.child.replace(child) {
            self.retired.push(old);
        }
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !self.stderr().contains("cutover: took over from pid") {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!(
                    "cutover up --takeover exited ({status}):\n{}",
                    self.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "cutover up --takeover did not take over within {secs} s:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Retired daemons still running.
    pub fn retired_running(&mut self) -> usize {
        let mut running = 0;
        for c in &mut self.retired {
            if c.try_wait().unwrap().is_none() {
                running += 1;
            }
        }
        running
    }

    fn command(&mut self, env: &[(&str, &str)], extra: &[&str]) -> Command {
        self.started += 1;
        let stderr = std::fs::File::create(self.stderr_path(self.started)).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cutover"));
        cmd.arg("--state-dir")
            .arg(self.root())
            .args(["up", "--plan"])
            .arg(self.dir.path().join("cutover.toml"))
            .args(extra)
            .envs(env.iter().copied())
            .env("CUTOVER_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        cmd
    }

    fn stderr_path(&self, n: usize) -> PathBuf {
        match n {
            0 | 1 => self.dir.path().join("stderr.txt"),
            n => self.dir.path().join(format!("stderr-{n}.txt")),
        }
    }

    /// The state root (`--state-dir`).
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// The service's state directory.
    pub fn state(&self) -> PathBuf {
        self.root().join(&self.service)
    }

    /// What the current daemon said on stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.stderr_path(self.started)).unwrap_or_default()
    }

    /// What every daemon started here said, in order.
    /// The daemon's state once `ok` says so (polled every 50 ms), else a
    /// failure that says what was awaited and what every daemon said.
    pub async fn until(
        &self,
        client: &cutover::api::client::Client,
        secs: u64,
        what: &str,
        ok: impl Fn(&cutover::model::StateView) -> bool,
    ) -> cutover::model::StateView {
        let state = || async { client.state().await.ok().filter(|s| ok(s)) };
        super::wait::poll(Duration::from_secs(secs), Duration::from_millis(50), state)
            .await
            .unwrap_or_else(|| panic!("timed out waiting for {what}:\n{}", self.all_stderr()))
    }

    pub fn all_stderr(&self) -> String {
        (1..=self.started)
            .map(|n| std::fs::read_to_string(self.stderr_path(n)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n---\n")
    }

    /// A client once the daemon has written its address (or a panic with
    /// its stderr, when it exited or took longer than `secs`).
    pub async fn client(&mut self, secs: u64) -> Client {
        let addr_file = self.state().join("admin.addr");
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Ok(text) = std::fs::read_to_string(&addr_file)
                && let Ok(addr) = text.trim().parse()
            {
                let token = std::fs::read_to_string(self.state().join("token")).unwrap();
                return Client::new(addr, token.trim().to_string());
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!("cutover up exited ({status}):\n{}", self.stderr());
            }
            assert!(
                Instant::now() < deadline,
                "cutover up wrote no admin.addr within {secs} s:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Wait (at most `secs`) for the daemon to exit on its own.
    pub async fn exited(&mut self, secs: u64) -> ExitStatus {
        let child = self.child.as_mut().expect("started");
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "cutover up still runs after {secs} s"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// SIGKILL, reaped: nothing of the daemon's own cleanup runs, and its
    /// process replicas keep running for the next daemon to adopt.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then wait for it to finish (it stops cleanly).
    pub async fn stop(&mut self) -> ExitStatus {
        let pid = self.child.as_ref().expect("started").id();
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        self.exited(30).await
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        for mut c in self.child.take().into_iter().chain(self.retired.drain(..)) {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.reap_replicas();
    }
}

impl Up {
    /// Kill the process groups of the replicas this daemon started (they
    /// outlive it by design).
    pub fn reap_replicas(&self) {
        for pid in self.replica_pids(None) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }

    /// The processes running with this daemon's state directory in their
    /// environment (`CUTOVER_STATE`): its process replicas, of `role` only
    /// when given (`CUTOVER_ROLE`).
    pub fn replica_pids(&self, role: Option<&str>) -> Vec<i32> {
        let state = format!("CUTOVER_STATE={}", self.state().display());
        let role = role.map(|r| format!("CUTOVER_ROLE={r}"));
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        dir.flatten()
            .filter_map(|e| {
                let pid = e.file_name().to_str()?.parse::<i32>().ok()?;
                let env = std::fs::read(e.path().join("environ")).ok()?;
                let vars: Vec<&[u8]> = env.split(|b| *b == 0).collect();
                let mine = vars.contains(&state.as_bytes())
                    && role.as_ref().is_none_or(|r| vars.contains(&r.as_bytes()));
                mine.then_some(pid)
            })
            .collect()
    }
}

/// The permission bits of `path`.
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}
