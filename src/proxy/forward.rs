//! One request through the proxy: pick a version and a member, forward with
//! pooled keep-alive connections, stream the answer back, and turn upstream
//! failures into plain 502 / 503 / 504 answers counted on the version.
//!
//! A request with no body that could not be *connected* (nothing was sent),
//! or an idempotent one whose upstream broke or hung before answering, is
//! retried on another member, then on the other version: at most
//! [`MAX_ATTEMPTS`] attempts, and the last one is kept for the other version
//! when it has not been tried, so a pool whose members are all dead never
//! keeps the client from the healthy one. Every failed attempt is counted
//! once against the version it went to (guards see a broken canary); the
//! client's answer, when every attempt failed, is the last attempt's, already
//! counted on its version. Requests with a body are not retried (the body is
//! streamed, never buffered).
//!
//! A canary 5xx that comes back after the canary's share went to 0 (the
//! error trip fired, or a rollback began, while the request was on it) is
//! answered by stable instead when the request may be sent twice: clients
//! see at most the errors that came back while the canary still had its
//! share, i.e. no more than the trip's limit (`guard.trip_after`, `max_failed_requests`).
//!
//! **Who is charged.** Against the version it went to: an upstream 5xx, a
//! refused connection or a broken exchange (502), no answer within
//! `upstream_timeout` of the upstream's own turn (504), a drain cut (504),
//! no serving member (503). Never against a version: a client that aborts,
//! a client that stalls its upload past `client_body_timeout` (408, counted
//! apart as a client timeout), and requests refused before routing (400,
//! 431, 501). Clients see plain status lines (`public_error`); the detail
//! goes to the access log.

use super::body::{ClientFault, ProxyBody, RequestBody, Upload};
use super::framing::Verdict;
use super::headers;
use super::pool::Member;
use super::public_error::PublicError;
use super::request_rules;
use super::router::{Completion, Router, idx};
use super::split;
use super::upstream::Upstreams;
use crate::model::Role;
use crate::plan::Sticky;
use http::{HeaderValue, Request, Response, StatusCode, Uri, Version, header};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How many attempts a bodyless request gets when upstreams fail it; the
/// last is kept for the other version while that one is untried.
const MAX_ATTEMPTS: usize = 3;

static ROUTE_HEADER: header::HeaderName = header::HeaderName::from_static("x-cutover-route");

/// What one listener worker shares among its requests: the router, its own
/// upstream pool and its own copy of the routing table. Cloned per request
/// as an `Arc` that only this worker's thread touches, so the request path
/// bumps no reference count that another worker's core also writes.
pub struct Worker {
    pub router: Router,
    pub upstreams: Upstreams,
    table: std::sync::Mutex<Arc<super::router::Table>>,
}

impl Worker {
    pub fn new(router: Router, upstreams: Upstreams) -> Arc<Worker> {
        let table = std::sync::Mutex::new(router.table());
        Arc::new(Worker {
            router,
            upstreams,
            table,
        })
    }

    /// The routing table now, as this worker's own `Arc`: refreshed from
    /// the router when its generation moved, else shared locally.
    fn table(&self) -> Arc<super::router::Table> {
        let mut mine = self.table.lock().unwrap_or_else(|e| e.into_inner());
        self.router.refresh(&mut mine);
        mine.clone()
    }
}

/// Who sent a request: made once per client connection.
#[derive(Clone)]
pub struct Peer {
    pub addr: SocketAddr,
    /// `addr`'s IP as an `X-Forwarded-For` value.
    pub forwarded_for: HeaderValue,
}

impl Peer {
    pub fn new(addr: SocketAddr) -> Peer {
        Peer {
            addr,
            forwarded_for: headers::client_value(addr.ip()),
        }
    }
}

