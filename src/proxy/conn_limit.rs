//! How many public connections may be open at once, and what happens past
//! that.
//!
//! Every public connection costs a file descriptor, and usually a second
//! one upstream. With no cap, a few hundred idle clients under a low
//! `RLIMIT_NOFILE` used every descriptor: `accept` failed in a tight loop
//! (flooding the log) and the admin API — the operator's way to roll back —
//! could not accept either. So:
//!
//! - the daemon raises its soft open-file limit to the hard limit at start
//!   ([`raise_open_file_limit`]);
//! - public connections are capped ([`ConnLimit`]): by the plan's
//!   `proxy.max_connections`, else by [`default_max_connections`], which
//!   keeps a reserve for the admin API, files and the runtime and half of
//!   the rest for upstream connections;
//! - **past the cap, new connections wait in the kernel's listen backlog**:
//!   the listener simply stops calling `accept` until a connection closes.
//!   A waiting client is served late rather than refused (a refused or
//!   reset connection is an error a client may not retry; a queued one
//!   costs no descriptor), and the backlog is bounded by the kernel, so
//!   nothing grows without limit. Idle keep-alive connections free their
//!   slot after `proxy.header_timeout` (hyper's head timer covers the wait
//!   for each next request), so the cap cannot be held forever by clients
//!   that send nothing;
//! - the warnings are rate-limited ([`super::throttle`]).
//!
//! A connection's slot is held by [`Counted`], the socket wrapper, so it is
//! released exactly when the socket closes — also for an upgraded
//! (WebSocket) connection that outlives its HTTP exchange.

use super::throttle::{Throttle, WARN_EVERY, and_more};
use crate::metrics::Metrics;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Descriptors kept out of the public connections' share: the admin API
/// and its clients, the journal, log, state and lock files, the listeners
/// and runtimes of the proxy workers, health checks, the container engine
/// or the process runtime's pipes.
pub const RESERVED_FDS: u64 = 64;

/// The public connection cap for an open-file limit of `nofile`: what is
/// left after [`RESERVED_FDS`], halved so each public connection can have an
/// upstream connection too. At least 1.
pub fn default_max_connections(nofile: u64) -> usize {
    let share = nofile.saturating_sub(RESERVED_FDS) / 2;
    usize::try_from(share).unwrap_or(usize::MAX).max(1)
}

/// What [`raise_open_file_limit`] found and did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenFileLimit {
    /// The soft limit before.
    pub was: u64,
    /// The soft limit now (the hard limit when raising worked).
    pub now: u64,
}

/// Raise this process's soft `RLIMIT_NOFILE` to its hard limit (as nginx's
/// `worker_rlimit_nofile` or systemd's services do): a daemon that proxies
/// connections needs descriptors, and the soft default (often 1024) is a
/// leftover for interactive shells. No privilege is needed to raise the
/// soft limit up to the hard one.
pub fn raise_open_file_limit() -> io::Result<OpenFileLimit> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(io::Error::from)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).map_err(io::Error::from)?;
    }
    let (now, _) = getrlimit(Resource::RLIMIT_NOFILE).map_err(io::Error::from)?;
    Ok(OpenFileLimit { was: soft, now })
}

/// The current soft open-file limit (1024, the common default, if it cannot
/// be read).
pub fn open_file_limit() -> u64 {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or(1024, |(soft, _)| soft)
}

/// The cap to use: the plan's, but never more than the descriptors allow
/// (a cap the process cannot honour would let `accept` fail again and
/// starve the admin API); else the default. Says why when it lowers the
/// plan's value.
pub fn effective_max_connections(planned: Option<u32>, nofile: u64) -> (usize, Option<String>) {
    let fits = default_max_connections(nofile);
    match planned {
        None => (fits, None),
        Some(n) if (n as usize) <= fits => (n as usize, None),
        Some(n) => (
            fits,
            Some(format!(
                "proxy.max_connections = {n} does not fit the open-file limit ({nofile}): \
                 each connection may need an upstream connection too, and {RESERVED_FDS} \
                 descriptors stay reserved for the admin API and files; using {fits} \
                 (raise the limit, e.g. LimitNOFILE= or ulimit -n, to allow more)"
            )),
        ),
    }
}

/// The public connection cap shared by every listener worker.
pub struct ConnLimit {
    permits: Arc<Semaphore>,
    max: usize,
    metrics: Arc<Metrics>,
    full: Mutex<Throttle>,
    accept_failed: Mutex<Throttle>,
}

impl std::fmt::Debug for ConnLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnLimit")
            .field("max", &self.max)
            .field("open", &self.open())
            .finish()
    }
}

