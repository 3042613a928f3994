//! What goes into the release machine ([`Input`]: actions and facts) and what
//! comes out ([`Effect`]: orders for the driver, plain data).
//!
//! Keeping both as data is what makes the machine testable without a runtime,
//! a proxy or a clock: a test feeds inputs and reads effects, the driver
//! feeds the same inputs from channels and executes the same effects.

use crate::model::{ActionRequest, Actor, EventKind, GuardVerdict, Role};
pub use crate::proxy::Trips;
use crate::runtime::VersionSpec;
use std::time::Duration;

/// One thing the machine reacts to.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// An operator, script or the guard asked for something. May be refused.
    Action(ActionRequest),
    /// The runtime started the canary replicas (ids as the runtime names them).
    CanaryStarted { replicas: Vec<String> },
    /// The runtime could not start the canary.
    CanaryStartFailed { detail: String },
    /// A pull resolved the version's image to this exact reference
    /// (`repo@sha256:…`): it runs these bytes from now on, restarts and
    /// rollbacks included. Applied only while the version still runs
    /// `image` (a pin that arrives after another deploy is stale).
    ImagePinned {
        role: Role,
        image: String,
        reference: String,
    },
    /// A replica passed `healthy_after` checks in a row.
    ReplicaHealthy { role: Role, id: String },
    /// A replica failed `unhealthy_after` checks in a row.
    ReplicaUnhealthy { role: Role, id: String },
    /// A replica exited on its own (crash, OOM, kill).
    ReplicaExited {
        role: Role,
        id: String,
        detail: String,
    },
    /// The runtime started a replica in place of a lost one (Swarm): the
    /// version has one more live replica, not yet healthy.
    ReplicaAppeared { role: Role, id: String },
    /// The warm-up requests were sent (`detail` says how they went).
    WarmupDone { detail: String, failed: u32 },
    /// The bake timer of step `step` ran out (a stale one is ignored).
    BakeElapsed { step: usize },
    /// A guard crossed its threshold (from the evaluation or the proxy's trip).
    Breach { verdict: GuardVerdict },
    /// A drain finished: `cut` requests were answered 504 at the timeout.
    DrainDone { role: Role, finished: u64, cut: u64 },
    /// All replicas of `role` were stopped and removed.
    Removed { role: Role },
    /// The guards' latest judgement of the evidence: `None` when every guard
    /// has enough to decide, else what they still wait for. A bake that
    /// ends while guards wait holds the step (see `guard.evidence_timeout`).
    Evidence { waiting: Option<String> },
    /// A `scale` of `role` finished: `started` replicas run beside the
    /// others (not healthy yet; they join the pool when they are), and
    /// `stopped` ones were drained, stopped and removed.
    Scaled {
        role: Role,
        started: Vec<String>,
        stopped: Vec<String>,
    },
    /// A `scale` of `role` from `from` to `to` replicas could not start its
    /// replicas: nothing was started, the count on record goes back.
    ScaleFailed {
        role: Role,
        from: u32,
        to: u32,
        detail: String,
    },
    /// The worker began stopping `role`'s replicas (a promotion's removal
    /// of stable): they can no longer be kept.
    StopBegun { role: Role },
    /// Time passes: checks bake and start deadlines, and held promotions.
    Tick,
}

impl Input {
    /// Short name for tests and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Input::Action(r) => r.action.name(),
            Input::CanaryStarted { .. } => "canary_started",
            Input::CanaryStartFailed { .. } => "canary_start_failed",
            Input::ImagePinned { .. } => "image_pinned",
            Input::ReplicaHealthy { .. } => "replica_healthy",
            Input::ReplicaUnhealthy { .. } => "replica_unhealthy",
            Input::ReplicaExited { .. } => "replica_exited",
            Input::ReplicaAppeared { .. } => "replica_appeared",
            Input::WarmupDone { .. } => "warmup_done",
            Input::BakeElapsed { .. } => "bake_elapsed",
            Input::Breach { .. } => "breach",
            Input::DrainDone { .. } => "drain_done",
            Input::Removed { .. } => "removed",
            Input::Evidence { .. } => "evidence",
            Input::Scaled { .. } => "scaled",
            Input::ScaleFailed { .. } => "scale_failed",
            Input::StopBegun { .. } => "stop_begun",
            Input::Tick => "tick",
        }
    }
}

/// One order for the driver. The driver executes effects in the order given;
/// quick ones (weight, events, persistence) at once, slow ones (start, drain,
/// stop, remove, warm-up, hooks) on a worker that reports back with facts.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Set the canary share in the proxy.
    SetWeight { permille: u16, by: Actor },
    /// Start the canary replicas; answer with `CanaryStarted` / `CanaryStartFailed`.
    StartCanary { spec: VersionSpec },
    /// Send the plan's warm-up requests straight to the healthy canary
    /// replicas (never through the proxy); answer with `WarmupDone`.
    Warmup,
    /// Arm (or disarm with [`Trips::OFF`]) the proxy's own trips: they set
    /// the weight to 0 on the very canary request that crosses them.
    ArmTrips { trips: Trips },
    /// The guards' evidence starts over (the canary's first step, an unmute,
    /// a guard edit); with `release`, so does the release's count of failed
    /// requests (its blast radius).
    RestartEvidence { release: bool },
    /// Take the role out of its pool at once, let in-flight requests finish
    /// until `timeout`, answer the rest 504; answer with `DrainDone`.
    Drain { role: Role, timeout: Duration },
    /// SIGTERM every replica of the role, kill after `grace`.
    Stop { role: Role, grace: Duration },
    /// Remove every replica of the role; answer with `Removed`.
    Remove { role: Role },
    /// The canary's replicas become the stable pool (after a promotion).
    SwapRoles,
    /// A promotion was abandoned before stable was removed: cancel stable's
    /// drain, stop and removal if they have not begun, put its replicas back
    /// in their pool, and start stable again if none of them is left.
    RestoreStable,
    /// Restart the role's "since step start" counters.
    ResetMetrics { role: Role },
    /// Bring `role` to `to` replicas (it had `from`: on record for a
    /// `scale`, running for a restart's convergence): start the missing
    /// ones from `spec` beside the others, or take the newest extra ones
    /// out of the pool, let their requests finish, stop and remove them;
    /// answer with `Scaled` / `ScaleFailed`.
    Scale {
        role: Role,
        from: u32,
        to: u32,
        spec: VersionSpec,
    },
    /// Change the limits of the role's running replicas.
    Resize {
        role: Role,
        cpus: Option<f64>,
        memory: Option<u64>,
    },
    /// Run a plan hook (`post_promote`, `post_rollback`) as a child process.
    RunHook { name: String, command: Vec<String> },
    /// Write the state file.
    Persist,
    /// Publish and journal an event.
    Emit(EventKind),
}
