//! Exclusive locks on a file (`flock`) that die with their holder.
//!
//! Two daemons for one service state directory would fight over the same
//! replicas (each reconcile removes the other's as orphans), and two demos
//! would remove each other's containers as "leftovers". The lock prevents
//! both. The kernel releases a `flock` when its process dies, even by
//! SIGKILL, so a crashed holder never blocks the next start.
//!
//! The lock file is opened like every file of a state directory
//! (`crate::private_file`): a symbolic link is refused and its target left
//! untouched (the daemon writes its pid into the file), a lock that belongs
//! to someone else or that group or others can write is refused, a new one
//! is made 0600.

use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a lock whose recorded holder is dead is waited for before it
/// is refused. The kernel drops a `flock` when the last descriptor of its
/// open file goes, and a dead daemon's children can hold one for a moment:
/// the lock file is close-on-exec, but a child between `fork` and `exec`
/// (a replica or a hook being spawned when the daemon was killed) still
/// shares it until its `exec`. A restart right after a crash must not fail
/// on that moment; a lock still held after this long is refused, saying so.
pub const DEAD_HOLDER_GRACE: Duration = Duration::from_secs(5);

/// A held lock; dropping it releases the lock.
#[derive(Debug)]
pub struct HeldLock {
    _file: Flock<File>,
    pub path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{}", held_text(path, *holder, *holder_gone))]
    Held {
        path: PathBuf,
        holder: Option<u32>,
        /// The recorded holder is dead: a process it started still holds
        /// the lock (see [`DEAD_HOLDER_GRACE`]).
        holder_gone: bool,
    },
    #[error("cannot lock {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The lock file is not only ours (a link, someone else's, writable).
    #[error(transparent)]
    Trust(#[from] crate::private_file::TrustError),
}

fn held_text(path: &Path, holder: Option<u32>, gone: bool) -> String {
    let who = holder.map_or_else(|| "another process".to_string(), |p| format!("process {p}"));
    if gone {
        format!(
            "{} is still locked although {who}, which took it, is gone: a process it started holds the lock's descriptor",
            path.display()
        )
    } else {
        format!("{} is locked by {who}", path.display())
    }
}

/// Whether `pid` is no process, or a zombie (dead, not yet reaped).
fn gone(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return true;
    };
    // EPERM: it exists (another user's).
    if let Err(nix::errno::Errno::ESRCH) =
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), None)
    {
        return true;
    }
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X']))
    })
}

impl LockError {
    /// The pid recorded by the holder, when it wrote one.
    pub fn holder(&self) -> Option<u32> {
        match self {
            LockError::Held { holder, .. } => *holder,
            LockError::Io { .. } | LockError::Trust(_) => None,
        }
    }
}

/// Take the lock at `path` now, or say who holds it. The holder's pid is
/// written into the file so the refusal can name it.
pub fn try_lock(path: &Path) -> Result<HeldLock, LockError> {
    let io = |source| LockError::Io {
        path: path.to_path_buf(),
        source,
    };
    use crate::private_file::{Access, Mode, open};
    let mut file = open(path, Access::ReadWrite, Mode::Lock)?;
    match Flock::lock(
        file.try_clone().map_err(io)?,
        FlockArg::LockExclusiveNonblock,
    ) {
        Ok(mut locked) => {
            locked.set_len(0).map_err(io)?;
            locked.rewind().map_err(io)?;
            write!(locked, "{}", std::process::id()).map_err(io)?;
            Ok(HeldLock {
                _file: locked,
                path: path.to_path_buf(),
            })
        }
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            let holder = text.trim().parse().ok();
            Err(LockError::Held {
                path: path.to_path_buf(),
                holder,
                holder_gone: holder.is_some_and(gone),
            })
        }
        Err((_, errno)) => Err(io(std::io::Error::from(errno))),
    }
}

