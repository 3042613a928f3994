//! The Docker Swarm runtime: stable and canary are one Swarm service each,
//! driven through a manager node's engine (bollard).
//!
//! A replica is one running task, named by its container's id (what the
//! engine's events, stats and logs know it by) and reached at its node's
//! address and the host-mode port Swarm published it on (`swarm_spec.rs`
//! builds the service and reads the tasks). Services and their tasks'
//! containers carry the same labels as the Docker runtime's containers
//! (service, role, version, release, the instance, any the caller adds).
//!
//! Swarm places the replicas (the plan's `[swarm]` constraints and
//! `max_replicas_per_node`) and replaces a dead one. The pool follows the
//! task list, polled every second: a task that ends is reported as
//! [`RuntimeEvent::Exited`] (once, shared with the engine's container
//! events, so `docker kill` of a task's container reads as on Docker), and
//! its replacement as [`RuntimeEvent::Appeared`] once it runs with its port,
//! to enter the pool when its health checks pass.
//!
//! Stopping every replica of a version scales its service to 0 with the
//! plan's grace; stopping a few (a reconcile's orphans) stops their
//! containers and scales the service down by as many, so Swarm does not
//! start them again. Removing the last replica of a service deletes the
//! service. A resize is a service update (Swarm replaces the tasks one at a
//! time, the new one first). Everything the Docker runtime does with one
//! container (pull, stats, logs, the engine's events) is done by an inner
//! [`DockerRuntime`] on the manager's engine; stats and logs of tasks on
//! other nodes are not reachable from there.
//!
//! This file holds the runtime, what it knows of its services and
//! replicas, and its [`Runtime`] methods; beside it, `swarm/service.rs`
//! holds the engine calls on one service, `swarm/inventory.rs` sorts the
//! engine's services into ours and not ours, and `swarm/follow.rs` follows
//! their task lists.

mod follow;
mod inventory;
mod service;

use follow::{Follower, addr_of, tasks_of};

use super::docker::{DockerRuntime, identity_labels, is_not_found, replica_env};
use super::docker_events;
use super::swarm_spec::{self, TaskPhase, TaskView};
use super::{
    Instance, Inventory, Replica, ReplicaStats, Runtime, RuntimeError, RuntimeEvent, VersionSpec,
    pull,
};
use crate::model::Role;
use crate::plan::SwarmPlan;
use bollard::Docker;
use bollard::models::LocalNodeState;
use bollard::query_parameters::InspectServiceOptions;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;

/// Why the runtime refuses an engine that cannot run services.
pub const NOT_MANAGER: &str =
    "this engine is not a swarm manager: run `docker swarm init` or point DOCKER_HOST at a manager";

/// How often the task list is read.
const POLL: Duration = Duration::from_secs(1);
/// How long a start waits for its tasks to run with their ports.
const START_WITHIN: Duration = Duration::from_secs(120);
/// How long a stop waits past its grace for the task to be gone.
const STOP_SLACK: Duration = Duration::from_secs(15);
/// Prefix of the id of a service with no task left to name it by.
const SERVICE_ID: &str = "service:";

/// One version's service, as this runtime follows it.
#[derive(Clone, Debug)]
struct Svc {
    role: Role,
    release: u64,
    version: String,
    port: u16,
    /// Its task list is polled (set once the start that made it returned,
    /// or when it was found at reconcile).
    followed: bool,
}

/// One replica handed out (a task's container).
#[derive(Clone, Debug)]
struct Held {
    service: String,
    node: String,
    alive: bool,
    /// Asked to stop: not counted among the service's replicas any more.
    retiring: bool,
}

#[derive(Debug, Default)]
struct Known {
    /// By service id.
    services: HashMap<String, Svc>,
    /// By container id.
    replicas: HashMap<String, Held>,
    /// Node addresses by node id.
    nodes: HashMap<String, String>,
}

type Shared = Arc<Mutex<Known>>;

fn lock(k: &Shared) -> std::sync::MutexGuard<'_, Known> {
    k.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct SwarmRuntime {
    docker: DockerRuntime,
    placement: SwarmPlan,
    /// The manager's own node: its tasks are reached as the engine's host.
    node_id: String,
    known: Shared,
    poller: tokio::task::JoinHandle<()>,
}

impl Drop for SwarmRuntime {
    fn drop(&mut self) {
        self.poller.abort();
    }
}

/// Whether an engine error means the service or task is gone.
fn gone(e: &bollard::errors::Error) -> bool {
    is_not_found(e)
}

/// The engine refused an update made from an older version of the service.
fn out_of_sequence(e: &bollard::errors::Error) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { message, .. }
        if message.contains("out of sequence"))
}

fn service_filter(key: &str, value: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([(key.to_string(), vec![value.to_string()])])
}

impl SwarmRuntime {
    /// The engine the Docker CLI would use, which must be a swarm manager.
    pub async fn connect(placement: SwarmPlan) -> Result<SwarmRuntime, RuntimeError> {
        Self::on(DockerRuntime::connect().await?, placement).await
    }

