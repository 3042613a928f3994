//! The Docker runtime, through bollard.
//!
//! Containers carry `cutover.service`, `cutover.role`, `cutover.version` and
//! `cutover.release` labels (plus any the caller adds); cutover only ever
//! lists, stops or removes containers that carry its service label. Each
//! container's port is published on 127.0.0.1 with an ephemeral host port,
//! read back after start. Resource usage is sampled one-shot (never a
//! stream: streaming stats for many containers costs the engine dearly).
//! The engine here may speak an older API than bollard's default, so the
//! version is negotiated on connect.

use super::{Replica, ReplicaStats, Runtime, RuntimeError, RuntimeEvent, VersionSpec};
use crate::model::Role;
use bollard::Docker;
use bollard::models::{ContainerCreateBody, ContainerUpdateBody, HostConfig, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptions, EventsOptions, InspectContainerOptions, ListContainersOptions,
    LogsOptions, RemoveContainerOptions, StatsOptions, StopContainerOptions,
};
use futures::StreamExt;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::broadcast;

pub const LABEL_SERVICE: &str = "cutover.service";
pub const LABEL_ROLE: &str = "cutover.role";
pub const LABEL_VERSION: &str = "cutover.version";
pub const LABEL_RELEASE: &str = "cutover.release";

pub struct DockerRuntime {
    docker: Docker,
    endpoint: String,
    events: broadcast::Sender<RuntimeEvent>,
    watcher: tokio::task::JoinHandle<()>,
}

impl Drop for DockerRuntime {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

fn endpoint() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_string())
}

fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404 | 304,
            ..
        }
    )
}

impl DockerRuntime {
    /// Connect to the engine (`DOCKER_HOST` or the local socket) and
    /// negotiate the API version.
    pub async fn connect() -> Result<DockerRuntime, RuntimeError> {
        Self::connect_to(&endpoint()).await
    }

    /// Connect to a given endpoint (`unix:///path` or `tcp://host:port`).
    pub async fn connect_to(endpoint: &str) -> Result<DockerRuntime, RuntimeError> {
        let endpoint = endpoint.to_string();
        let unreachable = |detail: String| RuntimeError::Unreachable {
            endpoint: endpoint.clone(),
            detail,
        };
        let docker = if let Some(path) = endpoint.strip_prefix("unix://") {
            Docker::connect_with_unix(path, 120, bollard::API_DEFAULT_VERSION)
        } else if endpoint.starts_with("tcp://") || endpoint.starts_with("http://") {
            Docker::connect_with_http(&endpoint, 120, bollard::API_DEFAULT_VERSION)
        } else {
            Docker::connect_with_local_defaults()
        }
        .map_err(|e| unreachable(e.to_string()))?;
        let docker = tokio::time::timeout(Duration::from_secs(5), docker.negotiate_version())
            .await
            .map_err(|_| unreachable("no answer within 5 s".into()))?
            .map_err(|e| unreachable(e.to_string()))?;
        docker
            .ping()
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let events = broadcast::channel(256).0;
        let watcher = tokio::spawn(watch_events(docker.clone(), events.clone()));
        Ok(DockerRuntime {
            docker,
            endpoint,
            events,
            watcher,
        })
    }

    pub fn client(&self) -> &Docker {
        &self.docker
    }

    fn err(&self, what: &str, e: bollard::errors::Error) -> RuntimeError {
        match &e {
            bollard::errors::Error::DockerResponseServerError {
                status_code,
                message,
            } => {
                if message.contains("port is already allocated")
                    || message.contains("address already in use")
                {
                    RuntimeError::PortClash(format!("{what}: {message}"))
                } else if *status_code == 404 {
                    RuntimeError::NoSuchReplica(format!("{what}: {message}"))
                } else {
                    RuntimeError::CreateRefused(format!("{what}: {message}"))
                }
            }
            other => RuntimeError::Unreachable {
                endpoint: self.endpoint.clone(),
                detail: format!("{what}: {other}"),
            },
        }
    }

