//! The public listener's head parsing never panics and the framing watchdog
//! does not depend on how reads split the bytes, whatever a client sends:
//!
//! - the watchdog (`proxy::framing`) fed the bytes in one read and in reads
//!   cut where the input says, under a head cap the input picks (small, so
//!   `TooLarge` is reached), gives the same canonical verdicts;
//! - every head httparse accepts goes through the checks the handler runs
//!   on it — `headers::check_framing`, `request_rules::apply` (Host,
//!   absolute-form, CONNECT), `headers::strip_hop_by_hop` — without a
//!   panic, and a Host survives stripping whenever the rules kept one.
//!
//! Input layout: byte 0 picks the cap, byte 1 the number of cuts, then one
//! byte per cut (positions spread over the rest), then the stream.
#![no_main]
use cutover::proxy::framing::{canonical, judge};
use cutover::proxy::{headers, request_rules};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let cap = 32 + usize::from(data[0]) * 64;
    let ncuts = usize::from(data[1] % 16).min(data.len() - 2);
    let (cut_bytes, bytes) = data[2..].split_at(ncuts);
    let mut cuts: Vec<usize> = cut_bytes
        .iter()
        .map(|b| usize::from(*b) * (bytes.len() + 1) / 256)
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut chunks: Vec<&[u8]> = Vec::new();
    let mut from = 0;
    for c in cuts.into_iter().chain([bytes.len()]) {
        chunks.push(&bytes[from..c]);
        from = c;
    }
    let whole = canonical(&judge(&[bytes], cap));
    let split = canonical(&judge(&chunks, cap));
    assert_eq!(whole, split, "verdicts depend on the read boundaries");

    head_checks(bytes);
});

/// Parse a head like hyper does and run the handler's checks on it.
fn head_checks(bytes: &[u8]) {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    let Ok(httparse::Status::Complete(_)) = req.parse(bytes) else {
        return;
    };
    let (Some(method), Some(path), Some(version)) = (req.method, req.path, req.version) else {
        return;
    };
    let Ok(method) = http::Method::from_bytes(method.as_bytes()) else {
        return;
    };
    let Ok(uri) = path.parse::<http::Uri>() else {
        return;
    };
    let version = if version == 1 {
        http::Version::HTTP_11
    } else {
        http::Version::HTTP_10
    };
    let mut request = http::Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    for h in req.headers.iter() {
        if let (Ok(name), Ok(value)) = (
            http::header::HeaderName::from_bytes(h.name.as_bytes()),
            http::HeaderValue::from_bytes(h.value),
        ) {
            request.headers_mut().append(name, value);
        }
    }
    let _ = headers::check_framing(request.headers());
    let _ = headers::is_upgrade(request.headers());
    if request_rules::apply(&mut request).is_ok() {
        let map = request.headers_mut();
        let had_host = map.contains_key(http::header::HOST);
        let upgrade = headers::is_upgrade(map);
        headers::strip_hop_by_hop(map, upgrade);
        assert_eq!(
            map.contains_key(http::header::HOST),
            had_host,
            "Host was stripped as hop-by-hop"
        );
        assert!(map.get_all(http::header::HOST).iter().count() <= 1);
    }
}
