//! The fleet view's pure model: one row per service from the daemon's
//! `GET /v1/services`, with a short history of each version's error rate
//! and p99 for the sparklines, sorted so what needs the operator comes
//! first — breaches, then releases under way, then the quiet ones — and
//! filtered by what was typed after `/`.

use crate::model::{GuardStatus, Phase, Role, StateView};
use std::collections::{BTreeMap, VecDeque};

/// Points of history per sparkline.
pub const POINTS: usize = 30;

/// One sample of one version: error rate and p99 (none when it served
/// nothing).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sample {
    pub error_rate: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// What the view shows of one service.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub state: StateView,
    /// Oldest first, up to [`POINTS`], per role (stable, canary).
    pub history: [VecDeque<Sample>; 2],
}

impl Row {
    pub fn name(&self) -> &str {
        &self.state.service
    }

    /// A guard is red now, or the last release ended in a breach that is
    /// still on record.
    pub fn breached(&self) -> bool {
        self.state
            .guards
            .iter()
            .any(|g| g.status == GuardStatus::Breach)
            || self.state.last_breach.is_some()
    }

    /// A release is under way (anything but idle or failed).
    pub fn releasing(&self) -> bool {
        !matches!(self.state.phase, Phase::Idle | Phase::Failed)
    }

    /// Sort key: breaches first, then releases under way, then by name.
    fn rank(&self) -> (u8, String) {
        let urgency = if self.breached() {
            0
        } else if self.releasing() {
            1
        } else {
            2
        };
        (urgency, self.state.service.clone())
    }
}

/// The fleet view.
#[derive(Clone, Debug, Default)]
pub struct Fleet {
    rows: BTreeMap<String, Row>,
    /// What `/` typed: rows whose name contains it.
    pub filter: String,
    /// Typing into the filter.
    pub filtering: bool,
    /// Index into [`Fleet::visible`].
    pub selected: usize,
    /// The first visible row drawn (kept so the selection stays in view).
    pub offset: usize,
    /// Why the last poll failed, while it does.
    pub error: Option<String>,
    /// The daemon's latest release train, if it ever ran one.
    pub train: Option<crate::train::Train>,
}

/// What a key asks the fleet loop to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FleetEffect {
    /// Open the cockpit of this service.
    Open(String),
    Quit,
}

impl Fleet {
    /// A poll's answer: every service's state, history extended.
    pub fn update(&mut self, states: Vec<StateView>) {
        let names: Vec<String> = states.iter().map(|s| s.service.clone()).collect();
        self.rows.retain(|n, _| names.contains(n));
        for s in states {
            let row = self.rows.entry(s.service.clone()).or_insert_with(|| Row {
                state: s.clone(),
                history: Default::default(),
            });
            for role in Role::ALL {
                let h = &mut row.history[role.index()];
                let sample = s.version(role).map_or(Sample::default(), |v| Sample {
                    error_rate: v.stats.error_rate,
                    p99_ms: v.stats.p99_ms,
                });
                h.push_back(sample);
                while h.len() > POINTS {
                    h.pop_front();
                }
            }
            row.state = s;
        }
        self.error = None;
        self.clamp();
    }

