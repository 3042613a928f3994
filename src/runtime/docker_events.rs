//! Following the Docker engine's container events without losing any.
//!
//! A `die` event becomes [`RuntimeEvent::Exited`] with the exit code and
//! whether the OOM killer did it. That flag is the engine's `oom` event for
//! the container or `State.OOMKilled` from `inspect`, whichever says so: the
//! engine sets the state from the same kernel notice, but `inspect` right
//! after `die` is not promised to have it yet. When the event stream breaks
//! (the engine restarts, the socket goes away), exits during the gap must still be
//! reported, exactly once: the stream is re-opened with `since` set to the
//! engine time of the last event seen (the engine replays what it still
//! holds), and every container this runtime knows is inspected again (the
//! engine's event buffer is finite and an engine restart empties it).
//! [`Tracker`] remembers which exits were already reported so the replay and
//! the re-check never report one twice.

use super::docker::LABEL_SERVICE;
use super::{EXIT_CODE_GONE, RuntimeEvent};
use bollard::Docker;
use bollard::query_parameters::{EventsOptions, InspectContainerOptions};
use futures::StreamExt;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;

/// Containers this runtime started or adopted, and whose exit it already reported.
#[derive(Debug, Default)]
pub(super) struct Tracker {
    known: HashSet<String>,
    reported: HashSet<String>,
    /// Containers the engine sent an `oom` event for.
    oomed: HashSet<String>,
}

pub(super) type SharedTracker = Arc<Mutex<Tracker>>;

pub(super) fn lock(t: &SharedTracker) -> std::sync::MutexGuard<'_, Tracker> {
    t.lock().unwrap_or_else(|e| e.into_inner())
}

impl Tracker {
    /// Started or adopted: watch it (again, if it was reported before).
    pub fn know(&mut self, id: &str) {
        if self.known.insert(id.to_string()) {
            self.reported.remove(id);
        }
    }

    /// Removed: nothing more to report about it.
    pub fn forget(&mut self, id: &str) {
        self.known.remove(id);
        self.reported.remove(id);
        self.oomed.remove(id);
    }

    /// The kernel's OOM killer acted in this container (its `die` follows).
    /// Only known containers are remembered, so the set stays bounded.
    fn oom(&mut self, id: &str) {
        if self.known.contains(id) {
            self.oomed.insert(id.to_string());
        }
    }

    /// The exit to send for `id`, or `None` when it was sent already;
    /// flagged as an OOM kill when the engine's state said so (`oom`) or
    /// an `oom` event for it was seen.
    pub(super) fn exit(&mut self, id: String, code: i64, oom: bool) -> Option<RuntimeEvent> {
        let oom_killed = oom || self.oomed.contains(&id);
        self.first_report(&id).then_some(RuntimeEvent::Exited {
            id,
            code,
            oom_killed,
        })
    }

    /// Whether this exit should be sent now (false when it already was).
    /// Exits of containers nobody here knows are passed on unrecorded: the
    /// controller ignores ids it does not own.
    fn first_report(&mut self, id: &str) -> bool {
        if self.reported.contains(id) {
            return false;
        }
        if self.known.contains(id) {
            self.reported.insert(id.to_string());
        }
        true
    }

    fn unreported(&self) -> Vec<String> {
        self.known
            .iter()
            .filter(|id| !self.reported.contains(*id))
            .cloned()
            .collect()
    }
}

/// The `since` value for an engine event time in nanoseconds.
fn since_of(time_nano: i64) -> String {
    format!(
        "{}.{:09}",
        time_nano.div_euclid(1_000_000_000),
        time_nano.rem_euclid(1_000_000_000)
    )
}

