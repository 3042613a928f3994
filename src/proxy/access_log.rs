//! The optional access log: one line per request with version, status and
//! latency, written by its own task so the request path never waits on disk.
//! When the writer falls behind, lines are dropped and counted rather than
//! slowing traffic.
//!
//! ```text
//! 2026-11-24T18:00:00.123Z 127.0.0.1 "GET /cart" 200 canary 127.0.0.1:9002 1.234ms rid=4f…
//! 2026-11-24T18:00:01.456Z 127.0.0.1 "GET /cart" 502 canary 127.0.0.1:9002 0.310ms rid=9a… error="cannot connect to 127.0.0.1:9002: Connection refused (os error 111)"
//! ```
//!
//! The `error` field holds what cutover knows about a failure it answered
//! itself; the client got only a plain status line (`public_error`).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// What is known about a request when it is routed; completed with the outcome.
#[derive(Debug)]
pub struct Entry {
    pub client: std::net::IpAddr,
    pub method: http::Method,
    pub path: String,
    pub upstream: String,
    pub request_id: String,
}

#[derive(Clone, Debug)]
pub struct AccessLog {
    tx: mpsc::Sender<String>,
    dropped: Arc<AtomicU64>,
}

impl AccessLog {
    /// Open (append) `path` and start the writer task.
    pub async fn open(path: &Path) -> std::io::Result<AccessLog> {
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await?;
        let (tx, mut rx) = mpsc::channel::<String>(16 * 1024);
        tokio::spawn(async move {
            let mut out = tokio::io::BufWriter::new(file);
            let mut flush = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    line = rx.recv() => match line {
                        Some(l) => { let _ = out.write_all(l.as_bytes()).await; }
                        None => break,
                    },
                    _ = flush.tick() => { let _ = out.flush().await; }
                }
            }
            let _ = out.flush().await;
        });
        Ok(AccessLog {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Lines dropped because the writer could not keep up.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub fn record(
        &self,
        e: &Entry,
        role: crate::model::Role,
        status: u16,
        latency: Duration,
        error: Option<&str>,
    ) {
        let mut line = format!(
            "{} {} \"{} {}\" {} {} {} {:.3}ms rid={}",
            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ"),
            e.client,
            e.method,
            e.path,
            status,
            role,
            e.upstream,
            latency.as_secs_f64() * 1000.0,
            e.request_id
        );
        if let Some(error) = error {
            use std::fmt::Write;
            let _ = write!(line, " error={error:?}");
        }
        line.push('\n');
        if self.tx.try_send(line).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}
