//! A second Docker engine for the tests, reached over TCP with TLS: its own
//! `--data-root`, `--exec-root`, `--pidfile`, socket and `--config-file`
//! (so it reads nothing of the first engine's), a TLS listener on a
//! loopback port with certificates made here by `openssl` (a CA, a server
//! certificate for IP 127.0.0.1, a client certificate), and a bridge of its
//! own made here (`ip link add … type bridge`, its own subnet) with
//! `--iptables=false`. It shares the first engine's network namespace, so
//! it must never run with `--bridge none`: that deletes the first engine's
//! `docker0`. Storage is `vfs` (no overlay on overlay). Dropping the value
//! stops the engine (SIGTERM, then SIGKILL) and deletes the bridge, even
//! when the test fails.

#![allow(dead_code)]

use super::release::docker_required;
use cutover::runtime::docker::DockerRuntime;
use cutover::runtime::docker_endpoint::{Connection, Endpoint, TlsFiles};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct TlsEngine {
    child: Child,
    bridge: String,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

fn run(what: &str, cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate
/// (`ca.pem`, `cert.pem`, `key.pem`: the names the Docker CLI looks for).
fn make_certs(d: &Path) {
    let ossl = |args: &[&str]| {
        let mut c = Command::new("openssl");
        c.current_dir(d).args(args);
        run(&format!("openssl {}", args[0]), &mut c);
    };
    ossl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca-key.pem",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=cutover-test-ca",
    ]);
    std::fs::write(
        d.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    std::fs::write(
        d.join("client.ext"),
        "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    for (name, key, cert, ext) in [
        (
            "127.0.0.1",
            "server-key.pem",
            "server-cert.pem",
            "server.ext",
        ),
        ("cutover-client", "key.pem", "cert.pem", "client.ext"),
    ] {
        ossl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            key,
            "-out",
            "req.csr",
            "-subj",
            &format!("/CN={name}"),
        ]);
        ossl(&[
            "x509",
            "-req",
            "-in",
            "req.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-out",
            cert,
            "-days",
            "2",
            "-extfile",
            ext,
        ]);
    }
}

impl TlsEngine {
    /// Start the engine and wait until it answers over TLS; `None`: this
    /// machine cannot run one (skip, or fail under CI).
    pub async fn start() -> Option<TlsEngine> {
        if !Path::new("/usr/sbin/dockerd").exists()
            || Command::new("openssl").arg("version").output().is_err()
        {
            if docker_required() {
                panic!("dockerd and openssl are required (CUTOVER_REQUIRE_DOCKER=1)");
            }
            eprintln!("skipping: no dockerd or openssl on this machine");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("ctls")
            .tempdir_in("/tmp")
            .unwrap();
        let d = dir.path();
        make_certs(d);
        let n = std::process::id() % 10_000;
        let bridge = format!("cotls{n}");
        let subnet_octet = 100 + (n % 100);
        let _ = Command::new("ip")
            .args(["link", "del", &bridge])
            .stderr(Stdio::null())
            .status();
        run(
            "ip link add",
            Command::new("ip").args(["link", "add", &bridge, "type", "bridge"]),
        );
        run(
            "ip addr add",
            Command::new("ip").args([
                "addr",
                "add",
                &format!("10.213.{subnet_octet}.1/24"),
                "dev",
                &bridge,
            ]),
        );
        run(
            "ip link set up",
            Command::new("ip").args(["link", "set", &bridge, "up"]),
        );
        let port = super::registry::free_port();
        let p = |f: &str| d.join(f).display().to_string();
        let child = engine_command(d, &bridge, &format!("cutover-test-{n}"))
            .args([
                "-H",
                &format!("tcp://127.0.0.1:{port}"),
                "--tlsverify",
                "--tlscacert",
                &p("ca.pem"),
                "--tlscert",
                &p("server-cert.pem"),
                "--tlskey",
                &p("server-key.pem"),
            ])
            .spawn()
            .expect("dockerd starts");
        let engine = TlsEngine {
            child,
            bridge,
            port,
            dir,
        };
        for _ in 0..120 {
            if engine.connect().await.is_ok() {
                return Some(engine);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        panic!(
            "the second engine did not answer over TLS: {}",
            engine.log()
        );
    }

    /// The client side, as `DOCKER_HOST=tcp://127.0.0.1:PORT
    /// DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=DIR` would give it.
    pub fn connection(&self) -> Connection {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let tls = TlsFiles::from_env(
            &url,
            Some("1"),
            Some(&self.dir.path().display().to_string()),
            None,
        );
        Connection {
            endpoint: Endpoint::given(&url),
            tls,
            ssh_key: None,
        }
    }

    pub async fn connect(&self) -> Result<DockerRuntime, cutover::runtime::RuntimeError> {
        DockerRuntime::connect_with(self.connection()).await
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }
}

impl Drop for TlsEngine {
    fn drop(&mut self) {
        stop_engine(&mut self.child);
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .status();
    }
}

/// Stop a dockerd this test started: SIGTERM, up to 30 s to shut its
/// containers down, then SIGKILL.
pub fn stop_engine(child: &mut std::process::Child) {
    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    for _ in 0..300 {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A second dockerd beside the machine's own, everything in `dir`: its own
/// data and exec roots, pidfile, config file, socket (`dir/docker.sock`)
/// and log (`dir/dockerd.log`), and the bridge the test made for it. Never
/// `--bridge none`: that makes it delete the first engine's `docker0`.
pub fn engine_command(dir: &std::path::Path, bridge: &str, cgroup_parent: &str) -> Command {
    std::fs::write(dir.join("daemon.json"), "{}\n").unwrap();
    let p = |f: &str| dir.join(f).display().to_string();
    let log = std::fs::File::create(dir.join("dockerd.log")).unwrap();
    let mut cmd = Command::new("/usr/sbin/dockerd");
    cmd.args([
        "--data-root",
        &p("data"),
        "--exec-root",
        &p("exec"),
        "--pidfile",
        &p("docker.pid"),
        "--config-file",
        &p("daemon.json"),
        "-H",
        &format!("unix://{}", p("docker.sock")),
        "--bridge",
        bridge,
        "--iptables=false",
        "--ip-masq=false",
        "--storage-driver",
        "vfs",
        "--cgroup-parent",
        cgroup_parent,
    ])
    .stdout(log.try_clone().unwrap())
    .stderr(log);
    cmd
}