impl ConnLimit {
    pub fn new(max: usize, metrics: Arc<Metrics>) -> ConnLimit {
        let max = max.clamp(1, Semaphore::MAX_PERMITS);
        metrics.set_public_connection_limit(max as u64);
        ConnLimit {
            permits: Arc::new(Semaphore::new(max)),
            max,
            metrics,
            full: Mutex::new(Throttle::new(WARN_EVERY)),
            accept_failed: Mutex::new(Throttle::new(WARN_EVERY)),
        }
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// Public connections open now.
    pub fn open(&self) -> usize {
        self.max - self.permits.available_permits()
    }

    /// A slot for the next connection; waits while the cap is reached
    /// (the listener does not accept meanwhile, so new connections queue
    /// in the kernel's backlog).
    pub async fn slot(&self) -> Slot {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                self.warn_full();
                self.permits
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed")
            }
        };
        Slot {
            _permit: permit,
            metrics: self.metrics.clone(),
            counted: false,
        }
    }

    fn warn_full(&self) {
        let noted = lock(&self.full).note(std::time::Instant::now());
        if let Some(more) = noted {
            tracing::warn!(
                "public connections at the limit of {} (proxy.max_connections): new ones wait in the listen backlog until one closes{}",
                self.max,
                and_more(more)
            );
        }
    }

    /// `accept` failed (out of descriptors, or a connection reset before it
    /// was accepted): one warning per interval.
    pub fn warn_accept_failed(&self, e: &io::Error) {
        let noted = lock(&self.accept_failed).note(std::time::Instant::now());
        if let Some(more) = noted {
            tracing::warn!(error = %e, "accept failed on the public listener{}", and_more(more));
        }
    }
}

fn lock(m: &Mutex<Throttle>) -> std::sync::MutexGuard<'_, Throttle> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One public connection's place under the cap (taken before `accept`),
/// counted in the metrics' open-connection gauge once a socket holds it;
/// both are given back when it drops.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    metrics: Arc<Metrics>,
    counted: bool,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("counted", &self.counted)
            .finish()
    }
}

impl Slot {
    fn opened(mut self) -> Slot {
        self.metrics.public_connection_opened();
        self.counted = true;
        self
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.counted {
            self.metrics.public_connection_closed();
        }
    }
}

/// A socket that holds its connection's [`Slot`] until it is dropped.
pub struct Counted<T> {
    inner: T,
    _slot: Slot,
}

impl<T> Counted<T> {
    pub fn new(inner: T, slot: Slot) -> Counted<T> {
        Counted {
            inner,
            _slot: slot.opened(),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, data)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_leaves_a_reserve_and_room_upstream() {
        // (open-file limit, cap)
        let table = [
            (0, 1),
            (64, 1),
            (66, 1),
            (128, 32),
            (256, 96),
            (1024, 480),
            (65_536, 32_736),
            (1_048_576, 524_256),
        ];
        for (nofile, want) in table {
            assert_eq!(default_max_connections(nofile), want, "nofile {nofile}");
        }
    }

    #[test]
    fn a_planned_cap_is_kept_when_it_fits_and_lowered_with_a_reason_when_not() {
        assert_eq!(effective_max_connections(None, 1024), (480, None));
        assert_eq!(effective_max_connections(Some(100), 1024), (100, None));
        assert_eq!(effective_max_connections(Some(480), 1024), (480, None));
        let (n, why) = effective_max_connections(Some(10_000), 256);
        assert_eq!(n, 96);
        let why = why.unwrap();
        assert!(why.contains("proxy.max_connections = 10000"), "{why}");
        assert!(why.contains("open-file limit (256)"), "{why}");
        assert!(why.contains("using 96"), "{why}");
    }

    #[tokio::test]
    async fn slots_are_given_back_when_the_socket_drops() {
        let metrics = Arc::new(Metrics::new());
        let limit = ConnLimit::new(2, metrics.clone());
        let a = Counted::new((), limit.slot().await);
        let unused = limit.slot().await;
        assert_eq!((limit.open(), metrics.public_connections()), (2, 1));
        drop(unused);
        let b = Counted::new((), limit.slot().await);
        assert_eq!((limit.open(), metrics.public_connections()), (2, 2));
        // A third waits until one closes.
        let waiting = limit.slot();
        tokio::pin!(waiting);
        assert!(futures::poll!(waiting.as_mut()).is_pending());
        drop(a);
        let c = Counted::new((), waiting.await);
        assert_eq!((limit.open(), metrics.public_connections()), (2, 2));
        drop((b, c));
        assert_eq!((limit.open(), metrics.public_connections()), (0, 0));
    }
}
