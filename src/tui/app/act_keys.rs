//! The keys that act beyond the weight: a new canary (`n`, an image
//! prompt that Tab completes), scale (`s`) and resize (`z`) of the
//! selected version, and the typed confirmation a risky action asks for.
//! Each prompt ends in a confirmation that owns the exact action, like
//! every other dangerous key (see `keys`); what a runtime cannot do is
//! said at once, before any prompt.

use super::super::keymap::Command;
use super::super::prompts::{self, Confirm};
use super::{
    App, DeployPrompt, Effect, Popup, ResizeField, ResizePrompt, ScalePrompt, TypedConfirm,
};
use crate::model::{Phase, capabilities, risk};
use crossterm::event::KeyCode;

/// Longest text a prompt takes (an image reference is at most 255 bytes
/// in practice; a name or a count far less).
const PROMPT_LIMIT: usize = 256;

impl App {
    /// Open a confirmation: the typed kind when the action is risky now
    /// (see [`risk::typed_confirmation`]), the y/N kind otherwise.
    pub(super) fn ask(&mut self, confirm: Confirm) {
        let risk = self
            .state
            .as_ref()
            .and_then(|s| risk::typed_confirmation(s, &confirm.action.action));
        self.popup = Some(match risk {
            Some(risk) => Popup::TypedConfirm(TypedConfirm {
                confirm,
                risk,
                input: String::new(),
                error: None,
            }),
            None => Popup::Confirm(confirm),
        });
    }

    /// `n`: the image prompt, when a new canary may start now.
    pub(super) fn open_deploy(&mut self) -> Option<Effect> {
        let s = self.state.as_ref()?;
        if !matches!(s.phase, Phase::Idle | Phase::Failed) {
            let running = s.canary.as_ref().map_or(String::new(), |c| {
                format!(" ({} is the canary)", prompts::describe(c))
            });
            self.note(format!(
                "✗ new canary: release {} is in progress (phase {}){running}; promote or roll back first",
                s.release, s.phase
            ));
            return None;
        }
        self.popup = Some(Popup::Deploy(DeployPrompt {
            recent: self.recent_deploys(false),
            ..DeployPrompt::default()
        }));
        Some(Effect::FetchImages)
    }

    /// `s` and `z`: the prompt for the selected version, or why not.
    pub(super) fn open_scale_or_resize(&mut self, command: Command) -> Option<Effect> {
        let s = self.state.as_ref()?;
        let role = self.selection.role;
        let can = if command == Command::Scale {
            capabilities::can_scale(s)
        } else {
            capabilities::can_resize(s)
        };
        if let Err(why) = can {
            self.note(format!("✗ {why}"));
            return None;
        }
        let Some(v) = s.version(role) else {
            self.note(format!(
                "✗ there is no {role} to change (tab selects a version)"
            ));
            return None;
        };
        self.popup = Some(if command == Command::Scale {
            Popup::Scale(ScalePrompt {
                role,
                input: v.replicas.len().to_string(),
                error: None,
            })
        } else {
            Popup::Resize(ResizePrompt {
                role,
                cpus: String::new(),
                memory: String::new(),
                field: ResizeField::Cpus,
                error: None,
            })
        });
        None
    }

    /// A character typed into one of this file's prompts; `false` when
    /// none is open.
    pub(super) fn type_into_prompt(&mut self, code: KeyCode) -> bool {
        let KeyCode::Char(c) = code else {
            return matches!(
                self.popup,
                Some(
                    Popup::Deploy(_) | Popup::Scale(_) | Popup::Resize(_) | Popup::TypedConfirm(_)
                )
            );
        };
        let (input, error) = match &mut self.popup {
            Some(Popup::Deploy(p)) => {
                // Typing after a Tab edits the candidate shown.
                if let Some(shown) = p.choice.take().and_then(|i| p.matches().get(i).cloned()) {
                    p.typed = shown;
                }
                (&mut p.typed, &mut p.error)
            }
            Some(Popup::Scale(p)) if c.is_ascii_digit() => (&mut p.input, &mut p.error),
            Some(Popup::Resize(p)) => match p.field {
                ResizeField::Cpus => (&mut p.cpus, &mut p.error),
                ResizeField::Memory => (&mut p.memory, &mut p.error),
            },
            Some(Popup::TypedConfirm(p)) => (&mut p.input, &mut p.error),
            Some(Popup::Scale(_)) => return true,
            _ => return false,
        };
        if input.chars().count() < PROMPT_LIMIT {
            input.push(c);
        }
        *error = None;
        true
    }

    pub(super) fn deploy_key(&mut self, command: Command) -> Option<Effect> {
        let Some(Popup::Deploy(p)) = &mut self.popup else {
            return None;
        };
        match command {
            Command::Complete => {
                let n = p.matches().len();
                p.choice = (n > 0).then(|| p.choice.map_or(0, |i| (i + 1) % n));
                if n == 0 {
                    p.error = Some(format!("nothing to complete `{}` with", p.typed));
                }
            }
            Command::Backspace => {
                if let Some(shown) = p.choice.take().and_then(|i| p.matches().get(i).cloned()) {
                    p.typed = shown;
                }
                p.typed.pop();
                p.error = None;
            }
            Command::Apply => {
                let image = p.input().trim().to_string();
                if image.is_empty() {
                    p.error = Some("type an image, or tab to complete one".into());
                    return None;
                }
                let facts = p.local.as_ref().and_then(|r| r.as_ref().ok()).cloned();
                self.ask(prompts::deploy(&image, facts.as_ref()));
            }
            _ => self.popup = None,
        }
        None
    }

