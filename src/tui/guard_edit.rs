//! Editing guard thresholds from the cockpit, as pure functions: which
//! thresholds there are ([`GuardKey`]), how each reads and is typed in
//! humane units ("300ms", "5 %" or "0.05", counts, "off"), the check of a
//! typed value by the plan's own `[guard]` rules (so a mistake is said
//! inline, before anything is sent), and the prompt that says exactly what
//! the change does. The daemon checks again: the TUI decides nothing.

use super::prompts::Confirm;
use crate::model::{Action, ActionRequest, Actor, GuardPatch, Phase, StateView};
use crate::plan::{GuardPlan, HumanDuration, OnBreach};

/// One editable setting of `[guard]`, in the panel's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuardKey {
    MaxErrors,
    MaxErrorRate,
    MaxP99,
    MaxP99Ratio,
    Window,
    MinRequests,
    OnBreach,
}

impl GuardKey {
    pub const ALL: [GuardKey; 7] = [
        GuardKey::MaxErrors,
        GuardKey::MaxErrorRate,
        GuardKey::MaxP99,
        GuardKey::MaxP99Ratio,
        GuardKey::Window,
        GuardKey::MinRequests,
        GuardKey::OnBreach,
    ];

    /// The plan's key (and the verdict's `name` for the four guards).
    pub fn name(self) -> &'static str {
        match self {
            GuardKey::MaxErrors => "max_errors",
            GuardKey::MaxErrorRate => "max_error_rate",
            GuardKey::MaxP99 => "max_p99",
            GuardKey::MaxP99Ratio => "max_p99_ratio",
            GuardKey::Window => "window",
            GuardKey::MinRequests => "min_requests",
            GuardKey::OnBreach => "on_breach",
        }
    }

    /// The name for people (the guard panel's words).
    pub fn label(self) -> &'static str {
        match self {
            GuardKey::MaxErrors => "errors",
            GuardKey::MaxErrorRate => "error rate",
            GuardKey::MaxP99 => "p99",
            GuardKey::MaxP99Ratio => "p99 ratio",
            GuardKey::Window => "window",
            GuardKey::MinRequests => "min requests",
            GuardKey::OnBreach => "on breach",
        }
    }

    /// What may be typed, shown under the input.
    pub fn hint(self) -> &'static str {
        match self {
            GuardKey::MaxErrors => "canary errors since step start, unmute or edit: 20, or off",
            GuardKey::MaxErrorRate => "over the window: 5 % or 0.05, or off",
            GuardKey::MaxP99 => "canary p99: 300ms, 1.5s, or off",
            GuardKey::MaxP99Ratio => "canary p99 ÷ stable p99: 1.5 or more, or off",
            GuardKey::Window => "what rates and p99 are measured over: 1s to 5m",
            GuardKey::MinRequests => "canary requests in the window before a rate is judged",
            GuardKey::OnBreach => "rollback or pause",
        }
    }

    /// The value in force, as the operator would type it.
    pub fn value(self, g: &GuardPlan) -> String {
        fn off<T>(v: Option<T>, f: impl Fn(T) -> String) -> String {
            v.map_or_else(|| "off".to_string(), f)
        }
        match self {
            GuardKey::MaxErrors => off(g.max_errors, |n| n.to_string()),
            GuardKey::MaxErrorRate => off(g.max_error_rate, |r| format!("{:.2} %", r * 100.0)),
            GuardKey::MaxP99 => off(g.max_p99, |d| d.to_string()),
            GuardKey::MaxP99Ratio => off(g.max_p99_ratio, |r| format!("×{r:.2}")),
            GuardKey::Window => g.window.to_string(),
            GuardKey::MinRequests => g.min_requests.to_string(),
            GuardKey::OnBreach => g.on_breach.as_str().to_string(),
        }
    }

    /// The first key a patch sets (the row a confirmation came from).
    pub fn of(patch: &GuardPatch) -> Option<GuardKey> {
        GuardKey::ALL.into_iter().find(|k| k.patch(patch).is_some())
    }

    fn patch(self, p: &GuardPatch) -> Option<()> {
        match self {
            GuardKey::MaxErrors => p.max_errors.map(|_| ()),
            GuardKey::MaxErrorRate => p.max_error_rate.map(|_| ()),
            GuardKey::MaxP99 => p.max_p99.map(|_| ()),
            GuardKey::MaxP99Ratio => p.max_p99_ratio.map(|_| ()),
            GuardKey::Window => p.window.map(|_| ()),
            GuardKey::MinRequests => p.min_requests.map(|_| ()),
            GuardKey::OnBreach => p.on_breach.map(|_| ()),
        }
    }

    /// Read what was typed into a change of this key alone.
    pub fn parse(self, typed: &str) -> Result<GuardPatch, String> {
        let t = typed.trim();
        let off = matches!(t.to_ascii_lowercase().as_str(), "off" | "none" | "-");
        let mut p = GuardPatch::default();
        match self {
            GuardKey::MaxErrors => p.max_errors = Some(optional(off, || count(t))?),
            GuardKey::MaxErrorRate => p.max_error_rate = Some(optional(off, || rate(t))?),
            GuardKey::MaxP99 => p.max_p99 = Some(optional(off, || duration(t))?),
            GuardKey::MaxP99Ratio => p.max_p99_ratio = Some(optional(off, || ratio(t))?),
            GuardKey::Window if off => return Err("the window cannot be off: 1s to 5m".into()),
            GuardKey::Window => p.window = Some(duration(t)?),
            GuardKey::MinRequests if off => {
                return Err(
                    "min requests cannot be off: with no traffic a guard must not judge".into(),
                );
            }
            GuardKey::MinRequests => p.min_requests = Some(count(t)?),
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
        .ok_or_else(|| format!("`{t}` is not a ratio: type 1.5 (canary p99 up to 1.5 × stable's)"))
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
/// and what becomes of the error trip (the proxy's instant rollback on
/// `max_errors`), which the daemon re-arms with every edit.
pub fn confirm(
    s: &StateView,
    key: GuardKey,
    patch: GuardPatch,
    before: &GuardPlan,
    after: &GuardPlan,
) -> Confirm {
    let judged = if matches!(s.phase, Phase::Canary | Phase::Paused) {
        "from the next evaluation"
    } else {
        "from the first evaluation once the canary takes traffic"
    };
    let trip = match (s.guards_muted, after.on_breach, after.max_errors) {
        (true, _, _) => "no error trip while the guards are muted".to_string(),
        (false, OnBreach::Pause, _) => "no error trip (on_breach pause)".to_string(),
        (false, OnBreach::Rollback, None) => "no error trip (max_errors off)".to_string(),
        (false, OnBreach::Rollback, Some(n)) if judged.starts_with("from the next") => {
            format!("errors count from now; error trip re-armed at {n}")
        }
        (false, OnBreach::Rollback, Some(n)) => format!("error trip armed at {n}"),
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
        assert_eq!(after(GuardKey::MaxErrorRate, "2 %"), Ok("2.00 %".into()));
        assert_eq!(after(GuardKey::MaxErrorRate, "2%"), Ok("2.00 %".into()));
        assert_eq!(after(GuardKey::MaxErrorRate, "0.02"), Ok("2.00 %".into()));
        assert_eq!(after(GuardKey::MaxErrorRate, "off"), Ok("off".into()));
        assert_eq!(after(GuardKey::MaxP99, "300ms"), Ok("300ms".into()));
        assert_eq!(after(GuardKey::MaxP99, "1.5 s"), Ok("1500ms".into()));
        assert_eq!(after(GuardKey::MaxP99Ratio, "×2"), Ok("×2.00".into()));
        assert_eq!(after(GuardKey::MaxErrors, "40"), Ok("40".into()));
        assert_eq!(after(GuardKey::Window, "30s"), Ok("30s".into()));
        assert_eq!(after(GuardKey::MinRequests, "100"), Ok("100".into()));
        assert_eq!(after(GuardKey::OnBreach, "pause"), Ok("pause".into()));
    }

    #[test]
    fn mistakes_are_said_not_sent() {
        let g = GuardPlan::default();
        let err = |k: GuardKey, t: &str| check(k, t, &g).unwrap_err();
        assert!(err(GuardKey::MaxErrorRate, "5").contains("type 5 % or 0.05"));
        assert!(err(GuardKey::MaxErrorRate, "150 %").contains("from 0 to 1"));
        assert!(err(GuardKey::MaxErrors, "0").contains("at least 1"));
        assert!(err(GuardKey::MaxErrors, "many").contains("not a count"));
        assert!(err(GuardKey::MaxP99, "300").contains("no unit"));
        assert!(err(GuardKey::MaxP99Ratio, "0.5").contains("from 1.0 to 1000"));
        assert!(err(GuardKey::Window, "10m").contains("from 1s to 5m"));
        assert!(err(GuardKey::Window, "off").contains("cannot be off"));
        assert!(err(GuardKey::MaxErrors, "20").contains("max_errors is 20 already"));
    }

    #[test]
    fn the_prompt_says_before_after_and_the_trip() {
        let s = crate::tui::app::tests::state(Phase::Canary, 250);
        let before = GuardPlan::default();
        let (patch, after) = check(GuardKey::MaxErrorRate, "2 %", &before).unwrap();
        let c = confirm(&s, GuardKey::MaxErrorRate, patch.clone(), &before, &after);
        assert_eq!(
            c.summary,
            "max_error_rate 5.00 % → 2.00 %, from the next evaluation; errors count from now; error trip re-armed at 20"
        );
        assert_eq!(c.action.action, Action::SetGuards { guards: patch });
        let (patch, after) = check(GuardKey::OnBreach, "pause", &before).unwrap();
        let c = confirm(&s, GuardKey::OnBreach, patch, &before, &after);
        assert!(
            c.summary.ends_with("no error trip (on_breach pause)"),
            "{}",
            c.summary
        );
    }
}
