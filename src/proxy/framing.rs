//! A request-framing watchdog on each client connection.
//!
//! hyper resolves a request that carries both `Content-Length` and
//! `Transfer-Encoding` the RFC way (chunked wins, the length is dropped, the
//! connection closes afterwards) — safe, but the handler can no longer see
//! that the request was ambiguous. Operators expect such a request to be
//! refused outright (400), as nginx does, because it is almost always a
//! smuggling probe. [`SniffIo`] watches the raw bytes the client sends,
//! follows HTTP/1.1 framing (heads, fixed-length and chunked bodies) and
//! records, per request in order, a [`Verdict`] on its head. The handler of
//! the k-th request on a connection takes the k-th verdict.
//!
//! The watchdog and hyper must agree on where each request starts, or a
//! request could slip past unjudged. Three rules keep them together:
//!
//! - **Only a real upgrade ends the watch.** A request is an upgrade only
//!   with `Connection: upgrade` *and* `Upgrade:` (what the handler tunnels),
//!   or a `CONNECT`; a bare `Upgrade:` header is an ordinary request and the
//!   watch goes on (hyper goes on parsing it as HTTP too).
//! - **One head-size cap for both.** A head over `max_head` bytes is
//!   [`Verdict::TooLarge`] here and refused by hyper with 431 (it is given
//!   the same cap), whether it came in one write or in many.
//! - **Unjudged means refused.** A request whose head the watchdog did not
//!   judge (it stopped watching: an upgrade that did not happen, a chunk
//!   line it could not follow, bytes it could not parse) is
//!   [`Verdict::Unwatched`], and the handler refuses it. Whatever the two
//!   parsers disagree on fails closed.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The default cap on a request head (request line and header fields):
/// 64 KiB, as the plan's `proxy.max_head_size` default.
pub const DEFAULT_MAX_HEAD: usize = 64 * 1024;

/// The longest chunk-size line followed (size, extensions and CRLF). hyper
/// allows up to 16 KiB of extensions per body; past this the watchdog stops
/// and later requests on the connection are refused as unwatched.
const MAX_CHUNK_LINE: usize = 16 * 1024 + 64;

/// What the watchdog saw of one request head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Plain framing: forward it.
    Clean,
    /// Both `Content-Length` and `Transfer-Encoding`: a smuggling probe (400).
    Ambiguous,
    /// Longer than the head-size cap (431).
    TooLarge,
    /// The watchdog did not judge this head (it had stopped watching the
    /// connection): never forwarded (400).
    Unwatched,
}

/// Per-connection verdicts in request order: the sniffer numbers the heads
/// it sees, the handler numbers the requests it gets, and only the numbers
/// of heads that are not [`Verdict::Clean`] are stored. The common case
/// (every head clean) costs three uncontended atomic operations per request
/// and no lock.
#[derive(Clone, Debug, Default)]
pub struct Verdicts(Arc<VerdictsInner>);

#[derive(Debug, Default)]
struct VerdictsInner {
    /// Heads the sniffer has judged.
    heads: AtomicU64,
    /// Requests the handler has asked about.
    asked: AtomicU64,
    /// Set once any head was not clean; guards the lock below.
    any: AtomicBool,
    /// Numbers and verdicts of the heads that were not clean and not yet
    /// asked about, ascending.
    flagged: Mutex<VecDeque<(u64, Verdict)>>,
}

impl Verdicts {
    /// The verdict of the next request in order: [`Verdict::Unwatched`]
    /// when the sniffer has not judged that many heads.
    pub fn next(&self) -> Verdict {
        let n = self.0.asked.fetch_add(1, Ordering::AcqRel);
        if n >= self.0.heads.load(Ordering::Acquire) {
            return Verdict::Unwatched;
        }
        if !self.0.any.load(Ordering::Acquire) {
            return Verdict::Clean;
        }
        let Ok(mut q) = self.0.flagged.lock() else {
            return Verdict::Unwatched;
        };
        while q.front().is_some_and(|(k, _)| *k < n) {
            q.pop_front();
        }
        match q.front() {
            Some((k, v)) if *k == n => {
                let v = *v;
                q.pop_front();
                v
            }
            _ => Verdict::Clean,
        }
    }

    /// How many heads the sniffer has judged so far.
    pub fn judged(&self) -> u64 {
        self.0.heads.load(Ordering::Acquire)
    }

