//! Key handling: one key press becomes a command through the keymap of
//! the current mode, then a change of the model and perhaps an [`Effect`].
//! Dangerous commands only open a popup that owns the action; the action is
//! sent when the popup is confirmed, so what is confirmed is what runs.

use super::super::guard_edit::GuardKey;
use super::super::keymap::{Command, Mode};
use super::super::prompts;
use super::{
    App, Effect, GuardEdit, GuardsView, Link, LogsView, Popup, ReasonFor, ReplayControl, Selection,
};
use crate::model::{Action, Role};
use crossterm::event::{KeyCode, KeyEvent};

impl App {
    /// One key press. Returns what the outside world must do, if anything.
    pub fn handle_key(&mut self, key: KeyEvent) -> Option<Effect> {
        let effect = self.key_effect(key);
        self.note_sent(&effect);
        effect
    }

    fn key_effect(&mut self, key: KeyEvent) -> Option<Effect> {
        let mode = self.mode();
        // Opened from the fleet view: Esc with nothing open goes back.
        if self.in_fleet && mode == Mode::Live && key.code == KeyCode::Esc {
            return Some(Effect::Back);
        }
        let command = self.keymap.lookup(mode, &key);
        // Text inputs take every printable character the table does not claim.
        if command.is_none() {
            if self.type_into_prompt(key.code) {
                return None;
            }
            let (input, error, limit) = match &mut self.popup {
                Some(Popup::Reason { input, error, .. }) => (input, error, 200),
                Some(Popup::Guards(GuardsView {
                    edit: Some(GuardEdit { input, error }),
                    ..
                })) => (input, error, 40),
                _ => return None,
            };
            if let KeyCode::Char(c) = key.code {
                if input.chars().count() < limit {
                    input.push(c);
                }
                *error = None;
            }
            return None;
        }
        let command = command?;
        // A read-only view obeys no key that acts, whatever the keymap says.
        if !self.offers(mode, command) {
            return None;
        }
        match mode {
            Mode::Live => self.live(command, key),
            Mode::Replay => self.replay_key(command),
            Mode::WeightEntry => self.weight_entry(command, key),
            Mode::Confirm => self.confirm(command),
            Mode::Help => {
                match command {
                    Command::ScrollUp | Command::ScrollDown => {
                        self.scroll_popup(command == Command::ScrollUp, 1);
                    }
                    _ => self.popup = None,
                }
                None
            }
            Mode::DrainPicker => self.drain_picker(command),
            Mode::Guards => self.guards_key(command),
            Mode::GuardEdit => self.guard_edit_key(command),
            Mode::Logs => self.logs_key(command),
            Mode::Reason => self.reason_key(command),
            Mode::WhatIf => self.what_if_key(command),
            Mode::WhatIfEdit => self.what_if_edit_key(command),
            Mode::DeployPrompt => self.deploy_key(command),
            Mode::ScalePrompt => self.scale_key(command),
            Mode::ResizePrompt => self.resize_key(command),
            Mode::TypedConfirm => self.typed_confirm_key(command),
        }
    }

    fn live(&mut self, command: Command, key: KeyEvent) -> Option<Effect> {
        if let Some(effect) = self.look(command) {
            return effect;
        }
        if self.link != Link::Live {
            self.note("✗ not connected: actions wait until the daemon answers");
            return None;
        }
        let s = self.state.as_ref()?;
        match command {
            Command::WeightDown
            | Command::WeightUp
            | Command::WeightDownBig
            | Command::WeightUpBig => {
                let base = self.pending_permille.unwrap_or(s.weight_permille);
                self.propose_weight(stepped_weight(base, command))
            }
            Command::WeightDigit => {
                if let KeyCode::Char(c) = key.code {
                    self.weight_input = Some(c.to_string());
                }
                None
            }
            Command::Promote => {
                // Inside a freeze a promotion needs a reason first.
                if s.freeze.is_some() {
                    self.popup = Some(Popup::Reason {
                        purpose: ReasonFor::Promote,
                        input: String::new(),
                        error: None,
                    });
                } else {
                    let c = prompts::promote(s, None);
                    self.ask(c);
                }
                None
            }
            Command::Rollback => {
                self.popup = Some(Popup::Confirm(prompts::rollback(s)));
                None
            }
            Command::Drain => {
                let selected = if s.canary.is_some() {
                    Role::Canary
                } else {
                    Role::Stable
                };
                self.popup = Some(Popup::DrainPicker { selected });
                None
            }
            Command::PauseResume => Some(Effect::Send(prompts::pause_resume(s))),
            Command::Logs => self.open_logs(),
            Command::NewCanary => self.open_deploy(),
            Command::Scale | Command::Resize => self.open_scale_or_resize(command),
            Command::Undo => self.undo_key(),
            Command::Ack => {
                let at = self.breach_banner()?.at;
                self.acked_breach = Some(at);
                Some(Effect::Send(prompts::ack_breach()))
            }
            _ => None,
        }
    }

