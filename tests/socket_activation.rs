//! Socket activation with the test in systemd's part: it binds the public
//! socket once, holds it for the whole test, and starts `cutover up` with
//! it at fd 3 (`LISTEN_FDS=1`, `LISTEN_PID` the daemon's own pid,
//! `LISTEN_FDNAMES=public`), as `Restart=always` would after each crash.
//!
//! Killed with SIGKILL three times under the test's own load mid-release,
//! the daemon never costs a refused connection: while none runs, new
//! connections wait in the socket's backlog, and the next daemon accepts
//! them once its routing table is restored (so none is answered 502/503
//! from an empty table). What was in flight in the killed process fails:
//! the test counts those and requires that they are only that.

use crate::support::demo_app::App;
use crate::support::mixed_load::MixedLoad;
use crate::support::wait::poll;
use command_fds::{CommandFdExt, FdMapping};
use cutover::api::client::Client;
use cutover::model::{Phase, StateView};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The five loops of [`MixedLoad`] each have at most one request in flight.
const LOOPS: u64 = 5;
const KILLS: u64 = 3;

/// systemd's part: the socket, and the daemon it starts on it.
struct Systemd {
    socket: std::net::TcpListener,
    dir: tempfile::TempDir,
    child: Option<Child>,
    starts: usize,
}

