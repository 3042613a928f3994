//! The fleet view: `cutover tui` against a daemon that serves several
//! services opens on one row per service (`model`, drawn by `render`);
//! Enter opens today's cockpit for that service on the same terminal, Esc
//! there comes back. The services' states are polled once a second
//! (`GET /v1/services`); each cockpit follows its own service's events.

pub mod model;
pub mod render;
mod train_line;

use super::client_loop::{Exit, cockpit};
use super::terminal::Tui;
use crate::api::client::Client;
use crate::cli::TuiArgs;
use crossterm::event::{Event as TermEvent, EventStream, KeyEventKind};
use futures::StreamExt;
use model::{Fleet, FleetEffect};
use std::time::Duration;
use tokio::sync::mpsc;

/// How often the fleet's states are asked for.
const POLL: Duration = Duration::from_secs(1);

/// A daemon with several services, as the state root shows it: its admin
/// address and, per service, the client that reaches it (its token).
pub struct FleetTarget {
    pub clients: Vec<(String, Client)>,
}

/// `cutover tui` on a daemon with several services.
pub async fn run(args: &TuiArgs, target: FleetTarget) -> color_eyre::Result<()> {
    let theme = super::load_settings(args.theme.as_deref())?.2;
    let mut tui = Tui::enter()?;
    let mut fleet = Fleet::default();
    let outcome = loop {
        match view(&mut tui, &mut fleet, &target, &theme).await? {
            None => break Ok(()),
            Some(name) => {
                let Some((_, client)) = target.clients.iter().find(|(n, _)| *n == name) else {
                    continue;
                };
                if cockpit(&mut tui, args, client.clone(), true).await? == Exit::Quit {
                    break Ok(());
                }
            }
        }
    };
    drop(tui);
    outcome
}

/// The fleet view until the operator opens a service (its name) or quits.
async fn view(
    tui: &mut Tui,
    fleet: &mut Fleet,
    target: &FleetTarget,
    theme: &super::Theme,
) -> color_eyre::Result<Option<String>> {
    let Some((_, poller)) = target.clients.first() else {
        return Ok(None);
    };
    let (tx, mut rx) = mpsc::channel(4);
    let poll = tokio::spawn(poll(poller.clone(), tx));
    let mut input = EventStream::new();
    let outcome = loop {
        tui.terminal.draw(|f| render::draw(f, fleet, theme))?;
        tokio::select! {
            term = input.next() => {
                let Some(term) = term else { break None };
                if let TermEvent::Key(k) = term? && k.kind != KeyEventKind::Release {
                    match fleet.key(k) {
                        Some(FleetEffect::Quit) => break None,
                        Some(FleetEffect::Open(name)) => break Some(name),
                        None => {}
                    }
                }
            }
            got = rx.recv() => match got {
                Some(Ok((states, train))) => {
                    fleet.update(states);
                    fleet.train = train;
                }
                Some(Err(e)) => fleet.error = Some(e),
                None => break None,
            },
        }
    };
    poll.abort();
    Ok(outcome)
}

/// What one poll brings: every service's state and the latest train.
type Polled = Result<(Vec<crate::model::StateView>, Option<crate::train::Train>), String>;

/// Ask for every service's state (and the train) once a second, until the
/// view goes.
async fn poll(client: Client, tx: mpsc::Sender<Polled>) {
    loop {
        let got = match client.services().await {
            // No train yet is a 404: the view shows none.
            Ok(states) => Ok((states, client.train().await.ok())),
            Err(e) => Err(e.to_string()),
        };
        if tx.send(got).await.is_err() {
            return;
        }
        tokio::time::sleep(POLL).await;
    }
}
