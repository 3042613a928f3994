//! The [`Router`]: the control surface of the data plane.
//!
//! The routing table (weight + one pool per version) is immutable and swapped
//! atomically with `arc-swap`: a request loads the table once and is routed by
//! what it saw, so changing weights never fails, stalls or reorders a request
//! in flight. Updates are serialised by a small mutex (read-modify-write), the
//! request path never takes it.
//!
//! The router also owns the two things that must act faster than the
//! controller's 250 ms guard loop: the *trips* (`trips.rs`: the canary
//! request that makes N failures in a row, or spends the release's budget,
//! sets the weight to 0 right here) and the *drain cut* (in-flight requests
//! of a drained version answered 504 after the drain timeout).

use super::pool::{Member, MemberGuard, Pool};
use super::trips::{Tripped, Trips};
use crate::metrics::{InFlight, Metrics};
use crate::model::Role;
use crate::plan::{Balance, ProxyPlan, Sticky};
use arc_swap::ArcSwap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// One immutable routing table.
#[derive(Debug)]
pub struct Table {
    /// Increments on every change; tests and the route header use it.
    pub generation: u64,
    /// Canary share, per mille.
    pub weight: u16,
    pools: [Arc<Pool>; 2],
}

impl Table {
    pub fn pool(&self, role: Role) -> &Arc<Pool> {
        &self.pools[role.index()]
    }
}

/// Static proxy settings taken from the plan.
#[derive(Clone, Debug)]
pub struct ProxyOptions {
    pub balance: Balance,
    pub sticky: Option<Sticky>,
    pub upstream_timeout: Duration,
    pub connect_timeout: Duration,
    /// Time a client has to send its request head.
    pub header_timeout: Duration,
    /// Longest quiet spell while a client sends its body; past it, 408.
    pub client_body_timeout: Duration,
    /// Longest request head, in bytes; past it, 431.
    pub max_head_size: usize,
    /// Public connections open at once (resolved: never more than the
    /// open-file limit allows).
    pub max_connections: usize,
    /// Add `x-cutover-route: <version> <generation>` to responses (debugging, tests).
    pub route_header: bool,
    /// Who may choose a version themselves (`[proxy.preview]`).
    pub preview: Option<super::preview::Preview>,
    /// Service name, for messages.
    pub service: String,
}

impl ProxyOptions {
    /// The plan's settings; the connection cap is resolved against this
    /// process's open-file limit now (raise it first: see
    /// [`super::conn_limit::raise_open_file_limit`]).
    pub fn from_plan(service: &str, p: &ProxyPlan) -> ProxyOptions {
        let (max_connections, lowered) = super::conn_limit::effective_max_connections(
            p.max_connections,
            super::conn_limit::open_file_limit(),
        );
        if let Some(why) = lowered {
            tracing::warn!("{why}");
        }
        ProxyOptions {
            balance: p.balance,
            sticky: p.sticky.clone(),
            upstream_timeout: p.upstream_timeout.get(),
            connect_timeout: p.connect_timeout.get(),
            header_timeout: p.header_timeout.get(),
            client_body_timeout: p.client_body_timeout.get(),
            max_head_size: usize::try_from(p.max_head_size.0)
                .unwrap_or(super::framing::DEFAULT_MAX_HEAD),
            max_connections,
            route_header: p.route_header,
            preview: p.preview.as_ref().map(super::preview::Preview::from_plan),
            service: service.to_string(),
        }
    }
}

