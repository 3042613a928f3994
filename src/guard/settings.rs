//! The `[guard]` settings one by one, in the cockpit's order: each setting's
//! plan key, its name for people and its value as an operator would type
//! it. The guard panel lists them, an edit's journal line names the ones
//! that changed, and the cockpit's editor (`tui/guard_edit.rs`) adds how
//! each is typed.

use crate::model::{Guard, GuardPatch};
use crate::plan::GuardPlan;

/// One editable setting of `[guard]`, in the panel's order: the guards
/// first (each is a [`Guard`]), then how they judge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuardKey {
    Guard(Guard),
    Confidence,
    Window,
    MinRequests,
    EvidenceTimeout,
    OnBreach,
}

impl GuardKey {
    pub const ALL: [GuardKey; 11] = [
        GuardKey::Guard(Guard::MaxErrorRatio),
        GuardKey::Guard(Guard::MaxErrorRate),
        GuardKey::Guard(Guard::MaxP99Ratio),
        GuardKey::Guard(Guard::MaxP99),
        GuardKey::Guard(Guard::TripAfter),
        GuardKey::Guard(Guard::MaxFailedRequests),
        GuardKey::Confidence,
        GuardKey::Window,
        GuardKey::MinRequests,
        GuardKey::EvidenceTimeout,
        GuardKey::OnBreach,
    ];

