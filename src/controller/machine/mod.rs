//! The release state machine: pure transitions, no I/O, no clock.
//!
//! ```text
//!   Idle ──deploy──▶ Deploying ──started──▶ Warming ──min_healthy (+warm-up)──▶ Canary ◀─resume/pause─▶ Paused
//!    ▲                  │                      │                                 │  │                   │
//!    │                  └──start failed / start_timeout / died──▶ Failed          │  └─promote / last bake┘──▶ Promoting ──stable removed──▶ Idle
//!    └──────canary removed◀── RollingBack ◀──rollback / abort / breach / drain canary┘
//! ```
//!
//! [`Machine::apply`] takes one [`Input`] and the current wall-clock time and
//! returns the [`Effect`]s the driver must execute, or a [`Refusal`]. It works
//! on a copy of the state and commits only on success, so a refused action
//! never leaves a half-done change behind.
//!
//! Decisions worth knowing:
//! - Facts (health, exits, timers, breaches) are never refused: a fact that
//!   does not matter in the current phase is ignored (no effects, no change).
//! - `on_breach = "pause"` pauses like Flagger does: the canary keeps its
//!   current weight, steps and bake are held, guards stay on. The proxy's
//!   error trip (which zeroes the weight on its own) is armed only with
//!   `on_breach = "rollback"`, because it is a rollback by nature.
//! - Rollback (by anyone) sets weight 0 as its very first effect, before any
//!   event, and never waits on the canary answering.
//! - Stable is only drained and removed in `Promoting`, which is entered only
//!   from `Canary` / `Paused`, i.e. with a serving canary. If the canary loses
//!   every serving replica before stable is removed, the promotion is
//!   abandoned: weight 0, stable kept (`RestoreStable`), the canary rolled
//!   back (Argo Rollouts #777: never end with no capacity).
//! - A new release starts with guards armed and the plan's thresholds: a mute
//!   or a threshold edit lasts for one release, and its end is journaled.
//! - After the last step's bake the machine promotes by itself (`System`)
//!   unless a freeze window is in force; then it stays in `Canary`, says so
//!   once, and promotes on the first tick after the window ends.

use super::effect::{Effect, Input, Trips};

mod actions;
mod canary_plan;
mod converge;
mod facts;
mod guards;
mod heal;
mod moves;
mod restore;
mod scale;
use super::release::{Outcome, ReleaseState, ReplicaMark, version_label};
use crate::model::{
    Action, ActionRequest, Actor, BreachView, EventKind, GuardVerdict, Phase, Refusal, Role,
};
use crate::plan::{DeployPlan, Freeze, OnBreach, Plan, RuntimeKind, VersionPlan};
use crate::runtime::VersionSpec;
use chrono::{DateTime, Utc};
pub use converge::LiveReplicas;
pub use heal::{Healing, MAX_DELAY, SETTLED, backoff};
use std::collections::BTreeMap;
use std::time::Duration;

/// Refusal codes (`Refusal::code`) by their old names, for the tests and
/// scripts that spell them so; [`crate::model::RefusalCode`] documents each.
pub mod codes {
    use crate::model::RefusalCode;
    pub const ILLEGAL_IN_PHASE: RefusalCode = RefusalCode::IllegalInPhase;
    pub const FROZEN: RefusalCode = RefusalCode::Frozen;
    pub const REASON_REQUIRED: RefusalCode = RefusalCode::ReasonRequired;
    pub const OUT_OF_RANGE: RefusalCode = RefusalCode::OutOfRange;
    pub const NO_STEPS: RefusalCode = RefusalCode::NoSteps;
    pub const NO_NEXT_STEP: RefusalCode = RefusalCode::NoNextStep;
    pub const NO_CANARY_SPEC: RefusalCode = RefusalCode::NoCanarySpec;
    pub const BUSY: RefusalCode = RefusalCode::Busy;
    pub const BAD_REQUEST: RefusalCode = RefusalCode::BadRequest;
    pub const NOT_SUPPORTED: RefusalCode = RefusalCode::NotSupported;
    pub const INVALID_VALUE: RefusalCode = RefusalCode::InvalidValue;
    pub const BAD_ACTOR: RefusalCode = RefusalCode::BadActor;
    pub const NOT_ALLOWED: RefusalCode = RefusalCode::NotAllowed;
}

/// What the machine takes the guards to wait for until they first report.
const NO_EVIDENCE_YET: &str = "the guards have judged nothing yet";

/// The release machine: the plan it follows and the state it owns.
#[derive(Clone, Debug)]
pub struct Machine {
    plan: Plan,
    state: ReleaseState,
    /// What [`Machine::restore`] had to repair, for the driver to journal.
    notes: Vec<String>,
}

impl Machine {
    /// A machine with stable as the plan says and no canary.
    pub fn new(plan: Plan) -> Self {
        let state = ReleaseState::fresh(&plan.stable);
        Machine {
            plan,
            state,
            notes: Vec::new(),
        }
    }

