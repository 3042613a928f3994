//! The cockpit's pure model. [`App`] holds the last [`StateView`] the daemon
//! sent, plus view state only (graph history, the events tail, scroll
//! positions, the popup, the weight being dialled). Everything that happens
//! comes in through a method (`apply_event`, `apply_reply`, `set_link`,
//! `handle_key`, `handle_mouse`…) and anything the outside world must do
//! goes out as an [`Effect`]. No sockets, no clocks: the time shown is the
//! time of the newest event, so a replay and a snapshot test draw the same.
//!
//! The model is split along its seams: this file holds the struct and its
//! queries; `view` the view-state types, `effect` what goes out,
//! `inputs` what comes in from the daemon or player, `keys` and `mouse`
//! the operator's hands (`act_keys` the prompts of new canary, scale,
//! resize and the typed confirmation), `undo` the window after a weight
//! change or promote, `hints` what the footer and help offer them,
//! `scroll` the limits both scroll within.

mod act_keys;
#[cfg(test)]
mod act_keys_tests;
mod effect;
mod guard_keys;
#[cfg(test)]
mod guard_keys_tests;
mod hints;
mod inputs;
#[cfg(test)]
mod inputs_tests;
mod keys;
mod mouse;
#[cfg(test)]
mod mouse_tests;
mod scroll;
mod undo;
#[cfg(test)]
mod undo_tests;
mod view;
mod what_if_keys;
#[cfg(test)]
mod what_if_keys_tests;

pub use effect::{Effect, ReplayControl};
pub use undo::{UNDO_SECS, undo_hint};
pub use view::{
    Access, DeployPrompt, GuardEdit, GuardsView, Link, LogsView, MarkKind, Popup, ReasonFor,
    ReplayMark, ReplayView, ResizeField, ResizePrompt, ScalePrompt, Selection, Toast, TypedConfirm,
    UndoWindow, Undoable, WhatIf, WhatIfLine,
};

use super::config_file::Config;
use super::history::History;
use super::keymap::{Keymap, Mode};
use crate::model::{Event, ReplicaStatus, Role, StateView};
use chrono::{DateTime, Utc};
use ratatui::layout::Rect;
use std::collections::VecDeque;

/// How many journal lines the events panel keeps.
pub const EVENTS_KEPT: usize = 500;
/// How long a result message stays on screen, in seconds of event time.
pub const TOAST_SECS: i64 = 8;
/// Lines asked for when opening the logs popup.
pub const LOG_TAIL: usize = 200;

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
    /// Whether this view may act on the release (a replay may not).
    pub access: Access,
    /// Set in replay (which is read-only).
    pub replay: Option<ReplayView>,
    pub toast: Option<Toast>,
    /// The breach (by its time) whose banner the operator dismissed.
    pub acked_breach: Option<DateTime<Utc>>,
    /// Time of the newest event: the clock shown.
    pub now: Option<DateTime<Utc>>,
    /// Where the screen was last drawn (for mouse hits).
    pub size: Rect,
    /// The image pull in progress, as its last report said (`EventKind::Pull`).
    pub pull: Option<crate::model::EventKind>,
    /// The undo `u` offers, while its window lasts.
    pub undo: Option<UndoWindow>,
    /// Recent canaries seen in the state, `(image, version)`, newest
    /// first: what the deploy prompt offers besides local images.
    pub seen_canaries: Vec<(String, String)>,
    /// The applied weight when the first of the weight changes still in
    /// flight was sent: where an undo goes back to.
    weight_sent_from: Option<u16>,
    /// Opened from the fleet view: Esc (with nothing open) goes back to it.
    pub in_fleet: bool,
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
            access: Access::Operate,
            replay: None,
            toast: None,
            acked_breach: None,
            now: None,
            size: Rect::new(0, 0, 80, 24),
            pull: None,
            undo: None,
            seen_canaries: Vec::new(),
            in_fleet: false,
            weight_sent_from: None,
            dragging: false,
        }
    }

    /// A read-only app for playing a recording.
    pub fn for_replay(keymap: Keymap, config: &Config, replay: ReplayView) -> App {
        let mut app = App::new(keymap, config);
        app.replay = Some(replay);
        app.access = Access::ReadOnly;
        app.link = Link::Live;
        app
    }

    /// Whether every action (and every hint of one) is withheld.
    pub fn read_only(&self) -> bool {
        self.access == Access::ReadOnly
    }

    /// The keys in force now.
    pub fn mode(&self) -> Mode {
        match &self.popup {
            Some(Popup::Confirm(_)) => Mode::Confirm,
            Some(Popup::Help { .. }) => Mode::Help,
            Some(Popup::DrainPicker { .. }) => Mode::DrainPicker,
            // In replay the guard panel is the "what if": nothing is sent.
            Some(Popup::Guards(v)) if self.replay.is_some() && v.edit.is_some() => Mode::WhatIfEdit,
            Some(Popup::Guards(_)) if self.replay.is_some() => Mode::WhatIf,
            Some(Popup::Guards(v)) if v.edit.is_some() => Mode::GuardEdit,
            Some(Popup::Guards(_)) => Mode::Guards,
            Some(Popup::Logs(_)) => Mode::Logs,
            Some(Popup::Reason { .. }) => Mode::Reason,
            Some(Popup::Deploy(_)) => Mode::DeployPrompt,
            Some(Popup::Scale(_)) => Mode::ScalePrompt,
            Some(Popup::Resize(_)) => Mode::ResizePrompt,
            Some(Popup::TypedConfirm(_)) => Mode::TypedConfirm,
            None if self.weight_input.is_some() => Mode::WeightEntry,
            None if self.replay.is_some() => Mode::Replay,
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

    fn note(&mut self, text: impl Into<String>) {
        self.toast = Some(Toast {
            text: text.into(),
            ok: false,
            at: self.now,
        });
    }

    /// Whether any replica of the selected version exists to show.
    pub fn selected_replica(&self) -> Option<&crate::model::ReplicaView> {
        let s = self.state.as_ref()?;
        let v = s.version(self.selection.role)?;
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

/// Fixtures shared with other modules' tests (a state in a given phase).
#[cfg(test)]
pub(crate) mod tests;
