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

use super::body::{ProxyBody, RequestBody};
use super::headers;
use super::pool::Member;
use super::router::{Completion, Router, idx};
use super::split;
use crate::model::Role;
use crate::plan::Sticky;
use http::{HeaderValue, Request, Response, StatusCode, Uri, header};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Pooled keep-alive connections to upstreams. Each listener task owns one,
/// so a request and its upstream connection live on the same runtime.
pub type UpstreamClient = Client<HttpConnector, RequestBody>;

/// The pooled keep-alive client shared by every request.
pub(super) fn upstream_client(opts: &super::router::ProxyOptions) -> UpstreamClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(opts.connect_timeout));
    connector.enforce_http(true);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(256)
        .retry_canceled_requests(true)
        .build(connector)
}

/// How many attempts a bodyless request gets when upstreams fail it; the
/// last is kept for the other version while that one is untried.
const MAX_ATTEMPTS: usize = 3;

static ROUTE_HEADER: header::HeaderName = header::HeaderName::from_static("x-cutover-route");

/// Handle one client request. Never fails: every outcome is a response.
pub async fn handle(
    router: Router,
    upstreams: UpstreamClient,
    mut req: Request<Incoming>,
    client: SocketAddr,
    ambiguous_framing: bool,
) -> Result<Response<ProxyBody>, std::convert::Infallible> {
    if ambiguous_framing {
        let why = headers::Smuggling::ContentLengthAndTransferEncoding;
        let mut r = plain(StatusCode::BAD_REQUEST, why.reason());
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return Ok(r);
    }
    if let Err(why) = headers::check_framing(req.headers()) {
        return Ok(plain(StatusCode::BAD_REQUEST, why.reason()));
    }
    let table = router.table();
    let bucket = match &router.inner.opts.sticky {
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
    let request_id = headers::add_forwarding(&mut parts.headers, client.ip());
    let client_failed = Arc::new(AtomicBool::new(false));
    let logging = router.inner.access_log.load().is_some();
    let entry = |upstream: &str| {
        logging.then(|| super::access_log::Entry {
            client: client.ip(),
            method: parts.method.clone(),
            path: parts.uri.path().to_string(),
            upstream: upstream.to_string(),
            request_id: request_id.to_str().unwrap_or("-").to_string(),
        })
    };
    let mut body = Some(body);

    let mut tried: Vec<Arc<Member>> = Vec::new();
    // Attempts made on each version, by `router::idx`.
    let mut attempts = [0usize; 2];
    // The last failed attempt's answer, already counted on its version.
    let mut last_failure: Option<(StatusCode, String)> = None;
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
        let picked = table
            .pool(role)
            .pick(router.inner.opts.balance, &tried)
            .cloned();
        let Some(member) = picked else {
            if may_switch {
                // Every member of this version failed the request.
                role = alt;
                continue;
            }
            if let Some((status, msg)) = last_failure {
                return Ok(with_id(plain(status, &msg), &request_id));
            }
            let in_flight = router.metrics().start(role);
            router.local_answer(role, in_flight, 503, Duration::ZERO, entry("-"));
            let msg = format!(
                "no healthy upstream for {} ({} has {} serving members)\n",
                router.inner.opts.service,
                role,
                table.pool(role).len()
            );
            return Ok(with_id(
                plain(StatusCode::SERVICE_UNAVAILABLE, &msg),
                &request_id,
            ));
        };
        attempts[idx(role)] += 1;

        let in_flight = router.metrics().start(role);
        let guard = member.enter();
        let cut = router.cut_token(role);
        let started = Instant::now();

        let mut up = Request::from_parts(parts.clone(), RequestBody::Empty);
        *up.uri_mut() = upstream_uri(&member, &parts.uri);
        if !bodyless && let Some(b) = body.take() {
            *up.body_mut() = RequestBody::Stream {
                inner: b,
                client_failed: client_failed.clone(),
            };
        }

        let sent = tokio::select! {
            r = tokio::time::timeout(router.inner.opts.upstream_timeout, upstreams.request(up)) => r,
            _ = cut.cancelled() => {
                router.local_answer(role, in_flight, 504, started.elapsed(), entry(&member.addr));
                return Ok(with_id(plain(StatusCode::GATEWAY_TIMEOUT, "version drained before it answered\n"), &request_id));
            }
        };
        match sent {
            Ok(Ok(mut resp)) => {
                let status = resp.status();
                let latency = started.elapsed();
                let upstream_upgrade = (status == StatusCode::SWITCHING_PROTOCOLS)
                    .then(|| hyper::upgrade::on(&mut resp));
                let (mut rparts, rbody) = resp.into_parts();
                headers::strip_hop_by_hop(&mut rparts.headers, upstream_upgrade.is_some());
                rparts
                    .headers
                    .insert(headers::X_REQUEST_ID.clone(), request_id.clone());
                if router.inner.opts.route_header
                    && let Ok(v) = HeaderValue::from_str(&format!("{role} {}", table.generation))
                {
                    rparts.headers.insert(ROUTE_HEADER.clone(), v);
                }
                let log = router.inner.access_log.load().is_some().then(|| {
                    Box::new(super::access_log::Entry {
                        client: client.ip(),
                        method: parts.method.clone(),
                        path: parts.uri.path().to_string(),
                        upstream: member.addr.clone(),
                        request_id: request_id.to_str().unwrap_or("-").to_string(),
                    })
                });
                let done = Completion {
                    router: router.clone(),
                    role,
                    in_flight,
                    _member: guard,
                    status: status.as_u16(),
                    latency,
                    log,
                };
                if let (Some(up_upgrade), Some(cl_upgrade)) = (upstream_upgrade, client_upgrade) {
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
                    let left = router
                        .inner
                        .opts
                        .upstream_timeout
                        .saturating_sub(started.elapsed());
                    match tokio::time::timeout(left, rbody.frame()).await {
                        Ok(Some(Ok(frame))) => first = Some(frame),
                        Ok(None) => {}
                        Ok(Some(Err(_))) => {
                            done.complete(Some(502));
                            return Ok(with_id(
                                plain(StatusCode::BAD_GATEWAY, "upstream broke off its answer\n"),
                                &request_id,
                            ));
                        }
                        Err(_elapsed) => {
                            done.complete(Some(504));
                            return Ok(with_id(
                                plain(
                                    StatusCode::GATEWAY_TIMEOUT,
                                    "upstream did not send its answer in time\n",
                                ),
                                &request_id,
                            ));
                        }
                    }
                }
                let body = ProxyBody::upstream(
                    first,
                    rbody,
                    done,
                    cut,
                    router.inner.opts.upstream_timeout,
                );
                return Ok(Response::from_parts(rparts, body));
            }
            Ok(Err(e)) => {
                if client_failed.load(Ordering::Relaxed) {
                    // The client broke off its own upload: not the version's error.
                    in_flight.abort();
                    return Ok(plain(
                        StatusCode::BAD_REQUEST,
                        "client request body broke off\n",
                    ));
                }
                router.local_answer(role, in_flight, 502, started.elapsed(), entry(&member.addr));
                tracing::debug!(upstream = %member.addr, %role, error = %e, "upstream request failed");
                // Safe to send again: nothing reached the upstream (connect
                // failure), or the method is idempotent and had no body
                // (what nginx's `proxy_next_upstream error` does).
                if bodyless && (e.is_connect() || parts.method.is_idempotent()) {
                    last_failure = Some((
                        StatusCode::BAD_GATEWAY,
                        format!(
                            "upstream {} ({role}) failed: {}\n",
                            member.addr,
                            error_chain(&e)
                        ),
                    ));
                    tried.push(member);
                    continue;
                }
                return Ok(with_id(
                    plain(
                        StatusCode::BAD_GATEWAY,
                        &format!("upstream {} failed: {}\n", member.addr, error_chain(&e)),
                    ),
                    &request_id,
                ));
            }
            Err(_elapsed) => {
                router.local_answer(role, in_flight, 504, started.elapsed(), entry(&member.addr));
                // A hung member: an idempotent request without a body is
                // tried elsewhere (nginx's `proxy_next_upstream timeout`);
                // the member's version is still charged the 504.
                if bodyless && parts.method.is_idempotent() {
                    last_failure = Some((
                        StatusCode::GATEWAY_TIMEOUT,
                        format!("upstream {} ({role}) did not answer in time\n", member.addr),
                    ));
                    tried.push(member);
                    continue;
                }
                return Ok(with_id(
                    plain(
                        StatusCode::GATEWAY_TIMEOUT,
                        &format!("upstream {} did not answer in time\n", member.addr),
                    ),
                    &request_id,
                ));
            }
        }
    }
    // Every attempt failed; the last one's answer was counted on its version.
    let (status, msg) = last_failure.unwrap_or((
        StatusCode::BAD_GATEWAY,
        "no upstream accepted the request\n".to_string(),
    ));
    Ok(with_id(plain(status, &msg), &request_id))
}

/// Splice an upgraded connection (WebSocket) until either side closes or the
/// version's drain cuts it. The request stays on the version it opened on.
async fn tunnel(
    client: hyper::upgrade::OnUpgrade,
    upstream: hyper::upgrade::OnUpgrade,
    done: Completion,
    cut: tokio_util::sync::CancellationToken,
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

fn upstream_uri(member: &Member, original: &Uri) -> Uri {
    let mut parts = http::uri::Parts::default();
    parts.scheme = Some(http::uri::Scheme::HTTP);
    parts.authority = member.authority.clone();
    parts.path_and_query = Some(
        original
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")),
    );
    Uri::from_parts(parts).unwrap_or_else(|_| Uri::from_static("http://invalid/"))
}

fn plain(status: StatusCode, text: &str) -> Response<ProxyBody> {
    let mut r = Response::new(ProxyBody::full(text.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
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
