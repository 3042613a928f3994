//! A real image registry for the tests: Debian's `docker-registry` (the
//! CNCF distribution registry) served on a loopback port with a config
//! file and a storage directory of the test's own, optionally behind
//! htpasswd basic auth. The engine treats `127.0.0.1:PORT` as an insecure
//! registry by default, so no TLS is needed. Images are pushed with the
//! engine through the docker CLI (`--config` a directory of the test's own,
//! never the user's), and the registry process is killed when the value is
//! dropped, even when the test fails.
//!
//! [`Registry::push_unique`] pushes an image nobody else has: the demo
//! image plus a layer of random bytes, removed locally after the push, so a
//! pull really fetches bytes (the demo layers themselves are on the engine
//! already and come back as "Already exists").

#![allow(dead_code)]

use super::release::docker_required;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const USER: &str = "cutover";
pub const PASSWORD: &str = "s3cret-pw";

pub struct Registry {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    pub dir: tempfile::TempDir,
    pub auth: bool,
}

/// A port nothing listens on right now (the registry cannot take port 0).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `docker-registry` is installed, else skip (or fail under CI).
fn have_registry() -> bool {
    let ok = Command::new("docker-registry")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if docker_required() {
            panic!(
                "docker-registry is required (CUTOVER_REQUIRE_DOCKER=1) but not installed (apt-get install docker-registry)"
            );
        }
        eprintln!("skipping: docker-registry is not installed (apt-get install docker-registry)");
    }
    ok
}

impl Registry {
    /// Start a registry; with `auth`, behind htpasswd with [`USER`] /
    /// [`PASSWORD`]. `None`: the registry program is missing (skip).
    pub fn start(auth: bool) -> Option<Registry> {
        if !have_registry() {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut auth_yaml = String::new();
        if auth {
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, bcrypt_line(USER, PASSWORD)).unwrap();
            auth_yaml = format!(
                "auth:\n  htpasswd:\n    realm: cutover-test\n    path: {}\n",
                htpasswd.display()
            );
        }
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n{auth_yaml}",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("docker-registry starts");
        let r = Registry {
            child,
            addr,
            dir,
            auth,
        };
        // Bounded poll: the registry answers /v2/ (401 with auth) once up.
        for _ in 0..200 {
            if std::net::TcpStream::connect(&r.addr).is_ok() {
                return Some(r);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the registry at {} did not listen: {}", r.addr, r.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// A Docker config directory whose `config.json` holds `user:password`
    /// for this registry under `auths` (as `docker login` writes it).
    pub fn docker_config(&self, user: &str, password: &str) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        write_auths(d.path(), &self.addr, user, password);
        d
    }

    /// The docker CLI with a config directory of its own (logged in here).
    fn cli(&self) -> (Command, tempfile::TempDir) {
        let cfg = self.docker_config(USER, PASSWORD);
        let mut c = Command::new("docker");
        c.arg("--config").arg(cfg.path());
        (c, cfg)
    }

    /// Push a fresh image (`cutover-demo:v2` plus a layer of `pad_mib` MiB
    /// of random bytes) as `ADDR/REPO:TAG`, then remove it from the engine:
    /// a deploy must pull it. Returns the reference.
    pub async fn push_unique(
        &self,
        docker: &bollard::Docker,
        repo: &str,
        tag: &str,
        pad_mib: usize,
    ) -> String {
        let reference = format!("{}/{repo}:{tag}", self.addr);
        {
            let _turn = super::images::turn().await;
            build_padded(docker, &reference, pad_mib).await;
        }
        let (mut push, _cfg) = self.cli();
        let out = push.args(["push", &reference]).output().unwrap();
        assert!(
            out.status.success(),
            "docker push {reference}: {}{}\nregistry log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        remove_image(&reference);
        reference
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Remove an image reference (and, when it was the last, the image) from the engine.
pub fn remove_image(reference: &str) {
    let _ = Command::new("docker")
        .args(["image", "rm", "--force", reference])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// `config.json` with one `auths` entry, as `docker login` leaves it.
pub fn write_auths(dir: &Path, registry: &str, user: &str, password: &str) {
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    std::fs::write(
        dir.join("config.json"),
        format!("{{\"auths\": {{\"{registry}\": {{\"auth\": \"{auth}\"}}}}}}"),
    )
    .unwrap();
}

/// One htpasswd line with a bcrypt hash (the registry accepts only bcrypt),
/// made by `htpasswd` from apache2-utils.
fn bcrypt_line(user: &str, password: &str) -> String {
    let out = Command::new("htpasswd")
        .args(["-nbB", user, password])
        .output()
        .unwrap_or_else(|e| {
            panic!("htpasswd (apache2-utils) is needed for a registry with auth: {e}")
        });
    assert!(out.status.success(), "htpasswd: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// Build `FROM cutover-demo:v2` plus `/pad` (random bytes) as `tag`.
async fn build_padded(docker: &bollard::Docker, tag: &str, pad_mib: usize) {
    use futures::StreamExt;
    let mut pad = vec![0u8; pad_mib << 20];
    let mut seed = fastrand::Rng::new();
    seed.fill(&mut pad);
    let mut tar = tar::Builder::new(Vec::new());
    let dockerfile = b"FROM cutover-demo:v2\nCOPY pad /pad\n";
    for (name, bytes) in [("Dockerfile", &dockerfile[..]), ("pad", &pad[..])] {
        let mut h = tar::Header::new_ustar();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, name, bytes).unwrap();
    }
    let body = bytes::Bytes::from(tar.into_inner().unwrap());
    let options = bollard::query_parameters::BuildImageOptions {
        dockerfile: "Dockerfile".into(),
        t: Some(tag.to_string()),
        rm: true,
        forcerm: true,
        ..Default::default()
    };
    let mut stream = docker.build_image(options, None, Some(bollard::body_full(body)));
    while let Some(msg) = stream.next().await {
        let info = msg.unwrap_or_else(|e| panic!("building {tag}: {e}"));
        if let Some(e) = info.error_detail {
            panic!("building {tag}: {e:?}");
        }
    }
}

/// Where the docker CLI config of a test lives, for messages.
pub fn config_path(dir: &Path) -> PathBuf {
    dir.join("config.json")
}
