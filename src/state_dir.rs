//! The state directory: where a daemon leaves what its clients need to find
//! it (admin address, token) and what it needs to survive a restart (state
//! file, journal, logs).
//!
//! ```text
//! $XDG_STATE_HOME/cutover/          (0700 when cutover creates it)
//!   <service>/                      (0700)
//!     admin.addr      127.0.0.1:7900
//!     public.addr     127.0.0.1:8080
//!     token           bearer token (0600), created on first start
//!     instance        instance id (0600), created on first start
//!     daemon.lock     held by the running daemon (its pid)
//!     state.json      release state (atomic writes, state.json.prev kept)
//!     journal.jsonl   flight recorder (JSON lines)
//!     cutover.log     daemon logs (tracing)
//!     replicas/       process replicas' stdout+stderr, pid-N.log (0700,
//!                     files 0600; see runtime/process/logfile.rs)
//! ```
//!
//! Trust: a daemon uses only a state directory it owns. The root must be
//! ours or root's (and sticky if others may write it); the service
//! directory ours and not writable by group or others; every file in it is
//! opened without following links, created 0600 and refused when it is
//! someone else's (`crate::private_file` holds the rules and the messages,
//! each with the command that fixes it). cutover makes the directories it
//! creates 0700, and always its own service directory; it never changes the
//! mode of a root it did not create (`--state-dir /tmp` must not turn /tmp
//! private). A token file that group or others can read is refused, not
//! silently reused or repaired: the token may already have leaked, so the
//! operator decides (chmod 600 keeps it; deleting it makes a new one).
//!
//! `instance` holds this state directory's instance id (random, made on
//! first start and kept): replicas carry it, so two state directories that
//! run the same service on one engine never take each other's (see
//! `crate::runtime::Instance`).

use crate::cli::Target;
use crate::private_file::{self, Access, Mode, TrustError};
use std::fs;
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StateDirError {
    #[error("cannot use state directory {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "no running daemon found in {root} (start one with `cutover up --plan cutover.toml`, or pass --state-dir / --admin)"
    )]
    NoDaemon { root: PathBuf },
    #[error("{root} holds several services ({names}); pick one with --service NAME or --plan FILE")]
    Ambiguous { root: PathBuf, names: String },
    #[error("no service {service:?} in {root}")]
    NoSuchService { root: PathBuf, service: String },
    #[error("{path}: {message}")]
    Bad { path: PathBuf, message: String },
    /// The directory or a file in it is not only ours (see `private_file`).
    #[error(transparent)]
    Trust(#[from] TrustError),
    #[error(transparent)]
    Plan(#[from] crate::plan::PlanError),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StateDirError + '_ {
    move |source| StateDirError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The root state directory: `--state-dir`, else `$XDG_STATE_HOME/cutover`,
/// else `~/.local/state/cutover`.
pub fn root(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    if let Some(x) = std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("cutover");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".local/state/cutover")
}

/// One service's directory inside the root.
#[derive(Clone, Debug)]
pub struct ServiceDir {
    pub path: PathBuf,
}

impl ServiceDir {
    /// Create or open the directory of `service` under `root`, refusing
    /// either when it is not only ours (see the module doc). The service
    /// directory is made 0700; `root` only if this call creates it.
    pub fn create(root: &Path, service: &str) -> Result<ServiceDir, StateDirError> {
        if !root.exists() {
            fs::create_dir_all(root).map_err(io_err(root))?;
            fs::set_permissions(root, fs::Permissions::from_mode(0o700)).map_err(io_err(root))?;
        }
        private_file::check_root(root)?;
        let dir = root.join(service);
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err(&dir)(e)),
        }
        private_file::check_dir(&dir)?;
        // Ours and not writable by others (checked): readable ones close.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(io_err(&dir))?;
        Ok(ServiceDir { path: dir })
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// The admin token, created (32 random bytes as hex, mode 0600) if
    /// absent. An existing one that is a link, someone else's, or readable
    /// by group or others is refused ([`TrustError`]).
    pub fn ensure_token(&self) -> Result<String, StateDirError> {
        // 32 characters at least: an operator's own token is kept too.
        self.ensure_random("token", 32, 32, Mode::Secret)
    }

    /// The watchers' token (`token.read`): the admin API answers every GET
    /// to it and 403 to every action, so a cockpit can watch a release
    /// without the power to move it.
    pub fn ensure_read_token(&self) -> Result<String, StateDirError> {
        self.ensure_random(READ_TOKEN, 32, 32, Mode::Secret)
    }

    /// This state directory's instance id (16 random bytes as hex), created
    /// on first start and kept: see `crate::runtime::Instance`.
    pub fn ensure_instance(&self) -> Result<String, StateDirError> {
        self.ensure_random("instance", 16, 16, Mode::Private)
    }

    /// The string kept in `name` (at least `min_len` characters), else a
    /// new one: `n` random bytes as hex.
    fn ensure_random(
        &self,
        name: &str,
        n: usize,
        min_len: usize,
        mode: Mode,
    ) -> Result<String, StateDirError> {
        let path = self.file(name);
        match private_file::read_to_string(&path, mode) {
            Ok(t) if t.trim().len() >= min_len => return Ok(t.trim().to_string()),
            Ok(_) => {}
            Err(TrustError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            }
            Err(e) => return Err(e.into()),
        }
        let mut bytes = vec![0u8; n];
        getrandom::fill(&mut bytes).map_err(|e| StateDirError::Io {
            path: path.clone(),
            source: std::io::Error::other(format!("no OS randomness for {name}: {e}")),
        })?;
        let value: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        private_file::write_atomic(&path, value.as_bytes(), mode)?;
        Ok(value)
    }

    pub fn read_token(&self) -> Result<String, StateDirError> {
        self.read_named_token("token")
    }

    /// `token` or [`READ_TOKEN`].
    pub fn read_named_token(&self, name: &str) -> Result<String, StateDirError> {
        let path = self.file(name);
        let t = fs::read_to_string(&path).map_err(io_err(&path))?;
        Ok(t.trim().to_string())
    }

    /// Record an address file (`admin.addr`, `public.addr`).
    pub fn write_addr(&self, name: &str, addr: SocketAddr) -> Result<(), StateDirError> {
        let path = self.file(name);
        private_file::write_atomic(&path, addr.to_string().as_bytes(), Mode::Private)?;
        Ok(())
    }

    /// Open a data file of this directory (state, journal, log): no link
    /// followed, ours, 0600. See [`private_file::open`].
    pub fn open_private(&self, name: &str, access: Access) -> Result<fs::File, StateDirError> {
        Ok(private_file::open(&self.file(name), access, Mode::Private)?)
    }

    pub fn read_addr(&self, name: &str) -> Result<SocketAddr, StateDirError> {
        let path = self.file(name);
        let text = fs::read_to_string(&path).map_err(io_err(&path))?;
        text.trim().parse().map_err(|_| StateDirError::Bad {
            path: path.clone(),
            message: format!("{:?} is not an address", text.trim()),
        })
    }
}

