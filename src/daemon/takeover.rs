//! Zero-downtime takeover: a new daemon (`cutover up --takeover`, say an
//! upgraded binary) receives the running daemon's listening sockets, state
//! and guard evidence over a Unix socket in the service's state directory,
//! and the old one finishes what it has in flight and exits.
//!
//! The conversation, one message each way at a time (a frame is a 4-byte
//! big-endian length and a JSON `Message`):
//!
//! 1. successor → `Ask` (its pid and version).
//! 2. The old daemon pauses its controller (only while no runtime operation
//!    is under way; else `Refused`, the successor may try again), saves
//!    the state, flushes the journal and lets go of the state directory's
//!    lock. It keeps serving public traffic on the frozen routing table.
//! 3. old → one byte with the sockets attached (`SCM_RIGHTS`), then `Offer`
//!    (the guards' evidence). Both processes now hold the same sockets:
//!    whoever accepts a connection serves it; none is refused.
//! 4. The successor takes the lock, restores the state, adopts the
//!    replicas, sets its routing table, starts serving, and sends `Ready`.
//! 5. On `Ready` the old controller retires and the old daemon stops
//!    accepting, lets in-flight requests finish and WebSockets close, and
//!    exits. If the successor goes away before `Ready` (it failed, was
//!    killed, timed out), the old daemon takes its lock back and carries
//!    on: a failed takeover changes nothing.
//!
//! Only a process of the same user may ask: the socket lives in the
//! private state directory, and the peer's uid is checked as well.

use super::listeners::{Listeners, Origin};
use crate::controller::ControllerHandle;
use crate::controller::handover::EvidenceSnapshot;
use crate::lock::HeldLock;
use color_eyre::eyre::{Result, WrapErr, bail, eyre};
use serde::{Deserialize, Serialize};
use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The socket's file name in the service's state directory.
pub const SOCKET: &str = "takeover.sock";
/// How long an old daemon waits for its successor's `Ready` before it
/// gives up on it and carries on.
pub const READY_WITHIN: Duration = Duration::from_secs(120);
/// How long a retired daemon keeps upgraded connections (WebSockets) open
/// for their clients before it exits anyway.
pub const LINGER: Duration = Duration::from_secs(3600);
/// Frames above this size are refused (an evidence snapshot is kilobytes).
const MAX_FRAME: usize = 16 << 20;
/// At most this many sockets are passed (the workers' and the admin one).
const MAX_FDS: usize = 128;

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Message {
    Ask {
        pid: u32,
        version: String,
    },
    Refused {
        reason: String,
    },
    Offer {
        pid: u32,
        version: String,
        /// How many of the passed sockets are public (the last is admin's).
        public: usize,
        /// The guards' running tests ([`EvidenceSnapshot`]), kept as JSON so
        /// one that does not read back costs only the evidence, not the
        /// takeover.
        evidence: Option<serde_json::Value>,
        /// Client requests that got a canary failure in this release (the
        /// budget of `max_failed_requests` goes on from there).
        failed_in_release: u64,
    },
    Ready {
        pid: u32,
    },
}

fn write_frame(w: &mut impl Write, m: &Message) -> std::io::Result<()> {
    let body = serde_json::to_vec(m)?;
    w.write_all(&(body.len() as u32).to_be_bytes())?;
    w.write_all(&body)?;
    w.flush()
}

fn read_frame(r: &mut impl Read) -> std::io::Result<Message> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::other(format!(
            "a takeover message of {len} bytes (at most {MAX_FRAME})"
        )));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    serde_json::from_slice(&body).map_err(std::io::Error::other)
}

/// One byte: `F` with the sockets attached, or `R` (refused, a frame follows).
fn send_sockets(stream: &UnixStream, l: &Listeners) -> std::io::Result<()> {
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags, sendmsg};
    let fds: Vec<_> = l
        .public
        .iter()
        .map(|p| p.as_fd())
        .chain(std::iter::once(l.admin.as_fd()))
        .collect();
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(fds.len()))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(std::io::Error::other("too many sockets for one message"));
    }
    sendmsg(
        stream,
        &[IoSlice::new(b"F")],
        &mut control,
        SendFlags::empty(),
    )?;
    Ok(())
}

