//! The data plane: a public listener that splits live traffic between the
//! stable and canary pools by weight.
//!
//! - `split`: which version a request goes to (pure, per mille, sticky option)
//! - `preview`: testers who may choose the version themselves (pure)
//! - `pool`: the members of one version and how one is picked
//! - `router`: the atomically swapped routing table, the error trip, drains
//! - `forward`: one request end to end (errors → 502/503/504, counted)
//! - `upstream`: keep-alive upstream connections, pooled per worker
//! - `worker`: what one listener worker shares among its requests
//! - `body`: streaming bodies with exact accounting
//! - `headers`: hop-by-hop hygiene, forwarding headers, smuggling defences
//! - `framing`: a watchdog on raw client bytes: CL+TE requests, oversized
//!   heads, anything it could not follow is refused
//! - `request_rules`: RFC 9112 rules on a request before it is routed (Host,
//!   absolute-form targets, CONNECT)
//! - `public_error`: the plain answers clients get when cutover answers itself
//! - `server`: the listener and graceful stop
//! - `conn_limit`: the cap on open public connections, the open-file limit
//! - `throttle`: one warning line per interval, with a count
//! - `access_log`: one line per request, off the request path

pub mod access_log;
pub mod attempts;
mod body;
pub mod conn_limit;
mod drain;
mod forward;
pub mod framing;
pub mod headers;
pub mod pool;
pub mod preview;
mod public_error;
mod relay;
pub mod request_rules;
mod retire;
mod router;
pub mod routes;
mod server;
pub mod split;
pub mod throttle;
pub(crate) mod trips;
mod upstream;
mod worker;

pub use drain::DrainReport;
pub use retire::Held;
pub use router::{ProxyOptions, Router, Table};
pub use routes::{Route, Routes};
pub use server::{bind_public, serve, serve_listeners, spawn_workers};
pub use trips::{Tripped, Trips};
