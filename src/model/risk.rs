//! How much asking an action deserves. One pure rule, shared by the
//! cockpit and the command line, so `p` in the TUI and `cutover promote`
//! ask the same question for the same state: an ordinary action is
//! confirmed with y/N (or Enter); a risky one makes the operator type the
//! service name, and says why.
//!
//! Risky means: the action moves traffic *towards* the canary in a big
//! way (a promote, draining stable — which is a promote —, or a weight
//! jump of more than [`RISKY_JUMP_PERMILLE`] upwards) while the evidence
//! says the canary is bad (a guard verdict is red) or cannot yet say it is
//! good (a guard has not judged: too few requests). Moving traffic back to
//! stable is never made harder: that is what an operator does when a guard
//! is red.

use super::{Action, GuardStatus, GuardVerdict, Role, StateView};

/// Weight jumps up by more than this (per mille: 25 percentage points)
/// are risky while the evidence is bad or thin. A quarter of the traffic
/// is the largest share a plan's usual steps (5, 10, 25, 50 %) move at
/// once; a bigger jump while a guard is red or unjudged is more than a
/// nudge, it is most of a promotion.
pub const RISKY_JUMP_PERMILLE: u16 = 250;

/// Why an action needs the service name typed before it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Risk {
    /// What the operator must type: the service name.
    pub expect: String,
    /// One sentence each: "guard max_error_ratio is red (×8.30 > ×1.25)",
    /// "evidence insufficient: 40 of 200 canary requests".
    pub reasons: Vec<String>,
}

impl Risk {
    /// The reasons as one line, for prompts.
    pub fn why(&self) -> String {
        self.reasons.join("; ")
    }
}

/// Whether `action`, asked for in state `s`, needs a typed confirmation,
/// and why. `None`: an ordinary confirmation (or none) is enough.
pub fn typed_confirmation(s: &StateView, action: &Action) -> Option<Risk> {
    let towards_canary = match action {
        Action::Promote { .. }
        | Action::Drain {
            role: Role::Stable, ..
        } => true,
        Action::SetWeight { permille } => {
            permille.saturating_sub(s.weight_permille) > RISKY_JUMP_PERMILLE
        }
        _ => false,
    };
    if !towards_canary {
        return None;
    }
    let reasons = evidence_against(s);
    (!reasons.is_empty()).then(|| Risk {
        expect: s.service.clone(),
        reasons,
    })
}

/// What speaks against the canary now: each red guard, then whether the
/// evidence is too thin to judge it (one line for all unjudged guards).
/// A canary no guard has judged yet (none has run since it took traffic)
/// is thin evidence too. A plan with every guard switched off has no
/// verdicts, and a muted guard's verdict is the operator's own call:
/// neither counts here.
pub fn evidence_against(s: &StateView) -> Vec<String> {
    let mut out: Vec<String> = s
        .guards
        .iter()
        .filter(|g| g.status == GuardStatus::Breach)
        .map(red)
        .collect();
    let unjudged: Vec<&GuardVerdict> = s
        .guards
        .iter()
        .filter(|g| g.status == GuardStatus::NotJudged)
        .collect();
    if !unjudged.is_empty() {
        out.push(insufficient(s, &unjudged));
    } else if s.canary.is_some() && s.guards.is_empty() && !s.guards_muted && guards_on(s) {
        // Guards are on, and none has said anything of this canary yet.
        out.push("evidence insufficient: no guard has judged the canary yet".into());
    }
    out
}

/// Whether the thresholds in force switch any guard on (unknown, from an
/// older daemon: not assumed).
fn guards_on(s: &StateView) -> bool {
    s.thresholds.as_ref().is_some_and(|g| {
        g.max_error_ratio.is_some()
            || g.max_error_rate.is_some()
            || g.max_p99.is_some()
            || g.max_p99_ratio.is_some()
            || g.trip_after.is_some()
            || g.max_failed_requests.is_some()
    })
}

fn red(g: &GuardVerdict) -> String {
    match g.value {
        Some(v) => format!(
            "guard {} is red ({} > {})",
            g.name.key(),
            g.name.value_text(v),
            g.name.value_text(g.threshold)
        ),
        None => format!("guard {} is red", g.name.key()),
    }
}

/// "evidence insufficient: 40 of 200 canary requests" from the thinnest
/// unjudged guard's evidence and the `min_requests` in force; without
/// those figures (an older daemon), the guard's own words.
fn insufficient(s: &StateView, unjudged: &[&GuardVerdict]) -> String {
    let min = s.thresholds.as_ref().map(|t| t.min_requests);
    // The thinnest evidence of each version, over the unjudged guards.
    let evidence = || unjudged.iter().filter_map(|g| g.evidence.as_ref());
    let seen = evidence().map(|e| e.canary.requests).min().map(|canary| {
        let stable = evidence().filter_map(|e| e.stable).map(|p| p.requests);
        (canary, stable.min().unwrap_or(u64::MAX))
    });
    match (min, seen) {
        (Some(min), Some((canary, stable))) => {
            let mut parts = Vec::new();
            if canary < min {
                parts.push(format!("{canary} of {min} canary requests"));
            }
            if stable < min {
                parts.push(format!("{stable} of {min} stable requests"));
            }
            if parts.is_empty() {
                parts.push(format!("fewer than {min} requests"));
            }
            format!("evidence insufficient: {}", parts.join(", "))
        }
        _ => format!(
            "evidence insufficient: {} not judged ({})",
            unjudged[0].name.key(),
            unjudged[0].detail
        ),
    }
}

#[cfg(test)]
#[path = "risk_tests.rs"]
mod tests;
