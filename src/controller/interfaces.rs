//! The driver's joints with parts that are built elsewhere: where events are
//! journaled ([`EventSink`]), how guards are judged ([`GuardFn`], with a
//! small built-in [`basic_guards`]) and how replica health reaches the driver
//! ([`HealthEvent`], [`HealthChecker`]).
//!
//! Each seam is one trait or one function type, so wiring the journal writer,
//! `crate::guard::evaluate` or `crate::runtime::health` in their place is a
//! one-line adapter in the daemon.

use crate::model::{Event, GuardVerdict, ReplicaStatus, Role};
use crate::plan::Health;
use crate::runtime::Replica;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Where every event the controller publishes is also journaled.
pub trait EventSink: Send + Sync + 'static {
    fn record(&self, event: &Event);
}

/// What a guard evaluation sees.
pub type GuardFacts<'a> = crate::guard::GuardInput<'a>;

/// Judges every configured guard.
pub type GuardFn = Arc<dyn Fn(&GuardFacts<'_>) -> Vec<GuardVerdict> + Send + Sync>;

/// The guard evaluation the driver uses unless told otherwise.
pub fn basic_guards(f: &GuardFacts<'_>) -> Vec<GuardVerdict> {
    crate::guard::evaluate(f)
}

/// A replica's health changed (sent on transitions only).
#[derive(Clone, Debug, PartialEq)]
pub struct HealthEvent {
    pub replica_id: String,
    pub addr: String,
    pub role: Role,
    /// `Healthy` or `Unhealthy`.
    pub status: ReplicaStatus,
    pub detail: String,
}

/// Starts health checks of one replica; dropping or aborting the returned
/// task stops them. `assume_healthy` is for replicas adopted after a restart
/// (they were serving): they stay in their pool until checks fail.
pub trait HealthChecker: Send + Sync + 'static {
    fn spawn(
        &self,
        replica: Replica,
        health: Health,
        assume_healthy: bool,
        tx: mpsc::UnboundedSender<HealthEvent>,
    ) -> JoinHandle<()>;
}
