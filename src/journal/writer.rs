//! Appending events to a journal file, one JSON line each.
//!
//! Each event is serialised to a complete line first and handed to the
//! buffer with a single `write_all`, so a crash can only ever tear the last
//! line (which the reader tolerates), never interleave two. The buffer is
//! flushed at least once a second — by [`JournalWriter::flush_if_due`] on
//! every write and by [`SharedJournal`]'s flusher thread when nothing is
//! written — and on [`JournalWriter::close`] (which also fsyncs) and on drop.
//!
//! **Restarts.** A restarted daemon continues the journal it finds:
//! - a missing or empty file gets a fresh header line;
//! - a file whose first line is a valid header is appended to as is (no
//!   second header: events of both runs belong to one flight record; `seq`
//!   restarts, which readers do not rely on). If the file was torn mid-line
//!   by a crash, a newline is written first so the torn line stays one
//!   (skipped, counted) corrupt line instead of swallowing the next event;
//! - a non-empty file *without* a valid header cannot be continued (no
//!   reader would accept it), so it is renamed aside to
//!   `<name>.unreadable-<unix seconds>` and a fresh journal with a header is
//!   started. Nothing is ever deleted.
//!
//! Readers accept header lines later in a file as markers, so concatenated
//! journals stay readable too.
//!
//! **Rotation.** A daemon writes ~2.3 KB a second (a snapshot and a tick
//! each second), some 200 MB a day, so the journal is rotated by size
//! ([`Rotation`]): once the file holds `max_bytes`, the next snapshot starts
//! a new file — `journal.jsonl` becomes `journal.1.jsonl`, `journal.1.jsonl`
//! becomes `journal.2.jsonl`, … and the oldest past `keep` is deleted. Each
//! file begins with a header line and, right after it, a snapshot, so every
//! file replays on its own (`cutover replay journal.3.jsonl`), and the files
//! concatenated oldest first replay as one. Defaults: 32 MiB, 5 rotated
//! files (at most ~190 MiB, about a day); `CUTOVER_JOURNAL_MAX_BYTES`
//! (`64MiB`, `0` = never rotate) and `CUTOVER_JOURNAL_KEEP` change them.
//!
//! **Closing.** [`SharedJournal::close_with_snapshot`] writes one last
//! snapshot, the daemon's final state, so a replay ends exactly where the
//! daemon did instead of up to a second earlier.

use crate::controller::interfaces::EventSink;
use crate::model::{Event, EventKind, JournalHeader, StateView};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// How long written events may sit in the buffer before they reach the file.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// When a journal is rotated, and how many old files are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rotation {
    /// Start a new file at the first snapshot once the current one holds
    /// this many bytes; 0 never rotates.
    pub max_bytes: u64,
    /// Rotated files kept (`journal.1.jsonl` newest … `journal.<keep>.jsonl`).
    pub keep: usize,
}

impl Rotation {
    pub const DEFAULT_MAX_BYTES: u64 = 32 << 20;
    pub const DEFAULT_KEEP: usize = 5;
    /// More rotated files than this are not kept, whatever is asked.
    pub const MAX_KEEP: usize = 1000;

    /// Never rotate.
    pub fn never() -> Rotation {
        Rotation {
            max_bytes: 0,
            keep: 0,
        }
    }

    /// The defaults, changed by `CUTOVER_JOURNAL_MAX_BYTES` (a size such as
    /// `64MiB`, or `0`) and `CUTOVER_JOURNAL_KEEP`; a value that does not
    /// parse is warned about and ignored.
    pub fn from_env() -> Rotation {
        let mut r = Rotation::default();
        if let Ok(v) = std::env::var("CUTOVER_JOURNAL_MAX_BYTES") {
            match v.trim().parse::<u64>() {
                Ok(n) => r.max_bytes = n,
                Err(_) => match v.parse::<crate::plan::ByteSize>() {
                    Ok(b) => r.max_bytes = b.0,
                    Err(e) => tracing::warn!("CUTOVER_JOURNAL_MAX_BYTES={v:?} ignored: {e}"),
                },
            }
        }
        if let Ok(v) = std::env::var("CUTOVER_JOURNAL_KEEP") {
            match v.trim().parse::<usize>() {
                Ok(n) => r.keep = n.min(Rotation::MAX_KEEP),
                Err(e) => tracing::warn!("CUTOVER_JOURNAL_KEEP={v:?} ignored: {e}"),
            }
        }
        r
    }
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation {
            max_bytes: Rotation::DEFAULT_MAX_BYTES,
            keep: Rotation::DEFAULT_KEEP,
        }
    }
}

