//! The Docker runtime, through bollard.
//!
//! Containers carry `cutover.service`, `cutover.role`, `cutover.version` and
//! `cutover.release` labels (plus any the caller adds). A container is ours
//! only when it carries the service, role and release labels together:
//! cutover never lists, stops or removes one that has the service name
//! alone (`docs/SECURITY.md`: label + release id). Each container's port is
//! published on an ephemeral host port (or one from a configured range),
//! read back after start; where it is published and how replicas are
//! reached follows the engine endpoint (`docker_endpoint.rs`): loopback for
//! a local socket, the engine's host for a remote one. Resource usage is
//! sampled one-shot (never a stream: streaming stats for many containers
//! costs the engine dearly). The engine here may speak an older API than
//! bollard's default, so the version is negotiated on connect.
//!
//! Containers are confined as the plan asks, with safe defaults
//! (`no-new-privileges`, a pids limit: `hardening.rs`, applied in
//! `harden`), and carry their instance (`instance.rs`): one of another
//! instance's is not ours.

use super::docker_endpoint::{Connection, Endpoint, Publish, publish_for};
use super::docker_events::{self, SharedTracker};
use super::pull;
use super::registry_auth::{self, DockerConfig};
use super::{
    Claim, Hardening, Instance, Inventory, Replica, ReplicaStats, Runtime, RuntimeError,
    RuntimeEvent, VersionSpec, exit_detail,
};
use crate::model::Role;
use crate::plan::PullPolicy;
use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, ContainerSummary, ContainerUpdateBody, HostConfig, PortBinding,
};
use bollard::query_parameters::{
    CreateContainerOptions, InspectContainerOptions, KillContainerOptions, ListContainersOptions,
    LogsOptions, RemoveContainerOptions, StatsOptions, WaitContainerOptions,
};
use futures::StreamExt;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::broadcast;

pub const LABEL_SERVICE: &str = "cutover.service";
pub const LABEL_ROLE: &str = "cutover.role";
pub const LABEL_VERSION: &str = "cutover.version";
pub const LABEL_RELEASE: &str = "cutover.release";

/// How long a container may take to go after SIGKILL before `stop` gives up.
const KILL_WAIT: Duration = Duration::from_secs(10);

pub struct DockerRuntime {
    docker: Docker,
    endpoint: Endpoint,
    publish: Publish,
    /// Host ports to publish on (`lo`, `hi`), else any ephemeral port.
    host_ports: Option<(u16, u16)>,
    events: broadcast::Sender<RuntimeEvent>,
    tracker: SharedTracker,
    watcher: tokio::task::JoinHandle<()>,
    /// Where Docker's `config.json` is read from for pulls; `None`:
    /// `$DOCKER_CONFIG`, else `~/.docker`, looked up at each pull.
    docker_config: Option<PathBuf>,
    /// A pull during which the engine says nothing this long times out.
    pull_stall: Duration,
    /// The instance this runtime works for (see `instance.rs`).
    instance: std::sync::Mutex<Option<Instance>>,
}

impl Drop for DockerRuntime {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

pub(super) fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404 | 304,
            ..
        }
    )
}

/// The engine answered 409 to a kill: the container is not running (any more).
fn is_not_running(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 409,
            ..
        }
    )
}

fn remove_options() -> Option<RemoveContainerOptions> {
    Some(RemoveContainerOptions {
        force: true,
        v: true,
        ..Default::default()
    })
}

