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
