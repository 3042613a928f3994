//! The undo window: for [`UNDO_SECS`] after the daemon accepted a weight
//! change or a promote this cockpit sent, `u` takes it back (the weight
//! before it, or `undo_promote`), through the same request path as any
//! action, journaled by the cockpit with the reason "undo". The footer
//! counts the window down. It closes early once the state moves on —
//! another weight, a phase other than the promote's — because an undo
//! then would undo something the operator did not see.
//!
//! The clock is the event time, like every time the cockpit shows: the
//! daemon's once-a-second ticks move it, so the countdown is live, and a
//! test or a snapshot draws the same every time.

use super::super::keymap::Command;
use super::super::prompts::{self, Confirm};
use super::{App, Effect, UndoWindow, Undoable};
use crate::model::{Action, ActionRequest, Phase, Role, risk};

/// How long an undo is offered, in seconds of event time.
pub const UNDO_SECS: i64 = 10;

impl App {
    /// Remember where the weight stood before the first of a run of weight
    /// changes this cockpit sends (←←← is one change to undo, not three).
    pub(super) fn note_sent(&mut self, effect: &Option<Effect>) {
        if let Some(Effect::Send(req)) = effect
            && let Action::SetWeight { .. } = req.action
            && !is_undo(req)
            && self.weight_sent_from.is_none()
        {
            self.weight_sent_from = Some(self.applied());
        }
    }

    /// Open (or not) a window for the daemon's answer to `req`. Called
    /// before the reply's state is applied, while `pending_permille` still
    /// says which weight is the newest sent.
    pub(super) fn undo_on_reply(&mut self, req: &ActionRequest, ok: bool) {
        if is_undo(req) {
            return;
        }
        match req.action {
            Action::SetWeight { permille } => {
                // Only the newest weight sent opens a window; earlier
                // replies of a run are already out of date.
                if self.pending_permille.is_some_and(|p| p != permille) {
                    return;
                }
                let from = self.weight_sent_from.take();
                if let (true, Some(from)) = (ok, from)
                    && from != permille
                {
                    self.open_undo(Undoable::Weight { from, to: permille });
                }
            }
            Action::Promote { .. }
            | Action::Drain {
                role: Role::Stable, ..
            } if ok => self.open_undo(Undoable::Promote),
            _ => {}
        }
    }

    fn open_undo(&mut self, what: Undoable) {
        if let Some(now) = self.now {
            self.undo = Some(UndoWindow {
                what,
                until: now + chrono::Duration::seconds(UNDO_SECS),
            });
        }
    }

    /// Close the window once it has run out or the state has moved on.
    pub(super) fn settle_undo(&mut self) {
        let Some(w) = &self.undo else {
            return;
        };
        let expired = self.now.is_some_and(|now| now >= w.until);
        let moved_on = match (&self.state, w.what) {
            (None, _) => true,
            (Some(s), Undoable::Weight { to, .. }) => {
                s.weight_permille != to || !s.phase.takes_traffic()
            }
            (Some(s), Undoable::Promote) => s.phase != Phase::Promoting,
        };
        if expired || moved_on {
            self.undo = None;
        }
    }

    /// The undo on offer and its whole seconds left, while it lasts.
    pub fn live_undo(&self) -> Option<(Undoable, i64)> {
        let w = self.undo.as_ref()?;
        let left_ms = (w.until - self.now?).num_milliseconds();
        (left_ms > 0).then(|| (w.what, (left_ms + 999) / 1000))
    }

    /// `u`: send the undo now (it is its own confirmation), unless it moves
    /// traffic towards the canary while the evidence is against it: then
    /// the service name is asked for first, as for any such move.
    pub(super) fn undo_key(&mut self) -> Option<Effect> {
        let Some((what, _)) = self.live_undo() else {
            self.note(format!(
                "✗ nothing to undo: {} takes back a weight change or promote for {UNDO_SECS} s after it is sent",
                self.keymap
                    .key_for(crate::tui::keymap::Mode::Live, Command::Undo)
                    .unwrap_or_default()
            ));
            return None;
        };
        self.undo = None;
        let req = prompts::undo(what);
        let s = self.state.as_ref()?;
        if risk::typed_confirmation(s, &req.action).is_some() {
            let Undoable::Weight { from, to } = what else {
                return None;
            };
            self.ask(Confirm {
                title: "Undo the weight change?".into(),
                summary: format!("canary {} → {} again", prompts::pct(to), prompts::pct(from)),
                warning: None,
                action: req,
            });
            return None;
        }
        if let Action::SetWeight { permille } = req.action {
            self.pending_permille = Some(permille);
        }
        Some(Effect::Send(req))
    }
}

fn is_undo(req: &ActionRequest) -> bool {
    req.reason.as_deref() == Some(prompts::UNDO_REASON)
}

/// "undo weight 5 % → 50 % (9 s)", "undo promote (9 s)": the footer's words.
pub fn undo_hint(what: Undoable, secs: i64) -> String {
    match what {
        Undoable::Weight { from, to } => format!(
            "undo weight {} → {} ({secs} s)",
            prompts::pct(from),
            prompts::pct(to)
        ),
        Undoable::Promote => format!("undo promote ({secs} s)"),
    }
}
