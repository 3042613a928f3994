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
                "cannot set guards: the change names no threshold (max_errors, max_error_rate, window, min_requests, max_p99, max_p99_ratio, on_breach)".into(),
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
        if matches!(phase, Phase::Canary | Phase::Paused) {
            // Re-armed with the new max_errors; the trip counts from now.
            let limit = trip_limit(self.plan, self.st);
            self.fx.push(Effect::ArmErrorTrip { limit });
        }
        self.persist();
        Ok(())
    }
}

/// `"max_errors 20 → 40, max_p99 300ms → off"`: the thresholds that differ.
pub(super) fn changes(before: &GuardPlan, after: &GuardPlan) -> String {
    fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
        v.as_ref().map_or_else(|| "off".to_string(), T::to_string)
    }
    let rows = [
        (
            "max_errors",
            opt(&before.max_errors),
            opt(&after.max_errors),
        ),
        (
            "max_error_rate",
            opt(&before.max_error_rate),
            opt(&after.max_error_rate),
        ),
        (
            "window",
            before.window.to_string(),
            after.window.to_string(),
        ),
        (
            "min_requests",
            before.min_requests.to_string(),
            after.min_requests.to_string(),
        ),
        ("max_p99", opt(&before.max_p99), opt(&after.max_p99)),
        (
            "max_p99_ratio",
            opt(&before.max_p99_ratio),
            opt(&after.max_p99_ratio),
        ),
        (
            "on_breach",
            before.on_breach.as_str().to_string(),
            after.on_breach.as_str().to_string(),
        ),
    ];
    let changed: Vec<String> = rows
        .into_iter()
        .filter(|(_, b, a)| b != a)
        .map(|(k, b, a)| format!("{k} {b} → {a}"))
        .collect();
    if changed.is_empty() {
        "unchanged".to_string()
    } else {
        changed.join(", ")
    }
}
