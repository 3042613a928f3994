//! A start without a readable state file, with replicas of this service
//! still running: adopt them from their labels instead of removing them.
//!
//! Both state copies can be lost (torn disk, deleted state directory) while
//! the replicas they described keep serving. Removing them and starting
//! stable afresh would be a self-inflicted outage, so the runtime's own
//! labels are trusted instead: replicas labelled `stable` are adopted as
//! stable, those labelled `canary` of the newest release as a canary at
//! weight 0 (nothing is sent to it until an operator says so), and only
//! what is clearly dead (no address: an exited container) or superseded (a
//! canary of an older release) is removed. When only canary-labelled
//! replicas run, they are what serves (a promoted canary keeps its label),
//! so they are adopted as stable: nothing changes for clients. Replicas the runtime cannot
//! identify never reach this point: the runtime lists only replicas with
//! this service's labels and a role. The static runtime is left out: its
//! "replicas" are the plan's addresses, run elsewhere, never taken down.

use super::release::{ReleaseState, ReplicaMark, version_label};
use crate::model::{Phase, Role};
use crate::plan::{Plan, VersionPlan};
use crate::runtime::Replica;

/// What to do with the replicas found.
#[derive(Debug, Default)]
pub(super) struct Adoption {
    /// The state to start from; `None`: nothing to adopt, a fresh start.
    pub state: Option<ReleaseState>,
    pub adopt: Vec<Replica>,
    pub remove: Vec<Replica>,
    /// Loud, operator-facing lines.
    pub notes: Vec<String>,
}

pub(super) fn from_labels(plan: &Plan, listed: Vec<Replica>) -> Adoption {
    let found = Found::sort(listed);
    let mut out = Adoption {
        remove: found.remove,
        ..Adoption::default()
    };
    if found.stable.is_empty() && found.canary.is_empty() {
        return out;
    }
    let (st, line) = adopted_state(plan, &found.stable, &found.canary, &found.facts);
    out.notes.push(line);
    if !out.remove.is_empty() {
        out.notes.push(format!(
            "{} replica(s) of this service are exited or of an older canary release and are removed",
            out.remove.len()
        ));
    }
    out.adopt = found.stable.into_iter().chain(found.canary).collect();
    out.state = Some(st);
    out
}

/// The replicas found, sorted by what becomes of them.
struct Found {
    /// What serves as stable (canary-labelled replicas when only they run).
    stable: Vec<Replica>,
    /// The newest release's canary replicas, if stable runs too.
    canary: Vec<Replica>,
    /// Exited replicas and canaries of older releases.
    remove: Vec<Replica>,
    facts: Facts,
}

/// What the adopted state's release and wording depend on.
struct Facts {
    /// The newest release any replica (alive or dead) carries.
    newest: u64,
    /// The newest canary release still running.
    canary_release: Option<u64>,
    /// `stable` is canary-labelled replicas serving as stable.
    promoted: bool,
}

impl Found {
    fn sort(listed: Vec<Replica>) -> Found {
        let (alive, dead): (Vec<Replica>, Vec<Replica>) =
            listed.into_iter().partition(|r| !r.addr.is_empty());
        let newest = dead
            .iter()
            .chain(&alive)
            .map(|r| r.release)
            .max()
            .unwrap_or(0);
        let mut remove = dead;
        let mut stable: Vec<Replica> = alive
            .iter()
            .filter(|r| r.role == Role::Stable)
            .cloned()
            .collect();
        let canary_release = alive
            .iter()
            .filter(|r| r.role == Role::Canary)
            .map(|r| r.release)
            .max();
        let (mut canary, old): (Vec<Replica>, Vec<Replica>) = alive
            .into_iter()
            .filter(|r| r.role == Role::Canary)
            .partition(|r| Some(r.release) == canary_release);
        remove.extend(old);
        let promoted = stable.is_empty() && !canary.is_empty();
        if promoted {
            // Only canary-labelled replicas serve: they are stable in all but name.
            for r in &mut canary {
                r.role = Role::Stable;
            }
            stable = std::mem::take(&mut canary);
        }
        Found {
            stable,
            canary,
            remove,
            facts: Facts {
                newest,
                canary_release,
                promoted,
            },
        }
    }
}

/// The release state the found replicas describe, and the line that says so.
fn adopted_state(
    plan: &Plan,
    stable: &[Replica],
    canary: &[Replica],
    facts: &Facts,
) -> (ReleaseState, String) {
    let newest = facts.newest;
    let mut st = ReleaseState::fresh(&plan.stable);
    st.release = newest;
    if let Some(label) = label_of(stable) {
        st.stable = version_for(plan, &label, "stable");
    }
    let mut line = format!(
        "no readable state file: adopted {} running stable replica(s){} from their labels",
        stable.len(),
        label_of(stable).map_or_else(String::new, |l| format!(" ({l})"))
    );
    if !canary.is_empty() {
        let label = label_of(canary).unwrap_or_else(|| "canary".into());
        st.canary = Some(version_for(plan, &label, "canary"));
        st.canary_replicas = canary
            .iter()
            .map(|r| ReplicaMark {
                id: r.id.clone(),
                healthy: true,
                alive: true,
            })
            .collect();
        st.phase = Phase::Canary;
        st.release = facts.canary_release.unwrap_or(newest).max(newest);
        line += &format!(
            " and {} canary replica(s) ({label}, release {}) at canary weight 0: set the weight, promote or roll back",
            canary.len(),
            st.release
        );
    }
    if facts.promoted {
        line += "; they carry the canary label but are the only version running, so they serve as stable";
    }
    (st, line)
}

