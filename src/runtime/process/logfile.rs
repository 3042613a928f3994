//! A process replica's output: a file in the service's state directory,
//! `<state>/<service>/replicas/pid-<pid>.log`, that is the replica's stdout
//! and stderr (opened for appending). No pipe to the daemon: a pipe's read
//! end dies with the daemon (kill -9, a crash, a takeover), and the next
//! line the replica wrote met EPIPE or SIGPIPE, which kills many programs
//! (Python's BrokenPipeError, a C program's default SIGPIPE, Rust's
//! `eprintln!`), so the daemon meant to adopt the replica found it dead. A
//! file does not care who reads it. Its name is the pid, which is what a
//! replica's id (`pid:N`) keeps, so a restarted daemon or a successor finds
//! the file of every replica it adopts and shows what was written before
//! and after it started.
//!
//! Bounded: each replica's file is checked every [`TRIM_EVERY`] by a task of
//! the daemon that keeps it; one past [`LOG_CAP`] is cut copytruncate-style
//! (its last [`LOG_CAP`] bytes, from a line's start, become `pid-N.log.1`,
//! then the live file is truncated; the replica's `O_APPEND` writes carry on
//! at the new end). What the replica writes between the copy and the
//! truncation is lost: copytruncate's known window, kept to the time of one
//! `fstat` by copying what arrived during the copy before truncating. A
//! replica's output on disk is thus at most about twice the cap, plus what
//! it writes in one check's interval. A replica's files are deleted when the
//! runtime removes it; a restarted daemon deletes those of replicas that no
//! longer run ([`LogDir::sweep`]).
//!
//! Private: the directory is made 0700 (inside the 0700 service directory)
//! and refused if it is not only ours; files are created 0600 and opened
//! without following links ([`crate::private_file`]), like every file of the
//! state directory. Lines are cleaned when they are read, not when written:
//! the file holds what the replica said, the terminal gets pictures of its
//! control characters ([`crate::text::clean`]).

use crate::private_file::{self, Access, Mode, TrustError};
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// A replica's live log file is trimmed past this size: big enough to keep
/// the hours of output a person reads after an incident (the cockpit asks
/// for at most 5000 lines), small enough that a chatty replica never fills
/// the disk of the state directory (it keeps at most about twice this).
pub const LOG_CAP: u64 = 8 << 20;

/// How often each replica's file is checked against [`LOG_CAP`]: one
/// `fstat` a second per replica costs nothing, and a replica would have to
/// write megabytes a second to run far past the cap in between.
pub const TRIM_EVERY: Duration = Duration::from_secs(1);

/// How much of a file [`last_lines`] reads at a time, from its end.
const CHUNK: u64 = 64 << 10;

/// A file of a replica still being spawned that no daemon renamed this long
/// after: left by a daemon that died between spawn and rename.
const SPAWN_LEFTOVER: Duration = Duration::from_secs(60);

/// Where a runtime's replicas write their output, and its limits.
#[derive(Debug)]
pub(super) struct LogDir {
    path: PathBuf,
    /// A live file past this many bytes is trimmed.
    cap: u64,
    /// How often each replica's file is checked against `cap`.
    every: Duration,
    /// Made for this runtime alone (`ProcessRuntime::new`): removed with it.
    temporary: bool,
    /// Bumped when the runtime lets go of its replicas (a takeover): their
    /// keepers stop, the successor's trim the files from then on (two
    /// trimming one file would cut it twice).
    generation: AtomicU64,
}

impl LogDir {
    /// Replicas' output in `path` (created when the first replica starts).
    pub(super) fn new(path: PathBuf) -> LogDir {
        LogDir {
            path,
            cap: LOG_CAP,
            every: TRIM_EVERY,
            temporary: false,
            generation: AtomicU64::new(0),
        }
    }

    /// A fresh directory under the system's temporary directory, removed
    /// when this goes: for a runtime that was given no state directory.
    pub(super) fn temporary() -> LogDir {
        let name = format!("cutover-replica-logs-{:016x}", fastrand::u64(..));
        let mut dir = LogDir::new(std::env::temp_dir().join(name));
        dir.temporary = true;
        dir
    }