/// Like [`try_lock`], but wait up to `patience` for a holder that is on its
/// way out (a demo still removing its containers), calling `waiting` once
/// with the first refusal. A lock whose recorded holder is dead is waited
/// for at least [`DEAD_HOLDER_GRACE`]; a live holder (or one that wrote no
/// pid) is refused once `patience` is over, at once with none.
pub async fn lock_within(
    path: &Path,
    patience: Duration,
    waiting: impl FnOnce(&LockError),
) -> Result<HeldLock, LockError> {
    lock_with_grace(path, patience, DEAD_HOLDER_GRACE, waiting).await
}

/// [`lock_within`] with the dead holder's grace given (tests shorten it).
async fn lock_with_grace(
    path: &Path,
    patience: Duration,
    dead_grace: Duration,
    waiting: impl FnOnce(&LockError),
) -> Result<HeldLock, LockError> {
    let start = Instant::now();
    let mut waiting = Some(waiting);
    loop {
        match try_lock(path) {
            Err(e @ LockError::Held { holder_gone, .. }) => {
                let limit = if holder_gone {
                    patience.max(dead_grace)
                } else {
                    patience
                };
                if start.elapsed() >= limit {
                    return Err(e);
                }
                if let Some(say) = waiting.take() {
                    say(&e);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_with_the_holder_and_granted_after_release() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let held = try_lock(&path).unwrap();
        let refused = try_lock(&path).unwrap_err();
        assert_eq!(refused.holder(), Some(std::process::id()));
        assert!(
            refused.to_string().contains("is locked by process"),
            "{refused}"
        );
        drop(held);
        try_lock(&path).expect("free again once the holder is gone");
    }

    /// A pid that was a process and is no longer (reaped).
    fn dead_pid() -> u32 {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let pid = c.id();
        c.wait().unwrap();
        pid
    }

    /// Lock `path` as a killed daemon left it: a dead pid recorded, and the
    /// lock held only by a child that shares its descriptor (`sleep secs`,
    /// given it as stdin, like a child between fork and exec). Closed here
    /// without unlocking (a `HeldLock` unlocks when dropped, which a killed
    /// daemon never does).
    fn held_by_a_child(path: &Path, secs: &str) -> std::process::Child {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .unwrap();
        file.lock().unwrap();
        write!(&file, "{}", dead_pid()).unwrap();
        let child = std::process::Command::new("sleep")
            .arg(secs)
            .stdin(file.try_clone().unwrap())
            .spawn()
            .unwrap();
        drop(file);
        child
    }

    #[tokio::test]
    async fn a_dead_holders_lock_is_waited_for_until_its_last_sharer_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let mut child = held_by_a_child(&path, "1");
        let refused = try_lock(&path).unwrap_err();
        assert!(
            matches!(
                refused,
                LockError::Held {
                    holder_gone: true,
                    ..
                }
            ),
            "{refused}"
        );
        let mut said = None;
        let got = lock_within(&path, Duration::ZERO, |e| said = Some(e.to_string())).await;
        let _ = child.kill();
        let _ = child.wait();
        got.expect("taken once the child exited, within the dead holder's grace");
        let said = said.expect("the wait was said once");
        assert!(said.contains("is still locked although process"), "{said}");
    }

    #[tokio::test]
    async fn a_dead_holders_lock_still_held_after_the_grace_is_refused_saying_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let mut child = held_by_a_child(&path, "30");
        let got = lock_with_grace(&path, Duration::ZERO, Duration::from_millis(300), |_| {}).await;
        let _ = child.kill();
        let _ = child.wait();
        let e = got.unwrap_err();
        assert!(
            matches!(
                e,
                LockError::Held {
                    holder_gone: true,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("a process it started holds"), "{e}");
    }

    #[tokio::test]
    async fn a_live_holder_is_refused_at_once_whatever_the_grace() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let _held = try_lock(&path).unwrap();
        // A grace of an hour: only the refusal being immediate ends this.
        let got = tokio::time::timeout(
            Duration::from_secs(30),
            lock_with_grace(&path, Duration::ZERO, Duration::from_secs(3600), |_| {}),
        )
        .await
        .expect("refused at once, not after the dead holder's grace");
        let e = got.unwrap_err();
        assert!(
            matches!(
                e,
                LockError::Held {
                    holder_gone: false,
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(e.holder(), Some(std::process::id()));
    }
}
