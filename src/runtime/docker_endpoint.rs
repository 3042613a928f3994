//! Where the Docker engine is, and where the replicas it runs can be reached.
//!
//! Both come from one place, the endpoint (`DOCKER_HOST` or the default
//! socket), so the two never disagree: a local socket publishes container
//! ports on 127.0.0.1 and replicas are reached there; a remote engine
//! (`tcp://H:P`, `ssh://user@H`) publishes them on all of H's interfaces and
//! replicas are reached at H. Nothing else in the runtime assumes loopback.
//! `CUTOVER_PUBLISH_HOST` overrides the host, for an engine reached through a
//! forwarded socket (`ssh -L /tmp/docker.sock:/var/run/docker.sock H`).
//!
//! TLS follows the Docker CLI's variables too (`DOCKER_TLS_VERIFY`,
//! `DOCKER_CERT_PATH` holding `ca.pem`, `cert.pem`, `key.pem`).
//!
//! Pure functions only (and reading the environment); connecting lives in
//! `docker.rs`.

use std::path::{Path, PathBuf};

/// The socket every Docker engine listens on by default.
pub const DEFAULT_SOCKET: &str = "unix:///var/run/docker.sock";

/// Where the engine endpoint came from, so errors can say which one was tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The `DOCKER_HOST` environment variable.
    DockerHost,
    /// Nothing was set: the default local socket.
    Default,
    /// Given by the caller (tests, a forwarded socket).
    Given,
}

/// The engine endpoint and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub url: String,
    pub source: Source,
}

impl Endpoint {
    /// From the value of `DOCKER_HOST` (unset or empty: the default socket).
    pub fn from_docker_host(value: Option<String>) -> Endpoint {
        match value.filter(|v| !v.trim().is_empty()) {
            Some(url) => Endpoint {
                url: url.trim().to_string(),
                source: Source::DockerHost,
            },
            None => Endpoint {
                url: DEFAULT_SOCKET.to_string(),
                source: Source::Default,
            },
        }
    }

    pub fn given(url: &str) -> Endpoint {
        Endpoint {
            url: url.to_string(),
            source: Source::Given,
        }
    }

    /// The endpoint as errors name it: the URL and where it came from.
    pub fn describe(&self) -> String {
        match self.source {
            Source::DockerHost => format!("{} (from DOCKER_HOST)", self.url),
            Source::Default => format!(
                "{} (the default socket; set DOCKER_HOST to use another engine)",
                self.url
            ),
            Source::Given => self.url.clone(),
        }
    }

    /// The socket path of a `unix://` endpoint.
    pub fn unix_path(&self) -> Option<&str> {
        self.url.strip_prefix("unix://")
    }
}

/// The client certificate, key and CA of an engine reached over TLS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    /// `ca.pem`, `cert.pem` and `key.pem` in `dir`, the names the Docker
    /// CLI uses.
    pub fn in_dir(dir: &Path) -> TlsFiles {
        TlsFiles {
            ca: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        }
    }

    /// As the Docker CLI decides: TLS with verification when
    /// `DOCKER_TLS_VERIFY` is set to anything but empty (or the endpoint is
    /// `https://`), with the files from `DOCKER_CERT_PATH`, else `~/.docker`.
    pub fn from_env(
        url: &str,
        tls_verify: Option<&str>,
        cert_path: Option<&str>,
        home: Option<&Path>,
    ) -> Option<TlsFiles> {
        let wanted = tls_verify.is_some_and(|v| !v.is_empty()) || url.starts_with("https://");
        if !wanted || url.starts_with("unix://") || url.starts_with("ssh://") {
            return None;
        }
        let dir = match cert_path.filter(|p| !p.is_empty()) {
            Some(p) => PathBuf::from(p),
            None => home.map_or_else(|| PathBuf::from(".docker"), |h| h.join(".docker")),
        };
        Some(TlsFiles::in_dir(&dir))
    }

    /// The first file that is missing, for an error that names it.
    pub fn missing(&self) -> Option<&Path> {
        [&self.ca, &self.cert, &self.key]
            .into_iter()
            .find(|p| !p.exists())
            .map(PathBuf::as_path)
    }
}

/// Everything needed to reach one engine: where, and with which TLS files
/// (`tcp://` with TLS) or SSH identity (`ssh://`; `None`: what ssh itself
/// uses, the agent or `~/.ssh/config`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    pub endpoint: Endpoint,
    pub tls: Option<TlsFiles>,
    pub ssh_key: Option<PathBuf>,
}

impl Connection {
    /// As the Docker CLI reads its environment: `DOCKER_HOST`,
    /// `DOCKER_TLS_VERIFY`, `DOCKER_CERT_PATH`.
    pub fn from_env() -> Connection {
        let env = |k: &str| std::env::var(k).ok();
        let endpoint = Endpoint::from_docker_host(env("DOCKER_HOST"));
        let home = env("HOME").map(PathBuf::from);
        let tls = TlsFiles::from_env(
            &endpoint.url,
            env("DOCKER_TLS_VERIFY").as_deref(),
            env("DOCKER_CERT_PATH").as_deref(),
            home.as_deref(),
        );
        Connection {
            endpoint,
            tls,
            ssh_key: None,
        }
    }

    /// A given endpoint, plain (no TLS, ssh's own identity).
    pub fn given(url: &str) -> Connection {
        Connection {
            endpoint: Endpoint::given(url),
            tls: None,
            ssh_key: None,
        }
    }
}

/// Where replicas' ports are published and how they are reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publish {
    /// Host part of every replica address (`host:port`).
    pub host: String,
    /// Host IP the engine binds published ports to.
    pub bind_ip: String,
}

