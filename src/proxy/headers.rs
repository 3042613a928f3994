//! Header hygiene between client and upstream: hop-by-hop headers stripped,
//! `X-Forwarded-*` and `X-Request-Id` added, and the request-smuggling
//! defences (a request with both Content-Length and Transfer-Encoding, or
//! with conflicting Content-Lengths, is refused before it reaches anyone).

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use std::net::IpAddr;

/// Headers that describe one connection, never forwarded: `Connection`
/// itself and the fields RFC 9110 §7.6.1 says an intermediary removes
/// whether or not `Connection` names them (`Upgrade` is handled apart: it
/// survives a real upgrade).
///
/// Not here, on purpose: `Trailer` is end-to-end (RFC 9110 §6.6.2; hyper
/// only forwards the trailer fields it declares), and `Proxy-Authorization` /
/// `Proxy-Authenticate` are not hop-by-hop in RFC 9110 (§11.7: a proxy that
/// does not consume them relays them; cutover never asks for proxy
/// credentials) — nginx forwards all three too. Any of them named in
/// `Connection` is removed like every other named field. `Connection` comes
/// first: [`strip_hop_by_hop`] reads its slot.
const HOPS: usize = 5;
static HOP_BY_HOP: [HeaderName; HOPS] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRANSFER_ENCODING,
];

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// Why a request is refused before routing (answered 400).
#[derive(Debug, PartialEq, Eq)]
pub enum Smuggling {
    ContentLengthAndTransferEncoding,
    ConflictingContentLength,
    BadTransferEncoding,
}

impl Smuggling {
    pub fn reason(&self) -> &'static str {
        match self {
            Smuggling::ContentLengthAndTransferEncoding => {
                "request carries both Content-Length and Transfer-Encoding"
            }
            Smuggling::ConflictingContentLength => {
                "request carries conflicting Content-Length headers"
            }
            Smuggling::BadTransferEncoding => "request Transfer-Encoding is not chunked",
        }
    }
}

/// Refuse ambiguous framing (the classic CL.TE / TE.CL smuggling vectors).
pub fn check_framing(headers: &HeaderMap) -> Result<(), Smuggling> {
    let te = headers.get_all(header::TRANSFER_ENCODING).iter().count();
    let cls: Vec<&HeaderValue> = headers.get_all(header::CONTENT_LENGTH).iter().collect();
    if te > 0 && !cls.is_empty() {
        return Err(Smuggling::ContentLengthAndTransferEncoding);
    }
    if cls.len() > 1 && cls.windows(2).any(|w| w[0] != w[1]) {
        return Err(Smuggling::ConflictingContentLength);
    }
    if te > 0 {
        let last = headers
            .get_all(header::TRANSFER_ENCODING)
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !last.trim().eq_ignore_ascii_case("chunked")
            && !last.trim().to_ascii_lowercase().ends_with(", chunked")
        {
            return Err(Smuggling::BadTransferEncoding);
        }
    }
    Ok(())
}

/// Whether the request asks for a protocol upgrade (WebSocket and friends).
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| {
                v.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
            })
}

/// Fields a `Connection` header may name without effect: `Host` is never
/// hop-by-hop (RFC 9112 §3.2: every HTTP/1.1 request carries it, and a
/// `Connection: host` that removed it would leave the upstream to guess the
/// target) and `Content-Length` is the message's framing, not a connection
/// option.
static NEVER_HOP_BY_HOP: [HeaderName; 2] = [header::HOST, header::CONTENT_LENGTH];

/// Remove hop-by-hop headers, including those the `Connection` header names
/// (but never `Host` or `Content-Length`). With `keep_upgrade`, `Connection:
/// upgrade` and `Upgrade` survive so the upstream can accept the switch.
///
/// Runs twice per request (the request and the answer), and most answers
/// carry `Connection: keep-alive`: one pass over the names (no hashing)
/// finds which of the fixed set are here, each of those is removed once,
/// and the tokens of `Connection` are matched against the names present
/// instead of being parsed into names and hashed (`keep-alive` and `close`
/// usually name no field at all).
pub fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    let mut present = [false; HOPS];
    let mut upgrade = false;
    for k in headers.keys() {
        if let Some(i) = HOP_BY_HOP.iter().position(|h| h == k) {
            present[i] = true;
        } else if *k == header::UPGRADE {
            upgrade = true;
        }
    }
    if present[0] {
        for name in named_by_connection(headers, keep_upgrade) {
            headers.remove(name);
        }
    }
    for (name, _) in HOP_BY_HOP.iter().zip(present).filter(|(_, here)| *here) {
        headers.remove(name);
    }
    if upgrade && !keep_upgrade {
        headers.remove(header::UPGRADE);
    }
    if keep_upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

