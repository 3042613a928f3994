//! A request-framing watchdog on each client connection.
//!
//! hyper resolves a request that carries both `Content-Length` and
//! `Transfer-Encoding` the RFC way (chunked wins, the length is dropped, the
//! connection closes afterwards) — safe, but the handler can no longer see
//! that the request was ambiguous. Operators expect such a request to be
//! refused outright (400), as nginx does, because it is almost always a
//! smuggling probe. [`SniffIo`] watches the raw bytes the client sends,
//! follows HTTP/1.1 framing (heads, fixed-length and chunked bodies) and
//! records, per request in order, whether its head was ambiguous. The
//! handler of the k-th request on a connection takes the k-th verdict.
//!
//! After an `Upgrade` or `CONNECT`, or a head it cannot parse, it stops
//! watching (the bytes are no longer HTTP, or hyper will refuse them).

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Heads larger than this are hyper's to refuse; the watchdog gives up.
const MAX_HEAD: usize = 64 * 1024;

/// Per-connection verdicts in request order: the sniffer numbers the heads
/// it sees, the handler numbers the requests it gets, and only the numbers
/// of *ambiguous* heads are stored. The common case (nothing ambiguous, ever)
/// costs two uncontended atomic operations per request and no lock.
#[derive(Clone, Debug, Default)]
pub struct Verdicts(Arc<VerdictsInner>);

#[derive(Debug, Default)]
struct VerdictsInner {
    /// Heads the sniffer has judged.
    heads: AtomicU64,
    /// Requests the handler has asked about.
    asked: AtomicU64,
    /// Set once any head was ambiguous; guards the lock below.
    any: AtomicBool,
    /// Numbers of the ambiguous heads not yet asked about, ascending.
    ambiguous: Mutex<VecDeque<u64>>,
}

impl Verdicts {
    /// The verdict of the next request in order (`false` when unknown).
    pub fn next_is_ambiguous(&self) -> bool {
        let n = self.0.asked.fetch_add(1, Ordering::AcqRel);
        if !self.0.any.load(Ordering::Acquire) {
            return false;
        }
        let Ok(mut q) = self.0.ambiguous.lock() else {
            return false;
        };
        while q.front().is_some_and(|k| *k < n) {
            q.pop_front();
        }
        if q.front() == Some(&n) {
            q.pop_front();
            return true;
        }
        false
    }

    fn push(&self, ambiguous: bool) {
        let n = self.0.heads.fetch_add(1, Ordering::AcqRel);
        if ambiguous && let Ok(mut q) = self.0.ambiguous.lock() {
            q.push_back(n);
            self.0.any.store(true, Ordering::Release);
        }
    }
}

#[derive(Debug)]
enum Scan {
    Head(Vec<u8>),
    Body(u64),
    ChunkSize(Vec<u8>),
    ChunkData(u64),
    Trailer(Vec<u8>),
    Opaque,
}

/// The pure framing follower: feed it bytes, it pushes verdicts.
#[derive(Debug)]
pub struct Sniffer {
    state: Scan,
    verdicts: Verdicts,
}

impl Sniffer {
    pub fn new(verdicts: Verdicts) -> Sniffer {
        Sniffer {
            state: Scan::Head(Vec::new()),
            verdicts,
        }
    }

    /// Whether the bytes are still HTTP/1.1 messages (not an upgraded or
    /// unparseable stream).
    pub fn is_http(&self) -> bool {
        !matches!(self.state, Scan::Opaque)
    }