/// Handle one client request. Never fails: every outcome is a response.
pub async fn handle(
    worker: Arc<Worker>,
    mut req: Request<Incoming>,
    peer: Peer,
    verdict: Verdict,
) -> Result<Response<ProxyBody>, std::convert::Infallible> {
    if let Some(refused) = refusal(verdict) {
        return Ok(refused.response());
    }
    if let Err(why) = headers::check_framing(req.headers()) {
        return Ok(PublicError::Refused(StatusCode::BAD_REQUEST, why.reason()).response());
    }
    if let Err(r) = request_rules::apply(&mut req) {
        return Ok(PublicError::Refused(r.status(), r.reason()).response());
    }
    let router = &worker.router;
    let upstreams = &worker.upstreams;
    let opts = &router.inner.opts;
    let table = worker.table();
    let bucket = match &opts.sticky {
        Some(s) => {
            sticky_key(&req, s).map_or_else(|| router.next_bucket(), |k| split::sticky_bucket(&k))
        }
        None => router.next_bucket(),
    };
    let mut role = split::role_for_bucket(bucket, table.weight);
    if table.pool(role).is_empty() && !table.pool(other(role)).is_empty() {
        // The chosen version has no serving member (crashed, draining):
        // the other one serves rather than the client failing.
        role = other(role);
    }

    let upgrade = headers::is_upgrade(req.headers());
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();
    let bodyless = body_is_empty(&parts.headers, &body);
    headers::strip_hop_by_hop(&mut parts.headers, upgrade);
    let client = peer.addr.ip();
    let request_id = headers::add_forwarding_for(&mut parts.headers, &peer.forwarded_for);
    // Upstreams get HTTP/1.1 with an origin-form target, as nginx's
    // `proxy_http_version 1.1` does (the authority is in Host by now).
    parts.version = Version::HTTP_11;
    if parts.uri.scheme().is_some() || parts.uri.authority().is_some() {
        parts.uri = origin_form(&parts.uri);
    }
    let logging = router.inner.access_log.load().is_some();
    let entry = |upstream: &str| {
        logging.then(|| super::access_log::Entry {
            client,
            method: parts.method.clone(),
            path: parts.uri.path().to_string(),
            upstream: upstream.to_string(),
            request_id: request_id.to_str().unwrap_or("-").to_string(),
        })
    };
    // Only a streamed upload can be broken off, or stalled, by the client.
    let upload = (!bodyless).then(|| Arc::new(Upload::default()));
    let mut body = Some(body);

    // A request that may go out twice (on a fresh connection, after a
    // pooled one was closed under it).
    let resend = (bodyless && parts.method.is_idempotent()).then_some(&parts);
    let mut tried: Vec<Arc<Member>> = Vec::new();
    // Attempts made on each version, by `router::idx`.
    let mut attempts = [0usize; 2];
    // The last failed attempt's answer, already counted on its version.
    let mut last_failure: Option<PublicError> = None;
    loop {
        let spent = attempts[0] + attempts[1];
        if spent >= MAX_ATTEMPTS {
            break;
        }
        let alt = other(role);
        let may_switch =
            bodyless && attempts[idx(alt)] == 0 && !table.pool(alt).is_empty() && spent > 0;
        if may_switch && spent + 1 >= MAX_ATTEMPTS {
            // Keep the last attempt for the version not tried yet.
            role = alt;
        }
        let picked = table.pool(role).pick(opts.balance, &tried);
        let Some(member) = picked else {
            if may_switch {
                // Every member of this version failed the request.
                role = alt;
                continue;
            }
            if let Some(failure) = last_failure {
                return Ok(with_id(failure.response(), &request_id));
            }
            let in_flight = router.metrics().start(role);
            let why = format!(
                "no healthy upstream for {} ({} has {} serving members)",
                opts.service,
                role,
                table.pool(role).len()
            );
            router.local_answer(role, in_flight, 503, Duration::ZERO, entry("-"), &why);
            return Ok(with_id(PublicError::NoUpstream.response(), &request_id));
        };
        attempts[idx(role)] += 1;

        let in_flight = router.metrics().start(role);
        let guard = member.enter();
        let cut = router.cut_token(role);
        let started = Instant::now();

        let up = if bodyless {
            // Kept for another attempt.
            Request::from_parts(parts.clone(), RequestBody::Empty)
        } else {
            let b = body.take().expect("a request with a body is sent once");
            let upload = upload.clone().expect("made for requests with a body");
            Request::from_parts(
                parts.clone(),
                RequestBody::stream(b, upload, opts.client_body_timeout),
            )
        };

        let sent = tokio::select! {
            biased;
            r = upstream_turn(upstreams.send(member, up, resend), opts.upstream_timeout, upload.as_deref()) => r,
            _ = cut.cancelled() => {
                router.local_answer(role, in_flight, 504, started.elapsed(), entry(&member.addr), &"its version was drained before it answered");
                return Ok(with_id(PublicError::Drained.response(), &request_id));
            }
        };
        match sent {
            Some(Ok((mut resp, lease))) => {
                let status = resp.status();
                let latency = started.elapsed();
                if role == Role::Canary
                    && status.is_server_error()
                    && resend.is_some()
                    && router.weight() == 0
                    && !table.pool(Role::Stable).is_empty()
                    && attempts[0] + attempts[1] < MAX_ATTEMPTS
                {
                    // The canary failed a request it took before its share
                    // went to 0 (the error trip fired, or a rollback began,
                    // while the request was on it). Stable can still serve
                    // an idempotent request without a body, so it does: no
                    // client sees an error from a canary already condemned.
                    // The canary is charged its error as usual.
                    drop((resp, lease, guard));
                    router.local_answer(
                        role,
                        in_flight,
                        status.as_u16(),
                        latency,
                        entry(&member.addr),
                        &"a condemned canary failed it; answered by stable",
                    );
                    role = Role::Stable;
                    continue;
                }
                let upstream_upgrade = (status == StatusCode::SWITCHING_PROTOCOLS)
                    .then(|| hyper::upgrade::on(&mut resp));
                let (mut rparts, rbody) = resp.into_parts();
                headers::strip_hop_by_hop(&mut rparts.headers, upstream_upgrade.is_some());
                if upgrade && upstream_upgrade.is_none() {
                    // The upstream declined the switch. The framing watchdog
                    // stopped at the upgrade request, so this connection's
                    // later bytes are not followed: close it after this
                    // answer (a request hyper found there would be refused
                    // as unwatched anyway).
                    rparts
                        .headers
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                rparts
                    .headers
                    .insert(headers::X_REQUEST_ID.clone(), request_id.clone());
                if opts.route_header
                    && let Ok(v) = HeaderValue::from_str(&format!("{role} {}", table.generation))
                {
                    rparts.headers.insert(ROUTE_HEADER.clone(), v);
                }
                let done = Completion {
                    worker: worker.clone(),
                    role,
                    in_flight,
                    _member: guard,
                    status: status.as_u16(),
                    latency,
                    log: entry(&member.addr).map(Box::new),
                };
                if let (Some(up_upgrade), Some(cl_upgrade)) = (upstream_upgrade, client_upgrade) {
                    // The connection becomes the tunnel; it never returns to the pool.
                    drop(lease);
                    tokio::spawn(tunnel(cl_upgrade, up_upgrade, done, cut));
                    return Ok(Response::from_parts(rparts, ProxyBody::empty()));
                }
                // Small bodies: read the first frame now so head and body
                // leave in one write (half the syscalls and wakeups). Larger
                // or unsized bodies (streams, SSE) start flowing at once.
                let mut rbody = rbody;
                let mut first = None;
                if small_body(&rparts.headers) {
                    use http_body_util::BodyExt;
                    let left = opts.upstream_timeout.saturating_sub(started.elapsed());
                    match tokio::time::timeout(left, rbody.frame()).await {
                        Ok(Some(Ok(frame))) => first = Some(frame),
                        Ok(None) => {}
                        Ok(Some(Err(_))) => {
                            done.complete(Some(502));
                            return Ok(with_id(
                                PublicError::UpstreamBrokeOff.response(),
                                &request_id,
                            ));
                        }
                        Err(_elapsed) => {
                            done.complete(Some(504));
                            return Ok(with_id(
                                PublicError::UpstreamTimedOut.response(),
                                &request_id,
                            ));
                        }
                    }
                }
                let body = ProxyBody::upstream(
                    first,
                    rbody,
                    done,
                    lease,
                    cut,
                    opts.upstream_timeout,
                    upload.clone(),
                );
                return Ok(Response::from_parts(rparts, body));
            }
            Some(Err(e)) => {
                match upload.as_ref().and_then(|u| u.client_fault()) {
                    Some(ClientFault::TimedOut) => {
                        // The client stalled its own upload: 408, and not
                        // the version's (counted apart as a client timeout).
                        in_flight.client_timeout();
                        router.log_line(
                            entry(&member.addr),
                            role,
                            408,
                            started.elapsed(),
                            &error_chain(&e),
                        );
                        return Ok(with_id(PublicError::ClientTimedOut.response(), &request_id));
                    }
                    Some(ClientFault::BrokeOff) => {
                        // The client broke off its own upload: not the version's error.
                        in_flight.abort();
                        return Ok(PublicError::ClientBrokeOff.response());
                    }
                    None => {}
                }
                let detail = error_chain(&e);
                router.local_answer(
                    role,
                    in_flight,
                    502,
                    started.elapsed(),
                    entry(&member.addr),
                    &detail,
                );
                tracing::debug!(upstream = %member.addr, %role, error = %detail, "upstream request failed");
                // Safe to send again: nothing reached the upstream (connect
                // failure), or the method is idempotent and had no body
                // (what nginx's `proxy_next_upstream error` does).
                if bodyless && (e.is_connect() || parts.method.is_idempotent()) {
                    last_failure = Some(PublicError::UpstreamFailed);
                    tried.push(member.clone());
                    continue;
                }
                return Ok(with_id(PublicError::UpstreamFailed.response(), &request_id));
            }
            None => {
                let why = format!(
                    "no answer within upstream_timeout ({:?}) of the upstream's turn",
                    opts.upstream_timeout
                );
                router.local_answer(
                    role,
                    in_flight,
                    504,
                    started.elapsed(),
                    entry(&member.addr),
                    &why,
                );
                tracing::debug!(upstream = %member.addr, %role, "upstream did not answer in time");
                // A hung member: an idempotent request without a body is
                // tried elsewhere (nginx's `proxy_next_upstream timeout`);
                // the member's version is still charged the 504.
                if bodyless && parts.method.is_idempotent() {
                    last_failure = Some(PublicError::UpstreamTimedOut);
                    tried.push(member.clone());
                    continue;
                }
                return Ok(with_id(
                    PublicError::UpstreamTimedOut.response(),
                    &request_id,
                ));
            }
        }
    }
    // Every attempt failed; the last one's answer was counted on its version.
    let failure = last_failure.unwrap_or(PublicError::UpstreamFailed);
    Ok(with_id(failure.response(), &request_id))
}

/// The answer to a head the framing watchdog flagged, if any.
fn refusal(verdict: Verdict) -> Option<PublicError> {
    let refused = |status, why| Some(PublicError::Refused(status, why));
    match verdict {
        Verdict::Clean => None,
        Verdict::Ambiguous => refused(
            StatusCode::BAD_REQUEST,
            headers::Smuggling::ContentLengthAndTransferEncoding.reason(),
        ),
        Verdict::TooLarge => refused(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request head is larger than the limit",
        ),
        Verdict::Unwatched => refused(
            StatusCode::BAD_REQUEST,
            "request framing on this connection could not be followed",
        ),
    }
}

/// Wait for the upstream's answer, charging it only for its own turn: a
/// 504 (`None`) after `limit` without an answer *while the upstream had
/// the turn*. With a streamed upload, the upstream's clock runs from the
/// last piece of body that moved and stops while the proxy waits on the
/// client (whose own `client_body_timeout` then applies, and ends in 408):
/// an upstream that got the whole request and does not answer is charged;
/// one that waits for a client who stalled is not.
async fn upstream_turn<F: std::future::Future>(
    send: F,
    limit: Duration,
    upload: Option<&Upload>,
) -> Option<F::Output> {
    let Some(upload) = upload else {
        return tokio::time::timeout(limit, send).await.ok();
    };
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
async fn tunnel(
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

/// A response body small enough to read its first frame before answering.
fn small_body(h: &http::HeaderMap) -> bool {
    h.get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|n| n > 0 && n <= 64 * 1024)
}

fn other(role: Role) -> Role {
    match role {
        Role::Stable => Role::Canary,
        Role::Canary => Role::Stable,
    }
}

fn body_is_empty(h: &http::HeaderMap, body: &Incoming) -> bool {
    use http_body::Body;
    if body.is_end_stream() {
        return true;
    }
    !h.contains_key(header::TRANSFER_ENCODING)
        && h.get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|v| v.trim() == "0")
}

fn sticky_key(req: &Request<Incoming>, sticky: &Sticky) -> Option<Vec<u8>> {
    match sticky {
        Sticky::Header(name) => req
            .headers()
            .get(name.as_str())
            .map(|v| v.as_bytes().to_vec()),
        Sticky::Cookie(name) => req
            .headers()
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_bytes().to_vec()),
    }
}

/// The path and query of an absolute-form target (`GET http://host/x`).
fn origin_form(original: &Uri) -> Uri {
    let pq = original
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
    Uri::from(pq)
}

fn with_id(mut r: Response<ProxyBody>, id: &HeaderValue) -> Response<ProxyBody> {
    r.headers_mut()
        .insert(headers::X_REQUEST_ID.clone(), id.clone());
    r
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
