//! Editing guard thresholds from the cockpit, as pure functions: which
//! thresholds there are ([`GuardKey`]), how each reads and is typed in
//! humane units ("300ms", "5 %" or "0.05", counts, "off"), the check of a
//! typed value by the plan's own `[guard]` rules (so a mistake is said
//! inline, before anything is sent), and the prompt that says exactly what
//! the change does. The daemon checks again: the TUI decides nothing.

use super::prompts::Confirm;
pub use crate::guard::settings::GuardKey;
use crate::model::{Action, ActionRequest, Actor, Guard, GuardPatch, Phase, StateView};
use crate::plan::{GuardPlan, HumanDuration, OnBreach};

impl GuardKey {
    /// What may be typed, shown under the input.
    pub fn hint(self) -> &'static str {
        match self {
            GuardKey::Guard(Guard::MaxErrorRatio) => {
                "canary error rate up to this × stable's is tolerated: 1.25, or off"
            }
            GuardKey::Guard(Guard::MaxErrorRate) => {
                "an absolute ceiling on the canary's error rate: 5 % or 0.05, or off"
            }
            GuardKey::Guard(Guard::MaxP99Ratio) => {
                "canary p99 up to this × stable's is tolerated: 1.5 or more, or off"
            }
            GuardKey::Guard(Guard::MaxP99) => {
                "an absolute ceiling on the canary's p99: 300ms, or off"
            }
            GuardKey::Guard(Guard::TripAfter) => {
                "canary failures in a row (stable answering) that zero the weight: 10, or off"
            }
            GuardKey::Guard(Guard::MaxFailedRequests | Guard::MaxErrors) => {
                "client requests that may get a canary failure in this release: 500, or off"
            }
            GuardKey::Confidence => "how sure a guard must be to breach: 99.5 % or 0.995",
            GuardKey::Window => "what the shown rates and p99s cover: 1s to 5m",
            GuardKey::MinRequests => "requests each version serves before a guard may pass",
            GuardKey::EvidenceTimeout => {
                "how long a baked step waits for evidence before pausing: 2m"
            }
            GuardKey::OnBreach => "rollback or pause",
        }
    }

    /// Read what was typed into a change of this key alone.
    pub fn parse(self, typed: &str) -> Result<GuardPatch, String> {
        let t = typed.trim();
        let off = matches!(t.to_ascii_lowercase().as_str(), "off" | "none" | "-");
        let mut p = GuardPatch::default();
        match self {
            GuardKey::Guard(Guard::MaxErrorRatio) => {
                p.max_error_ratio = Some(optional(off, || ratio(t))?)
            }
            GuardKey::Guard(Guard::MaxErrorRate) => {
                p.max_error_rate = Some(optional(off, || rate(t))?)
            }
            GuardKey::Guard(Guard::MaxP99) => p.max_p99 = Some(optional(off, || duration(t))?),
            GuardKey::Guard(Guard::MaxP99Ratio) => {
                p.max_p99_ratio = Some(optional(off, || ratio(t))?)
            }
            GuardKey::Guard(Guard::TripAfter) => p.trip_after = Some(optional(off, || count(t))?),
            GuardKey::Guard(Guard::MaxFailedRequests | Guard::MaxErrors) => {
                p.max_failed_requests = Some(optional(off, || count(t))?)
            }
            GuardKey::Confidence if off => {
                return Err("the confidence cannot be off: type 99.5 % or 0.995".into());
            }
            GuardKey::Confidence => p.confidence = Some(rate(t)?),
            GuardKey::Window if off => return Err("the window cannot be off: 1s to 5m".into()),
            GuardKey::Window => p.window = Some(duration(t)?),
            GuardKey::MinRequests if off => {
                return Err(
                    "min requests cannot be off: with no traffic a guard must not judge".into(),
                );
            }
            GuardKey::MinRequests => p.min_requests = Some(count(t)?),
            GuardKey::EvidenceTimeout if off => {
                return Err(
                    "the evidence wait cannot be off: a step never promotes on no data".into(),
                );
            }
            GuardKey::EvidenceTimeout => p.evidence_timeout = Some(duration(t)?),
            GuardKey::OnBreach => {
                p.on_breach = Some(match t.to_ascii_lowercase().as_str() {
                    "rollback" => OnBreach::Rollback,
                    "pause" => OnBreach::Pause,
                    _ => return Err(format!("`{t}`: type rollback or pause")),
                })
            }
        }
        Ok(p)
    }
}

