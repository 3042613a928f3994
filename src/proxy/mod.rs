//! The data plane: a public listener that splits live traffic between the
//! stable and canary pools by weight.
//!
//! - `split`: which version a request goes to (pure, per mille, sticky option)
//! - `pool`: the members of one version and how one is picked
//! - `router`: the atomically swapped routing table, the error trip, drains
//! - `forward`: one request end to end (errors → 502/503/504, counted)
//! - `upstream`: keep-alive upstream connections, pooled per worker
//! - `body`: streaming bodies with exact accounting
//! - `headers`: hop-by-hop hygiene, forwarding headers, smuggling defences
//! - `framing`: a watchdog on raw client bytes that spots CL+TE requests
//! - `server`: the listener and graceful stop
//! - `access_log`: one line per request, off the request path

pub mod access_log;
mod body;
mod forward;
pub mod framing;
pub mod headers;
pub mod pool;
mod router;
mod server;
pub mod split;
mod trips;
mod upstream;

pub use router::{DrainReport, ProxyOptions, Router, Table};
pub use server::{serve, spawn_workers};
pub use trips::{Tripped, Trips};
