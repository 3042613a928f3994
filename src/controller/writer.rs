//! The state writer: `state.json` is written off the controller's task.
//!
//! A save reads the current file, writes a temp file, fsyncs it, renames it
//! and fsyncs the directory: milliseconds on a good disk, far more on a busy
//! one. Done inline it stalled the task that runs the guards. Here the driver
//! hands over the latest state and moves on; one task writes it on the
//! blocking pool, one save at a time and in order, and always the newest
//! state: states superseded while a save runs are skipped, never written
//! after a newer one. Each hand-over gets a generation number; `durable(n)`
//! resolves once a save of generation `n` or later has finished, so an action
//! is answered only when what it changed is on disk.
//!
//! When the driver goes away, the state handed over last is still written.

use super::ops::Report;
use super::persist::{self, PersistedState};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

type Job = Option<(u64, Arc<PersistedState>)>;

pub(super) struct StateWriter {
    jobs: watch::Sender<Job>,
    done: watch::Receiver<u64>,
    generation: u64,
}

impl StateWriter {
    /// Start the writer for `dir`; a failed save is reported as a note.
    pub fn spawn(dir: PathBuf, notes: mpsc::UnboundedSender<Report>) -> StateWriter {
        let (jobs, mut rx) = watch::channel::<Job>(None);
        let (done_tx, done) = watch::channel(0u64);
        tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let Some((generation, state)) = rx.borrow_and_update().clone() else {
                    continue;
                };
                let d = dir.clone();
                let saved = tokio::task::spawn_blocking(move || persist::save(&d, &state)).await;
                let failed = match saved {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(e.to_string()),
                    Err(e) => Some(format!("the state writer failed: {e}")),
                };
                if let Some(e) = failed {
                    tracing::error!(error = %e, "cannot persist the release state");
                    let _ = notes.send(Report::Note(format!(
                        "{e} (a restart would not know the current release state)"
                    )));
                }
                done_tx.send_replace(generation);
            }
        });
        StateWriter {
            jobs,
            done,
            generation: 0,
        }
    }

    /// Hand over the newest state; returns its generation.
    pub fn submit(&mut self, state: PersistedState) -> u64 {
        self.generation += 1;
        self.jobs
            .send_replace(Some((self.generation, Arc::new(state))));
        self.generation
    }

    /// The generation of the last state handed over.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Resolves when generation `generation` (or a later one) is saved, or
    /// when the writer is gone.
    pub fn durable(&self, generation: u64) -> impl Future<Output = ()> + Send + 'static {
        let mut done = self.done.clone();
        async move {
            let _ = done.wait_for(|g| *g >= generation).await;
        }
    }
}
