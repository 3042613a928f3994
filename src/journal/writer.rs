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

use crate::controller::seams::EventSink;
use crate::model::{Event, JournalHeader};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// How long written events may sit in the buffer before they reach the file.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// An open journal, appending.
#[derive(Debug)]
pub struct JournalWriter {
    out: BufWriter<File>,
    path: PathBuf,
    last_flush: Instant,
    /// Whether anything was written since the last flush.
    dirty: bool,
}

impl JournalWriter {
    /// Open `path` for appending (creating parent directories), writing
    /// `header` first when the file is new or empty. See the module docs for
    /// what happens to an existing file.
    pub fn create(path: &Path, header: &JournalHeader) -> io::Result<JournalWriter> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let existing = match std::fs::metadata(path) {
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
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let mut w = JournalWriter {
            out: BufWriter::with_capacity(64 * 1024, file),
            path: path.to_path_buf(),
            last_flush: Instant::now(),
            dirty: false,
        };
        if needs_newline {
            w.out.write_all(b"\n")?;
        }
        if needs_header {
            let mut line = serde_json::to_vec(header).map_err(io::Error::other)?;
            line.push(b'\n');
            w.out.write_all(&line)?;
        }
        // The header reaches the disk at once: a reader may open the file now.
        w.out.flush()?;
        Ok(w)
    }

    /// The file this writer appends to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one event as one line, then flush if the last flush is a
    /// second old or more.
    pub fn write(&mut self, event: &Event) -> io::Result<()> {
        let mut line = serde_json::to_vec(event).map_err(io::Error::other)?;
        line.push(b'\n');
        self.out.write_all(&line)?;
        self.dirty = true;
        self.flush_if_due()
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
