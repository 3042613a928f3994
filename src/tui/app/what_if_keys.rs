//! Keys of the replay's "what if": the guard panel's list and editor over
//! the thresholds recorded at the replay's position, each value checked by
//! the plan's own rules as a live edit is, but kept in the replay. Enter
//! asks the replay session to judge the recording again
//! ([`Effect::WhatIf`]) and closes the panel so the timeline shows where the
//! edited thresholds would have tripped. Nothing goes to any daemon.

use super::super::guard_edit::{self, GuardKey};
use super::super::keymap::Command;
use super::{App, Effect, GuardEdit, Popup};
use crate::guard::backtest::merge_patches;
use crate::model::GuardPatch;
use crate::plan::{GuardPlan, OnBreach};

impl App {
    /// The "what if" edit in force (empty: the recorded thresholds).
    pub fn what_if_patch(&self) -> GuardPatch {
        self.replay
            .as_ref()
            .and_then(|r| r.what_if.as_ref())
            .map(|w| w.patch.clone())
            .unwrap_or_default()
    }

    /// The thresholds recorded at the replay's position, with the "what
    /// if" applied; `None` where the recording says none.
    pub fn what_if_thresholds(&self) -> Option<GuardPlan> {
        let recorded = self.state.as_ref()?.thresholds.as_ref()?;
        Some(self.what_if_patch().apply(recorded))
    }

    pub(super) fn what_if_key(&mut self, command: Command) -> Option<Effect> {
        let Some(Popup::Guards(view)) = &mut self.popup else {
            return None;
        };
        let n = GuardKey::ALL.len();
        match command {
            Command::Up => view.selected = (view.selected + n - 1) % n,
            Command::Down => view.selected = (view.selected + 1) % n,
            Command::Select => {
                let key = GuardKey::ALL[view.selected.min(n - 1)];
                let unavailable = self
                    .replay
                    .as_ref()
                    .and_then(|r| r.what_if_unavailable.clone());
                if let Some(why) = unavailable {
                    self.note(format!("✗ {why}"));
                    return None;
                }
                let Some(current) = self.what_if_thresholds() else {
                    self.note("✗ no thresholds recorded here yet: play on to the release");
                    return None;
                };
                if key == GuardKey::OnBreach {
                    let other = match current.on_breach {
                        OnBreach::Rollback => "pause",
                        OnBreach::Pause => "rollback",
                    };
                    let patch = self.what_if_after(key, other, &current).ok()?;
                    self.popup = None;
                    return Some(Effect::WhatIf(patch));
                }
                if let Some(Popup::Guards(view)) = &mut self.popup {
                    view.edit = Some(GuardEdit::default());
                }
            }
            Command::ClearWhatIf => {
                self.popup = None;
                return Some(Effect::WhatIf(GuardPatch::default()));
            }
            _ => self.popup = None,
        }
        None
    }

    pub(super) fn what_if_edit_key(&mut self, command: Command) -> Option<Effect> {
        let Some(Popup::Guards(view)) = &self.popup else {
            return None;
        };
        let key = GuardKey::ALL[view.selected.min(GuardKey::ALL.len() - 1)];
        let typed = view.edit.as_ref()?.input.clone();
        let result = match command {
            Command::Apply => {
                let current = self.what_if_thresholds()?;
                Some(self.what_if_after(key, &typed, &current))
            }
            _ => None,
        };
        let Some(Popup::Guards(view)) = &mut self.popup else {
            return None;
        };
        let edit = view.edit.as_mut()?;
        match (command, result) {
            (Command::Backspace, _) => {
                edit.input.pop();
                edit.error = None;
            }
            (Command::Apply, Some(Ok(patch))) => {
                self.popup = None;
                return Some(Effect::WhatIf(patch));
            }
            (Command::Apply, Some(Err(why))) => edit.error = Some(why),
            _ => view.edit = None,
        }
        None
    }

    /// The whole "what if" once `typed` is set for `key` over `current`;
    /// a key typed back to its recorded value leaves the edit.
    fn what_if_after(
        &self,
        key: GuardKey,
        typed: &str,
        current: &GuardPlan,
    ) -> Result<GuardPatch, String> {
        let (one, after) = guard_edit::check(key, typed, current)?;
        let mut patch = merge_patches(&self.what_if_patch(), &one);
        let recorded = self.state.as_ref().and_then(|s| s.thresholds.as_ref());
        if recorded.is_some_and(|r| key.value(r) == key.value(&after)) {
            key.copy(&GuardPatch::default(), &mut patch);
        }
        Ok(patch)
    }
}
