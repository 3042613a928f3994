//! A stable replica that exits on its own while the daemon runs is
//! replaced, with the [`Effect::Scale`] a `scale` (and a restart's
//! converge) emits, from the live count to the recorded one: the driver
//! starts the replacement, it joins the pool when healthy, and the journal
//! says why.
//!
//! Without this the pool only shrinks: with one replica, a crash, an
//! OOM kill or a `docker kill` leaves stable serving nothing until an
//! operator acts. Replacements that keep dying are not restarted in a hot
//! loop: the first comes at once, then, while each one exits (or fails to
//! start) within [`SETTLED`] of starting, the wait doubles from 2 s up to
//! [`MAX_DELAY`] (Kubernetes' CrashLoopBackOff); a replacement that stayed
//! up for [`SETTLED`] resets it.
//!
//! Only stable is healed, and only where a `scale` of it would be
//! accepted: not while a promotion drains it, not while a scale of it is
//! under way (the replacement waits for it, then tops up what is still
//! missing), and only on runtimes whose replica count this controller sets.
//! The canary is never replaced: its death is evidence against it (the
//! release rolls back when no canary replica is left, the guards judge it
//! otherwise; see `facts.rs`).
//!
//! Nothing here is persisted: a restarted daemon converges on the recorded
//! count anyway (`converge.rs`), and starts its backoff over.

use super::scale::scalable_on;
use super::*;

/// How long a replacement must stay up for its exit not to count as
/// another turn of a crash loop.
pub const SETTLED: Duration = Duration::from_secs(60);
/// The longest wait between two replacements of a crash-looping stable.
pub const MAX_DELAY: Duration = Duration::from_secs(60);

/// Where the healing of stable stands (not persisted).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Healing {
    /// A replacement is wanted from then on.
    pub due: Option<DateTime<Utc>>,
    /// Replacements in a row that exited, or could not start, within
    /// [`SETTLED`] of starting.
    pub failures: u32,
    /// When the last replacement was asked for.
    pub started: Option<DateTime<Utc>>,
    /// Its `Effect::Scale` has not been reported done yet.
    pub replacing: bool,
    /// The last unplanned exit, as the journal says it (`pid:12 exited 137
    /// (on its own)`).
    pub cause: String,
}

/// The wait before the next replacement after `failures` quick deaths in a
/// row: none for the first, then 2 s, 4 s, … up to [`MAX_DELAY`].
pub fn backoff(failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let secs = 1u64.checked_shl(failures.min(32)).unwrap_or(u64::MAX);
    Duration::from_secs(secs).min(MAX_DELAY)
}

impl Transition<'_> {
    /// Whether stable is where a replacement may be asked for (a scale
    /// under way aside: that one only delays it).
    fn stable_heals(&self) -> bool {
        self.st.phase != Phase::Promoting && scalable_on(self.plan.runtime, Role::Stable).is_ok()
    }

    /// A stable replica exited on its own: a replacement is due, at once
    /// or after the backoff when replacements keep dying.
    pub(super) fn stable_exited(&mut self, id: &str, detail: &str) {
        if !self.stable_heals() {
            return;
        }
        let now = self.now;
        let h = &mut self.st.healing;
        h.cause = format!("stable {id} {detail}");
        if h.due.is_some() {
            // Already waiting for one: it tops up whatever is missing then.
            return;
        }
        let quick = h.started.is_some_and(|s| now - s < chrono_dur(SETTLED));
        h.failures = if quick { h.failures + 1 } else { 0 };
        self.schedule();
    }

    /// The replacement asked for could not start: another try after the
    /// backoff, the count on record kept (it is what stable should run).
    pub(super) fn replacement_failed(&mut self, detail: &str) {
        let h = &mut self.st.healing;
        h.replacing = false;
        h.failures += 1;
        h.cause = format!("stable's replacement could not start: {detail}");
        self.schedule();
    }

    pub(super) fn replacement_started(&mut self) {
        self.st.healing.replacing = false;
    }

    /// Set when the next replacement is due; a wait is journaled.
    fn schedule(&mut self) {
        let wait = backoff(self.st.healing.failures);
        self.st.healing.due = Some(self.now + chrono_dur(wait));
        if !wait.is_zero() {
            let cause = self.st.healing.cause.clone();
            self.emit(EventKind::Warning {
                message: format!(
                    "stable keeps exiting ({cause}): next replacement in {} s",
                    wait.as_secs()
                ),
            });
        }
    }

    /// The replacement due by now, from the `live` stable replicas (alive,
    /// not leaving) the driver counts.
    pub(super) fn heal(&mut self, live: u32) {
        let Some(due) = self.st.healing.due else {
            return;
        };
        if !self.stable_heals() {
            self.st.healing.due = None;
            return;
        }
        if self.now < due || self.st.scaling.contains(&Role::Stable) {
            return;
        }
        self.st.healing.due = None;
        let want = self.st.stable.replicas;
        if live >= want {
            return;
        }
        let missing = want - live;
        let what = if missing == 1 {
            "starting a replacement".to_string()
        } else {
            format!("starting {missing} replacements")
        };
        self.emit(EventKind::Warning {
            message: format!(
                "{}: {what} ({live} of {want} running)",
                self.st.healing.cause
            ),
        });
        let spec = spec_for(self.plan, &self.st.stable, Role::Stable, 0);
        let h = &mut self.st.healing;
        h.started = Some(self.now);
        h.replacing = true;
        self.st.scaling.push(Role::Stable);
        self.fx.push(Effect::Scale {
            role: Role::Stable,
            from: live,
            to: want,
            spec,
        });
    }
}
