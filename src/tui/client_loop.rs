//! The cockpit's event loop: terminal input, the daemon's event stream and
//! action replies all become [`Msg`]s on one channel; the loop feeds them
//! to the pure [`App`] and draws only when something changed, at most ~30
//! frames a second (the [`FramePacer`] decides). Network work happens on
//! other tasks (the stream with its reconnect backoff, an action worker
//! that sends in order), so the UI task never blocks. SIGTERM and SIGHUP
//! end the loop like `q`, so the terminal is restored on the way out.

use super::app::{App, Effect, Link};
use super::pacer::FramePacer;
use super::terminal::Tui;
use super::{components, load_settings};
use crate::api::client::{Client, ClientError};
use crate::cli::TuiArgs;
use crate::model::{ActionReply, ActionRequest, Event, ImageCandidates, Role};
use color_eyre::eyre::WrapErr;
use crossterm::event::{Event as TermEvent, EventStream, KeyEventKind, MouseEventKind};
use futures::StreamExt;
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

/// Reconnect backoff: first wait, then doubled up to the cap.
const BACKOFF_FIRST: Duration = Duration::from_millis(500);
const BACKOFF_CAP: Duration = Duration::from_secs(5);

/// Everything that can change the app, from any task.
#[derive(Debug)]
pub enum Msg {
    Event(Box<Event>),
    Link(Link),
    Reply(Box<ActionRequest>, Result<Box<ActionReply>, String>),
    Logs(Role, Option<String>, Result<Vec<String>, String>),
    Images(Result<ImageCandidates, String>),
}

/// Test-only and hidden (not in `--help`): `CUTOVER_TUI_PANIC_AFTER_MS=N`
/// makes the UI task panic N ms after it first drew the daemon's state, so
/// the pty tests can prove a panic leaves the terminal restored (normal
/// screen, cooked mode, cursor shown, mouse released). Unset, it costs
/// nothing.
pub const PANIC_AFTER_ENV: &str = "CUTOVER_TUI_PANIC_AFTER_MS";

fn test_panic_after() -> Option<Duration> {
    std::env::var(PANIC_AFTER_ENV)
        .ok()?
        .trim()
        .parse()
        .ok()
        .map(Duration::from_millis)
}

/// How a cockpit ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Quit,
    /// Esc: back to the fleet view it was opened from.
    Back,
}

/// `cutover tui`: attach the cockpit to a running daemon.
pub async fn run(args: &TuiArgs, client: Client) -> color_eyre::Result<()> {
    let mut tui = Tui::enter().wrap_err("cannot set up the terminal")?;
    let outcome = cockpit(&mut tui, args, client, false).await;
    drop(tui);
    outcome.map(|_| ())
}

/// The cockpit of one service on a terminal already set up, until the
/// operator quits (or, opened from the fleet view, goes back to it).
pub async fn cockpit(
    tui: &mut Tui,
    args: &TuiArgs,
    client: Client,
    in_fleet: bool,
) -> color_eyre::Result<Exit> {
    let (cfg, keymap, theme) = load_settings(args.theme.as_deref())?;
    let mut app = App::new(keymap, &cfg);
    app.in_fleet = in_fleet;
    if args.target.read_only {
        // The watchers' token: the daemon refuses every action, so the
        // cockpit offers none (see `app::hints`).
        app.access = super::app::Access::ReadOnly;
    }
    let (tx, mut rx) = mpsc::channel::<Msg>(1024);
    let mut stream_task = tokio::spawn(stream_events(client.clone(), tx.clone()));
    let (work_tx, work_rx) = mpsc::unbounded_channel::<Effect>();
    let mut worker = tokio::spawn(work(client, work_rx, tx));
    let (panic_after, mut panic_at) = (test_panic_after(), None::<Instant>);
    let size = tui.terminal.size()?;
    app.set_size(size.width, size.height);
    let mut input = EventStream::new();
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let mut pacer = FramePacer::default();
    pacer.mark();
    let outcome = loop {
        if pacer.frame(Instant::now().into_std()) {
            tui.terminal.draw(|f| components::draw(f, &app, &theme))?;
            if let (Some(after), None, Some(_)) = (panic_after, panic_at, &app.state) {
                panic_at = Some(Instant::now() + after);
            }
        }
        let due = pacer.due(Instant::now().into_std()).map(Instant::from_std);
        tokio::select! {
            term = input.next() => {
                let Some(term) = term else { break Ok(Exit::Quit) };
                let term = term?;
                if changes_view(&term) {
                    pacer.mark();
                }
                let effect = match term {
                    TermEvent::Key(k) => app.handle_key(k),
                    TermEvent::Mouse(m) => app.handle_mouse(m),
                    TermEvent::Resize(w, h) => { app.set_size(w, h); None }
                    _ => None,
                };
                match effect {
                    Some(Effect::Quit) => break Ok(Exit::Quit),
                    Some(Effect::Back) => break Ok(Exit::Back),
                    Some(Effect::Replay(_) | Effect::WhatIf(_)) | None => {}
                    Some(e) => { let _ = work_tx.send(e); }
                }
            }
            msg = rx.recv() => {
                let Some(msg) = msg else { break Ok(Exit::Quit) };
                apply(&mut app, msg);
                // Take whatever else is already queued before drawing once.
                while let Ok(msg) = rx.try_recv() {
                    apply(&mut app, msg);
                }
                pacer.mark();
            }
            _ = sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {}
            _ = sleep_until(panic_at.unwrap_or_else(Instant::now)), if panic_at.is_some() => {
                panic!("{PANIC_AFTER_ENV} is set: the test-only panic on the UI task");
            }
            // A helper task that dies (a panic) ends the cockpit with its
            // error instead of leaving a screen that silently stops updating.
            done = &mut stream_task => break Err(task_ended("the event stream", done)),
            done = &mut worker => break Err(task_ended("the action worker", done)),
            _ = sigterm.recv() => break Ok(Exit::Quit),
            _ = sighup.recv() => break Ok(Exit::Quit),
        }
    };
    stream_task.abort();
    worker.abort();
    outcome
}

