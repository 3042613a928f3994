//! `cutover deploy`: ask for the deploy, then follow it until the canary's
//! replicas have started (or the deploy failed), showing the image pull on
//! the way: a progress bar (`indicatif`) when stderr is a terminal, plain
//! lines (at most one every two seconds, and the last) when it is not.
//!
//! The exit code says how the deploy went, not only that it was accepted:
//! 0 once the canary started, 1 when it was refused or failed before
//! starting (a pull that failed, an image the engine refused) with the
//! daemon's reason on stderr. The stream is opened before the action is
//! sent, so no event of this deploy can be missed; older events in the
//! stream's backlog are told apart by time.

use super::client::{Client, ClientError};
use crate::model::{Action, ActionRequest, Actor, EventKind, Phase, pull_line, pull_totals};
use futures::StreamExt;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Plain progress lines at most this often.
const PLAIN_EVERY: Duration = Duration::from_secs(2);

/// How the pull is shown.
enum Shown {
    Bar(indicatif::ProgressBar),
    Plain(Option<Instant>),
}

impl Shown {
    fn new() -> Shown {
        if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            Shown::Bar(bar)
        } else {
            Shown::Plain(None)
        }
    }

    fn pull(&mut self, kind: &EventKind) {
        let EventKind::Pull {
            image,
            layers,
            done,
            ..
        } = kind
        else {
            return;
        };
        match self {
            Shown::Bar(bar) => {
                let (cur, tot, ldone, n) = pull_totals(layers);
                if *done {
                    bar.finish_and_clear();
                    eprintln!("{}", pull_line(kind));
                } else {
                    bar.set_length(tot);
                    bar.set_position(cur);
                    bar.set_message(format!("pulling {image} ({ldone}/{n} layers)"));
                }
            }
            Shown::Plain(last) => {
                let due = last.is_none_or(|t| t.elapsed() >= PLAIN_EVERY);
                if *done || due {
                    *last = Some(Instant::now());
                    eprintln!("{}", pull_line(kind));
                }
            }
        }
    }

    fn clear(&self) {
        if let Shown::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

/// Deploy `image` and follow it; the process exit code.
pub async fn deploy(client: &Client, image: &str) -> Result<u8, ClientError> {
    // Opened first: every event of this deploy arrives after it.
    let mut events = client.events().await.ok();
    let req = ActionRequest {
        action: Action::Deploy {
            image: image.to_string(),
        },
        by: Actor::Cli,
        reason: None,
    };
    let reply = match client.act(&req).await {
        Ok(r) => r,
        Err(ClientError::Refused(r)) => {
            eprintln!("cutover: refused: {}", r.message);
            return Ok(1);
        }
        Err(e) => return Err(e),
    };
    println!("{}", reply.detail);
    let since = reply.state.at;
    let release = reply.state.release;
    if reply.state.phase != Phase::Deploying {
        return Ok(0);
    }
    let Some(events) = events.as_mut() else {
        return Ok(0);
    };
    let mut shown = Shown::new();
    while let Some(ev) = events.next().await {
        let Ok(ev) = ev else { break };
        match &ev.kind {
            EventKind::Pull { .. } if ev.at >= since => shown.pull(&ev.kind),
            EventKind::Phase {
                from: Phase::Deploying,
                to,
                reason,
                ..
            } if ev.at >= since => {
                shown.clear();
                return Ok(ended(*to, reason.as_deref()));
            }
            EventKind::Snapshot { state }
                if state.release == release && state.phase != Phase::Deploying =>
            {
                shown.clear();
                let why = state.last_outcome.as_ref().map(|o| format!("{o:?}"));
                return Ok(ended(state.phase, why.as_deref()));
            }
            _ => {}
        }
    }
    shown.clear();
    eprintln!("cutover: lost the daemon's event stream; the deploy goes on (see `cutover status`)");
    Ok(0)
}

/// The exit code once the deploy left `Deploying` for `to`.
fn ended(to: Phase, reason: Option<&str>) -> u8 {
    if to == Phase::Failed {
        eprintln!(
            "cutover: the deploy failed: {}",
            reason.unwrap_or("see `cutover status`")
        );
        1
    } else {
        println!("canary replicas started (phase {to})");
        0
    }
}