    /// The same directory with another cap and check interval (tests).
    #[cfg(test)]
    pub(super) fn limits(mut self, cap: u64, every: Duration) -> LogDir {
        (self.cap, self.every) = (cap, every);
        self
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Stop trimming the files of the replicas started or adopted so far
    /// (the runtime let go of them).
    pub(super) fn let_go(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The file `pid` writes to.
    pub(super) fn live(&self, pid: i32) -> PathBuf {
        self.path.join(format!("pid-{pid}.log"))
    }

    /// The older part of `pid`'s output, cut from the live file.
    pub(super) fn rotated(&self, pid: i32) -> PathBuf {
        self.path.join(format!("pid-{pid}.log.1"))
    }

    /// The directory, made 0700 if absent, refused if not only ours, and
    /// closed to others if it was not (as the service directory is).
    fn ensure(&self) -> Result<(), TrustError> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let io = |source| TrustError::Io {
            path: self.path.clone(),
            source,
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.path)
            .map_err(io)?;
        private_file::check_dir(&self.path)?;
        fs::set_permissions(&self.path, fs::Permissions::from_mode(0o700)).map_err(io)
    }

    /// A new file for a child about to be spawned, whose pid is not known
    /// yet: [`Spawning::claim`] names it after the pid once it is.
    pub(super) fn create(&self) -> Result<Spawning, TrustError> {
        self.ensure()?;
        let path = self
            .path
            .join(format!("spawn-{:016x}.log", fastrand::u64(..)));
        // Appended to: a trim truncates it under the replica (module doc).
        let file = private_file::open(&path, Access::AppendNew, Mode::Private)?;
        Ok(Spawning {
            path: Some(path),
            file,
        })
    }

    /// Delete `pid`'s files (the runtime removed it).
    pub(super) fn remove(&self, pid: i32) {
        let rotated = self.rotated(pid);
        for path in [self.live(pid), rotated.with_extension("1.tmp"), rotated] {
            if let Err(e) = fs::remove_file(&path)
                && e.kind() != io::ErrorKind::NotFound
            {
                tracing::warn!("cannot delete {}: {e}", path.display());
            }
        }
    }

    /// Trim `pid`'s live file if it is past the cap (see the module doc).
    /// `Ok(false)`: nothing to do, or no file.
    pub(super) fn trim(&self, pid: i32) -> io::Result<bool> {
        let live = self.live(pid);
        let mut file = match private_file::open(&live, Access::Existing, Mode::Private) {
            Ok(f) => f,
            Err(TrustError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                return Ok(false);
            }
            Err(e) => return Err(io::Error::other(e.to_string())),
        };
        let len = file.metadata()?.len();
        if len <= self.cap {
            return Ok(false);
        }
        let rotated = self.rotated(pid);
        let tmp = rotated.with_extension("1.tmp");
        let mut out = private_file::open(&tmp, Access::Truncate, Mode::Private)
            .map_err(|e| io::Error::other(e.to_string()))?;
        // From a line's start: up to the first newline at or after the
        // byte before the kept window, nothing is kept.
        file.seek(SeekFrom::Start(len - self.cap - 1))?;
        let mut reader = BufReader::new((&file).take(self.cap + 1));
        reader.read_until(b'\n', &mut Vec::new())?;
        io::copy(&mut reader, &mut out)?;
        // What arrived during the copy, then the cut at once.
        let now = file.metadata()?.len();
        if now > len {
            file.seek(SeekFrom::Start(len))?;
            io::copy(&mut (&file).take(now - len), &mut out)?;
        }
        file.set_len(0)?;
        drop(out);
        fs::rename(&tmp, &rotated)?;
        Ok(true)
    }

    /// The last `n` lines `pid` wrote, oldest first, cleaned: from the live
    /// file, and from `.1` before them when it holds fewer. `None` when
    /// there is neither (a replica started before replica log files).
    pub(super) fn tail(&self, pid: i32, n: usize) -> io::Result<Option<Vec<String>>> {
        let live = last_lines(&self.live(pid), n)?;
        let missing = n.saturating_sub(live.as_ref().map_or(0, Vec::len));
        let older = match missing {
            0 => None,
            m => last_lines(&self.rotated(pid), m)?,
        };
        if live.is_none() && older.is_none() {
            return Ok(None);
        }
        Ok(Some(
            older
                .into_iter()
                .chain(live)
                .flatten()
                .map(|raw| {
                    let text = String::from_utf8_lossy(&raw);
                    crate::text::clean(text.trim_end_matches('\r')).into_owned()
                })
                .collect(),
        ))
    }

    /// Delete the files of replicas `keep` says are gone (by pid), and
    /// spawn files nobody renamed: what a daemon that was killed left of
    /// replicas that died while no daemon ran. Other files are left alone.
    pub(super) fn sweep(&self, keep: &dyn Fn(i32) -> bool) {
        let Ok(entries) = fs::read_dir(&self.path) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            let stale = match pid_of_file(name) {
                Some(pid) => !keep(pid),
                None => {
                    name.starts_with("spawn-")
                        && e.metadata()
                            .and_then(|m| m.modified())
                            .ok()
                            .and_then(|t| t.elapsed().ok())
                            .is_some_and(|age| age > SPAWN_LEFTOVER)
                }
            };
            if stale {
                let _ = fs::remove_file(e.path());
            }
        }
    }
}

