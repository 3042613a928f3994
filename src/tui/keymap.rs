//! The one key table: mode × key → command, with the hint text. The same
//! table drives key handling ([`Keymap::lookup`]), the footer
//! ([`Keymap::footer`]) and the `?` help screen ([`Keymap::help`]), so a
//! rebinding from the config file (`[keys] promote = "P"`) shows up
//! everywhere at once.
//!
//! Over 500 lines on purpose: the table is the point of the file, and a
//! key's binding, name and hint belong on one screen with every other
//! key's, so a clash is seen where it is made.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use std::collections::BTreeMap;

/// Which keys are live. One popup at a time; the popup's mode wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    /// Attached to a daemon, no popup.
    Live,
    /// Playing a recording: read-only.
    Replay,
    /// Typing an exact weight after a digit.
    WeightEntry,
    /// A confirmation popup owns an action.
    Confirm,
    Help,
    DrainPicker,
    Guards,
    /// Typing a new guard threshold in the guard panel.
    GuardEdit,
    Logs,
    /// Typing the reason of a forced promote or drain.
    Reason,
    /// Replay: the guard panel in its "what if" form (edits stay in the
    /// replay and mark the timeline; nothing is sent).
    WhatIf,
    /// Replay: typing a "what if" threshold.
    WhatIfEdit,
    /// Typing the image (or version) of a new canary, Tab completing it.
    DeployPrompt,
    /// Typing how many replicas a version should run.
    ScalePrompt,
    /// Typing a version's new CPU and memory limits.
    ResizePrompt,
    /// A risky action: typing the service name to confirm it.
    TypedConfirm,
}

impl Mode {
    pub fn title(self) -> &'static str {
        match self {
            Mode::Live => "cockpit",
            Mode::Replay => "replay",
            Mode::WeightEntry => "typing a weight",
            Mode::Confirm => "confirmation",
            Mode::Help => "help",
            Mode::DrainPicker => "drain: pick a version",
            Mode::Guards => "guards",
            Mode::GuardEdit => "editing a guard",
            Mode::Logs => "logs",
            Mode::Reason => "reason",
            Mode::WhatIf => "what if (replay)",
            Mode::WhatIfEdit => "what if: typing a threshold",
            Mode::DeployPrompt => "new canary: typing its image",
            Mode::ScalePrompt => "scale: typing the replicas",
            Mode::ResizePrompt => "resize: typing the limits",
            Mode::TypedConfirm => "confirmation by typing the service name",
        }
    }
}

/// What a key asks for. Names (see [`Command::name`]) are what the config
/// file's `[keys]` table uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Command {
    WeightDown,
    WeightUp,
    WeightDownBig,
    WeightUpBig,
    /// A digit starts (or continues) typing an exact weight.
    WeightDigit,
    Promote,
    Rollback,
    Drain,
    PauseResume,
    Guards,
    Logs,
    Focus,
    ScrollUp,
    ScrollDown,
    Ack,
    Help,
    Quit,
    Confirm,
    Cancel,
    Apply,
    Backspace,
    Up,
    Down,
    Select,
    ToggleMute,
    Close,
    ReplayPause,
    SpeedUp,
    SpeedDown,
    SeekBack,
    SeekForward,
    /// Replay: back to the recorded thresholds.
    ClearWhatIf,
    /// Deploy a new canary (opens the image prompt).
    NewCanary,
    /// Change how many replicas the selected version runs.
    Scale,
    /// Change the selected version's CPU and memory limits.
    Resize,
    /// Take back the weight change or promote just sent, while its window lasts.
    Undo,
    /// In a prompt: complete the image, or go to the next field.
    Complete,
}

