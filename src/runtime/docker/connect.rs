//! Connecting to a Docker engine: a local socket, plain or TLS `tcp://`,
//! or `ssh://`, with the API version negotiated (engines here may speak an
//! older one than bollard's default) and failures worded so an operator
//! can act on them. Apart from `docker.rs` because reaching the engine is
//! a concern of its own, done once, before any replica exists.

use super::super::docker_endpoint::{Connection, publish_for};
use super::super::docker_events::{self, SharedTracker};
use super::super::{RuntimeError, pull};
use super::DockerRuntime;
use bollard::Docker;
use std::time::Duration;
use tokio::sync::broadcast;

/// An ssh:// engine that did not answer: ssh's own words are not seen
/// (its stderr would interleave with the daemon's), so say how to see them.
fn with_ssh_hint(url: &str, detail: String) -> String {
    match super::super::docker_ssh::parse(url) {
        Some(t) => format!(
            "{detail} (ssh could not log in or run `docker` there; try `ssh -o BatchMode=yes{} {}{} docker version`)",
            t.port.map_or(String::new(), |p| format!(" -p {p}")),
            t.user.map_or(String::new(), |u| format!("{u}@")),
            t.host
        ),
        None => detail,
    }
}

/// Why a local socket cannot be used, in words an operator can act on.
async fn probe_socket(path: &str) -> Result<(), String> {
    match tokio::net::UnixStream::connect(path).await {
        Ok(_) => Ok(()),
        Err(e) => Err(match e.kind() {
            std::io::ErrorKind::NotFound => {
                format!("no socket at {path} (is the Docker engine running on this machine?)")
            }
            std::io::ErrorKind::PermissionDenied => {
                format!("permission denied on {path} (is this user in the docker group?)")
            }
            std::io::ErrorKind::ConnectionRefused => {
                format!("nothing listens on {path} (the engine is not running)")
            }
            _ => format!("cannot connect to {path}: {e}"),
        }),
    }
}

impl DockerRuntime {
    /// Connect to the engine the Docker CLI would use (`DOCKER_HOST`, else
    /// the local socket; `DOCKER_TLS_VERIFY` / `DOCKER_CERT_PATH` for TLS)
    /// and negotiate the API version.
    pub async fn connect() -> Result<DockerRuntime, RuntimeError> {
        Self::connect_with(Connection::from_env()).await
    }

    /// Connect to a given endpoint (`unix:///path`, `tcp://host:port`,
    /// `ssh://user@host[:port]`), without TLS.
    pub async fn connect_to(endpoint: &str) -> Result<DockerRuntime, RuntimeError> {
        Self::connect_with(Connection::given(endpoint)).await
    }

    /// Connect as `conn` says: a local socket, plain or TLS `tcp://`, or
    /// `ssh://` (the `ssh` client runs `docker system dial-stdio` on the
    /// host, so that host needs the docker CLI, as for the CLI itself).
    pub async fn connect_with(conn: Connection) -> Result<DockerRuntime, RuntimeError> {
        let endpoint = conn.endpoint.clone();
        let unreachable = |detail: String| RuntimeError::Unreachable {
            endpoint: endpoint.describe(),
            detail,
        };
        let url = endpoint.url.as_str();
        let docker = if let Some(path) = endpoint.unix_path() {
            probe_socket(path).await.map_err(unreachable)?;
            Docker::connect_with_unix(path, 120, bollard::API_DEFAULT_VERSION)
        } else if let Some(tls) = &conn.tls {
            if let Some(missing) = tls.missing() {
                return Err(unreachable(format!(
                    "TLS is on (DOCKER_TLS_VERIFY) but {} is missing (DOCKER_CERT_PATH names the directory holding ca.pem, cert.pem and key.pem)",
                    missing.display()
                )));
            }
            Docker::connect_with_ssl(
                url,
                &tls.key,
                &tls.cert,
                &tls.ca,
                120,
                bollard::API_DEFAULT_VERSION,
            )
        } else if url.starts_with("tcp://") || url.starts_with("http://") {
            Docker::connect_with_http(url, 120, bollard::API_DEFAULT_VERSION)
        } else if url.starts_with("ssh://") {
            Ok(super::super::docker_ssh::connect(url, conn.ssh_key.as_deref(), 120).map_err(unreachable)?)
        } else {
            return Err(unreachable(
                "unsupported endpoint (use unix:///path, tcp://host:port or ssh://user@host)"
                    .into(),
            ));
        }
        .map_err(|e| unreachable(e.to_string()))?;
        // An ssh:// engine first logs in (a new ssh session): more time.
        let answer_within = if url.starts_with("ssh://") { 20 } else { 5 };
        let docker = tokio::time::timeout(
            Duration::from_secs(answer_within),
            docker.negotiate_version(),
        )
        .await
        .map_err(|_| unreachable(format!("no answer within {answer_within} s")))?
        .map_err(|e| unreachable(with_ssh_hint(url, e.to_string())))?;
        docker
            .ping()
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let publish = publish_for(url, std::env::var("CUTOVER_PUBLISH_HOST").ok().as_deref());
        tracing::info!(
            endpoint = %endpoint.describe(),
            "docker engine connected; replicas are published on {} and reached at {}",
            publish.bind_ip,
            publish.host
        );
        let events = broadcast::channel(256).0;
        let tracker = SharedTracker::default();
        let watcher = tokio::spawn(docker_events::watch(
            docker.clone(),
            events.clone(),
            tracker.clone(),
        ));
        Ok(DockerRuntime {
            docker,
            endpoint,
            publish,
            host_ports: None,
            events,
            tracker,
            watcher,
            docker_config: None,
            pull_stall: pull::STALL,
            instance: std::sync::Mutex::new(None),
        })
    }
}
