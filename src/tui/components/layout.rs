//! Where every region goes. Two layouts: a compact one for 80×24 and a
//! roomy one from 120×36 up. Mouse handling asks the same function, so a
//! click lands where the slider was drawn.
//!
//! Compact (80×24):
//! ```text
//! ┌ header ─────────────────────────────────────────────────────────────┐ 1
//! │ banners (breach 2 · disconnected 1 · replay 2, 3 with a "what if")   │ 0-6
//! │ pull gauge 1 · drain strip 1 per draining version                    │ 0-3
//! ├ stable ─────────────────────────┬ canary ───────────────────────────┤ 6
//! ├ split slider ───────────────────────────────────────────────────────┤ 3
//! ├ graphs (3 stacked mini charts) ─┬ guards ───────────────────────────┤
//! │                                  ├ events ───────────────────────────┤ rest
//! └ footer: key hints from the keymap ──────────────────────────────────┘ 1
//! ```
//! Roomy (160×48):
//! ```text
//! ┌ header ─────────────────────────────────────────────────────────────┐ 1
//! │ banners                                                              │ 0-6
//! ├ stable (with replicas) ─────────┬ canary (with replicas) ───────────┤ 8
//! ├ split slider with scale and steps ──────────────────────────────────┤ 4
//! ├ error rate ──────────┬ p99 latency ──────────┬ request rate ─────────┤ ~45 %
//! ├ guards ──────────────────────────┬ events ──────────────────────────┤ rest
//! └ footer ─────────────────────────────────────────────────────────────┘ 1
//! ```

use crate::tui::app::{App, Link};
use ratatui::layout::{Constraint, Layout, Rect};

/// The smallest screen the cockpit draws on.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

/// Every region of one frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Areas {
    pub roomy: bool,
    pub header: Rect,
    pub breach: Rect,
    pub link: Rect,
    pub replay: Rect,
    /// The gauge of an image pull in progress (one line, only then).
    pub pull: Rect,
    /// One line per version being drained (only then).
    pub drain: Rect,
    pub stable: Rect,
    pub canary: Rect,
    pub slider: Rect,
    /// Error rate, p99, request rate.
    pub graphs: [Rect; 3],
    pub guards: Rect,
    pub events: Rect,
    pub footer: Rect,
}

pub fn too_small(area: Rect) -> bool {
    area.width < MIN_WIDTH || area.height < MIN_HEIGHT
}

/// Split `area` for `app`.
pub fn areas(app: &App, area: Rect) -> Areas {
    let roomy = area.width >= 120 && area.height >= 36;
    let breach_h = if app.breach_banner().is_some() { 2 } else { 0 };
    let link_h = if matches!(app.link, Link::Lost { .. } | Link::Connecting) && app.replay.is_none()
    {
        1
    } else {
        0
    };
    let replay_h = match &app.replay {
        Some(r) if r.what_if.is_some() => 3,
        Some(_) => 2,
        None => 0,
    };
    let pull_h = u16::from(app.pull.is_some());
    let versions_h = if roomy { 8 } else { 6 };
    let slider_h = if roomy { 4 } else { 3 };
    let [
        header,
        breach,
        link,
        replay,
        pull,
        drain,
        versions,
        slider,
        body,
        footer,
    ] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(breach_h),
        Constraint::Length(link_h),
        Constraint::Length(replay_h),
        Constraint::Length(pull_h),
        Constraint::Length(super::drain::height(app)),
        Constraint::Length(versions_h),
        Constraint::Length(slider_h),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    let [stable, canary] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
            .areas(versions);
    let (graphs, guards, events) = if roomy {
        let [charts, bottom] =
            Layout::vertical([Constraint::Percentage(52), Constraint::Percentage(48)]).areas(body);
        let graphs = Layout::horizontal([Constraint::Ratio(1, 3); 3]).areas(charts);
        let [guards, events] =
            Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)])
                .areas(bottom);
        (graphs, guards, events)
    } else {
        // Half and half: the events on the right need the columns more than
        // the mini charts (which lose only resolution) do.
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                .areas(body);
        let graphs = Layout::vertical([Constraint::Ratio(1, 3); 3]).areas(left);
        let [guards, events] =
            Layout::vertical([Constraint::Length(6), Constraint::Min(0)]).areas(right);
        (graphs, guards, events)
    };
    Areas {
        roomy,
        header,
        breach,
        link,
        replay,
        pull,
        drain,
        stable,
        canary,
        slider,
        graphs,
        guards,
        events,
        footer,
    }
}