impl Command {
    pub const ALL: [Command; 37] = [
        Command::WeightDown,
        Command::WeightUp,
        Command::WeightDownBig,
        Command::WeightUpBig,
        Command::WeightDigit,
        Command::Promote,
        Command::Rollback,
        Command::Drain,
        Command::PauseResume,
        Command::Guards,
        Command::Logs,
        Command::Focus,
        Command::ScrollUp,
        Command::ScrollDown,
        Command::Ack,
        Command::Help,
        Command::Quit,
        Command::Confirm,
        Command::Cancel,
        Command::Apply,
        Command::Backspace,
        Command::Up,
        Command::Down,
        Command::Select,
        Command::ToggleMute,
        Command::Close,
        Command::ReplayPause,
        Command::SpeedUp,
        Command::SpeedDown,
        Command::SeekBack,
        Command::SeekForward,
        Command::ClearWhatIf,
        Command::NewCanary,
        Command::Scale,
        Command::Resize,
        Command::Undo,
        Command::Complete,
    ];

    /// The name used in `[keys]` of the config file.
    pub fn name(self) -> &'static str {
        match self {
            Command::WeightDown => "weight_down",
            Command::WeightUp => "weight_up",
            Command::WeightDownBig => "weight_down_big",
            Command::WeightUpBig => "weight_up_big",
            Command::WeightDigit => "weight_digit",
            Command::Promote => "promote",
            Command::Rollback => "rollback",
            Command::Drain => "drain",
            Command::PauseResume => "pause_resume",
            Command::Guards => "guards",
            Command::Logs => "logs",
            Command::Focus => "focus",
            Command::ScrollUp => "scroll_up",
            Command::ScrollDown => "scroll_down",
            Command::Ack => "ack",
            Command::Help => "help",
            Command::Quit => "quit",
            Command::Confirm => "confirm",
            Command::Cancel => "cancel",
            Command::Apply => "apply",
            Command::Backspace => "backspace",
            Command::Up => "up",
            Command::Down => "down",
            Command::Select => "select",
            Command::ToggleMute => "toggle_mute",
            Command::Close => "close",
            Command::ReplayPause => "replay_pause",
            Command::SpeedUp => "speed_up",
            Command::SpeedDown => "speed_down",
            Command::SeekBack => "seek_back",
            Command::SeekForward => "seek_forward",
            Command::ClearWhatIf => "clear_what_if",
            Command::NewCanary => "new_canary",
            Command::Scale => "scale",
            Command::Resize => "resize",
            Command::Undo => "undo",
            Command::Complete => "complete",
        }
    }

    pub fn from_name(name: &str) -> Option<Command> {
        Command::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Whether this command, in `mode`, acts on the release (or goes on
    /// towards an action: typing a weight, confirming, picking what to
    /// drain). A read-only view offers none of these, nor hints at them.
    pub fn acts(self, mode: Mode) -> bool {
        match self {
            Command::WeightDown
            | Command::WeightUp
            | Command::WeightDownBig
            | Command::WeightUpBig
            | Command::WeightDigit
            | Command::Promote
            | Command::Rollback
            | Command::Drain
            | Command::PauseResume
            | Command::Confirm
            | Command::ToggleMute
            | Command::NewCanary
            | Command::Scale
            | Command::Resize
            | Command::Undo
            | Command::Complete => true,
            // The replay's "what if" applies to the replay alone.
            Command::Apply => mode != Mode::WhatIfEdit,
            // In the cockpit `a` acknowledges the breach in the daemon (a
            // journaled action); in a replay it only hides the banner.
            Command::Ack => mode == Mode::Live,
            // Picking what to drain, or which threshold to edit.
            Command::Select => matches!(mode, Mode::DrainPicker | Mode::Guards),
            _ => false,
        }
    }
}

/// A key as the table knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyPattern {
    /// One key with exact modifiers (SHIFT is ignored for characters: `P` is shift+p).
    Key(KeyCode, KeyModifiers),
    /// Any of `0`–`9`.
    Digit,
}