/// The `n`-th rotated file of `path`: `journal.jsonl` → `journal.<n>.jsonl`
/// (0 is `path` itself).
pub fn rotated_path(path: &Path, n: usize) -> PathBuf {
    if n == 0 {
        return path.to_path_buf();
    }
    let name = path.file_name().map_or_else(
        || std::ffi::OsString::from("journal"),
        std::ffi::OsStr::to_os_string,
    );
    let name = name.to_string_lossy();
    let rotated = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{stem}.{n}.{ext}"),
        _ => format!("{name}.{n}"),
    };
    path.with_file_name(rotated)
}

/// A journal file opened for appending: created 0600, no link followed,
/// refused when someone else owns it (it holds operators' reasons and lives
/// in the state directory: `crate::private_file`).
fn open_private(path: &Path) -> io::Result<File> {
    use crate::private_file::{Access, Mode, TrustError, open};
    open(path, Access::Append, Mode::Private).map_err(|e| match e {
        TrustError::Io { source, .. } => source,
        other => io::Error::new(io::ErrorKind::PermissionDenied, other.to_string()),
    })
}

/// The journal at `path` and its rotated files that exist, oldest first
/// (the order in which they concatenate into one journal).
pub fn journal_files(path: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = (1..=Rotation::MAX_KEEP)
        .map(|n| rotated_path(path, n))
        .take_while(|p| p.exists())
        .collect();
    files.reverse();
    if path.exists() {
        files.push(path.to_path_buf());
    }
    files
}

/// An open journal, appending.
#[derive(Debug)]
pub struct JournalWriter {
    out: BufWriter<File>,
    path: PathBuf,
    last_flush: Instant,
    /// Whether anything was written since the last flush.
    dirty: bool,
    /// The header new files (after a rotation) start with, re-stamped.
    header: JournalHeader,
    rotation: Rotation,
    /// Bytes in the current file.
    size: u64,
    /// `seq` of the last event written (the final snapshot follows it).
    last_seq: u64,
}

impl JournalWriter {
    /// Open `path` for appending (creating parent directories), writing
    /// `header` first when the file is new or empty. See the module docs for
    /// what happens to an existing file.
    pub fn create(path: &Path, header: &JournalHeader) -> io::Result<JournalWriter> {
        JournalWriter::create_with(path, header, Rotation::from_env())
    }

    /// [`JournalWriter::create`] with an explicit rotation policy.
    pub fn create_with(
        path: &Path,
        header: &JournalHeader,
        rotation: Rotation,
    ) -> io::Result<JournalWriter> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let existing = match std::fs::symlink_metadata(path) {
            // Never followed: see `open_private`.
            Ok(m) if m.file_type().is_symlink() => {
                return Err(open_private(path).err().unwrap_or_else(|| {
                    io::Error::new(io::ErrorKind::PermissionDenied, "a symbolic link")
                }));
            }
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        let mut needs_header = existing == 0;
        let mut needs_newline = false;
        if existing > 0 {
            if has_valid_header(path)? {
                needs_newline = !ends_with_newline(path)?;
            } else {
                let stamp = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let mut aside = path.as_os_str().to_owned();
                aside.push(format!(".unreadable-{stamp}"));
                std::fs::rename(path, PathBuf::from(&aside))?;
                tracing::warn!(
                    journal = %path.display(),
                    moved_to = %PathBuf::from(aside).display(),
                    "existing journal has no valid header; moved it aside and started a new one"
                );
                needs_header = true;
            }
        }
        let file = open_private(path)?;
        let size = file.metadata()?.len();
        let mut w = JournalWriter {
            out: BufWriter::with_capacity(64 * 1024, file),
            path: path.to_path_buf(),
            last_flush: Instant::now(),
            dirty: false,
            header: header.clone(),
            rotation,
            size,
            last_seq: 0,
        };
        if needs_newline {
            w.put(b"\n")?;
        }
        if needs_header {
            let mut line = serde_json::to_vec(header).map_err(io::Error::other)?;
            line.push(b'\n');
            w.put(&line)?;
        }
        // The header reaches the disk at once: a reader may open the file now.
        w.out.flush()?;
        Ok(w)
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.size += bytes.len() as u64;
        Ok(())
    }

