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
//!
//! This file holds the runtime itself and its [`Runtime`] methods; beside
//! it, `docker/connect.rs` reaches the engine, `docker/container.rs`
//! creates one replica's container, `docker/inventory.rs` sorts the
//! engine's containers into ours and not ours, and `docker/errors.rs`
//! words the engine's errors.

mod connect;
mod container;
mod errors;
mod inventory;

pub(super) use container::{identity_labels, replica_env};
pub(super) use errors::is_not_found;
use errors::is_not_running;
pub(super) use inventory::replica_from_labels;

use super::docker_endpoint::{Endpoint, Publish};
use super::docker_events::{self, SharedTracker};
use super::pull;
use super::registry_auth::{self, DockerConfig};
use super::{
    Instance, Inventory, Replica, ReplicaStats, Runtime, RuntimeError, RuntimeEvent, VersionSpec,
    exit_detail,
};
use crate::plan::PullPolicy;
use bollard::Docker;
use bollard::models::ContainerUpdateBody;
use bollard::query_parameters::{
    InspectContainerOptions, KillContainerOptions, LogsOptions, RemoveContainerOptions,
    StatsOptions, WaitContainerOptions,
};
use futures::StreamExt;
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

fn remove_options() -> Option<RemoveContainerOptions> {
    Some(RemoveContainerOptions {
        force: true,
        v: true,
        ..Default::default()
    })
}

impl DockerRuntime {
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
        let labels = identity_labels(spec, self.instance());
        let env = replica_env(spec);
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
        Ok(self.scan(service).await?.ours())
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

    async fn images(&self, prefer: Option<&str>) -> Result<Vec<String>, RuntimeError> {
        super::image::local_tags(&self.docker, prefer).await
    }

    fn subscribe(&self) -> broadcast::Receiver<RuntimeEvent> {
        self.events.subscribe()
    }

    fn bind_instance(&self, instance: &Instance) {
        *self.instance.lock().unwrap_or_else(|e| e.into_inner()) = Some(instance.clone());
    }
}
