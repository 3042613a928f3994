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

/// A held lock; dropping it releases the lock.
#[derive(Debug)]
pub struct HeldLock {
    _file: Flock<File>,
    pub path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{} is locked by {}", path.display(), holder_text(*holder))]
    Held { path: PathBuf, holder: Option<u32> },
    #[error("cannot lock {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The lock file is not only ours (a link, someone else's, writable).
    #[error(transparent)]
    Trust(#[from] crate::private_file::TrustError),
}

fn holder_text(holder: Option<u32>) -> String {
    holder.map_or_else(|| "another process".to_string(), |p| format!("process {p}"))
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
            Err(LockError::Held {
                path: path.to_path_buf(),
                holder: text.trim().parse().ok(),
            })
        }
        Err((_, errno)) => Err(io(std::io::Error::from(errno))),
    }
}

/// Like [`try_lock`], but wait up to `patience` for a holder that is on its
/// way out (a demo still removing its containers), calling `waiting` once
/// with the first refusal.
pub async fn lock_within(
    path: &Path,
    patience: Duration,
    waiting: impl FnOnce(&LockError),
) -> Result<HeldLock, LockError> {
    let deadline = Instant::now() + patience;
    let mut waiting = Some(waiting);
    loop {
        match try_lock(path) {
            Err(e @ LockError::Held { .. }) if Instant::now() < deadline => {
                if let Some(say) = waiting.take() {
                    say(&e);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
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
}
