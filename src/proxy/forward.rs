//! One request through the proxy: pick a version and a member, forward with
//! pooled keep-alive connections, stream the answer back, and turn upstream
//! failures into plain 502 / 503 / 504 answers counted on the version.
//!
//! Which version and member each attempt goes to, and whether a failed one
//! is tried again, is `attempts.rs`'s pure policy (read its rules there);
//! this file does the sending. Every failed attempt is counted once against
//! the version it went to (guards see a broken canary); the client's answer,
//! when every attempt failed, is the last attempt's, already counted on its
//! version.
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

use super::attempts::{Attempts, Failure};
use super::body::{ClientFault, ProxyBody, RequestBody, Upload};
use super::framing::Verdict;
use super::headers::{self, body_is_empty, origin_form, small_body, sticky_key};
use super::pool::Member;
use super::public_error::PublicError;
use super::relay::{tunnel, upstream_turn};
use super::request_rules;
use super::router::Completion;
use super::split;
use super::upstream::Lease;
use crate::model::Role;
use http::{HeaderValue, Request, Response, StatusCode, Version, header};
use hyper::body::Incoming;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

static ROUTE_HEADER: header::HeaderName = header::HeaderName::from_static("x-cutover-route");

pub use super::worker::{Peer, Worker};

/// Handle one client request. Never fails: every outcome is a response.
pub async fn handle(
    worker: Option<Arc<Worker>>,
    mut req: Request<Incoming>,
    peer: Peer,
    verdict: Verdict,
) -> Result<Response<ProxyBody>, std::convert::Infallible> {
    if let Some(refused) = refusal(verdict) {
        return Ok(refused.response());
    }
    // Several services behind this listener, and none is this host's.
    let Some(worker) = worker else {
        return Ok(PublicError::Refused(
            StatusCode::NOT_FOUND,
            "no service here answers for this host",
        )
        .response());
    };
    if let Err(why) = headers::check_framing(req.headers()) {
        return Ok(PublicError::Refused(StatusCode::BAD_REQUEST, why.reason()).response());
    }
    if let Err(r) = request_rules::apply(&mut req) {
        return Ok(PublicError::Refused(r.status(), r.reason()).response());
    }
    let table = worker.table();
    Ok(Exchange::new(worker, table, req, &peer).run().await)
}

/// One routed request on its way: what every attempt needs.
struct Exchange {
    worker: Arc<Worker>,
    table: Arc<super::router::Table>,
    attempts: Attempts,
    parts: http::request::Parts,
    /// The client's body, until the one attempt that streams it.
    body: Option<Incoming>,
    bodyless: bool,
    /// Only a streamed upload can be broken off, or stalled, by the client.
    upload: Option<Arc<Upload>>,
    /// The client asked to switch protocols (WebSocket).
    upgrade: bool,
    client_upgrade: Option<hyper::upgrade::OnUpgrade>,
    request_id: HeaderValue,
    client: std::net::IpAddr,
    logging: bool,
}

/// What one attempt came to. Returned once and matched at once, never
/// stored: boxing the response would cost an allocation per request.
#[allow(clippy::large_enum_variant)]
enum Tried {
    /// The client's answer (the upstream's, or a failure not tried again).
    Answer(Response<ProxyBody>),
    /// Failed, and charged to its version; tried again if the policy says so.
    Failed(Failure, PublicError),
    /// A condemned canary failed it: stable gets the next attempt.
    HandedToStable,
}

impl Exchange {
    fn new(
        worker: Arc<Worker>,
        table: Arc<super::router::Table>,
        mut req: Request<Incoming>,
        peer: &Peer,
    ) -> Exchange {
        let router = &worker.router;
        let opts = &router.inner.opts;
        let sticky = opts
            .sticky
            .as_ref()
            .and_then(|s| sticky_key(&req, s))
            .map(|k| split::sticky_hash(&k));
        let bucket = sticky.map_or_else(|| router.next_bucket(), split::bucket_of_hash);
        let serving = Role::ALL.map(|r| !table.pool(r).is_empty());
        // A tester's own choice first (an allowed one, of a version that
        // serves); else the split by weight.
        let chosen = opts
            .preview
            .as_ref()
            .and_then(|p| {
                let client = peer.addr.ip();
                router.with_version_names(|v| p.chosen(req.headers_mut(), client, v))
            })
            .filter(|r| serving[r.index()])
            .unwrap_or_else(|| split::role_for_bucket(bucket, table.weight));
        if let Some(hash) = sticky {
            router.inner.metrics.sticky_seen(chosen, hash);
        }
        let upgrade = headers::is_upgrade(req.headers());
        let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
        let (mut parts, body) = req.into_parts();
        let bodyless = body_is_empty(&parts.headers, &body);
        headers::strip_hop_by_hop(&mut parts.headers, upgrade);
        let request_id =
            headers::add_forwarding_for(&mut parts.headers, &peer.forwarded_for, || {
                worker.request_ids.next()
            });
        // Upstreams get HTTP/1.1 with an origin-form target, as nginx's
        // `proxy_http_version 1.1` does (the authority is in Host by now).
        parts.version = Version::HTTP_11;
        if parts.uri.scheme().is_some() || parts.uri.authority().is_some() {
            parts.uri = origin_form(&parts.uri);
        }
        let attempts = Attempts::new(chosen, serving, bodyless, parts.method.is_idempotent());
        let logging = router.inner.access_log.load().is_some();
        Exchange {
            attempts,
            body: Some(body),
            bodyless,
            upload: (!bodyless).then(|| Arc::new(Upload::default())),
            upgrade,
            client_upgrade,
            request_id,
            client: peer.addr.ip(),
            logging,
            parts,
            table,
            worker,
        }
    }

