//! The release state the machine owns: phase, weight, step, versions, the
//! canary replicas it is waiting on, and the timers (as wall-clock deadlines,
//! so the whole struct can be written to `state.json` and restored as is).
//!
//! Plain data with serde, no behaviour beyond small queries: the transitions
//! live in `machine/`, the file format in `persist.rs`.

use crate::model::{BreachView, Phase, Role};
use crate::plan::{GuardPlan, Plan, VersionPlan};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::model::Outcome;

/// One canary replica as the machine tracks it: enough to count healthy
/// replicas against `min_healthy` and to notice when all of them died.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaMark {
    pub id: String,
    pub healthy: bool,
    pub alive: bool,
}

/// Everything the release machine knows. Serialised into `state.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReleaseState {
    pub phase: Phase,
    /// Canary share the machine last asked the proxy for, per mille.
    pub weight_permille: u16,
    /// Index into the plan's steps while a stepped canary runs.
    #[serde(default)]
    pub step_index: Option<usize>,
    /// When the current step's bake ends (running, not paused).
    #[serde(default)]
    pub bake_deadline: Option<DateTime<Utc>>,
    /// Bake left when paused; becomes a deadline again on resume.
    #[serde(default)]
    pub bake_remaining_ms: Option<u64>,
    /// Increments on every deploy (`cutover.release` label).
    pub release: u64,
    /// What stable runs. `version` is always resolved (`Some`).
    pub stable: VersionPlan,
    /// What the canary runs, from deploy until it is removed or promoted.
    #[serde(default)]
    pub canary: Option<VersionPlan>,
    /// Guards switched off by an explicit action.
    #[serde(default)]
    pub muted: bool,
    /// Canary replicas the machine knows of (after `CanaryStarted`).
    #[serde(default)]
    pub canary_replicas: Vec<ReplicaMark>,
    /// Give up on a canary not healthy by then (Deploying / Warming).
    #[serde(default)]
    pub start_deadline: Option<DateTime<Utc>>,
    /// Warm-up requests asked for, not yet reported done.
    #[serde(default)]
    pub warmup_pending: bool,
    /// The last step baked, but a freeze window holds the automatic promote.
    #[serde(default)]
    pub held_by_freeze: Option<String>,
    /// A removal of this role was asked for and has not been reported done.
    #[serde(default)]
    pub removing: Option<Role>,
    #[serde(default)]
    pub last_breach: Option<BreachView>,
    #[serde(default)]
    pub last_outcome: Option<Outcome>,
    /// Guard thresholds changed for this release by `SetGuards`; `None`:
    /// the plan's `[guard]`. Back to the plan's on the next deploy.
    #[serde(default)]
    pub guard: Option<GuardPlan>,
    /// What the guards still wait for before they can judge (`None`: they
    /// have enough). Not persisted: the guards report it four times a
    /// second, and a restored release starts its evidence over.
    #[serde(skip)]
    pub evidence_waiting: Option<String>,
    /// The last step baked without enough evidence; wait for it until then,
    /// then pause for the operator.
    #[serde(default)]
    pub evidence_deadline: Option<DateTime<Utc>>,
    /// Roles whose `scale` is still under way (replicas starting, or being
    /// drained and stopped). Not persisted: a restart ends what was under
    /// way, and the count on record (`replicas`) is what a restart keeps
    /// and converges on (`Machine::converge`).
    #[serde(skip)]
    pub scaling: Vec<Role>,
    /// The canary weight when the promotion under way began, so an
    /// `undo_promote` (after a restart too) gives it back.
    #[serde(default)]
    pub weight_before_promote: Option<u16>,
    /// The worker began stopping stable during this promotion: too late to
    /// undo it (stable's replicas can no longer be kept).
    #[serde(default)]
    pub stable_stopping: bool,
    /// Where the replacement of stable replicas that exited on their own
    /// stands. Not persisted: a restart converges on the recorded count.
    #[serde(skip)]
    pub healing: crate::controller::machine::Healing,
}

impl ReleaseState {
    /// A fresh state: stable as the plan says, no canary, release 0.
    pub fn fresh(stable: &VersionPlan) -> Self {
        let mut stable = stable.clone();
        stable.version = Some(version_label(&stable, "stable"));
        ReleaseState {
            phase: Phase::Idle,
            weight_permille: 0,
            step_index: None,
            bake_deadline: None,
            bake_remaining_ms: None,
            release: 0,
            stable,
            canary: None,
            muted: false,
            canary_replicas: Vec::new(),
            start_deadline: None,
            warmup_pending: false,
            held_by_freeze: None,
            removing: None,
            last_breach: None,
            last_outcome: None,
            guard: None,
            evidence_waiting: None,
            evidence_deadline: None,
            scaling: Vec::new(),
            weight_before_promote: None,
            stable_stopping: false,
            healing: Default::default(),
        }
    }

    /// The guard thresholds in force: this release's edit, else the plan's.
    pub fn guard<'a>(&'a self, plan: &'a Plan) -> &'a GuardPlan {
        self.guard.as_ref().unwrap_or(&plan.guard)
    }

    pub fn healthy_canaries(&self) -> usize {
        self.canary_replicas
            .iter()
            .filter(|r| r.alive && r.healthy)
            .count()
    }

    pub fn alive_canaries(&self) -> usize {
        self.canary_replicas.iter().filter(|r| r.alive).count()
    }
}

/// The label shown for a version: its `version`, else the image tag, else the
/// value after `--version` in its command line, else `fallback`.
pub fn version_label(v: &VersionPlan, fallback: &str) -> String {
    if v.version.is_none()
        && v.image.is_none()
        && let Some(cmd) = &v.command
        && let Some(i) = cmd.iter().position(|a| a == "--version")
        && let Some(label) = cmd.get(i + 1)
    {
        return label.clone();
    }
    v.label(fallback)
}
