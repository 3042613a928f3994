//! The release state on disk: `state.json` in the service's state directory,
//! so a restarted daemon comes back with the same phase, weight and replicas.
//!
//! Written atomically (a temp file in the same directory, write, fsync,
//! rename over, fsync the directory) because a state file rewritten in place
//! and lost half-way is how peers lost releases (kamal-proxy #233). The
//! previous good copy is kept as `state.json.prev`; loading falls back to it,
//! loudly, when `state.json` is torn or unreadable, and starts fresh, loudly,
//! when neither can be read. Warnings are returned, not logged, so the caller
//! journals them where an operator will see them.

use super::release::ReleaseState;
use crate::model::Role;
use crate::runtime::Replica;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The file name inside the service's state directory.
pub const STATE_FILE: &str = "state.json";
/// The previous good copy.
pub const PREV_FILE: &str = "state.json.prev";
const TMP_FILE: &str = "state.json.tmp";
const PREV_TMP_FILE: &str = "state.json.prev.tmp";

/// Format version of the file; a reader refuses another one.
pub const FORMAT: u32 = 1;

/// One replica the controller owns, as remembered across a restart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnedReplica {
    pub id: String,
    pub role: Role,
    pub release: u64,
    pub version: String,
    pub addr: String,
    /// It was in its version's pool when saved (healthy, not on its way
    /// out). One that was not (started by a scale the kill cut short and
    /// not healthy yet, unhealthy, being retired) is adopted out of the
    /// pool and joins it only once its health checks pass. A file written
    /// before this field says nothing: its replicas are taken as serving,
    /// as they were then.
    #[serde(default = "serving_unless_said")]
    pub serving: bool,
}

fn serving_unless_said() -> bool {
    true
}

impl From<&Replica> for OwnedReplica {
    fn from(r: &Replica) -> Self {
        OwnedReplica {
            id: r.id.clone(),
            role: r.role,
            release: r.release,
            version: r.version.clone(),
            addr: r.addr.clone(),
            serving: true,
        }
    }
}

impl From<&OwnedReplica> for Replica {
    fn from(r: &OwnedReplica) -> Self {
        Replica {
            id: r.id.clone(),
            role: r.role,
            release: r.release,
            version: r.version.clone(),
            addr: r.addr.clone(),
        }
    }
}

/// Everything in `state.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PersistedState {
    pub format: u32,
    pub service: String,
    pub saved_at: DateTime<Utc>,
    /// The release machine's state: phase, weight, step, versions, muted…
    pub release: ReleaseState,
    /// Replicas the controller started or adopted, oldest first (a
    /// restarted daemon that retires extra replicas takes the newest).
    pub replicas: Vec<OwnedReplica>,
}

impl PersistedState {
    pub fn new(
        service: impl Into<String>,
        release: ReleaseState,
        replicas: Vec<OwnedReplica>,
        saved_at: DateTime<Utc>,
    ) -> Self {
        PersistedState {
            format: FORMAT,
            service: service.into(),
            saved_at,
            release,
            replicas,
        }
    }
}

/// What [`load`] found.
#[derive(Debug)]
pub struct Loaded {
    /// `None`: start fresh.
    pub state: Option<PersistedState>,
    /// Loud, operator-facing lines (fallback to the previous copy, fresh start).
    pub warnings: Vec<String>,
}

/// Why the state file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error(
        "cannot write the state file {path}: {source}; check that the state directory exists and is writable"
    )]
    Io { path: PathBuf, source: io::Error },
    #[error("cannot encode the release state: {0}")]
    Encode(#[from] serde_json::Error),
}

