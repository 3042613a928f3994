//! How everything outside the controller task talks to it: actions go in
//! through a channel and come back with a reply; state is a `watch`; events
//! go through the [`EventBus`] (a broadcast with a backlog). Cloning a
//! handle is cheap.

use super::bus::EventBus;
use super::handover::{PauseAsk, Paused};
use crate::model::{ActionReply, ActionRequest, Actor, Event, EventKind, Refusal, StateView};
use crate::plan::GuardPlan;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

/// One action in flight to the controller task, with where to answer.
#[derive(Debug)]
pub struct Command {
    pub request: ActionRequest,
    pub reply: oneshot::Sender<Result<ActionReply, Refusal>>,
}

#[derive(Clone, Debug)]
pub struct ControllerHandle {
    commands: mpsc::Sender<Command>,
    state: watch::Receiver<StateView>,
    events: EventBus,
    guards: watch::Receiver<GuardPlan>,
    /// Takeover pauses (see `super::handover`).
    pauses: Option<mpsc::Sender<PauseAsk>>,
    /// Whether the controller has restored its state and routing table.
    started: Option<watch::Receiver<bool>>,
    /// Where [`ControllerHandle::record`] sends what it journals.
    records: Option<mpsc::UnboundedSender<EventKind>>,
}

impl ControllerHandle {
    pub fn new(
        commands: mpsc::Sender<Command>,
        state: watch::Receiver<StateView>,
        events: EventBus,
        guards: watch::Receiver<GuardPlan>,
    ) -> Self {
        ControllerHandle {
            commands,
            state,
            events,
            guards,
            pauses: None,
            started: None,
            records: None,
        }
    }

    /// The controller task's takeover channel and its "started" flag.
    pub fn with_handover(
        mut self,
        pauses: mpsc::Sender<PauseAsk>,
        started: watch::Receiver<bool>,
    ) -> Self {
        self.pauses = Some(pauses);
        self.started = Some(started);
        self
    }

    /// The controller task's channel for [`ControllerHandle::record`]: it
    /// journals what arrived there before the next action it is asked for.
    pub(super) fn with_records(mut self, tx: mpsc::UnboundedSender<EventKind>) -> Self {
        self.records = Some(tx);
        self
    }

    /// Journal something done beside the controller for this service (a
    /// train's step, an approval) as an accepted action event, numbered
    /// and ordered with the controller's own events. `false` when the
    /// controller has stopped (or this handle cannot record).
    pub fn record(&self, action: &str, by: Actor, reason: Option<String>, detail: String) -> bool {
        let kind = EventKind::Action {
            action: action.to_string(),
            by,
            reason,
            ok: true,
            detail,
        };
        self.records
            .as_ref()
            .is_some_and(|tx| tx.send(kind).is_ok())
    }

    /// Resolves once the controller has restored its state (or started
    /// fresh) and set the routing table to match.
    pub async fn started(&self) {
        if let Some(mut rx) = self.started.clone() {
            let _ = rx.wait_for(|s| *s).await;
        }
    }

    /// Ask the controller to pause for a takeover by process `by_pid`.
    pub async fn pause(&self, by_pid: u32) -> Result<Paused, String> {
        let pauses = self
            .pauses
            .as_ref()
            .ok_or("this controller cannot be taken over")?;
        let (reply, rx) = oneshot::channel();
        pauses
            .send(PauseAsk { by_pid, reply })
            .await
            .map_err(|_| "the controller has stopped".to_string())?;
        rx.await
            .map_err(|_| "the controller stopped before answering".to_string())?
    }

    /// The guard thresholds in force (the plan's, or this release's edit).
    pub fn guards(&self) -> GuardPlan {
        self.guards.borrow().clone()
    }

    /// Ask for an action and wait for the controller's answer.
    pub async fn act(&self, request: ActionRequest) -> Result<ActionReply, Refusal> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command { request, reply })
            .await
            .map_err(|_| {
                Refusal::new(
                    crate::model::RefusalCode::Stopped,
                    "the controller has stopped",
                )
            })?;
        rx.await.map_err(|_| {
            Refusal::new(
                crate::model::RefusalCode::Stopped,
                "the controller stopped before answering",
            )
        })?
    }

    /// The latest state.
    pub fn state(&self) -> StateView {
        self.state.borrow().clone()
    }

    /// Wait for the state to change.
    pub fn watch(&self) -> watch::Receiver<StateView> {
        self.state.clone()
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// The last `n` journal events (at most [`super::bus::BACKLOG`]) and
    /// the last `ticks` ticks (at most [`super::bus::TICKS`]), oldest first,
    /// and every event after them: each exactly once.
    pub fn subscribe_with_backlog(
        &self,
        n: usize,
        ticks: usize,
    ) -> (Vec<Event>, broadcast::Receiver<Event>) {
        self.events.subscribe_with_backlog(n, ticks)
    }
}
