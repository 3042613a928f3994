//! The cockpit's pure model. [`App`] holds the last [`StateView`] the daemon
//! sent, plus view state only (graph history, the events tail, scroll
//! positions, the popup, the weight being dialled). Everything that happens
//! comes in through a method (`apply_event`, `apply_reply`, `set_link`,
//! `handle_key`, `handle_mouse`…) and anything the outside world must do
//! goes out as an [`Effect`]. No sockets, no clocks: the time shown is the
//! time of the newest event, so a replay and a snapshot test draw the same.

use super::config::Config;
use super::history::History;
use super::keymap::{Command, Keymap, Mode};
use super::prompts::{self, Confirm};
use crate::model::{
    Action, ActionReply, ActionRequest, Event, EventKind, Phase, ReplicaStatus, Role, StateView,
};
use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};
use std::collections::VecDeque;

/// How many journal lines the events panel keeps.
pub const EVENTS_KEPT: usize = 500;
/// How long a result message stays on screen, in seconds of event time.
pub const TOAST_SECS: i64 = 8;
/// Lines asked for when opening the logs popup.
pub const LOG_TAIL: usize = 200;

/// Something the outside world must do for the app.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Send this action to the daemon; answer with [`App::apply_reply`].
    Send(ActionRequest),
    /// Fetch the logs of a version; answer with [`App::set_logs`].
    FetchLogs {
        role: Role,
    },
    /// Steer the replay player.
    Replay(ReplayControl),
    Quit,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ReplayControl {
    TogglePause,
    /// Multiply the speed by this factor.
    Speed(f64),
    /// Seek by this many seconds (negative: back).
    Seek(i64),
}

/// The connection to the daemon as the cockpit sees it.
#[derive(Clone, Debug, PartialEq)]
pub enum Link {
    /// Never connected yet.
    Connecting,
    Live,
    /// The stream ended; the last state stays on screen, greyed.
    Lost {
        /// Next attempt in this many milliseconds.
        retry_in_ms: u64,
        attempt: u32,
        error: String,
    },
}

/// Replay progress, set by the player (positions in milliseconds from the start).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplayView {
    pub file: String,
    pub position_ms: u64,
    pub duration_ms: u64,
    pub speed: f64,
    pub paused: bool,
    /// Moments worth a mark on the timeline.
    pub marks: Vec<ReplayMark>,
    /// Corrupt journal lines skipped while reading.
    pub skipped_lines: u64,
    /// The last line was cut off mid-write (a daemon killed) and dropped.
    pub truncated_tail: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReplayMark {
    pub at_ms: u64,
    pub kind: MarkKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkKind {
    /// An operator or system action.
    Action,
    /// A guard breach.
    Breach,
}

impl ReplayView {
    /// Timeline marks from a recording's events (actions and breaches),
    /// relative to `start`.
    pub fn marks_from<'a>(
        start: DateTime<Utc>,
        events: impl IntoIterator<Item = &'a Event>,
    ) -> Vec<ReplayMark> {
        events
            .into_iter()
            .filter_map(|e| {
                let kind = match e.kind {
                    EventKind::Action { .. } => MarkKind::Action,
                    EventKind::Breach { .. } => MarkKind::Breach,
                    _ => return None,
                };
                let at_ms = (e.at - start).num_milliseconds().max(0) as u64;
                Some(ReplayMark { at_ms, kind })
            })
            .collect()
    }
}

