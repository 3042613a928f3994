//! Facts from the runtime, health checks, timers and guards: never
//! refused, ignored when they do not matter in the current phase.

use super::*;

impl Transition<'_> {
    pub(super) fn canary_start_failed(&mut self, detail: &str) {
        if self.st.phase == Phase::Deploying {
            self.fail(format!("the canary could not start: {detail}"));
        }
    }

    /// The digest `image` resolved to, pinned while that image is still
    /// the role's.
    pub(super) fn image_pinned(&mut self, role: Role, image: &str, reference: String) {
        let version = match role {
            Role::Stable => Some(&mut self.st.stable),
            Role::Canary => self.st.canary.as_mut(),
        };
        if let Some(v) = version.filter(|v| v.image.as_deref() == Some(image)) {
            v.pinned = Some(reference);
            self.persist();
        }
    }

    pub(super) fn replica_healthy(&mut self, role: Role, id: &str) {
        if role == Role::Canary && self.mark(id, |m| m.healthy = true) {
            self.persist();
            self.maybe_warm();
        }
    }

    pub(super) fn replica_unhealthy(&mut self, role: Role, id: &str) {
        if role == Role::Canary && self.mark(id, |m| m.healthy = false) {
            self.persist();
            // A canary with no healthy replica left cannot take its
            // share (the proxy already sends it to stable): the
            // release cannot go on, so it is rolled back.
            if self.st.phase.takes_traffic() && self.st.healthy_canaries() == 0 {
                self.rollback(
                    Actor::System,
                    Some(format!(
                        "no canary replica is healthy ({id} failed its health checks)"
                    )),
                    None,
                    None,
                );
            } else {
                self.maybe_abandon_promote(&format!("{id} failed its health checks"));
            }
        }
    }

    /// A replica that exited on its own: a stable one is replaced
    /// (`heal.rs`); a canary one never is, its death is evidence against
    /// the canary (rolled back when none is left, judged by the guards
    /// otherwise).
    pub(super) fn replica_exited(&mut self, role: Role, id: &str, detail: &str) {
        if role == Role::Stable {
            self.stable_exited(id, detail);
        }
        if role == Role::Canary && self.mark(id, |m| (m.alive, m.healthy) = (false, false)) {
            self.persist();
            self.canary_exited(id, detail);
        }
    }

    /// Warm-up answered: the first step, unless more of it failed than
    /// `warmup.max_failures` allows (then the release fails, before any
    /// client reached the canary).
    pub(super) fn warmup_done(&mut self, detail: &str, failed: u32) {
        if self.st.phase != Phase::Warming || !self.st.warmup_pending {
            return;
        }
        self.st.warmup_pending = false;
        let allowed = self.plan.warmup.as_ref().and_then(|w| w.max_failures);
        match allowed {
            Some(max) if failed > max => self.fail(format!(
                "warm-up failed: {detail}, more than warmup.max_failures = {max}"
            )),
            _ => self.enter_canary(format!("warm-up done ({detail})")),
        }
    }

    pub(super) fn bake_elapsed(&mut self, step: usize) {
        if self.st.phase == Phase::Canary && self.st.step_index == Some(step) {
            self.bake_done();
        }
    }

    /// A drain ended; requests it had to cut are worth a warning.
    pub(super) fn drain_done(&mut self, role: Role, finished: u64, cut: u64) {
        if cut > 0 {
            self.emit(EventKind::Warning {
                message: format!(
                    "drained {role}: {finished} in-flight requests finished, {cut} answered 504 at the {} drain timeout",
                    self.plan.drain.timeout
                ),
            });
        }
    }

    pub(super) fn canary_started(&mut self, replicas: Vec<String>) {
        let marks = replicas
            .iter()
            .map(|id| ReplicaMark {
                id: id.clone(),
                healthy: false,
                alive: true,
            })
            .collect();
        match self.st.phase {
            Phase::Deploying if replicas.is_empty() => {
                self.fail("the runtime started no canary replica".into());
            }
            Phase::Deploying => {
                self.st.canary_replicas = marks;
                let n = replicas.len();
                self.set_phase(
                    Phase::Warming,
                    Actor::System,
                    Some(format!(
                        "{n} canary replica{} started; waiting for {} healthy",
                        if n == 1 { "" } else { "s" },
                        self.plan.health.min_healthy
                    )),
                );
                self.persist();
            }
            // A start that finished after an abort or failure: remember the
            // replicas so the removal already queued takes them too.
            Phase::RollingBack | Phase::Failed
                if self.st.removing == Some(Role::Canary) && self.st.canary_replicas.is_empty() =>
            {
                self.st.canary_replicas = marks;
                self.persist();
            }
            _ => {}
        }
    }

    /// Update one known canary replica; true when that changed anything
    /// (false for an unknown id or a repeated report).
    pub(super) fn mark(&mut self, id: &str, f: impl FnOnce(&mut ReplicaMark)) -> bool {
        match self.st.canary_replicas.iter_mut().find(|m| m.id == id) {
            Some(m) => {
                let before = m.clone();
                f(m);
                *m != before
            }
            None => false,
        }
    }

    pub(super) fn maybe_warm(&mut self) {
        if self.st.phase != Phase::Warming || self.st.warmup_pending {
            return;
        }
        let healthy = self.st.healthy_canaries();
        let need = self.plan.health.min_healthy.max(1) as usize;
        if healthy < need {
            return;
        }
        match &self.plan.warmup {
            Some(w) if w.requests > 0 => {
                self.st.warmup_pending = true;
                self.fx.push(Effect::Warmup);
                self.persist();
            }
            _ => self.enter_canary(format!("{healthy} canary replica(s) healthy")),
        }
    }

    /// A replacement for a lost canary replica (the runtime started it):
    /// counted among the canary's replicas while its version still runs.
    pub(super) fn canary_appeared(&mut self, role: Role, id: String) {
        let running = matches!(
            self.st.phase,
            Phase::Warming | Phase::Canary | Phase::Paused | Phase::Promoting
        );
        if role != Role::Canary || !running || self.st.canary_replicas.iter().any(|m| m.id == id) {
            return;
        }
        self.st.canary_replicas.push(ReplicaMark {
            id,
            healthy: false,
            alive: true,
        });
        self.persist();
    }

    pub(super) fn canary_exited(&mut self, id: &str, detail: &str) {
        match self.st.phase {
            Phase::Deploying | Phase::Warming => {
                self.fail(format!(
                    "canary replica {id} exited while warming: {detail}"
                ));
            }
            Phase::Canary | Phase::Paused if self.st.alive_canaries() == 0 => {
                self.rollback(
                    Actor::System,
                    Some(format!(
                        "every canary replica exited (last: {id}: {detail})"
                    )),
                    None,
                    None,
                );
            }
            Phase::Promoting => self.maybe_abandon_promote(&format!("{id} exited: {detail}")),
            _ => {}
        }
    }

    /// While promoting, the canary takes all the traffic and stable is on
    /// its way out. A canary with no healthy replica left cannot serve, so
    /// stable must not be removed: traffic goes back to stable and the
    /// canary is rolled back, with the reason journaled.
    pub(super) fn maybe_abandon_promote(&mut self, what: &str) {
        if self.st.phase != Phase::Promoting || self.st.healthy_canaries() > 0 {
            return;
        }
        let reason = format!(
            "promotion abandoned: no canary replica can serve ({what}); stable is kept and takes the traffic back"
        );
        let warning = EventKind::Warning {
            message: format!(
                "{reason}. Stable was not removed; if its replicas were already stopped, new ones are started"
            ),
        };
        self.rollback(Actor::System, Some(reason), None, Some(warning));
    }

    pub(super) fn breach(&mut self, verdict: GuardVerdict) {
        let phase = self.st.phase;
        if self.st.muted || !phase.takes_traffic() {
            return;
        }
        let on_breach = self.st.guard(self.plan).on_breach;
        if on_breach == OnBreach::Pause && phase == Phase::Paused {
            return;
        }
        let value = verdict.value.unwrap_or(f64::NAN);
        let event = EventKind::Breach {
            guard: verdict.name,
            value,
            threshold: verdict.threshold,
            on_breach,
            detail: verdict.detail.clone(),
            evidence: verdict.evidence.clone(),
        };
        self.st.last_breach = Some(BreachView {
            guard: verdict.name,
            value,
            threshold: verdict.threshold,
            detail: verdict.detail.clone(),
            at: self.now,
        });
        let reason = Some(format!("guard {}: {}", verdict.name, verdict.detail));
        match on_breach {
            OnBreach::Rollback => self.rollback(Actor::Guard, reason, None, Some(event)),
            OnBreach::Pause => {
                self.emit(event);
                self.pause(Actor::Guard, reason);
            }
        }
    }

    pub(super) fn removed(&mut self, role: Role) {
        if self.st.removing == Some(role) {
            self.st.removing = None;
        }
        match (role, self.st.phase) {
            (Role::Canary, Phase::RollingBack) => {
                self.st.canary = None;
                self.st.canary_replicas.clear();
                self.st.last_outcome = Some(Outcome::RolledBack);
                self.set_phase(
                    Phase::Idle,
                    Actor::System,
                    Some("canary removed; stable serves everything".into()),
                );
                self.hook("post_rollback", self.plan.hooks.post_rollback.clone());
                self.persist();
            }
            (Role::Canary, Phase::Failed) if self.st.canary.is_some() => {
                self.st.canary = None;
                self.st.canary_replicas.clear();
                self.persist();
            }
            (Role::Stable, Phase::Promoting) => {
                self.st.stable_stopping = false;
                self.st.weight_before_promote = None;
                let Some(mut promoted) = self.st.canary.take() else {
                    // Only a state restored inconsistent gets here (a
                    // promotion without a canary): finish as idle; the
                    // driver starts stable again when none is left.
                    self.emit(EventKind::Warning {
                        message: "a promotion finished without a canary on record (inconsistent restored state): idle with the plan's stable; stable is started again if none of its replicas is left".into(),
                    });
                    self.st.canary_replicas.clear();
                    self.set_weight(0, Actor::System, Some("no canary to promote".into()));
                    self.set_phase(
                        Phase::Idle,
                        Actor::System,
                        Some("promotion without a canary: back to stable".into()),
                    );
                    self.persist();
                    return;
                };
                promoted.version = Some(version_label(&promoted, "stable"));
                let label = promoted.version.clone().unwrap_or_default();
                self.st.stable = promoted;
                self.st.canary_replicas.clear();
                self.fx.push(Effect::SwapRoles);
                self.set_weight(0, Actor::System, Some(format!("{label} is now stable")));
                self.fx.push(Effect::ResetMetrics { role: Role::Stable });
                self.fx.push(Effect::ResetMetrics { role: Role::Canary });
                self.st.last_outcome = Some(Outcome::Promoted);
                self.set_phase(
                    Phase::Idle,
                    Actor::System,
                    Some(format!("promoted: {label} is stable")),
                );
                self.hook("post_promote", self.plan.hooks.post_promote.clone());
                self.persist();
            }
            _ => {}
        }
    }

    pub(super) fn tick(&mut self) {
        let now = self.now;
        match self.st.phase {
            Phase::Deploying | Phase::Warming
                if self.st.start_deadline.is_some_and(|d| now >= d) =>
            {
                let healthy = self.st.healthy_canaries();
                self.fail(format!(
                    "canary not healthy within {} ({healthy} of {} needed healthy)",
                    self.plan.health.start_timeout, self.plan.health.min_healthy
                ));
            }
            Phase::Canary => {
                if self.st.bake_deadline.is_some_and(|d| now >= d) {
                    self.bake_done();
                } else if let Some(d) = self.st.evidence_deadline {
                    match self.st.evidence_waiting.clone() {
                        None => self.bake_done(),
                        Some(waiting) if now >= d => self.evidence_timed_out(&waiting),
                        Some(_) => {}
                    }
                } else if self.st.held_by_freeze.is_some() && freeze_at(self.plan, now).is_none() {
                    self.st.held_by_freeze = None;
                    let n = self.plan.steps.len();
                    self.begin_promote(
                        Actor::System,
                        Some(format!("all {n} steps baked; freeze window over")),
                    );
                }
            }
            _ => {}
        }
    }

    pub(super) fn bake_done(&mut self) {
        self.st.bake_deadline = None;
        let total = self.plan.steps.len();
        let Some(i) = self.st.step_index else { return };
        if let Some(waiting) = self.st.evidence_waiting.clone() {
            // Never move on, let alone promote, on no data.
            if self.st.evidence_deadline.is_none() {
                let timeout = self.st.guard(self.plan).evidence_timeout;
                self.st.evidence_deadline = Some(self.now + chrono_dur(timeout.get()));
                self.emit(EventKind::Warning {
                    message: format!(
                        "step {} of {total} baked, but the guards do not have enough evidence yet ({waiting}); waiting up to {timeout} for it, then pausing",
                        i + 1
                    ),
                });
                self.persist();
            }
            return;
        }
        self.st.evidence_deadline = None;
        if i + 1 < total {
            self.enter_step(
                i + 1,
                Actor::System,
                Some(format!("step {} of {total} baked", i + 1)),
            );
            return;
        }
        match freeze_at(self.plan, self.now) {
            Some(f) => {
                let name = freeze_name(f);
                self.emit(EventKind::Warning {
                    message: format!(
                        "all {total} steps baked; automatic promotion held by {name} until {}",
                        f.until.to_rfc3339()
                    ),
                });
                self.st.held_by_freeze = Some(name);
                self.persist();
            }
            None => self.begin_promote(Actor::System, Some(format!("all {total} steps baked"))),
        }
    }

    /// The wait for evidence after a bake ran out: pause for the operator.
    /// Resuming waits again (the bake left is zero, so the next tick asks).
    pub(super) fn evidence_timed_out(&mut self, waiting: &str) {
        let timeout = self.st.guard(self.plan).evidence_timeout;
        self.st.evidence_deadline = None;
        self.pause(
            Actor::System,
            Some(format!(
                "not enough evidence {timeout} after the bake ended ({waiting}); resume to wait again, or step or promote by hand"
            )),
        );
        self.st.bake_remaining_ms = Some(0);
        self.persist();
    }

    // ---- transitions shared by actions and facts -----------------------
}