/// An ssh:// engine that did not answer: ssh's own words are not seen
/// (its stderr would interleave with the daemon's), so say how to see them.
fn with_ssh_hint(url: &str, detail: String) -> String {
    match super::docker_ssh::parse(url) {
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
            Ok(super::docker_ssh::connect(url, conn.ssh_key.as_deref(), 120).map_err(unreachable)?)
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

    /// Publish replicas only on host ports `lo..=hi` (a range a firewall
    /// lets through, for a remote engine). The engine picks a free port in
    /// the range; when none is left, start fails with a port clash.
    pub fn with_host_ports(mut self, lo: u16, hi: u16) -> DockerRuntime {
        self.host_ports = Some((lo.min(hi), lo.max(hi)));
        self
    }

    /// Read registry credentials from `DIR/config.json` instead of
    /// `$DOCKER_CONFIG` / `~/.docker`.
    pub fn with_docker_config(mut self, dir: impl Into<PathBuf>) -> DockerRuntime {
        self.docker_config = Some(dir.into());
        self
    }

    /// Give up on a pull after the engine said nothing for `stall`.
    pub fn with_pull_stall(mut self, stall: Duration) -> DockerRuntime {
        self.pull_stall = stall;
        self
    }

    /// The repo digests of `image` on the engine; `None` when it is not there.
    async fn image_digests(&self, image: &str) -> Result<Option<Vec<String>>, RuntimeError> {
        match self.docker.inspect_image(image).await {
            Ok(info) => Ok(Some(info.repo_digests.unwrap_or_default())),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(self.err("inspect image", e)),
        }
    }

    /// Docker's config file, as the CLI would read it now.
    fn registry_config(&self) -> Result<DockerConfig, RuntimeError> {
        let dir = self
            .docker_config
            .clone()
            .or_else(registry_auth::config_dir);
        match dir {
            Some(d) => DockerConfig::load(&d).map_err(|e| RuntimeError::Other(e.to_string())),
            None => Ok(DockerConfig::default()),
        }
    }

    pub fn client(&self) -> &Docker {
        &self.docker
    }

    /// Where replicas of this engine are reached.
    pub fn publish(&self) -> &Publish {
        &self.publish
    }

    /// Where this runtime's events go out (the swarm runtime adds its own).
    pub(super) fn event_sender(&self) -> &broadcast::Sender<RuntimeEvent> {
        &self.events
    }

    /// The containers whose exits are watched and reported once.
    pub(super) fn tracker(&self) -> &SharedTracker {
        &self.tracker
    }

    pub(super) fn instance(&self) -> Option<Instance> {
        self.instance
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// An engine error in words an operator can act on. The engine's
    /// message is outside text (it quotes image references, container names
    /// and output): it enters the model here, cleaned (`crate::text`).
    pub(super) fn err(&self, what: &str, e: bollard::errors::Error) -> RuntimeError {
        match &e {
            bollard::errors::Error::DockerResponseServerError {
                status_code,
                message,
            } => {
                let message = crate::text::clean(message);
                if message.contains("port is already allocated")
                    || message.contains("address already in use")
                    || message.contains("all ports are allocated")
                {
                    RuntimeError::PortClash(format!(
                        "{what}: {message} (another container or process holds that host port)"
                    ))
                } else if *status_code == 404 && !what.starts_with("create") {
                    RuntimeError::NoSuchReplica(format!("{what}: {message}"))
                } else if what.starts_with("create") || what.starts_with("start") {
                    RuntimeError::CreateRefused(format!(
                        "{what}: the engine at {} refused it ({status_code}): {message}",
                        self.endpoint.url
                    ))
                } else {
                    RuntimeError::Other(format!(
                        "{what}: the engine refused it ({status_code}): {message}"
                    ))
                }
            }
            other => RuntimeError::Unreachable {
                endpoint: self.endpoint.describe(),
                detail: crate::text::clean_owned(format!("{what}: {other}")),
            },
        }
    }

    /// The address the engine published `port/tcp` on; a container that is
    /// already gone says so, with its last words.
    async fn published(&self, id: &str, name: &str, port: u16) -> Result<String, RuntimeError> {
        let info = self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
            .map_err(|e| self.err("inspect", e))?;
        let state = info.state.clone().unwrap_or_default();
        let host_port = info
            .network_settings
            .and_then(|n| n.ports)
            .and_then(|p| p.get(&format!("{port}/tcp")).cloned().flatten())
            .and_then(|b| b.into_iter().find_map(|b| b.host_port))
            .filter(|p| !p.is_empty());
        match host_port {
            Some(p) => Ok(self.publish.addr(p)),
            None if state.running != Some(true) => {
                let last = self.logs_of(id, 5).await.unwrap_or_default().join(" | ");
                Err(RuntimeError::CreateRefused(format!(
                    "container {name} {} at once; its last output: {last}",
                    exit_detail(
                        state.exit_code.unwrap_or(-1),
                        state.oom_killed.unwrap_or(false)
                    )
                )))
            }
            None => Err(RuntimeError::Other(format!(
                "container {name} has no published port for {port}/tcp"
            ))),
        }
    }

    /// Create, start and read back one replica; on any failure the container
    /// this call created is removed before the error is returned.
    async fn start_one(
        &self,
        spec: &VersionSpec,
        image: &str,
        n: u32,
        labels: &HashMap<String, String>,
        env: &[String],
    ) -> Result<Replica, RuntimeError> {
        let name = format!(
            "cutover-{}-{}-r{}-{n}-{:04x}",
            spec.service,
            spec.role,
            spec.release,
            fastrand::u16(..)
        );
        let port_key = format!("{}/tcp", spec.port);
        let host_port = match self.host_ports {
            Some((lo, hi)) => format!("{lo}-{hi}"),
            None => String::new(),
        };
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            env: Some(env.to_vec()),
            labels: Some(labels.clone()),
            exposed_ports: Some(vec![port_key.clone()]),
            host_config: Some(HostConfig {
                port_bindings: Some(HashMap::from([(
                    port_key,
                    Some(vec![PortBinding {
                        host_ip: Some(self.publish.bind_ip.clone()),
                        host_port: Some(host_port),
                    }]),
                )])),
                nano_cpus: spec.cpus.map(|c| (c * 1e9) as i64),
                memory: spec.memory.map(|m| m as i64),
                memory_swap: spec.memory.map(|m| m as i64),
                ..harden(&spec.hardening)
            }),
            ..Default::default()
        };
        let created = self
            .docker
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(name.clone()),
                    ..Default::default()
                }),
                body,
            )
            .await
            .map_err(|e| self.err(&format!("create {name}"), e))?;
        let id = created.id;
        let up = async {
            self.docker
                .start_container(
                    &id,
                    None::<bollard::query_parameters::StartContainerOptions>,
                )
                .await
                .map_err(|e| self.err(&format!("start {name}"), e))?;
            self.published(&id, &name, spec.port).await
        };
        match up.await {
            Ok(addr) => {
                docker_events::lock(&self.tracker).know(&id);
                Ok(Replica {
                    id,
                    role: spec.role,
                    release: spec.release,
                    version: spec.version.clone(),
                    addr,
                })
            }
            Err(e) => {
                let _ = self.docker.remove_container(&id, remove_options()).await;
                Err(e)
            }
        }
    }

    /// Wait until the container no longer runs (exited, or gone).
    async fn wait_stopped(&self, id: &str) -> Result<(), RuntimeError> {
        let mut wait = self.docker.wait_container(
            id,
            Some(WaitContainerOptions {
                condition: "not-running".into(),
            }),
        );
        match wait.next().await {
            None | Some(Ok(_)) => Ok(()),
            // A non-zero exit arrives as this "error": it did stop.
            Some(Err(bollard::errors::Error::DockerContainerWaitError { .. })) => Ok(()),
            Some(Err(e)) if is_not_found(&e) => Ok(()),
            Some(Err(e)) => Err(self.err(&format!("wait for {id}"), e)),
        }
    }

    /// Send `signal`; Ok(false) when the container was not running (or gone).
    async fn signal(&self, id: &str, signal: &str) -> Result<bool, RuntimeError> {
        match self
            .docker
            .kill_container(
                id,
                Some(KillContainerOptions {
                    signal: signal.into(),
                }),
            )
            .await
        {
            Ok(()) => Ok(true),
            Err(e) if is_not_found(&e) || is_not_running(&e) => Ok(false),
            Err(e) => Err(self.err(&format!("{signal} to {id}"), e)),
        }
    }

    pub(super) async fn logs_of(&self, id: &str, tail: usize) -> Result<Vec<String>, RuntimeError> {
        let mut stream = self.docker.logs(
            id,
            Some(LogsOptions {
                stdout: true,
                stderr: true,
                tail: tail.to_string(),
                ..Default::default()
            }),
        );
        let mut lines = Vec::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                // A replica's output is outside text: cleaned as it enters.
                Ok(out) => lines.extend(crate::text::lines(&String::from_utf8_lossy(
                    &out.into_bytes(),
                ))),
                Err(e) => return Err(self.err("logs", e)),
            }
        }
        let skip = lines.len().saturating_sub(tail);
        Ok(lines.split_off(skip))
    }

    /// Every container carrying this service's label, sorted into ours
    /// (running or dead) and look-alikes that are not ours.
    async fn scan(&self, service: &str) -> Result<Inventory, RuntimeError> {
        let mut filters = HashMap::new();
        filters.insert(
            "label".to_string(),
            vec![format!("{LABEL_SERVICE}={service}")],
        );
        let found = self
            .docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            }))
            .await
            .map_err(|e| self.err("list containers", e))?;
        let mut inv = Inventory::default();
        let me = self.instance();
        for c in found {
            let Some(id) = c.id.clone() else { continue };
            let labels = c.labels.clone().unwrap_or_default();
            // The filter is the engine's; this re-check is ours.
            if labels.get(LABEL_SERVICE).map(String::as_str) != Some(service) {
                continue;
            }
            // Another instance's (another state directory's daemon): not
            // ours, whatever else it carries.
            if let Some(other) = Instance::from_labels(|k| labels.get(k).map(String::as_str))
                && let Some(me) = &me
                && other.id != me.id
            {
                let short = crate::text::clean(&id[..id.len().min(12)]).into_owned();
                inv.foreign.push(format!(
                    "container {short} of {service} belongs to another cutover, {}: not ours, left alone",
                    other.describe()
                ));
                match inv.others.iter_mut().find(|c| c.instance == other) {
                    Some(claim) => claim.replicas.push(short),
                    None => inv.others.push(Claim {
                        instance: other,
                        replicas: vec![short],
                    }),
                }
                continue;
            }
            let Some(replica) = replica_from_labels(id.clone(), &labels, self.addr_of(&c)) else {
                let name = c
                    .names
                    .as_ref()
                    .and_then(|n| n.first())
                    .map_or(String::new(), |n| {
                        crate::text::clean(n.trim_start_matches('/')).into_owned()
                    });
                let warning = format!(
                    "container {name} ({}) carries {LABEL_SERVICE}={service} but not cutover's {LABEL_ROLE} and {LABEL_RELEASE} labels: it is not cutover's, left alone",
                    &id[..id.len().min(12)]
                );
                tracing::warn!("{warning}");
                inv.foreign.push(warning);
                continue;
            };
            use bollard::models::ContainerSummaryStateEnum as State;
            match c.state {
                Some(State::RUNNING | State::PAUSED | State::RESTARTING) => {
                    docker_events::lock(&self.tracker).know(&id);
                    inv.running.push(replica);
                }
                Some(State::CREATED) => inv.exited.push((replica, "never started".into())),
                _ => {
                    let detail = match self
                        .docker
                        .inspect_container(&id, None::<InspectContainerOptions>)
                        .await
                    {
                        Ok(info) => {
                            let s = info.state.unwrap_or_default();
                            exit_detail(s.exit_code.unwrap_or(-1), s.oom_killed.unwrap_or(false))
                        }
                        Err(_) => crate::text::clean_owned(
                            c.status.clone().unwrap_or_else(|| "dead".into()),
                        ),
                    };
                    inv.exited.push((replica, detail));
                }
            }
        }
        Ok(inv)
    }

    fn addr_of(&self, c: &ContainerSummary) -> String {
        c.ports
            .iter()
            .flatten()
            .find_map(|p| p.public_port)
            .map(|p| self.publish.addr(p))
            .unwrap_or_default()
    }
}

