//! Headless replay: `cutover replay FILE --no-tui` prints where a recording
//! ends up, as JSON, for scripts and CI.
//!
//! It plays the journal to its end with the same [`Player`] the cockpit
//! uses (so "the final state" means the same thing in both), and counts what
//! happened on the way. There is nothing to watch, so headless replay always
//! runs as fast as it can (milliseconds for a minute of recording), and the
//! command line refuses `--speed` (and `--theme`) with `--no-tui` rather
//! than ignore them.

use super::player::Player;
use super::reader::{JournalError, read_journal};
use crate::model::{EventKind, Phase, StateView};
use serde::Serialize;
use std::path::Path;

/// Where a recording ends, and what happened on the way.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReplayOutcome {
    pub service: String,
    /// Final state: the last snapshot with every later event applied (a
    /// daemon that stopped cleanly wrote its final state as that snapshot).
    pub state: Option<StateView>,
    /// Events read (corrupt and unknown lines excluded).
    pub events: usize,
    pub corrupt_lines: usize,
    pub unknown_events: usize,
    pub truncated_tail: bool,
    /// From the first to the last event.
    pub duration_ms: u64,
    /// Guard breaches recorded.
    pub breaches: usize,
    /// Actions recorded (accepted or refused).
    pub actions: usize,
    /// Every phase change, in order.
    pub phases: Vec<(Phase, Phase)>,
}

/// Read the journal at `path` and play it to the end.
pub fn final_state(path: &Path) -> Result<ReplayOutcome, JournalError> {
    let journal = read_journal(path)?;
    let mut breaches = 0;
    let mut actions = 0;
    let mut phases = Vec::new();
    for e in &journal.events {
        match &e.kind {
            EventKind::Breach { .. } => breaches += 1,
            EventKind::Action { .. } => actions += 1,
            EventKind::Phase { from, to, .. } => phases.push((*from, *to)),
            _ => {}
        }
    }
    let service = journal.header.service.clone();
    let events = journal.events.len();
    let corrupt_lines = journal.corrupt_lines;
    let unknown_events = journal.unknown_events;
    let truncated_tail = journal.truncated_tail;
    let mut player = Player::new(journal);
    let end = player.duration();
    player.seek(end);
    Ok(ReplayOutcome {
        service,
        state: player.state().cloned(),
        events,
        corrupt_lines,
        unknown_events,
        truncated_tail,
        duration_ms: u64::try_from(end.as_millis()).unwrap_or(u64::MAX),
        breaches,
        actions,
        phases,
    })
}

/// `cutover replay FILE --no-tui`: print the outcome as pretty JSON on stdout.
/// Corrupt lines are also reported on stderr so they are not missed.
pub async fn run_headless(args: &crate::cli::ReplayArgs) -> color_eyre::Result<()> {
    let path = args.file.clone();
    let outcome = tokio::task::spawn_blocking(move || final_state(&path)).await??;
    if outcome.corrupt_lines > 0 || outcome.truncated_tail {
        eprintln!(
            "cutover: {}: {} corrupt line(s) skipped{}",
            args.file.display(),
            outcome.corrupt_lines,
            if outcome.truncated_tail {
                ", last line truncated"
            } else {
                ""
            }
        );
    }
    println!("{}", serde_json::to_string_pretty(&outcome)?);
    Ok(())
}