/// Follow the engine's `oom` and `die` events for cutover's containers until aborted.
pub(super) async fn watch(
    docker: Docker,
    tx: broadcast::Sender<RuntimeEvent>,
    tracker: SharedTracker,
) {
    // Engine time of the last event seen (the replay point after a gap).
    let mut since: Option<String> = None;
    let mut was_down = false;
    loop {
        let lost = follow(&docker, &tx, &tracker, &mut since).await;
        // The stream ended: is the engine still there? Back off until it is.
        wait_for_engine(&docker, &tx, lost.as_deref(), &mut was_down).await;
        recheck(&docker, &tx, &tracker).await;
        // Never a tight loop, even if the engine closes every stream at once.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Follow one event stream from `since` (moved on as events come) until it
/// ends; why it was lost, if it broke.
async fn follow(
    docker: &Docker,
    tx: &broadcast::Sender<RuntimeEvent>,
    tracker: &SharedTracker,
    since: &mut Option<String>,
) -> Option<String> {
    let mut filters = HashMap::new();
    filters.insert("type".to_string(), vec!["container".to_string()]);
    filters.insert("label".to_string(), vec![LABEL_SERVICE.to_string()]);
    filters.insert(
        "event".to_string(),
        vec!["oom".to_string(), "die".to_string()],
    );
    let mut stream = docker.events(Some(EventsOptions {
        since: since.clone(),
        filters: Some(filters),
        ..Default::default()
    }));
    while let Some(ev) = stream.next().await {
        let msg = match ev {
            Ok(msg) => msg,
            Err(e) => return Some(e.to_string()),
        };
        if let Some(t) = msg.time_nano {
            *since = Some(since_of(t));
        } else if let Some(t) = msg.time {
            *since = Some(t.to_string());
        }
        let Some(actor) = msg.actor else { continue };
        let Some(id) = actor.id else { continue };
        if msg.action.as_deref() == Some("oom") {
            lock(tracker).oom(&id);
            continue;
        }
        let code = actor
            .attributes
            .unwrap_or_default()
            .get("exitCode")
            .and_then(|c| c.parse::<i64>().ok());
        report_exit(docker, tx, tracker, id, code).await;
    }
    None
}

/// Ping the engine until it answers, backing off; say once that it is
/// gone (`lost`: why the stream broke) and once that it is back.
async fn wait_for_engine(
    docker: &Docker,
    tx: &broadcast::Sender<RuntimeEvent>,
    lost: Option<&str>,
    was_down: &mut bool,
) {
    let mut backoff = Duration::from_millis(250);
    loop {
        match docker.ping().await {
            Ok(_) => {
                if *was_down {
                    *was_down = false;
                    let _ = tx.send(RuntimeEvent::Reachable {
                        ok: true,
                        detail: "the Docker engine answers again".into(),
                    });
                }
                return;
            }
            Err(e) => {
                if !*was_down {
                    *was_down = true;
                    let detail = match lost {
                        Some(l) => format!(
                            "lost the Docker engine's event stream ({l}); it does not answer: {e}"
                        ),
                        None => format!("the Docker engine does not answer: {e}"),
                    };
                    // The engine's error text is outside text.
                    let detail = crate::text::clean_owned(detail);
                    let _ = tx.send(RuntimeEvent::Reachable { ok: false, detail });
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// One exit, reported once: the code and OOM flag from `inspect` when the
/// container is still there, else what the event said.
async fn report_exit(
    docker: &Docker,
    tx: &broadcast::Sender<RuntimeEvent>,
    tracker: &SharedTracker,
    id: String,
    event_code: Option<i64>,
) {
    if lock(tracker).reported.contains(&id) {
        return;
    }
    let (code, oom) = inspect_exit(docker, &id, event_code.unwrap_or(EXIT_CODE_GONE)).await;
    if code == SIGKILLED && !oom {
        // Killed, and no word of the OOM killer yet: the engine handles a
        // task's OOM and its exit apart, and under load its `die` (and the
        // state `inspect` shows) can come before the `oom`. Decide a moment
        // later, with whatever `oom` event the stream brought meanwhile.
        let (docker, tx, tracker) = (docker.clone(), tx.clone(), tracker.clone());
        tokio::spawn(async move {
            tokio::time::sleep(OOM_SETTLE).await;
            let (code, oom) = inspect_exit(&docker, &id, code).await;
            if let Some(ev) = lock(&tracker).exit(id, code, oom) {
                let _ = tx.send(ev);
            }
        });
        return;
    }
    if let Some(ev) = lock(tracker).exit(id, code, oom) {
        let _ = tx.send(ev);
    }
}

/// The exit code 128 + SIGKILL: the OOM killer's, `docker kill`'s, or a
/// stop's after its grace.
const SIGKILLED: i64 = 137;
/// How long a SIGKILLed container's exit waits for the engine's `oom`.
const OOM_SETTLE: Duration = Duration::from_millis(250);

/// The exit code and OOM flag `inspect` shows, while the container is
/// still there; else `code` and no flag.
async fn inspect_exit(docker: &Docker, id: &str, code: i64) -> (i64, bool) {
    match docker
        .inspect_container(id, None::<InspectContainerOptions>)
        .await
    {
        Ok(info) => match info.state {
            Some(state) => (
                state.exit_code.unwrap_or(code),
                state.oom_killed.unwrap_or(false),
            ),
            None => (code, false),
        },
        Err(_) => (code, false),
    }
}

/// After a gap in the event stream: every known container that is no longer
/// running (or is gone altogether) gets its exit reported, once.
async fn recheck(docker: &Docker, tx: &broadcast::Sender<RuntimeEvent>, tracker: &SharedTracker) {
    let ids = lock(tracker).unreported();
    for id in ids {
        match docker
            .inspect_container(&id, None::<InspectContainerOptions>)
            .await
        {
            Ok(info) => {
                let state = info.state.unwrap_or_default();
                // A paused container is still running (and may be resumed).
                if state.running == Some(true) {
                    continue;
                }
                let code = state.exit_code.unwrap_or(EXIT_CODE_GONE);
                let exit = lock(tracker).exit(id, code, state.oom_killed.unwrap_or(false));
                if let Some(ev) = exit {
                    let _ = tx.send(ev);
                }
            }
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {
                let exit = lock(tracker).exit(id, EXIT_CODE_GONE, false);
                if let Some(ev) = exit {
                    let _ = tx.send(ev);
                }
            }
            // The engine went away again: the next reconnect re-checks.
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exit_is_reported_once_whether_replayed_or_rechecked() {
        let mut t = Tracker::default();
        t.know("a");
        assert_eq!(t.unreported(), vec!["a".to_string()]);
        assert!(t.first_report("a"), "the die event");
        assert!(!t.first_report("a"), "the replay after a reconnect");
        assert!(t.unreported().is_empty(), "the re-check skips it");
        // Unknown containers (another daemon's) pass through unrecorded.
        assert!(t.first_report("other"));
        assert!(t.first_report("other"));
        t.forget("a");
        assert!(t.unreported().is_empty());
    }

    fn oom_flag(ev: Option<RuntimeEvent>) -> Option<bool> {
        match ev? {
            RuntimeEvent::Exited { oom_killed, .. } => Some(oom_killed),
            _ => None,
        }
    }

    #[test]
    fn an_oom_event_flags_the_exit_of_a_known_container_until_forgotten() {
        let mut t = Tracker::default();
        t.oom("stranger");
        assert_eq!(
            oom_flag(t.exit("stranger".into(), 137, false)),
            Some(false),
            "another daemon's container is not kept"
        );
        t.know("a");
        t.oom("a");
        assert_eq!(oom_flag(t.exit("a".into(), 137, false)), Some(true));
        assert_eq!(t.exit("a".into(), 137, false).map(|_| ()), None, "once");
        t.forget("a");
        t.know("a");
        assert_eq!(
            oom_flag(t.exit("a".into(), 0, false)),
            Some(false),
            "a new run of the same id starts clean"
        );
        t.know("b");
        assert_eq!(
            oom_flag(t.exit("b".into(), 137, true)),
            Some(true),
            "the engine's state alone says so too"
        );
    }

    #[test]
    fn since_keeps_nanoseconds() {
        assert_eq!(since_of(1_700_000_000_123_456_789), "1700000000.123456789");
        assert_eq!(since_of(5), "0.000000005");
    }
}
