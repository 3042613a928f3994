//! Playing a recording in the cockpit (`cutover replay FILE`).
//!
//! [`ReplaySession`] is the pure core: a journal [`Player`] driving a
//! read-only [`App`] with the very same `apply_event` as live mode, plus
//! speed, pause and seek. Time comes in as values, so the asciicast exporter
//! and the tests drive it frame by frame; [`run_replay`] drives it from a
//! clock and the keyboard.

use super::app::{App, Effect, ReplayControl, ReplayView};
use super::config::Config;
use super::keymap::Keymap;
use super::terminal::Tui;
use crate::journal::{Journal, Player};
use color_eyre::eyre::{WrapErr, eyre};
use crossterm::event::{Event as TermEvent, EventStream};
use futures::StreamExt;
use std::time::Duration;
use tokio::time::Instant;

const FRAME: Duration = Duration::from_millis(33);
const MIN_SPEED: f64 = 0.25;
const MAX_SPEED: f64 = 64.0;

/// A recording being played: the player, the cockpit model and the controls.
pub struct ReplaySession {
    player: Player,
    app: App,
    keymap: Keymap,
    config: Config,
    file: String,
    skipped: u64,
    pub speed: f64,
    pub paused: bool,
}

impl ReplaySession {
    pub fn new(
        journal: Journal,
        file: &str,
        keymap: Keymap,
        config: Config,
        speed: f64,
    ) -> ReplaySession {
        let skipped = journal.corrupt_lines as u64;
        let player = Player::new(journal);
        let app = App::for_replay(keymap.clone(), &config, ReplayView::default());
        let mut s = ReplaySession {
            player,
            app,
            keymap,
            config,
            file: file.to_string(),
            skipped,
            speed: if speed.is_finite() && speed > 0.0 {
                speed.clamp(MIN_SPEED, MAX_SPEED)
            } else {
                MAX_SPEED
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

    fn view(&self) -> ReplayView {
        let events = &self.player.journal().events;
        let start = events.first().map(|e| e.at).unwrap_or_default();
        ReplayView {
            file: self.file.clone(),
            position_ms: self.player.position().as_millis() as u64,
            duration_ms: self.player.duration().as_millis() as u64,
            speed: self.speed,
            paused: self.paused,
            marks: ReplayView::marks_from(start, events.iter()),
            skipped_lines: self.skipped,
        }
    }

    /// A fresh model fed with everything up to the current position (after
    /// a seek: the graphs and the events panel are rebuilt, not patched).
    fn rebuild(&mut self) {
        let mut app = App::for_replay(self.keymap.clone(), &self.config, self.view());
        let size = self.app.size;
        app.set_size(size.width, size.height);
        for ev in self.player.applied() {
            app.apply_event(ev);
        }
        self.app = app;
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
        self.app.set_replay(self.view());
        true
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
        self.app.set_replay(self.view());
    }
}

/// `cutover replay FILE [--speed N]`: the recording in the cockpit, read-only.
pub async fn run_replay(args: &crate::cli::ReplayArgs) -> color_eyre::Result<()> {
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