/// The fields present in `headers` that a `Connection` token names, apart
/// from those removed anyway (the fixed set), those never hop-by-hop, and
/// `Upgrade` when it is kept. Allocates only when something is named.
fn named_by_connection(headers: &HeaderMap, keep_upgrade: bool) -> Vec<HeaderName> {
    let mut named = Vec::new();
    let tokens = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    for token in tokens {
        // Names in the map are lower case; a token is matched ignoring case.
        let Some(k) = headers
            .keys()
            .find(|k| k.as_str().eq_ignore_ascii_case(token))
        else {
            continue;
        };
        let kept = (keep_upgrade && *k == header::UPGRADE) || NEVER_HOP_BY_HOP.contains(k);
        if !kept && !HOP_BY_HOP.contains(k) && !named.contains(k) {
            named.push(k.clone());
        }
    }
    named
}

/// The client's address as an `X-Forwarded-For` value: made once per
/// connection, reused by each of its requests.
pub fn client_value(client: IpAddr) -> HeaderValue {
    HeaderValue::from_str(&client.to_string()).expect("an IP address is a valid header value")
}

/// Append the client to `X-Forwarded-For`, set `X-Forwarded-Proto` to what
/// the client really spoke to cutover (its listener is plain HTTP, so any
/// value the client sent is overwritten: a client must not be able to claim
/// it came over TLS), and make sure the request has an `X-Request-Id` (kept
/// when present). Returns the id.
pub fn add_forwarding(headers: &mut HeaderMap, client: IpAddr) -> HeaderValue {
    add_forwarding_for(headers, &client_value(client), new_request_id)
}

/// [`add_forwarding`] with the client's header value made beforehand, and
/// `new_id` to make an id when the request carries none.
pub fn add_forwarding_for(
    headers: &mut HeaderMap,
    client_value: &HeaderValue,
    new_id: impl FnOnce() -> HeaderValue,
) -> HeaderValue {
    // Several `X-Forwarded-For` lines are one list (RFC 9110 §5.3): keep
    // every hop, in order, as one line ending with this client.
    let mut chain: Vec<u8> = Vec::new();
    for prev in headers.get_all(&X_FORWARDED_FOR) {
        let prev = prev.as_bytes().trim_ascii();
        if !prev.is_empty() {
            chain.extend_from_slice(prev);
            chain.extend_from_slice(b", ");
        }
    }
    let appended = if chain.is_empty() {
        client_value.clone()
    } else {
        chain.extend_from_slice(client_value.as_bytes());
        // Bytes of valid header values joined by ", " are a valid value.
        HeaderValue::from_bytes(&chain).unwrap_or_else(|_| client_value.clone())
    };
    headers.insert(X_FORWARDED_FOR.clone(), appended);
    headers.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static("http"));
    match headers.get(&X_REQUEST_ID) {
        Some(id) if !id.is_empty() => id.clone(),
        _ => {
            let id = new_id();
            headers.insert(X_REQUEST_ID.clone(), id.clone());
            id
        }
    }
}

/// 128 random bits as 32 hex digits.
pub fn new_request_id() -> HeaderValue {
    let mut out = [0u8; ID_LEN];
    fill_id(&mut out);
    HeaderValue::from_bytes(&out).expect("hex is a valid header value")
}

/// The length of a request id cutover makes.
const ID_LEN: usize = 32;

/// How many ids one [`RequestIds`] block holds.
const IDS_PER_BLOCK: usize = 64;

