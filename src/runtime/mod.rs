//! Where replicas run: the [`Runtime`] trait and its implementations.
//!
//! The controller talks only to this trait, so a release behaves the same on
//! Docker (`docker.rs`, through bollard), on local child processes
//! (`process.rs`) and on fixed upstreams that run elsewhere (`static_.rs`).
//! Health is not the runtime's business: cutover checks replicas itself over
//! HTTP (`health.rs`), so images need no HEALTHCHECK and every runtime gets
//! the same `healthy_after` / `unhealthy_after` semantics.
//!
//! Replica addresses are `host:port` strings on purpose: nothing here may
//! assume replicas live on loopback (remote `DOCKER_HOST`, Swarm later).

pub mod docker;
pub mod image;
pub mod process;
pub mod static_;

use crate::model::Role;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::broadcast;

/// Everything needed to start the replicas of one version.
#[derive(Clone, Debug, PartialEq)]
pub struct VersionSpec {
    /// `cutover.service` label / process group tag.
    pub service: String,
    pub role: Role,
    /// Release number (`cutover.release` label), increments on every deploy.
    pub release: u64,
    /// Human version label (`cutover.version` label).
    pub version: String,
    /// Docker image (docker runtime).
    pub image: Option<String>,
    /// Command line with `{port}` placeholders (process runtime).
    pub command: Option<Vec<String>>,
    /// Fixed upstreams (static runtime).
    pub upstreams: Vec<String>,
    pub replicas: u32,
    /// Port the service listens on inside its container.
    pub port: u16,
    pub env: BTreeMap<String, String>,
    pub cpus: Option<f64>,
    /// Memory limit in bytes.
    pub memory: Option<u64>,
    /// Extra labels, e.g. a per-test label so tests clean up only their own.
    pub labels: BTreeMap<String, String>,
}

/// A started replica.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Replica {
    /// Container id, `pid:N`, or the static address.
    pub id: String,
    pub role: Role,
    pub release: u64,
    pub version: String,
    /// `host:port` the proxy and the health checker use.
    pub addr: String,
}

/// Something the runtime saw happen to a replica on its own.
#[derive(Clone, Debug, PartialEq)]
pub enum RuntimeEvent {
    /// The replica exited: `code` is the exit status (137 after SIGKILL).
    Exited {
        id: String,
        code: i64,
        oom_killed: bool,
    },
    /// The runtime itself became unreachable (Docker engine gone) or came back.
    Reachable { ok: bool, detail: String },
}

/// Live resource usage of one replica.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplicaStats {
    pub cpu_percent: Option<f64>,
    pub memory_bytes: Option<u64>,
    pub memory_limit: Option<u64>,
}

/// Why a runtime operation failed. Messages say what and where, and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("docker engine unreachable at {endpoint}: {detail}")]
    Unreachable { endpoint: String, detail: String },
    #[error(
        "image {image:?} is not present locally and no registry is used; build or load it first (e.g. `cutover image build`, or `docker load`)"
    )]
    ImageMissing { image: String },
    #[error("port clash: {0}")]
    PortClash(String),
    #[error("create refused: {0}")]
    CreateRefused(String),
    #[error("no such replica {0}")]
    NoSuchReplica(String),
    #[error("{0}")]
    Other(String),
}

/// The operations the controller needs from wherever replicas run.
#[async_trait::async_trait]
pub trait Runtime: Send + Sync + 'static {
    /// `docker`, `process` or `static`.
    fn kind(&self) -> &'static str;

    /// Start `spec.replicas` replicas side by side with whatever already runs.
    /// Returns as soon as they are started (not healthy).
    async fn start(&self, spec: &VersionSpec) -> Result<Vec<Replica>, RuntimeError>;

    /// SIGTERM, wait up to `grace`, then kill. Idempotent: a gone replica is Ok.
    async fn stop(&self, replica: &Replica, grace: Duration) -> Result<(), RuntimeError>;

    /// Remove what is left of a stopped replica (container, temp files).
    async fn remove(&self, replica: &Replica) -> Result<(), RuntimeError>;

    /// Replicas of `service` this runtime knows about (for reconcile on restart).
    async fn list(&self, service: &str) -> Result<Vec<Replica>, RuntimeError>;

    /// One-shot resource usage sample (never a stream: see DESIGN.md pitfalls).
    async fn stats(&self, replica: &Replica) -> Result<ReplicaStats, RuntimeError>;

    /// The last `tail` lines of the replica's output.
    async fn logs(&self, replica: &Replica, tail: usize) -> Result<Vec<String>, RuntimeError>;

    /// Change CPU / memory limits of a running replica.
    async fn resize(
        &self,
        replica: &Replica,
        cpus: Option<f64>,
        memory: Option<u64>,
    ) -> Result<(), RuntimeError>;

    /// Exits, OOM kills and reachability changes, as they happen.
    fn subscribe(&self) -> broadcast::Receiver<RuntimeEvent>;
}
