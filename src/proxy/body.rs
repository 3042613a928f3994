//! Body wrappers on both sides of the proxy.
//!
//! [`RequestBody`] streams the client's body to the upstream and keeps an
//! [`Upload`] record: whether the *client* broke it off or went quiet for
//! longer than `client_body_timeout` (then it is cut, and the client gets
//! 408), whose turn it is (waiting on the client, or on the upstream to take
//! more), and when it last moved. The time the proxy spends waiting on the
//! client is never the upstream's: `forward` charges a version a 504 only
//! for `upstream_timeout` of *its* turn (see `forward::upstream_turn`). An
//! abandoned or stalled upload is never counted as the version's error.
//! [`ProxyBody`] streams the upstream's answer back
//! and owns the request's accounting: the in-flight count lasts until the
//! last byte, the outcome is recorded exactly once, and a drain that runs out
//! of time cuts the stream.
//!
//! An upstream that goes quiet mid-body is cut after `upstream_timeout`
//! without a frame (the idle timeout between body frames, like nginx's
//! `proxy_read_timeout`) and its version is charged a **504**: it is a
//! timeout, like a head that never came, and stays apart from the 502 of an
//! upstream that broke the connection. A cut stream ends with an *error*, not
//! a clean end, so hyper aborts the client connection and a chunked answer
//! never looks complete when it is not.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use super::router::Completion;
use super::upstream::Lease;

/// How the client's side of an upload ended, when it did not end well.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientFault {
    /// The client closed or broke the connection mid-body.
    BrokeOff,
    /// The client sent nothing for `client_body_timeout` mid-body (408).
    TimedOut,
}

/// What is known about one streamed upload, shared by the body (which
/// writes it) and the request's handler (which reads it).
#[derive(Debug)]
pub struct Upload {
    base: Instant,
    /// When a piece of body last moved, in µs since `base`.
    moved_at_us: AtomicU64,
    /// The proxy asked the client for more and has not had it yet.
    waiting_on_client: AtomicBool,
    /// 0: fine; else a [`ClientFault`].
    fault: AtomicU8,
}

impl Default for Upload {
    fn default() -> Self {
        Upload {
            base: Instant::now(),
            moved_at_us: AtomicU64::new(0),
            waiting_on_client: AtomicBool::new(false),
            fault: AtomicU8::new(0),
        }
    }
}

impl Upload {
    /// The client's fault, if the upload failed because of the client.
    pub fn client_fault(&self) -> Option<ClientFault> {
        match self.fault.load(Ordering::Acquire) {
            1 => Some(ClientFault::BrokeOff),
            2 => Some(ClientFault::TimedOut),
            _ => None,
        }
    }

    /// Whether the proxy is waiting on the client (its turn, not the upstream's).
    pub fn waiting_on_client(&self) -> bool {
        self.waiting_on_client.load(Ordering::Acquire)
    }

    /// When a piece of the body last moved (or the upload began).
    pub fn last_moved(&self) -> Instant {
        self.base + Duration::from_micros(self.moved_at_us.load(Ordering::Acquire))
    }

    fn moved(&self) {
        let us = self.base.elapsed().as_micros().min(u128::from(u64::MAX)) as u64;
        self.moved_at_us.store(us, Ordering::Release);
        self.waiting_on_client.store(false, Ordering::Release);
    }

    fn fail(&self, fault: ClientFault) {
        let code = match fault {
            ClientFault::BrokeOff => 1,
            ClientFault::TimedOut => 2,
        };
        let _ = self
            .fault
            .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire);
        self.waiting_on_client.store(false, Ordering::Release);
    }
}

/// Why a request body did not reach the upstream whole.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the client's request body broke off: {0}")]
    Client(#[from] hyper::Error),
    #[error("the client sent no request body for {0:?}")]
    ClientTimedOut(Duration),
}

/// What the proxy sends upstream.
pub enum RequestBody {
    Empty,
    Stream {
        inner: Incoming,
        upload: Arc<Upload>,
        /// `client_body_timeout`: longest wait for the client's next piece.
        idle: Duration,
        /// Armed when a wait on the client begins.
        timer: Option<Pin<Box<tokio::time::Sleep>>>,
    },
}