fn fill_id(out: &mut [u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut n = fastrand::u128(..);
    for d in out.iter_mut().rev() {
        *d = HEX[(n & 0xf) as usize];
        n >>= 4;
    }
}

/// Request ids made ahead, 64 at a time in one buffer, for
/// one listener worker. Each request takes its 32 bytes as a reference to
/// the block: a fresh id of its own would cost an allocation and a copy,
/// and a second allocation when it is first shared between the upstream's
/// request, the client's answer and the access log.
#[derive(Default)]
pub struct RequestIds {
    block: std::sync::Mutex<bytes::Bytes>,
}

impl RequestIds {
    /// The next id (128 random bits as 32 hex digits, as [`new_request_id`]).
    pub fn next(&self) -> HeaderValue {
        let mut block = self.block.lock().unwrap_or_else(|e| e.into_inner());
        if block.is_empty() {
            let mut fresh = vec![0u8; ID_LEN * IDS_PER_BLOCK];
            fresh.chunks_mut(ID_LEN).for_each(fill_id);
            *block = bytes::Bytes::from(fresh);
        }
        let id = block.split_to(ID_LEN);
        HeaderValue::from_maybe_shared(id).expect("hex is a valid header value")
    }
}

/// A response body small enough to read its first frame before answering.
pub(super) fn small_body(h: &http::HeaderMap) -> bool {
    h.get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|n| n > 0 && n <= 64 * 1024)
}

pub(super) fn body_is_empty(h: &http::HeaderMap, body: &hyper::body::Incoming) -> bool {
    use http_body::Body;
    if body.is_end_stream() {
        return true;
    }
    !h.contains_key(header::TRANSFER_ENCODING)
        && h.get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|v| v.trim() == "0")
}