    pub fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            bytes = match &mut self.state {
                Scan::Opaque => return,
                Scan::Body(n) => {
                    let take = (*n).min(bytes.len() as u64) as usize;
                    *n -= take as u64;
                    if *n == 0 {
                        self.state = Scan::Head(Vec::new());
                    }
                    &bytes[take..]
                }
                Scan::ChunkData(n) => {
                    let take = (*n).min(bytes.len() as u64) as usize;
                    *n -= take as u64;
                    if *n == 0 {
                        self.state = Scan::ChunkSize(Vec::new());
                    }
                    &bytes[take..]
                }
                Scan::Head(buf) if buf.is_empty() => {
                    // Fast path: the whole head came in this read (the
                    // common case); judge it in place, copying nothing.
                    match self.on_head(bytes) {
                        Some((len, next)) => {
                            self.state = next;
                            &bytes[len..]
                        }
                        None => {
                            // A partial head: keep it and wait for the rest.
                            self.state = Scan::Head(bytes.to_vec());
                            return;
                        }
                    }
                }
                Scan::Head(buf) => {
                    // Only the newly arrived bytes (and the few before them)
                    // can complete the head: no rescanning, so a client that
                    // sends a byte at a time costs linear work.
                    let from = buf.len().saturating_sub(2);
                    buf.extend_from_slice(bytes);
                    if !ends_head(&buf[from..]) {
                        if buf.len() > MAX_HEAD {
                            self.state = Scan::Opaque;
                        }
                        return;
                    }
                    let head = std::mem::take(buf);
                    match self.on_head(&head) {
                        Some((len, next)) => {
                            self.state = next;
                            // What followed the head in this read.
                            let rest_len = head.len() - len;
                            &bytes[bytes.len() - rest_len.min(bytes.len())..]
                        }
                        None => {
                            self.state = Scan::Head(head);
                            return;
                        }
                    }
                }
                Scan::ChunkSize(line) => {
                    let from = line.len().saturating_sub(1);
                    line.extend_from_slice(bytes);
                    match find(&line[from..], b"\r\n") {
                        None => {
                            if line.len() > 1024 {
                                self.state = Scan::Opaque;
                            }
                            return;
                        }
                        Some(i) => {
                            let end = from + i + 2;
                            let rest_len = line.len() - end;
                            let text = String::from_utf8_lossy(&line[..end - 2]).into_owned();
                            let hex = text.split(';').next().unwrap_or("").trim();
                            self.state = match u64::from_str_radix(hex, 16) {
                                Ok(0) => Scan::Trailer(Vec::new()),
                                Ok(n) => Scan::ChunkData(n.saturating_add(2)),
                                Err(_) => Scan::Opaque,
                            };
                            &bytes[bytes.len() - rest_len..]
                        }
                    }
                }
                Scan::Trailer(buf) => {
                    buf.extend_from_slice(bytes);
                    let end = if buf.starts_with(b"\r\n") {
                        Some(2)
                    } else {
                        find(buf, b"\r\n\r\n").map(|i| i + 4)
                    };
                    match end {
                        None => {
                            if buf.len() > MAX_HEAD {
                                self.state = Scan::Opaque;
                            }
                            return;
                        }
                        Some(end) => {
                            let rest_len = buf.len() - end;
                            self.state = Scan::Head(Vec::new());
                            &bytes[bytes.len() - rest_len..]
                        }
                    }
                }
            };
        }
    }

    /// Judge the head at the start of `bytes`: `None` while it is
    /// incomplete, else its length and the state after it. A head httparse
    /// refuses is hyper's to refuse too; the watchdog stops there.
    fn on_head(&self, bytes: &[u8]) -> Option<(usize, Scan)> {
        let mut headers = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; 128];
        let mut req = httparse::Request::new(&mut []);
        let len = match req.parse_with_uninit_headers(bytes, &mut headers) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) if bytes.len() <= MAX_HEAD => return None,
            _ => {
                self.verdicts.push(false);
                return Some((bytes.len(), Scan::Opaque));
            }
        };
        let mut te = false;
        let mut chunked = false;
        let mut cl: Option<u64> = None;
        let mut upgrade = req.method == Some("CONNECT");
        for h in req.headers.iter() {
            if h.name.eq_ignore_ascii_case("transfer-encoding") {
                te = true;
                chunked = String::from_utf8_lossy(h.value)
                    .rsplit(',')
                    .next()
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case("chunked"));
            } else if h.name.eq_ignore_ascii_case("content-length") {
                cl = std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|v| v.trim().parse().ok())
                    .or(Some(0));
            } else if h.name.eq_ignore_ascii_case("upgrade") {
                upgrade = true;
            }
        }
        self.verdicts.push(te && cl.is_some());
        let next = if upgrade {
            Scan::Opaque
        } else if te {
            if chunked {
                Scan::ChunkSize(Vec::new())
            } else {
                Scan::Opaque
            }
        } else {
            match cl {
                Some(n) if n > 0 => Scan::Body(n),
                _ => Scan::Head(Vec::new()),
            }
        };
        Some((len, next))
    }
}

/// Whether `tail` holds the end of a head: an empty line, with CRLF or bare
/// LF line ends (httparse, and so hyper, accept both).
fn ends_head(tail: &[u8]) -> bool {
    tail.windows(2).any(|w| w == b"\n\n") || tail.windows(3).any(|w| w == b"\n\r\n")
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// An IO wrapper that shows every byte the client sends to a [`Sniffer`].
pub struct SniffIo<T> {
    inner: T,
    sniffer: Sniffer,
}

impl<T> SniffIo<T> {
    pub fn new(inner: T) -> (SniffIo<T>, Verdicts) {
        let verdicts = Verdicts::default();
        (
            SniffIo {
                inner,
                sniffer: Sniffer::new(verdicts.clone()),
            },
            verdicts,
        )
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for SniffIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &polled {
            this.sniffer.feed(&buf.filled()[before..]);
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for SniffIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, data)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    /// While the connection speaks HTTP, hyper shuts it down only on its
    /// way to dropping it, and the close that follows sends the same FIN:
    /// the separate `shutdown` call is one syscall per connection for
    /// nothing (nginx just closes). Once the bytes are opaque (an upgraded
    /// tunnel), a shutdown is a real half-close and goes through.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.sniffer.is_http() {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdicts_of(chunks: &[&[u8]]) -> Vec<bool> {
        let v = Verdicts::default();
        let mut s = Sniffer::new(v.clone());
        for c in chunks {
            s.feed(c);
        }
        let heads = v.0.heads.load(Ordering::SeqCst);
        (0..heads).map(|_| v.next_is_ambiguous()).collect()
    }

    #[test]
    fn plain_keep_alive_requests() {
        let raw = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nPOST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /y HTTP/1.1\r\n\r\n";
        assert_eq!(verdicts_of(&[raw]), vec![false, false, false]);
        // Byte by byte gives the same answer.
        let bytes: Vec<&[u8]> = raw.chunks(1).collect();
        assert_eq!(verdicts_of(&bytes), vec![false, false, false]);
    }

    #[test]
    fn chunked_bodies_with_trailers_are_followed() {
        let raw = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-T: 1\r\n\r\nGET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        assert_eq!(verdicts_of(&[raw]), vec![false, true]);
        let bytes: Vec<&[u8]> = raw.chunks(3).collect();
        assert_eq!(verdicts_of(&bytes), vec![false, true]);
    }

    #[test]
    fn body_text_that_looks_like_headers_is_not_a_head() {
        let body = b"Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        let mut raw =
            format!("POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        raw.extend_from_slice(body);
        assert_eq!(verdicts_of(&[&raw]), vec![false]);
    }

    #[test]
    fn upgrade_stops_watching() {
        let raw = b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(verdicts_of(&[raw]), vec![false]);
    }
}
