//! Where replicas run: the [`Runtime`] trait and its implementations.
//!
//! The controller talks only to this trait, so a release behaves the same on
//! Docker (`docker.rs`, through bollard), on Docker Swarm (`swarm.rs`:
//! one service per version), on local child processes
//! (`process.rs`) and on fixed upstreams that run elsewhere (`static_upstreams.rs`).
//! Health is not the runtime's business: cutover checks replicas itself over
//! HTTP (`controller/probe.rs`), so images need no HEALTHCHECK and every runtime gets
//! the same `healthy_after` / `unhealthy_after` semantics.
//!
//! Replica addresses are `host:port` strings on purpose: nothing here may
//! assume replicas live on loopback (remote `DOCKER_HOST`, Swarm nodes).

pub mod docker;
pub mod docker_endpoint;
mod docker_events;
mod docker_ssh;
pub mod hardening;
pub mod image;
pub mod instance;
pub mod process;
pub mod pull;
pub mod registry_auth;
pub mod static_upstreams;
pub mod swarm;
pub mod swarm_spec;

pub use hardening::Hardening;
pub use instance::{Claim, Instance};

use crate::model::Role;
use crate::plan::PullPolicy;
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
    /// When to pull `image` from its registry.
    pub pull: PullPolicy,
    /// The exact image an earlier pull resolved `image` to (`repo@sha256:…`):
    /// when set, these bytes run, whatever the tag names now.
    pub pinned: Option<String>,
    /// The daemon's environment variables a process replica sees besides
    /// `env` (the plan's `pass_env`); nothing else of it is passed on.
    pub pass_env: Vec<String>,
    /// How a container is confined (docker).
    pub hardening: Hardening,
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

/// The exit code reported when it cannot be known: a process adopted from an
/// earlier daemon is not our child, so nobody here can wait for its status.
pub const EXIT_CODE_UNKNOWN: i64 = -1;

/// The exit code reported for a container that vanished (removed outside
/// cutover while the engine's event stream was down): nothing is left to ask.
pub const EXIT_CODE_GONE: i64 = -2;

/// How an exit reads in events and logs: `exited 137`, `OOM-killed
/// (exited 137)`, or `exited (code unknown: not our child)`. One spelling,
/// so operators and scripts can look for `exited 137`.
pub fn exit_detail(code: i64, oom_killed: bool) -> String {
    match (code, oom_killed) {
        (EXIT_CODE_UNKNOWN, _) => "exited (code unknown: not our child)".to_string(),
        (EXIT_CODE_GONE, _) => "gone (removed outside cutover; exit code unknown)".to_string(),
        (code, true) => format!("OOM-killed (exited {code})"),
        (code, false) => format!("exited {code}"),
    }
}

/// Something the runtime saw happen to a replica on its own.
#[derive(Clone, Debug, PartialEq)]
pub enum RuntimeEvent {
    /// The replica exited: `code` is the exit status (137 after SIGKILL,
    /// [`EXIT_CODE_UNKNOWN`] when it cannot be known).
    Exited {
        id: String,
        code: i64,
        oom_killed: bool,
    },
    /// A replica the runtime started on its own, in place of one that was
    /// lost (Swarm replaces a dead task): it joins its role's pool once
    /// healthy, if that role's release is still running.
    Appeared { replica: Replica },
    /// The runtime itself became unreachable (Docker engine gone) or came back.
    Reachable { ok: bool, detail: String },
}

/// What reconcile finds of one service on a runtime.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Inventory {
    /// Ours and running: the replicas a restarted daemon may adopt.
    pub running: Vec<Replica>,
    /// Ours but dead (they exited while nobody watched): never adopted, to
    /// be removed; each with how it ended (see [`exit_detail`]).
    pub exited: Vec<(Replica, String)>,
    /// Things that carry the service's name but not cutover's whole
    /// identity (service, role and release), or another instance's: not
    /// ours, never touched, only reported.
    pub foreign: Vec<String>,
    /// Replicas of this service that another instance (another state
    /// directory) started, by instance: never listed, adopted or removed
    /// here; the daemon refuses to start while that instance's daemon runs.
    pub others: Vec<Claim>,
}

