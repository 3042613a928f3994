//! `cutover up` for a plan with several services, as a child process the
//! test may `kill -9` and start again on the same state root (its
//! process replicas outlive it and are adopted by the next one). Dropping
//! it kills the daemon and every replica whose `CUTOVER_STATE` lies in
//! its state root.

#![allow(dead_code)]

use cutover::api::client::Client;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct FleetUp {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    started: usize,
}

impl FleetUp {
    /// Write `plan` and start `cutover up` on it.
    pub fn start(plan: &str) -> FleetUp {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("fleet.toml"), plan).unwrap();
        let mut up = FleetUp {
            child: None,
            dir,
            started: 0,
        };
        up.spawn();
        up
    }

    /// The state root (`--state-dir`).
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn stderr_path(&self, n: usize) -> PathBuf {
        self.dir.path().join(format!("stderr-{n}.txt"))
    }

    /// What every daemon started here said, in order.
    pub fn stderr(&self) -> String {
        (1..=self.started)
            .map(|n| std::fs::read_to_string(self.stderr_path(n)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n---\n")
    }

    /// Start (again) on the same plan and state root at once, as a
    /// supervisor would: a child of the killed daemon still sharing a
    /// service's lock for a moment is the daemon's to wait for (its lock
    /// waits for a dead holder's), not the test's.
    pub fn spawn(&mut self) {
        self.started += 1;
        let stderr = std::fs::File::create(self.stderr_path(self.started)).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_cutover"))
            .args(["up", "--plan"])
            .arg(self.dir.path().join("fleet.toml"))
            .arg("--state-dir")
            .arg(self.root())
            .env("CUTOVER_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// SIGKILL the daemon (no clean stop), and forget the addresses it
    /// wrote so [`FleetUp::client`] waits for the next one's.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for e in std::fs::read_dir(self.root()).unwrap().flatten() {
            let _ = std::fs::remove_file(e.path().join("admin.addr"));
        }
    }

    /// A client for `service` once the daemon has written its address.
    pub async fn client(&mut self, service: &str, secs: u64) -> Client {
        let dir = self.root().join(service);
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Ok(text) = std::fs::read_to_string(dir.join("admin.addr"))
                && let Ok(addr) = text.trim().parse()
            {
                let token = std::fs::read_to_string(dir.join("token")).unwrap();
                return Client::new(addr, token.trim().to_string()).for_service(service);
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
}

impl Drop for FleetUp {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let root = self.root();
        let want = format!("CUTOVER_STATE={}/", root.display());
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return;
        };
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let Ok(env) = std::fs::read(e.path().join("environ")) else {
                continue;
            };
            if env
                .split(|b| *b == 0)
                .any(|kv| kv.starts_with(want.as_bytes()))
            {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}