pub(super) struct Inner {
    table: ArcSwap<Table>,
    update: Mutex<()>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) opts: ProxyOptions,
    pub(super) cuts: [ArcSwap<CancellationToken>; 2],
    pub(super) access_log: arc_swap::ArcSwapOption<super::access_log::AccessLog>,
    /// The cap on public connections, shared by the listener workers.
    pub(super) conn_limit: super::conn_limit::ConnLimit,
    /// Unkeyed requests routed so far: the split's sequence number.
    sequence: AtomicU64,
    pub(super) trips: super::trips::TripWire,
    /// How long a stopped worker waits for its upgraded connections to
    /// close (ms): none on a plain stop, long after a takeover.
    linger_ms: AtomicU64,
    /// Answers carry `Connection: close` (a retiring daemon sends its
    /// keep-alive clients to its successor one answer at a time).
    closing: std::sync::atomic::AtomicBool,
    /// Stable's and the canary's version strings, lower case, for testers
    /// who name one (`[proxy.preview]`).
    version_names: ArcSwap<[String; 2]>,
    /// When each role's drain under way cuts what is left (Unix ms; 0: no
    /// drain), for the drain view's countdown.
    pub(super) drain_deadlines: [AtomicU64; 2],
}

/// Cheap-to-clone handle on the data plane.
#[derive(Clone)]
pub struct Router {
    pub(super) inner: Arc<Inner>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = self.inner.table.load();
        f.debug_struct("Router")
            .field("weight", &t.weight)
            .field("generation", &t.generation)
            .finish()
    }
}

impl Router {
    pub fn new(metrics: Arc<Metrics>, opts: ProxyOptions) -> Router {
        let empty = || Arc::new(Pool::default());
        let conn_limit = super::conn_limit::ConnLimit::new(opts.max_connections, metrics.clone());
        Router {
            inner: Arc::new(Inner {
                table: ArcSwap::from_pointee(Table {
                    generation: 0,
                    weight: 0,
                    pools: [empty(), empty()],
                }),
                update: Mutex::new(()),
                metrics,
                opts,
                cuts: [
                    ArcSwap::from_pointee(CancellationToken::new()),
                    ArcSwap::from_pointee(CancellationToken::new()),
                ],
                access_log: arc_swap::ArcSwapOption::empty(),
                conn_limit,
                sequence: AtomicU64::new(super::split::FIRST_SEQUENCE),
                trips: Default::default(),
                linger_ms: AtomicU64::new(0),
                closing: std::sync::atomic::AtomicBool::new(false),
                version_names: ArcSwap::from_pointee([String::new(), String::new()]),
                drain_deadlines: [AtomicU64::new(0), AtomicU64::new(0)],
            }),
        }
    }

    /// After the next stop, let the workers keep serving what is in flight
    /// (upgraded connections included) for up to `linger`: a daemon that
    /// handed its listeners to a successor leaves its WebSockets open until
    /// they close.
    pub fn set_linger(&self, linger: Duration) {
        self.inner
            .linger_ms
            .store(linger.as_millis() as u64, Ordering::SeqCst);
    }

    /// The versions' strings, as the controller last published them
    /// (stored only when they change: this runs on every publish).
    pub fn set_version_names(&self, names: [&str; 2]) {
        let now = self.inner.version_names.load();
        if now[0].eq_ignore_ascii_case(names[0]) && now[1].eq_ignore_ascii_case(names[1]) {
            return;
        }
        self.inner
            .version_names
            .store(Arc::new(names.map(str::to_ascii_lowercase)));
    }

    /// See [`Router::set_version_names`]. Read in place (no reference
    /// count moves: the request path calls this when previews are on).
    pub fn with_version_names<R>(&self, f: impl FnOnce(&[String; 2]) -> R) -> R {
        f(&self.inner.version_names.load())
    }

    /// From now on every answer but a protocol switch says
    /// `Connection: close`.
    pub fn close_connections(&self) {
        self.inner.closing.store(true, Ordering::SeqCst);
    }

    /// See [`Router::close_connections`].
    pub fn closing(&self) -> bool {
        self.inner.closing.load(Ordering::Relaxed)
    }

    /// See [`Router::set_linger`].
    pub fn linger(&self) -> Duration {
        Duration::from_millis(self.inner.linger_ms.load(Ordering::SeqCst))
    }

