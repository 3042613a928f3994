//! Actions asked for by a client: accepted with effects, or refused with
//! nothing changed.

use super::*;

impl Transition<'_> {
    pub(super) fn action(&mut self, req: ActionRequest) -> Result<(), Refusal> {
        let by = req.by;
        let reason = req.reason.clone().filter(|r| !r.trim().is_empty());
        match req.action.clone() {
            Action::SetWeight { permille } => self.ask_weight(&req, permille, reason)?,
            Action::Deploy { image } => self.deploy(&req, image.trim())?,
            Action::Step => self.ask_step(&req, reason)?,
            Action::Pause => self.ask_pause(&req, reason)?,
            Action::Resume => self.ask_resume(&req, reason)?,
            Action::Promote { force } => self.promote(&req, force, "promote")?,
            Action::Rollback => {
                self.need_canary("roll back")?;
                self.rollback(by, reason, Some(&req), None);
            }
            // `force` means nothing for the canary: a rollback is never frozen.
            Action::Drain {
                role: Role::Canary, ..
            } => {
                self.need_canary("drain canary")?;
                self.rollback(by, reason, Some(&req), None);
            }
            Action::Drain {
                role: Role::Stable,
                force,
            } => self.promote(&req, force, "drain stable")?,
            Action::SetGuards { guards } => self.set_guards(&req, &guards)?,
            Action::Resize { role, cpus, memory } => self.resize(&req, role, cpus, memory)?,
            Action::Abort => self.abort(&req, reason)?,
            Action::Scale { role, replicas } => self.scale(&req, role, replicas)?,
            Action::UndoPromote => self.undo_promote(&req, reason)?,
            Action::MuteGuards { muted } => self.mute_guards(&req, muted),
            Action::AckBreach => {
                let detail = if self.st.last_breach.take().is_some() {
                    "breach acknowledged"
                } else {
                    "no breach to acknowledge"
                };
                self.accept(&req, detail.into());
                self.persist();
            }
        }
        Ok(())
    }

    fn ask_weight(
        &mut self,
        req: &ActionRequest,
        permille: u16,
        reason: Option<String>,
    ) -> Result<(), Refusal> {
        self.need_serving("set the weight")?;
        if crate::model::Permille::new(permille).is_none() {
            return Err(refuse(
                codes::OUT_OF_RANGE,
                format!(
                    "cannot set weight {}: the canary share is 0–100 %",
                    pct(permille)
                ),
            ));
        }
        let from = self.st.weight_permille;
        self.accept(
            req,
            format!("canary weight {} → {}", pct(from), pct(permille)),
        );
        self.set_weight(permille, req.by, reason);
        self.persist();
        Ok(())
    }

    fn ask_step(&mut self, req: &ActionRequest, reason: Option<String>) -> Result<(), Refusal> {
        self.need_serving("step")?;
        let total = self.plan.steps.len();
        if total == 0 {
            return Err(refuse(
                codes::NO_STEPS,
                "cannot step: the plan has no [[steps]] (manual weight only)".into(),
            ));
        }
        let next = self.st.step_index.map_or(0, |i| i + 1);
        if next >= total {
            return Err(refuse(
                codes::NO_NEXT_STEP,
                format!(
                    "cannot step: already at the last step ({total} of {total}); promote instead"
                ),
            ));
        }
        self.accept(req, format!("step {} of {total} now", next + 1));
        self.enter_step(next, req.by, reason.or(Some("step asked for".into())));
        Ok(())
    }

    fn ask_pause(&mut self, req: &ActionRequest, reason: Option<String>) -> Result<(), Refusal> {
        if self.st.phase == Phase::Paused {
            return Err(refuse(
                codes::ILLEGAL_IN_PHASE,
                "cannot pause: already paused".into(),
            ));
        }
        self.need_serving("pause")?;
        self.accept(req, "steps and bake held; guards stay on".into());
        self.pause(req.by, reason);
        Ok(())
    }

    fn ask_resume(&mut self, req: &ActionRequest, reason: Option<String>) -> Result<(), Refusal> {
        let phase = self.st.phase;
        if phase != Phase::Paused {
            return Err(refuse(
                codes::ILLEGAL_IN_PHASE,
                format!("cannot resume: nothing is paused (phase {phase})"),
            ));
        }
        self.accept(req, "steps and bake resume".into());
        self.resume(req.by, reason);
        Ok(())
    }

    /// Call off a deploy that takes no traffic yet.
    fn abort(&mut self, req: &ActionRequest, reason: Option<String>) -> Result<(), Refusal> {
        let phase = self.st.phase;
        if !matches!(phase, Phase::Deploying | Phase::Warming) {
            let hint = if phase.takes_traffic() {
                "; use rollback"
            } else {
                ""
            };
            return Err(refuse(
                codes::ILLEGAL_IN_PHASE,
                format!("cannot abort: nothing is being deployed (phase {phase}){hint}"),
            ));
        }
        self.rollback(req.by, reason, Some(req), None);
        Ok(())
    }

    fn mute_guards(&mut self, req: &ActionRequest, muted: bool) {
        let detail = match (self.st.muted, muted) {
            (true, true) => "guards were already muted",
            (false, false) => "guards were not muted",
            (false, true) => "guards muted: breaches are no longer acted on",
            (true, false) => "guards unmuted",
        };
        self.accept(req, detail.into());
        let unmuted = self.st.muted && !muted;
        self.st.muted = muted;
        if self.st.phase.takes_traffic() {
            if unmuted {
                // What the canary did while muted is not held
                // against it once the guards are back on.
                self.restart_evidence(false);
            }
            self.arm();
        }
        self.persist();
    }

    /// Refuse unless the canary takes live traffic (Canary or Paused).
    pub(super) fn need_serving(&self, what: &str) -> Result<(), Refusal> {
        let phase = self.st.phase;
        if phase.takes_traffic() {
            return Ok(());
        }
        Err(refuse(
            codes::ILLEGAL_IN_PHASE,
            format!("cannot {what}: {}", why_not(phase)),
        ))
    }

    /// Refuse unless a canary exists that can be rolled back.
    pub(super) fn need_canary(&self, what: &str) -> Result<(), Refusal> {
        let phase = self.st.phase;
        if matches!(
            phase,
            Phase::Deploying | Phase::Warming | Phase::Canary | Phase::Paused
        ) {
            return Ok(());
        }
        Err(refuse(
            codes::ILLEGAL_IN_PHASE,
            format!("cannot {what}: {}", why_not(phase)),
        ))
    }

    pub(super) fn deploy(&mut self, req: &ActionRequest, image: &str) -> Result<(), Refusal> {
        let phase = self.st.phase;
        if !matches!(phase, Phase::Idle | Phase::Failed) {
            return Err(refuse(
                codes::ILLEGAL_IN_PHASE,
                format!(
                    "cannot deploy: release {} is in progress (phase {phase}); promote or roll back first",
                    self.st.release
                ),
            ));
        }
        if let Some(role) = self.st.removing {
            return Err(refuse(
                codes::BUSY,
                format!(
                    "cannot deploy: the previous {role} is still being removed; try again in a moment"
                ),
            ));
        }
        let canary = self.canary_plan(image)?;
        let release = self.st.release + 1;
        let label = canary.version.clone().unwrap_or_default();
        self.accept(
            req,
            format!("release {release}: canary {label} ({})", canary.describe()),
        );
        if self.st.muted {
            self.emit(EventKind::Warning {
                message: format!(
                    "guards unmuted: the mute of release {} ended with it; release {release} starts with guards armed",
                    self.st.release
                ),
            });
            self.st.muted = false;
        }
        if let Some(edited) = self.st.guard.take()
            && edited != self.plan.guard
        {
            self.emit(EventKind::Warning {
                message: format!(
                    "guard thresholds edited for release {} ended with it; release {release} starts with the plan's: {}",
                    self.st.release,
                    super::guards::changes(&edited, &self.plan.guard)
                ),
            });
        }
        self.st.release = release;
        self.st.canary = Some(canary.clone());
        self.st.canary_replicas.clear();
        self.st.last_breach = None;
        self.st.last_outcome = None;
        self.st.held_by_freeze = None;
        self.st.step_index = None;
        self.st.bake_deadline = None;
        self.st.bake_remaining_ms = None;
        self.st.warmup_pending = false;
        self.st.start_deadline = Some(self.now + chrono_dur(self.plan.health.start_timeout.get()));
        self.set_phase(Phase::Deploying, req.by, Some(format!("deploy {label}")));
        self.fx.push(Effect::StartCanary {
            spec: spec_for(self.plan, &canary, Role::Canary, release),
        });
        self.persist();
        Ok(())
    }

    pub(super) fn promote(
        &mut self,
        req: &ActionRequest,
        force: bool,
        what: &str,
    ) -> Result<(), Refusal> {
        let phase = self.st.phase;
        if !phase.takes_traffic() {
            return Err(refuse(
                codes::ILLEGAL_IN_PHASE,
                format!("cannot {what}: {}", why_not(phase)),
            ));
        }
        let reason = req.reason.clone().filter(|r| !r.trim().is_empty());
        if force && reason.is_none() {
            return Err(refuse(
                codes::REASON_REQUIRED,
                format!("cannot {what} with force: say why (--force --reason TEXT)"),
            ));
        }
        if let Some(f) = freeze_at(self.plan, self.now)
            && !force
        {
            return Err(refuse(
                codes::FROZEN,
                format!(
                    "cannot {what}: {} is in force until {}; {what} with --force --reason TEXT to override",
                    freeze_name(f),
                    f.until.to_rfc3339()
                ),
            ));
        }
        let detail = match (force, freeze_at(self.plan, self.now)) {
            (true, Some(f)) => format!("promoting inside {} (forced)", freeze_name(f)),
            _ => "promoting: 100% canary, draining stable".to_string(),
        };
        self.accept(req, detail);
        self.begin_promote(req.by, reason);
        Ok(())
    }

    pub(super) fn resize(
        &mut self,
        req: &ActionRequest,
        role: Role,
        cpus: Option<f64>,
        memory: Option<u64>,
    ) -> Result<(), Refusal> {
        check_limits(self.plan.runtime, role, cpus, memory)?;
        let phase = self.st.phase;
        resizable_in(role, phase)?;
        let v = match role {
            Role::Stable => &mut self.st.stable,
            Role::Canary => match self.st.canary.as_mut() {
                Some(c) => c,
                None => {
                    return Err(refuse(
                        codes::ILLEGAL_IN_PHASE,
                        format!("cannot resize canary: no canary is on record (phase {phase})"),
                    ));
                }
            },
        };
        if let Some(c) = cpus {
            v.cpus = Some(c);
        }
        if let Some(m) = memory {
            v.memory = Some(crate::plan::ByteSize(m));
        }
        let detail = format!(
            "{role} limits: cpus {}, memory {}",
            cpus.map_or("unchanged".into(), |c| c.to_string()),
            memory.map_or("unchanged".into(), |m| crate::plan::ByteSize(m).to_string())
        );
        self.accept(req, detail);
        self.fx.push(Effect::Resize { role, cpus, memory });
        self.persist();
        Ok(())
    }
}