    /// Run services through `docker`'s engine, a swarm manager.
    pub async fn on(
        docker: DockerRuntime,
        placement: SwarmPlan,
    ) -> Result<SwarmRuntime, RuntimeError> {
        let info = docker
            .client()
            .info()
            .await
            .map_err(|e| docker.err("info", e))?;
        let swarm = info.swarm.unwrap_or_default();
        let state = swarm.local_node_state.unwrap_or(LocalNodeState::INACTIVE);
        if state != LocalNodeState::ACTIVE || swarm.control_available != Some(true) {
            let what = if state == LocalNodeState::ACTIVE {
                "a worker".to_string()
            } else {
                format!("swarm {state}")
            };
            return Err(RuntimeError::Other(format!(
                "{NOT_MANAGER} (this engine: {what})"
            )));
        }
        let node_id = swarm.node_id.unwrap_or_default();
        tracing::info!(
            node = %node_id,
            "swarm manager connected; services publish in host mode (no-new-privileges cannot be set on Swarm services)"
        );
        let known = Shared::default();
        let poller = tokio::spawn(
            Follower {
                client: docker.client().clone(),
                known: known.clone(),
                tx: docker.event_sender().clone(),
                tracker: docker.tracker().clone(),
                local_host: docker.publish().host.clone(),
                local_node: node_id.clone(),
            }
            .run(),
        );
        Ok(SwarmRuntime {
            docker,
            placement,
            node_id,
            known,
            poller,
        })
    }

    pub fn client(&self) -> &Docker {
        self.docker.client()
    }

    /// The inner Docker runtime (the manager's engine).
    pub fn docker(&self) -> &DockerRuntime {
        &self.docker
    }

    /// The image a service runs: the pinned digest when a pull resolved
    /// one (any node can pull it), else the local image's id, so the
    /// manager's node runs exactly what is on it without asking a
    /// registry for a tag that may exist only here.
    async fn image_for(&self, spec: &VersionSpec) -> Result<String, RuntimeError> {
        if let Some(pinned) = &spec.pinned {
            return Ok(pinned.clone());
        }
        let Some(image) = spec.image.as_deref() else {
            return Err(RuntimeError::CreateRefused(format!(
                "the swarm runtime needs an image for {}",
                spec.role
            )));
        };
        match self.client().inspect_image(image).await {
            Ok(info) => Ok(info.id.unwrap_or_else(|| image.to_string())),
            Err(e) if is_not_found(&e) => Err(RuntimeError::ImageMissing {
                image: image.to_string(),
            }),
            Err(e) => Err(self.docker.err("inspect image", e)),
        }
    }

    async fn tasks(&self, service: &str, target: u16) -> Result<Vec<TaskView>, RuntimeError> {
        tasks_of(self.client(), service, target)
            .await
            .map_err(|e| self.docker.err(&format!("list tasks of {service}"), e))
    }

    /// The address of a task on `node`, published on `port`.
    async fn addr(&self, node: &str, port: u16) -> String {
        addr_of(
            self.client(),
            &self.known,
            &self.docker.publish().host,
            &self.node_id,
            node,
            port,
        )
        .await
    }
}

#[async_trait::async_trait]
impl Runtime for SwarmRuntime {
    fn kind(&self) -> crate::plan::RuntimeKind {
        crate::plan::RuntimeKind::Swarm
    }

    async fn prepare(
        &self,
        spec: &VersionSpec,
        progress: pull::Progress<'_>,
    ) -> Result<Option<String>, RuntimeError> {
        self.docker.prepare(spec, progress).await
    }

    async fn start(&self, spec: &VersionSpec) -> Result<Vec<Replica>, RuntimeError> {
        let image = self.image_for(spec).await?;
        let labels = identity_labels(spec, self.docker.instance());
        let env = replica_env(spec);
        let name = format!(
            "cutover-{}-{}-r{}-{:04x}",
            spec.service,
            spec.role,
            spec.release,
            fastrand::u16(..)
        );
        let body = swarm_spec::service_spec(&name, &image, spec, &labels, &env, &self.placement);
        let created = self
            .client()
            .create_service(body, None)
            .await
            .map_err(|e| self.docker.err(&format!("create service {name}"), e))?;
        let id = created.id.unwrap_or_else(|| name.clone());
        lock(&self.known).services.insert(
            id.clone(),
            Svc {
                role: spec.role,
                release: spec.release,
                version: spec.version.clone(),
                port: spec.port,
                followed: false,
            },
        );
        let running = match self.wait_running(&id, &name, spec).await {
            Ok(r) => r,
            Err(e) => {
                // All or nothing, as on Docker: a failed start leaves nothing.
                if let Err(de) = self.delete(&id).await {
                    tracing::warn!(service = %name, "removing after a failed start: {de}");
                }
                return Err(e);
            }
        };
        let mut replicas = Vec::new();
        for t in running {
            let (Some(c), Some(port)) = (t.container.clone(), t.published) else {
                continue;
            };
            let addr = self.addr(&t.node, port).await;
            self.hold(&id, &c, &t.node);
            replicas.push(Replica {
                id: c,
                role: spec.role,
                release: spec.release,
                version: spec.version.clone(),
                addr,
            });
        }
        if let Some(s) = lock(&self.known).services.get_mut(&id) {
            s.followed = true;
        }
        Ok(replicas)
    }