fn optional<T>(off: bool, f: impl FnOnce() -> Result<T, String>) -> Result<Option<T>, String> {
    if off { Ok(None) } else { f().map(Some) }
}

fn count(t: &str) -> Result<u64, String> {
    t.parse()
        .map_err(|_| format!("`{t}` is not a count: type a whole number like 20"))
}

/// `5 %`, `5%` (percent) or `0.05` (a fraction); a bare number above 1 is
/// refused rather than guessed.
fn rate(t: &str) -> Result<f64, String> {
    let (num, percent) = match t.strip_suffix('%') {
        Some(n) => (n.trim(), true),
        None => (t, false),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("`{t}` is not a rate: type 5 % or 0.05"))?;
    if !v.is_finite() {
        return Err(format!("`{t}` is not a rate: type 5 % or 0.05"));
    }
    if !percent && v > 1.0 {
        return Err(format!(
            "`{t}` reads as a fraction above 1: type {t} % or {}",
            v / 100.0
        ));
    }
    Ok(if percent { v / 100.0 } else { v })
}

fn ratio(t: &str) -> Result<f64, String> {
    let n = t
        .trim_start_matches(['×', 'x'])
        .trim_end_matches(['×', 'x'])
        .trim();
    n.parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| format!("`{t}` is not a ratio: type 1.5 (the canary up to 1.5 × stable)"))
}

fn duration(t: &str) -> Result<HumanDuration, String> {
    t.parse::<HumanDuration>()
        .map_err(|e| e.replacen("duration ", "", 1))
}

/// A typed value, checked: the change and the thresholds it leads to, or
/// what is wrong with it in one sentence (the plan's own rules say it).
pub fn check(
    key: GuardKey,
    typed: &str,
    current: &GuardPlan,
) -> Result<(GuardPatch, GuardPlan), String> {
    if typed.trim().is_empty() {
        return Err(format!("type the new {} (esc goes back)", key.label()));
    }
    let patch = key.parse(typed)?;
    let after = patch.apply(current);
    if let Err((_, message)) = crate::plan::check_guard(&after) {
        return Err(message);
    }
    if after == *current {
        return Err(format!("{} is {} already", key.name(), key.value(current)));
    }
    Ok((patch, after))
}

/// Whether the daemon takes guard edits in `phase` (a release under way).
pub fn editable(phase: Phase) -> bool {
    matches!(
        phase,
        Phase::Deploying | Phase::Warming | Phase::Canary | Phase::Paused
    )
}