    /// Whether the next snapshot starts a new file.
    fn due_for_rotation(&self) -> bool {
        self.rotation.max_bytes > 0 && self.size >= self.rotation.max_bytes
    }

    /// Shift the rotated files up by one (dropping the oldest past `keep`),
    /// move the current file to `.1`, and continue in a fresh file that
    /// starts with a header. Nothing written is lost when this fails half
    /// way: until the new file is open, writing goes on in the old one.
    fn rotate(&mut self, at: chrono::DateTime<chrono::Utc>) -> io::Result<()> {
        self.out.flush()?;
        let keep = self.rotation.keep.min(Rotation::MAX_KEEP);
        if keep == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            let oldest = rotated_path(&self.path, keep);
            if oldest.exists() {
                std::fs::remove_file(&oldest)?;
            }
            for n in (1..keep).rev() {
                let from = rotated_path(&self.path, n);
                if from.exists() {
                    std::fs::rename(&from, rotated_path(&self.path, n + 1))?;
                }
            }
            std::fs::rename(&self.path, rotated_path(&self.path, 1))?;
        }
        let file = open_private(&self.path)?;
        let old = std::mem::replace(&mut self.out, BufWriter::with_capacity(64 * 1024, file));
        // The rotated file is complete: make it durable.
        if let Ok(f) = old.into_inner() {
            let _ = f.sync_all();
        }
        self.size = 0;
        let header = JournalHeader {
            started_at: at,
            ..self.header.clone()
        };
        let mut line = serde_json::to_vec(&header).map_err(io::Error::other)?;
        line.push(b'\n');
        self.put(&line)?;
        tracing::info!(journal = %self.path.display(), "journal rotated");
        Ok(())
    }

    /// The file this writer appends to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one event as one line, then flush if the last flush is a
    /// second old or more.
    ///
    /// A snapshot that finds the file at its size limit goes first into a
    /// new file (see the module docs); a failed rotation is warned about and
    /// the event is appended to the current file instead.
    pub fn write(&mut self, event: &Event) -> io::Result<()> {
        let mut line = serde_json::to_vec(event).map_err(io::Error::other)?;
        line.push(b'\n');
        if matches!(event.kind, EventKind::Snapshot { .. })
            && self.due_for_rotation()
            && let Err(e) = self.rotate(event.at)
        {
            tracing::warn!(journal = %self.path.display(), "cannot rotate the journal: {e}");
        }
        self.put(&line)?;
        self.last_seq = self.last_seq.max(event.seq);
        self.dirty = true;
        self.flush_if_due()
    }

    /// Append a snapshot of `state` as the last event (after the last
    /// `seq` written), e.g. the daemon's state as it stops.
    pub fn write_final_snapshot(&mut self, state: StateView) -> io::Result<()> {
        let at = chrono::Utc::now().max(state.at);
        let event = Event {
            seq: self.last_seq + 1,
            at,
            kind: EventKind::Snapshot {
                state: Box::new(state),
            },
        };
        self.write(&event)
    }

    /// Flush when something is buffered and [`FLUSH_EVERY`] has passed.
    pub fn flush_if_due(&mut self) -> io::Result<()> {
        if self.dirty && self.last_flush.elapsed() >= FLUSH_EVERY {
            self.flush()?;
        }
        Ok(())
    }

    /// Hand everything buffered to the kernel now.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.dirty = false;
        self.last_flush = Instant::now();
        Ok(())
    }

    /// Flush and fsync: after this returns, the journal survives a power cut.
    pub fn close(mut self) -> io::Result<()> {
        self.flush()?;
        self.out.get_ref().sync_all()
    }
}

