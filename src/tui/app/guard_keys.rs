//! Keys of the guard panel: choose a threshold, type a new one (checked
//! inline by the plan's rules, the panel stays open on a mistake), then a
//! confirmation that owns the exact `SetGuards` it will send. `on breach`
//! has two values, so Enter switches it (still through a confirmation).

use super::super::guard_edit::{self, GuardKey};
use super::super::keymap::Command;
use super::super::prompts;
use super::{App, Effect, GuardEdit, Popup};
use crate::plan::OnBreach;

impl App {
    pub(super) fn guards_key(&mut self, command: Command) -> Option<Effect> {
        let Some(Popup::Guards(view)) = &mut self.popup else {
            return None;
        };
        let n = GuardKey::ALL.len();
        match command {
            Command::Up => view.selected = (view.selected + n - 1) % n,
            Command::Down => view.selected = (view.selected + 1) % n,
            Command::Select => {
                let key = GuardKey::ALL[view.selected.min(n - 1)];
                let s = self.state.as_ref()?;
                if !guard_edit::editable(s.phase) {
                    self.note(format!(
                        "✗ guards are edited during a release (phase {})",
                        s.phase
                    ));
                    return None;
                }
                let Some(current) = s.thresholds.clone() else {
                    self.note("✗ this daemon does not say its thresholds: edit the plan instead");
                    return None;
                };
                if key == GuardKey::OnBreach {
                    let other = match current.on_breach {
                        OnBreach::Rollback => "pause",
                        OnBreach::Pause => "rollback",
                    };
                    let (patch, after) = guard_edit::check(key, other, &current).ok()?;
                    let c = guard_edit::confirm(s, key, patch, &current, &after);
                    self.popup = Some(Popup::Confirm(c));
                } else if let Some(Popup::Guards(view)) = &mut self.popup {
                    view.edit = Some(GuardEdit::default());
                }
            }
            Command::ToggleMute => {
                let s = self.state.as_ref()?;
                self.popup = Some(Popup::Confirm(prompts::mute(s)));
            }
            _ => self.popup = None,
        }
        None
    }

    pub(super) fn guard_edit_key(&mut self, command: Command) -> Option<Effect> {
        let Some(Popup::Guards(view)) = &mut self.popup else {
            return None;
        };
        let key = GuardKey::ALL[view.selected.min(GuardKey::ALL.len() - 1)];
        let edit = view.edit.as_mut()?;
        match command {
            Command::Backspace => {
                edit.input.pop();
                edit.error = None;
            }
            Command::Apply => {
                let current = self.state.as_ref()?.thresholds.clone()?;
                match guard_edit::check(key, &edit.input, &current) {
                    Ok((patch, after)) => {
                        let s = self.state.as_ref()?;
                        let c = guard_edit::confirm(s, key, patch, &current, &after);
                        self.popup = Some(Popup::Confirm(c));
                    }
                    Err(why) => edit.error = Some(why),
                }
            }
            _ => view.edit = None,
        }
        None
    }
}