    /// The keys that only look (help, focus, scrolling, the guard panel,
    /// quit): they work while disconnected. `None` for the others.
    fn look(&mut self, command: Command) -> Option<Option<Effect>> {
        match command {
            Command::Help => self.popup = Some(Popup::Help { scroll: 0 }),
            Command::Quit => return Some(Some(Effect::Quit)),
            Command::Focus => self.cycle_selection(),
            Command::ScrollUp => self.scroll_events(true, 1),
            Command::ScrollDown => self.scroll_events(false, 1),
            Command::Guards => self.popup = Some(Popup::Guards(GuardsView::default())),
            _ => return None,
        }
        Some(None)
    }

    /// Send a new weight now, or ask first when the jump is large.
    pub(super) fn propose_weight(&mut self, to: u16) -> Option<Effect> {
        let s = self.state.as_ref()?;
        if !s.phase.takes_traffic() {
            self.pending_permille = None;
            self.note(format!(
                "✗ the weight moves only while a canary takes traffic (phase {})",
                s.phase
            ));
            return None;
        }
        // A big jump asks first; one towards a canary the evidence is
        // against asks for the service name (`ask` decides which).
        let risky = crate::model::risk::typed_confirmation(
            s,
            &crate::model::Action::SetWeight { permille: to },
        )
        .is_some();
        if risky || to.abs_diff(s.weight_permille) > self.confirm_jump_permille {
            let c = prompts::weight_jump(s, to, self.confirm_jump_permille);
            self.ask(c);
            return None;
        }
        if to == s.weight_permille && self.pending_permille.is_none() {
            return None;
        }
        self.pending_permille = Some(to);
        Some(Effect::Send(prompts::set_weight(to)))
    }

    fn weight_entry(&mut self, command: Command, key: KeyEvent) -> Option<Effect> {
        let input = self.weight_input.as_mut()?;
        match command {
            Command::WeightDigit => {
                if let KeyCode::Char(c) = key.code
                    && input.len() < 5
                {
                    input.push(c);
                }
                None
            }
            Command::Backspace => {
                input.pop();
                if input.is_empty() {
                    self.weight_input = None;
                }
                None
            }
            Command::Apply => {
                let typed = self.weight_input.take()?;
                match typed.parse::<f64>() {
                    Ok(p) if (0.0..=100.0).contains(&p) => {
                        self.propose_weight((p * 10.0).round() as u16)
                    }
                    _ => {
                        self.note(format!("✗ `{typed}` is not a percent between 0 and 100"));
                        None
                    }
                }
            }
            _ => {
                self.weight_input = None;
                None
            }
        }
    }

    pub(super) fn confirm(&mut self, command: Command) -> Option<Effect> {
        let Some(Popup::Confirm(c)) = self.popup.take() else {
            return None;
        };
        // A guard edit, confirmed or not, goes back to its row of the panel.
        if let Action::SetGuards { guards } = &c.action.action {
            self.popup = Some(Popup::Guards(GuardsView {
                selected: GuardKey::of(guards)
                    .and_then(|k| GuardKey::ALL.iter().position(|x| *x == k))
                    .unwrap_or(0),
                edit: None,
            }));
        }
        match command {
            Command::Confirm => {
                if let Action::SetWeight { permille } = c.action.action {
                    self.pending_permille = Some(permille);
                }
                Some(Effect::Send(c.action))
            }
            _ => {
                self.pending_permille = None;
                None
            }
        }
    }

    fn drain_picker(&mut self, command: Command) -> Option<Effect> {
        let Some(Popup::DrainPicker { selected }) = &mut self.popup else {
            return None;
        };
        match command {
            Command::Up | Command::Down => {
                *selected = match selected {
                    Role::Stable => Role::Canary,
                    Role::Canary => Role::Stable,
                };
            }
            Command::Select => {
                let role = *selected;
                let s = self.state.as_ref()?;
                if role == Role::Canary && s.canary.is_none() {
                    self.popup = None;
                    self.note("✗ there is no canary to drain");
                    return None;
                }
                // Draining stable is a promotion: inside a freeze it is
                // forced, with a reason, like `p`.
                if role == Role::Stable && s.freeze.is_some() {
                    self.popup = Some(Popup::Reason {
                        purpose: ReasonFor::DrainStable,
                        input: String::new(),
                        error: None,
                    });
                } else {
                    let c = prompts::drain(s, role, None);
                    self.ask(c);
                }
            }
            _ => self.popup = None,
        }
        None
    }