impl KeyPattern {
    fn matches(&self, ev: &KeyEvent) -> bool {
        let (code, mods) = normalise(ev);
        match self {
            KeyPattern::Digit => {
                matches!(code, KeyCode::Char(c) if c.is_ascii_digit()) && mods.is_empty()
            }
            KeyPattern::Key(c, m) => *c == code && *m == mods,
        }
    }

    /// How the key is shown in hints: `←`, `⇧→`, `space`, `⏎`, `^C`, `0-9`.
    pub fn display(&self) -> String {
        let (code, mods) = match self {
            KeyPattern::Digit => return "0-9".into(),
            KeyPattern::Key(c, m) => (*c, *m),
        };
        let mut s = String::new();
        if mods.contains(KeyModifiers::CONTROL) {
            s.push('^');
        }
        if mods.contains(KeyModifiers::ALT) {
            s.push_str("M-");
        }
        if mods.contains(KeyModifiers::SHIFT) {
            s.push('⇧');
        }
        s.push_str(&match code {
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Enter => "⏎".into(),
            KeyCode::Esc => "esc".into(),
            KeyCode::Tab => "tab".into(),
            KeyCode::BackTab => "⇧tab".into(),
            KeyCode::Backspace => "⌫".into(),
            KeyCode::PageUp => "pgup".into(),
            KeyCode::PageDown => "pgdn".into(),
            KeyCode::Home => "home".into(),
            KeyCode::End => "end".into(),
            KeyCode::F(n) => format!("F{n}"),
            KeyCode::Char(' ') => "space".into(),
            KeyCode::Char(c) if mods.contains(KeyModifiers::CONTROL) => {
                c.to_ascii_uppercase().to_string()
            }
            KeyCode::Char(c) => c.to_string(),
            other => format!("{other:?}"),
        });
        s
    }

    /// Parse `P`, `shift+left`, `ctrl+c`, `space`, `enter`, `esc`, `f1`, `0-9`.
    pub fn parse(s: &str) -> Result<KeyPattern, String> {
        let s = s.trim();
        if s == "0-9" {
            return Ok(KeyPattern::Digit);
        }
        let mut mods = KeyModifiers::NONE;
        let mut rest = s;
        // A lone "+" or "-" is a key, not a separator.
        while let Some((m, r)) = rest.split_once('+').filter(|(_, r)| !r.is_empty()) {
            match m.to_ascii_lowercase().as_str() {
                "ctrl" | "control" => mods |= KeyModifiers::CONTROL,
                "shift" => mods |= KeyModifiers::SHIFT,
                "alt" | "meta" => mods |= KeyModifiers::ALT,
                other => {
                    return Err(format!(
                        "unknown modifier `{other}` in key `{s}`: expected ctrl+, shift+ or alt+ before a key"
                    ));
                }
            }
            rest = r;
        }
        let lower = rest.to_ascii_lowercase();
        let code = match lower.as_str() {
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "enter" | "return" => KeyCode::Enter,
            "esc" | "escape" => KeyCode::Esc,
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "backspace" => KeyCode::Backspace,
            "space" => KeyCode::Char(' '),
            "pageup" | "pgup" => KeyCode::PageUp,
            "pagedown" | "pgdn" => KeyCode::PageDown,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            f if f.len() >= 2
                && f.starts_with('f')
                && f[1..].chars().all(|c| c.is_ascii_digit()) =>
            {
                KeyCode::F(f[1..].parse().map_err(|_| format!("bad key `{s}`"))?)
            }
            _ => {
                let mut chars = rest.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => {
                        let c = if mods.contains(KeyModifiers::SHIFT) && c.is_ascii_alphabetic() {
                            mods.remove(KeyModifiers::SHIFT);
                            c.to_ascii_uppercase()
                        } else {
                            c
                        };
                        KeyCode::Char(c)
                    }
                    _ => {
                        return Err(format!(
                            "unknown key `{s}`: use one character, or left/right/up/down/enter/esc/tab/space/backspace/f1…, with ctrl+/shift+/alt+"
                        ));
                    }
                }
            }
        };
        if let KeyCode::Char(_) = code {
            mods.remove(KeyModifiers::SHIFT);
        }
        Ok(KeyPattern::Key(code, mods))
    }
}