impl Drop for JournalWriter {
    fn drop(&mut self) {
        if self.dirty {
            let _ = self.out.flush();
        }
    }
}

/// Whether the file's first line is a journal header of a version we can
/// continue (same major).
fn has_valid_header(path: &Path) -> io::Result<bool> {
    let mut first = Vec::new();
    BufReader::new(File::open(path)?)
        .take(1 << 20)
        .read_until(b'\n', &mut first)?;
    let Ok(header) = serde_json::from_slice::<JournalHeader>(first.trim_ascii()) else {
        return Ok(false);
    };
    Ok(header.format == JournalHeader::FORMAT
        && super::reader::major(&header.version) == super::reader::major(JournalHeader::VERSION))
}

fn ends_with_newline(path: &Path) -> io::Result<bool> {
    let mut f = File::open(path)?;
    f.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    f.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

/// A journal writer shared by the controller and a flusher thread.
///
/// [`EventSink::record`] only takes the lock, appends one line to the buffer
/// and occasionally hands it to the kernel (no fsync): it never waits on the
/// disk for long. A background thread flushes every [`FLUSH_EVERY`] so the
/// last events reach the file even when nothing else is recorded; it stops
/// when the last `SharedJournal` clone is dropped.
#[derive(Clone, Debug)]
pub struct SharedJournal {
    inner: Arc<Mutex<Option<JournalWriter>>>,
}

impl SharedJournal {
    pub fn new(writer: JournalWriter) -> SharedJournal {
        let inner = Arc::new(Mutex::new(Some(writer)));
        let weak: Weak<Mutex<Option<JournalWriter>>> = Arc::downgrade(&inner);
        let spawned = std::thread::Builder::new()
            .name("journal-flush".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(FLUSH_EVERY / 2);
                    let Some(inner) = weak.upgrade() else { return };
                    let mut guard = inner.lock().unwrap_or_else(|p| p.into_inner());
                    match guard.as_mut() {
                        Some(w) => {
                            if let Err(e) = w.flush_if_due() {
                                tracing::warn!(journal = %w.path().display(), "journal flush failed: {e}");
                            }
                        }
                        None => return,
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(
                "cannot start the journal flusher thread ({e}); flushing on writes only"
            );
        }
        SharedJournal { inner }
    }

    /// Open (or continue) the journal at `path` and share it.
    pub fn create(path: &Path, header: &JournalHeader) -> io::Result<SharedJournal> {
        Ok(SharedJournal::new(JournalWriter::create(path, header)?))
    }

    /// Flush now (for tests and orderly shutdown paths that keep the journal open).
    pub fn flush(&self) -> io::Result<()> {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_mut() {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }

    /// Write `state` as a final snapshot, then [`SharedJournal::close`]: a
    /// replay of the journal ends in exactly this state.
    pub fn close_with_snapshot(&self, state: StateView) -> io::Result<()> {
        let taken = self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
        match taken {
            Some(mut w) => {
                let wrote = w.write_final_snapshot(state);
                let closed = w.close();
                wrote.and(closed)
            }
            None => Ok(()),
        }
    }

    /// Flush, fsync and stop recording; later events are dropped.
    pub fn close(&self) -> io::Result<()> {
        let taken = self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
        match taken {
            Some(w) => w.close(),
            None => Ok(()),
        }
    }
}

impl EventSink for SharedJournal {
    fn record(&self, event: &Event) {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(w) = guard.as_mut()
            && let Err(e) = w.write(event)
        {
            tracing::warn!(journal = %w.path().display(), "cannot write to the journal: {e}");
        }
    }
}