impl Systemd {
    fn root(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn start(&mut self) {
        self.starts += 1;
        let fd = std::os::fd::OwnedFd::from(self.socket.try_clone().unwrap());
        let stderr =
            std::fs::File::create(self.dir.path().join(format!("stderr-{}.txt", self.starts)))
                .unwrap();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "export LISTEN_PID=$$; exec \"$0\" \"$@\""])
            .arg(env!("CARGO_BIN_EXE_cutover"))
            .arg("--state-dir")
            .arg(self.root())
            .args(["up", "--plan"])
            .arg(self.dir.path().join("cutover.toml"))
            .env("LISTEN_FDS", "1")
            .env("LISTEN_FDNAMES", "public")
            .env("CUTOVER_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        cmd.fd_mappings(vec![FdMapping {
            parent_fd: fd,
            child_fd: 3,
        }])
        .unwrap();
        self.child = Some(cmd.spawn().unwrap());
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn stderr(&self) -> String {
        (1..=self.starts)
            .map(|n| {
                std::fs::read_to_string(self.dir.path().join(format!("stderr-{n}.txt")))
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("\n---\n")
    }

    /// A client for the daemon now running (its admin port is its own).
    async fn client(&self, service: &str) -> Client {
        let dir = self.root().join(service);
        let pid = self.child.as_ref().expect("started").id().to_string();
        let found = poll(Duration::from_secs(30), Duration::from_millis(20), || {
            let dir = dir.clone();
            let pid = pid.clone();
            async move {
                // The lock file names the daemon that holds it: this one.
                let lock = std::fs::read_to_string(dir.join("daemon.lock")).ok()?;
                (lock.trim() == pid).then_some(())?;
                let addr = std::fs::read_to_string(dir.join("admin.addr")).ok()?;
                let token = std::fs::read_to_string(dir.join("token")).ok()?;
                let client = Client::new(addr.trim().parse().ok()?, token.trim().to_string())
                    .for_service(service);
                client.state().await.ok().map(|_| client)
            }
        })
        .await;
        found.unwrap_or_else(|| panic!("the daemon did not come up:\n{}", self.stderr()))
    }
}

impl Drop for Systemd {
    fn drop(&mut self) {
        self.kill9();
    }
}

async fn until(client: &Client, what: &str, ok: impl Fn(&StateView) -> bool) -> StateView {
    let state = || async { client.state().await.ok().filter(|s| ok(s)) };
    poll(Duration::from_secs(60), Duration::from_millis(50), state)
        .await
        .unwrap_or_else(|| panic!("timed out waiting for {what}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_under_socket_activation_refuses_no_connection() {
    let (stable, canary) = (App::start("v1"), App::start("v2"));
    let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let public = socket.local_addr().unwrap();
    let mut systemd = Systemd {
        socket,
        dir: tempfile::tempdir().unwrap(),
        child: None,
        starts: 0,
    };
    std::fs::write(
        systemd.dir.path().join("cutover.toml"),
        format!(
            "service = \"activated\"\nruntime = \"static\"\n[listen]\npublic = \"{public}\"\nadmin = \"127.0.0.1:0\"\n\
             [stable]\nversion = \"v1\"\nupstreams = [\"{}\"]\n[canary]\nversion = \"v2\"\nupstreams = [\"{}\"]\n\
             [health]\ninterval = \"200ms\"\ntimeout = \"200ms\"\nhealthy_after = 1\n\
             [[steps]]\nweight = 30\nbake = \"10m\"\n",
            stable.1, canary.1
        ),
    )
    .unwrap();
    systemd.start();
    let client = systemd.client("activated").await;
    until(&client, "the canary at 30 %", |s| {
        s.phase == Phase::Canary && s.weight_permille == 300
    })
    .await;
    assert!(
        systemd
            .stderr()
            .contains(&format!("serving activated on http://{public}")),
        "{}",
        systemd.stderr()
    );
    let load = MixedLoad::start(public, false).await;
    let mut served_while_down = Vec::new();
    for _ in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(800)).await;
        systemd.kill9();
        let before = load.seen().ok;
        // No daemon for half a second: connections wait in the backlog.
        tokio::time::sleep(Duration::from_millis(500)).await;
        systemd.start();
        let client = systemd.client("activated").await;
        let s = until(&client, "the release restored", |s| {
            s.phase == Phase::Canary
        })
        .await;
        assert_eq!(s.weight_permille, 300, "the weight came back");
        tokio::time::sleep(Duration::from_millis(300)).await;
        served_while_down.push(load.seen().ok - before);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (seen, _) = load.stop().await;
    eprintln!(
        "socket activation: {} served, {} failed (in flight in a killed daemon), {} refused over {KILLS} kills; examples {:?}",
        seen.ok, seen.failed, seen.refused, seen.examples
    );
    assert_eq!(seen.refused, 0, "{:?}\n{}", seen.examples, systemd.stderr());
    assert!(
        seen.failed <= LOOPS * KILLS,
        "only what was in flight may fail: {seen:?}"
    );
    // Failures are cut connections (before or during the answer), never
    // answers from an empty table.
    for e in &seen.examples {
        assert!(
            e.starts_with("transport") || e.starts_with("body from"),
            "{e}"
        );
    }
    assert!(
        served_while_down.iter().all(|n| *n > 0),
        "the load went on across each restart: {served_while_down:?}"
    );
    assert!(seen.by_version.get("v2").copied().unwrap_or(0) > 0);
}

/// The same with a daemon of two services (`[[services]]`) on the one
/// activated socket: across two kills no connection is refused, only what
/// was in flight in the killed process fails, and every answer comes from
/// the service its Host names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_daemon_under_socket_activation_refuses_no_connection() {
    let apps = [App::start("shop-v1"), App::start("api-v1")];
    let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let public = socket.local_addr().unwrap();
    let mut systemd = Systemd {
        socket,
        dir: tempfile::tempdir().unwrap(),
        child: None,
        starts: 0,
    };
    let mut plan = format!("[listen]\npublic = \"{public}\"\nadmin = \"127.0.0.1:0\"\n");
    for (name, app) in ["shop", "api"].iter().zip(&apps) {
        plan.push_str(&format!(
            "[[services]]\nservice = \"act-{name}\"\nhosts = [\"{name}.example.test\"]\nruntime = \"static\"\n\
             [services.stable]\nversion = \"{name}-v1\"\nupstreams = [\"{}\"]\n\
             [services.health]\ninterval = \"200ms\"\ntimeout = \"200ms\"\nhealthy_after = 1\n",
            app.1
        ));
    }
    std::fs::write(systemd.dir.path().join("cutover.toml"), plan).unwrap();
    systemd.start();
    for name in ["act-shop", "act-api"] {
        let c = systemd.client(name).await;
        until(&c, "stable healthy", |s| s.stable.healthy() == 1).await;
    }
    let load = crate::support::fleet_load::Load::start(public, &["shop", "api"], "none");
    const FLEET_KILLS: u64 = 2;
    for _ in 0..FLEET_KILLS {
        tokio::time::sleep(Duration::from_millis(600)).await;
        systemd.kill9();
        tokio::time::sleep(Duration::from_millis(500)).await;
        systemd.start();
        for name in ["act-shop", "act-api"] {
            let c = systemd.client(name).await;
            until(&c, "stable healthy again", |s| s.stable.healthy() == 1).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = load.stop().await;
    eprintln!("fleet under socket activation: {seen}");
    // Two loops (keep-alive, a connection per request), one request each.
    assert!(
        seen.failed <= 2 * FLEET_KILLS,
        "only what was in flight: {seen}\n{}",
        systemd.stderr()
    );
    assert!(
        seen.examples
            .iter()
            .all(|e| !e.contains("onnection refused")),
        "no connection refused: {seen}"
    );
    assert_eq!(seen.misrouted, 0, "{seen}");
    assert!(seen.ok > 100, "{seen}");
}
