//! Pausing the controller so another daemon can take the release over
//! (`cutover up --takeover`, see `crate::daemon::takeover`).
//!
//! A pause is granted only while the worker is idle: a start, drain or stop
//! under way would go on changing the runtime behind the successor's back.
//! Granted, the driver saves the state (and waits until it is on disk),
//! hands out the guards' running tests, and waits for one word: *retire*
//! (its task ends, the successor drives from here) or *resume* (the
//! takeover failed; nothing was changed, it carries on). While it waits it
//! does nothing at all: no timers, no health, no actions, so the state on
//! disk is the state the successor reads.

pub use super::driver::EvidenceSnapshot;
use tokio::sync::oneshot;

/// A request to pause, with where to answer.
pub struct PauseAsk {
    /// Who asks (for the journal): the successor's pid.
    pub by_pid: u32,
    pub reply: oneshot::Sender<Result<Paused, String>>,
}

/// What a paused controller hands out, and how to tell it what happens next.
pub struct Paused {
    /// The guards' running tests (none while no release is judged).
    pub evidence: Option<EvidenceSnapshot>,
    decide: oneshot::Sender<Decision>,
}

/// The end of a pause.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The takeover did not happen: carry on as before.
    Resume,
    /// The successor serves: stop for good.
    Retire,
}

impl Paused {
    pub(super) fn new(evidence: Option<EvidenceSnapshot>) -> (Paused, oneshot::Receiver<Decision>) {
        let (decide, decision) = oneshot::channel();
        (Paused { evidence, decide }, decision)
    }

    /// The successor serves; the controller task ends.
    pub fn retire(self) {
        let _ = self.decide.send(Decision::Retire);
    }

    /// The takeover failed; the controller carries on (dropping a
    /// [`Paused`] does the same).
    pub fn resume(self) {
        let _ = self.decide.send(Decision::Resume);
    }
}
