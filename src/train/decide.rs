//! The train's pure decision core: given a train and what each of its
//! services looks like now, move its entries on and say which actions to
//! ask of which controller. No I/O and no clock of its own, so every rule
//! is tested with plain values (`decide_tests.rs`); `runner.rs` persists
//! the train before it sends what was decided (so a restart never forgets
//! an action it may have taken) and feeds refusals back through
//! [`refused`].
//!
//! The decisions are idempotent: each pass derives what is wanted from the
//! train and the services' states alone (a deploy takes the next release
//! number, so an entry knows its release before the deploy is sent), so a
//! daemon restarted mid-train asks again only what did not happen yet.

use super::model::{Entry, EntryPhase, Train, TrainStatus};
use crate::model::{Action, GuardStatus, Outcome, Phase, Refusal, RefusalCode, Role, StateView};
use crate::plan::train::{AbortOn, RollbackScope};
use crate::plan::{Freeze, GuardPlan};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// The canary's share the train sets when a service's plan has no steps
/// (per mille): enough traffic for the guards to judge, little enough
/// that a bad canary reaches few clients.
pub const STEPLESS_SHARE: u16 = 100;
/// Deploys of a previous version tried before an entry is given up as
/// not restorable.
pub const RESTORE_ATTEMPTS: u32 = 3;

/// What the train knows of one service now.
#[derive(Clone, Debug)]
pub struct Seen {
    pub view: StateView,
    /// The freeze window of its plan in force now, if any.
    pub freeze: Option<Freeze>,
}

/// An action the train asks of a service's controller.
#[derive(Clone, Debug, PartialEq)]
pub struct Cmd {
    pub service: String,
    pub action: Action,
    /// Why, for the journal (the runner prefixes the train's number).
    pub why: String,
}

/// Something that happened to the train, for the journals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// The service it concerns (its journal gets it too), if one.
    pub service: Option<String>,
    pub text: String,
}

/// What one pass decided.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Decision {
    pub cmds: Vec<Cmd>,
    pub notes: Vec<Note>,
}

impl Decision {
    fn note(&mut self, service: Option<&str>, text: String) {
        self.notes.push(Note {
            service: service.map(str::to_string),
            text,
        });
    }
}

/// One pass over the train: follow every entry, abort when a condition
/// holds, start what may start, and end the train when every entry has.
pub fn decide(t: &mut Train, seen: &BTreeMap<String, Seen>, now: DateTime<Utc>) -> Decision {
    let mut d = Decision::default();
    if t.status.is_over() {
        return d;
    }
    follow_all(t, seen, now, &mut d);
    if t.status == TrainStatus::Running
        && let Some(why) = abort_cause(t, seen)
    {
        begin_abort(t, why, &mut d);
        follow_all(t, seen, now, &mut d);
    }
    if t.status == TrainStatus::Running {
        skip_blocked(t, &mut d);
        start(t, seen, &mut d);
        follow_all(t, seen, now, &mut d);
    }
    if t.entries.iter().all(|e| e.phase.is_over()) {
        finish(t, now, &mut d);
    }
    d
}

/// Abort a running train by hand (`cutover train abort`).
pub fn request_abort(t: &mut Train, why: String) -> Result<Decision, String> {
    if t.status != TrainStatus::Running {
        return Err(format!(
            "train {} is not running (it is {})",
            t.id,
            status_word(t.status)
        ));
    }
    let mut d = Decision::default();
    begin_abort(t, why, &mut d);
    Ok(d)
}

/// A controller refused what the train asked: what it means for the entry.
pub fn refused(t: &mut Train, service: &str, action: &Action, r: &Refusal) -> Decision {
    let mut d = Decision::default();
    let Some(e) = t.entries.iter_mut().find(|e| e.service == service) else {
        return d;
    };
    let deploy = matches!(action, Action::Deploy { .. });
    match e.phase {
        EntryPhase::Releasing if deploy => {
            e.phase = EntryPhase::Failed;
            e.detail = format!("its deploy was refused: {}", r.message);
            d.note(Some(service), format!("{service}: failed, {}", e.detail));
        }
        EntryPhase::Restoring if deploy => {
            e.release = None;
            e.detail = format!(
                "a deploy of {} was refused: {}",
                e.previous.deploy, r.message
            );
            d.note(Some(service), format!("{service}: {}", e.detail));
        }
        _ => d.note(
            Some(service),
            format!(
                "{service}: {} refused ({}): {}",
                action.name(),
                r.code,
                r.message
            ),
        ),
    }
    d
}

