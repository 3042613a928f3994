//! How the decision core follows one entry through its service's state:
//! a release the service's own plan takes to promotion, a rollback asked
//! for by an abort, a return to the previous version. Pure, like
//! `decide.rs`, whose rules these are.

use super::decide::{
    Decision, RESTORE_ATTEMPTS, STEPLESS_SHARE, Seen, can_resize, can_scale, ended, evidence,
    scale, stable_replicas,
};
use super::model::{Entry, EntryPhase};
use crate::model::{Action, Outcome, Phase, Role, StateView};
use chrono::{DateTime, Utc};

fn moved(e: &mut Entry, to: EntryPhase, detail: String, d: &mut Decision) {
    e.phase = to;
    e.detail = detail;
    let text = format!("{}: {}, {}", e.service, to.as_str(), e.detail);
    d.notes.push(super::decide::Note {
        service: Some(e.service.clone()),
        text,
    });
}

fn ask(d: &mut Decision, e: &Entry, action: Action, why: String) {
    d.cmds
        .retain(|c| !(c.service == e.service && c.action.name() == action.name()));
    d.cmds.push(super::decide::Cmd {
        service: e.service.clone(),
        action,
        why,
    });
}

/// Why a release ended as it did, in words.
fn how(v: &StateView, o: Outcome) -> String {
    match &v.last_breach {
        Some(b) => format!(
            "release {} {}: guard {} ({})",
            v.release,
            o.words(),
            b.guard.key(),
            b.detail
        ),
        None => format!("release {} {}", v.release, o.words()),
    }
}

/// A release under way: deploy it if that did not happen yet, note a
/// breach, see how it ended; with no steps in the plan, give the canary
/// a share and promote it once every guard has judged it and none objects.
pub fn releasing(e: &mut Entry, s: &Seen, forced: bool, now: DateTime<Utc>, d: &mut Decision) {
    let v = &s.view;
    let Some(r) = e.release else { return };
    if v.release < r {
        if matches!(v.phase, Phase::Idle | Phase::Failed) {
            let why = format!("deploy canary {} (release {r})", e.image);
            ask(
                d,
                e,
                Action::Deploy {
                    image: e.image.clone(),
                },
                why,
            );
        }
        return;
    }
    if v.release > r {
        let detail = format!(
            "release {r} was replaced by release {} (someone else deployed)",
            v.release
        );
        return moved(e, EntryPhase::Failed, detail, d);
    }
    if let Some(b) = &v.last_breach
        && !e.breached
    {
        e.breached = true;
        e.detail = format!("guard {} breached: {}", b.guard.key(), b.detail);
        let text = format!("{}: {}", e.service, e.detail);
        d.notes.push(super::decide::Note {
            service: Some(e.service.clone()),
            text,
        });
    }
    match ended(v) {
        Some(Outcome::Promoted) => {
            return moved(e, EntryPhase::Promoted, how(v, Outcome::Promoted), d);
        }
        Some(o) => return moved(e, EntryPhase::Failed, how(v, o), d),
        None => {}
    }
    if v.phase != Phase::Canary {
        return;
    }
    // A forced train promotes what a freeze window holds after the last step.
    let force = forced && s.freeze.is_some();
    match &v.step {
        None => stepless(e, v, force, now, d),
        Some(st)
            if force
                && st.index + 1 == st.total
                && st.bake_remaining_ms.is_none()
                && evidence(v) =>
        {
            let why =
                "every step baked; the train was forced through the freeze window".to_string();
            ask(d, e, Action::Promote { force: true }, why);
        }
        Some(_) => {}
    }
}

fn stepless(e: &mut Entry, v: &StateView, force: bool, now: DateTime<Utc>, d: &mut Decision) {
    if v.weight_permille == 0 {
        let why = format!(
            "its plan has no steps: the train gives the canary {} % for the guards to judge",
            STEPLESS_SHARE / 10
        );
        ask(
            d,
            e,
            Action::SetWeight {
                permille: STEPLESS_SHARE,
            },
            why,
        );
    }
    let since = *e.canary_since.get_or_insert(now);
    if evidence(v) {
        let why = "no steps in its plan: canary healthy and every guard passed".to_string();
        ask(d, e, Action::Promote { force }, why);
        return;
    }
    let wait = v
        .thresholds
        .as_ref()
        .map_or(std::time::Duration::from_secs(120), |g| {
            g.evidence_timeout.get()
        });
    if (now - since).to_std().is_ok_and(|waited| waited >= wait) {
        let why = format!(
            "no steps in its plan and not enough guard evidence within {}s",
            wait.as_secs()
        );
        ask(d, e, Action::Rollback, why);
    }
}