/// The popup on top of the screen, owning whatever it is about.
#[derive(Clone, Debug, PartialEq)]
pub enum Popup {
    Confirm(Confirm),
    Help {
        scroll: u16,
    },
    DrainPicker {
        selected: Role,
    },
    Guards,
    Logs(LogsView),
    /// The reason of a forced promote inside a freeze window.
    Reason {
        input: String,
        error: Option<String>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct LogsView {
    pub role: Role,
    /// `None` while loading.
    pub lines: Option<Result<Vec<String>, String>>,
    /// Lines scrolled up from the newest.
    pub scroll: usize,
}

/// A one-line result of the last action ("✓ canary weight 5 % → 6 %").
#[derive(Clone, Debug, PartialEq)]
pub struct Toast {
    pub text: String,
    pub ok: bool,
    pub at: Option<DateTime<Utc>>,
}

/// Which version (and replica) the operator has selected with Tab.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Selection {
    pub role: Role,
    pub replica: usize,
}

/// The cockpit model.
#[derive(Clone, Debug)]
pub struct App {
    /// The last state the daemon sent (or the replay reached).
    pub state: Option<StateView>,
    pub link: Link,
    pub history: History,
    /// Journal tail, newest last (snapshots and ticks are not kept).
    pub events: VecDeque<Event>,
    /// Lines scrolled up from the newest event.
    pub events_scroll: usize,
    pub popup: Option<Popup>,
    /// The weight sent and not yet seen applied, or being dragged.
    pub pending_permille: Option<u16>,
    /// Digits typed for an exact weight.
    pub weight_input: Option<String>,
    pub selection: Selection,
    pub keymap: Keymap,
    /// Weight jumps larger than this (per mille) ask first.
    pub confirm_jump_permille: u16,
    /// Set in replay: read-only.
    pub replay: Option<ReplayView>,
    pub toast: Option<Toast>,
    /// The breach (by its time) whose banner the operator dismissed.
    pub acked_breach: Option<DateTime<Utc>>,
    /// Time of the newest event: the clock shown.
    pub now: Option<DateTime<Utc>>,
    /// Where the screen was last drawn (for mouse hits).
    pub size: Rect,
    /// Mouse drag on the slider in progress.
    dragging: bool,
}

impl Default for App {
    fn default() -> Self {
        App::new(Keymap::default(), &Config::default())
    }
}

impl App {
    pub fn new(keymap: Keymap, config: &Config) -> App {
        App {
            state: None,
            link: Link::Connecting,
            history: History::default(),
            events: VecDeque::new(),
            events_scroll: 0,
            popup: None,
            pending_permille: None,
            weight_input: None,
            selection: Selection {
                role: Role::Canary,
                replica: 0,
            },
            keymap,
            confirm_jump_permille: config.confirm_jump_permille(),
            replay: None,
            toast: None,
            acked_breach: None,
            now: None,
            size: Rect::new(0, 0, 80, 24),
            dragging: false,
        }
    }

    /// A read-only app for playing a recording.
    pub fn for_replay(keymap: Keymap, config: &Config, replay: ReplayView) -> App {
        let mut app = App::new(keymap, config);
        app.replay = Some(replay);
        app.link = Link::Live;
        app
    }

    pub fn read_only(&self) -> bool {
        self.replay.is_some()
    }

    /// The keys in force now.
    pub fn mode(&self) -> Mode {
        match &self.popup {
            Some(Popup::Confirm(_)) => Mode::Confirm,
            Some(Popup::Help { .. }) => Mode::Help,
            Some(Popup::DrainPicker { .. }) => Mode::DrainPicker,
            Some(Popup::Guards) => Mode::Guards,
            Some(Popup::Logs(_)) => Mode::Logs,
            Some(Popup::Reason { .. }) => Mode::Reason,
            None if self.weight_input.is_some() => Mode::WeightEntry,
            None if self.read_only() => Mode::Replay,
            None => Mode::Live,
        }
    }

    /// The applied canary weight, per mille.
    pub fn applied(&self) -> u16 {
        self.state.as_ref().map_or(0, |s| s.weight_permille)
    }

    /// The breach the banner shows, unless acknowledged.
    pub fn breach_banner(&self) -> Option<&crate::model::BreachView> {
        let b = self.state.as_ref()?.last_breach.as_ref()?;
        (self.acked_breach != Some(b.at)).then_some(b)
    }

    /// The toast, while it is fresh.
    pub fn live_toast(&self) -> Option<&Toast> {
        let t = self.toast.as_ref()?;
        match (t.at, self.now) {
            (Some(at), Some(now)) if (now - at).num_seconds() >= TOAST_SECS => None,
            _ => Some(t),
        }
    }

    // ---- inputs from the daemon or the player ----------------------------

