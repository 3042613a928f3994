//! Trusting only what we own: the checks a daemon makes on its state
//! directory and the files in it, and the one way those files are opened.
//!
//! Whoever can write a daemon's state directory can plant a token the
//! daemon would accept, or point `daemon.lock` at a file of the daemon's
//! user (root, often) for the daemon to overwrite with its pid. So:
//!
//! - a state root must belong to us (the effective uid) or to root, and if
//!   group or others may write it, it must be sticky (as `/tmp` is): then
//!   nobody else can rename or replace what we create in it;
//! - a service directory must belong to us and must not be writable by
//!   group or others ([`check_dir`]);
//! - every file in it is opened with `O_NOFOLLOW` (a symbolic link is
//!   refused, its target untouched), created 0600, and refused when it
//!   belongs to someone else ([`open`]); what it may be besides depends on
//!   the file ([`Mode`]): a token nobody else may read, a lock nobody else
//!   may write, data we keep private (tightened to 0600 if an older cutover
//!   left it readable).
//!
//! Every refusal says what is wrong and the command that fixes it.

use nix::unistd::{Uid, User};
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why a path in the state directory is not trusted (or could not be used).
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error(
        "{what} {path} belongs to {owner}, not to you ({me}): whoever owns it can plant a token or a lock there. Fix: `chown {me_id} {path}` if it is yours, or use another --state-dir"
    )]
    NotOwned {
        what: &'static str,
        path: PathBuf,
        owner: String,
        me: String,
        me_id: u32,
    },
    #[error(
        "{what} {path} can be written by group or others (mode {mode:04o}): they could replace what cutover keeps there. Fix: `chmod {fix} {path}`"
    )]
    Writable {
        what: &'static str,
        path: PathBuf,
        mode: u32,
        fix: &'static str,
    },
    #[error(
        "{path} is a symbolic link{target}: cutover never follows links in its state directory. Fix: `rm {path}` (cutover makes a new one), and look at who put it there"
    )]
    Symlink { path: PathBuf, target: String },
    #[error("{path} is not a regular file: move it out of the state directory")]
    NotAFile { path: PathBuf },
    #[error(
        "the admin token file {path} can be read by group or others (mode {mode:04o}): anyone who read it controls releases. Fix: `chmod 600 {path}` to keep it, or delete it to get a new token"
    )]
    TokenExposed { path: PathBuf, mode: u32 },
    #[error("cannot use {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TrustError + '_ {
    move |source| TrustError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `uid 65534 (nobody)`.
fn who(uid: u32) -> String {
    match User::from_uid(Uid::from_raw(uid)) {
        Ok(Some(u)) => format!("uid {uid} ({})", u.name),
        _ => format!("uid {uid}"),
    }
}

fn me() -> u32 {
    nix::unistd::geteuid().as_raw()
}

fn not_owned(what: &'static str, path: &Path, owner: u32) -> TrustError {
    TrustError::NotOwned {
        what,
        path: path.to_path_buf(),
        owner: who(owner),
        me: who(me()),
        me_id: me(),
    }
}

/// A state root that exists: ours or root's, and if others may write it,
/// sticky. (A root cutover creates itself is made 0700 by the caller.)
pub fn check_root(path: &Path) -> Result<(), TrustError> {
    let meta = fs::metadata(path).map_err(io(path))?;
    if meta.uid() != me() && meta.uid() != 0 {
        return Err(not_owned("state root", path, meta.uid()));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 && mode & 0o1000 == 0 {
        return Err(TrustError::Writable {
            what: "state root",
            path: path.to_path_buf(),
            mode,
            fix: "go-w",
        });
    }
    Ok(())
}

/// A service directory: a real directory (not a link), ours, and not
/// writable by group or others.
pub fn check_dir(path: &Path) -> Result<(), TrustError> {
    let meta = fs::symlink_metadata(path).map_err(io(path))?;
    if meta.file_type().is_symlink() {
        return Err(symlink(path));
    }
    if meta.uid() != me() {
        return Err(not_owned("state directory", path, meta.uid()));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(TrustError::Writable {
            what: "state directory",
            path: path.to_path_buf(),
            mode,
            fix: "700",
        });
    }
    Ok(())
}

fn symlink(path: &Path) -> TrustError {
    TrustError::Symlink {
        path: path.to_path_buf(),
        target: fs::read_link(path)
            .map(|t| format!(" (to {})", t.display()))
            .unwrap_or_default(),
    }
}

/// What a file in the state directory must be, besides ours and no link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A secret: refused when group or others can read it (it may have
    /// leaked; the operator decides).
    Secret,
    /// A lock: refused when group or others can write it.
    Lock,
    /// Data we keep private: tightened to 0600 when it is not.
    Private,
}

