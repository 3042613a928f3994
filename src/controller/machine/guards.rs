//! `SetGuards`: guard thresholds changed on a running release, checked with
//! the plan's own `[guard]` rules, journaled with who, why, before and after.
//!
//! The edit lives in the release state (so it is persisted and survives a
//! restart) and lasts for this release only: the next deploy starts from the
//! plan's thresholds again, and says so.

use super::*;
use crate::model::GuardPatch;
use crate::plan::GuardPlan;

impl Transition<'_> {
    pub(super) fn set_guards(
        &mut self,
        req: &ActionRequest,
        patch: &GuardPatch,
    ) -> Result<(), Refusal> {
        let phase = self.st.phase;
        if !matches!(
            phase,
            Phase::Deploying | Phase::Warming | Phase::Canary | Phase::Paused
        ) {
            return Err(refuse(
                codes::ILLEGAL_IN_PHASE,
                format!("cannot set guards: {}", why_not(phase)),
            ));
        }
        if patch.is_empty() {
            return Err(refuse(
                codes::BAD_REQUEST,
                "cannot set guards: the change names no threshold (confidence, max_error_ratio, max_error_rate, max_p99_ratio, max_p99, trip_after, max_failed_requests, window, min_requests, evidence_timeout, on_breach)".into(),
            ));
        }
        if patch.max_errors.is_some() {
            return Err(refuse(
                codes::INVALID_VALUE,
                format!(
                    "cannot set guards: guard.max_errors: {}",
                    crate::plan::MAX_ERRORS_REPLACED
                ),
            ));
        }
        let before = self.st.guard(self.plan).clone();
        let after = patch.apply(&before);
        if let Err((key, message)) = crate::plan::check_guard(&after) {
            return Err(refuse(
                codes::INVALID_VALUE,
                format!("cannot set guards: {key}: {message}"),
            ));
        }
        let detail = if after == before {
            "guard thresholds unchanged".to_string()
        } else {
            format!(
                "guard thresholds of release {}: {}",
                self.st.release,
                changes(&before, &after)
            )
        };
        self.accept(req, detail);
        self.st.guard = (after != self.plan.guard).then_some(after);
        if phase.takes_traffic() {
            // Judged under the new thresholds from now on.
            self.restart_evidence(false);
            self.arm();
        }
        self.persist();
        Ok(())
    }
}

/// `"trip_after 10 → 40, max_p99 300ms → off"`: the thresholds that differ,
/// in the panel's order.
pub(super) fn changes(before: &GuardPlan, after: &GuardPlan) -> String {
    use crate::guard::settings::GuardKey;
    let changed: Vec<String> = GuardKey::ALL
        .into_iter()
        .map(|k| (k.name(), k.value(before), k.value(after)))
        .filter(|(_, b, a)| b != a)
        .map(|(k, b, a)| format!("{k} {b} → {a}"))
        .collect();
    if changed.is_empty() {
        "unchanged".to_string()
    } else {
        changed.join(", ")
    }
}
