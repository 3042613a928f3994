//! The autoscaler's decisions, as a pure function of what it was shown:
//! samples of each running version's load and memory, the plan's
//! `[autoscale]` policy, and the time. No I/O and no clock of its own; the
//! driver feeds it a [`Sample`] per version every stats sample and turns
//! its [`Decision`]s into `scale` and `resize` actions (by `system`).
//!
//! Why it is shaped so:
//! - Up fast, down slow: a version above target for two samples in a row
//!   goes straight to the count the load asks for; one below target loses
//!   one replica per `scale_down_after`, so a lull does not strip capacity
//!   a returning burst needs.
//! - Memory is raised before the kernel's OOM killer acts (at 85 % of the
//!   limit, by half, up to the ceiling), never lowered on its own.
//! - Every change is remembered for one guard window: a breach inside it
//!   undoes the change (the change may be what hurt), said in the reason.

use crate::model::Role;
use crate::plan::{AutoscalePlan, ScaleTarget};
use chrono::{DateTime, Utc};

/// Above this share of its limit, a replica's memory limit is raised.
pub const MEMORY_HIGH: f64 = 0.85;
/// Samples in a row above target before scaling up.
pub const UP_AFTER: u32 = 2;

/// One version as sampled.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub role: Role,
    /// Replicas on record (what the version is being scaled to).
    pub replicas: u32,
    /// Requests in flight (averaged over the sample) or CPU percent,
    /// summed over the version's replicas, as the policy's target counts.
    pub load: f64,
    /// Memory use and limit of each replica that has a limit.
    pub memory: Vec<(u64, u64)>,
}

/// What the autoscaler asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    Scale {
        role: Role,
        from: u32,
        to: u32,
        why: String,
    },
    Memory {
        role: Role,
        from: u64,
        to: u64,
        why: String,
    },
}

/// A change made, kept for one guard window so a breach can undo it.
#[derive(Clone, Debug, PartialEq)]
struct Made {
    at: DateTime<Utc>,
    undo: Decision,
}

/// What the autoscaler remembers of one version.
#[derive(Clone, Debug, Default, PartialEq)]
struct Track {
    above: u32,
    below_since: Option<DateTime<Utc>>,
    made: Option<Made>,
}

/// The policy and what it remembers, per role.
#[derive(Clone, Debug)]
pub struct Autoscaler {
    policy: AutoscalePlan,
    /// Whether the runtime changes memory limits (docker).
    limits: bool,
    tracks: [Track; 2],
}

impl Autoscaler {
    pub fn new(policy: AutoscalePlan, limits: bool) -> Self {
        Autoscaler {
            policy,
            limits,
            tracks: Default::default(),
        }
    }

    /// The replicas the load asks for, clamped to the policy's range.
    pub fn desired(&self, load: f64) -> u32 {
        let target = match self.policy.target() {
            ScaleTarget::InFlight(t) | ScaleTarget::Cpu(t) => t,
        };
        let want = (load.max(0.0) / target).ceil();
        let want = if want.is_finite() { want as u32 } else { 0 };
        want.clamp(self.policy.min, self.policy.max)
    }

    /// One sample of one version: at most one scale and one memory raise.
    pub fn observe(&mut self, s: &Sample, now: DateTime<Utc>) -> Vec<Decision> {
        let mut out = Vec::new();
        if let Some(d) = self.replicas(s, now) {
            out.push(d);
        }
        if let Some(d) = self.memory(s) {
            out.push(d);
        }
        for d in &out {
            self.tracks[s.role.index()].made = Some(Made {
                at: now,
                undo: undo_of(d),
            });
        }
        out
    }