    /// The `127.0.0.1:PORT` the engine published `port/tcp` on.
    async fn published(&self, id: &str, port: u16) -> Result<String, RuntimeError> {
        let info = self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
            .map_err(|e| self.err("inspect", e))?;
        let host_port = info
            .network_settings
            .and_then(|n| n.ports)
            .and_then(|p| p.get(&format!("{port}/tcp")).cloned().flatten())
            .and_then(|b| b.into_iter().find_map(|b| b.host_port))
            .ok_or_else(|| {
                RuntimeError::Other(format!(
                    "container {id} has no published port for {port}/tcp"
                ))
            })?;
        Ok(format!("127.0.0.1:{host_port}"))
    }
}

/// Follow the engine's container events; `die` becomes `Exited` with the
/// exit code and whether the OOM killer did it. Reconnects with backoff.
async fn watch_events(docker: Docker, tx: broadcast::Sender<RuntimeEvent>) {
    let mut backoff = Duration::from_millis(250);
    let mut was_down = false;
    loop {
        let mut filters = HashMap::new();
        filters.insert("type".to_string(), vec!["container".to_string()]);
        filters.insert("label".to_string(), vec![LABEL_SERVICE.to_string()]);
        filters.insert("event".to_string(), vec!["die".to_string()]);
        let mut stream = docker.events(Some(EventsOptions {
            filters: Some(filters),
            ..Default::default()
        }));
        if was_down && docker.ping().await.is_ok() {
            was_down = false;
            let _ = tx.send(RuntimeEvent::Reachable {
                ok: true,
                detail: "the Docker engine answers again".into(),
            });
        }
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(msg) => {
                    backoff = Duration::from_millis(250);
                    let Some(actor) = msg.actor else { continue };
                    let Some(id) = actor.id else { continue };
                    let attrs = actor.attributes.unwrap_or_default();
                    let mut code = attrs
                        .get("exitCode")
                        .and_then(|c| c.parse::<i64>().ok())
                        .unwrap_or(-1);
                    let mut oom = false;
                    if let Ok(info) = docker
                        .inspect_container(&id, None::<InspectContainerOptions>)
                        .await
                        && let Some(state) = info.state
                    {
                        oom = state.oom_killed.unwrap_or(false);
                        code = state.exit_code.unwrap_or(code);
                    }
                    let _ = tx.send(RuntimeEvent::Exited {
                        id,
                        code,
                        oom_killed: oom,
                    });
                }
                Err(e) => {
                    if !was_down {
                        was_down = true;
                        let _ = tx.send(RuntimeEvent::Reachable {
                            ok: false,
                            detail: format!("lost the Docker engine's event stream: {e}"),
                        });
                    }
                    break;
                }
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
        if !was_down && docker.ping().await.is_err() {
            was_down = true;
            let _ = tx.send(RuntimeEvent::Reachable {
                ok: false,
                detail: "the Docker engine does not answer".into(),
            });
        }
    }
}

fn replica_from_labels(
    id: String,
    labels: &HashMap<String, String>,
    addr: String,
) -> Option<Replica> {
    let role = match labels.get(LABEL_ROLE).map(String::as_str) {
        Some("stable") => Role::Stable,
        Some("canary") => Role::Canary,
        _ => return None,
    };
    Some(Replica {
        id,
        role,
        release: labels
            .get(LABEL_RELEASE)
            .and_then(|r| r.parse().ok())
            .unwrap_or(0),
        version: labels.get(LABEL_VERSION).cloned().unwrap_or_default(),
        addr,
    })
}

