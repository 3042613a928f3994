//! The view-state types the app holds besides the daemon's state: the link
//! to the daemon, the popup (owning whatever it is about), the replay
//! position, the toast, the selection. They live apart from [`super::App`]
//! because the render functions read them too, and a reader looking for
//! "what can the popup be" should find it by file name.

use super::super::prompts::Confirm;
use crate::model::risk::Risk;
use crate::model::{Event, EventKind, GuardPatch, ImageCandidates, Role};
use chrono::{DateTime, Utc};

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

/// What the cockpit may do to the release it shows. A read-only view (a
/// replay; later `cutover tui --read-only` with the watcher token) offers
/// no action: no key acts, and no hint — footer, help, panel or banner —
/// suggests one ([`crate::tui::keymap::Command::acts`] says which act).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Access {
    /// The operator's cockpit: every action, each confirmed where it is dangerous.
    #[default]
    Operate,
    /// Looking only.
    ReadOnly,
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
    /// Thresholds edited in this replay, and where they would have tripped.
    pub what_if: Option<WhatIf>,
    /// Why this recording cannot be backtested (a 1.0 recording), said
    /// when a "what if" is asked for.
    pub what_if_unavailable: Option<String>,
}

/// The replay's "what if": guard thresholds edited in the replay alone
/// (nothing is sent anywhere), judged again over the recording.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WhatIf {
    /// The edit, applied over each release's recorded thresholds.
    pub patch: GuardPatch,
    /// Where the edited thresholds first trip, per release (timeline ms).
    pub trips: Vec<u64>,
    /// Per release: where its canary phase begins (timeline ms) and what
    /// the edit would have done.
    pub lines: Vec<(u64, WhatIfLine)>,
}

/// What an edit would have done to one release, in three parts so a
/// narrow screen can drop the middle one: "with max_error_ratio ×2.00:
/// trips at 0:31" "by errors vs stable" "(recorded: breach at 0:24)".
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WhatIfLine {
    pub head: String,
    /// Which guard trips (empty when none would).
    pub by: String,
    pub recorded: String,
}

impl WhatIfLine {
    /// The whole line.
    pub fn text(&self) -> String {
        [&self.head, &self.by, &self.recorded]
            .into_iter()
            .filter(|p| !p.is_empty())
            .cloned()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl WhatIf {
    /// The line of the release under way at `position_ms` (else the first).
    pub fn line_at(&self, position_ms: u64) -> Option<&WhatIfLine> {
        self.lines
            .iter()
            .rev()
            .find(|(from, _)| *from <= position_ms)
            .or(self.lines.first())
            .map(|(_, l)| l)
    }
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
// One popup at a time, never hot: a confirmation owning its whole action
// (a guard patch included) is worth more than a small enum.
#[allow(clippy::large_enum_variant)]
pub enum Popup {
    Confirm(Confirm),
    Help {
        scroll: u16,
    },
    DrainPicker {
        selected: Role,
    },
    Guards(GuardsView),
    Logs(LogsView),
    /// The reason of a forced promote (or drain of stable) inside a freeze
    /// window.
    Reason {
        purpose: ReasonFor,
        input: String,
        error: Option<String>,
    },
    /// The image (or version) of a new canary being typed.
    Deploy(DeployPrompt),
    /// How many replicas a version should run.
    Scale(ScalePrompt),
    /// A version's new CPU and memory limits.
    Resize(ResizePrompt),
    /// A risky action, confirmed by typing the service name.
    TypedConfirm(TypedConfirm),
}

/// What a reason is asked for: the action forced inside a freeze window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReasonFor {
    Promote,
    /// Draining stable is a promotion.
    DrainStable,
}

impl ReasonFor {
    /// "promote", "drain stable": what is forced, for titles and errors.
    pub fn what(self) -> &'static str {
        match self {
            ReasonFor::Promote => "promote",
            ReasonFor::DrainStable => "drain stable",
        }
    }
}

/// The guard panel: the row selected (an index into
/// [`GuardKey::ALL`](crate::tui::guard_edit::GuardKey::ALL)) and the
/// threshold being typed, if any.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GuardsView {
    pub selected: usize,
    pub edit: Option<GuardEdit>,
}

/// A new threshold being typed, with what was wrong with the last try.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GuardEdit {
    pub input: String,
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LogsView {
    pub role: Role,
    /// The replica whose lines these are (`None`: the version's first).
    pub replica: Option<String>,
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

/// The new canary's image (or version) being typed. Tab puts the next
/// candidate that matches what was typed into the input; typing again
/// starts from there.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeployPrompt {
    /// What the operator typed: the stem candidates must match.
    pub typed: String,
    /// The candidate Tab put in the input, by index into the matches.
    pub choice: Option<usize>,
    /// The daemon's answer to `GET /v1/images`: `None` while it is asked.
    pub local: Option<Result<ImageCandidates, String>>,
    /// What recent releases ran (images or versions), newest first.
    pub recent: Vec<String>,
    pub error: Option<String>,
}

/// Which field of the resize prompt takes the keys.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ResizeField {
    #[default]
    Cpus,
    Memory,
}

/// A version's replica count being typed.
#[derive(Clone, Debug, PartialEq)]
pub struct ScalePrompt {
    pub role: Role,
    pub input: String,
    pub error: Option<String>,
}

/// A version's CPU and memory limits being typed (empty: unchanged).
#[derive(Clone, Debug, PartialEq)]
pub struct ResizePrompt {
    pub role: Role,
    pub cpus: String,
    /// In the plan's size syntax: `512MiB`, `1GiB`.
    pub memory: String,
    pub field: ResizeField,
    pub error: Option<String>,
}

/// A confirmation that asks for the service name, with why it does.
#[derive(Clone, Debug, PartialEq)]
pub struct TypedConfirm {
    pub confirm: Confirm,
    pub risk: Risk,
    pub input: String,
    pub error: Option<String>,
}

impl TypedConfirm {
    /// Whether what was typed is the service name.
    pub fn matches(&self) -> bool {
        self.input.trim() == self.risk.expect
    }
}

/// An undo on offer after the cockpit's own weight change or promote.
#[derive(Clone, Debug, PartialEq)]
pub struct UndoWindow {
    pub what: Undoable,
    /// When the offer ends (event time, like every clock the cockpit shows).
    pub until: DateTime<Utc>,
}

/// What `u` takes back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Undoable {
    /// The weight went `from` → `to`: undo sets `from` again.
    Weight { from: u16, to: u16 },
    /// A promote has begun: undo asks for `undo_promote`.
    Promote,
}
