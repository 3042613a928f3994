//! Moving an exchange's bytes once its upstream is chosen: waiting for the
//! upstream's answer on the upstream's own clock, and splicing an upgraded
//! connection (WebSocket) through. Kept apart from `forward.rs`, which
//! decides where a request goes and what the client is told.

use super::body::Upload;
use super::router::Completion;
use futures::future::Either;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Wait for the upstream's answer, charging it only for its own turn: a
/// 504 (`None`) after `limit` without an answer *while the upstream had
/// the turn*. With a streamed upload, the upstream's clock runs from the
/// last piece of body that moved and stops while the proxy waits on the
/// client (whose own `client_body_timeout` then applies, and ends in 408):
/// an upstream that got the whole request and does not answer is charged;
/// one that waits for a client who stalled is not.
///
/// Not an `async fn`: its future would hold `send` twice (the argument's
/// slot and the timeout's), and every request's future is copied whole
/// each time it moves. Without an upload it is the plain timeout, inline;
/// the upload's clock is boxed.
pub(super) fn upstream_turn<'a, F>(
    send: F,
    limit: Duration,
    upload: Option<&'a Upload>,
) -> Turn<'a, F>
where
    F: std::future::Future + Send + 'a,
{
    use futures::FutureExt;
    match upload {
        None => Either::Left(tokio::time::timeout(limit, send).map(Result::ok)),
        Some(upload) => Either::Right(Box::pin(streamed_turn(send, limit, upload))),
    }
}

/// The future of [`upstream_turn`].
pub(super) type Turn<'a, F> = Either<
    futures::future::Map<
        tokio::time::Timeout<F>,
        fn(
            Result<<F as std::future::Future>::Output, tokio::time::error::Elapsed>,
        ) -> Option<<F as std::future::Future>::Output>,
    >,
    std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Option<<F as std::future::Future>::Output>>
                + Send
                + 'a,
        >,
    >,
>;

/// [`upstream_turn`] with a streamed upload: the upstream's clock stops
/// while the proxy waits on the client.
async fn streamed_turn<F: std::future::Future>(
    send: F,
    limit: Duration,
    upload: &Upload,
) -> Option<F::Output> {
    tokio::pin!(send);
    let start = Instant::now();
    let mut deadline = start + limit;
    loop {
        tokio::select! {
            biased;
            r = &mut send => return Some(r),
            () = tokio::time::sleep_until(deadline) => {
                let now = Instant::now();
                if upload.waiting_on_client() {
                    deadline = now + limit;
                    continue;
                }
                let next = upload.last_moved().max(start) + limit;
                if next > now {
                    deadline = next;
                    continue;
                }
                return None;
            }
        }
    }
}

/// Splice an upgraded connection (WebSocket) until either side closes or the
/// version's drain cuts it. The request stays on the version it opened on.
pub(super) async fn tunnel(
    client: hyper::upgrade::OnUpgrade,
    upstream: hyper::upgrade::OnUpgrade,
    done: Completion,
    cut: Arc<tokio_util::sync::CancellationToken>,
) {
    let (c, u) = match tokio::join!(client, upstream) {
        (Ok(c), Ok(u)) => (c, u),
        _ => {
            done.complete(Some(502));
            return;
        }
    };
    let mut c = TokioIo::new(c);
    let mut u = TokioIo::new(u);
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut c, &mut u) => done.complete(None),
        _ = cut.cancelled() => done.complete(Some(504)),
    }
}