/// Whether a refusal may pass if asked again in a moment (nothing the
/// train decides on).
pub fn transient(r: &Refusal) -> bool {
    matches!(r.code, RefusalCode::Busy | RefusalCode::Stopped)
}

fn status_word(s: TrainStatus) -> &'static str {
    match s {
        TrainStatus::Running => "running",
        TrainStatus::Aborting => "aborting",
        TrainStatus::Done => "done",
        TrainStatus::Aborted => "aborted",
    }
}

fn follow_all(t: &mut Train, seen: &BTreeMap<String, Seen>, now: DateTime<Utc>, d: &mut Decision) {
    let forced = t.forced;
    for e in &mut t.entries {
        let Some(s) = seen.get(&e.service) else {
            continue;
        };
        match e.phase {
            EntryPhase::Releasing => super::follow::releasing(e, s, forced, now, d),
            EntryPhase::RollingBack => super::follow::rolling_back(e, s, d),
            EntryPhase::Restoring => super::follow::restoring(e, s, d),
            _ => {}
        }
    }
}

/// Why the running train must stop, if it must: a freeze window that
/// started (not one `--force` overrode), a breach (`first_breach`), or
/// too many failed services.
fn abort_cause(t: &Train, seen: &BTreeMap<String, Seen>) -> Option<String> {
    for e in t.entries.iter().filter(|e| !e.phase.is_over()) {
        if let Some(f) = seen.get(&e.service).and_then(|s| s.freeze.as_ref())
            && !t.overridden.iter().any(|(s, o)| *s == e.service && o == f)
        {
            return Some(format!(
                "a freeze window{} started for {} (until {})",
                f.reason
                    .as_ref()
                    .map_or(String::new(), |r| format!(" ({r:?})")),
                e.service,
                f.until.to_rfc3339()
            ));
        }
    }
    let failed: Vec<&Entry> = t
        .entries
        .iter()
        .filter(|e| e.phase == EntryPhase::Failed)
        .collect();
    match t.spec.abort_on {
        AbortOn::FirstBreach => {
            if let Some(e) = t.entries.iter().find(|e| e.breached) {
                return Some(format!("a guard breached in {}: {}", e.service, e.detail));
            }
            failed
                .first()
                .map(|e| format!("{} failed: {}", e.service, e.detail))
        }
        AbortOn::Failures(n) => (failed.len() >= n as usize).then(|| {
            let names: Vec<&str> = failed.iter().map(|e| e.service.as_str()).collect();
            format!(
                "{} service{} failed ({}); abort_on = {n}",
                failed.len(),
                if failed.len() == 1 { "" } else { "s" },
                names.join(", ")
            )
        }),
    }
}

/// Start nothing new; turn what is in flight (and, `rollback = "all"`,
/// what this train promoted) towards where it was.
fn begin_abort(t: &mut Train, why: String, d: &mut Decision) {
    t.status = TrainStatus::Aborting;
    d.note(None, format!("train {} aborting: {why}", t.id));
    t.abort_reason = Some(why);
    let all = t.spec.rollback == RollbackScope::All;
    for e in &mut t.entries {
        let to = match e.phase {
            EntryPhase::Waiting => {
                e.detail = "not started: the train was aborted".into();
                EntryPhase::Skipped
            }
            EntryPhase::Releasing => EntryPhase::RollingBack,
            EntryPhase::Promoted if all => {
                e.release = None;
                EntryPhase::Restoring
            }
            other => other,
        };
        if to != e.phase {
            e.phase = to;
            d.note(Some(&e.service), format!("{}: {}", e.service, to.as_str()));
        }
    }
}

