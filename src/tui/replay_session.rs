//! Playing a recording in the cockpit (`cutover replay FILE`).
//!
//! [`ReplaySession`] is the pure core: a journal [`Player`] driving a
//! read-only [`App`] with the very same `apply_event` as live mode, plus
//! speed, pause and seek. Time comes in as values, so the asciicast exporter
//! and the tests drive it frame by frame; [`run_replay`] drives it from a
//! clock and the keyboard.

use super::app::{App, EVENTS_KEPT, Effect, MarkKind, ReplayControl, ReplayMark, ReplayView};
use super::config_file::Config;
use super::history;
use super::keymap::Keymap;
use super::terminal::Tui;
use crate::guard::backtest::{Given, backtest, check_samples};
use crate::journal::{Journal, MarkerKind, Player};
use crate::model::{EventKind, GuardPatch};
use color_eyre::eyre::{WrapErr, eyre};
use crossterm::event::{Event as TermEvent, EventStream};
use futures::StreamExt;
use std::time::Duration;
use tokio::time::Instant;

const FRAME: Duration = Duration::from_millis(33);
/// Slowest speed `-` reaches.
pub const MIN_SPEED: f64 = 0.25;
/// Fastest speed: `--speed 1000` must mean 1000× (a minute of recording in
/// 60 ms), and an hour-long journal should still be skimmable.
pub const MAX_SPEED: f64 = 10_000.0;

/// A recording being played: the player, the cockpit model and the controls.
pub struct ReplaySession {
    player: Player,
    app: App,
    keymap: Keymap,
    config: Config,
    /// Indices of the events the events panel shows (all but snapshots and
    /// ticks), ascending: a rebuild takes the last [`EVENTS_KEPT`] of them.
    panel: Vec<usize>,
    /// Indices of snapshots and ticks (the graphs' samples), ascending.
    samples: Vec<usize>,
    pub speed: f64,
    pub paused: bool,
}

impl ReplaySession {
    /// `speed` 0 starts at the end (`--speed 0`); otherwise it is clamped to
    /// [`MIN_SPEED`]..=[`MAX_SPEED`].
    pub fn new(
        journal: Journal,
        file: &str,
        keymap: Keymap,
        config: Config,
        speed: f64,
    ) -> ReplaySession {
        let mut panel = Vec::new();
        let mut samples = Vec::new();
        for (i, e) in journal.events.iter().enumerate() {
            match e.kind {
                EventKind::Snapshot { .. } | EventKind::Tick { .. } => samples.push(i),
                _ => panel.push(i),
            }
        }
        let view = ReplayView {
            file: file.to_string(),
            position_ms: 0,
            duration_ms: 0,
            speed: 1.0,
            paused: false,
            marks: Vec::new(),
            skipped_lines: journal.corrupt_lines as u64,
            truncated_tail: journal.truncated_tail,
            what_if: None,
            what_if_unavailable: check_samples(&journal).err().map(|e| e.to_string()),
        };
        let player = Player::new(journal);
        // The marks never change: computed once, from the player's offsets
        // (clamped, so a clock step cannot put a mark before its neighbours).
        let marks = player
            .markers()
            .into_iter()
            .map(|m| ReplayMark {
                at_ms: duration_ms(m.at),
                kind: match m.kind {
                    MarkerKind::Action => MarkKind::Action,
                    MarkerKind::Breach => MarkKind::Breach,
                },
            })
            .collect();
        let view = ReplayView {
            duration_ms: duration_ms(player.duration()),
            marks,
            ..view
        };
        let app = App::for_replay(keymap.clone(), &config, view);
        let mut s = ReplaySession {
            player,
            app,
            keymap,
            config,
            panel,
            samples,
            speed: if speed == 0.0 {
                1.0
            } else if speed.is_nan() {
                MAX_SPEED
            } else {
                speed.clamp(MIN_SPEED, MAX_SPEED)
            },
            paused: false,
        };
        s.rebuild();
        if speed == 0.0 {
            // `--speed 0`: straight to the end.
            let end = s.player.duration();
            s.seek_to(end);
        }
        s
    }

    /// The cockpit model at the current position.
    pub fn app(&self) -> &App {
        &self.app
    }

    pub fn app_mut(&mut self) -> &mut App {
        &mut self.app
    }

    pub fn position(&self) -> Duration {
        self.player.position()
    }

    pub fn duration(&self) -> Duration {
        self.player.duration()
    }

    pub fn at_end(&self) -> bool {
        self.player.at_end()
    }

    /// Bring the banner up to date, in place (the marks stay as they are).
    fn update_view(&mut self) {
        let position_ms = duration_ms(self.player.position());
        let (speed, paused) = (self.speed, self.paused);
        if let Some(r) = self.app.replay.as_mut() {
            r.position_ms = position_ms;
            r.speed = speed;
            r.paused = paused;
        }
    }

