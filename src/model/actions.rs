//! What clients ask the controller to do, and its answers.

use super::*;
use crate::plan::{GuardPlan, HumanDuration, OnBreach};
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// Something a client (TUI, CLI, guard, script) asks the controller to do.
/// `POST /v1/actions` takes an [`ActionRequest`] as JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Set the canary share, per mille (0..=1000).
    SetWeight {
        permille: u16,
    },
    /// Start a canary: empty for the plan's `[canary]`; else an image
    /// (docker; a version when the plan has `[deploy] image`), a version for
    /// the plan's `[deploy] command` (process), or `host:port` upstreams
    /// separated by commas (static).
    Deploy {
        image: String,
    },
    /// Jump to the next step now.
    Step,
    Pause,
    Resume,
    /// `force` promotes inside a freeze window; it needs a reason.
    Promote {
        #[serde(default)]
        force: bool,
    },
    Rollback,
    /// Drain one version: no new requests at once, in-flight ones finish, then it is removed.
    /// Draining stable is a promotion, so `force` (with a reason) overrides a freeze
    /// window exactly as it does for `Promote`; it means nothing for the canary.
    Drain {
        role: Role,
        #[serde(default)]
        force: bool,
    },
    /// Change CPU / memory limits of a running version.
    Resize {
        role: Role,
        #[serde(default)]
        cpus: Option<f64>,
        #[serde(default)]
        memory: Option<u64>,
    },
    /// Run `replicas` replicas of a running version: more are started
    /// beside the ones there (and join its pool once healthy); fewer are
    /// taken out of the pool, drained and stopped, newest first.
    Scale {
        role: Role,
        replicas: u32,
    },
    /// Take back a promotion that has just begun: while stable still runs,
    /// it gets its traffic back and the release returns to where it stood.
    UndoPromote,
    /// Stop a deploy in progress (Deploying / Warming): remove the canary.
    Abort,
    /// Mute or unmute the guards (journaled; never implicit).
    MuteGuards {
        muted: bool,
    },
    /// Acknowledge the last breach banner.
    AckBreach,
    /// Change the guard thresholds of the running release (validated like the
    /// plan's `[guard]`); keys left out stay as they are.
    SetGuards {
        guards: GuardPatch,
    },
}

/// A change to the guard thresholds: a key left out stays as it is; for the
/// guards that can be switched off, `null` switches it off.
///
/// ```json
/// {"action": "set_guards", "by": "tui", "reason": "noisy upstream",
///  "guards": {"max_errors": 40, "max_p99": null, "window": "30s"}}
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_error_ratio: Option<Option<f64>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_error_rate: Option<Option<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_requests: Option<u64>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_p99: Option<Option<HumanDuration>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_p99_ratio: Option<Option<f64>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub trip_after: Option<Option<u64>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_failed_requests: Option<Option<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_timeout: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_breach: Option<OnBreach>,
    /// Round 1's count guard: refused with what replaced it.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_errors: Option<Option<u64>>,
}

/// A key that is present (even as `null` or `"off"`) is `Some`: it tells
/// "switch this guard off" (`Some(None)`) from "leave it" (`None`, the key
/// is absent).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + crate::plan::off::Expecting,
{
    crate::plan::off::deserialize(d).map(Some)
}

impl GuardPatch {
    /// Whether the patch changes nothing at all.
    pub fn is_empty(&self) -> bool {
        *self == GuardPatch::default()
    }

    /// `base` with this patch applied.
    pub fn apply(&self, base: &GuardPlan) -> GuardPlan {
        fn set<T: Clone>(to: &mut T, v: &Option<T>) {
            if let Some(v) = v {
                *to = v.clone();
            }
        }
        let mut g = base.clone();
        set(&mut g.confidence, &self.confidence);
        set(&mut g.max_error_ratio, &self.max_error_ratio);
        set(&mut g.max_error_rate, &self.max_error_rate);
        set(&mut g.window, &self.window);
        set(&mut g.min_requests, &self.min_requests);
        set(&mut g.max_p99, &self.max_p99);
        set(&mut g.max_p99_ratio, &self.max_p99_ratio);
        set(&mut g.trip_after, &self.trip_after);
        set(&mut g.max_failed_requests, &self.max_failed_requests);
        set(&mut g.evidence_timeout, &self.evidence_timeout);
        set(&mut g.on_breach, &self.on_breach);
        set(&mut g.max_errors, &self.max_errors);
        g
    }
}

