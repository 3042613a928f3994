//! How a container is confined beyond its CPU and memory limits, as the
//! plan asks (`docs/PLAN.md`, the version keys `cap_drop`, `cap_add`,
//! `read_only`, `tmpfs`, `pids_limit`, `no_new_privileges`), with safe
//! defaults for what the plan leaves out: no privilege gained through
//! setuid binaries, and a cap on processes so a fork bomb in one replica
//! cannot starve the host. Only the Docker runtime applies it (in one place:
//! `docker.rs`, `harden`); processes run as the daemon's user anyway.

use crate::plan::{DEFAULT_PIDS_LIMIT, VersionPlan};

/// The confinement of one version's containers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hardening {
    /// `no-new-privileges` in the container's security options.
    pub no_new_privileges: bool,
    /// Most processes (threads included) the container may run.
    pub pids_limit: u32,
    /// Capabilities dropped, then added back (names as Docker takes them).
    pub cap_drop: Vec<String>,
    pub cap_add: Vec<String>,
    /// A read-only root filesystem.
    pub read_only: bool,
    /// In-memory writable mounts (absolute paths).
    pub tmpfs: Vec<String>,
}

/// The options of every tmpfs mount: small, and nothing on it runs.
pub const TMPFS_OPTIONS: &str = "rw,noexec,nosuid,nodev,size=64m";

impl Default for Hardening {
    fn default() -> Self {
        Hardening {
            no_new_privileges: true,
            pids_limit: DEFAULT_PIDS_LIMIT,
            cap_drop: Vec::new(),
            cap_add: Vec::new(),
            read_only: false,
            tmpfs: Vec::new(),
        }
    }
}

impl Hardening {
    /// What the plan's version asks for, defaults filled in.
    pub fn of(v: &VersionPlan) -> Hardening {
        let d = Hardening::default();
        Hardening {
            no_new_privileges: v.no_new_privileges.unwrap_or(d.no_new_privileges),
            pids_limit: v.pids_limit.unwrap_or(d.pids_limit),
            cap_drop: v.cap_drop.iter().map(|c| capability(c)).collect(),
            cap_add: v.cap_add.iter().map(|c| capability(c)).collect(),
            read_only: v.read_only,
            tmpfs: v.tmpfs.clone(),
        }
    }
}

/// A capability as the plan may write it (`cap_chown`, `CAP_CHOWN`) as the
/// engine lists it back: `CHOWN`.
fn capability(name: &str) -> String {
    let upper = name.trim().to_ascii_uppercase();
    upper.strip_prefix("CAP_").unwrap_or(&upper).to_string()
}