/// The version label most replicas carry (the first one on a tie).
fn label_of(replicas: &[Replica]) -> Option<String> {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for r in replicas.iter().filter(|r| !r.version.is_empty()) {
        match counts.iter_mut().find(|(v, _)| *v == r.version) {
            Some((_, n)) => *n += 1,
            None => counts.push((&r.version, 1)),
        }
    }
    let max = counts.iter().map(|(_, n)| *n).max()?;
    counts
        .into_iter()
        .find(|(_, n)| *n == max)
        .map(|(v, _)| v.to_string())
}

/// The plan's version that carries `label` (a promoted canary is stable
/// now), else the plan's `fallback` role with that label.
fn version_for(plan: &Plan, label: &str, fallback: &str) -> VersionPlan {
    let candidates = [Some(&plan.stable), plan.canary.as_ref()];
    let found = candidates
        .into_iter()
        .flatten()
        .find(|v| version_label(v, "") == label || v.label("") == label);
    let mut v = match (found, fallback) {
        (Some(v), _) => v.clone(),
        (None, "canary") => plan.canary.clone().unwrap_or_else(|| plan.stable.clone()),
        (None, _) => plan.stable.clone(),
    };
    v.version = Some(label.to_string());
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        crate::plan::parse(
            "service = \"s\"\nruntime = \"docker\"\n[stable]\nimage = \"shop:1\"\nversion = \"v1\"\nreplicas = 2\n[canary]\nimage = \"shop:2\"\nversion = \"v2\"\n",
            "t",
        )
        .unwrap()
    }

    fn rep(id: &str, role: Role, release: u64, version: &str, addr: &str) -> Replica {
        Replica {
            id: id.into(),
            role,
            release,
            version: version.into(),
            addr: addr.into(),
        }
    }

    #[test]
    fn nothing_running_is_a_fresh_start() {
        let a = from_labels(&plan(), vec![]);
        assert!(a.state.is_none() && a.adopt.is_empty() && a.remove.is_empty());
        let dead = rep("d", Role::Stable, 0, "v1", "");
        let a = from_labels(&plan(), vec![dead.clone()]);
        assert!(a.state.is_none());
        assert_eq!(a.remove, vec![dead]);
    }

    #[test]
    fn running_stable_and_canary_are_adopted_by_label() {
        let listed = vec![
            rep("s1", Role::Stable, 0, "v1", "127.0.0.1:1"),
            rep("s2", Role::Stable, 0, "v1", "127.0.0.1:2"),
            rep("c1", Role::Canary, 3, "v2", "127.0.0.1:3"),
            rep("c0", Role::Canary, 2, "v2", "127.0.0.1:4"),
            rep("x", Role::Canary, 3, "v2", ""),
        ];
        let a = from_labels(&plan(), listed);
        let st = a.state.unwrap();
        assert_eq!(st.phase, Phase::Canary);
        assert_eq!(st.weight_permille, 0, "nothing goes to an adopted canary");
        assert_eq!(st.release, 3);
        assert_eq!(st.canary.unwrap().image.as_deref(), Some("shop:2"));
        assert_eq!(st.canary_replicas.len(), 1);
        let ids: Vec<&str> = a.adopt.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["s1", "s2", "c1"]);
        let gone: Vec<&str> = a.remove.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(gone, ["x", "c0"], "dead and superseded only");
    }

    #[test]
    fn only_canary_labelled_replicas_serve_as_stable() {
        let listed = vec![rep("c1", Role::Canary, 2, "v2", "127.0.0.1:1")];
        let a = from_labels(&plan(), listed);
        let st = a.state.unwrap();
        assert_eq!(st.phase, Phase::Idle, "no new stable is started over them");
        assert_eq!(st.stable.version.as_deref(), Some("v2"));
        assert_eq!(a.adopt.len(), 1);
        assert_eq!(a.adopt[0].role, Role::Stable);
        assert!(a.remove.is_empty());
    }

    #[test]
    fn a_promoted_canary_labelled_stable_keeps_its_spec() {
        let listed = vec![rep("s1", Role::Stable, 4, "v2", "127.0.0.1:1")];
        let a = from_labels(&plan(), listed);
        let st = a.state.unwrap();
        assert_eq!(st.phase, Phase::Idle);
        assert_eq!(st.release, 4, "release numbers never go back");
        assert_eq!(st.stable.image.as_deref(), Some("shop:2"));
        assert_eq!(st.stable.version.as_deref(), Some("v2"));
        assert!(st.canary.is_none());
    }
}