    /// A machine resumed from a persisted state (see [`Machine::resume_effects`]).
    /// A state that contradicts itself or the plan (a phase that needs a
    /// canary without one, a step the plan no longer has, a weight the phase
    /// forbids) is repaired to the nearest safe state, never trusted into a
    /// panic; what was repaired is in [`Machine::take_notes`].
    pub fn restore(plan: Plan, mut state: ReleaseState) -> Self {
        let notes = restore::repair(&plan, &mut state);
        Machine { plan, state, notes }
    }

    /// Take up a start or warm-up that a restart cut short, once the driver
    /// has adopted what still runs (`canary`: the ids of the canary
    /// replicas it adopted). See `restore.rs` for what each phase does;
    /// other phases need nothing here ([`Machine::resume_effects`] covers them).
    pub fn resumed(&mut self, canary: &[String], now: DateTime<Utc>) -> Vec<Effect> {
        self.in_place(now, |t| t.resumed(canary))
    }

    /// After [`Machine::resumed`]: each running version brought back to
    /// the replica count on record, from the `live` replicas the driver
    /// adopted, with the effect a `scale` emits (see `converge.rs` for
    /// which versions converge in which phase).
    pub fn converge(&mut self, live: LiveReplicas, now: DateTime<Utc>) -> Vec<Effect> {
        self.in_place(now, |t| t.converge(live))
    }

    /// A stable replacement due by `now` (see `heal.rs`), from the `live`
    /// replicas the driver counts: the driver asks after each unplanned
    /// stable exit and on its clock, as it ticks the machine.
    pub fn heal(&mut self, live: LiveReplicas, now: DateTime<Utc>) -> Vec<Effect> {
        self.in_place(now, |t| t.heal(live.stable))
    }

    /// A transition on the state itself, for what the driver asks outside
    /// [`Machine::apply`] (after a restart, on its clock): nothing to
    /// refuse, so nothing to roll back.
    fn in_place(&mut self, now: DateTime<Utc>, f: impl FnOnce(&mut Transition)) -> Vec<Effect> {
        let mut t = Transition {
            plan: &self.plan,
            st: &mut self.state,
            now,
            fx: Vec::new(),
        };
        f(&mut t);
        t.fx
    }

