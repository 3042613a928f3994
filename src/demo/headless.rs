//! `cutover demo --no-tui`: print what happens, one line an event, and say
//! whether the scenario ended as expected.

use crate::cli::Scenario;
use crate::daemon::RunningDaemon;
use crate::model::{EventKind, Phase};
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
    let mut outcome: Option<&'static str> = None;
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
        match &ev.kind {
            EventKind::Phase {
                from,
                to,
                by,
                reason,
            } => {
                println!(
                    "[{t:6.1}s] phase {from} → {to} ({by}{})",
                    reason
                        .as_ref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                );
                if *from == Phase::Promoting && *to == Phase::Idle {
                    outcome = Some("promoted");
                } else if *from == Phase::RollingBack && *to == Phase::Idle {
                    outcome = Some("rolled back");
                } else if *to == Phase::Failed {
                    outcome = Some("failed");
                }
                if outcome.is_some() && linger.is_none() && !recording {
                    linger = Some(tokio::time::Instant::now() + LINGER);
                }
            }
            EventKind::Weight { from, to, by, .. } => {
                println!(
                    "[{t:6.1}s] canary weight {:.1} % → {:.1} % ({by})",
                    f64::from(*from) / 10.0,
                    f64::from(*to) / 10.0
                );
            }
            EventKind::Breach {
                guard,
                detail,
                on_breach,
                ..
            } => {
                println!("[{t:6.1}s] GUARD BREACH {guard}: {detail} → {on_breach}");
            }
            EventKind::Replica {
                role,
                replica,
                status,
                detail,
            } => {
                let said = crate::model::replica_phrase(*status, detail);
                println!("[{t:6.1}s] {role} replica {replica} {said}");
            }
            EventKind::Action {
                action,
                by,
                ok,
                detail,
                ..
            } => {
                println!(
                    "[{t:6.1}s] {action} by {by}: {} {detail}",
                    if *ok { "ok" } else { "refused" }
                );
            }
            EventKind::Warning { message } => println!("[{t:6.1}s] warning: {message}"),
            EventKind::Pull { .. } => println!("[{t:6.1}s] {}", crate::model::pull_line(&ev.kind)),
            EventKind::Tick { stable, canary, .. } => {
                if last_tick.elapsed() >= Duration::from_secs(5) {
                    last_tick = tokio::time::Instant::now();
                    let f = |s: &crate::model::VersionStats| {
                        format!(
                            "{:5.0} req/s err {:5.1} % p99 {}",
                            s.rps,
                            s.error_rate.unwrap_or(0.0) * 100.0,
                            s.p99_ms.map_or("–".into(), |p| format!("{p:.0} ms"))
                        )
                    };
                    println!(
                        "[{t:6.1}s] stable {} | canary {}",
                        f(stable),
                        canary.as_ref().map_or("–".into(), f)
                    );
                }
            }
            EventKind::Snapshot { .. } => {}
        }
    }
    let expected = match scenario {
        Scenario::Good => "promoted",
        _ => "rolled back",
    };
    let got = outcome.unwrap_or("still running");
    println!("cutover demo: outcome {got} (scenario {scenario:?} expects {expected})");
    Ok(if got == expected { 0 } else { 1 })
}
