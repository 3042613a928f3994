//! The driver's side of a takeover pause (see `controller::handover`).

use super::*;
use crate::controller::handover::{Decision, PauseAsk, Paused};
use std::sync::atomic::Ordering;

impl Driver {
    /// Answer a pause request. Returns `true` when the controller retires.
    pub(super) async fn hand_over(&mut self, ask: PauseAsk) -> bool {
        let busy = self.work.busy.load(Ordering::SeqCst);
        if busy > 0 {
            let _ = ask.reply.send(Err(format!(
                "an operation is under way ({busy} queued or running: a start, warm-up, drain or stop); try again when it is done"
            )));
            return false;
        }
        self.emit(EventKind::Action {
            action: "takeover".into(),
            by: crate::model::Actor::System,
            reason: Some(format!("cutover up --takeover (pid {})", ask.by_pid)),
            ok: true,
            detail: "paused: handing the listeners, the state and the guards' evidence over".into(),
        });
        self.persist();
        self.out.writer.durable(self.out.writer.generation()).await;
        let judging = self.machine.state().phase.takes_traffic();
        let (paused, decision) = Paused::new(judging.then(|| self.judging.evidence.snapshot()));
        if ask.reply.send(Ok(paused)).is_err() {
            return false;
        }
        match decision.await {
            Ok(Decision::Retire) => true,
            Ok(Decision::Resume) | Err(_) => {
                self.emit(EventKind::Warning {
                    message: format!(
                        "the takeover by pid {} did not complete; this daemon carries on",
                        ask.by_pid
                    ),
                });
                false
            }
        }
    }

    /// After startup: carry on the running tests a predecessor handed over.
    pub(super) fn carry_on_evidence(&mut self) {
        let Some(snap) = self.deps.evidence.take() else {
            return;
        };
        if !self.machine.state().phase.takes_traffic() {
            return;
        }
        let g = self.machine.state().guard(self.machine.plan()).clone();
        if !self.judging.evidence.resume(snap, &g) {
            self.emit(EventKind::Warning {
                message: "the guards' evidence was judged under other thresholds than this plan's; it starts afresh".into(),
            });
        }
    }
}
