//! `scale ROLE N` and `undo_promote`: the two actions that change what runs
//! without moving the release forward, and the facts that end them.
//!
//! A scale records the new count in the version's `replicas` at once (so a
//! restart or a takeover keeps it, converges on it if the scale was cut
//! short — `converge.rs` — and a stable started again runs that many) and
//! asks the driver to converge on it; the count goes back if the new
//! replicas cannot start. Undoing a promotion is possible only while
//! stable's replicas still run and have not begun to stop: it cancels the
//! drain, gives stable its traffic back and pauses, for the operator to say
//! what next.

use super::*;
use crate::plan::ranges::MAX_REPLICAS;

impl Transition<'_> {
    pub(super) fn scale(
        &mut self,
        req: &ActionRequest,
        role: Role,
        replicas: u32,
    ) -> Result<(), Refusal> {
        scalable_on(self.plan.runtime, role)?;
        if replicas == 0 || replicas > MAX_REPLICAS {
            return Err(refuse(
                codes::OUT_OF_RANGE,
                format!(
                    "cannot scale {role} to {replicas} replicas: a running version has 1–{MAX_REPLICAS} (drain or roll back to remove it)"
                ),
            ));
        }
        let phase = self.st.phase;
        let serving = match role {
            Role::Stable => phase != Phase::Promoting,
            Role::Canary => phase.takes_traffic(),
        };
        if !serving {
            let why = match role {
                Role::Stable => "stable is being drained and removed (phase promoting)".into(),
                Role::Canary => why_not(phase),
            };
            return Err(refuse(
                codes::ILLEGAL_IN_PHASE,
                format!("cannot scale {role}: {why}"),
            ));
        }
        if self.st.scaling.contains(&role) {
            return Err(refuse(
                codes::BUSY,
                format!(
                    "cannot scale {role}: its previous scale is still under way; try again in a moment"
                ),
            ));
        }
        let release = match role {
            Role::Stable => 0,
            Role::Canary => self.st.release,
        };
        let plan = self.plan;
        let Some(v) = version_of(self.st, role) else {
            return Err(refuse(
                codes::ILLEGAL_IN_PHASE,
                format!("cannot scale {role}: no {role} is on record (phase {phase})"),
            ));
        };
        let from = v.replicas;
        if from == replicas {
            // Accepted, not refused: asking for what already holds is not a
            // mistake (a script or the autoscaler may ask twice), and
            // nothing is started or stopped for it.
            self.accept(
                req,
                format!("{role} already runs {replicas} replica{}", plural(replicas)),
            );
            return Ok(());
        }
        v.replicas = replicas;
        let spec = spec_for(plan, v, role, release);
        self.accept(req, format!("{role} replicas {from} → {replicas}"));
        self.st.scaling.push(role);
        self.fx.push(Effect::Scale {
            role,
            from,
            to: replicas,
            spec,
        });
        self.persist();
        Ok(())
    }

    /// A scale finished: new canary replicas are counted (not healthy yet),
    /// removed ones are forgotten.
    pub(super) fn scaled(&mut self, role: Role, started: Vec<String>, stopped: Vec<String>) {
        self.st.scaling.retain(|r| *r != role);
        if role == Role::Stable {
            self.replacement_started();
        }
        if role != Role::Canary || self.st.canary.is_none() {
            return;
        }
        let before = self.st.canary_replicas.len();
        for id in started {
            if !self.st.canary_replicas.iter().any(|m| m.id == id) {
                self.st.canary_replicas.push(ReplicaMark {
                    id,
                    healthy: false,
                    alive: true,
                });
            }
        }
        self.st.canary_replicas.retain(|m| !stopped.contains(&m.id));
        if self.st.canary_replicas.len() != before || !stopped.is_empty() {
            self.persist();
        }
    }

    /// The new replicas did not start: the count on record goes back (if
    /// nothing changed it since), said in a warning.
    /// A replacement of stable that failed is tried again (`heal.rs`).
    pub(super) fn scale_failed(&mut self, role: Role, from: u32, to: u32, detail: &str) {
        self.st.scaling.retain(|r| *r != role);
        if role == Role::Stable && self.st.healing.replacing {
            self.replacement_failed(detail);
            return;
        }
        if let Some(v) = version_of(self.st, role).filter(|v| v.replicas == to) {
            v.replicas = from;
        }
        self.emit(EventKind::Warning {
            message: format!(
                "scale {role} {from} → {to} failed, nothing was started: {detail}; {role} stays at {from} replica{}",
                plural(from)
            ),
        });
        self.persist();
    }

    pub(super) fn stop_begun(&mut self, role: Role) {
        if role == Role::Stable && self.st.phase == Phase::Promoting && !self.st.stable_stopping {
            self.st.stable_stopping = true;
            self.persist();
        }
    }

    /// Take back a promotion whose stable has not begun to stop: stable
    /// rejoins its pool, the canary gets back the weight it had, and the
    /// release pauses for the operator.
    pub(super) fn undo_promote(
        &mut self,
        req: &ActionRequest,
        reason: Option<String>,
    ) -> Result<(), Refusal> {
        let phase = self.st.phase;
        if phase != Phase::Promoting {
            return Err(refuse(
                codes::ILLEGAL_IN_PHASE,
                format!("cannot undo the promotion: no promotion is under way (phase {phase})"),
            ));
        }
        if self.st.stable_stopping || self.st.removing != Some(Role::Stable) {
            return Err(refuse(
                codes::ILLEGAL_IN_PHASE,
                "too late to undo: stable is already stopping; roll back instead by deploying the previous version once the promotion ends".into(),
            ));
        }
        let back = self.st.weight_before_promote.unwrap_or(0);
        self.accept(
            req,
            format!(
                "promotion undone: stable kept and back in its pool, canary weight back to {}; paused",
                pct(back)
            ),
        );
        // Stable's replicas rejoin their pool before any traffic moves.
        self.fx.push(Effect::RestoreStable);
        self.st.removing = None;
        self.st.stable_stopping = false;
        self.st.weight_before_promote = None;
        let why = reason.or(Some("promotion undone".into()));
        self.set_weight(back, req.by, why.clone());
        self.set_phase(Phase::Paused, req.by, why);
        self.arm();
        self.persist();
        Ok(())
    }
}

pub(super) fn version_of(st: &mut ReleaseState, role: Role) -> Option<&mut VersionPlan> {
    match role {
        Role::Stable => Some(&mut st.stable),
        Role::Canary => st.canary.as_mut(),
    }
}

/// Refused up front, whatever the phase: runtimes whose replica count this
/// controller cannot change.
pub(super) fn scalable_on(runtime: RuntimeKind, role: Role) -> Result<(), Refusal> {
    let why = match runtime {
        RuntimeKind::Static => format!(
            "runtime \"static\" cannot start or stop replicas: its upstreams are fixed in the plan ({role}.upstreams)"
        ),
        RuntimeKind::Swarm => "runtime \"swarm\" runs each version as one Swarm service whose replica count is set when it is created; scaling it is not built yet".to_string(),
        RuntimeKind::Docker | RuntimeKind::Process => return Ok(()),
    };
    Err(refuse(
        codes::NOT_SUPPORTED,
        format!("cannot scale {role}: {why}"),
    ))
}

pub(super) fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}