    /// Every replica of the service asked to stop: the service goes to 0
    /// tasks, Swarm stopping each with `grace`. Some only: their containers
    /// are stopped here and the service asks for as many fewer.
    async fn stop(&self, replica: &Replica, grace: Duration) -> Result<(), RuntimeError> {
        let Some(service) = self.service_of(replica).await else {
            return Ok(()); // gone already
        };
        let on_manager = {
            let mut k = lock(&self.known);
            if let Some(h) = k.replicas.get_mut(&replica.id) {
                h.retiring = true;
            }
            k.replicas
                .get(&replica.id)
                .is_none_or(|h| h.node == self.node_id)
        };
        // The controller stops a version's replicas together: let the
        // others be marked first, so they are one scale to 0.
        tokio::task::yield_now().await;
        let staying = lock(&self.known)
            .replicas
            .values()
            .filter(|h| h.service == service && h.alive && !h.retiring)
            .count() as u32;
        if staying > 0 && on_manager && !replica.id.starts_with(SERVICE_ID) {
            self.docker.stop(replica, grace).await?;
        }
        self.update(&service, |s| {
            let now = s
                .mode
                .as_ref()
                .and_then(|m| m.replicated.as_ref())
                .and_then(|r| r.replicas);
            (now != Some(i64::from(staying))).then(|| swarm_spec::scaled(s, staying, grace))
        })
        .await?;
        if replica.id.starts_with(SERVICE_ID) {
            return Ok(());
        }
        // Until its task no longer runs.
        let deadline = tokio::time::Instant::now() + grace + STOP_SLACK;
        loop {
            let port = lock(&self.known)
                .services
                .get(&service)
                .map_or(0, |s| s.port);
            let running = match tasks_of(self.client(), &service, port).await {
                Ok(tasks) => tasks.iter().any(|t| {
                    t.container.as_deref() == Some(replica.id.as_str())
                        && !matches!(t.state, TaskPhase::Ended(_))
                }),
                Err(e) if gone(&e) => false,
                Err(e) => return Err(self.docker.err(&format!("list tasks of {service}"), e)),
            };
            if !running {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(RuntimeError::Other(format!(
                    "{} still runs {} s after it was asked to stop",
                    replica.id,
                    (grace + STOP_SLACK).as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The last replica of a service removed: the service goes (and its
    /// tasks' containers with it). Before that, only the replica's own
    /// container, when it is on the manager's node.
    async fn remove(&self, replica: &Replica) -> Result<(), RuntimeError> {
        let Some(service) = self.service_of(replica).await else {
            return self.docker.remove(replica).await;
        };
        let last = {
            let mut k = lock(&self.known);
            k.replicas.remove(&replica.id);
            !k.replicas.values().any(|h| h.service == service)
        };
        docker_events::lock(self.docker.tracker()).forget(&replica.id);
        let wanted = match self
            .client()
            .inspect_service(&service, None::<InspectServiceOptions>)
            .await
        {
            Ok(s) => s
                .spec
                .and_then(|s| s.mode)
                .and_then(|m| m.replicated)
                .and_then(|r| r.replicas)
                .unwrap_or(0),
            Err(e) if gone(&e) => return Ok(()),
            Err(e) => return Err(self.docker.err(&format!("inspect service {service}"), e)),
        };
        if last || wanted == 0 || replica.id.starts_with(SERVICE_ID) {
            self.delete(&service).await
        } else {
            self.docker.remove(replica).await
        }
    }

    async fn list(&self, service: &str) -> Result<Vec<Replica>, RuntimeError> {
        Ok(self.scan(service).await?.ours())
    }

    async fn inventory(&self, service: &str) -> Result<Inventory, RuntimeError> {
        self.scan(service).await
    }

    async fn stats(&self, replica: &Replica) -> Result<ReplicaStats, RuntimeError> {
        self.docker.stats(replica).await
    }

    async fn logs(&self, replica: &Replica, tail: usize) -> Result<Vec<String>, RuntimeError> {
        self.docker.logs(replica, tail).await
    }

    /// A service update: Swarm replaces the version's tasks one at a time
    /// (the new one first) and the pool follows. One update per service,
    /// whichever of its replicas asks first; the others find it done.
    async fn resize(
        &self,
        replica: &Replica,
        cpus: Option<f64>,
        memory: Option<u64>,
    ) -> Result<(), RuntimeError> {
        let Some(service) = self.service_of(replica).await else {
            return Err(RuntimeError::NoSuchReplica(replica.id.clone()));
        };
        self.update(&service, |s| swarm_spec::resized(s, cpus, memory))
            .await
    }

    fn subscribe(&self) -> broadcast::Receiver<RuntimeEvent> {
        self.docker.subscribe()
    }

    fn bind_instance(&self, instance: &Instance) {
        self.docker.bind_instance(instance);
    }
}