impl Action {
    /// Short name used in events and messages (`promote`, `set_weight`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Action::SetWeight { .. } => "set_weight",
            Action::Deploy { .. } => "deploy",
            Action::Step => "step",
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::Promote { .. } => "promote",
            Action::Rollback => "rollback",
            Action::Drain { .. } => "drain",
            Action::Resize { .. } => "resize",
            Action::Scale { .. } => "scale",
            Action::UndoPromote => "undo_promote",
            Action::Abort => "abort",
            Action::MuteGuards { .. } => "mute_guards",
            Action::AckBreach => "ack_breach",
            Action::SetGuards { .. } => "set_guards",
        }
    }
}

/// An action with who asked and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionRequest {
    #[serde(flatten)]
    pub action: Action,
    pub by: Actor,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The answer to an accepted action: what was done and the state after it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionReply {
    pub detail: String,
    pub state: Box<StateView>,
}

/// Why an action was refused. Nothing was changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    /// Machine-readable, stable for scripts and tests.
    pub code: RefusalCode,
    /// One human sentence: "cannot promote: no canary is running (phase idle)".
    pub message: String,
}

impl Refusal {
    pub fn new(code: RefusalCode, message: impl Into<String>) -> Self {
        Refusal {
            code,
            message: message.into(),
        }
    }
}

/// Why an action was refused, as a code (`illegal_in_phase` in JSON). The
/// admin API answers each with an HTTP status by an exhaustive match, so a
/// new code cannot be forgotten there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalCode {
    /// The action makes no sense in the current phase.
    IllegalInPhase,
    /// Promotion inside a `[[freeze]]` window without `force` and a reason.
    Frozen,
    /// `force` without a reason.
    ReasonRequired,
    /// A number outside its range (weight > 100 %, negative CPUs…).
    OutOfRange,
    /// `step` with a plan that has no steps.
    NoSteps,
    /// `step` on the last step.
    NoNextStep,
    /// `deploy` with no image and no `[canary]` in the plan.
    NoCanarySpec,
    /// The previous canary is still being removed.
    Busy,
    /// The request itself is empty or contradictory.
    BadRequest,
    /// The plan's runtime cannot do this at all (resize on `process` or
    /// `static`): refused whatever the phase and the values.
    NotSupported,
    /// A value the plan's rules refuse (e.g. guard thresholds): the message
    /// names the key and what was expected.
    InvalidValue,
    /// A caller named one of the daemon's own actors (`guard`, `system`)
    /// as `by` (answered by the admin API, never by the machine).
    BadActor,
    /// A deploy target the plan does not allow (process runtime: not a
    /// plain version token for `[deploy] command`, or no template at all).
    NotAllowed,
    /// The controller has stopped (the daemon is shutting down).
    Stopped,
    /// A code this build does not know (a newer daemon's).
    #[serde(other)]
    Unknown,
}

impl RefusalCode {
    /// Every code this build knows, for tests and documentation.
    pub const KNOWN: [RefusalCode; 14] = [
        RefusalCode::IllegalInPhase,
        RefusalCode::Frozen,
        RefusalCode::ReasonRequired,
        RefusalCode::OutOfRange,
        RefusalCode::NoSteps,
        RefusalCode::NoNextStep,
        RefusalCode::NoCanarySpec,
        RefusalCode::Busy,
        RefusalCode::BadRequest,
        RefusalCode::NotSupported,
        RefusalCode::InvalidValue,
        RefusalCode::BadActor,
        RefusalCode::NotAllowed,
        RefusalCode::Stopped,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            RefusalCode::IllegalInPhase => "illegal_in_phase",
            RefusalCode::Frozen => "frozen",
            RefusalCode::ReasonRequired => "reason_required",
            RefusalCode::OutOfRange => "out_of_range",
            RefusalCode::NoSteps => "no_steps",
            RefusalCode::NoNextStep => "no_next_step",
            RefusalCode::NoCanarySpec => "no_canary_spec",
            RefusalCode::Busy => "busy",
            RefusalCode::BadRequest => "bad_request",
            RefusalCode::NotSupported => "not_supported",
            RefusalCode::InvalidValue => "invalid_value",
            RefusalCode::BadActor => "bad_actor",
            RefusalCode::NotAllowed => "not_allowed",
            RefusalCode::Stopped => "stopped",
            RefusalCode::Unknown => "unknown",
        }
    }
}

impl From<&str> for RefusalCode {
    /// The code a daemon sent; one this build does not know is `Unknown`.
    fn from(s: &str) -> RefusalCode {
        RefusalCode::KNOWN
            .into_iter()
            .find(|c| c.as_str() == s)
            .unwrap_or(RefusalCode::Unknown)
    }
}

impl fmt::Display for RefusalCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