/// Entries waiting for one that will never be promoted are skipped.
fn skip_blocked(t: &mut Train, d: &mut Decision) {
    let dead: Vec<String> = t
        .entries
        .iter()
        .filter(|e| e.phase.is_over() && e.phase != EntryPhase::Promoted)
        .map(|e| e.service.clone())
        .collect();
    for e in &mut t.entries {
        if e.phase != EntryPhase::Waiting {
            continue;
        }
        if let Some(dep) = e.after.iter().find(|a| dead.contains(a)) {
            e.phase = EntryPhase::Skipped;
            e.detail = format!("not started: it comes after {dep}, which was not promoted");
            d.note(
                Some(&e.service),
                format!("{}: skipped, {}", e.service, e.detail),
            );
        }
    }
}

/// Start waiting entries while slots are free and their `after` are promoted.
fn start(t: &mut Train, seen: &BTreeMap<String, Seen>, d: &mut Decision) {
    let in_flight = t
        .entries
        .iter()
        .filter(|e| e.phase == EntryPhase::Releasing)
        .count();
    let mut free = (t.spec.max_parallel as usize).saturating_sub(in_flight);
    let promoted: Vec<String> = t
        .entries
        .iter()
        .filter(|e| e.phase == EntryPhase::Promoted)
        .map(|e| e.service.clone())
        .collect();
    for e in &mut t.entries {
        if free == 0 {
            break;
        }
        if e.phase != EntryPhase::Waiting || !e.after.iter().all(|a| promoted.contains(a)) {
            continue;
        }
        let Some(s) = seen.get(&e.service) else {
            continue;
        };
        if !matches!(s.view.phase, Phase::Idle | Phase::Failed) {
            // Someone else's release of it is under way: wait for it.
            continue;
        }
        let release = s.view.release + 1;
        e.phase = EntryPhase::Releasing;
        e.release = Some(release);
        e.detail = format!("canary {} as release {release}", e.image);
        d.note(
            Some(&e.service),
            format!(
                "{}: starting, canary {} as release {release}",
                e.service, e.image
            ),
        );
        free -= 1;
    }
}

fn finish(t: &mut Train, now: DateTime<Utc>, d: &mut Decision) {
    t.status = match t.status {
        TrainStatus::Running => TrainStatus::Done,
        _ => TrainStatus::Aborted,
    };
    t.finished_at = Some(now);
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &t.entries {
        *counts.entry(e.phase.as_str()).or_default() += 1;
    }
    let tally: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
    d.note(
        None,
        format!(
            "train {} {}: {}",
            t.id,
            status_word(t.status),
            tally.join(", ")
        ),
    );
}

/// Every guard has judged the canary and none objects (none configured:
/// nothing to wait for). "Not judged" is never a pass.
pub fn evidence(v: &StateView) -> bool {
    let healthy = v.canary.as_ref().is_some_and(|c| c.healthy() > 0);
    let configured = v.thresholds.as_ref().is_none_or(any_guard);
    let judged = v
        .guards
        .iter()
        .all(|g| matches!(g.status, GuardStatus::Pass | GuardStatus::Muted));
    healthy && judged && (!configured || !v.guards.is_empty())
}

fn any_guard(g: &GuardPlan) -> bool {
    g.max_error_ratio.is_some()
        || g.max_error_rate.is_some()
        || g.max_p99.is_some()
        || g.max_p99_ratio.is_some()
        || g.trip_after.is_some()
        || g.max_failed_requests.is_some()
}

/// How a finished release of the entry's service ended, if it has.
pub fn ended(v: &StateView) -> Option<Outcome> {
    match v.phase {
        Phase::Idle => v.last_outcome,
        Phase::Failed => Some(v.last_outcome.unwrap_or(Outcome::Failed)),
        _ => None,
    }
}

/// Replicas of stable that run or may still serve.
pub fn stable_replicas(v: &StateView) -> u32 {
    v.stable
        .replicas
        .iter()
        .filter(|r| r.status.is_alive())
        .count() as u32
}

/// The roles the train may scale and resize, by runtime.
pub fn can_scale(runtime: &str) -> bool {
    matches!(runtime, "docker" | "process")
}

pub fn can_resize(runtime: &str) -> bool {
    matches!(runtime, "docker" | "swarm")
}

/// `Action::Scale` of stable.
pub fn scale(n: u32) -> Action {
    Action::Scale {
        role: Role::Stable,
        replicas: n,
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
