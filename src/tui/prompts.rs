//! What a confirmation prompt says. Each function takes the state the
//! operator is looking at and returns the exact action plus one sentence of
//! what will happen ("canary 25 % → 0 %, drain shop:1.5.0 (1 replica),
//! remove it"). The popup then owns that action (gitui's `Confirm`), so what
//! is confirmed is exactly what runs.

use crate::model::{Action, ActionRequest, Actor, Role, StateView, VersionView};

/// A prompt waiting for yes or no.
#[derive(Clone, Debug, PartialEq)]
pub struct Confirm {
    /// Popup title: "Promote?", "Roll back?".
    pub title: String,
    pub action: ActionRequest,
    /// What will happen, one sentence.
    pub summary: String,
    /// Shown under the summary when the action is out of the ordinary.
    pub warning: Option<String>,
}

pub use crate::model::permille_text as pct;

fn request(action: Action, reason: Option<String>) -> ActionRequest {
    ActionRequest {
        action,
        by: Actor::Tui,
        reason,
    }
}

/// `shop:1.5.0 (1 replica)`: the version as the operator knows it.
pub fn describe(v: &VersionView) -> String {
    let alive = v.replicas.iter().filter(|r| r.status.is_alive()).count();
    let name = version_name(v);
    format!(
        "{name} ({alive} replica{})",
        if alive == 1 { "" } else { "s" }
    )
}

fn canary_label(s: &StateView) -> String {
    s.canary
        .as_ref()
        .map(describe)
        .unwrap_or_else(|| "the canary".into())
}

pub fn promote(s: &StateView, forced_reason: Option<String>) -> Confirm {
    let canary_version = s
        .canary
        .as_ref()
        .map(|c| c.version.clone())
        .unwrap_or_else(|| "the canary".into());
    let summary = format!(
        "canary {} → 100 %, drain stable {}, remove it; {canary_version} becomes stable",
        pct(s.weight_permille),
        describe(&s.stable),
    );
    let forced = forced_reason.is_some();
    Confirm {
        title: if forced {
            "Force promote inside a freeze?".into()
        } else {
            "Promote?".into()
        },
        warning: forced.then(|| {
            format!(
                "freeze window in force ({}); journaled with your reason",
                s.freeze.as_deref().unwrap_or("freeze")
            )
        }),
        action: request(Action::Promote { force: forced }, forced_reason),
        summary,
    }
}

pub fn rollback(s: &StateView) -> Confirm {
    Confirm {
        title: "Roll back?".into(),
        summary: format!(
            "canary {} → 0 %, drain {}, remove it",
            pct(s.weight_permille),
            canary_label(s)
        ),
        warning: None,
        action: request(Action::Rollback, None),
    }
}

/// Draining canary is a rollback; draining stable is a promotion, forced
/// with `forced_reason` inside a freeze window (as a promote is).
pub fn drain(s: &StateView, role: Role, forced_reason: Option<String>) -> Confirm {
    let mut c = match role {
        Role::Canary => rollback(s),
        Role::Stable => promote(s, forced_reason),
    };
    let force = role == Role::Stable && c.action.reason.is_some();
    c.title = if force {
        "Force drain of stable inside a freeze?".into()
    } else {
        format!("Drain {role}?")
    };
    c.action = request(Action::Drain { role, force }, c.action.reason.take());
    c
}

pub fn mute(s: &StateView) -> Confirm {
    let muted = !s.guards_muted;
    Confirm {
        title: if muted {
            "Mute guards?".into()
        } else {
            "Unmute guards?".into()
        },
        summary: if muted {
            "mute all guards: a breach will no longer roll the canary back".into()
        } else {
            "unmute all guards: a breach rolls the canary back again".into()
        },
        warning: muted.then(|| "journaled; nothing protects the canary while muted".into()),
        action: request(Action::MuteGuards { muted }, None),
    }
}

pub fn weight_jump(s: &StateView, to: u16, limit: u16) -> Confirm {
    Confirm {
        title: "Big weight jump?".into(),
        summary: format!(
            "canary {} → {} in one jump ({} of live traffic moves)",
            pct(s.weight_permille),
            pct(to),
            pct(to.abs_diff(s.weight_permille)),
        ),
        warning: Some(format!(
            "jumps over {} ask first (confirm_weight_jump)",
            pct(limit)
        )),
        action: set_weight(to),
    }
}

