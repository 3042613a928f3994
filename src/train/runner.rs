//! The task that runs trains beside the controllers: the I/O edge of the
//! decision core. Each pass reads every service's state, lets
//! [`decide`](super::decide::decide) move the train on, saves the train
//! (before anything is asked: a `kill -9` between the two leaves a train
//! that asks again, never one that forgot it asked), journals what
//! happened and asks the controllers for what was decided, as the system
//! actor with the train's number in the reason.
//!
//! The core asks for what it wants on every pass; this edge sends an
//! action once per state of its service (release and phase), so a
//! rollback already under way is not asked for again and again (each
//! refusal would be journaled). A refusal that may pass (busy) is asked
//! again on a later pass; any other goes back to the core.

use super::book::Trains;
use super::decide::{self, Cmd, Seen};
use crate::model::{ActionRequest, Actor, Phase};
use chrono::Utc;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often a pass runs when nothing wakes the runner sooner.
pub const PASS_EVERY: Duration = Duration::from_millis(200);

/// An action sent, by service and kind: the state it was sent in.
type Sent = HashMap<(String, &'static str), (u64, Phase)>;

/// Run trains until `stop` says so.
pub fn spawn(trains: Trains, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut sent = Sent::new();
        let mut tick = tokio::time::interval(PASS_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                _ = tick.tick() => {}
                _ = trains.wake.notified() => {}
            }
            pass(&trains, &mut sent).await;
        }
    })
}

/// What each service looks like now.
fn observe(trains: &Trains) -> BTreeMap<String, Seen> {
    let now = Utc::now();
    trains
        .services
        .iter()
        .map(|s| {
            let seen = Seen {
                view: s.controller.state(),
                freeze: super::start::freeze_at(&s.plan, now),
            };
            (s.name.clone(), seen)
        })
        .collect()
}

/// One pass: decide, save, journal, ask.
async fn pass(trains: &Trains, sent: &mut Sent) {
    let over = trains.current().is_none_or(|t| t.status.is_over());
    if over {
        sent.clear();
        return;
    }
    let seen = observe(trains);
    let Some((t, d, _)) = trains.update(|t| decide::decide(t, &seen, Utc::now())) else {
        return;
    };
    trains.journal_decision(&t, &d, Actor::System);
    for cmd in d.cmds {
        let Some(s) = seen.get(&cmd.service) else {
            continue;
        };
        let key = (cmd.service.clone(), cmd.action.name());
        let at = (s.view.release, s.view.phase);
        if sent.get(&key) == Some(&at) {
            continue;
        }
        sent.insert(key.clone(), at);
        if let Err(refusal) = ask(trains, t.id, &cmd).await {
            if decide::transient(&refusal) {
                sent.remove(&key);
                continue;
            }
            if let Some((t, d, _)) =
                trains.update(|t| decide::refused(t, &cmd.service, &cmd.action, &refusal))
            {
                trains.journal_decision(&t, &d, Actor::System);
            }
        }
    }
}

/// Ask one controller for one action, bounded in time.
async fn ask(trains: &Trains, id: u64, cmd: &Cmd) -> Result<(), crate::model::Refusal> {
    let Some(s) = trains.service(&cmd.service) else {
        return Ok(());
    };
    let req = ActionRequest {
        action: cmd.action.clone(),
        by: Actor::System,
        reason: Some(format!("train {id}: {}", cmd.why)),
    };
    match tokio::time::timeout(Duration::from_secs(30), s.controller.act(req)).await {
        Ok(r) => r.map(|_| ()),
        Err(_) => Err(crate::model::Refusal::new(
            crate::model::RefusalCode::Busy,
            "the controller did not answer within 30 s",
        )),
    }
}