/// Write `state` to `dir/state.json` atomically, keeping the previous good
/// copy as `state.json.prev`.
pub fn save(dir: &Path, state: &PersistedState) -> Result<(), PersistError> {
    let bytes = serde_json::to_vec_pretty(state)?;
    let path = dir.join(STATE_FILE);
    let io_err = |p: &Path| {
        let p = p.to_path_buf();
        move |source| PersistError::Io { path: p, source }
    };

    // Keep the current copy as the previous one, but only if it is good: a
    // torn state.json (the reason we may have fallen back) must not replace
    // a good state.json.prev.
    if read_state(&path, &state.service).is_ok() {
        let prev_tmp = dir.join(PREV_TMP_FILE);
        let _ = fs::remove_file(&prev_tmp);
        if fs::hard_link(&path, &prev_tmp).is_err() {
            fs::copy(&path, &prev_tmp).map_err(io_err(&prev_tmp))?;
        }
        // 0600 like the state itself (a copy an older cutover made may not be).
        fs::set_permissions(&prev_tmp, fs::Permissions::from_mode(0o600))
            .map_err(io_err(&prev_tmp))?;
        fs::rename(&prev_tmp, dir.join(PREV_FILE)).map_err(io_err(&prev_tmp))?;
    }

    let tmp = dir.join(TMP_FILE);
    {
        // 0600, no link followed: the state holds the plan's env values.
        let mut f = crate::private_file::open(
            &tmp,
            crate::private_file::Access::Truncate,
            crate::private_file::Mode::Private,
        )
        .map_err(|e| PersistError::Io {
            path: tmp.clone(),
            source: io::Error::other(e.to_string()),
        })?;
        f.write_all(&bytes).map_err(io_err(&tmp))?;
        f.write_all(b"\n").map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
    }
    fs::rename(&tmp, &path).map_err(io_err(&path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))?;
    Ok(())
}

/// Read `dir/state.json`, falling back to `state.json.prev`, else fresh.
/// A missing state file (first start) is a fresh start without a warning.
pub fn load(dir: &Path, service: &str) -> Loaded {
    let path = dir.join(STATE_FILE);
    let prev = dir.join(PREV_FILE);
    let current = match read_state(&path, service) {
        Ok(s) => {
            return Loaded {
                state: Some(s),
                warnings: Vec::new(),
            };
        }
        Err(e) => e,
    };
    let first_start = matches!(&current, ReadError::Missing) && !prev.exists();
    if first_start {
        return Loaded {
            state: None,
            warnings: Vec::new(),
        };
    }
    match read_state(&prev, service) {
        Ok(s) => Loaded {
            warnings: vec![format!(
                "state file {} {current}; restored the previous copy {} (saved {}). \
                 The last change before the daemon stopped may be lost: check the phase and weight",
                path.display(),
                prev.display(),
                s.saved_at.to_rfc3339()
            )],
            state: Some(s),
        },
        Err(prev_err) => Loaded {
            state: None,
            warnings: vec![format!(
                "state file {} {current} and its previous copy {} {prev_err}; starting fresh. \
                 Replicas of this service that still run are adopted from their labels (stable stays \
                 stable, a canary comes back at weight 0); only exited ones are removed",
                path.display(),
                prev.display()
            )],
        },
    }
}

#[derive(Debug)]
enum ReadError {
    Missing,
    Unreadable(io::Error),
    Torn(String),
    Foreign(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Missing => write!(f, "is missing"),
            ReadError::Unreadable(e) => write!(f, "cannot be read ({e})"),
            ReadError::Torn(e) => write!(f, "is torn or corrupt ({e})"),
            ReadError::Foreign(e) => write!(f, "does not belong here ({e})"),
        }
    }
}

fn read_state(path: &Path, service: &str) -> Result<PersistedState, ReadError> {
    use crate::private_file::{Access, Mode, TrustError, open};
    use std::io::Read;
    // No link followed, ours only, 0600 (state.json holds env values).
    let mut bytes = Vec::new();
    match open(path, Access::Read, Mode::Private) {
        Ok(mut f) => f.read_to_end(&mut bytes).map_err(ReadError::Unreadable)?,
        Err(TrustError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            return Err(ReadError::Missing);
        }
        Err(TrustError::Io { source, .. }) => return Err(ReadError::Unreadable(source)),
        Err(e) => return Err(ReadError::Unreadable(io::Error::other(e.to_string()))),
    };
    let state: PersistedState =
        serde_json::from_slice(&bytes).map_err(|e| ReadError::Torn(e.to_string()))?;
    if state.format != FORMAT {
        return Err(ReadError::Foreign(format!(
            "format {} where {FORMAT} was expected",
            state.format
        )));
    }
    if state.service != service {
        return Err(ReadError::Foreign(format!(
            "it is the state of service {:?}, not {service:?}",
            state.service
        )));
    }
    Ok(state)
}