impl Inventory {
    /// Every replica that is ours, running ones first, dead ones after.
    pub fn ours(self) -> Vec<Replica> {
        self.running
            .into_iter()
            .chain(self.exited.into_iter().map(|(r, _)| r))
            .collect()
    }
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
        "image {image:?} is not on the engine and pull = \"never\" (or it was just removed); pull it, build or load it first (e.g. `docker pull`, `cutover image build`, or `docker load`), or let cutover pull it (pull = \"missing\")"
    )]
    ImageMissing { image: String },
    /// A pull failed before anything was created.
    #[error("cannot pull {image}: {}: {detail}", failure.advice(registry))]
    Pull {
        image: String,
        registry: String,
        failure: pull::PullFailure,
        detail: String,
    },
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
    /// `docker`, `swarm`, `process` or `static`.
    fn kind(&self) -> crate::plan::RuntimeKind;

    /// Make the version's image ready before anything starts: pull it as
    /// `spec.pull` says (the pinned digest instead, when there is one),
    /// sending progress to `progress`. Returns the reference the version is
    /// pinned to (`repo@sha256:…`), if its image came from a registry.
    /// Runtimes without images have nothing to do.
    async fn prepare(
        &self,
        _spec: &VersionSpec,
        _progress: pull::Progress<'_>,
    ) -> Result<Option<String>, RuntimeError> {
        Ok(None)
    }

    /// Start `spec.replicas` replicas side by side with whatever already runs.
    /// Returns as soon as they are started (not healthy).
    async fn start(&self, spec: &VersionSpec) -> Result<Vec<Replica>, RuntimeError>;

    /// SIGTERM, wait up to `grace`, then kill. Idempotent: a gone replica is Ok.
    async fn stop(&self, replica: &Replica, grace: Duration) -> Result<(), RuntimeError>;

    /// Remove what is left of a stopped replica (container, temp files).
    async fn remove(&self, replica: &Replica) -> Result<(), RuntimeError>;

    /// Every replica of `service` that is ours, running or not (what a
    /// cleanup must remove). Ours means it carries cutover's whole identity
    /// (service, role and release), never the service name alone.
    async fn list(&self, service: &str) -> Result<Vec<Replica>, RuntimeError>;

    /// What reconcile on restart needs: ours split into running (adoptable)
    /// and dead (to remove), plus what only looks like ours (left alone).
    /// Runtimes whose `list` holds only live replicas need not override it.
    async fn inventory(&self, service: &str) -> Result<Inventory, RuntimeError> {
        Ok(Inventory {
            running: self.list(service).await?,
            ..Inventory::default()
        })
    }

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

    /// What a new canary could run here, best first, for the deploy
    /// prompt's completion (`GET /v1/images`): an image runtime's local
    /// tags (`prefer`'s repository first: stable's image), the versions a
    /// process runtime ran lately. Runtimes with nothing local to offer
    /// (static upstreams) need not override it.
    async fn images(&self, _prefer: Option<&str>) -> Result<Vec<String>, RuntimeError> {
        Ok(Vec::new())
    }

    /// Exits, OOM kills and reachability changes, as they happen.
    fn subscribe(&self) -> broadcast::Receiver<RuntimeEvent>;

    /// The instance this runtime works for: replicas it starts from now on
    /// carry it, and ones that carry another instance's are not ours (never
    /// listed, adopted or removed; reported in [`Inventory::others`]).
    /// Runtimes with nothing shared to tell apart (static) ignore it.
    fn bind_instance(&self, _instance: &Instance) {}

    /// Another daemon runs these replicas from now on (a takeover): forget
    /// them, so that this runtime's end (its drop, when the retired daemon
    /// exits) leaves them running. Runtimes whose replicas outlive them
    /// anyway (containers, static upstreams) have nothing to do.
    fn let_go(&self) {}
}