/// Whether a terminal event can change what is drawn. Mouse motion (the
/// terminal reports every move while the mouse is captured) and key
/// releases cannot: they must not cost a frame each.
fn changes_view(ev: &TermEvent) -> bool {
    match ev {
        TermEvent::Key(k) => k.kind != KeyEventKind::Release,
        TermEvent::Mouse(m) => m.kind != MouseEventKind::Moved,
        TermEvent::Resize(..) => true,
        _ => false,
    }
}

fn task_ended(what: &str, done: Result<(), tokio::task::JoinError>) -> color_eyre::eyre::Report {
    match done {
        Err(e) if e.is_panic() => color_eyre::eyre::eyre!("{what} panicked"),
        Err(e) => color_eyre::eyre::eyre!("{what} stopped: {e}"),
        Ok(()) => color_eyre::eyre::eyre!("{what} stopped"),
    }
}

fn apply(app: &mut App, msg: Msg) {
    match msg {
        Msg::Event(ev) => app.apply_event(&ev),
        Msg::Link(link) => app.set_link(link),
        Msg::Reply(req, result) => app.apply_reply(&req, result.map(|r| *r)),
        Msg::Logs(role, replica, lines) => app.set_logs(role, replica.as_deref(), lines),
        Msg::Images(images) => app.set_images(images),
    }
}

/// Follow the daemon's event stream; reconnect with backoff when it ends.
async fn stream_events(client: Client, tx: mpsc::Sender<Msg>) {
    let mut delay = BACKOFF_FIRST;
    let mut attempt = 0u32;
    loop {
        let error = match client.events_with_ticks(crate::tui::history::SECONDS).await {
            Ok(mut stream) => {
                let mut error = "the event stream ended".to_string();
                while let Some(item) = stream.next().await {
                    match item {
                        Ok(ev) => {
                            if attempt > 0
                                || matches!(ev.kind, crate::model::EventKind::Snapshot { .. })
                            {
                                if tx.send(Msg::Link(Link::Live)).await.is_err() {
                                    return;
                                }
                                attempt = 0;
                                delay = BACKOFF_FIRST;
                            }
                            if tx.send(Msg::Event(Box::new(ev))).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            error = short(&e);
                            break;
                        }
                    }
                }
                error
            }
            Err(e) => short(&e),
        };
        attempt += 1;
        let lost = Link::Lost {
            retry_in_ms: delay.as_millis() as u64,
            attempt,
            error,
        };
        if tx.send(Msg::Link(lost)).await.is_err() {
            return;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(BACKOFF_CAP);
    }
}

fn short(e: &ClientError) -> String {
    match e {
        ClientError::Unreachable { detail, .. } => detail.clone(),
        other => other.to_string(),
    }
}

/// Send actions one after the other (so ←←← arrive in order); fetch logs
/// and image candidates on the side.
async fn work(client: Client, mut rx: mpsc::UnboundedReceiver<Effect>, tx: mpsc::Sender<Msg>) {
    while let Some(effect) = rx.recv().await {
        match effect {
            Effect::Send(req) => {
                let result = match client.act(&req).await {
                    Ok(reply) => Ok(Box::new(reply)),
                    Err(ClientError::Refused(r)) => Err(format!("refused: {}", r.message)),
                    Err(e) => Err(e.to_string()),
                };
                if tx.send(Msg::Reply(Box::new(req), result)).await.is_err() {
                    return;
                }
            }
            Effect::FetchLogs { role, replica } => {
                let client = client.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let tail = super::app::LOG_TAIL;
                    let lines = match &replica {
                        Some(id) => client.replica_logs(id, tail).await,
                        None => client.logs(role, tail).await,
                    };
                    let lines = lines.map_err(|e| e.to_string());
                    let _ = tx.send(Msg::Logs(role, replica, lines)).await;
                });
            }
            Effect::FetchImages => {
                let client = client.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let images = client.images().await.map_err(|e| e.to_string());
                    let _ = tx.send(Msg::Images(images)).await;
                });
            }
            Effect::Replay(_) | Effect::WhatIf(_) | Effect::Quit | Effect::Back => {}
        }
    }
}