fn normalise(ev: &KeyEvent) -> (KeyCode, KeyModifiers) {
    let mut mods = ev.modifiers & (KeyModifiers::CONTROL | KeyModifiers::SHIFT | KeyModifiers::ALT);
    if let KeyCode::Char(_) = ev.code {
        // The character already says whether shift was held.
        mods.remove(KeyModifiers::SHIFT);
    }
    (ev.code, mods)
}

/// One row of the table.
#[derive(Clone, Debug, PartialEq)]
pub struct Binding {
    pub mode: Mode,
    pub command: Command,
    pub keys: Vec<KeyPattern>,
    /// What it does, in a few words (footer and help).
    pub hint: &'static str,
    /// Short hint when shown in the footer (the rest only in help).
    pub footer: Option<&'static str>,
}

/// One default row: (mode, command, keys, hint, short hint when in the footer).
type DefaultRow = (
    Mode,
    Command,
    &'static [&'static str],
    &'static str,
    Option<&'static str>,
);

/// The defaults, one [`DefaultRow`] each.
/// Footer order is importance order: what does not fit is dropped from the end.
#[rustfmt::skip]
const DEFAULTS: &[DefaultRow] = &[
    (Mode::Live, Command::WeightDown, &["left"], "canary −1 %", Some("±1 %")),
    (Mode::Live, Command::WeightUp, &["right"], "canary +1 %", Some("±1 %")),
    (Mode::Live, Command::WeightDownBig, &["shift+left"], "canary −10 %", None),
    (Mode::Live, Command::WeightUpBig, &["shift+right"], "canary +10 %", None),
    (Mode::Live, Command::WeightDigit, &["0-9"], "type an exact weight, ⏎ applies", None),
    (Mode::Live, Command::Promote, &["p"], "promote", Some("promote")),
    (Mode::Live, Command::Rollback, &["r"], "rollback", Some("rollback")),
    (Mode::Live, Command::PauseResume, &["space"], "pause/resume", Some("pause")),
    (Mode::Live, Command::Quit, &["q", "ctrl+c"], "quit (traffic keeps flowing)", Some("quit")),
    (Mode::Live, Command::Drain, &["d"], "drain…", Some("drain")),
    (Mode::Live, Command::Guards, &["g"], "guards", Some("guards")),
    (Mode::Live, Command::Logs, &["L"], "logs of the selected replica (tab selects)", Some("logs")),
    (Mode::Live, Command::NewCanary, &["n"], "new canary: deploy an image (tab completes)…", None),
    (Mode::Live, Command::Scale, &["s"], "scale the selected version (tab selects)…", None),
    (Mode::Live, Command::Resize, &["z"], "resize the selected version's cpus/memory…", None),
    (Mode::Live, Command::Undo, &["u"], "undo the weight change or promote just sent (10 s)", None),
    (Mode::Live, Command::Focus, &["tab"], "select version/replica", None),
    (Mode::Live, Command::ScrollUp, &["up", "k"], "scroll events up", None),
    (Mode::Live, Command::ScrollDown, &["down", "j"], "scroll events down", None),
    (Mode::Live, Command::Ack, &["a"], "acknowledge breach banner", None),
    (Mode::Live, Command::Help, &["?"], "help", Some("help")),
    (Mode::Replay, Command::ReplayPause, &["space"], "pause/play", Some("pause")),
    (Mode::Replay, Command::SpeedDown, &["-"], "slower", Some("speed")),
    (Mode::Replay, Command::SpeedUp, &["+", "="], "faster", Some("speed")),
    (Mode::Replay, Command::SeekBack, &["left"], "back 10 s", Some("seek ±10 s")),
    (Mode::Replay, Command::SeekForward, &["right"], "ahead 10 s", Some("seek ±10 s")),
    (Mode::Replay, Command::Quit, &["q", "ctrl+c"], "quit", Some("quit")),
    (Mode::Replay, Command::Guards, &["g"], "what if: edit a guard threshold, see where it would trip (nothing is sent)", Some("what if…")),
    (Mode::Replay, Command::Focus, &["tab"], "select version/replica", None),
    (Mode::Replay, Command::ScrollUp, &["up", "k"], "scroll events up", None),
    (Mode::Replay, Command::ScrollDown, &["down", "j"], "scroll events down", None),
    (Mode::Replay, Command::Ack, &["a"], "hide breach banner", None),
    (Mode::Replay, Command::Help, &["?"], "help", Some("help")),
    (Mode::WeightEntry, Command::WeightDigit, &["0-9", "."], "type the canary percent", Some("type the canary percent")),
    (Mode::WeightEntry, Command::Backspace, &["backspace"], "erase", None),
    (Mode::WeightEntry, Command::Apply, &["enter"], "apply", Some("apply")),
    (Mode::WeightEntry, Command::Cancel, &["esc"], "cancel", Some("cancel")),
    (Mode::Confirm, Command::Confirm, &["enter", "y"], "yes, do it", Some("yes, do it")),
    (Mode::Confirm, Command::Cancel, &["esc", "n"], "no, cancel", Some("no, cancel")),
    (Mode::Help, Command::ScrollUp, &["up", "k"], "scroll", None),
    (Mode::Help, Command::ScrollDown, &["down", "j"], "scroll", None),
    (Mode::Help, Command::Close, &["esc", "?", "q"], "close", Some("close")),
    (Mode::DrainPicker, Command::Up, &["up", "k"], "previous", Some("choose")),
    (Mode::DrainPicker, Command::Down, &["down", "j", "tab"], "next", Some("choose")),
    (Mode::DrainPicker, Command::Select, &["enter"], "drain this one…", Some("drain this one…")),
    (Mode::DrainPicker, Command::Cancel, &["esc", "q"], "cancel", Some("cancel")),
    (Mode::Guards, Command::Up, &["up", "k"], "previous threshold", Some("choose")),
    (Mode::Guards, Command::Down, &["down", "j", "tab"], "next threshold", Some("choose")),
    (Mode::Guards, Command::Select, &["enter"], "edit the threshold… (on breach: switch…)", Some("edit…")),
    (Mode::Guards, Command::ToggleMute, &["m"], "mute/unmute all guards…", Some("mute/unmute…")),
    (Mode::Guards, Command::Close, &["esc", "g", "q"], "close", Some("close")),
    (Mode::GuardEdit, Command::Apply, &["enter"], "check, then confirm…", Some("confirm…")),
    (Mode::GuardEdit, Command::Backspace, &["backspace"], "erase", None),
    (Mode::GuardEdit, Command::Cancel, &["esc"], "back to the list", Some("back")),
    (Mode::Logs, Command::ScrollUp, &["up", "k"], "older", Some("scroll")),
    (Mode::Logs, Command::ScrollDown, &["down", "j"], "newer", Some("scroll")),
    (Mode::Logs, Command::Focus, &["tab"], "next replica", Some("next replica")),
    (Mode::Logs, Command::Close, &["esc", "L", "q"], "close", Some("close")),
    (Mode::Reason, Command::Apply, &["enter"], "continue", Some("continue")),
    (Mode::Reason, Command::Backspace, &["backspace"], "erase", None),
    (Mode::Reason, Command::Cancel, &["esc"], "cancel", Some("cancel")),
    (Mode::WhatIf, Command::Up, &["up", "k"], "previous threshold", Some("choose")),
    (Mode::WhatIf, Command::Down, &["down", "j", "tab"], "next threshold", Some("choose")),
    (Mode::WhatIf, Command::Select, &["enter"], "edit the threshold (on breach: switch)", Some("edit…")),
    (Mode::WhatIf, Command::ClearWhatIf, &["x"], "back to the recorded thresholds", Some("clear")),
    (Mode::WhatIf, Command::Close, &["esc", "g", "q"], "close (the timeline keeps the marks)", Some("close")),
    (Mode::WhatIfEdit, Command::Apply, &["enter"], "check, then mark the timeline", Some("mark the timeline")),
    (Mode::WhatIfEdit, Command::Backspace, &["backspace"], "erase", None),
    (Mode::WhatIfEdit, Command::Cancel, &["esc"], "back to the list", Some("back")),
    (Mode::DeployPrompt, Command::Complete, &["tab"], "complete from local images and recent deploys (again: next)", Some("complete")),
    (Mode::DeployPrompt, Command::Apply, &["enter"], "check, then confirm…", Some("confirm…")),
    (Mode::DeployPrompt, Command::Backspace, &["backspace"], "erase", None),
    (Mode::DeployPrompt, Command::Cancel, &["esc"], "cancel", Some("cancel")),
    (Mode::ScalePrompt, Command::Apply, &["enter"], "check, then confirm…", Some("confirm…")),
    (Mode::ScalePrompt, Command::Backspace, &["backspace"], "erase", None),
    (Mode::ScalePrompt, Command::Cancel, &["esc"], "cancel", Some("cancel")),
    (Mode::ResizePrompt, Command::Complete, &["tab"], "next field (cpus, memory)", Some("next field")),
    (Mode::ResizePrompt, Command::Apply, &["enter"], "check, then confirm…", Some("confirm…")),
    (Mode::ResizePrompt, Command::Backspace, &["backspace"], "erase", None),
    (Mode::ResizePrompt, Command::Cancel, &["esc"], "cancel", Some("cancel")),
    (Mode::TypedConfirm, Command::Confirm, &["enter"], "yes, do it (once the name matches)", Some("yes, do it")),
    (Mode::TypedConfirm, Command::Backspace, &["backspace"], "erase", None),
    (Mode::TypedConfirm, Command::Cancel, &["esc"], "no, cancel", Some("no, cancel")),
];

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum KeymapError {
    #[error("[keys] {name}: no such command; commands are {all}")]
    UnknownCommand { name: String, all: String },
    #[error("[keys] {name} = \"{key}\": {detail}")]
    BadKey {
        name: String,
        key: String,
        detail: String,
    },
    #[error(
        "[keys] {name} = \"{key}\": in {mode} that key already means `{other}`; rebind `{other}` too"
    )]
    Conflict {
        name: String,
        key: String,
        mode: &'static str,
        other: &'static str,
    },
}

