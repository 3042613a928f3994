//! After a restart or a takeover: each running version brought back to the
//! replica count on record.
//!
//! A scale records its count at once and converges afterwards, so a daemon
//! killed mid-scale leaves a record and a runtime that disagree (3 recorded,
//! 1 running; or 1 recorded and 3 still running because the scale-down was
//! cut short), and so does a replica that died while no daemon watched. The
//! restarted daemon counts what it adopted ([`LiveReplicas`]) and the
//! machine asks for exactly what a `scale` asks for, [`Effect::Scale`] from
//! the live count to the recorded one: the driver starts the missing
//! replicas (they join the pool when healthy) or retires the newest extra
//! ones (out of the pool at once, drained, stopped), and a start that fails
//! is reported as a failed scale (the record then says what runs).
//!
//! A version converges only where a `scale` of it would be accepted:
//! stable outside a promotion (a draining stable is never scaled back up),
//! the canary while it serves (`canary` / `paused`; a canary still
//! deploying or warming is the mid-start logic's in `restore.rs`, one being
//! rolled back or removed is on its way out), and only on runtimes whose
//! replica count this controller sets. A version with no live replica is
//! not a scale: a stable with none is started whole by the driver, a canary
//! with none has already been handled as dead.

use super::scale::{plural, scalable_on, version_of};
use super::*;

/// The replicas the driver adopted that count toward their version: alive
/// and not on their way out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveReplicas {
    pub stable: u32,
    pub canary: u32,
}

impl LiveReplicas {
    pub fn of(self, role: Role) -> u32 {
        match role {
            Role::Stable => self.stable,
            Role::Canary => self.canary,
        }
    }
}

impl Transition<'_> {
    pub(super) fn converge(&mut self, live: LiveReplicas) {
        // A restart's answer to stable replicas gone while no daemon ran
        // (their exits were just fed in): this, or stable started whole
        // when none is left; never a replacement on top (`heal.rs`).
        self.st.healing = Default::default();
        for role in Role::ALL {
            self.converge_role(role, live.of(role));
        }
    }

    fn converge_role(&mut self, role: Role, live: u32) {
        let runs = match role {
            Role::Stable => self.st.phase != Phase::Promoting,
            Role::Canary => self.st.phase.takes_traffic(),
        };
        if !runs
            || live == 0
            || scalable_on(self.plan.runtime, role).is_err()
            || self.st.scaling.contains(&role)
        {
            return;
        }
        let release = match role {
            Role::Stable => 0,
            Role::Canary => self.st.release,
        };
        let plan = self.plan;
        let Some(v) = version_of(self.st, role) else {
            return;
        };
        let want = v.replicas;
        if live == want {
            return;
        }
        let spec = spec_for(plan, v, role, release);
        let what = if live < want {
            format!("starting {}", want - live)
        } else {
            format!("retiring the newest {}", live - want)
        };
        self.emit(EventKind::Warning {
            message: format!(
                "restart: {role} runs {live} of {want} replica{}: {what}",
                plural(want)
            ),
        });
        self.st.scaling.push(role);
        self.fx.push(Effect::Scale {
            role,
            from: live,
            to: want,
            spec,
        });
    }
}
