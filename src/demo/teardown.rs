//! Everything the demo starts, and the one teardown that undoes it
//! whatever way the demo ends: its state directory, the signal handlers
//! installed before anything else, and the list of what was started.

use super::plan::SERVICE;
use crate::daemon::RunningDaemon;
use crate::runtime::Runtime;
use color_eyre::eyre::{Result, WrapErr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The demo's own state directory, removed when the demo ends.
pub(super) struct StateDir(pub(super) PathBuf);

impl StateDir {
    pub(super) fn new() -> Result<StateDir> {
        let p = std::env::temp_dir().join(format!(
            "cutover-demo-{}-{:08x}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir_all(&p).wrap_err_with(|| format!("cannot create {}", p.display()))?;
        Ok(StateDir(p))
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// SIGINT / SIGTERM, listened for from the demo's first instant on.
pub(super) struct Signals {
    rx: tokio::sync::watch::Receiver<Option<&'static str>>,
    _task: tokio_util::task::AbortOnDropHandle<()>,
}

impl Signals {
    pub(super) fn install() -> Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut int = signal(SignalKind::interrupt()).wrap_err("cannot handle SIGINT")?;
        let mut term = signal(SignalKind::terminate()).wrap_err("cannot handle SIGTERM")?;
        let (tx, rx) = tokio::sync::watch::channel(None);
        let task = tokio::spawn(async move {
            loop {
                let name = tokio::select! {
                    _ = int.recv() => "SIGINT",
                    _ = term.recv() => "SIGTERM",
                };
                if tx.borrow().is_some() {
                    eprintln!(
                        "cutover demo: {name} again; still cleaning up (it takes a few seconds)…"
                    );
                } else {
                    tx.send_replace(Some(name));
                }
            }
        });
        Ok(Signals {
            rx,
            _task: tokio_util::task::AbortOnDropHandle::new(task),
        })
    }

    /// The first signal that came.
    pub(super) async fn received(&self) -> &'static str {
        let mut rx = self.rx.clone();
        match rx.wait_for(Option::is_some).await {
            Ok(s) => s.unwrap_or("SIGTERM"),
            Err(_) => std::future::pending().await,
        }
    }
}

/// The shell's exit code for a process ended by this signal.
pub(super) fn signal_exit_code(name: &str) -> u8 {
    if name == "SIGINT" { 130 } else { 143 }
}

/// `fut`, unless a signal comes first (then `Err(exit code)`).
pub(super) async fn unless_signalled<T>(
    signals: &Signals,
    fut: impl Future<Output = T>,
) -> Result<T, u8> {
    tokio::select! {
        v = fut => Ok(v),
        name = signals.received() => {
            eprintln!("cutover demo: {name}: stopping and cleaning up…");
            Err(signal_exit_code(name))
        }
    }
}

/// Everything the demo started so far, in the order it is undone.
#[derive(Default)]
pub(super) struct Started {
    /// One demo per machine; released last.
    pub(super) lock: Option<crate::lock::HeldLock>,
    pub(super) runtime: Option<Arc<dyn Runtime>>,
    pub(super) state: Option<StateDir>,
    pub(super) daemon: Option<RunningDaemon>,
    pub(super) load: Option<(
        tokio::sync::watch::Sender<bool>,
        tokio::task::JoinHandle<crate::demo::load::LoadSummary>,
    )>,
    pub(super) deploy: Option<tokio_util::task::AbortOnDropHandle<()>>,
}

impl Started {
    /// Undo everything, whatever state the demo reached: stop the load and
    /// the daemon, remove every replica of the demo service, keep the
    /// recording when asked. Returns how many replicas are left (0).
    pub(super) async fn teardown(mut self, record: Option<&Path>) -> usize {
        self.deploy.take();
        if let Some((stop, load)) = self.load.take() {
            let _ = stop.send(true);
            if let Ok(summary) = load.await {
                eprintln!("cutover demo: load generator: {}", summary.one_line());
            }
        }
        let journal = self.daemon.as_ref().map(RunningDaemon::journal_path);
        if let Some(daemon) = self.daemon.take() {
            daemon.stop().await;
        }
        let mut left = 0;
        if let Some(runtime) = self.runtime.take() {
            left = remove_all(&runtime).await;
            eprintln!("cutover demo: cleaned up ({left} replicas left)");
        }
        if let (Some(path), Some(journal)) = (record, journal) {
            match save_recording(&journal, path) {
                Ok(()) => eprintln!("cutover demo: recorded to {}", path.display()),
                Err(e) => eprintln!("cutover demo: {e:#}"),
            }
        }
        drop(self.state.take());
        drop(self.lock.take());
        left
    }
}

/// The journal (its rotated files first, oldest first) as one recording.
pub(super) fn save_recording(journal: &Path, to: &Path) -> Result<()> {
    let mut out = Vec::new();
    for f in crate::journal::journal_files(journal) {
        out.extend(std::fs::read(&f).wrap_err_with(|| format!("cannot read {}", f.display()))?);
    }
    std::fs::write(to, out)
        .wrap_err_with(|| format!("cannot write the recording to {}", to.display()))
}

/// Stop and remove every replica of the demo service, until none is left
/// (an operation the stopped daemon had under way may still finish
/// starting one). Returns how many could not be removed.
pub(super) async fn remove_all(runtime: &Arc<dyn Runtime>) -> usize {
    for round in 0..5 {
        let replicas = runtime.list(SERVICE).await.unwrap_or_default();
        if replicas.is_empty() && round > 0 {
            return 0;
        }
        for r in replicas {
            let _ = runtime.stop(&r, Duration::from_secs(2)).await;
            let _ = runtime.remove(&r).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    runtime.list(SERVICE).await.map_or(0, |l| l.len())
}
