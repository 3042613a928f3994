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
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Heads larger than this are hyper's to refuse; the watchdog gives up.
const MAX_HEAD: usize = 64 * 1024;

/// Per-connection verdicts, oldest first: `true` = ambiguous framing.
#[derive(Clone, Debug, Default)]
pub struct Verdicts(Arc<Mutex<VecDeque<bool>>>);

impl Verdicts {
    /// The verdict of the next request in order (`false` when unknown).
    pub fn next_is_ambiguous(&self) -> bool {
        self.0
            .lock()
            .map(|mut q| q.pop_front().unwrap_or(false))
            .unwrap_or(false)
    }

    fn push(&self, ambiguous: bool) {
        if let Ok(mut q) = self.0.lock() {
            q.push_back(ambiguous);
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
                Scan::Head(buf) => {
                    let from = buf.len().saturating_sub(3);
                    buf.extend_from_slice(bytes);
                    match find(&buf[from..], b"\r\n\r\n") {
                        None => {
                            if buf.len() > MAX_HEAD {
                                self.state = Scan::Opaque;
                            }
                            return;
                        }
                        Some(i) => {
                            let end = from + i + 4;
                            let rest_len = buf.len() - end;
                            let head = std::mem::take(buf);
                            self.state = self.on_head(&head[..end]);
                            // What followed the head in this read.
                            let consumed = bytes.len() - rest_len;
                            &bytes[consumed..]
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

    fn on_head(&self, head: &[u8]) -> Scan {
        let mut headers = [httparse::EMPTY_HEADER; 128];
        let mut req = httparse::Request::new(&mut headers);
        if !matches!(req.parse(head), Ok(httparse::Status::Complete(_))) {
            self.verdicts.push(false);
            return Scan::Opaque;
        }
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
        if upgrade {
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
        }
    }
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
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
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
        let q = v.0.lock().unwrap();
        q.iter().copied().collect()
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