    pub(super) fn scale_key(&mut self, command: Command) -> Option<Effect> {
        let Some(Popup::Scale(p)) = &mut self.popup else {
            return None;
        };
        match command {
            Command::Backspace => {
                p.input.pop();
                p.error = None;
            }
            Command::Apply => {
                let max = crate::plan::ranges::MAX_REPLICAS;
                match p.input.trim().parse::<u32>() {
                    Ok(n) if (1..=max).contains(&n) => {
                        let role = p.role;
                        let s = self.state.as_ref()?;
                        self.ask(prompts::scale(s, role, n));
                    }
                    _ => {
                        p.error = Some(format!(
                            "`{}` is not a replica count: a whole number 1–{max}",
                            p.input
                        ));
                    }
                }
            }
            _ => self.popup = None,
        }
        None
    }

    pub(super) fn resize_key(&mut self, command: Command) -> Option<Effect> {
        let Some(Popup::Resize(p)) = &mut self.popup else {
            return None;
        };
        match command {
            Command::Complete => {
                p.field = match p.field {
                    ResizeField::Cpus => ResizeField::Memory,
                    ResizeField::Memory => ResizeField::Cpus,
                };
            }
            Command::Backspace => {
                match p.field {
                    ResizeField::Cpus => p.cpus.pop(),
                    ResizeField::Memory => p.memory.pop(),
                };
                p.error = None;
            }
            Command::Apply => match p.limits() {
                Ok((cpus, memory)) => {
                    let role = p.role;
                    let s = self.state.as_ref()?;
                    self.ask(prompts::resize(s, role, cpus, memory));
                }
                Err(e) => p.error = Some(e),
            },
            _ => self.popup = None,
        }
        None
    }

    pub(super) fn typed_confirm_key(&mut self, command: Command) -> Option<Effect> {
        let Some(Popup::TypedConfirm(p)) = &mut self.popup else {
            return None;
        };
        match command {
            Command::Backspace => {
                p.input.pop();
                p.error = None;
                None
            }
            Command::Confirm if !p.matches() => {
                p.error = Some(format!("type `{}` to go ahead", p.risk.expect));
                None
            }
            Command::Confirm => {
                let Some(Popup::TypedConfirm(p)) = self.popup.take() else {
                    return None;
                };
                // The same path as a y/N confirmation from here on.
                self.popup = Some(Popup::Confirm(p.confirm));
                self.confirm(Command::Confirm)
            }
            _ => {
                self.popup = None;
                self.pending_permille = None;
                None
            }
        }
    }
}

impl DeployPrompt {
    /// Every candidate, best first and once: the daemon's local images,
    /// then what recent releases ran.
    pub fn candidates(&self) -> Vec<String> {
        let local = self
            .local
            .as_ref()
            .and_then(|r| r.as_ref().ok())
            .map_or(&[][..], |c| c.images.as_slice());
        let mut out: Vec<String> = Vec::new();
        for c in local.iter().chain(&self.recent) {
            if !out.contains(c) {
                out.push(c.clone());
            }
        }
        out
    }

    /// The candidates that match what was typed: those that start with it
    /// first, then those that hold it anywhere (case ignored).
    pub fn matches(&self) -> Vec<String> {
        let stem = self.typed.trim().to_lowercase();
        let (mut starts, mut holds) = (Vec::new(), Vec::new());
        for c in self.candidates() {
            let low = c.to_lowercase();
            if low.starts_with(&stem) {
                starts.push(c);
            } else if low.contains(&stem) {
                holds.push(c);
            }
        }
        starts.extend(holds);
        starts
    }

    /// What the input shows: the candidate Tab chose, else what was typed.
    pub fn input(&self) -> String {
        self.choice
            .and_then(|i| self.matches().get(i).cloned())
            .unwrap_or_else(|| self.typed.clone())
    }
}

impl ResizePrompt {
    /// The limits typed, each checked by the command line's own rules
    /// (`resize --cpus`, `--memory`): at least one, both in range.
    pub fn limits(&self) -> Result<(Option<f64>, Option<u64>), String> {
        let cpus = match self.cpus.trim() {
            "" => None,
            c => Some(crate::cli::values::cpus(c).map_err(|e| format!("cpus: {e}"))?),
        };
        let memory = match self.memory.trim() {
            "" => None,
            m => Some(
                crate::cli::values::memory(m)
                    .map_err(|e| format!("memory: {e}"))?
                    .0,
            ),
        };
        if cpus.is_none() && memory.is_none() {
            return Err("give cpus, memory (e.g. 512MiB) or both".into());
        }
        Ok((cpus, memory))
    }
}