/// The table in force.
#[derive(Clone, Debug, PartialEq)]
pub struct Keymap {
    bindings: Vec<Binding>,
}

impl Default for Keymap {
    fn default() -> Self {
        Keymap {
            bindings: DEFAULTS
                .iter()
                .map(|(mode, command, keys, hint, footer)| Binding {
                    mode: *mode,
                    command: *command,
                    keys: keys
                        .iter()
                        .map(|k| KeyPattern::parse(k).expect("default keys parse"))
                        .collect(),
                    hint,
                    footer: *footer,
                })
                .collect(),
        }
    }
}

impl Keymap {
    /// The defaults with the config file's `[keys]` applied: each named
    /// command gets exactly the given key, in every mode that has it.
    pub fn with_overrides(overrides: &BTreeMap<String, String>) -> Result<Keymap, KeymapError> {
        let mut map = Keymap::default();
        for (name, key) in overrides {
            let command = Command::from_name(name).ok_or_else(|| KeymapError::UnknownCommand {
                name: name.clone(),
                all: Command::ALL.map(|c| c.name()).join(", "),
            })?;
            let pattern = KeyPattern::parse(key).map_err(|detail| KeymapError::BadKey {
                name: name.clone(),
                key: key.clone(),
                detail,
            })?;
            for b in map.bindings.iter_mut().filter(|b| b.command == command) {
                b.keys = vec![pattern];
            }
        }
        // A rebinding must not shadow another command of the same mode.
        for b in &map.bindings {
            for other in &map.bindings {
                if b.mode == other.mode
                    && b.command != other.command
                    && overrides.contains_key(b.command.name())
                    && b.keys.iter().any(|k| other.keys.contains(k))
                {
                    return Err(KeymapError::Conflict {
                        name: b.command.name().to_string(),
                        key: overrides[b.command.name()].clone(),
                        mode: b.mode.title(),
                        other: other.command.name(),
                    });
                }
            }
        }
        Ok(map)
    }

