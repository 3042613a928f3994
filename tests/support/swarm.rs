//! A single-node swarm for the Swarm tests, left as it was found: the
//! engine's swarm is made (`docker swarm init --advertise-addr 127.0.0.1`)
//! only when it is inactive, and then left again when the guard drops,
//! also when the test fails (with the `docker_gwbridge` network that
//! `swarm init` made, which leaving keeps). Without an engine, or when the swarm cannot
//! be made, the test is skipped with the reason, or fails under
//! `CUTOVER_REQUIRE_DOCKER=1`.

use std::process::Command;
use std::time::Duration;

pub struct SwarmGuard {
    /// This guard made the swarm (and leaves it at the end).
    created: bool,
    /// The bridge `swarm init` makes was not there before (and goes too:
    /// leaving a swarm keeps it).
    made_gwbridge: bool,
}

const GWBRIDGE: &str = "docker_gwbridge";

fn docker(args: &[&str]) -> Result<String, String> {
    let out = Command::new("docker")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run docker: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "docker {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn skip_or_fail(why: String) -> Option<SwarmGuard> {
    if super::release::docker_required() {
        panic!("Swarm is required (CUTOVER_REQUIRE_DOCKER=1) but unusable: {why}");
    }
    eprintln!("skipping: {why}");
    None
}

impl SwarmGuard {
    /// The engine as a swarm manager, made one if its swarm is inactive;
    /// `None`: skip (reason printed).
    pub fn ensure() -> Option<SwarmGuard> {
        let state = match docker(&[
            "info",
            "--format",
            "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}",
        ]) {
            Ok(s) => s,
            Err(e) => return skip_or_fail(format!("no Docker engine reachable ({e})")),
        };
        match state.as_str() {
            "active true" => Some(SwarmGuard {
                created: false,
                made_gwbridge: false,
            }),
            "inactive false" => {
                let had_gwbridge = docker(&["network", "inspect", GWBRIDGE]).is_ok();
                if let Err(e) = docker(&["swarm", "init", "--advertise-addr", "127.0.0.1"]) {
                    return skip_or_fail(format!("cannot make a single-node swarm ({e})"));
                }
                eprintln!("made a single-node swarm for this test (left again at its end)");
                Some(SwarmGuard {
                    created: true,
                    made_gwbridge: !had_gwbridge,
                })
            }
            other => skip_or_fail(format!(
                "the engine is in a swarm but not a manager of it ({other}); the test will not change that"
            )),
        }
    }
}

impl Drop for SwarmGuard {
    fn drop(&mut self) {
        if !self.created {
            return;
        }
        if let Err(e) = docker(&["swarm", "leave", "--force"]) {
            eprintln!("leaving the test's swarm: {e}");
        }
        if self.made_gwbridge
            && let Err(e) = docker(&["network", "rm", GWBRIDGE])
        {
            eprintln!("removing the swarm's {GWBRIDGE}: {e}");
        }
    }
}

/// Names of services and containers that still carry `label`.
pub fn left_with_label(label: &str) -> Vec<String> {
    let filter = format!("label={label}");
    let mut left = Vec::new();
    for args in [
        ["service", "ls", "-q", "--filter", filter.as_str()].as_slice(),
        ["ps", "-aq", "--filter", filter.as_str()].as_slice(),
    ] {
        if let Ok(out) = docker(args) {
            left.extend(out.lines().filter(|l| !l.is_empty()).map(String::from));
        }
    }
    left
}

/// `docker kill` a container.
pub fn kill(container: &str) {
    docker(&["kill", container]).expect("docker kill");
}

/// A second swarm node on this machine: a dockerd of its own (data root,
/// exec root, pidfile, socket, config file, and a bridge made here with
/// `--iptables=false`, never `--bridge none`, which would delete the first
/// engine's `docker0`), joined to the test's swarm as a worker. It shares
/// the first engine's network namespace, so its swarm listener gets a port
/// of its own and its overlay agent cannot bind the gossip port (7946)
/// the manager holds: overlay networking does not work on it, host-mode
/// ports (all cutover uses) do. Dropping it leaves the swarm, removes the
/// node from the manager's list, stops the engine and deletes the bridge,
/// also when the test fails.
pub struct WorkerNode {
    child: std::process::Child,
    bridge: String,
    pub node_id: String,
    dir: tempfile::TempDir,
}