/// Where a client verb should connect: admin address and token. `Debug`
/// never shows the token.
/// The watchers' token file, beside `token`.
pub const READ_TOKEN: &str = "token.read";

#[derive(Clone)]
pub struct Endpoint {
    pub admin: SocketAddr,
    pub token: String,
    pub service: String,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("admin", &self.admin)
            .field("token", &crate::cli::REDACTED)
            .field("service", &self.service)
            .finish()
    }
}

/// The services with a daemon's address in `root`, sorted.
pub fn services(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(root)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.path().join("admin.addr").exists())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Resolve `Target` flags into an endpoint (see DESIGN.md, "The command line").
/// The services of one daemon that serves several (`[[services]]`), when
/// the target names none: every service directory of the root with an
/// address file, if there are two or more and all name the same admin
/// address. `None` otherwise (one service, or separate daemons: then
/// [`discover`] says which there are).
pub fn fleet_services(target: &Target) -> Option<Vec<String>> {
    if target.service.is_some() || target.admin.is_some() || target.plan.is_some() {
        return None;
    }
    let root = root(target.state_dir.as_deref());
    let mut found: Vec<(String, SocketAddr)> = fs::read_dir(&root)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let dir = ServiceDir { path: e.path() };
            let admin = dir.read_addr("admin.addr").ok()?;
            Some((name, admin))
        })
        .collect();
    found.sort();
    let first = found.first()?.1;
    (found.len() >= 2 && found.iter().all(|(_, a)| *a == first))
        .then(|| found.into_iter().map(|(n, _)| n).collect())
}