/// The first byte, and the sockets that came with it.
fn receive_sockets(stream: &UnixStream) -> std::io::Result<(u8, Vec<std::os::fd::OwnedFd>)> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, recvmsg};
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut byte = [0u8; 1];
    let got = recvmsg(
        stream,
        &mut [IoSliceMut::new(&mut byte)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    if got.bytes == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let mut fds = Vec::new();
    for m in control.drain() {
        if let RecvAncillaryMessage::ScmRights(passed) = m {
            fds.extend(passed);
        }
    }
    Ok((byte[0], fds))
}

// ---------------------------------------------------------------------
// The successor's side.

/// What the successor got: the sockets and evidence, and the line back to
/// the old daemon (to say `Ready` on, or to drop to call the takeover off).
pub struct Handed {
    pub listeners: Listeners,
    pub evidence: Option<EvidenceSnapshot>,
    /// The release's failed requests, as the old daemon counted them.
    pub failed_in_release: u64,
    /// The old daemon's pid.
    pub from_pid: u32,
    pub from_version: String,
    /// Said to the operator: evidence that did not read back, and the like.
    pub notes: Vec<String>,
    pub line: Line,
}

/// The open conversation with the old daemon: dropping it (or exiting)
/// calls the takeover off, and the old daemon carries on.
pub struct Line {
    stream: UnixStream,
}

impl Line {
    /// Tell the old daemon this one serves; it retires.
    pub fn ready(mut self) -> Result<()> {
        write_frame(
            &mut self.stream,
            &Message::Ready {
                pid: std::process::id(),
            },
        )
        .wrap_err("telling the old daemon this one serves")
    }
}

/// Ask the daemon behind `dir`'s takeover socket for its listeners. While
/// it has a runtime operation under way it refuses; this retries for up to
/// `patience`, calling `waiting` with each refusal.
pub async fn ask(dir: &Path, patience: Duration, waiting: impl Fn(&str)) -> Result<Handed> {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let path = dir.join(SOCKET);
        let attempt = tokio::task::spawn_blocking(move || ask_once(&path))
            .await
            .map_err(|e| eyre!("the takeover request failed: {e}"))?;
        match attempt? {
            Ok(handed) => return Ok(handed),
            Err(reason) if tokio::time::Instant::now() < deadline => {
                waiting(&reason);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(reason) => bail!("the running daemon did not hand over: {reason}"),
        }
    }
}

/// One request: the sockets, or the old daemon's reason to refuse.
fn ask_once(path: &Path) -> Result<std::result::Result<Handed, String>> {
    let mut stream = UnixStream::connect(path).wrap_err_with(|| {
        format!(
            "no daemon to take over at {} (is `cutover up` running on this state directory?)",
            path.display()
        )
    })?;
    // Pausing waits for the state to reach the disk: seconds at most.
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write_frame(
        &mut stream,
        &Message::Ask {
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
    )?;
    let (first, fds) = receive_sockets(&stream).wrap_err("reading the old daemon's answer")?;
    let answer = read_frame(&mut stream).wrap_err("reading the old daemon's answer")?;
    let (pid, version, public, evidence, failed_in_release) = match (first, answer) {
        (
            b'F',
            Message::Offer {
                pid,
                version,
                public,
                evidence,
                failed_in_release,
            },
        ) => (pid, version, public, evidence, failed_in_release),
        (_, Message::Refused { reason }) => return Ok(Err(reason)),
        (_, other) => bail!("unexpected answer from the old daemon: {other:?}"),
    };
    if public == 0 || fds.len() != public + 1 {
        bail!(
            "the old daemon passed {} sockets for {public} public listeners and the admin one",
            fds.len()
        );
    }
    let mut sockets: Vec<std::net::TcpListener> = fds.into_iter().map(Into::into).collect();
    let admin = sockets.pop().expect("checked above");
    let mut notes = Vec::new();
    let evidence = evidence.and_then(|v| match serde_json::from_value(v) {
        Ok(e) => Some(e),
        Err(e) => {
            notes.push(format!(
                "the guards' evidence from pid {pid} did not read back ({e}); it starts afresh"
            ));
            None
        }
    });
    stream.set_read_timeout(None)?;
    Ok(Ok(Handed {
        listeners: Listeners {
            public: sockets,
            admin,
            origin: Origin::Takeover,
        },
        evidence,
        failed_in_release,
        from_pid: pid,
        from_version: version,
        notes,
        line: Line { stream },
    }))
}

// ---------------------------------------------------------------------
// The old daemon's side.

/// What the running daemon lends to a successor.
pub struct Offering {
    pub controller: ControllerHandle,
    /// Where the release's failed requests are counted.
    pub router: crate::proxy::Router,
    /// Told to let go of its replicas once the successor serves.
    pub runtime: Arc<dyn crate::runtime::Runtime>,
    pub journal: crate::journal::SharedJournal,
    /// A second handle on every listener (the workers own the first).
    pub listeners: Listeners,
    /// The state directory's lock: let go during the handover, taken back
    /// if it fails.
    pub lock: Arc<Mutex<Option<HeldLock>>>,
    pub lock_path: PathBuf,
    /// Set when a successor serves: the daemon then stops and exits.
    pub retired: tokio::sync::watch::Sender<Option<u32>>,
}

/// Listen on `dir`'s takeover socket until the daemon retires or stops.
pub fn listen(dir: &Path) -> Result<tokio::net::UnixListener> {
    let path = dir.join(SOCKET);
    // This daemon holds the directory's lock: a socket file here is stale.
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).wrap_err_with(|| format!("removing {}", path.display())),
    }
    let l = tokio::net::UnixListener::bind(&path)
        .wrap_err_with(|| format!("cannot listen for takeovers on {}", path.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(l)
}

/// Serve takeover requests one at a time until a successor serves.
pub async fn serve(listener: tokio::net::UnixListener, offer: Offering) {
    let offer = Arc::new(offer);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let uid = nix::unistd::geteuid().as_raw();
        match stream.peer_cred() {
            Ok(c) if c.uid() == uid => {}
            _ => {
                tracing::warn!("a takeover request from another user was refused");
                continue;
            }
        }
        match hand_over(stream, offer.clone()).await {
            Ok(true) => return,
            Ok(false) => {}
            Err(e) => tracing::warn!("takeover: {e:#}"),
        }
    }
}

/// One successor's request. `Ok(true)`: it serves now; this daemon retires.
async fn hand_over(stream: tokio::net::UnixStream, offer: Arc<Offering>) -> Result<bool> {
    let mut stream = stream.into_std()?;
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let (stream, ask) = tokio::task::spawn_blocking(move || {
        let ask = read_frame(&mut stream);
        (stream, ask)
    })
    .await?;
    let Message::Ask { pid, version } = ask.wrap_err("reading a takeover request")? else {
        bail!("a takeover request that is not an ask");
    };
    tracing::info!(pid, %version, "takeover asked");
    let paused = match offer.controller.pause(pid).await {
        Ok(p) => p,
        Err(reason) => {
            refuse(stream, reason).await;
            return Ok(false);
        }
    };
    if let Err(e) = offer.journal.flush() {
        tracing::warn!("flushing the journal before a takeover: {e}");
    }
    let evidence = paused
        .evidence
        .as_ref()
        .and_then(|e| serde_json::to_value(e).ok());
    // The successor takes the lock as soon as it has the sockets.
    drop(offer.lock.lock().unwrap_or_else(|p| p.into_inner()).take());
    let o = offer.clone();
    let outcome = tokio::task::spawn_blocking(move || -> std::io::Result<Message> {
        let mut stream = stream;
        send_sockets(&stream, &o.listeners)?;
        write_frame(
            &mut stream,
            &Message::Offer {
                pid: std::process::id(),
                version: env!("CARGO_PKG_VERSION").into(),
                public: o.listeners.public.len(),
                evidence,
                failed_in_release: o.router.failed_in_release(),
            },
        )?;
        stream.set_read_timeout(Some(READY_WITHIN))?;
        read_frame(&mut stream)
    })
    .await?;
    match outcome {
        Ok(Message::Ready { pid }) => {
            tracing::info!(pid, "takeover: the successor serves; retiring");
            offer.runtime.let_go();
            paused.retire();
            offer.retired.send_replace(Some(pid));
            Ok(true)
        }
        other => {
            let why = match other {
                Ok(m) => format!("unexpected message {m:?}"),
                Err(e) => e.to_string(),
            };
            take_lock_back(&offer).await;
            paused.resume();
            tracing::warn!("takeover by pid {pid} failed ({why}); carrying on");
            Ok(false)
        }
    }
}

async fn refuse(stream: UnixStream, reason: String) {
    let _ = tokio::task::spawn_blocking(move || {
        let mut stream = stream;
        let _ = stream.write_all(b"R");
        let _ = write_frame(&mut stream, &Message::Refused { reason });
    })
    .await;
}

/// A failed successor let go of the lock when it exited (the kernel drops
/// a `flock` with its holder); one still on its way out gets a moment.
async fn take_lock_back(offer: &Offering) {
    match crate::lock::lock_within(&offer.lock_path, Duration::from_secs(10), |_| {}).await {
        Ok(l) => *offer.lock.lock().unwrap_or_else(|p| p.into_inner()) = Some(l),
        Err(e) => tracing::error!(
            "after a failed takeover the state directory's lock could not be taken back ({e}); serving without it"
        ),
    }
}