/// An abort rolls this release back: abort a deploy, roll back a canary,
/// wait for a promotion (then return it, as it was in flight).
pub fn rolling_back(e: &mut Entry, s: &Seen, d: &mut Decision) {
    let v = &s.view;
    let Some(r) = e.release.filter(|r| v.release >= *r) else {
        return moved(
            e,
            EntryPhase::RolledBack,
            "its canary was never deployed".into(),
            d,
        );
    };
    if v.release > r {
        return moved(
            e,
            EntryPhase::RolledBack,
            format!("release {r} was already replaced"),
            d,
        );
    }
    match v.phase {
        Phase::Deploying | Phase::Warming => ask(
            d,
            e,
            Action::Abort,
            format!("train aborted: stop the deploy of {}", e.image),
        ),
        Phase::Canary | Phase::Paused => ask(
            d,
            e,
            Action::Rollback,
            format!("train aborted: roll back {}", e.image),
        ),
        Phase::RollingBack | Phase::Promoting => {}
        Phase::Idle | Phase::Failed => match ended(v) {
            Some(Outcome::Promoted) => {
                e.release = None;
                let detail = format!(
                    "release {r} was promoted before it could be rolled back; returning it"
                );
                moved(e, EntryPhase::Restoring, detail, d);
            }
            Some(o) if e.breached => moved(e, EntryPhase::Failed, how(v, o), d),
            o => {
                let o = o.unwrap_or(Outcome::RolledBack);
                moved(e, EntryPhase::RolledBack, how(v, o), d)
            }
        },
    }
}

/// Return a promoted service to its previous version: deploy it as a
/// canary, mute the guards (the version it replaces is the one under
/// suspicion) and promote it at once; then its replica count and limits.
pub fn restoring(e: &mut Entry, s: &Seen, d: &mut Decision) {
    let v = &s.view;
    let prev = e.previous.clone();
    if let Some(r) = e.release {
        if v.release < r {
            if matches!(v.phase, Phase::Idle | Phase::Failed) {
                let why = format!("train aborted: return to {} (release {r})", prev.version);
                ask(
                    d,
                    e,
                    Action::Deploy {
                        image: prev.deploy.clone(),
                    },
                    why,
                );
            }
            return;
        }
        if v.release == r {
            return restore_release(e, v, d);
        }
    }
    if !matches!(v.phase, Phase::Idle | Phase::Failed) {
        return; // the service's last release is still ending
    }
    if v.phase == Phase::Idle && v.stable.version == prev.version {
        return converge(e, v, d);
    }
    if e.restore_attempts >= RESTORE_ATTEMPTS {
        let detail = format!(
            "{} deploys of {} did not bring it back",
            e.restore_attempts, prev.version
        );
        return moved(e, EntryPhase::RestoreFailed, detail, d);
    }
    e.restore_attempts += 1;
    let r = v.release + 1;
    e.release = Some(r);
    e.detail = format!("returning to {} as release {r}", prev.version);
    let why = format!("train aborted: return to {} (release {r})", prev.version);
    ask(
        d,
        e,
        Action::Deploy {
            image: prev.deploy.clone(),
        },
        why,
    );
}

fn restore_release(e: &mut Entry, v: &StateView, d: &mut Decision) {
    match v.phase {
        Phase::Canary | Phase::Paused => {
            if !v.guards_muted {
                let why =
                    "train aborted: the previous version returns; its guards are muted".to_string();
                ask(d, e, Action::MuteGuards { muted: true }, why);
            }
            let why = format!("train aborted: promote {} back at once", e.previous.version);
            ask(d, e, Action::Promote { force: true }, why);
        }
        Phase::Idle if v.last_outcome == Some(Outcome::Promoted) => converge(e, v, d),
        Phase::Idle | Phase::Failed => {
            // It did not come back: the next pass deploys it again.
            e.release = None;
            e.detail = format!(
                "restore release {} ended {}",
                v.release,
                ended(v).map_or("failed", Outcome::words)
            );
        }
        Phase::Deploying | Phase::Warming | Phase::Promoting | Phase::RollingBack => {}
    }
}

/// Back on the previous version: its replica count, then its limits.
fn converge(e: &mut Entry, v: &StateView, d: &mut Decision) {
    let prev = &e.previous;
    let mut left = Vec::new();
    if stable_replicas(v) != prev.replicas {
        if can_scale(&v.runtime) {
            let why = format!("train aborted: back to {} replicas", prev.replicas);
            return ask(d, e, scale(prev.replicas), why);
        }
        left.push(format!("replicas not restorable on runtime {}", v.runtime));
    }
    let limits_differ = v.stable.cpus != prev.cpus || v.stable.memory != prev.memory;
    if limits_differ && (prev.cpus.is_some() || prev.memory.is_some()) {
        if can_resize(&v.runtime) {
            let action = Action::Resize {
                role: Role::Stable,
                cpus: prev.cpus,
                memory: prev.memory,
            };
            return ask(
                d,
                e,
                action,
                "train aborted: back to its previous limits".into(),
            );
        }
        left.push(format!("limits not restorable on runtime {}", v.runtime));
    }
    let mut detail = format!("back on {} with {} replica(s)", prev.version, prev.replicas);
    if !left.is_empty() {
        detail += &format!(" ({})", left.join("; "));
    }
    moved(e, EntryPhase::Restored, detail, d);
}