    fn logs_key(&mut self, command: Command) -> Option<Effect> {
        if !matches!(self.popup, Some(Popup::Logs(_))) {
            return None;
        }
        match command {
            Command::ScrollUp | Command::ScrollDown => {
                self.scroll_popup(command == Command::ScrollUp, 1);
            }
            Command::Focus => {
                // The next replica, across both versions, as Tab does outside.
                self.cycle_selection();
                return self.open_logs();
            }
            _ => self.popup = None,
        }
        None
    }

    /// Open (or move) the logs popup to the selected replica and ask for
    /// its lines.
    fn open_logs(&mut self) -> Option<Effect> {
        let role = self.selection.role;
        let replica = self.selected_replica().map(|r| r.id.clone());
        self.popup = Some(Popup::Logs(LogsView {
            role,
            replica: replica.clone(),
            lines: None,
            scroll: 0,
        }));
        Some(Effect::FetchLogs { role, replica })
    }

    fn reason_key(&mut self, command: Command) -> Option<Effect> {
        let Some(Popup::Reason {
            purpose,
            input,
            error,
        }) = &mut self.popup
        else {
            return None;
        };
        match command {
            Command::Backspace => {
                input.pop();
            }
            Command::Apply => {
                let reason = input.trim().to_string();
                if reason.is_empty() {
                    *error = Some(format!(
                        "a reason is required to {} inside a freeze",
                        purpose.what()
                    ));
                    return None;
                }
                let purpose = *purpose;
                let s = self.state.as_ref()?;
                let c = match purpose {
                    ReasonFor::Promote => prompts::promote(s, Some(reason)),
                    ReasonFor::DrainStable => prompts::drain(s, Role::Stable, Some(reason)),
                };
                self.ask(c);
            }
            _ => self.popup = None,
        }
        None
    }

    fn replay_key(&mut self, command: Command) -> Option<Effect> {
        match command {
            Command::ReplayPause => Some(Effect::Replay(ReplayControl::TogglePause)),
            Command::SpeedUp => Some(Effect::Replay(ReplayControl::Speed(2.0))),
            Command::SpeedDown => Some(Effect::Replay(ReplayControl::Speed(0.5))),
            Command::SeekBack => Some(Effect::Replay(ReplayControl::Seek(-10))),
            Command::SeekForward => Some(Effect::Replay(ReplayControl::Seek(10))),
            Command::Ack => {
                // Read-only: hide the banner locally, the recording is not changed.
                self.acked_breach = self.breach_banner().map(|b| b.at);
                None
            }
            Command::Help => {
                self.popup = Some(Popup::Help { scroll: 0 });
                None
            }
            Command::Guards => {
                self.popup = Some(Popup::Guards(GuardsView::default()));
                None
            }
            Command::Quit => Some(Effect::Quit),
            Command::Focus => {
                self.cycle_selection();
                None
            }
            Command::ScrollUp => {
                self.scroll_events(true, 1);
                None
            }
            Command::ScrollDown => {
                self.scroll_events(false, 1);
                None
            }
            _ => None,
        }
    }

    /// Tab: stable replica 1…n, then canary replica 1…m, then around.
    fn cycle_selection(&mut self) {
        let Some(s) = self.state.as_ref() else {
            return;
        };
        let count = |role: Role| match role {
            Role::Stable => s.stable.replicas.len().max(1),
            Role::Canary => s.canary.as_ref().map_or(0, |c| c.replicas.len().max(1)),
        };
        let Selection { role, replica } = self.selection;
        self.selection = if replica + 1 < count(role) {
            Selection {
                role,
                replica: replica + 1,
            }
        } else {
            let next = match role {
                Role::Stable if count(Role::Canary) > 0 => Role::Canary,
                _ => Role::Stable,
            };
            Selection {
                role: next,
                replica: 0,
            }
        };
    }
}

/// The weight a step key moves `base` (per mille) to: ±1 % lands on whole
/// percents whatever the starting point, ±10 % moves by ten; within 0..=1000.
fn stepped_weight(base: u16, command: Command) -> u16 {
    let base = base as i32;
    let delta: i32 = match command {
        Command::WeightDown => -10,
        Command::WeightUp => 10,
        Command::WeightDownBig => -100,
        _ => 100,
    };
    let target = if delta.abs() == 10 && base % 10 != 0 {
        if delta > 0 {
            (base / 10 + 1) * 10
        } else {
            base / 10 * 10
        }
    } else {
        base + delta
    };
    crate::model::Permille::clamped(target.into()).get()
}
