//! Inputs from the daemon or the replay player: events, action replies,
//! the link, logs, the screen size. Each folds into the model; none does
//! I/O. Kept apart from key and mouse handling because this is the half of
//! the model a replay drives too.

use super::{App, EVENTS_KEPT, Link, Popup, ReplayView, Selection, Toast};

/// How many versions the deploy prompt remembers having seen.
const RECENT_KEPT: usize = 8;
use crate::model::{Action, ActionReply, ActionRequest, Event, EventKind, Role, StateView};
use ratatui::layout::Rect;

impl App {
    /// Take one event from the stream (or the replay).
    ///
    /// A journal event older than the state on screen is history (the
    /// backlog the daemon sends after the snapshot on attach): it goes into
    /// the events panel, in order and once (a reconnect sends it again),
    /// and changes nothing else — the snapshot already holds its effect.
    /// A tick older than the state on screen is the graph backlog: it fills
    /// in the graphs' past and changes nothing else. A snapshot, or a tick
    /// with no state on screen, that goes back in time is a replay seeking
    /// back (the player always sends a snapshot first): the view starts over.
    pub fn apply_event(&mut self, ev: &Event) {
        self.fold_event(ev);
        self.settle_undo();
    }

    fn fold_event(&mut self, ev: &Event) {
        let journal = !matches!(ev.kind, EventKind::Snapshot { .. } | EventKind::Tick { .. });
        let past = self.state.as_ref().is_some_and(|s| ev.at < s.at);
        if journal && past {
            // An old pull's progress is no news; its last report is.
            if !matches!(ev.kind, EventKind::Pull { done: false, .. }) {
                self.push_history(ev);
            }
            return;
        }
        if let (EventKind::Tick { stable, canary, .. }, true) = (&ev.kind, past) {
            self.history.backfill(ev.at, stable, canary.as_ref());
            return;
        }
        if !journal
            && self
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
        if let EventKind::Snapshot { state } = &ev.kind {
            self.history.record(
                ev.at,
                &state.stable.stats,
                state.canary.as_ref().map(|c| &c.stats),
            );
            self.set_state((**state).clone());
            return;
        }
        // The state changes as the journal player changes it: one reducer.
        if let Some(s) = self.state.as_mut() {
            s.apply(ev);
        }
        match &ev.kind {
            EventKind::Snapshot { .. } => {}
            EventKind::Tick { stable, canary, .. } => {
                self.history.record(ev.at, stable, canary.as_ref());
            }
            EventKind::Weight { .. } => {
                self.settle_pending();
                self.push_event(ev);
            }
            EventKind::Phase { to, .. } => {
                if *to != crate::model::Phase::Deploying {
                    // A pull ends before the canary leaves Deploying.
                    self.pull = None;
                }
                self.push_event(ev);
            }
            // Progress moves the gauge; only the finished pull is an event line.
            EventKind::Pull { done: false, .. } => self.pull = Some(ev.kind.clone()),
            EventKind::Pull { done: true, .. } => {
                self.pull = None;
                self.push_event(ev);
            }
            _ => self.push_event(ev),
        }
    }

    /// A backlog event: placed by time among the lines already kept,
    /// unless it is one of them (same `seq` and time).
    fn push_history(&mut self, ev: &Event) {
        let at = self.events.partition_point(|e| e.at <= ev.at);
        let dup = self
            .events
            .range(..at)
            .rev()
            .take_while(|e| e.at == ev.at)
            .any(|e| e.seq == ev.seq);
        if dup {
            return;
        }
        if at == self.events.len() {
            self.push_event(ev);
            return;
        }
        self.events.insert(at, ev.clone());
        while self.events.len() > EVENTS_KEPT {
            self.events.pop_front();
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
        self.remember_canary(&state);
        self.state = Some(state);
        self.settle_pending();
        self.clamp_selection();
        self.settle_undo();
    }

    /// Keep what each canary ran, newest first, for the deploy prompt's
    /// "recent deploys" (a rolled-back canary is often the one to retry).
    fn remember_canary(&mut self, state: &StateView) {
        for v in state.canary.iter().chain([&state.stable]) {
            let seen = (v.image.clone(), v.version.clone());
            if self.seen_canaries.first() != Some(&seen) {
                self.seen_canaries.retain(|s| *s != seen);
                self.seen_canaries.insert(0, seen);
                self.seen_canaries.truncate(RECENT_KEPT);
            }
        }
    }

    /// What recent releases ran, newest first, as a deploy names it: the
    /// version when the daemon deploys by version, else the image.
    pub fn recent_deploys(&self, by_version: bool) -> Vec<String> {
        let stable = self.state.as_ref().map(|s| {
            if by_version {
                s.stable.version.clone()
            } else {
                s.stable.image.clone()
            }
        });
        let mut out: Vec<String> = Vec::new();
        for (image, version) in &self.seen_canaries {
            let name = if by_version { version } else { image };
            // Stable runs already: not a new canary.
            if !name.is_empty() && !out.contains(name) && stable.as_ref() != Some(name) {
                out.push(name.clone());
            }
        }
        out
    }

    /// The daemon's answer to [`Effect::FetchImages`](super::Effect::FetchImages).
    pub fn set_images(&mut self, mut images: Result<crate::model::ImageCandidates, String>) {
        let by_version = images.as_ref().is_ok_and(|c| c.by_version);
        let recent = self.recent_deploys(by_version);
        // What stable runs already is no new canary.
        if let (Ok(c), Some(s)) = (&mut images, &self.state) {
            c.images
                .retain(|i| *i != s.stable.image && *i != s.stable.version);
        }
        if let Some(Popup::Deploy(p)) = &mut self.popup {
            p.local = Some(images);
            p.recent = recent;
            p.choice = None;
        }
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
        self.undo_on_reply(req, result.is_ok());
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

    /// Lines fetched for a [`Effect::FetchLogs`](super::Effect::FetchLogs);
    /// dropped when the popup has moved on to another replica meanwhile.
    pub fn set_logs(
        &mut self,
        role: Role,
        replica: Option<&str>,
        lines: Result<Vec<String>, String>,
    ) {
        if let Some(Popup::Logs(view)) = &mut self.popup
            && view.role == role
            && view.replica.as_deref() == replica
        {
            view.lines = Some(lines);
            view.scroll = 0;
        }
    }

    /// Show a replay: a replay is read-only.
    pub fn set_replay(&mut self, replay: ReplayView) {
        self.replay = Some(replay);
        self.access = super::Access::ReadOnly;
    }

    pub fn set_size(&mut self, width: u16, height: u16) {
        self.size = Rect::new(0, 0, width, height);
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
}
