//! What the cockpit offers the operator's hands: the keys of a mode that
//! the footer, the help screen and the banners show, and that key handling
//! obeys. A read-only view ([`Access::ReadOnly`]: a replay today, `cutover
//! tui --read-only` later) offers no command that acts on the release
//! ([`Command::acts`]) — not the key, and no hint of it — so every
//! component asks here instead of reading the keymap directly.

use super::super::keymap::{Command, Mode};
use super::{Access, App};

impl App {
    /// Whether `command` is offered in `mode`.
    pub fn offers(&self, mode: Mode, command: Command) -> bool {
        self.access == Access::Operate || !command.acts(mode)
    }

    /// The footer hints of `mode`, `(keys, short hint)`, as offered.
    pub fn footer_hints(&self, mode: Mode) -> Vec<(String, &'static str)> {
        self.keymap.footer_where(mode, |c| self.offers(mode, c))
    }

    /// The first key of `command` in `mode`, if it is offered.
    pub fn offered_key(&self, mode: Mode, command: Command) -> Option<String> {
        self.offers(mode, command)
            .then(|| self.keymap.key_for(mode, command))
            .flatten()
    }

    /// The help screen: the main mode's keys, then those of every popup it
    /// can open, each as offered; popups that exist only to act (typing a
    /// weight, confirming, picking what to drain) are left out of a
    /// read-only view.
    pub fn help_sections(&self) -> Vec<(Mode, Vec<(String, &'static str)>)> {
        let main = if self.replay.is_some() {
            Mode::Replay
        } else {
            Mode::Live
        };
        // In a replay the guard panel is the "what if".
        let (guards, guard_edit) = if self.replay.is_some() {
            (Mode::WhatIf, Mode::WhatIfEdit)
        } else {
            (Mode::Guards, Mode::GuardEdit)
        };
        // Which popup opens from which mode, by which command, in help order.
        let opens = [
            (main, Command::WeightDigit, Mode::WeightEntry),
            (main, Command::Promote, Mode::Confirm),
            (main, Command::Drain, Mode::DrainPicker),
            (main, Command::Guards, guards),
            (guards, Command::Select, guard_edit),
            (main, Command::Logs, Mode::Logs),
            (Mode::DrainPicker, Command::Select, Mode::Reason),
            (main, Command::NewCanary, Mode::DeployPrompt),
            (main, Command::Scale, Mode::ScalePrompt),
            (main, Command::Resize, Mode::ResizePrompt),
            (main, Command::Promote, Mode::TypedConfirm),
        ];
        let mut modes = vec![main];
        for (from, command, popup) in opens {
            let bound = self.keymap.mode(from).any(|b| b.command == command);
            if modes.contains(&from) && bound && self.offers(from, command) {
                modes.push(popup);
            }
        }
        self.keymap
            .help_where(&modes, |mode, command| self.offers(mode, command))
    }
}