    /// Attempt after attempt, as [`Attempts`] allows, until one answers.
    async fn run(mut self) -> Response<ProxyBody> {
        let mut tried: Vec<Arc<Member>> = Vec::new();
        // The last failed attempt's answer, already counted on its version.
        let mut last_failure: Option<PublicError> = None;
        // This worker's own `Arc`s: no count shared with another core moves.
        let table = self.table.clone();
        let balance = self.worker.router.inner.opts.balance;
        while let Some(role) = self.attempts.next_version() {
            let Some(member) = table.pool(role).pick(balance, &tried) else {
                if self.attempts.out_of_members() {
                    continue;
                }
                return match last_failure {
                    Some(failure) => self.public(failure),
                    None => self.no_upstream(role),
                };
            };
            self.attempts.started();
            match self.attempt(role, member).await {
                Tried::Answer(response) => return response,
                Tried::HandedToStable => {}
                Tried::Failed(failure, answer) => {
                    if !self.attempts.retry_after(failure) {
                        return self.public(answer);
                    }
                    last_failure = Some(answer);
                    tried.push(member.clone());
                }
            }
        }
        // Every attempt failed; the last one's answer was counted on its version.
        self.public(last_failure.unwrap_or(PublicError::UpstreamFailed))
    }

    /// One attempt on `member` of `role`, charged to `role`.
    async fn attempt(&mut self, role: Role, member: &Arc<Member>) -> Tried {
        let worker = self.worker.clone();
        let router = &worker.router;
        let opts = &router.inner.opts;
        let in_flight = router.metrics().start(role);
        let guard = member.enter();
        let cut = router.cut_token(role);
        let started = Instant::now();
        let up = self.upstream_request(opts.client_body_timeout);
        // A request that may go out twice (on a fresh connection, after a
        // pooled one was closed under it).
        let resend = self.attempts.resendable().then_some(&self.parts);
        let sent = tokio::select! {
            biased;
            r = upstream_turn(worker.upstreams.send(member, up, resend), opts.upstream_timeout, self.upload.as_deref()) => r,
            _ = cut.cancelled() => {
                router.local_answer(role, in_flight, 504, started.elapsed(), self.entry(&member.addr), &"its version was drained before it answered");
                return Tried::Answer(self.public(PublicError::Drained));
            }
        };
        match sent {
            Some(Ok((resp, lease))) => {
                let status = resp.status();
                let latency = started.elapsed();
                if self
                    .attempts
                    .hand_to_stable(status.is_server_error(), router.weight() == 0)
                {
                    drop((resp, lease, guard));
                    router.local_answer(
                        role,
                        in_flight,
                        status.as_u16(),
                        latency,
                        self.entry(&member.addr),
                        &"a condemned canary failed it; answered by stable",
                    );
                    return Tried::HandedToStable;
                }
                let done = Completion {
                    worker: worker.clone(),
                    role,
                    in_flight,
                    _member: guard,
                    status: status.as_u16(),
                    latency,
                    log: self.entry(&member.addr).map(Box::new),
                };
                Tried::Answer(self.answer(resp, lease, done, cut, started).await)
            }
            Some(Err(e)) => self.upstream_failed(role, in_flight, member, started, &e),
            None => self.no_answer(role, in_flight, member, started),
        }
    }

    /// The request for one attempt: a bodyless one is kept for another
    /// attempt; a body is streamed once.
    fn upstream_request(&mut self, client_body_timeout: Duration) -> Request<RequestBody> {
        if self.bodyless {
            return Request::from_parts(self.parts.clone(), RequestBody::Empty);
        }
        let b = self
            .body
            .take()
            .expect("a request with a body is sent once");
        let upload = self.upload.clone().expect("made for requests with a body");
        Request::from_parts(
            self.parts.clone(),
            RequestBody::stream(b, upload, client_body_timeout),
        )
    }