pub fn set_weight(permille: u16) -> ActionRequest {
    request(Action::SetWeight { permille }, None)
}

pub fn pause_resume(s: &StateView) -> ActionRequest {
    if s.phase == crate::model::Phase::Paused {
        request(Action::Resume, None)
    } else {
        request(Action::Pause, None)
    }
}

pub fn ack_breach() -> ActionRequest {
    request(Action::AckBreach, None)
}

/// What a new canary's deploy will do, from what the daemon said a deploy
/// starts (`facts`; `None` when it could not say): "start canary
/// shop:1.6.0 (2 replicas); it gets traffic only when healthy, then step
/// 1: 5 %".
pub fn deploy(image: &str, facts: Option<&crate::model::ImageCandidates>) -> Confirm {
    let replicas = match facts.and_then(|f| f.replicas) {
        Some(n) => format!(" ({n} replica{})", if n == 1 { "" } else { "s" }),
        None => String::new(),
    };
    let then = match facts {
        Some(f) => match f.first_step_permille {
            Some(p) => format!(", then step 1: {}", pct(p)),
            None => ", then it stays at 0 % until you move the weight".into(),
        },
        None => String::new(),
    };
    Confirm {
        title: "Deploy a new canary?".into(),
        summary: format!("start canary {image}{replicas}; it gets traffic only when healthy{then}"),
        warning: None,
        action: request(
            Action::Deploy {
                image: image.to_string(),
            },
            None,
        ),
    }
}

/// "stable shop:1.4.2: 2 → 3 replicas".
pub fn scale(s: &StateView, role: Role, replicas: u32) -> Confirm {
    let (name, now) = match s.version(role) {
        Some(v) => (version_name(v), v.replicas.len()),
        None => (String::new(), 0),
    };
    let fewer = (replicas as usize) < now;
    Confirm {
        title: format!("Scale {role}?"),
        summary: format!(
            "{role} {name}: {now} → {replicas} replica{}",
            if replicas == 1 { "" } else { "s" }
        ),
        warning: fewer.then(|| {
            "the newest replicas leave the pool first, finish their requests, then stop".into()
        }),
        action: request(Action::Scale { role, replicas }, None),
    }
}

/// "canary shop:1.5.0: cpus 0.5 → 1, memory 256 MiB → 512 MiB".
pub fn resize(s: &StateView, role: Role, cpus: Option<f64>, memory: Option<u64>) -> Confirm {
    let v = s.version(role);
    let mut changes = Vec::new();
    if let Some(c) = cpus {
        let was = v.and_then(|v| v.cpus).map_or("unlimited".into(), cpus_text);
        changes.push(format!("cpus {was} → {}", cpus_text(c)));
    }
    if let Some(m) = memory {
        let was = v
            .and_then(|v| v.memory)
            .map_or("unlimited".into(), crate::tui::components::fmt::bytes);
        changes.push(format!(
            "memory {was} → {}",
            crate::tui::components::fmt::bytes(m)
        ));
    }
    Confirm {
        title: format!("Resize {role}?"),
        summary: format!(
            "{role} {}: {}",
            v.map(version_name).unwrap_or_default(),
            changes.join(", ")
        ),
        warning: Some("every replica of it, in place, without a restart".into()),
        action: request(Action::Resize { role, cpus, memory }, None),
    }
}

/// `0.5`, `1`, `1.25`: a CPU count without trailing zeros.
fn cpus_text(c: f64) -> String {
    let s = format!("{c:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The image when it names the version (`shop:1.4.2`), else the version.
pub fn version_name(v: &VersionView) -> String {
    if v.image.contains(&v.version) && v.image.chars().count() <= 40 {
        v.image.clone()
    } else {
        v.version.clone()
    }
}

/// Undo, sent at once (`u` is its own confirmation) and journaled as one.
pub fn undo(what: crate::tui::app::Undoable) -> ActionRequest {
    let action = match what {
        crate::tui::app::Undoable::Weight { from, .. } => Action::SetWeight { permille: from },
        crate::tui::app::Undoable::Promote => Action::UndoPromote,
    };
    request(action, Some(UNDO_REASON.into()))
}

/// The reason an undo is journaled with.
pub const UNDO_REASON: &str = "undo";