    /// Take one event from the stream (or the replay).
    pub fn apply_event(&mut self, ev: &Event) {
        if self
            .now
            .is_some_and(|now| ev.at < now - chrono::Duration::seconds(1))
        {
            // Time went backwards: a replay seeking back. Start the view over.
            self.history.clear();
            self.events.clear();
            self.events_scroll = 0;
        }
        if self.now.is_none_or(|now| ev.at > now) {
            self.now = Some(ev.at);
        }
        match &ev.kind {
            EventKind::Snapshot { state } => {
                self.history.record(
                    ev.at,
                    &state.stable.stats,
                    state.canary.as_ref().map(|c| &c.stats),
                );
                self.set_state((**state).clone());
            }
            EventKind::Tick { stable, canary } => {
                self.history.record(ev.at, stable, canary.as_ref());
                if let Some(s) = self.state.as_mut() {
                    s.stable.stats = stable.clone();
                    if let (Some(c), Some(stats)) = (s.canary.as_mut(), canary) {
                        c.stats = stats.clone();
                    }
                }
            }
            EventKind::Weight { to, .. } => {
                if let Some(s) = self.state.as_mut() {
                    s.weight_permille = *to;
                }
                self.settle_pending();
                self.push_event(ev);
            }
            EventKind::Phase { to, .. } => {
                if let Some(s) = self.state.as_mut() {
                    s.phase = *to;
                }
                self.push_event(ev);
            }
            _ => self.push_event(ev),
        }
    }

    fn push_event(&mut self, ev: &Event) {
        self.events.push_back(ev.clone());
        while self.events.len() > EVENTS_KEPT {
            self.events.pop_front();
        }
        if self.events_scroll > 0 {
            // Keep the lines the operator is reading in place.
            self.events_scroll = (self.events_scroll + 1).min(self.events.len());
        }
    }

    fn set_state(&mut self, state: StateView) {
        if self.now.is_none_or(|now| state.at > now) {
            self.now = Some(state.at);
        }
        self.state = Some(state);
        self.settle_pending();
        self.clamp_selection();
    }

    /// The pending weight is done once the daemon shows it applied.
    fn settle_pending(&mut self) {
        if self.dragging {
            return;
        }
        if self.pending_permille == Some(self.applied()) {
            self.pending_permille = None;
        }
    }

    /// The daemon's answer to an action the app asked for.
    pub fn apply_reply(&mut self, req: &ActionRequest, result: Result<ActionReply, String>) {
        let at = self.now;
        // Only the answer to the newest weight settles the pending one: with
        // ←←← in flight, the first replies are already out of date.
        if let Action::SetWeight { permille } = req.action
            && (result.is_err() || self.pending_permille == Some(permille))
        {
            self.pending_permille = None;
        }
        match result {
            Ok(reply) => {
                self.toast = Some(Toast {
                    text: format!(
                        "✓ {}: {}",
                        req.action.name().replace('_', " "),
                        reply.detail
                    ),
                    ok: true,
                    at,
                });
                self.set_state(*reply.state);
            }
            Err(message) => {
                self.toast = Some(Toast {
                    text: format!("✗ {}", message),
                    ok: false,
                    at,
                });
            }
        }
    }

    pub fn set_link(&mut self, link: Link) {
        self.link = link;
    }

    pub fn set_logs(&mut self, role: Role, lines: Result<Vec<String>, String>) {
        if let Some(Popup::Logs(view)) = &mut self.popup
            && view.role == role
        {
            view.lines = Some(lines);
            view.scroll = 0;
        }
    }

    pub fn set_replay(&mut self, replay: ReplayView) {
        self.replay = Some(replay);
    }

    pub fn set_size(&mut self, width: u16, height: u16) {
        self.size = Rect::new(0, 0, width, height);
    }

    fn note(&mut self, text: impl Into<String>) {
        self.toast = Some(Toast {
            text: text.into(),
            ok: false,
            at: self.now,
        });
    }

    // ---- keys ---------------------------------------------------------------

    /// One key press. Returns what the outside world must do, if anything.
    pub fn handle_key(&mut self, key: KeyEvent) -> Option<Effect> {
        let mode = self.mode();
        let command = self.keymap.lookup(mode, &key);
        // Text inputs take every printable character the table does not claim.
        if command.is_none() {
            if let (Some(Popup::Reason { input, error }), KeyCode::Char(c)) =
                (&mut self.popup, key.code)
            {
                if input.chars().count() < 200 {
                    input.push(c);
                }
                *error = None;
            }
            return None;
        }
        let command = command?;
        match mode {
            Mode::Live => self.live(command, key),
            Mode::Replay => self.replay_key(command),
            Mode::WeightEntry => self.weight_entry(command, key),
            Mode::Confirm => self.confirm(command),
            Mode::Help => {
                if let Some(Popup::Help { scroll }) = &mut self.popup {
                    match command {
                        Command::ScrollUp => *scroll = scroll.saturating_sub(1),
                        Command::ScrollDown => *scroll = scroll.saturating_add(1),
                        _ => self.popup = None,
                    }
                }
                None
            }
            Mode::DrainPicker => self.drain_picker(command),
            Mode::Guards => match command {
                Command::ToggleMute => {
                    let s = self.state.as_ref()?;
                    self.popup = Some(Popup::Confirm(prompts::mute(s)));
                    None
                }
                _ => {
                    self.popup = None;
                    None
                }
            },
            Mode::Logs => self.logs_key(command),
            Mode::Reason => self.reason_key(command),
        }
    }