/// How to open: read only, append, or create/truncate for writing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    ReadWrite,
    Append,
    Truncate,
    /// Create it; an existing file is an error (`AlreadyExists`).
    CreateNew,
    /// Create it for appending (`O_APPEND`: every write lands at the end,
    /// also after someone truncated it); an existing file is an error.
    AppendNew,
    /// Read and write a file that exists; a missing one is an error
    /// (`NotFound`), never created: what trims a file someone else may
    /// have just removed.
    Existing,
}

/// Open `path` without following a symbolic link, creating it 0600 when
/// the access creates, and check what it is (see [`Mode`]).
pub fn open(path: &Path, access: Access, mode: Mode) -> Result<File, TrustError> {
    let mut o = OpenOptions::new();
    match access {
        Access::Read => o.read(true),
        Access::ReadWrite => o.read(true).write(true).create(true),
        Access::Append => o.append(true).create(true),
        Access::Truncate => o.write(true).create(true).truncate(true),
        Access::CreateNew => o.write(true).create_new(true),
        Access::AppendNew => o.append(true).create_new(true),
        Access::Existing => o.read(true).write(true),
    };
    o.mode(0o600).custom_flags(nix::libc::O_NOFOLLOW);
    let file = match o.open(path) {
        Ok(f) => f,
        // O_NOFOLLOW on a link: ELOOP.
        Err(e) if e.raw_os_error() == Some(nix::libc::ELOOP) => return Err(symlink(path)),
        Err(e) => {
            return Err(TrustError::Io {
                path: path.to_path_buf(),
                source: e,
            });
        }
    };
    let meta = file.metadata().map_err(io(path))?;
    if !meta.is_file() {
        return Err(TrustError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    if meta.uid() != me() {
        return Err(not_owned("file", path, meta.uid()));
    }
    let bits = meta.mode() & 0o777;
    match mode {
        Mode::Secret if bits & 0o077 != 0 => Err(TrustError::TokenExposed {
            path: path.to_path_buf(),
            mode: bits,
        }),
        Mode::Lock if bits & 0o022 != 0 => Err(TrustError::Writable {
            what: "lock",
            path: path.to_path_buf(),
            mode: bits,
            fix: "600",
        }),
        Mode::Private if bits & 0o077 != 0 => {
            file.set_permissions(fs::Permissions::from_mode(0o600))
                .map_err(io(path))?;
            Ok(file)
        }
        _ => Ok(file),
    }
}

/// Read a whole file opened as [`open`] does.
pub fn read_to_string(path: &Path, mode: Mode) -> Result<String, TrustError> {
    use std::io::Read;
    let mut f = open(path, Access::Read, mode)?;
    let mut s = String::new();
    f.read_to_string(&mut s).map_err(io(path))?;
    Ok(s)
}

/// Replace `path` atomically with `bytes` (a 0600 temp file beside it,
/// fsync, rename), without following links: what an address file or a
/// token is written with.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: Mode) -> Result<(), TrustError> {
    use std::io::Write;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(TrustError::Io {
                path: tmp,
                source: e,
            });
        }
    }
    let mut f = open(&tmp, Access::CreateNew, mode)?;
    f.write_all(bytes).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))?;
    if let Some(dir) = path.parent() {
        // The rename is durable only once the directory is.
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
    }
    Ok(())
}