    /// The attempt failed before an answer: the client's own fault (408,
    /// or gone), else a 502 charged to `role`, tried again if the policy says.
    fn upstream_failed(
        &self,
        role: Role,
        in_flight: crate::metrics::InFlight,
        member: &Arc<Member>,
        started: Instant,
        e: &super::upstream::SendError,
    ) -> Tried {
        let router = &self.worker.router;
        match self.upload.as_ref().and_then(|u| u.client_fault()) {
            Some(ClientFault::TimedOut) => {
                // The client stalled its own upload: 408, and not
                // the version's (counted apart as a client timeout).
                in_flight.client_timeout();
                router.log_line(
                    self.entry(&member.addr),
                    role,
                    408,
                    started.elapsed(),
                    &error_chain(e),
                );
                return Tried::Answer(self.public(PublicError::ClientTimedOut));
            }
            Some(ClientFault::BrokeOff) => {
                // The client broke off its own upload: not the version's error.
                in_flight.abort();
                return Tried::Answer(PublicError::ClientBrokeOff.response());
            }
            None => {}
        }
        let detail = error_chain(e);
        router.local_answer(
            role,
            in_flight,
            502,
            started.elapsed(),
            self.entry(&member.addr),
            &detail,
        );
        tracing::debug!(upstream = %member.addr, %role, error = %detail, "upstream request failed");
        let failure = if e.is_connect() {
            Failure::Connect
        } else {
            Failure::Broken
        };
        Tried::Failed(failure, PublicError::UpstreamFailed)
    }

    /// No answer within `upstream_timeout` of the upstream's turn: a 504
    /// charged to `role`.
    fn no_answer(
        &self,
        role: Role,
        in_flight: crate::metrics::InFlight,
        member: &Arc<Member>,
        started: Instant,
    ) -> Tried {
        let router = &self.worker.router;
        let why = format!(
            "no answer within upstream_timeout ({:?}) of the upstream's turn",
            router.inner.opts.upstream_timeout
        );
        router.local_answer(
            role,
            in_flight,
            504,
            started.elapsed(),
            self.entry(&member.addr),
            &why,
        );
        tracing::debug!(upstream = %member.addr, %role, "upstream did not answer in time");
        Tried::Failed(Failure::TimedOut, PublicError::UpstreamTimedOut)
    }

    /// The upstream answered: its head to the client with ours added, and
    /// its body (or the upgraded connection) streamed through.
    async fn answer(
        &mut self,
        mut resp: Response<Incoming>,
        lease: Lease,
        done: Completion,
        cut: Arc<tokio_util::sync::CancellationToken>,
        started: Instant,
    ) -> Response<ProxyBody> {
        let opts = &self.worker.router.inner.opts;
        let status = resp.status();
        let upstream_upgrade =
            (status == StatusCode::SWITCHING_PROTOCOLS).then(|| hyper::upgrade::on(&mut resp));
        let (mut rparts, rbody) = resp.into_parts();
        headers::strip_hop_by_hop(&mut rparts.headers, upstream_upgrade.is_some());
        if self.upgrade && upstream_upgrade.is_none() {
            // The upstream declined the switch. The framing watchdog
            // stopped at the upgrade request, so this connection's later
            // bytes are not followed: close it after this answer (a
            // request hyper found there would be refused as unwatched).
            rparts
                .headers
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        rparts
            .headers
            .insert(headers::X_REQUEST_ID.clone(), self.request_id.clone());
        if opts.route_header
            && let Ok(v) =
                HeaderValue::from_str(&format!("{} {}", done.role, self.table.generation))
        {
            rparts.headers.insert(ROUTE_HEADER.clone(), v);
        }
        if let (Some(up_upgrade), Some(cl_upgrade)) = (upstream_upgrade, self.client_upgrade.take())
        {
            // The connection becomes the tunnel; it never returns to the pool.
            drop(lease);
            tokio::spawn(tunnel(cl_upgrade, up_upgrade, done, cut));
            return Response::from_parts(rparts, ProxyBody::empty());
        }
        // Small bodies: read the first frame now so head and body leave in
        // one write (half the syscalls and wakeups). Larger or unsized
        // bodies (streams, SSE) start flowing at once.
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
                    return self.public(PublicError::UpstreamBrokeOff);
                }
                Err(_elapsed) => {
                    done.complete(Some(504));
                    return self.public(PublicError::UpstreamTimedOut);
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
            self.upload.clone(),
        );
        Response::from_parts(rparts, body)
    }

    /// No member of `role` serves: a 503, charged to it.
    fn no_upstream(&self, role: Role) -> Response<ProxyBody> {
        let router = &self.worker.router;
        let in_flight = router.metrics().start(role);
        let why = format!(
            "no healthy upstream for {} ({} has {} serving members)",
            router.inner.opts.service,
            role,
            self.table.pool(role).len()
        );
        router.local_answer(role, in_flight, 503, Duration::ZERO, self.entry("-"), &why);
        self.public(PublicError::NoUpstream)
    }

    /// A plain public answer carrying the request's id.
    fn public(&self, error: PublicError) -> Response<ProxyBody> {
        with_id(error.response(), &self.request_id)
    }

    /// The access log's line for an attempt on `upstream`, when it is on.
    fn entry(&self, upstream: &str) -> Option<super::access_log::Entry> {
        self.logging.then(|| super::access_log::Entry {
            client: self.client,
            method: self.parts.method.clone(),
            path: self.parts.uri.path().to_string(),
            upstream: upstream.to_string(),
            request_id: self.request_id.to_str().unwrap_or("-").to_string(),
        })
    }
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
