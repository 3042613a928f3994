//! The moves every transition is made of: entering a phase or step,
//! pausing, promoting, rolling back, failing, and the effects they emit.

use super::*;

impl Transition<'_> {
    pub(super) fn enter_canary(&mut self, reason: String) {
        self.st.start_deadline = None;
        self.restart_evidence(true);
        self.set_phase(Phase::Canary, Actor::System, Some(reason));
        if self.plan.steps.is_empty() {
            self.fx.push(Effect::ResetMetrics { role: Role::Canary });
            self.arm();
            self.persist();
        } else {
            self.enter_step(0, Actor::System, Some("first step".into()));
        }
    }

    pub(super) fn enter_step(&mut self, i: usize, by: Actor, reason: Option<String>) {
        let Some(step) = self.plan.steps.get(i) else {
            return;
        };
        let bake = step.bake.get();
        self.st.step_index = Some(i);
        self.st.held_by_freeze = None;
        self.st.evidence_deadline = None;
        if self.st.phase == Phase::Paused {
            self.st.bake_deadline = None;
            self.st.bake_remaining_ms = Some(bake.as_millis() as u64);
        } else {
            self.st.bake_deadline = Some(self.now + chrono_dur(bake));
            self.st.bake_remaining_ms = None;
        }
        self.fx.push(Effect::ResetMetrics { role: Role::Canary });
        self.arm();
        self.set_weight(step.weight_permille(), by, reason);
        self.persist();
    }

    pub(super) fn pause(&mut self, by: Actor, reason: Option<String>) {
        if let Some(d) = self.st.bake_deadline.take() {
            let left = (d - self.now).num_milliseconds().max(0) as u64;
            self.st.bake_remaining_ms = Some(left);
        }
        if self.st.evidence_deadline.take().is_some() {
            // Held for evidence: resuming asks again, with a fresh wait.
            self.st.bake_remaining_ms = Some(0);
        }
        self.set_phase(Phase::Paused, by, reason);
        self.persist();
    }

    pub(super) fn resume(&mut self, by: Actor, reason: Option<String>) {
        if let Some(left) = self.st.bake_remaining_ms.take() {
            self.st.bake_deadline = Some(self.now + chrono::Duration::milliseconds(left as i64));
        }
        self.set_phase(Phase::Canary, by, reason);
        self.persist();
    }

    pub(super) fn begin_promote(&mut self, by: Actor, reason: Option<String>) {
        self.clear_timers();
        self.fx.push(Effect::ArmTrips { trips: Trips::OFF });
        self.st.weight_before_promote = Some(self.st.weight_permille);
        self.st.stable_stopping = false;
        self.set_weight(1000, by, reason.clone());
        self.set_phase(Phase::Promoting, by, reason);
        self.st.removing = Some(Role::Stable);
        self.fx.push(Effect::Drain {
            role: Role::Stable,
            timeout: self.plan.drain.timeout.get(),
        });
        self.fx.push(Effect::Stop {
            role: Role::Stable,
            grace: self.plan.drain.stop_grace.get(),
        });
        self.fx.push(Effect::Remove { role: Role::Stable });
        self.persist();
    }

    /// Weight 0 first, then the events (`announce`: the breach or warning
    /// that caused it), then drain / stop / remove the canary.
    pub(super) fn rollback(
        &mut self,
        by: Actor,
        reason: Option<String>,
        req: Option<&ActionRequest>,
        announce: Option<EventKind>,
    ) {
        let from_promote = self.st.phase == Phase::Promoting;
        let served = matches!(
            self.st.phase,
            Phase::Canary | Phase::Paused | Phase::Promoting
        );
        self.fx.push(Effect::SetWeight { permille: 0, by });
        self.fx.push(Effect::ArmTrips { trips: Trips::OFF });
        if from_promote {
            self.fx.push(Effect::RestoreStable);
            self.st.removing = None;
            self.st.stable_stopping = false;
            self.st.weight_before_promote = None;
        }
        if let Some(b) = announce {
            self.emit(b);
        }
        if let Some(req) = req {
            self.accept(req, "weight 0 at once; removing the canary".into());
        }
        let from = self.st.weight_permille;
        self.st.weight_permille = 0;
        if from != 0 {
            self.emit(EventKind::Weight {
                from,
                to: 0,
                by,
                reason: reason.clone(),
            });
        }
        self.clear_timers();
        self.st.step_index = None;
        self.set_phase(Phase::RollingBack, by, reason);
        self.st.removing = Some(Role::Canary);
        if served {
            self.fx.push(Effect::Drain {
                role: Role::Canary,
                timeout: self.plan.drain.timeout.get(),
            });
        }
        self.fx.push(Effect::Stop {
            role: Role::Canary,
            grace: self.plan.drain.stop_grace.get(),
        });
        self.fx.push(Effect::Remove { role: Role::Canary });
        self.persist();
    }

    /// The canary never became healthy (or died warming): remove it, stable untouched.
    pub(super) fn fail(&mut self, reason: String) {
        self.clear_timers();
        self.st.last_outcome = Some(Outcome::Failed);
        self.set_phase(Phase::Failed, Actor::System, Some(reason));
        self.st.removing = Some(Role::Canary);
        self.fx.push(Effect::Stop {
            role: Role::Canary,
            grace: self.plan.drain.stop_grace.get(),
        });
        self.fx.push(Effect::Remove { role: Role::Canary });
        self.persist();
    }

    pub(super) fn clear_timers(&mut self) {
        self.st.evidence_deadline = None;
        self.st.step_index = None;
        self.st.bake_deadline = None;
        self.st.bake_remaining_ms = None;
        self.st.start_deadline = None;
        self.st.held_by_freeze = None;
        self.st.warmup_pending = false;
    }

    // ---- small helpers -------------------------------------------------

    /// Arm the proxy's trips with the thresholds in force.
    pub(super) fn arm(&mut self) {
        let trips = trips(self.plan, self.st);
        self.fx.push(Effect::ArmTrips { trips });
    }

    /// The guards start gathering evidence again; until they report, the
    /// machine takes it that they have none.
    pub(super) fn restart_evidence(&mut self, release: bool) {
        self.st.evidence_waiting = Some(NO_EVIDENCE_YET.into());
        self.fx.push(Effect::RestartEvidence { release });
    }

    pub(super) fn set_weight(&mut self, to: u16, by: Actor, reason: Option<String>) {
        let from = self.st.weight_permille;
        if from == to {
            return;
        }
        self.st.weight_permille = to;
        self.fx.push(Effect::SetWeight { permille: to, by });
        self.emit(EventKind::Weight {
            from,
            to,
            by,
            reason,
        });
    }

    pub(super) fn set_phase(&mut self, to: Phase, by: Actor, reason: Option<String>) {
        let from = self.st.phase;
        if from == to {
            return;
        }
        self.st.phase = to;
        self.emit(EventKind::Phase {
            from,
            to,
            by,
            reason,
        });
    }

    pub(super) fn accept(&mut self, req: &ActionRequest, detail: String) {
        self.emit(EventKind::Action {
            action: req.action.name().to_string(),
            by: req.by,
            reason: req.reason.clone(),
            ok: true,
            detail,
        });
    }

    pub(super) fn hook(&mut self, name: &str, command: Vec<String>) {
        if !command.is_empty() {
            self.fx.push(Effect::RunHook {
                name: name.to_string(),
                command,
            });
        }
    }

    pub(super) fn emit(&mut self, kind: EventKind) {
        self.fx.push(Effect::Emit(kind));
    }

    pub(super) fn persist(&mut self) {
        if self.fx.last() != Some(&Effect::Persist) {
            self.fx.retain(|e| *e != Effect::Persist);
            self.fx.push(Effect::Persist);
        }
    }
}
