//! `cutover demo --no-tui`: print what happens, one line an event, and say
//! whether the scenario ended as expected.

use crate::cli::Scenario;
use crate::daemon::RunningDaemon;
use crate::model::{EventKind, Outcome, VersionStats, event_words, latency_text, percent_text};
use color_eyre::eyre::Result;
use futures::StreamExt;
use std::time::Duration;

/// How long the headless demo goes on after the release's outcome (with
/// `--record` it goes on until `--duration`, so the recording shows the
/// aftermath too).
pub const LINGER: Duration = Duration::from_secs(2);

/// `--no-tui`: print what happens, stop when time is up (or [`LINGER`]
/// after the release reached its outcome, unless recording). Exit 0 when the scenario ended as
/// expected (good: promoted; bad, slow, crashy: rolled back), else 1.
pub(super) async fn headless(
    daemon: &RunningDaemon,
    scenario: Scenario,
    duration: Option<Duration>,
    recording: bool,
) -> Result<u8> {
    let client = daemon.client();
    let mut events = client.events().await?;
    let start = tokio::time::Instant::now();
    let deadline = start + duration.unwrap_or(Duration::from_secs(30));
    let mut outcome: Option<Outcome> = None;
    let mut linger: Option<tokio::time::Instant> = None;
    let mut last_tick = start;
    loop {
        let until = linger.map_or(deadline, |l| l.min(deadline));
        let ev = tokio::select! {
            ev = events.next() => ev,
            _ = tokio::time::sleep_until(until) => break,
        };
        let Some(Ok(ev)) = ev else { break };
        let t = start.elapsed().as_secs_f64();
        if let EventKind::Phase { from, to, .. } = &ev.kind
            && let Some(o) = Outcome::ending(*from, *to)
        {
            outcome = Some(o);
            if linger.is_none() && !recording {
                linger = Some(tokio::time::Instant::now() + LINGER);
            }
        }
        if let Some((who, body)) = event_words(&ev.kind) {
            println!("[{t:6.1}s] {:<7} {body}", who.as_str());
            // A log has the room the events panel has not: the evidence.
            if let EventKind::Breach { guard, detail, .. } = &ev.kind {
                println!("[{t:6.1}s] {:<7} breach of {guard}: {detail}", "");
            }
        } else if let EventKind::Tick { stable, canary, .. } = &ev.kind
            && last_tick.elapsed() >= Duration::from_secs(5)
        {
            last_tick = tokio::time::Instant::now();
            let f = |s: &VersionStats| {
                format!(
                    "{} req/s, errors {}, p99 {}",
                    s.rps.round(),
                    percent_text(s.error_rate.unwrap_or(0.0)),
                    s.p99_ms.map_or("–".into(), latency_text)
                )
            };
            println!(
                "[{t:6.1}s] stable {} | canary {}",
                f(stable),
                canary.as_ref().map_or("–".into(), f)
            );
        }
    }
    let expected = match scenario {
        Scenario::Good => Outcome::Promoted,
        _ => Outcome::RolledBack,
    };
    let got = outcome.map_or("still running", Outcome::words);
    println!(
        "cutover demo: outcome {got} (scenario {scenario:?} expects {})",
        expected.words()
    );
    Ok(if outcome == Some(expected) { 0 } else { 1 })
}
