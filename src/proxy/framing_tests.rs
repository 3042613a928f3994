//! Tests of `framing.rs`, kept beside it so the file itself reads as code.

use super::*;
use Verdict::*;

/// The verdicts of every judged head, then one more ask: what a request
/// hyper found past them would get (`Unwatched`).
fn verdicts_of(chunks: &[&[u8]]) -> Vec<Verdict> {
    verdicts_capped(chunks, DEFAULT_MAX_HEAD)
}

fn verdicts_capped(chunks: &[&[u8]], cap: usize) -> Vec<Verdict> {
    let v = Verdicts::default();
    let mut s = Sniffer::new(v.clone(), cap);
    for c in chunks {
        s.feed(c);
    }
    (0..=v.judged()).map(|_| v.next()).collect()
}

#[test]
fn plain_keep_alive_requests() {
    let raw = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nPOST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /y HTTP/1.1\r\n\r\n";
    assert_eq!(verdicts_of(&[raw]), vec![Clean, Clean, Clean, Unwatched]);
    // Byte by byte gives the same answer.
    let bytes: Vec<&[u8]> = raw.chunks(1).collect();
    assert_eq!(verdicts_of(&bytes), vec![Clean, Clean, Clean, Unwatched]);
}

#[test]
fn chunked_bodies_with_trailers_are_followed() {
    let raw = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-T: 1\r\n\r\nGET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    assert_eq!(verdicts_of(&[raw]), vec![Clean, Ambiguous, Unwatched]);
    let bytes: Vec<&[u8]> = raw.chunks(3).collect();
    assert_eq!(verdicts_of(&bytes), vec![Clean, Ambiguous, Unwatched]);
}

#[test]
fn body_text_that_looks_like_headers_is_not_a_head() {
    let body = b"Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
    let mut raw = format!("POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    raw.extend_from_slice(body);
    assert_eq!(verdicts_of(&[&raw]), vec![Clean, Unwatched]);
}

#[test]
fn a_real_upgrade_stops_watching_and_what_follows_is_unwatched() {
    let raw = b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\r\nGET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    // The upgrade head is judged; a request hyper parses after it (the
    // upstream said no to the switch) was never watched.
    assert_eq!(verdicts_of(&[raw]), vec![Clean, Unwatched]);
    let connect = b"CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\n\r\nGET / HTTP/1.1\r\n\r\n";
    assert_eq!(verdicts_of(&[connect]), vec![Clean, Unwatched]);
}

#[test]
fn an_upgrade_header_without_connection_upgrade_is_an_ordinary_request() {
    let raw = b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    assert_eq!(verdicts_of(&[raw]), vec![Clean, Ambiguous, Unwatched]);
}

#[test]
fn a_head_over_the_cap_is_too_large_in_one_write_or_many() {
    let cap = 1024;
    let mut raw = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
    raw.extend(std::iter::repeat_n(b'a', 2000));
    raw.extend_from_slice(b"\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    let want = vec![TooLarge, Unwatched];
    assert_eq!(verdicts_capped(&[&raw], cap), want);
    let (a, b) = raw.split_at(600);
    assert_eq!(verdicts_capped(&[a, b], cap), want);
    let bytes: Vec<&[u8]> = raw.chunks(7).collect();
    assert_eq!(verdicts_capped(&bytes, cap), want);
    // A head exactly at the cap is fine.
    let mut exact = b"GET / HTTP/1.1\r\nX: ".to_vec();
    exact.extend(std::iter::repeat_n(b'a', cap - exact.len() - 4));
    exact.extend_from_slice(b"\r\n\r\n");
    assert_eq!(exact.len(), cap);
    assert_eq!(verdicts_capped(&[&exact], cap), vec![Clean, Unwatched]);
    let (a, b) = exact.split_at(100);
    assert_eq!(verdicts_capped(&[a, b], cap), vec![Clean, Unwatched]);
}

/// Requests built from pieces a smuggler would use; any order, any
/// splits, any (small) head cap.
fn piece() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    use proptest::prelude::*;
    let pieces: Vec<&'static [u8]> = vec![
        b"GET / HTTP/1.1\r\n",
        b"POST /x HTTP/1.1\r\n",
        b"CONNECT h:1 HTTP/1.1\r\n",
        b"Host: x\r\n",
        b"Content-Length: 3\r\n",
        b"Content-Length: 0\r\n",
        b"Transfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: gzip\r\n",
        b"Upgrade: websocket\r\n",
        b"Connection: upgrade\r\n",
        b"X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
        b"\r\n",
        b"\n",
        b"abc",
        b"3\r\nabc\r\n",
        b"3;ext=1\r\nabc\r\n",
        b"0\r\n\r\n",
        b"0\r\nX-T: 1\r\n\r\n",
        b"\x00",
    ];
    prop_oneof![
        proptest::sample::select(pieces).prop_map(|p| p.to_vec()),
        proptest::collection::vec(any::<u8>(), 0..4),
    ]
}

proptest::proptest! {
    #[test]
    fn verdicts_do_not_depend_on_how_reads_split_the_bytes(
        pieces in proptest::collection::vec(piece(), 1..40),
        cuts in proptest::collection::vec(0usize..2048, 0..12),
        cap in 32usize..512,
    ) {
        let bytes: Vec<u8> = pieces.concat();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        cuts.dedup();
        let mut chunks: Vec<&[u8]> = Vec::new();
        let mut from = 0;
        for c in cuts.into_iter().chain([bytes.len()]) {
            chunks.push(&bytes[from..c]);
            from = c;
        }
        let whole = canonical(&judge(&[&bytes], cap));
        let split = canonical(&judge(&chunks, cap));
        proptest::prop_assert_eq!(whole, split);
    }
}

#[test]
fn unparseable_bytes_get_no_verdict() {
    assert_eq!(
        verdicts_of(&[b"\x00\x01 nonsense\r\n\r\n"]),
        vec![Unwatched]
    );
}