impl RequestBody {
    /// Stream `inner`, cut after `idle` without a piece from the client.
    pub fn stream(inner: Incoming, upload: Arc<Upload>, idle: Duration) -> RequestBody {
        RequestBody::Stream {
            inner,
            upload,
            idle,
            timer: None,
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = UploadError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, UploadError>>> {
        match self.get_mut() {
            RequestBody::Empty => Poll::Ready(None),
            RequestBody::Stream {
                inner,
                upload,
                idle,
                timer,
            } => match Pin::new(inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    upload.moved();
                    Poll::Ready(Some(Ok(frame)))
                }
                Poll::Ready(None) => {
                    upload.moved();
                    Poll::Ready(None)
                }
                Poll::Ready(Some(Err(e))) => {
                    upload.fail(ClientFault::BrokeOff);
                    Poll::Ready(Some(Err(e.into())))
                }
                Poll::Pending => {
                    if !upload.waiting_on_client.swap(true, Ordering::AcqRel) {
                        let deadline = Instant::now() + *idle;
                        match timer {
                            Some(t) => t.as_mut().reset(deadline),
                            None => *timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
                        }
                    }
                    if let Some(t) = timer
                        && t.as_mut().poll(cx).is_ready()
                    {
                        upload.fail(ClientFault::TimedOut);
                        return Poll::Ready(Some(Err(UploadError::ClientTimedOut(*idle))));
                    }
                    Poll::Pending
                }
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RequestBody::Empty => true,
            RequestBody::Stream { inner, .. } => inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RequestBody::Empty => SizeHint::with_exact(0),
            RequestBody::Stream { inner, .. } => inner.size_hint(),
        }
    }
}

/// Why cutover ended an upstream's answer early.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error(transparent)]
    Upstream(#[from] hyper::Error),
    #[error("the upstream sent nothing for {0:?} in the middle of its answer")]
    Idle(Duration),
    #[error("the version was drained before its answer ended")]
    Drained,
}

/// What the proxy answers the client with.
pub struct ProxyBody {
    kind: Kind,
}

// Nearly every answer is the `Upstream` variant: boxing it would cost an
// allocation per response to save a few hundred bytes of moves.
#[allow(clippy::large_enum_variant)]
enum Kind {
    Full(Option<Bytes>),
    Upstream(Streaming),
}

/// An upstream answer on its way to the client.
struct Streaming {
    /// A frame already read before the head went out (small bodies), so
    /// head and body leave in one write.
    first: Option<Frame<Bytes>>,
    inner: Incoming,
    done: Option<Completion>,
    /// The upstream connection; back to the pool when the answer ends cleanly.
    lease: Option<Lease>,
    /// The version's drain cut; its wait future is made on the first
    /// wait, so an answer that is complete at once costs no allocation.
    cut: Arc<CancellationToken>,
    cut_wait: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
    /// Longest quiet spell allowed between two frames.
    idle: Duration,
    /// The request's upload, when it had a body: an answer that breaks
    /// because the client broke (or stalled) its upload is not the version's.
    upload: Option<Arc<Upload>>,
    /// Armed when a wait for the next frame begins, disarmed by a frame.
    idle_timer: Option<Pin<Box<tokio::time::Sleep>>>,
    waiting: bool,
}

impl ProxyBody {
    /// A complete body produced by cutover itself (errors, 400s).
    pub fn full(text: impl Into<Bytes>) -> ProxyBody {
        ProxyBody {
            kind: Kind::Full(Some(text.into())),
        }
    }

    pub fn empty() -> ProxyBody {
        ProxyBody {
            kind: Kind::Full(None),
        }
    }

    /// Stream an upstream body; `done` is recorded when it ends, and a wait
    /// of more than `idle` for the next frame cuts it (504).
    pub(super) fn upstream(
        first: Option<Frame<Bytes>>,
        inner: Incoming,
        done: Completion,
        lease: Lease,
        cut: Arc<CancellationToken>,
        idle: Duration,
        upload: Option<Arc<Upload>>,
    ) -> ProxyBody {
        let mut s = Streaming {
            first,
            inner,
            done: Some(done),
            lease: Some(lease),
            cut,
            cut_wait: None,
            idle,
            upload,
            idle_timer: None,
            waiting: false,
        };
        if s.first.is_none() && s.inner.is_end_stream() {
            s.finish(None);
        }
        ProxyBody {
            kind: Kind::Upstream(s),
        }
    }
}

impl Streaming {
    /// Record the outcome once; a clean end (`None`) gives the upstream
    /// connection back to the pool, a cut or broken one closes it.
    fn finish(&mut self, status: Option<u16>) {
        if let Some(d) = self.done.take() {
            d.complete(status);
        }
        if let Some(lease) = self.lease.take()
            && status.is_none()
        {
            lease.release();
        }
    }

    fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        if let Some(frame) = self.first.take() {
            if self.inner.is_end_stream() {
                self.finish(None);
            }
            return Poll::Ready(Some(Ok(frame)));
        }
        if self.done.is_none() {
            // Accounted for already: the end, or a cut.
            return Pin::new(&mut self.inner)
                .poll_frame(cx)
                .map(|f| f.map(|r| r.map_err(BodyError::from)));
        }
        if self.cut.is_cancelled() {
            // The drain ran out of time: count it as a 504 and cut the stream.
            self.finish(Some(504));
            return Poll::Ready(Some(Err(BodyError::Drained)));
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(None) => {
                self.finish(None);
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                match self.upload.as_ref().and_then(|u| u.client_fault()) {
                    // The exchange broke because the client's upload did
                    // (it answered early, then the client stalled or left).
                    Some(fault) => {
                        if let Some(d) = self.done.take() {
                            d.client_fault(fault);
                        }
                        self.lease.take();
                    }
                    // The upstream broke off mid-body: the version's fault.
                    None => self.finish(Some(502)),
                }
                Poll::Ready(Some(Err(e.into())))
            }
            Poll::Ready(Some(Ok(frame))) => {
                self.waiting = false;
                if self.inner.is_end_stream() {
                    self.finish(None);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                let cut = self
                    .cut_wait
                    .get_or_insert_with(|| Box::pin((*self.cut).clone().cancelled_owned()));
                if cut.as_mut().poll(cx).is_ready() {
                    self.finish(Some(504));
                    return Poll::Ready(Some(Err(BodyError::Drained)));
                }
                if !self.waiting {
                    self.waiting = true;
                    let deadline = tokio::time::Instant::now() + self.idle;
                    match &mut self.idle_timer {
                        Some(t) => t.as_mut().reset(deadline),
                        None => {
                            self.idle_timer = Some(Box::pin(tokio::time::sleep_until(deadline)))
                        }
                    }
                }
                if let Some(t) = &mut self.idle_timer
                    && t.as_mut().poll(cx).is_ready()
                {
                    self.finish(Some(504));
                    return Poll::Ready(Some(Err(BodyError::Idle(self.idle))));
                }
                Poll::Pending
            }
        }
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match &mut self.get_mut().kind {
            Kind::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            Kind::Upstream(s) => s.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(data) => data.is_none(),
            Kind::Upstream(s) => s.first.is_none() && s.inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(Some(d)) => SizeHint::with_exact(d.len() as u64),
            Kind::Full(None) => SizeHint::with_exact(0),
            Kind::Upstream(s) => {
                let extra = s
                    .first
                    .as_ref()
                    .and_then(|f| f.data_ref())
                    .map_or(0, |d| d.len() as u64);
                let h = s.inner.size_hint();
                let mut out = SizeHint::new();
                out.set_lower(h.lower() + extra);
                if let Some(u) = h.upper() {
                    out.set_upper(u + extra);
                }
                out
            }
        }
    }
}

impl Drop for ProxyBody {
    fn drop(&mut self) {
        if let Kind::Upstream(s) = &mut self.kind
            && let Some(d) = s.done.take()
        {
            // Dropped before the end: the client went away.
            d.abort();
        }
    }
}
