//! What a listener worker shares among its requests (`Worker`: the router,
//! its upstream pool, its copy of the routing table) and who sent them
//! (`Peer`, made once per connection). Apart from `forward.rs`, which takes
//! one request through them.

use super::headers;
use super::router::Router;
use super::upstream::Upstreams;
use http::HeaderValue;
use std::net::SocketAddr;
use std::sync::Arc;

/// What one listener worker shares among its requests: the router, its own
/// upstream pool and its own copy of the routing table. Cloned per request
/// as an `Arc` that only this worker's thread touches, so the request path
/// bumps no reference count that another worker's core also writes.
pub struct Worker {
    pub router: Router,
    pub upstreams: Upstreams,
    /// Ids for requests that come without one.
    pub request_ids: headers::RequestIds,
    table: std::sync::Mutex<Arc<super::router::Table>>,
}

impl Worker {
    pub fn new(router: Router, upstreams: Upstreams) -> Arc<Worker> {
        let table = std::sync::Mutex::new(router.table());
        Arc::new(Worker {
            router,
            upstreams,
            request_ids: headers::RequestIds::default(),
            table,
        })
    }

    /// The routing table now, as this worker's own `Arc`: refreshed from
    /// the router when its generation moved, else shared locally.
    pub(super) fn table(&self) -> Arc<super::router::Table> {
        let mut mine = self.table.lock().unwrap_or_else(|e| e.into_inner());
        self.router.refresh(&mut mine);
        mine.clone()
    }
}

/// Who sent a request: made once per client connection.
#[derive(Clone)]
pub struct Peer {
    pub addr: SocketAddr,
    /// `addr`'s IP as an `X-Forwarded-For` value.
    pub forwarded_for: HeaderValue,
}

impl Peer {
    pub fn new(addr: SocketAddr) -> Peer {
        Peer {
            addr,
            forwarded_for: headers::client_value(addr.ip()),
        }
    }
}