    fn push(&self, verdict: Verdict) {
        let n = self.0.heads.load(Ordering::Acquire);
        if verdict != Verdict::Clean {
            match self.0.flagged.lock() {
                Ok(mut q) => q.push_back((n, verdict)),
                // A poisoned queue cannot hold the verdict: stop counting
                // heads, so this one and every later one is unwatched.
                Err(_) => return,
            }
            self.0.any.store(true, Ordering::Release);
        }
        self.0.heads.store(n + 1, Ordering::Release);
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
    /// Longest head (and trailer section) accepted, in bytes.
    max_head: usize,
}

impl Sniffer {
    pub fn new(verdicts: Verdicts, max_head: usize) -> Sniffer {
        Sniffer {
            state: Scan::Head(Vec::new()),
            verdicts,
            max_head,
        }
    }

    /// Whether the bytes are still HTTP/1.1 messages (not an upgraded or
    /// unparseable stream).
    pub fn is_http(&self) -> bool {
        !matches!(self.state, Scan::Opaque)
    }

    /// Follow `bytes` through the stream's states (head, body, chunks,
    /// opaque). One function on purpose (112 lines): it is one state
    /// machine over bytes, each arm hands the rest of the bytes to the next
    /// state in the same loop, and split into functions the states would
    /// each need the whole scanner and the loop's remaining input.
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
                        if buf.len() > self.max_head {
                            // Too long already, however it ends: hyper
                            // refuses it (431) with the same cap.
                            self.verdicts.push(Verdict::TooLarge);
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
                            if line.len() > MAX_CHUNK_LINE {
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
                            if buf.len() > self.max_head {
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
    /// refuses is hyper's to refuse too: the watchdog stops there without a
    /// verdict, so any request hyper might still find after it is unwatched.
    fn on_head(&self, bytes: &[u8]) -> Option<(usize, Scan)> {
        let mut headers = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; 128];
        let mut req = httparse::Request::new(&mut []);
        let len = match req.parse_with_uninit_headers(bytes, &mut headers) {
            Ok(httparse::Status::Complete(len)) if len > self.max_head => {
                self.verdicts.push(Verdict::TooLarge);
                return Some((bytes.len(), Scan::Opaque));
            }
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) if bytes.len() <= self.max_head => return None,
            Ok(httparse::Status::Partial) => {
                self.verdicts.push(Verdict::TooLarge);
                return Some((bytes.len(), Scan::Opaque));
            }
            Err(_) => return Some((bytes.len(), Scan::Opaque)),
        };
        let mut te = false;
        let mut chunked = false;
        let mut cl: Option<u64> = None;
        let mut upgrade_header = false;
        let mut connection_upgrade = false;
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
                upgrade_header = true;
            } else if h.name.eq_ignore_ascii_case("connection") {
                connection_upgrade |= h
                    .value
                    .split(|b| *b == b',')
                    .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"upgrade"));
            }
        }
        // What the handler tunnels (`headers::is_upgrade`), or a CONNECT
        // (refused, and the connection closed, by the handler).
        let upgrade = (upgrade_header && connection_upgrade) || req.method == Some("CONNECT");
        self.verdicts.push(if te && cl.is_some() {
            Verdict::Ambiguous
        } else {
            Verdict::Clean
        });
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

/// The verdicts of every head the watchdog judges when `chunks` arrive one
/// read each, in order (for the tests and the fuzz target: the property
/// that matters is that they do not depend on how the reads were split).
pub fn judge(chunks: &[&[u8]], max_head: usize) -> Vec<Verdict> {
    let v = Verdicts::default();
    let mut s = Sniffer::new(v.clone(), max_head);
    for c in chunks {
        s.feed(c);
    }
    (0..v.judged()).map(|_| v.next()).collect()
}

/// What the requests of a connection get, given the verdicts: the clean and
/// ambiguous ones in order, then one `Unwatched` standing for the first
/// refusal that ends the watch and everything after it. A malformed stream
/// can end in `TooLarge` or in no verdict depending on where its reads were
/// split; both refuse that request and all later ones, so they compare equal.
pub fn canonical(verdicts: &[Verdict]) -> Vec<Verdict> {
    let mut out: Vec<Verdict> = verdicts
        .iter()
        .copied()
        .take_while(|v| matches!(v, Verdict::Clean | Verdict::Ambiguous))
        .collect();
    out.push(Verdict::Unwatched);
    out
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
    /// Watch `inner`, refusing heads longer than `max_head` bytes.
    pub fn new(inner: T, max_head: usize) -> (SniffIo<T>, Verdicts) {
        let verdicts = Verdicts::default();
        (
            SniffIo {
                inner,
                sniffer: Sniffer::new(verdicts.clone(), max_head),
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
#[path = "framing_tests.rs"]
mod tests;