    /// A fresh model of the current position (after a seek the graphs and
    /// the events panel are rebuilt, not patched). It is fed only what it
    /// can still show, in journal order: everything from the latest
    /// snapshot on (the state), the samples of the last [`history::SECONDS`]
    /// seconds (the graphs) and the last [`EVENTS_KEPT`] panel events —
    /// a bounded amount of work wherever the seek lands, and the same model
    /// as feeding every event from the start.
    fn rebuild(&mut self) {
        let view = self.app.replay.clone().unwrap_or_default();
        let mut app = App::for_replay(self.keymap.clone(), &self.config, view);
        let size = self.app.size;
        app.set_size(size.width, size.height);
        let events = &self.player.journal().events;
        let upto = self.player.applied().len();
        let from_snapshot = self.player.latest_snapshot().unwrap_or(0);
        let panel_end = self.panel.partition_point(|&i| i < from_snapshot);
        let panel = &self.panel[panel_end.saturating_sub(EVENTS_KEPT)..panel_end];
        let samples_end = self.samples.partition_point(|&i| i < from_snapshot);
        let samples = &self.samples[self.first_sample(samples_end)..samples_end];
        let mut before: Vec<usize> = panel.iter().chain(samples).copied().collect();
        before.sort_unstable();
        for i in before.into_iter().chain(from_snapshot..upto) {
            app.apply_event(&events[i]);
        }
        self.app = app;
        self.update_view();
    }

    /// Where in `samples[..end]` the graphs' window begins: the first sample
    /// of the [`history::SECONDS`]-th distinct second counted back from the
    /// latest (the window of samples the model keeps; older ones would be
    /// pushed out again).
    fn first_sample(&self, end: usize) -> usize {
        let events = &self.player.journal().events;
        let mut seconds = 0usize;
        let mut last_sec = None;
        let mut first = end;
        for k in (0..end).rev() {
            let sec = events[self.samples[k]].at.timestamp();
            if last_sec != Some(sec) {
                seconds += 1;
                if seconds > history::SECONDS {
                    break;
                }
                last_sec = Some(sec);
            }
            first = k;
        }
        first
    }

    fn seek_to(&mut self, t: Duration) {
        self.player.seek(t);
        self.rebuild();
    }

    /// Let `real` time pass at the current speed (nothing when paused).
    /// Returns whether anything changed on screen.
    pub fn tick(&mut self, real: Duration) -> bool {
        if self.paused || self.player.at_end() {
            return false;
        }
        let crossed = self.player.advance(real.mul_f64(self.speed));
        for ev in &crossed {
            self.app.apply_event(ev);
        }
        self.update_view();
        true
    }

    /// The "what if": judge the recording again with `patch` over its
    /// recorded thresholds and mark where that would have tripped (an
    /// empty patch clears it). Nothing is sent anywhere.
    pub fn what_if(&mut self, patch: GuardPatch) {
        let what_if = if patch.is_empty() {
            None
        } else {
            let given = Given {
                plan: None,
                set: patch.clone(),
            };
            backtest(self.player.journal(), &given)
                .ok()
                .map(|b| super::what_if::view(&b, &patch))
        };
        if let Some(r) = self.app.replay.as_mut() {
            r.what_if = what_if;
        }
    }

    pub fn control(&mut self, c: ReplayControl) {
        match c {
            ReplayControl::TogglePause => self.paused = !self.paused,
            ReplayControl::Speed(f) => self.speed = (self.speed * f).clamp(MIN_SPEED, MAX_SPEED),
            ReplayControl::Seek(secs) => {
                let now = self.player.position();
                let step = Duration::from_secs(secs.unsigned_abs());
                let t = if secs < 0 {
                    now.saturating_sub(step)
                } else {
                    now + step
                };
                self.seek_to(t);
            }
        }
        self.update_view();
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `--speed`: 0 (start at the end) or a factor up to [`MAX_SPEED`].
pub fn check_speed(speed: f64) -> color_eyre::Result<()> {
    if speed == 0.0 || (speed.is_finite() && (MIN_SPEED..=MAX_SPEED).contains(&speed)) {
        Ok(())
    } else {
        Err(eyre!(
            "expected 0 (start at the end) or a factor from {MIN_SPEED} to {MAX_SPEED}, found {speed}"
        ))
    }
}

/// `cutover replay FILE [--speed N]`: the recording in the cockpit, read-only.
pub async fn run_replay(args: &crate::cli::ReplayArgs) -> color_eyre::Result<()> {
    check_speed(args.speed).wrap_err("--speed")?;
    let journal = crate::journal::read_journal(&args.file)?;
    if journal.events.is_empty() {
        return Err(eyre!(
            "{}: the recording holds no events",
            args.file.display()
        ));
    }
    let (cfg, keymap, theme) = super::load_settings(args.theme.as_deref())?;
    let name = args.file.display().to_string();
    let mut session = ReplaySession::new(journal, &name, keymap, cfg, args.speed);
    let mut tui = Tui::enter().wrap_err("cannot set up the terminal")?;
    let size = tui.terminal.size()?;
    session.app_mut().set_size(size.width, size.height);
    let mut input = EventStream::new();
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut last = Instant::now();
    let mut dirty = true;
    loop {
        if dirty {
            tui.terminal
                .draw(|f| super::components::draw(f, session.app(), &theme))?;
            dirty = false;
        }
        tokio::select! {
            term = input.next() => {
                let Some(term) = term else { break };
                dirty = true;
                let effect = match term? {
                    TermEvent::Key(k) => session.app_mut().handle_key(k),
                    TermEvent::Mouse(m) => session.app_mut().handle_mouse(m),
                    TermEvent::Resize(w, h) => { session.app_mut().set_size(w, h); None }
                    _ => None,
                };
                match effect {
                    Some(Effect::Quit) => break,
                    Some(Effect::Replay(c)) => session.control(c),
                    Some(Effect::WhatIf(p)) => session.what_if(p),
                    _ => {}
                }
            }
            _ = tokio::time::sleep(FRAME) => {
                let now = Instant::now();
                dirty |= session.tick(now - last);
                last = now;
            }
            _ = sigterm.recv() => break,
        }
    }
    drop(tui);
    Ok(())
}