/// The prompt for one checked change: before → after, when it takes effect
/// (the evidence starts over under the new thresholds) and what becomes of
/// the proxy's trips, which the daemon re-arms with every edit.
pub fn confirm(
    s: &StateView,
    key: GuardKey,
    patch: GuardPatch,
    before: &GuardPlan,
    after: &GuardPlan,
) -> Confirm {
    let judged = if s.phase.takes_traffic() {
        "from the next evaluation"
    } else {
        "from the first evaluation once the canary takes traffic"
    };
    let trip = match (s.guards_muted, after.on_breach, after.trip_after) {
        (true, _, _) => "no request-path trip while the guards are muted".to_string(),
        (false, OnBreach::Pause, _) => "no request-path trip (on_breach pause)".to_string(),
        (false, OnBreach::Rollback, None) => {
            "no failures-in-a-row trip (trip_after off)".to_string()
        }
        (false, OnBreach::Rollback, Some(n)) if judged.starts_with("from the next") => {
            format!("evidence starts over; trip re-armed at {n} in a row")
        }
        (false, OnBreach::Rollback, Some(n)) => format!("trip armed at {n} in a row"),
    };
    Confirm {
        title: "Change a guard?".into(),
        summary: format!(
            "{} {} → {}, {judged}; {trip}",
            key.name(),
            key.value(before),
            key.value(after)
        ),
        warning: Some(format!(
            "for release {} only (the next deploy starts from the plan's [guard]); journaled",
            s.release
        )),
        action: ActionRequest {
            action: Action::SetGuards { guards: patch },
            by: Actor::Tui,
            reason: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_values_read_in_humane_units() {
        let g = GuardPlan::default();
        let after = |k: GuardKey, t: &str| check(k, t, &g).map(|(_, a)| k.value(&a));
        let rate = GuardKey::Guard(Guard::MaxErrorRate);
        assert_eq!(after(rate, "2 %"), Ok("2.00 %".into()));
        assert_eq!(after(rate, "2%"), Ok("2.00 %".into()));
        assert_eq!(after(rate, "0.02"), Ok("2.00 %".into()));
        assert_eq!(
            after(GuardKey::Guard(Guard::MaxErrorRatio), "off"),
            Ok("off".into())
        );
        assert_eq!(
            after(GuardKey::Guard(Guard::MaxP99), "300ms"),
            Ok("300ms".into())
        );
        assert_eq!(
            after(GuardKey::Guard(Guard::MaxP99), "1.5 s"),
            Ok("1500ms".into())
        );
        assert_eq!(
            after(GuardKey::Guard(Guard::MaxP99Ratio), "×2"),
            Ok("×2.00".into())
        );
        assert_eq!(
            after(GuardKey::Guard(Guard::TripAfter), "40"),
            Ok("40".into())
        );
        assert_eq!(
            after(GuardKey::Guard(Guard::MaxFailedRequests), "500"),
            Ok("500".into())
        );
        assert_eq!(after(GuardKey::Confidence, "99 %"), Ok("99 %".into()));
        assert_eq!(after(GuardKey::EvidenceTimeout, "5m"), Ok("5m".into()));
        assert_eq!(after(GuardKey::Window, "30s"), Ok("30s".into()));
        assert_eq!(after(GuardKey::MinRequests, "100"), Ok("100".into()));
        assert_eq!(after(GuardKey::OnBreach, "pause"), Ok("pause".into()));
    }

    #[test]
    fn mistakes_are_said_not_sent() {
        let g = GuardPlan::default();
        let err = |k: GuardKey, t: &str| check(k, t, &g).unwrap_err();
        let rate = GuardKey::Guard(Guard::MaxErrorRate);
        let trip = GuardKey::Guard(Guard::TripAfter);
        assert!(err(rate, "5").contains("type 5 % or 0.05"));
        assert!(err(rate, "150 %").contains("from 0 up to (not including) 1"));
        assert!(err(trip, "0").contains("2–10000"));
        assert!(err(trip, "many").contains("not a count"));
        assert!(err(GuardKey::Guard(Guard::MaxP99), "300").contains("no unit"));
        assert!(err(GuardKey::Guard(Guard::MaxP99Ratio), "0.5").contains("from 1.0 to 1000"));
        assert!(err(GuardKey::Window, "10m").contains("from 1s to 5m"));
        assert!(err(GuardKey::Window, "off").contains("cannot be off"));
        assert!(err(GuardKey::Confidence, "40 %").contains("0.5"));
        assert!(err(trip, "10").contains("trip_after is 10 already"));
    }

    #[test]
    fn the_prompt_says_before_after_and_the_trip() {
        let s = crate::tui::app::tests::state(Phase::Canary, 250);
        let before = GuardPlan::default();
        let rate = GuardKey::Guard(Guard::MaxErrorRate);
        let (patch, after) = check(rate, "2 %", &before).unwrap();
        let c = confirm(&s, rate, patch.clone(), &before, &after);
        assert_eq!(
            c.summary,
            "max_error_rate off → 2.00 %, from the next evaluation; evidence starts over; trip re-armed at 10 in a row"
        );
        assert_eq!(c.action.action, Action::SetGuards { guards: patch });
        let (patch, after) = check(GuardKey::OnBreach, "pause", &before).unwrap();
        let c = confirm(&s, GuardKey::OnBreach, patch, &before, &after);
        assert!(
            c.summary
                .ends_with("no request-path trip (on_breach pause)"),
            "{}",
            c.summary
        );
    }
}