/// A replica from its labels, only when it carries cutover's whole identity
/// (role and release besides the service).
pub(super) fn replica_from_labels(
    id: String,
    labels: &HashMap<String, String>,
    addr: String,
) -> Option<Replica> {
    let role = match labels.get(LABEL_ROLE).map(String::as_str) {
        Some("stable") => Role::Stable,
        Some("canary") => Role::Canary,
        _ => return None,
    };
    let release = labels.get(LABEL_RELEASE)?.parse().ok()?;
    Some(Replica {
        id,
        role,
        release,
        // Labels are the engine's to report and anyone's to set: outside text.
        version: crate::text::clean_owned(labels.get(LABEL_VERSION).cloned().unwrap_or_default()),
        addr,
    })
}

#[async_trait::async_trait]
impl Runtime for DockerRuntime {
    fn kind(&self) -> crate::plan::RuntimeKind {
        crate::plan::RuntimeKind::Docker
    }

    async fn prepare(
        &self,
        spec: &VersionSpec,
        progress: pull::Progress<'_>,
    ) -> Result<Option<String>, RuntimeError> {
        let Some(image) = spec.image.as_deref() else {
            return Ok(None);
        };
        // A pinned version runs its digest: pulled only if the engine lost it.
        let (target, policy) = match spec.pinned.as_deref() {
            Some(p) => (p, PullPolicy::Missing),
            None => (image, spec.pull),
        };
        let present = self.image_digests(target).await?;
        let must_pull = match policy {
            PullPolicy::Always => true,
            PullPolicy::Missing => present.is_none(),
            PullPolicy::Never => false,
        };
        let pin = |digests: &[String]| spec.pinned.clone().or_else(|| pull::pin_of(image, digests));
        if !must_pull {
            return match present {
                Some(digests) => Ok(pin(&digests)),
                None => Err(RuntimeError::ImageMissing {
                    image: target.to_string(),
                }),
            };
        }
        let registry = registry_auth::registry_of(target);
        let failed = |failure, detail: String| RuntimeError::Pull {
            image: target.to_string(),
            registry: registry.clone(),
            failure,
            detail,
        };
        let credentials = self
            .registry_config()?
            .credentials(target)
            .await
            .map_err(|e| failed(pull::PullFailure::Unauthorized, e.to_string()))?;
        tracing::info!(image = target, %registry, authenticated = credentials.is_some(), "pulling");
        let layers = pull::pull(&self.docker, target, credentials, self.pull_stall, progress)
            .await
            .map_err(|e| failed(e.failure, e.detail))?;
        let digests = self.image_digests(target).await?.ok_or_else(|| {
            failed(
                pull::PullFailure::Other,
                "the pull ended but the engine does not have the image".into(),
            )
        })?;
        let digest = pin(&digests);
        progress(pull::PullReport {
            image: target.to_string(),
            layers,
            done: true,
            digest: digest.clone(),
        });
        Ok(digest)
    }