    /// Warnings from [`Machine::restore`] (once).
    pub fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    pub fn state(&self) -> &ReleaseState {
        &self.state
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Feed one input. On `Err` nothing changed.
    pub fn apply(&mut self, input: Input, now: DateTime<Utc>) -> Result<Vec<Effect>, Refusal> {
        let mut next = self.state.clone();
        let mut t = Transition {
            plan: &self.plan,
            st: &mut next,
            now,
            fx: Vec::new(),
        };
        t.input(input)?;
        let fx = t.fx;
        self.state = next;
        Ok(fx)
    }

    /// The effects that put the world back in line with a restored state:
    /// the weight, the error trip, and any drain / removal that was under
    /// way when the daemon stopped. Deploying and warming are left to
    /// [`Machine::resumed`], once the driver knows which replicas exist.
    pub fn resume_effects(&self) -> Vec<Effect> {
        let st = &self.state;
        let drain = self.plan.drain.timeout.get();
        let grace = self.plan.drain.stop_grace.get();
        let mut fx = vec![Effect::SetWeight {
            permille: st.weight_permille,
            by: Actor::System,
        }];
        match st.phase {
            Phase::Canary | Phase::Paused => fx.extend([
                Effect::RestartEvidence { release: true },
                Effect::ArmTrips {
                    trips: trips(&self.plan, st),
                },
            ]),
            Phase::Promoting => fx.extend([
                Effect::Drain {
                    role: Role::Stable,
                    timeout: drain,
                },
                Effect::Stop {
                    role: Role::Stable,
                    grace,
                },
                Effect::Remove { role: Role::Stable },
            ]),
            Phase::RollingBack => fx.extend([
                Effect::Drain {
                    role: Role::Canary,
                    timeout: drain,
                },
                Effect::Stop {
                    role: Role::Canary,
                    grace,
                },
                Effect::Remove { role: Role::Canary },
            ]),
            Phase::Failed if st.removing == Some(Role::Canary) => fx.extend([
                Effect::Stop {
                    role: Role::Canary,
                    grace,
                },
                Effect::Remove { role: Role::Canary },
            ]),
            _ => {}
        }
        fx
    }

    /// The earliest deadline the driver should wake up for, if any.
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        match (self.state.bake_deadline, self.state.start_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The freeze window in force at `now`, if any.
    pub fn freeze_at(&self, now: DateTime<Utc>) -> Option<&Freeze> {
        freeze_at(&self.plan, now)
    }

    /// The runtime spec of a version, as the driver passes it to `Runtime::start`.
    pub fn spec(&self, role: Role) -> Option<VersionSpec> {
        let v = match role {
            Role::Stable => &self.state.stable,
            Role::Canary => self.state.canary.as_ref()?,
        };
        let release = match role {
            Role::Stable => 0,
            Role::Canary => self.state.release,
        };
        Some(spec_for(&self.plan, v, role, release))
    }
}

/// The event journaled for a refused action.
pub fn refused_event(req: &ActionRequest, refusal: &Refusal) -> EventKind {
    EventKind::Action {
        action: req.action.name().to_string(),
        by: req.by,
        reason: req.reason.clone(),
        ok: false,
        detail: format!("refused ({}): {}", refusal.code, refusal.message),
    }
}

/// A version plan as a runtime spec.
pub fn spec_for(plan: &Plan, v: &VersionPlan, role: Role, release: u64) -> VersionSpec {
    VersionSpec {
        service: plan.service.clone(),
        role,
        release,
        version: version_label(v, role.as_str()),
        image: v.image.clone(),
        command: v.command.clone(),
        upstreams: v.upstreams.clone(),
        replicas: v.replicas,
        port: v.port,
        env: v.env.clone(),
        cpus: v.cpus,
        memory: v.memory.map(|m| m.0),
        labels: BTreeMap::new(),
        pull: v.pull,
        pinned: v.pinned.clone(),
        pass_env: plan.pass_env.clone(),
        hardening: crate::runtime::Hardening::of(v),
    }
}

/// `50` → `"5%"`, `55` → `"5.5%"`.
pub fn pct(permille: u16) -> String {
    if permille.is_multiple_of(10) {
        format!("{}%", permille / 10)
    } else {
        format!("{}.{}%", permille / 10, permille % 10)
    }
}

fn freeze_at(plan: &Plan, now: DateTime<Utc>) -> Option<&Freeze> {
    plan.freeze.iter().find(|f| f.contains(now))
}

fn freeze_name(f: &Freeze) -> String {
    match &f.reason {
        Some(r) => format!("freeze window {r:?}"),
        None => "a freeze window".to_string(),
    }
}

/// The proxy's trips: only with `on_breach = rollback` (they are rollbacks
/// by nature), unmuted, from the thresholds in force (the plan's or this
/// release's edit).
fn trips(plan: &Plan, st: &ReleaseState) -> Trips {
    let g = st.guard(plan);
    if st.muted || g.on_breach != OnBreach::Rollback {
        Trips::OFF
    } else {
        Trips {
            in_a_row: g.trip_after,
            budget: g.max_failed_requests,
        }
    }
}

fn refuse(code: crate::model::RefusalCode, message: String) -> Refusal {
    Refusal::new(code, message)
}

/// One transition in progress, on a scratch copy of the state.
struct Transition<'a> {
    plan: &'a Plan,
    st: &'a mut ReleaseState,
    now: DateTime<Utc>,
    fx: Vec<Effect>,
}

impl Transition<'_> {
    /// Actions may be refused; facts never are (see `facts.rs`).
    fn input(&mut self, input: Input) -> Result<(), Refusal> {
        match input {
            Input::Action(req) => return self.action(req),
            Input::CanaryStarted { replicas } => self.canary_started(replicas),
            Input::CanaryStartFailed { detail } => self.canary_start_failed(&detail),
            Input::ImagePinned {
                role,
                image,
                reference,
            } => self.image_pinned(role, &image, reference),
            Input::ReplicaHealthy { role, id } => self.replica_healthy(role, &id),
            Input::ReplicaUnhealthy { role, id } => self.replica_unhealthy(role, &id),
            Input::ReplicaExited { role, id, detail } => self.replica_exited(role, &id, &detail),
            Input::ReplicaAppeared { role, id } => self.canary_appeared(role, id),
            Input::WarmupDone { detail, failed } => self.warmup_done(&detail, failed),
            Input::BakeElapsed { step } => self.bake_elapsed(step),
            Input::Breach { verdict } => self.breach(verdict),
            Input::DrainDone {
                role,
                finished,
                cut,
            } => self.drain_done(role, finished, cut),
            Input::Removed { role } => self.removed(role),
            Input::Evidence { waiting } => self.st.evidence_waiting = waiting,
            Input::Scaled {
                role,
                started,
                stopped,
            } => self.scaled(role, started, stopped),
            Input::ScaleFailed {
                role,
                from,
                to,
                detail,
            } => self.scale_failed(role, from, to, &detail),
            Input::StopBegun { role } => self.stop_begun(role),
            Input::Tick => self.tick(),
        }
        Ok(())
    }

    // ---- actions -------------------------------------------------------
}

/// Why an action needing a serving canary is refused, in operator words.
fn why_not(phase: Phase) -> String {
    match phase {
        Phase::Idle => "no canary is running (phase idle)".into(),
        Phase::Failed => "the last canary failed and was removed (phase failed)".into(),
        Phase::Deploying | Phase::Warming => {
            format!("the canary is not serving yet (phase {phase})")
        }
        Phase::Promoting => "a promotion is in progress (phase promoting)".into(),
        Phase::RollingBack => "a rollback is in progress (phase rolling_back)".into(),
        Phase::Canary | Phase::Paused => format!("not possible in phase {phase}"),
    }
}

fn chrono_dur(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}