    fn live(&mut self, command: Command, key: KeyEvent) -> Option<Effect> {
        match command {
            Command::Help => {
                self.popup = Some(Popup::Help { scroll: 0 });
                return None;
            }
            Command::Quit => return Some(Effect::Quit),
            Command::Focus => {
                self.cycle_selection();
                return None;
            }
            Command::ScrollUp => {
                self.events_scroll =
                    (self.events_scroll + 1).min(self.events.len().saturating_sub(1));
                return None;
            }
            Command::ScrollDown => {
                self.events_scroll = self.events_scroll.saturating_sub(1);
                return None;
            }
            Command::Guards => {
                self.popup = Some(Popup::Guards);
                return None;
            }
            _ => {}
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
                let base = self.pending_permille.unwrap_or(s.weight_permille) as i32;
                let delta: i32 = match command {
                    Command::WeightDown => -10,
                    Command::WeightUp => 10,
                    Command::WeightDownBig => -100,
                    _ => 100,
                };
                // ±1 % lands on whole percents, whatever the starting point.
                let target = if delta.abs() == 10 && base % 10 != 0 {
                    if delta > 0 {
                        (base / 10 + 1) * 10
                    } else {
                        base / 10 * 10
                    }
                } else {
                    base + delta
                };
                self.propose_weight(target.clamp(0, 1000) as u16)
            }
            Command::WeightDigit => {
                if let KeyCode::Char(c) = key.code {
                    self.weight_input = Some(c.to_string());
                }
                None
            }
            Command::Promote => {
                if s.freeze.is_some() {
                    self.popup = Some(Popup::Reason {
                        input: String::new(),
                        error: None,
                    });
                } else {
                    self.popup = Some(Popup::Confirm(prompts::promote(s, None)));
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
            Command::Logs => {
                let role = self.selection.role;
                self.popup = Some(Popup::Logs(LogsView {
                    role,
                    lines: None,
                    scroll: 0,
                }));
                Some(Effect::FetchLogs { role })
            }
            Command::Ack => {
                let at = self.breach_banner()?.at;
                self.acked_breach = Some(at);
                Some(Effect::Send(prompts::ack_breach()))
            }
            _ => None,
        }
    }

    /// Send a new weight now, or ask first when the jump is large.
    fn propose_weight(&mut self, to: u16) -> Option<Effect> {
        let s = self.state.as_ref()?;
        if !matches!(s.phase, Phase::Canary | Phase::Paused) {
            self.pending_permille = None;
            self.note(format!(
                "✗ the weight moves only while a canary takes traffic (phase {})",
                s.phase
            ));
            return None;
        }
        if to.abs_diff(s.weight_permille) > self.confirm_jump_permille {
            self.popup = Some(Popup::Confirm(prompts::weight_jump(
                s,
                to,
                self.confirm_jump_permille,
            )));
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

    fn confirm(&mut self, command: Command) -> Option<Effect> {
        let Some(Popup::Confirm(c)) = self.popup.take() else {
            return None;
        };
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
                self.popup = Some(Popup::Confirm(prompts::drain(s, role)));
            }
            _ => self.popup = None,
        }
        None
    }

    fn logs_key(&mut self, command: Command) -> Option<Effect> {
        let Some(Popup::Logs(view)) = &mut self.popup else {
            return None;
        };
        match command {
            Command::ScrollUp => view.scroll += 1,
            Command::ScrollDown => view.scroll = view.scroll.saturating_sub(1),
            Command::Focus => {
                let role = match view.role {
                    Role::Stable => Role::Canary,
                    Role::Canary => Role::Stable,
                };
                *view = LogsView {
                    role,
                    lines: None,
                    scroll: 0,
                };
                return Some(Effect::FetchLogs { role });
            }
            _ => self.popup = None,
        }
        None
    }

    fn reason_key(&mut self, command: Command) -> Option<Effect> {
        let Some(Popup::Reason { input, error }) = &mut self.popup else {
            return None;
        };
        match command {
            Command::Backspace => {
                input.pop();
            }
            Command::Apply => {
                let reason = input.trim().to_string();
                if reason.is_empty() {
                    *error = Some("a reason is required to promote inside a freeze".into());
                    return None;
                }
                let s = self.state.as_ref()?;
                self.popup = Some(Popup::Confirm(prompts::promote(s, Some(reason))));
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
            Command::Quit => Some(Effect::Quit),
            Command::Focus => {
                self.cycle_selection();
                None
            }
            Command::ScrollUp => {
                self.events_scroll =
                    (self.events_scroll + 1).min(self.events.len().saturating_sub(1));
                None
            }
            Command::ScrollDown => {
                self.events_scroll = self.events_scroll.saturating_sub(1);
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

    fn clamp_selection(&mut self) {
        let Some(s) = self.state.as_ref() else {
            return;
        };
        if self.selection.role == Role::Canary && s.canary.is_none() {
            self.selection = Selection {
                role: Role::Stable,
                replica: 0,
            };
        }
        let n = match self.selection.role {
            Role::Stable => s.stable.replicas.len(),
            Role::Canary => s.canary.as_ref().map_or(0, |c| c.replicas.len()),
        };
        if self.selection.replica >= n {
            self.selection.replica = n.saturating_sub(1);
        }
    }

    // ---- mouse --------------------------------------------------------------

    /// Click or drag the slider to dial a weight (sent on release, asking first
    /// when the jump is large); the wheel scrolls the events panel or a popup.
    pub fn handle_mouse(&mut self, ev: MouseEvent) -> Option<Effect> {
        let pos = Position::new(ev.column, ev.row);
        let areas = super::components::layout::areas(self, self.size);
        match ev.kind {
            MouseEventKind::ScrollUp | MouseEventKind::ScrollDown => {
                let up = ev.kind == MouseEventKind::ScrollUp;
                match &mut self.popup {
                    Some(Popup::Logs(v)) => {
                        v.scroll = if up {
                            v.scroll + 3
                        } else {
                            v.scroll.saturating_sub(3)
                        }
                    }
                    Some(Popup::Help { scroll }) => {
                        *scroll = if up {
                            scroll.saturating_sub(3)
                        } else {
                            scroll.saturating_add(3)
                        }
                    }
                    Some(_) => {}
                    None if areas.events.contains(pos) => {
                        self.events_scroll = if up {
                            (self.events_scroll + 3).min(self.events.len().saturating_sub(1))
                        } else {
                            self.events_scroll.saturating_sub(3)
                        }
                    }
                    None => {}
                }
                None
            }
            _ if self.popup.is_some() || self.read_only() || self.link != Link::Live => None,
            MouseEventKind::Down(MouseButton::Left) | MouseEventKind::Drag(MouseButton::Left) => {
                let track = super::components::slider::track(areas.slider);
                if !self.dragging && !track.contains(pos) {
                    return None;
                }
                self.dragging = true;
                let x = ev.column.clamp(track.x, track.right().saturating_sub(1)) - track.x;
                let span = track.width.saturating_sub(1).max(1) as u32;
                // Whole percents: a mouse is not precise enough for per mille.
                let pct = (x as u32 * 100 + span / 2) / span;
                self.pending_permille = Some((pct * 10) as u16);
                None
            }
            MouseEventKind::Up(MouseButton::Left) if self.dragging => {
                self.dragging = false;
                let to = self.pending_permille?;
                if to == self.applied() {
                    self.pending_permille = None;
                    return None;
                }
                let effect = self.propose_weight(to);
                if effect.is_none() && !matches!(self.popup, Some(Popup::Confirm(_))) {
                    self.pending_permille = None;
                }
                effect
            }
            _ => None,
        }
    }

    /// Whether any replica of the selected version exists to show.
    pub fn selected_replica(&self) -> Option<&crate::model::ReplicaView> {
        let s = self.state.as_ref()?;
        let v = match self.selection.role {
            Role::Stable => Some(&s.stable),
            Role::Canary => s.canary.as_ref(),
        }?;
        v.replicas.get(self.selection.replica)
    }
}

/// Whether a replica counts as in trouble (drawn with the `bad` colour).
pub fn replica_bad(status: ReplicaStatus) -> bool {
    matches!(
        status,
        ReplicaStatus::Unhealthy | ReplicaStatus::Exited | ReplicaStatus::OomKilled
    )
}

#[cfg(test)]
#[path = "app_tests.rs"]
mod tests;