pub fn discover(target: &Target) -> Result<Endpoint, StateDirError> {
    let root = root(target.state_dir.as_deref());
    let (service, plan_admin) = match &target.plan {
        Some(p) => match crate::plan::load_fleet(p, Default::default())? {
            // Several services: --service names one (else, below, the
            // state directory's list says which there are).
            Some(fleet) => (
                target.service.clone(),
                Some(fleet.services[0].plan.listen.admin),
            ),
            None => {
                let plan = crate::plan::load(p)?;
                (Some(plan.service.clone()), Some(plan.listen.admin))
            }
        },
        None => (target.service.clone(), None),
    };
    let service = match service {
        Some(s) => s,
        None if target.admin.is_some() && target.token.is_some() => String::new(),
        None => {
            let mut names = services(&root);
            match names.len() {
                0 => return Err(StateDirError::NoDaemon { root }),
                1 => names.remove(0),
                _ => {
                    return Err(StateDirError::Ambiguous {
                        root,
                        names: names.join(", "),
                    });
                }
            }
        }
    };
    let dir = ServiceDir {
        path: root.join(&service),
    };
    if !service.is_empty() && !dir.path.exists() && target.admin.is_none() {
        return Err(StateDirError::NoSuchService { root, service });
    }
    let admin = match (target.admin, plan_admin) {
        (Some(a), _) => a,
        (None, _) if dir.file("admin.addr").exists() => dir.read_addr("admin.addr")?,
        (None, Some(a)) => a,
        (None, None) => return Err(StateDirError::NoDaemon { root }),
    };
    let token = match &target.token {
        Some(t) => t.clone(),
        None if target.read_only => dir.read_named_token(READ_TOKEN)?,
        None => dir.read_token()?,
    };
    Ok(Endpoint {
        admin,
        token,
        service,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_private_and_stable() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ServiceDir::create(tmp.path(), "shop").unwrap();
        let t1 = dir.ensure_token().unwrap();
        let t2 = dir.ensure_token().unwrap();
        assert_eq!(t1, t2);
        assert_eq!(t1.len(), 64);
        let mode = fs::metadata(dir.file("token"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let dmode = fs::metadata(&dir.path).unwrap().permissions().mode();
        assert_eq!(dmode & 0o777, 0o700);
    }

    #[test]
    fn a_given_root_keeps_its_mode_and_what_cutover_creates_is_private() {
        let tmp = tempfile::tempdir().unwrap();
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let dir = ServiceDir::create(tmp.path(), "shop").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode(tmp.path()),
            0o755,
            "a root it did not create is left alone"
        );
        assert_eq!(mode(&dir.path), 0o700);
        let fresh = tmp.path().join("made/here");
        ServiceDir::create(&fresh, "shop").unwrap();
        assert_eq!(mode(&fresh), 0o700, "a root it creates is private");
    }

    #[test]
    fn an_exposed_token_file_is_refused_with_the_fix() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ServiceDir::create(tmp.path(), "shop").unwrap();
        let token = dir.ensure_token().unwrap();
        let path = dir.file("token");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = dir.ensure_token().unwrap_err();
        let text = err.to_string();
        assert!(matches!(
            err,
            StateDirError::Trust(TrustError::TokenExposed { mode: 0o644, .. })
        ));
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains("chmod 600"), "{text}");
        assert_eq!(fs::read_to_string(&path).unwrap(), token, "left as it was");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(dir.ensure_token().unwrap(), token, "kept after the fix");
    }

    #[test]
    fn endpoint_debug_never_shows_the_token() {
        let secret = "c0ffee-secret";
        let ep = Endpoint {
            admin: "127.0.0.1:1".parse().unwrap(),
            token: secret.into(),
            service: "shop".into(),
        };
        let shown = format!("{ep:?} {ep:#?}");
        assert!(!shown.contains(secret), "{shown}");
    }

    #[test]
    fn discovery_picks_the_only_service_and_refuses_ambiguity() {
        let tmp = tempfile::tempdir().unwrap();
        let target = Target {
            state_dir: Some(tmp.path().to_path_buf()),
            ..Target::default()
        };
        assert!(matches!(
            discover(&target),
            Err(StateDirError::NoDaemon { .. })
        ));
        let a = ServiceDir::create(tmp.path(), "a").unwrap();
        a.ensure_token().unwrap();
        a.write_addr("admin.addr", "127.0.0.1:7901".parse().unwrap())
            .unwrap();
        let ep = discover(&target).unwrap();
        assert_eq!(ep.service, "a");
        assert_eq!(ep.admin.port(), 7901);
        let b = ServiceDir::create(tmp.path(), "b").unwrap();
        b.write_addr("admin.addr", "127.0.0.1:7902".parse().unwrap())
            .unwrap();
        assert!(matches!(
            discover(&target),
            Err(StateDirError::Ambiguous { .. })
        ));
        let picked = discover(&Target {
            service: Some("a".into()),
            ..target.clone()
        })
        .unwrap();
        assert_eq!(picked.admin.port(), 7901);
    }
}