pub(super) fn sticky_key(
    req: &http::Request<hyper::body::Incoming>,
    sticky: &crate::plan::Sticky,
) -> Option<Vec<u8>> {
    match sticky {
        crate::plan::Sticky::Header(name) => req
            .headers()
            .get(name.as_str())
            .map(|v| v.as_bytes().to_vec()),
        crate::plan::Sticky::Cookie(name) => req
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
pub(super) fn origin_form(original: &http::Uri) -> http::Uri {
    let pq = original
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
    http::Uri::from(pq)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn framing() {
        assert!(check_framing(&map(&[("content-length", "5")])).is_ok());
        assert!(check_framing(&map(&[("transfer-encoding", "chunked")])).is_ok());
        assert_eq!(
            check_framing(&map(&[
                ("content-length", "5"),
                ("transfer-encoding", "chunked")
            ])),
            Err(Smuggling::ContentLengthAndTransferEncoding)
        );
        assert_eq!(
            check_framing(&map(&[("content-length", "5"), ("content-length", "6")])),
            Err(Smuggling::ConflictingContentLength)
        );
        assert!(check_framing(&map(&[("content-length", "5"), ("content-length", "5")])).is_ok());
        assert_eq!(
            check_framing(&map(&[("transfer-encoding", "gzip")])),
            Err(Smuggling::BadTransferEncoding)
        );
    }

    #[test]
    fn hop_by_hop_and_named_headers_go() {
        let mut h = map(&[
            ("connection", "keep-alive, x-secret"),
            ("keep-alive", "timeout=5"),
            ("x-secret", "1"),
            ("te", "trailers"),
            ("upgrade", "websocket"),
            ("x-kept", "yes"),
        ]);
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
    }

    #[test]
    fn rfc_9110_set_goes_end_to_end_fields_stay() {
        let mut h = map(&[
            ("connection", "close"),
            ("proxy-connection", "keep-alive"),
            ("transfer-encoding", "chunked"),
            ("trailer", "x-checksum"),
            ("proxy-authorization", "Basic Zm9vOmJhcg=="),
            ("proxy-authenticate", "Basic realm=\"p\""),
        ]);
        strip_hop_by_hop(&mut h, false);
        let mut left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        left.sort();
        assert_eq!(
            left,
            ["proxy-authenticate", "proxy-authorization", "trailer"]
        );
        // Named in Connection, even an end-to-end field goes.
        let mut h = map(&[
            ("connection", "trailer, Proxy-Authorization"),
            ("trailer", "x"),
            ("proxy-authorization", "y"),
        ]);
        strip_hop_by_hop(&mut h, false);
        assert!(h.is_empty(), "{h:?}");
    }

    #[test]
    fn connection_cannot_name_host_or_content_length_away() {
        let mut h = map(&[
            ("connection", "host, Content-Length, x-gone"),
            ("host", "shop.example"),
            ("content-length", "5"),
            ("x-gone", "1"),
        ]);
        strip_hop_by_hop(&mut h, false);
        let mut left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        left.sort();
        assert_eq!(left, ["content-length", "host"]);
    }

    /// The rule as RFC 9110 §7.6.1 states it, spelled plainly (every
    /// `Connection` token parsed into a name and removed): what
    /// [`strip_hop_by_hop`] must leave, however it gets there.
    fn strip_by_the_rule(headers: &mut HeaderMap, keep_upgrade: bool) {
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
            .filter(|n| !(keep_upgrade && *n == header::UPGRADE))
            .filter(|n| !NEVER_HOP_BY_HOP.contains(n))
            .collect();
        for name in named.iter().chain(&HOP_BY_HOP) {
            headers.remove(name);
        }
        if !keep_upgrade {
            headers.remove(header::UPGRADE);
        }
        if keep_upgrade {
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        }
    }

    proptest::proptest! {
        #[test]
        fn strip_leaves_what_the_rule_leaves(
            fields in proptest::collection::vec((0usize..12, 0usize..8), 0..10),
            keep_upgrade: bool,
        ) {
            const NAMES: [&str; 12] = [
                "connection", "keep-alive", "proxy-connection", "te",
                "transfer-encoding", "upgrade", "host", "content-length",
                "x-a", "x-b", "trailer", "close",
            ];
            const VALUES: [&str; 8] = [
                "keep-alive", "close", "X-A, x-b", "Upgrade", "host, content-length",
                "te, trailer", " , x-a ,", "v",
            ];
            let pairs: Vec<(&str, &str)> =
                fields.iter().map(|&(n, v)| (NAMES[n], VALUES[v])).collect();
            let (mut fast, mut plain) = (map(&pairs), map(&pairs));
            strip_hop_by_hop(&mut fast, keep_upgrade);
            strip_by_the_rule(&mut plain, keep_upgrade);
            proptest::prop_assert_eq!(fast, plain);
        }
    }

    #[test]
    fn upgrade_survives_when_asked() {
        let mut h = map(&[("connection", "Upgrade"), ("upgrade", "websocket")]);
        assert!(is_upgrade(&h));
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h.get("upgrade").unwrap(), "websocket");
        assert_eq!(h.get("connection").unwrap(), "upgrade");
    }

    #[test]
    fn forwarding_headers() {
        let mut h = map(&[
            ("x-forwarded-for", "10.0.0.1"),
            ("x-forwarded-proto", "https"),
            ("x-request-id", "abc"),
        ]);
        let id = add_forwarding(&mut h, "127.0.0.9".parse().unwrap());
        assert_eq!(id, "abc");
        assert_eq!(h.get("x-forwarded-for").unwrap(), "10.0.0.1, 127.0.0.9");
        let protos: Vec<_> = h.get_all("x-forwarded-proto").iter().collect();
        assert_eq!(
            protos,
            ["http"],
            "a client's claim is overwritten, not kept"
        );
        // Two lines from two earlier hops: one list, every hop kept, in order.
        let mut two = map(&[
            ("x-forwarded-for", "10.0.0.1, 10.0.0.2"),
            ("x-forwarded-for", " 10.0.0.3 "),
            ("x-forwarded-for", ""),
        ]);
        add_forwarding(&mut two, "127.0.0.9".parse().unwrap());
        let all: Vec<_> = two.get_all("x-forwarded-for").iter().collect();
        assert_eq!(all, ["10.0.0.1, 10.0.0.2, 10.0.0.3, 127.0.0.9"]);
        let mut fresh = HeaderMap::new();
        let id = add_forwarding(&mut fresh, "127.0.0.1".parse().unwrap());
        assert_eq!(id.len(), 32);
        assert!(id.as_bytes().iter().all(u8::is_ascii_hexdigit));
        assert_ne!(new_request_id(), new_request_id());
    }

    #[test]
    fn ids_from_a_block_are_fresh_hex_past_the_block() {
        let ids = RequestIds::default();
        let taken: std::collections::HashSet<HeaderValue> =
            (0..IDS_PER_BLOCK * 3 + 1).map(|_| ids.next()).collect();
        assert_eq!(taken.len(), IDS_PER_BLOCK * 3 + 1, "no id is given twice");
        assert!(
            taken
                .iter()
                .all(|id| id.len() == ID_LEN && id.as_bytes().iter().all(u8::is_ascii_hexdigit))
        );
    }
}