    async fn start(&self, spec: &VersionSpec) -> Result<Vec<Replica>, RuntimeError> {
        // The pinned digest, when a pull resolved one: exactly those bytes.
        let Some(image) = spec.pinned.as_deref().or(spec.image.as_deref()) else {
            return Err(RuntimeError::CreateRefused(format!(
                "the docker runtime needs an image for {}",
                spec.role
            )));
        };
        match self.docker.inspect_image(image).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {
                return Err(RuntimeError::ImageMissing {
                    image: image.to_string(),
                });
            }
            Err(e) => return Err(self.err("inspect image", e)),
        }
        let mut labels: HashMap<String, String> = spec.labels.clone().into_iter().collect();
        labels.insert(LABEL_SERVICE.into(), spec.service.clone());
        labels.insert(LABEL_ROLE.into(), spec.role.as_str().into());
        labels.insert(LABEL_VERSION.into(), spec.version.clone());
        labels.insert(LABEL_RELEASE.into(), spec.release.to_string());
        if let Some(me) = self.instance() {
            labels.extend(me.labels());
        }
        let mut env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        env.push(format!("PORT={}", spec.port));
        env.push(format!("DEMO_PORT={}", spec.port));
        let mut started: Vec<Replica> = Vec::new();
        for n in 0..spec.replicas {
            match self.start_one(spec, image, n, &labels, &env).await {
                Ok(r) => started.push(r),
                Err(e) => {
                    // All or nothing: the replicas this call already started
                    // go too, so a failed start leaves no container behind.
                    for r in &started {
                        if let Err(re) = self.remove(r).await {
                            tracing::warn!(replica = %r.id, "removing after a failed start: {re}");
                        }
                    }
                    return Err(e);
                }
            }
        }
        Ok(started)
    }

    /// SIGTERM now, the exact `grace` timed here, then SIGKILL. Not the
    /// engine's own stop: its timeout is whole seconds, so a 300 ms grace
    /// would have become an immediate kill.
    async fn stop(&self, replica: &Replica, grace: Duration) -> Result<(), RuntimeError> {
        if !grace.is_zero() {
            if !self.signal(&replica.id, "SIGTERM").await? {
                return Ok(()); // not running, or gone
            }
            if let Ok(done) = tokio::time::timeout(grace, self.wait_stopped(&replica.id)).await {
                return done;
            }
        }
        if !self.signal(&replica.id, "SIGKILL").await? {
            return Ok(());
        }
        tokio::time::timeout(KILL_WAIT, self.wait_stopped(&replica.id))
            .await
            .map_err(|_| {
                RuntimeError::Other(format!(
                    "{} still runs {} s after SIGKILL",
                    replica.id,
                    KILL_WAIT.as_secs()
                ))
            })?
    }

    async fn remove(&self, replica: &Replica) -> Result<(), RuntimeError> {
        docker_events::lock(&self.tracker).forget(&replica.id);
        match self
            .docker
            .remove_container(&replica.id, remove_options())
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(self.err(&format!("remove {}", replica.id), e)),
        }
    }

    async fn list(&self, service: &str) -> Result<Vec<Replica>, RuntimeError> {
        let inv = self.scan(service).await?;
        Ok(inv
            .running
            .into_iter()
            .chain(inv.exited.into_iter().map(|(r, _)| r))
            .collect())
    }

    async fn inventory(&self, service: &str) -> Result<Inventory, RuntimeError> {
        self.scan(service).await
    }

    async fn stats(&self, replica: &Replica) -> Result<ReplicaStats, RuntimeError> {
        let mut stream = self.docker.stats(
            &replica.id,
            Some(StatsOptions {
                stream: false,
                one_shot: false,
            }),
        );
        let Some(s) = stream.next().await else {
            return Ok(ReplicaStats::default());
        };
        let s = s.map_err(|e| self.err("stats", e))?;
        let cpu = s.cpu_stats.as_ref();
        let pre = s.precpu_stats.as_ref();
        let total = |c: Option<&bollard::models::ContainerCpuStats>| {
            c.and_then(|c| c.cpu_usage.as_ref())
                .and_then(|u| u.total_usage)
                .unwrap_or(0)
        };
        let system = |c: Option<&bollard::models::ContainerCpuStats>| {
            c.and_then(|c| c.system_cpu_usage).unwrap_or(0)
        };
        let cpu_delta = total(cpu).saturating_sub(total(pre)) as f64;
        let sys_delta = system(cpu).saturating_sub(system(pre)) as f64;
        let cpus = cpu.and_then(|c| c.online_cpus).unwrap_or(1).max(1) as f64;
        let cpu_percent = (sys_delta > 0.0).then(|| cpu_delta / sys_delta * cpus * 100.0);
        let mem = s.memory_stats.as_ref();
        Ok(ReplicaStats {
            cpu_percent,
            memory_bytes: mem.and_then(|m| m.usage),
            memory_limit: mem.and_then(|m| m.limit),
        })
    }

    async fn logs(&self, replica: &Replica, tail: usize) -> Result<Vec<String>, RuntimeError> {
        self.logs_of(&replica.id, tail).await
    }

    async fn resize(
        &self,
        replica: &Replica,
        cpus: Option<f64>,
        memory: Option<u64>,
    ) -> Result<(), RuntimeError> {
        let body = ContainerUpdateBody {
            nano_cpus: cpus.map(|c| (c * 1e9) as i64),
            memory: memory.map(|m| m as i64),
            memory_swap: memory.map(|m| m as i64),
            ..Default::default()
        };
        self.docker
            .update_container(&replica.id, body)
            .await
            .map_err(|e| self.err(&format!("resize {}", replica.id), e))
    }

    fn subscribe(&self) -> broadcast::Receiver<RuntimeEvent> {
        self.events.subscribe()
    }

    fn bind_instance(&self, instance: &Instance) {
        *self.instance.lock().unwrap_or_else(|e| e.into_inner()) = Some(instance.clone());
    }
}

/// The confinement a version asks for (`hardening.rs`), as the engine takes
/// it: every container-create option of it is set here and nowhere else.
fn harden(h: &Hardening) -> HostConfig {
    let list = |v: &[String]| (!v.is_empty()).then(|| v.to_vec());
    HostConfig {
        security_opt: h
            .no_new_privileges
            .then(|| vec!["no-new-privileges:true".to_string()]),
        pids_limit: Some(i64::from(h.pids_limit)),
        cap_drop: list(&h.cap_drop),
        cap_add: list(&h.cap_add),
        readonly_rootfs: h.read_only.then_some(true),
        tmpfs: (!h.tmpfs.is_empty()).then(|| {
            h.tmpfs
                .iter()
                .map(|p| (p.clone(), super::hardening::TMPFS_OPTIONS.to_string()))
                .collect()
        }),
        ..Default::default()
    }
}
