//! How everything outside the controller task talks to it: actions go in
//! through a channel and come back with a reply; state is a `watch`; events
//! go through the [`EventBus`] (a broadcast with a backlog). Cloning a
//! handle is cheap.

use super::bus::EventBus;
use crate::model::{ActionReply, ActionRequest, Event, Refusal, StateView};
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
        }
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