    /// The rows shown, in order: filtered, then most urgent first.
    pub fn visible(&self) -> Vec<&Row> {
        let needle = self.filter.to_lowercase();
        let mut rows: Vec<&Row> = self
            .rows
            .values()
            .filter(|r| needle.is_empty() || r.name().to_lowercase().contains(&needle))
            .collect();
        rows.sort_by_key(|r| r.rank());
        rows
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn clamp(&mut self) {
        let n = self.visible().len();
        self.selected = self.selected.min(n.saturating_sub(1));
    }

    /// Keep the selection within `rows` drawn lines.
    pub fn scroll_into_view(&mut self, rows: usize) {
        let rows = rows.max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + rows {
            self.offset = self.selected + 1 - rows;
        }
        let n = self.visible().len();
        self.offset = self.offset.min(n.saturating_sub(rows));
    }

    /// A key: move, filter, open, quit. Keys are plain here (no rebinding):
    /// the fleet view has few and they are the usual ones (k9s, htop).
    pub fn key(&mut self, key: crossterm::event::KeyEvent) -> Option<FleetEffect> {
        use crossterm::event::{KeyCode, KeyModifiers};
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Some(FleetEffect::Quit);
        }
        if self.filtering {
            match key.code {
                KeyCode::Esc => {
                    self.filtering = false;
                    self.filter.clear();
                }
                KeyCode::Enter => self.filtering = false,
                KeyCode::Backspace => {
                    self.filter.pop();
                }
                KeyCode::Char(c) if !c.is_control() && self.filter.chars().count() < 40 => {
                    self.filter.push(c);
                }
                _ => {}
            }
            self.selected = 0;
            self.offset = 0;
            return None;
        }
        let n = self.visible().len();
        match key.code {
            KeyCode::Char('q') => return Some(FleetEffect::Quit),
            KeyCode::Char('/') => {
                self.filtering = true;
            }
            KeyCode::Esc => {
                self.filter.clear();
                self.selected = 0;
            }
            KeyCode::Down | KeyCode::Char('j') | KeyCode::Tab => {
                self.selected = (self.selected + 1).min(n.saturating_sub(1));
            }
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::PageDown => self.selected = (self.selected + 10).min(n.saturating_sub(1)),
            KeyCode::PageUp => self.selected = self.selected.saturating_sub(10),
            KeyCode::Home | KeyCode::Char('g') => self.selected = 0,
            KeyCode::End | KeyCode::Char('G') => self.selected = n.saturating_sub(1),
            KeyCode::Enter => {
                return self
                    .visible()
                    .get(self.selected)
                    .map(|r| FleetEffect::Open(r.name().to_string()));
            }
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    pub(crate) fn state(name: &str, phase: Phase) -> StateView {
        let mut s = crate::tui::app::tests::state(phase, 0);
        s.service = name.into();
        s
    }

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    #[test]
    fn breaches_then_releases_then_the_rest_by_name() {
        let mut f = Fleet::default();
        let mut breached = state("zeta", Phase::Idle);
        breached.last_breach = Some(crate::model::BreachView {
            guard: crate::model::Guard::MaxErrorRatio,
            value: 3.0,
            threshold: 1.25,
            at: breached.at,
            detail: "x".into(),
        });
        f.update(vec![
            state("beta", Phase::Idle),
            state("alpha", Phase::Idle),
            state("gamma", Phase::Canary),
            breached,
        ]);
        let order: Vec<&str> = f.visible().iter().map(|r| r.name()).collect();
        assert_eq!(order, ["zeta", "gamma", "alpha", "beta"]);
    }

    #[test]
    fn slash_filters_enter_opens_and_history_is_bounded() {
        let mut f = Fleet::default();
        for _ in 0..(POINTS + 5) {
            f.update(vec![
                state("shop", Phase::Canary),
                state("api", Phase::Idle),
            ]);
        }
        assert_eq!(f.visible()[0].history[0].len(), POINTS);
        f.key(key(KeyCode::Char('/')));
        for c in "ap".chars() {
            f.key(key(KeyCode::Char(c)));
        }
        f.key(key(KeyCode::Enter));
        let shown: Vec<&str> = f.visible().iter().map(|r| r.name()).collect();
        assert_eq!(shown, ["api"]);
        assert_eq!(
            f.key(key(KeyCode::Enter)),
            Some(FleetEffect::Open("api".into()))
        );
        f.key(key(KeyCode::Esc));
        assert_eq!(f.visible().len(), 2, "esc clears the filter");
        assert_eq!(f.key(key(KeyCode::Char('q'))), Some(FleetEffect::Quit));
    }

    #[test]
    fn the_selection_stays_in_view_and_in_range() {
        let mut f = Fleet::default();
        f.update(
            (0..50)
                .map(|i| state(&format!("svc{i:02}"), Phase::Idle))
                .collect(),
        );
        for _ in 0..30 {
            f.key(key(KeyCode::Down));
        }
        f.scroll_into_view(10);
        assert_eq!((f.selected, f.offset), (30, 21));
        f.key(key(KeyCode::End));
        f.scroll_into_view(10);
        assert_eq!((f.selected, f.offset), (49, 40));
        f.update(vec![state("only", Phase::Idle)]);
        assert_eq!(f.selected, 0, "clamped when rows go");
    }
}