    /// The command `ev` means in `mode`, if any. Key releases mean nothing.
    pub fn lookup(&self, mode: Mode, ev: &KeyEvent) -> Option<Command> {
        if ev.kind == KeyEventKind::Release {
            return None;
        }
        self.bindings
            .iter()
            .filter(|b| b.mode == mode)
            .find(|b| b.keys.iter().any(|k| k.matches(ev)))
            .map(|b| b.command)
    }

    /// The bindings of one mode, in table order.
    pub fn mode(&self, mode: Mode) -> impl Iterator<Item = &Binding> {
        self.bindings.iter().filter(move |b| b.mode == mode)
    }

    /// The first key of `command` in `mode`, as shown to people.
    pub fn key_for(&self, mode: Mode, command: Command) -> Option<String> {
        self.mode(mode)
            .find(|b| b.command == command)
            .and_then(|b| b.keys.first())
            .map(KeyPattern::display)
    }

    /// Footer hints of a mode: `(keys, short hint)`, the important ones
    /// first; two neighbours with the same short hint share one entry
    /// (`←/→ ±1 %`).
    pub fn footer(&self, mode: Mode) -> Vec<(String, &'static str)> {
        self.footer_where(mode, |_| true)
    }

    /// [`Keymap::footer`] of the bindings whose command `keep` keeps.
    pub fn footer_where(
        &self,
        mode: Mode,
        keep: impl Fn(Command) -> bool,
    ) -> Vec<(String, &'static str)> {
        let mut out: Vec<(String, &'static str)> = Vec::new();
        for b in self.mode(mode).filter(|b| keep(b.command)) {
            let Some(short) = b.footer else { continue };
            match out.last_mut() {
                Some((keys, last)) if *last == short => {
                    keys.push('/');
                    keys.push_str(&display_keys(b));
                }
                _ => out.push((display_keys(b), short)),
            }
        }
        out
    }

    /// Every mode's bindings, for the help screen.
    pub fn help(&self, modes: &[Mode]) -> Vec<(Mode, Vec<(String, &'static str)>)> {
        self.help_where(modes, |_, _| true)
    }

    /// [`Keymap::help`] of the bindings `keep` keeps; a mode left with
    /// none is left out.
    pub fn help_where(
        &self,
        modes: &[Mode],
        keep: impl Fn(Mode, Command) -> bool,
    ) -> Vec<(Mode, Vec<(String, &'static str)>)> {
        modes
            .iter()
            .map(|m| {
                let rows = self
                    .mode(*m)
                    .filter(|b| keep(*m, b.command))
                    .map(|b| (display_keys(b), b.hint))
                    .collect::<Vec<_>>();
                (*m, rows)
            })
            .filter(|(_, rows)| !rows.is_empty())
            .collect()
    }
}

fn display_keys(b: &Binding) -> String {
    // ←/→ and ⇧←/⇧→ read better joined.
    b.keys
        .iter()
        .map(KeyPattern::display)
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
#[path = "keymap_tests.rs"]
mod tests;