impl WorkerNode {
    /// `None` (reason printed) when this machine has no dockerd to run;
    /// fails under `CUTOVER_REQUIRE_DOCKER=1` then, and whenever the
    /// engine does not start or join.
    pub async fn join(images: &[&str]) -> Option<WorkerNode> {
        if !std::path::Path::new("/usr/sbin/dockerd").exists() {
            if super::release::docker_required() {
                panic!("dockerd is required for the second swarm node (CUTOVER_REQUIRE_DOCKER=1)");
            }
            eprintln!("skipping the second node: no dockerd on this machine");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("cswarm")
            .tempdir_in("/tmp")
            .unwrap();
        let d = dir.path();
        let n = std::process::id() % 10_000;
        let bridge = format!("coswarm{n}");
        let ip = |args: &[&str]| {
            let out = Command::new("ip").args(args).output().expect("ip runs");
            assert!(
                out.status.success(),
                "ip {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let _ = Command::new("ip")
            .args(["link", "del", &bridge])
            .stderr(std::process::Stdio::null())
            .status();
        ip(&["link", "add", &bridge, "type", "bridge"]);
        ip(&[
            "addr",
            "add",
            &format!("10.214.{}.1/24", 100 + n % 100),
            "dev",
            &bridge,
        ]);
        ip(&["link", "set", &bridge, "up"]);
        let child = super::dockerd::engine_command(d, &bridge, &format!("cutover-swarm-test-{n}"))
            .spawn()
            .expect("dockerd starts");
        let mut node = WorkerNode {
            child,
            bridge,
            node_id: String::new(),
            dir,
        };
        let mut up = false;
        for _ in 0..120 {
            if node.docker(&["info", "--format", "{{.ID}}"]).is_ok() {
                up = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        assert!(up, "the second engine did not answer: {}", node.log());
        let token = docker(&["swarm", "join-token", "-q", "worker"]).expect("a join token");
        let listen = format!("127.0.0.1:{}", super::registry::free_port());
        node.docker(&[
            "swarm",
            "join",
            "--token",
            &token,
            "--listen-addr",
            &listen,
            "--advertise-addr",
            &listen,
            "127.0.0.1:2377",
        ])
        .unwrap_or_else(|e| panic!("the second engine joins the swarm: {e}\n{}", node.log()));
        node.node_id = node
            .docker(&["info", "--format", "{{.Swarm.NodeID}}"])
            .expect("its node id");
        // Its own copy of the images: the services name them by id.
        for image in images {
            let mut save = Command::new("docker")
                .args(["save", image])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("docker save");
            let out = Command::new("docker")
                .args(["-H", &node.host(), "load", "-q"])
                .stdin(save.stdout.take().expect("its output"))
                .output()
                .expect("docker load");
            let saved = save.wait().expect("docker save ends");
            assert!(saved.success(), "docker save {image}: {saved}");
            assert!(
                out.status.success(),
                "loading {image} on the second node: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // Ready once the manager sees it so.
        for _ in 0..100 {
            if docker(&[
                "node",
                "inspect",
                "--format",
                "{{.Status.State}}",
                &node.node_id,
            ])
            .is_ok_and(|s| s == "ready")
            {
                return Some(node);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("the second node never became ready: {}", node.log());
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.dir.path().join("docker.sock").display())
    }

    /// The docker CLI against this node's engine.
    pub fn docker(&self, args: &[&str]) -> Result<String, String> {
        let host = self.host();
        let mut all = vec!["-H", host.as_str()];
        all.extend_from_slice(args);
        docker(&all)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log"))
            .unwrap_or_default()
            .lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for WorkerNode {
    fn drop(&mut self) {
        let _ = self.docker(&["swarm", "leave", "--force"]);
        if !self.node_id.is_empty() {
            let _ = docker(&["node", "rm", "--force", &self.node_id]);
        }
        super::dockerd::stop_engine(&mut self.child);
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .status();
    }
}
