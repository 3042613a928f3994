//! Keep-alive HTTP/1.1 connections to upstream members, pooled per worker.
//!
//! Each listener worker (one thread, one single-threaded runtime) owns one
//! [`Upstreams`], so a request, its client connection and its upstream
//! connection stay on one thread and the pool's lock is never contended.
//! hyper's connection-level client is used directly: a request takes an
//! idle connection of its member (or opens one), sends on it, and the
//! connection goes back to the pool when the answer has been read to its
//! end ([`Lease::release`]). Nothing is spawned per request, nothing is
//! hashed, and the request URI is sent as the client gave it (origin form).
//!
//! A pooled connection the upstream closed while it sat idle is noticed
//! before the request is written (hyper hands the request back), and the
//! request goes out on another connection. If the close crosses the request
//! on the wire (the keep-alive race: the upstream timed the connection out
//! just as the request went out), a bodyless idempotent request is sent
//! again on a fresh connection, as nginx does for a cached connection; the
//! version is not charged for a connection it was entitled to close.

use super::body::RequestBody;
use super::pool::Member;
use http::{HeaderValue, Request, Response, header};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

/// Idle connections kept per member.
const MAX_IDLE_PER_MEMBER: usize = 256;
/// An idle connection older than this is closed, not reused.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How often expired idle connections are swept out.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// Why a request could not be sent (or answered) upstream.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Nothing reached the upstream: the connection was refused or timed out.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// The exchange failed after the request (or part of it) was sent.
    #[error(transparent)]
    Exchange(#[from] hyper::Error),
}

impl SendError {
    /// True when nothing was sent, so any request may be tried elsewhere.
    pub fn is_connect(&self) -> bool {
        matches!(self, SendError::Connect { .. })
    }
}

/// The upstream connections of one worker. Cheap to clone.
#[derive(Clone)]
pub struct Upstreams {
    shared: Arc<Shared>,
}

struct Shared {
    connect_timeout: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// One slot per member address that has idle connections.
    slots: Vec<Slot>,
    last_sweep: Option<Instant>,
}

struct Slot {
    addr: String,
    idle: Vec<Idle>,
}

struct Idle {
    tx: SendRequest<RequestBody>,
    since: Instant,
}

/// A connection in use by one request; [`Lease::release`] gives it back.
pub struct Lease {
    tx: SendRequest<RequestBody>,
    addr: String,
    pool: Upstreams,
}

impl Lease {
    /// The answer was read to its end: the connection may carry the next
    /// request (hyper makes it wait until its previous exchange is done).
    pub fn release(self) {
        if !self.tx.is_closed() {
            self.pool.put(self.addr, self.tx);
        }
    }
}

impl Upstreams {
    pub fn new(connect_timeout: Duration) -> Upstreams {
        Upstreams {
            shared: Arc::new(Shared {
                connect_timeout,
                state: Mutex::new(State::default()),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Send `req` to `member` and wait for the answer's head. `resend` is
    /// the request again (bodyless, idempotent) when it may go out twice.
    pub async fn send(
        &self,
        member: &Member,
        req: Request<RequestBody>,
        resend: Option<&http::request::Parts>,
    ) -> Result<(Response<Incoming>, Lease), SendError> {
        let mut req = with_host(member, req);
        // Pooled connections found dead for this request; past a few, a
        // fresh connection settles it.
        let mut stale = 0;
        loop {
            let pooled = if stale < 4 {
                self.take(&member.addr)
            } else {
                None
            };
            let (mut tx, reused) = match pooled {
                Some(tx) => (tx, true),
                // Boxed: a new connection is rare on this path, and its
                // future, held inline, would make every request's larger.
                None => (Box::pin(self.connect(member)).await?, false),
            };
            stale += 1;
            if let Err(e) = tx.ready().await {
                if reused {
                    // Closed while idle: try the next one.
                    continue;
                }
                return Err(e.into());
            }
            match tx.try_send_request(req).await {
                Ok(resp) => {
                    let lease = Lease {
                        tx,
                        addr: member.addr.clone(),
                        pool: self.clone(),
                    };
                    return Ok((resp, lease));
                }
                Err(mut e) => match (e.take_message(), resend) {
                    // Not written: the connection went away first. Safe to
                    // send on another one, body and all.
                    (Some(back), _) if reused => req = back,
                    // Written into a connection the upstream was closing.
                    (None, Some(parts)) if reused => {
                        tracing::debug!(upstream = %member.addr, error = %e.error(), "pooled connection closed under a request; sending it again");
                        req = with_host(
                            member,
                            Request::from_parts(parts.clone(), RequestBody::Empty),
                        );
                    }
                    _ => return Err(e.into_error().into()),
                },
            }
        }
    }

    /// The most recently used idle connection to `addr` that is still open.
    fn take(&self, addr: &str) -> Option<SendRequest<RequestBody>> {
        let now = Instant::now();
        let mut state = self.state();
        if state
            .last_sweep
            .is_none_or(|t| now.duration_since(t) >= SWEEP_EVERY)
        {
            state.last_sweep = Some(now);
            for slot in &mut state.slots {
                slot.idle
                    .retain(|c| !c.tx.is_closed() && now.duration_since(c.since) < IDLE_TIMEOUT);
            }
            state.slots.retain(|s| !s.idle.is_empty());
        }
        let slot = state.slots.iter_mut().find(|s| s.addr == addr)?;
        while let Some(c) = slot.idle.pop() {
            if !c.tx.is_closed() && now.duration_since(c.since) < IDLE_TIMEOUT {
                return Some(c.tx);
            }
        }
        None
    }

    fn put(&self, addr: String, tx: SendRequest<RequestBody>) {
        let idle = Idle {
            tx,
            since: Instant::now(),
        };
        let mut state = self.state();
        match state.slots.iter_mut().find(|s| s.addr == addr) {
            Some(slot) => {
                if slot.idle.len() < MAX_IDLE_PER_MEMBER {
                    slot.idle.push(idle);
                }
            }
            None => state.slots.push(Slot {
                addr,
                idle: vec![idle],
            }),
        }
    }

    /// Open a new connection to `member` and start driving it.
    async fn connect(&self, member: &Member) -> Result<SendRequest<RequestBody>, SendError> {
        let failed = |source| SendError::Connect {
            addr: member.addr.clone(),
            source,
        };
        let connecting = async {
            match member.socket {
                Some(sa) => tokio::net::TcpStream::connect(sa).await,
                None => tokio::net::TcpStream::connect(member.addr.as_str()).await,
            }
        };
        let stream = tokio::time::timeout(self.shared.connect_timeout, connecting)
            .await
            .map_err(|_| {
                failed(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "connect timed out",
                ))
            })?
            .map_err(failed)?;
        let _ = stream.set_nodelay(true);
        let (tx, conn) = hyper::client::conn::http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await?;
        tokio::spawn(async move {
            // Ends when the upstream closes, the exchange fails, or every
            // handle (pool entry or lease) is gone.
            let _ = conn.with_upgrades().await;
        });
        Ok(tx)
    }
}

/// Give the request a `Host` when the client sent none (HTTP/1.0).
fn with_host(member: &Member, mut req: Request<RequestBody>) -> Request<RequestBody> {
    if !req.headers().contains_key(header::HOST)
        && let Some(a) = &member.authority
        && let Ok(v) = HeaderValue::from_str(a.as_str())
    {
        req.headers_mut().insert(header::HOST, v);
    }
    req
}