impl Publish {
    pub fn loopback() -> Publish {
        Publish {
            host: "127.0.0.1".into(),
            bind_ip: "127.0.0.1".into(),
        }
    }

    /// Replicas are reached at `host`; bound to loopback only when that is
    /// where cutover reaches them, else on all the host's interfaces.
    pub fn at(host: &str) -> Publish {
        if is_loopback(host) {
            Publish::loopback()
        } else {
            Publish {
                host: host.to_string(),
                bind_ip: "0.0.0.0".into(),
            }
        }
    }

    /// `host:port` of a replica published on `port`.
    pub fn addr(&self, port: impl std::fmt::Display) -> String {
        format!("{}:{port}", self.host)
    }
}

/// Derive the publish target from the engine URL (and the
/// `CUTOVER_PUBLISH_HOST` override, when set).
pub fn publish_for(url: &str, override_host: Option<&str>) -> Publish {
    if let Some(h) = override_host.map(str::trim).filter(|h| !h.is_empty()) {
        return Publish::at(h);
    }
    match remote_host(url) {
        Some(h) => Publish::at(&h),
        None => Publish::loopback(),
    }
}

/// The host of a network endpoint (`tcp://`, `http(s)://`, `ssh://`); `None`
/// for local sockets (`unix://`, `npipe://`) and anything without a host.
/// IPv6 literals keep their brackets so `host:port` stays parseable.
pub fn remote_host(url: &str) -> Option<String> {
    let rest = ["tcp://", "http://", "https://", "ssh://"]
        .iter()
        .find_map(|scheme| url.strip_prefix(scheme))?;
    let authority = rest.split('/').next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if authority.starts_with('[') {
        authority.split_inclusive(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    (!host.is_empty()).then(|| host.to_string())
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_sockets_publish_on_loopback() {
        for url in [
            "unix:///var/run/docker.sock",
            "unix:///tmp/x.sock",
            "npipe:////./pipe/docker_engine",
            "",
        ] {
            assert_eq!(publish_for(url, None), Publish::loopback(), "{url}");
        }
    }

    #[test]
    fn remote_engines_are_reached_at_their_host() {
        for (url, host) in [
            ("tcp://10.1.2.3:2375", "10.1.2.3"),
            ("tcp://build-box.example:2376", "build-box.example"),
            ("http://10.0.0.9:2375/", "10.0.0.9"),
            ("https://docker.internal:2376", "docker.internal"),
            ("ssh://deploy@shop-1.example", "shop-1.example"),
            ("ssh://deploy@shop-1.example:2222", "shop-1.example"),
            ("ssh://shop-2", "shop-2"),
            ("tcp://[2001:db8::7]:2375", "[2001:db8::7]"),
        ] {
            let p = publish_for(url, None);
            assert_eq!(p.host, host, "{url}");
            assert_eq!(p.bind_ip, "0.0.0.0", "{url}: reachable from elsewhere");
            assert_eq!(p.addr(32768), format!("{host}:32768"));
        }
    }

    #[test]
    fn a_tcp_engine_on_this_machine_stays_on_loopback() {
        for url in [
            "tcp://127.0.0.1:2375",
            "tcp://localhost:2375",
            "tcp://[::1]:2375",
            "tcp://:2375",
        ] {
            assert_eq!(publish_for(url, None), Publish::loopback(), "{url}");
        }
    }

    #[test]
    fn the_override_wins_for_forwarded_sockets() {
        let p = publish_for("unix:///tmp/forwarded.sock", Some("shop-1.example"));
        assert_eq!(p.host, "shop-1.example");
        assert_eq!(p.bind_ip, "0.0.0.0");
        assert_eq!(
            publish_for("tcp://10.1.2.3:2375", Some(" ")).host,
            "10.1.2.3"
        );
    }

    #[test]
    fn tls_is_used_as_the_docker_cli_decides() {
        let home = Path::new("/home/op");
        let t = TlsFiles::from_env("tcp://h:2376", Some("1"), None, Some(home)).unwrap();
        assert_eq!(t.ca, Path::new("/home/op/.docker/ca.pem"));
        let t = TlsFiles::from_env("tcp://h:2376", Some("1"), Some("/certs"), Some(home)).unwrap();
        assert_eq!(
            (t.cert.as_path(), t.key.as_path()),
            (Path::new("/certs/cert.pem"), Path::new("/certs/key.pem"))
        );
        assert!(TlsFiles::from_env("https://h:2376", None, Some("/c"), None).is_some());
        for (url, verify) in [
            ("tcp://h:2375", None),
            ("tcp://h:2375", Some("")),
            ("unix:///var/run/docker.sock", Some("1")),
            ("ssh://u@h", Some("1")),
        ] {
            assert_eq!(
                TlsFiles::from_env(url, verify, None, Some(home)),
                None,
                "{url}"
            );
        }
    }

    #[test]
    fn errors_name_the_endpoint_and_where_it_came_from() {
        let e = Endpoint::from_docker_host(Some("unix:///tmp/nope.sock".into()));
        assert_eq!(e.describe(), "unix:///tmp/nope.sock (from DOCKER_HOST)");
        assert_eq!(e.unix_path(), Some("/tmp/nope.sock"));
        let d = Endpoint::from_docker_host(None);
        assert_eq!(d.url, DEFAULT_SOCKET);
        assert!(d.describe().contains("default socket"), "{}", d.describe());
        assert_eq!(Endpoint::from_docker_host(Some("  ".into())), d);
    }
}