    /// Resolves when nothing is in flight on either version, or after `limit`.
    pub async fn idle_within(&self, limit: Duration) {
        let m = &self.inner.metrics;
        let deadline = tokio::time::Instant::now() + limit;
        while m.in_flight(Role::Stable) + m.in_flight(Role::Canary) > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Log one line per request from now on.
    pub fn set_access_log(&self, log: Option<super::access_log::AccessLog>) {
        self.inner.access_log.store(log.map(Arc::new));
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// The cap on open public connections, as resolved at start.
    pub fn max_connections(&self) -> usize {
        self.inner.conn_limit.max()
    }

    /// The table requests are routed by right now.
    pub fn table(&self) -> Arc<Table> {
        self.inner.table.load_full()
    }

    /// Bring a worker's own copy of the table up to date. Reading the
    /// current one through arc-swap's guard writes no shared reference
    /// count; a new copy is made only when the table changed.
    pub(super) fn refresh(&self, mine: &mut Arc<Table>) {
        let current = self.inner.table.load();
        if current.generation != mine.generation {
            *mine = Arc::new(Table {
                generation: current.generation,
                weight: current.weight,
                pools: current.pools.clone(),
            });
        }
    }

    /// The split bucket of the next request without a sticky key.
    pub fn next_bucket(&self) -> u16 {
        super::split::sequence_bucket(self.inner.sequence.fetch_add(1, Ordering::Relaxed))
    }

    pub fn weight(&self) -> u16 {
        self.inner.table.load().weight
    }

    pub fn generation(&self) -> u64 {
        self.inner.table.load().generation
    }

    /// Set the canary share (clamped to 0..=1000); returns the previous one.
    pub fn set_weight(&self, permille: u16) -> u16 {
        let permille = crate::model::Permille::clamped(permille.into()).get();
        self.update(|t| t.weight = permille).weight
    }

    /// Replace the members of `role` that may get new requests. Members kept
    /// keep their in-flight counts.
    pub fn set_members(&self, role: Role, addrs: Vec<String>) {
        self.update(|t| {
            let old = t.pools[role.index()].clone();
            let members = addrs
                .into_iter()
                .map(|a| {
                    old.members()
                        .iter()
                        .find(|m| m.addr == a)
                        .cloned()
                        .unwrap_or_else(|| Member::new(a))
                })
                .collect();
            t.pools[role.index()] = Arc::new(Pool::new(members));
        });
    }

    pub fn members(&self, role: Role) -> Vec<String> {
        self.inner.table.load().pools[role.index()]
            .members()
            .iter()
            .map(|m| m.addr.clone())
            .collect()
    }

    /// Build the next table from the current one; returns the previous table.
    fn update(&self, change: impl FnOnce(&mut TableDraft)) -> Arc<Table> {
        let _guard = self.inner.update.lock().unwrap_or_else(|e| e.into_inner());
        let cur = self.inner.table.load_full();
        let mut draft = TableDraft {
            weight: cur.weight,
            pools: cur.pools.clone(),
        };
        change(&mut draft);
        self.inner.table.store(Arc::new(Table {
            generation: cur.generation + 1,
            weight: draft.weight,
            pools: draft.pools,
        }));
        cur
    }

    /// Arm (or disarm with [`Trips::OFF`]) the request-path trips.
    pub fn arm_trips(&self, trips: Trips) {
        self.inner.trips.arm(trips);
    }

    /// A release begins: its count of failed requests starts here.
    pub fn start_release(&self) {
        self.inner.trips.start_release(&self.inner.metrics);
    }

    /// Carry on a release's count of failed requests from the daemon this
    /// one took over from (the budget of `max_failed_requests` is per release,
    /// not per daemon).
    pub fn carry_failed_in_release(&self, failed: u64) {
        self.inner.trips.carry(failed);
    }

    /// Client requests that got a canary failure since the release began.
    pub fn failed_in_release(&self) -> u64 {
        self.inner.trips.failed_in_release(&self.inner.metrics)
    }

    /// Canary failures in a row right now.
    pub fn failure_run(&self) -> u64 {
        self.inner.trips.run()
    }

    /// Stable's latest answer was a failure.
    pub fn stable_failing(&self) -> bool {
        self.inner.trips.stable_failing()
    }

    /// Changes each time a trip fires (it has set the weight to 0 already).
    pub fn trips(&self) -> watch::Receiver<u64> {
        self.inner.trips.fired_count()
    }

    /// What fired last.
    pub fn last_trip(&self) -> Option<Tripped> {
        self.inner.trips.last()
    }

    /// The drain cut of `role` (shared: an `Arc` clone, not a token clone,
    /// which would take the token's lock on the request path).
    pub(super) fn cut_token(&self, role: Role) -> Arc<CancellationToken> {
        self.inner.cuts[role.index()].load_full()
    }

    /// Account one finished request with the trips; the request that
    /// fires one sets the weight to 0 before anything else happens.
    pub(super) fn check_trips(&self, role: Role, status: u16) {
        let failed = crate::metrics::window::is_error(status);
        if self.inner.trips.record(role, failed, &self.inner.metrics) {
            self.set_weight(0);
        }
    }
}

impl Router {
    /// Account for an answer cutover gave itself (502/503/504): the version
    /// is charged, the trip is checked, and the access log gets its line
    /// with the `error` detail the client is not shown.
    pub(super) fn local_answer(
        &self,
        role: Role,
        in_flight: InFlight,
        status: u16,
        latency: Duration,
        entry: Option<super::access_log::Entry>,
        error: &dyn std::fmt::Display,
    ) {
        in_flight.finish(status, latency);
        self.check_trips(role, status);
        self.log_line(entry, role, status, latency, error);
    }

    /// Write a request's access log line (when the log is on).
    pub(super) fn log_line(
        &self,
        entry: Option<super::access_log::Entry>,
        role: Role,
        status: u16,
        latency: Duration,
        error: &dyn std::fmt::Display,
    ) {
        if let (Some(e), Some(log)) = (entry, &*self.inner.access_log.load()) {
            log.record(&e, role, status, latency, Some(&error.to_string()));
        }
    }
}

/// The mutable copy an update works on.
pub(super) struct TableDraft {
    pub weight: u16,
    pub pools: [Arc<Pool>; 2],
}

/// The accounting of one routed request, recorded exactly once.
pub(crate) struct Completion {
    pub(super) worker: Arc<super::forward::Worker>,
    pub(super) role: Role,
    pub(super) in_flight: InFlight,
    pub(super) _member: MemberGuard,
    pub(super) status: u16,
    /// Time to the response head: what the latency guards judge.
    pub(super) latency: Duration,
    /// Set only when the access log is on.
    pub(super) log: Option<Box<super::access_log::Entry>>,
}

impl Completion {
    /// Record the outcome; `override_status` replaces the upstream's status
    /// when the stream was cut (504) or broke (502).
    pub(super) fn complete(self, override_status: Option<u16>) {
        let status = override_status.unwrap_or(self.status);
        self.in_flight.finish(status, self.latency);
        let router = &self.worker.router;
        if let (Some(entry), Some(log)) = (&self.log, &*router.inner.access_log.load()) {
            let error = override_status.map(|s| match s {
                504 => "the answer was cut: the upstream went quiet or its version was drained",
                _ => "the upstream broke off its answer",
            });
            log.record(entry, self.role, status, self.latency, error);
        }
        router.check_trips(self.role, status);
    }

    pub(super) fn abort(self) {
        self.in_flight.abort();
    }

    /// The client's upload failed after the answer began: not the
    /// version's. A stalled upload is counted as a client timeout.
    pub(super) fn client_fault(self, fault: super::body::ClientFault) {
        match fault {
            super::body::ClientFault::BrokeOff => self.in_flight.abort(),
            super::body::ClientFault::TimedOut => self.in_flight.client_timeout(),
        }
    }
}