/// Limits a resize may ask for: a runtime that honours them, something to
/// change, and the plan's ranges (in the plan's words).
fn check_limits(
    runtime: RuntimeKind,
    role: Role,
    cpus: Option<f64>,
    memory: Option<u64>,
) -> Result<(), Refusal> {
    // Up front: no phase makes limits work where the runtime drops them,
    // and nothing may be saved to state that the runtime then refuses.
    if !runtime.honours_limits() {
        return Err(refuse(
            codes::NOT_SUPPORTED,
            format!(
                "cannot resize {role}: {}",
                crate::plan::limits_ignored(runtime)
            ),
        ));
    }
    if cpus.is_none() && memory.is_none() {
        return Err(refuse(
            codes::BAD_REQUEST,
            format!("cannot resize {role}: give cpus, memory or both"),
        ));
    }
    // The plan's ranges, in the plan's words.
    if let Some(c) = cpus
        && !crate::plan::cpu_count_ok(c)
    {
        return Err(refuse(
            codes::OUT_OF_RANGE,
            format!(
                "cannot resize {role}: cpus: {}",
                crate::plan::ranges::expected("stable.cpus", c).unwrap_or_default()
            ),
        ));
    }
    if let Some(m) = memory
        && m < crate::plan::ranges::MIN_MEMORY
    {
        return Err(refuse(
            codes::OUT_OF_RANGE,
            format!(
                "cannot resize {role}: memory: {}",
                crate::plan::ranges::expected("stable.memory", crate::plan::ByteSize(m))
                    .unwrap_or_default()
            ),
        ));
    }
    Ok(())
}

/// Stable resizes except while it is drained; the canary while it runs.
fn resizable_in(role: Role, phase: Phase) -> Result<(), Refusal> {
    let ok = match role {
        Role::Stable => phase != Phase::Promoting,
        Role::Canary => matches!(phase, Phase::Warming | Phase::Canary | Phase::Paused),
    };
    if !ok {
        let why = match role {
            Role::Stable => "stable is being drained and removed (phase promoting)".to_string(),
            Role::Canary => why_not(phase),
        };
        return Err(refuse(
            codes::ILLEGAL_IN_PHASE,
            format!("cannot resize {role}: {why}"),
        ));
    }
    Ok(())
}