impl Drop for LogDir {
    fn drop(&mut self) {
        if self.temporary {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// The pid a log file of [`LogDir`] is named after (`pid-N.log`,
/// `pid-N.log.1`, `pid-N.log.1.tmp`).
fn pid_of_file(name: &str) -> Option<i32> {
    let (pid, rest) = name.strip_prefix("pid-")?.split_once('.')?;
    rest.starts_with("log").then(|| pid.parse().ok())?
}

/// A child's output file before its pid is known; deleted if the spawn
/// fails (dropped unclaimed).
pub(super) struct Spawning {
    path: Option<PathBuf>,
    file: File,
}

impl Spawning {
    /// The child's stdout and stderr: the same file, appended to.
    pub(super) fn stdio(&self) -> io::Result<(std::process::Stdio, std::process::Stdio)> {
        Ok((self.file.try_clone()?.into(), self.file.try_clone()?.into()))
    }

    /// Name the file after `pid`, the child's (its descriptors survive the
    /// rename). A file of an earlier process with that pid is replaced,
    /// and its `.1` deleted.
    pub(super) fn claim(mut self, dir: &LogDir, pid: i32) -> io::Result<()> {
        let Some(path) = self.path.take() else {
            return Ok(());
        };
        if let Err(e) = fs::remove_file(dir.rotated(pid))
            && e.kind() != io::ErrorKind::NotFound
        {
            return Err(e);
        }
        fs::rename(&path, dir.live(pid)).inspect_err(|_| {
            let _ = fs::remove_file(&path);
        })
    }
}

impl Drop for Spawning {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = fs::remove_file(path);
        }
    }
}

/// The last `n` lines of the file at `path` (the last one even without its
/// newline: a replica's last words before it died may lack one), read
/// backwards from its end a [`CHUNK`] at a time. `None` when it does not
/// exist.
pub(super) fn last_lines(path: &Path, n: usize) -> io::Result<Option<Vec<Vec<u8>>>> {
    let mut file = match private_file::open(path, Access::Read, Mode::Private) {
        Ok(f) => f,
        Err(TrustError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            return Ok(None);
        }
        Err(e) => return Err(io::Error::other(e.to_string())),
    };
    if n == 0 {
        return Ok(Some(Vec::new()));
    }
    let len = file.metadata()?.len();
    let (mut start, mut newlines) = (len, 0);
    let mut buf: Vec<u8> = Vec::new();
    // n lines after the first newline are n whole lines.
    while start > 0 && newlines <= n {
        let step = CHUNK.min(start);
        start -= step;
        let mut chunk = vec![0; step as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut chunk)?;
        newlines += chunk.iter().filter(|b| **b == b'\n').count();
        chunk.extend_from_slice(&buf);
        buf = chunk;
    }
    let body = buf.strip_suffix(b"\n").unwrap_or(&buf);
    if body.is_empty() {
        return Ok(Some(Vec::new()));
    }
    let mut lines: Vec<&[u8]> = body.split(|b| *b == b'\n').collect();
    if start > 0 {
        lines.remove(0); // a part of a line whose start was not read
    }
    let skip = lines.len().saturating_sub(n);
    Ok(Some(lines[skip..].iter().map(|l| l.to_vec()).collect()))
}

/// Check `pid`'s file every [`LogDir`] interval and trim it past the cap,
/// until the replica exits (one last check then), or the runtime that holds
/// `dir` is gone or let go of it (a successor's keeper takes over).
pub(super) fn keep_trimmed(dir: Weak<LogDir>, pid: i32, exited: Arc<Mutex<Option<i64>>>) {
    let Some((every, generation)) = dir
        .upgrade()
        .map(|d| (d.every, d.generation.load(Ordering::SeqCst)))
    else {
        return;
    };
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut warned = false;
        loop {
            tick.tick().await;
            let Some(d) = dir.upgrade() else { return };
            if d.generation.load(Ordering::SeqCst) != generation {
                return;
            }
            let done = exited.lock().map(|e| e.is_some()).unwrap_or(true);
            let trimmed = tokio::task::spawn_blocking(move || d.trim(pid)).await;
            if let Ok(Err(e)) = trimmed
                && !std::mem::replace(&mut warned, true)
            {
                tracing::warn!("cannot trim the log file of pid:{pid}: {e}");
            }
            if done {
                return;
            }
        }
    });
}

#[cfg(test)]
#[path = "logfile_tests.rs"]
mod tests;
