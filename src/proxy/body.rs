//! Body wrappers on both sides of the proxy.
//!
//! [`RequestBody`] streams the client's body to the upstream and remembers
//! whether the *client* broke it off, so an abandoned upload is never counted
//! as the version's error. [`ProxyBody`] streams the upstream's answer back
//! and owns the request's accounting: the in-flight count lasts until the
//! last byte, the outcome is recorded exactly once, and a drain that runs out
//! of time cuts the stream.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use tokio_util::sync::WaitForCancellationFutureOwned;

use super::router::Completion;

/// What the proxy sends upstream.
pub enum RequestBody {
    Empty,
    Stream {
        inner: Incoming,
        client_failed: Arc<AtomicBool>,
    },
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            RequestBody::Empty => Poll::Ready(None),
            RequestBody::Stream {
                inner,
                client_failed,
            } => {
                let polled = Pin::new(inner).poll_frame(cx);
                if let Poll::Ready(Some(Err(_))) = &polled {
                    client_failed.store(true, Ordering::Relaxed);
                }
                polled
            }
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

/// What the proxy answers the client with.
pub struct ProxyBody {
    kind: Kind,
}

enum Kind {
    Full(Option<Bytes>),
    Upstream {
        /// A frame already read before the head went out (small bodies), so
        /// head and body leave in one write.
        first: Option<Frame<Bytes>>,
        inner: Incoming,
        done: Option<Completion>,
        cut: Pin<Box<WaitForCancellationFutureOwned>>,
    },
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

    /// Stream an upstream body; `done` is recorded when it ends.
    pub(super) fn upstream(
        first: Option<Frame<Bytes>>,
        inner: Incoming,
        done: Completion,
        cut: WaitForCancellationFutureOwned,
    ) -> ProxyBody {
        let mut done = Some(done);
        if first.is_none()
            && inner.is_end_stream()
            && let Some(d) = done.take()
        {
            d.complete(None);
        }
        ProxyBody {
            kind: Kind::Upstream {
                first,
                inner,
                done,
                cut: Box::pin(cut),
            },
        }
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match &mut self.get_mut().kind {
            Kind::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            Kind::Upstream {
                first,
                inner,
                done,
                cut,
            } => {
                if let Some(frame) = first.take() {
                    if inner.is_end_stream()
                        && let Some(d) = done.take()
                    {
                        d.complete(None);
                    }
                    return Poll::Ready(Some(Ok(frame)));
                }
                if done.is_some() && cut.as_mut().poll(cx).is_ready() {
                    // The drain ran out of time: count it as a 504 and end the stream.
                    if let Some(d) = done.take() {
                        d.complete(Some(504));
                    }
                    return Poll::Ready(None);
                }
                let polled = Pin::new(&mut *inner).poll_frame(cx);
                match &polled {
                    Poll::Ready(None) => {
                        if let Some(d) = done.take() {
                            d.complete(None);
                        }
                    }
                    Poll::Ready(Some(Err(_))) => {
                        // The upstream broke off mid-body: the version's fault.
                        if let Some(d) = done.take() {
                            d.complete(Some(502));
                        }
                    }
                    Poll::Ready(Some(Ok(_))) if inner.is_end_stream() => {
                        if let Some(d) = done.take() {
                            d.complete(None);
                        }
                    }
                    _ => {}
                }
                polled
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(data) => data.is_none(),
            Kind::Upstream { first, inner, .. } => first.is_none() && inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(Some(d)) => SizeHint::with_exact(d.len() as u64),
            Kind::Full(None) => SizeHint::with_exact(0),
            Kind::Upstream { first, inner, .. } => {
                let extra = first
                    .as_ref()
                    .and_then(|f| f.data_ref())
                    .map_or(0, |d| d.len() as u64);
                let h = inner.size_hint();
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
        if let Kind::Upstream { done, .. } = &mut self.kind
            && let Some(d) = done.take()
        {
            // Dropped before the end: the client went away.
            d.abort();
        }
    }
}