    fn replicas(&mut self, s: &Sample, now: DateTime<Utc>) -> Option<Decision> {
        let desired = self.desired(s.load);
        let (min, max) = (self.policy.min, self.policy.max);
        let cool = chrono::Duration::from_std(self.policy.scale_down_after.get())
            .unwrap_or(chrono::Duration::MAX);
        let t = &mut self.tracks[s.role.index()];
        let load = format!("{} {:.1}", load_name(&self.policy), s.load);
        let scale = |to: u32, why: String| Decision::Scale {
            role: s.role,
            from: s.replicas,
            to,
            why,
        };
        if s.replicas < min || s.replicas > max {
            *t = Track::default();
            let to = s.replicas.clamp(min, max);
            return Some(scale(to, format!("autoscale: keeps {min}–{max} replicas")));
        }
        if desired > s.replicas {
            t.below_since = None;
            t.above += 1;
            if t.above < UP_AFTER {
                return None;
            }
            t.above = 0;
            return Some(scale(
                desired,
                format!(
                    "autoscale: {load} over {} replica(s), above target for {UP_AFTER} samples",
                    s.replicas
                ),
            ));
        }
        t.above = 0;
        if desired == s.replicas {
            t.below_since = None;
            return None;
        }
        let since = *t.below_since.get_or_insert(now);
        if now - since < cool {
            return None;
        }
        t.below_since = Some(now);
        Some(scale(
            s.replicas - 1,
            format!(
                "autoscale: {load} over {} replica(s), below target for {}",
                s.replicas, self.policy.scale_down_after
            ),
        ))
    }

    fn memory(&self, s: &Sample) -> Option<Decision> {
        let ceiling = self.policy.memory_ceiling?.0;
        if !self.limits {
            return None;
        }
        let (used, limit) = s
            .memory
            .iter()
            .copied()
            .filter(|(u, l)| *l > 0 && (*u as f64) > MEMORY_HIGH * (*l as f64))
            .max_by_key(|(u, l)| u * 100 / l)?;
        let to = (limit + limit / 2).min(ceiling);
        if to <= limit {
            return None;
        }
        Some(Decision::Memory {
            role: s.role,
            from: limit,
            to,
            why: format!(
                "memory limit raised {} → {} (use {}, {} %)",
                mib(limit),
                mib(to),
                mib(used),
                used * 100 / limit
            ),
        })
    }

    /// A guard breached at `now`: the changes made within `window` before
    /// are undone, each with why.
    pub fn breach(&mut self, now: DateTime<Utc>, window: std::time::Duration) -> Vec<Decision> {
        let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
        let mut out = Vec::new();
        for t in &mut self.tracks {
            let Some(made) = t.made.take() else { continue };
            if now - made.at > window {
                continue;
            }
            let secs = (now - made.at).num_seconds();
            out.push(match made.undo {
                Decision::Scale { role, from, to, .. } => Decision::Scale {
                    role,
                    from,
                    to,
                    why: format!(
                        "autoscale: a guard breached {secs} s after scaling {role} {to} → {from}; back to {to}"
                    ),
                },
                Decision::Memory { role, from, to, .. } => Decision::Memory {
                    role,
                    from,
                    to,
                    why: format!(
                        "autoscale: a guard breached {secs} s after raising {role}'s memory limit {} → {}; back to {}",
                        mib(to),
                        mib(from),
                        mib(to)
                    ),
                },
            });
            *t = Track::default();
        }
        out
    }
}

/// The decision that takes `d` back (its `why` is filled in on a breach).
fn undo_of(d: &Decision) -> Decision {
    match d {
        Decision::Scale { role, from, to, .. } => Decision::Scale {
            role: *role,
            from: *to,
            to: *from,
            why: String::new(),
        },
        Decision::Memory { role, from, to, .. } => Decision::Memory {
            role: *role,
            from: *to,
            to: *from,
            why: String::new(),
        },
    }
}

fn load_name(p: &AutoscalePlan) -> &'static str {
    match p.target() {
        ScaleTarget::InFlight(_) => "in flight",
        ScaleTarget::Cpu(_) => "CPU %",
    }
}

fn mib(bytes: u64) -> String {
    format!("{} MiB", bytes >> 20)
}

#[cfg(test)]
#[path = "autoscale_tests.rs"]
mod tests;