#[async_trait::async_trait]
impl Runtime for DockerRuntime {
    fn kind(&self) -> &'static str {
        "docker"
    }

    async fn start(&self, spec: &VersionSpec) -> Result<Vec<Replica>, RuntimeError> {
        let Some(image) = spec.image.as_deref() else {
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
        let mut env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        env.push(format!("PORT={}", spec.port));
        env.push(format!("DEMO_PORT={}", spec.port));
        let port_key = format!("{}/tcp", spec.port);
        let mut started = Vec::new();
        for n in 0..spec.replicas {
            let name = format!(
                "cutover-{}-{}-r{}-{n}-{:04x}",
                spec.service,
                spec.role,
                spec.release,
                fastrand::u16(..)
            );
            let body = ContainerCreateBody {
                image: Some(image.to_string()),
                env: Some(env.clone()),
                labels: Some(labels.clone()),
                exposed_ports: Some(HashMap::from([(port_key.clone(), HashMap::new())])),
                host_config: Some(HostConfig {
                    port_bindings: Some(HashMap::from([(
                        port_key.clone(),
                        Some(vec![PortBinding {
                            host_ip: Some("127.0.0.1".into()),
                            host_port: Some(String::new()),
                        }]),
                    )])),
                    nano_cpus: spec.cpus.map(|c| (c * 1e9) as i64),
                    memory: spec.memory.map(|m| m as i64),
                    memory_swap: spec.memory.map(|m| m as i64),
                    ..Default::default()
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
            if let Err(e) = self
                .docker
                .start_container(
                    &created.id,
                    None::<bollard::query_parameters::StartContainerOptions>,
                )
                .await
            {
                let _ = self
                    .docker
                    .remove_container(
                        &created.id,
                        Some(RemoveContainerOptions {
                            force: true,
                            v: true,
                            ..Default::default()
                        }),
                    )
                    .await;
                return Err(self.err(&format!("start {name}"), e));
            }
            let addr = self.published(&created.id, spec.port).await?;
            started.push(Replica {
                id: created.id,
                role: spec.role,
                release: spec.release,
                version: spec.version.clone(),
                addr,
            });
        }
        Ok(started)
    }

    async fn stop(&self, replica: &Replica, grace: Duration) -> Result<(), RuntimeError> {
        let t = grace.as_secs().clamp(0, i32::MAX as u64) as i32;
        match self
            .docker
            .stop_container(
                &replica.id,
                Some(StopContainerOptions {
                    t: Some(t),
                    signal: None,
                }),
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(self.err(&format!("stop {}", replica.id), e)),
        }
    }

    async fn remove(&self, replica: &Replica) -> Result<(), RuntimeError> {
        match self
            .docker
            .remove_container(
                &replica.id,
                Some(RemoveContainerOptions {
                    force: true,
                    v: true,
                    ..Default::default()
                }),
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(self.err(&format!("remove {}", replica.id), e)),
        }
    }

    async fn list(&self, service: &str) -> Result<Vec<Replica>, RuntimeError> {
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
        let mut out = Vec::new();
        for c in found {
            let Some(id) = c.id else { continue };
            let labels = c.labels.unwrap_or_default();
            // Only containers with our exact service label (the filter is the
            // engine's; this re-check is ours).
            if labels.get(LABEL_SERVICE).map(String::as_str) != Some(service) {
                continue;
            }
            let addr = c
                .ports
                .unwrap_or_default()
                .into_iter()
                .find_map(|p| p.public_port.map(|pp| format!("127.0.0.1:{pp}")))
                .unwrap_or_default();
            if let Some(r) = replica_from_labels(id, &labels, addr) {
                out.push(r);
            }
        }
        Ok(out)
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
        let mut stream = self.docker.logs(
            &replica.id,
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
                Ok(out) => lines.extend(
                    String::from_utf8_lossy(&out.into_bytes())
                        .lines()
                        .map(str::to_string),
                ),
                Err(e) => return Err(self.err("logs", e)),
            }
        }
        let skip = lines.len().saturating_sub(tail);
        Ok(lines.split_off(skip))
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
}
