//! Where the daemon's listening sockets come from: bound here (the usual
//! start), inherited from systemd socket activation (`LISTEN_FDS`), or
//! handed over by the daemon this one takes over from (`takeover.rs`).
//!
//! The last two are why a restart need not refuse a connection: the socket
//! outlives the process. While no daemon runs, the kernel queues new
//! connections in the socket's backlog, and the next daemon accepts them.

use crate::plan::Plan;
use color_eyre::eyre::{Result, WrapErr, bail};
use std::net::{SocketAddr, TcpListener};
use std::sync::Mutex;

/// The public listeners (one per proxy worker; they may be duplicates of
/// one socket) and the admin API's.
#[derive(Debug)]
pub struct Listeners {
    pub public: Vec<TcpListener>,
    pub admin: TcpListener,
    /// How they were obtained, for the log and the operator.
    pub origin: Origin,
}

/// How a daemon got its listeners.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Bound,
    Systemd,
    Takeover,
}

impl Listeners {
    /// Bind the plan's addresses: `workers` `SO_REUSEPORT` public
    /// listeners and the admin one.
    pub fn bind(plan: &Plan, workers: usize) -> Result<Listeners> {
        let public = plan.listen.public;
        let public = crate::proxy::bind_public(public, workers).wrap_err_with(|| {
            format!("cannot listen on {public} (public): is another cutover or service using it? (change [listen] public in the plan)")
        })?;
        let admin = plan.listen.admin;
        let admin = TcpListener::bind(admin).wrap_err_with(|| {
            format!("cannot listen on {admin} (admin): is another cutover or service using it? (change [listen] admin in the plan)")
        })?;
        Ok(Listeners {
            public,
            admin,
            origin: Origin::Bound,
        })
    }

    /// The public address (all public listeners share it).
    pub fn public_addr(&self) -> std::io::Result<SocketAddr> {
        self.public[0].local_addr()
    }

    /// Another handle on every socket (the daemon keeps one set to hand
    /// to a successor while its workers own the other).
    pub fn duplicate(&self) -> std::io::Result<Listeners> {
        Ok(Listeners {
            public: self
                .public
                .iter()
                .map(TcpListener::try_clone)
                .collect::<std::io::Result<_>>()?,
            admin: self.admin.try_clone()?,
            origin: self.origin,
        })
    }

    /// One public listener per worker: a single inherited socket is shared
    /// by all of them (they accept from one queue).
    fn spread(mut public: Vec<TcpListener>, workers: usize) -> std::io::Result<Vec<TcpListener>> {
        if public.len() == 1 {
            for _ in 1..workers.max(1) {
                let again = public[0].try_clone()?;
                public.push(again);
            }
        }
        Ok(public)
    }
}

/// A socket systemd passed, with its `FileDescriptorName=` if any.
type Named = (TcpListener, Option<String>);

/// Sockets systemd passed, taken from the environment once at start.
static SYSTEMD: Mutex<Option<Vec<Named>>> = Mutex::new(None);

/// Take the listening sockets systemd passed (`LISTEN_FDS`, `LISTEN_PID`,
/// `LISTEN_FDNAMES`), before anything else runs: the variables are removed
/// from the environment so no child inherits them. Call from `main` before
/// the runtime starts its threads.
pub fn take_systemd_sockets() {
    let names: Vec<String> = std::env::var("LISTEN_FDNAMES")
        .map(|n| n.split(':').map(str::to_string).collect())
        .unwrap_or_default();
    let mut fds = listenfd::ListenFd::from_env();
    let mut taken = Vec::new();
    for i in 0..fds.len() {
        match fds.take_tcp_listener(i) {
            Ok(Some(l)) => taken.push((l, names.get(i).cloned())),
            Ok(None) => {}
            Err(e) => eprintln!("cutover: socket {i} from systemd is not a TCP listener: {e}"),
        }
    }
    if !taken.is_empty() {
        *SYSTEMD.lock().unwrap_or_else(|p| p.into_inner()) = Some(taken);
    }
}

/// The listeners systemd passed, if any: a socket named `admin` (by
/// `FileDescriptorName=`) or bound to the plan's admin address is the
/// admin API's, every other one public. Without an admin socket, the
/// plan's admin address is bound here.
pub fn from_systemd(plan: &Plan, workers: usize) -> Result<Option<Listeners>> {
    let Some(taken) = SYSTEMD.lock().unwrap_or_else(|p| p.into_inner()).take() else {
        return Ok(None);
    };
    let mut public = Vec::new();
    let mut admin = None;
    for (l, name) in taken {
        let is_admin = match name.as_deref() {
            Some("admin") => true,
            Some("public") => false,
            _ => l.local_addr().ok() == Some(plan.listen.admin),
        };
        if is_admin {
            admin = Some(l);
        } else {
            public.push(l);
        }
    }
    if public.is_empty() {
        bail!(
            "systemd passed no public listener (LISTEN_FDS): name it `public` with FileDescriptorName= in the socket unit"
        );
    }
    let admin = match admin {
        Some(a) => a,
        None => {
            let addr = plan.listen.admin;
            TcpListener::bind(addr).wrap_err_with(|| {
                format!("cannot listen on {addr} (admin): is another cutover or service using it? (change [listen] admin in the plan, or pass it from systemd)")
            })?
        }
    };
    let addr = public[0].local_addr()?;
    if addr != plan.listen.public && plan.listen.public.port() != 0 {
        tracing::warn!(
            "serving on {addr}, the socket systemd passed; the plan's [listen] public ({}) is not bound",
            plan.listen.public
        );
    }
    Ok(Some(Listeners {
        public: Listeners::spread(public, workers)?,
        admin,
        origin: Origin::Systemd,
    }))
}
