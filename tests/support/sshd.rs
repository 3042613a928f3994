//! An SSH server for the tests: Debian's `openssh-server` on a loopback
//! port with a host key, a client key and a config file made by the test
//! (public-key login as root only), so `DOCKER_HOST=ssh://root@127.0.0.1:PORT`
//! reaches this machine's engine the way it reaches a remote one: through
//! `ssh … docker system dial-stdio`. The server is killed when the value
//! drops, and the host key the ssh client recorded for `[127.0.0.1]:PORT`
//! in the user's `known_hosts` is removed again (the next test's server
//! has another key on perhaps the same port).

#![allow(dead_code)]

use super::release::docker_required;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Sshd {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    /// The client's private key (its public half is the only one authorized).
    pub key: PathBuf,
}

fn keygen(path: &std::path::Path) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .output()
        .expect("ssh-keygen runs");
    assert!(out.status.success(), "ssh-keygen: {out:?}");
}

fn forget_host_key(port: u16) {
    let _ = Command::new("ssh-keygen")
        .args(["-R", &format!("[127.0.0.1]:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

impl Sshd {
    /// `None`: no sshd installed (skip, or fail under CI).
    pub fn start() -> Option<Sshd> {
        let sshd = std::path::Path::new("/usr/sbin/sshd");
        if !sshd.exists() {
            if docker_required() {
                panic!(
                    "openssh-server is required (CUTOVER_REQUIRE_DOCKER=1) but /usr/sbin/sshd is missing"
                );
            }
            eprintln!("skipping: openssh-server is not installed");
            return None;
        }
        // Privilege separation wants this directory (made at boot by the service).
        let _ = std::fs::create_dir_all("/run/sshd");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        keygen(&d.join("host_key"));
        keygen(&d.join("client_key"));
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).unwrap();
        let port = super::registry::free_port();
        forget_host_key(port);
        std::fs::write(
            d.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\nAuthorizedKeysFile {d}/authorized_keys\nPermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nMaxSessions 50\nMaxStartups 50\n",
                d = d.display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(d.join("sshd.log")).unwrap();
        let child = Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("sshd starts");
        // As an operator would have it: the host's key in known_hosts (the
        // client runs in batch mode and never accepts an unknown host).
        let host_pub = std::fs::read_to_string(d.join("host_key.pub")).unwrap();
        let home = std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or("/root".into()));
        let _ = std::fs::create_dir_all(home.join(".ssh"));
        let mut known = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(home.join(".ssh/known_hosts"))
            .unwrap();
        use std::io::Write;
        let key = host_pub
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        writeln!(known, "[127.0.0.1]:{port} {key}").unwrap();
        let s = Sshd {
            child,
            port,
            key: d.join("client_key"),
            dir,
        };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("sshd did not listen on {port}: {}", s.log());
    }

    pub fn url(&self) -> String {
        format!("ssh://root@127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        forget_host_key(self.port);
    }
}
