//! Repairs of a restored state that contradicts itself or the plan.
//!
//! A state file is written by this code, but it can come from an older
//! build, be restored from the previous copy, or meet a plan edited between
//! two runs. Such a state is brought to the nearest safe one (stable serving,
//! weights the phase allows) and the repair is said out loud, never trusted
//! into a panic of the controller task.

use super::*;
use crate::model::Permille;

/// Fix `st` in place; one operator-facing line per repair.
pub(super) fn repair(plan: &Plan, st: &mut ReleaseState) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(n) = st.guard.as_mut().and_then(|g| g.max_errors.take()) {
        notes.push(format!(
            "restored guard edit had max_errors = {n}, which round 2 no longer judges ({}); the release keeps its other thresholds",
            crate::plan::MAX_ERRORS_REPLACED
        ));
    }
    let needs_canary = matches!(
        st.phase,
        Phase::Deploying
            | Phase::Warming
            | Phase::Canary
            | Phase::Paused
            | Phase::Promoting
            | Phase::RollingBack
    );
    if needs_canary && st.canary.is_none() {
        notes.push(format!(
            "restored state is inconsistent: phase {} without a canary on record; continuing idle with stable {} at canary weight 0",
            st.phase,
            version_label(&st.stable, "stable")
        ));
        st.phase = Phase::Idle;
        st.weight_permille = 0;
        st.canary_replicas.clear();
        st.removing = None;
        clear_timers(st);
    }
    if st.phase == Phase::Idle && st.canary.is_some() {
        notes.push(
            "restored state is inconsistent: idle with a canary on record; the canary is forgotten"
                .into(),
        );
        st.canary = None;
        st.canary_replicas.clear();
    }
    if st.phase == Phase::Failed && st.canary.is_some() && st.removing.is_none() {
        st.removing = Some(Role::Canary);
    }
    if let Some(i) = st.step_index {
        let total = plan.steps.len();
        if i >= total || !st.phase.takes_traffic() {
            notes.push(format!(
                "restored step {} does not fit the plan ({total} step(s)) or phase {}: automatic steps stop here; the weight stays at {}",
                i + 1,
                st.phase,
                pct(Permille::clamped(st.weight_permille.into()).get())
            ));
            st.step_index = None;
            st.bake_deadline = None;
            st.bake_remaining_ms = None;
        }
    }
    let allowed = match st.phase {
        Phase::Canary | Phase::Paused => Permille::clamped(st.weight_permille.into()).get(),
        Phase::Promoting => 1000,
        _ => 0,
    };
    if allowed != st.weight_permille {
        notes.push(format!(
            "restored canary weight {} is not possible in phase {}: {} instead",
            pct(Permille::clamped(st.weight_permille.into()).get()),
            st.phase,
            pct(allowed)
        ));
        st.weight_permille = allowed;
    }
    if st.stable.version.is_none() {
        st.stable.version = Some(version_label(&st.stable, "stable"));
    }
    if st.phase != Phase::Promoting {
        st.stable_stopping = false;
        st.weight_before_promote = None;
    }
    if st.phase != Phase::Warming {
        st.warmup_pending = false;
    }
    // Never on disk; a state handed over in memory may carry it. What was
    // under way ended with the old daemon (`Machine::converge` takes over).
    st.scaling.clear();
    notes
}

fn clear_timers(st: &mut ReleaseState) {
    st.evidence_deadline = None;
    st.step_index = None;
    st.bake_deadline = None;
    st.bake_remaining_ms = None;
    st.start_deadline = None;
    st.held_by_freeze = None;
    st.warmup_pending = false;
}

/// A start or warm-up the restart cut short, taken up again.
///
/// The dead daemon's health checks and warm-up died with it, and the
/// adopted replicas are checked afresh by this one: their health marks
/// start at "not yet healthy" (a checker reports transitions only, so a
/// replica already healthy reports one), the warm-up runs again once
/// `min_healthy` is reached, and `start_timeout` counts from now, because
/// a canary that was down-time away from its deadline would otherwise fail
/// at the first tick without one check of this daemon's.
impl Transition<'_> {
    pub(super) fn resumed(&mut self, canary: &[String]) {
        match self.st.phase {
            Phase::Deploying if canary.is_empty() => self.start_again(),
            Phase::Deploying => {
                // The start had recorded its replicas: they are the canary.
                self.canary_started(canary.to_vec());
                self.recheck("deploying");
            }
            Phase::Warming => self.recheck("warming"),
            _ => {}
        }
    }

    /// The canary's start had not finished. What it left behind is removed
    /// by the reconcile (orphans: never recorded as this release's) before
    /// the worker runs this start, so starting again is safe and ends where
    /// an uninterrupted start would: adopting a partial start instead could
    /// leave fewer replicas than the plan asks, with no pinned image.
    fn start_again(&mut self) {
        let Some(canary) = self.st.canary.clone() else {
            return;
        };
        let timeout = self.plan.health.start_timeout;
        self.st.canary_replicas.clear();
        self.st.warmup_pending = false;
        self.st.start_deadline = Some(self.now + chrono_dur(timeout.get()));
        self.emit(EventKind::Warning {
            message: format!(
                "restarted while deploying release {}: its start had not finished, so the canary is started again (start_timeout {timeout} counts from now)",
                self.st.release
            ),
        });
        self.fx.push(Effect::StartCanary {
            spec: spec_for(self.plan, &canary, Role::Canary, self.st.release),
        });
        self.persist();
    }

    /// Adopted canary replicas: health checked again, warm-up again.
    fn recheck(&mut self, was: &str) {
        let timeout = self.plan.health.start_timeout;
        for m in &mut self.st.canary_replicas {
            m.healthy = false;
        }
        self.st.warmup_pending = false;
        self.st.start_deadline = Some(self.now + chrono_dur(timeout.get()));
        let warmup = match &self.plan.warmup {
            Some(w) if w.requests > 0 => " and warmed up again",
            _ => "",
        };
        self.emit(EventKind::Warning {
            message: format!(
                "restarted while {was}: the {} adopted canary replica(s) are health-checked again{warmup} before any traffic (start_timeout {timeout} counts from now)",
                self.st.alive_canaries()
            ),
        });
        self.persist();
    }
}