    /// The plan's key.
    pub fn name(self) -> &'static str {
        match self {
            GuardKey::Guard(g) => g.key(),
            GuardKey::Confidence => "confidence",
            GuardKey::Window => "window",
            GuardKey::MinRequests => "min_requests",
            GuardKey::EvidenceTimeout => "evidence_timeout",
            GuardKey::OnBreach => "on_breach",
        }
    }

    /// The name for people (the guard panel's words).
    pub fn label(self) -> &'static str {
        match self {
            GuardKey::Guard(g) => g.label(),
            GuardKey::Confidence => "confidence",
            GuardKey::Window => "window",
            GuardKey::MinRequests => "min requests",
            GuardKey::EvidenceTimeout => "evidence wait",
            GuardKey::OnBreach => "on breach",
        }
    }

    /// The value in force, as the operator would type it.
    pub fn value(self, g: &GuardPlan) -> String {
        fn off<T>(v: Option<T>, f: impl Fn(T) -> String) -> String {
            v.map_or_else(|| "off".to_string(), f)
        }
        match self {
            GuardKey::Guard(Guard::MaxErrorRatio) => off(g.max_error_ratio, |r| format!("×{r:.2}")),
            GuardKey::Guard(Guard::MaxErrorRate) => {
                off(g.max_error_rate, |r| format!("{:.2} %", r * 100.0))
            }
            GuardKey::Guard(Guard::MaxP99) => off(g.max_p99, |d| d.to_string()),
            GuardKey::Guard(Guard::MaxP99Ratio) => off(g.max_p99_ratio, |r| format!("×{r:.2}")),
            GuardKey::Guard(Guard::TripAfter) => off(g.trip_after, |n| n.to_string()),
            GuardKey::Guard(Guard::MaxFailedRequests) => {
                off(g.max_failed_requests, |n| n.to_string())
            }
            GuardKey::Guard(Guard::MaxErrors) => off(g.max_errors, |n| n.to_string()),
            GuardKey::Confidence => crate::model::percent_text(g.confidence),
            GuardKey::Window => g.window.to_string(),
            GuardKey::MinRequests => g.min_requests.to_string(),
            GuardKey::EvidenceTimeout => g.evidence_timeout.to_string(),
            GuardKey::OnBreach => g.on_breach.as_str().to_string(),
        }
    }

    /// The first key a patch sets (the row a confirmation came from).
    pub fn of(patch: &GuardPatch) -> Option<GuardKey> {
        GuardKey::ALL.into_iter().find(|k| k.patch(patch).is_some())
    }

    /// The setting with this plan key (`max_errors` is not one any more).
    pub fn from_name(name: &str) -> Option<GuardKey> {
        GuardKey::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether `patch` sets this key.
    pub fn is_set(self, patch: &GuardPatch) -> bool {
        self.patch(patch).is_some()
    }

    /// Set this key in `to` to its value in `g`.
    pub fn set_from(self, g: &GuardPlan, to: &mut GuardPatch) {
        match self {
            GuardKey::Guard(Guard::MaxErrorRatio) => to.max_error_ratio = Some(g.max_error_ratio),
            GuardKey::Guard(Guard::MaxErrorRate) => to.max_error_rate = Some(g.max_error_rate),
            GuardKey::Guard(Guard::MaxP99) => to.max_p99 = Some(g.max_p99),
            GuardKey::Guard(Guard::MaxP99Ratio) => to.max_p99_ratio = Some(g.max_p99_ratio),
            GuardKey::Guard(Guard::TripAfter) => to.trip_after = Some(g.trip_after),
            GuardKey::Guard(Guard::MaxFailedRequests) => {
                to.max_failed_requests = Some(g.max_failed_requests)
            }
            GuardKey::Guard(Guard::MaxErrors) => to.max_errors = Some(g.max_errors),
            GuardKey::Confidence => to.confidence = Some(g.confidence),
            GuardKey::Window => to.window = Some(g.window),
            GuardKey::MinRequests => to.min_requests = Some(g.min_requests),
            GuardKey::EvidenceTimeout => to.evidence_timeout = Some(g.evidence_timeout),
            GuardKey::OnBreach => to.on_breach = Some(g.on_breach),
        }
    }

    /// Copy this key of `from` (set or not) into `to`.
    pub fn copy(self, from: &GuardPatch, to: &mut GuardPatch) {
        match self {
            GuardKey::Guard(Guard::MaxErrorRatio) => to.max_error_ratio = from.max_error_ratio,
            GuardKey::Guard(Guard::MaxErrorRate) => to.max_error_rate = from.max_error_rate,
            GuardKey::Guard(Guard::MaxP99) => to.max_p99 = from.max_p99,
            GuardKey::Guard(Guard::MaxP99Ratio) => to.max_p99_ratio = from.max_p99_ratio,
            GuardKey::Guard(Guard::TripAfter) => to.trip_after = from.trip_after,
            GuardKey::Guard(Guard::MaxFailedRequests) => {
                to.max_failed_requests = from.max_failed_requests
            }
            GuardKey::Guard(Guard::MaxErrors) => to.max_errors = from.max_errors,
            GuardKey::Confidence => to.confidence = from.confidence,
            GuardKey::Window => to.window = from.window,
            GuardKey::MinRequests => to.min_requests = from.min_requests,
            GuardKey::EvidenceTimeout => to.evidence_timeout = from.evidence_timeout,
            GuardKey::OnBreach => to.on_breach = from.on_breach,
        }
    }

    fn patch(self, p: &GuardPatch) -> Option<()> {
        match self {
            GuardKey::Guard(Guard::MaxErrorRatio) => p.max_error_ratio.map(|_| ()),
            GuardKey::Guard(Guard::MaxErrorRate) => p.max_error_rate.map(|_| ()),
            GuardKey::Guard(Guard::MaxP99) => p.max_p99.map(|_| ()),
            GuardKey::Guard(Guard::MaxP99Ratio) => p.max_p99_ratio.map(|_| ()),
            GuardKey::Guard(Guard::TripAfter) => p.trip_after.map(|_| ()),
            GuardKey::Guard(Guard::MaxFailedRequests) => p.max_failed_requests.map(|_| ()),
            GuardKey::Guard(Guard::MaxErrors) => p.max_errors.map(|_| ()),
            GuardKey::Confidence => p.confidence.map(|_| ()),
            GuardKey::Window => p.window.map(|_| ()),
            GuardKey::MinRequests => p.min_requests.map(|_| ()),
            GuardKey::EvidenceTimeout => p.evidence_timeout.map(|_| ()),
            GuardKey::OnBreach => p.on_breach.map(|_| ()),
        }
    }
}
