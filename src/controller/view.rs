//! The [`StateView`] clients see, built from the machine's state, the
//! replicas the driver tracks, the metrics windows and the proxy's weight.

use super::machine::Machine;
use super::ops::Tracked;
use crate::metrics::Metrics;
use crate::model::{
    DrainView, GuardVerdict, ReplicaView, Role, StateView, StepView, VersionStats, VersionView,
};
use crate::plan::VersionPlan;
use crate::proxy::Router;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

pub(super) struct ViewParts<'a> {
    pub machine: &'a Machine,
    pub replicas: &'a BTreeMap<String, Tracked>,
    pub metrics: &'a Metrics,
    pub router: &'a Router,
    pub guards: &'a [GuardVerdict],
    pub usage: &'a [super::usage::UsageHistory; 2],
    pub public_addr: &'a str,
    pub runtime: crate::plan::RuntimeKind,
    pub now: DateTime<Utc>,
}

pub(super) fn build(p: &ViewParts<'_>) -> StateView {
    let plan = p.machine.plan();
    let st = p.machine.state();
    let window = st.guard(plan).window.get();
    let version = |role: Role, v: &VersionPlan, stats: VersionStats| VersionView {
        role,
        version: v.version.clone().unwrap_or_else(|| v.label(role.as_str())),
        image: v.describe(),
        replicas: p
            .replicas
            .values()
            .filter(|t| t.replica.role == role)
            .map(|t| ReplicaView {
                id: t.replica.id.clone(),
                addr: t.replica.addr.clone(),
                status: t.status,
                exit_code: t.exit_code,
                cpu_percent: t.stats.cpu_percent,
                memory_bytes: t.stats.memory_bytes,
                memory_limit: t.stats.memory_limit,
            })
            .collect(),
        stats,
        cpus: v.cpus,
        memory: v.memory.map(|m| m.0),
        pinned: v.pinned.clone(),
        usage: p.usage[role.index()].view(role, v.cpus, v.memory.map(|m| m.0)),
        drain: drain(p, role),
    };
    let step = st.step_index.and_then(|i| {
        let s = plan.steps.get(i)?;
        let bake_remaining_ms = match (st.bake_deadline, st.bake_remaining_ms) {
            (Some(d), _) => Some((d - p.now).num_milliseconds().max(0) as u64),
            (None, left) => left,
        };
        Some(StepView {
            index: i,
            total: plan.steps.len(),
            weight_permille: s.weight_permille(),
            bake_remaining_ms,
        })
    });
    StateView {
        service: plan.service.clone(),
        runtime: p.runtime.to_string(),
        phase: st.phase,
        release: st.release,
        weight_permille: p.router.weight(),
        step,
        stable: version(
            Role::Stable,
            &st.stable,
            p.metrics.stats(Role::Stable, window),
        ),
        canary: st
            .canary
            .as_ref()
            .map(|c| version(Role::Canary, c, p.metrics.stats(Role::Canary, window))),
        guards: p.guards.to_vec(),
        guards_muted: st.muted,
        thresholds: Some(st.guard(plan).clone()),
        freeze: p
            .machine
            .freeze_at(p.now)
            .map(|f| f.reason.clone().unwrap_or_else(|| "freeze window".into())),
        last_breach: st.last_breach.clone(),
        last_outcome: st.last_outcome,
        failed_requests: st.canary.is_some().then(|| p.router.failed_in_release()),
        public_addr: p.public_addr.to_string(),
        at: p.now,
    }
}

/// What is left on `role` while the router drains it.
fn drain(p: &ViewParts<'_>, role: Role) -> Option<DrainView> {
    let deadline = p.router.drain_deadline(role)?;
    let sticky = p.router.sticky().then(|| p.metrics.sticky_clients(role));
    Some(DrainView {
        in_flight: p.metrics.in_flight(role),
        oldest_secs: p.metrics.oldest_in_flight(role),
        sticky_clients: sticky.map(|e| e.clients),
        sticky_at_least: sticky.is_some_and(|e| e.at_least),
        deadline,
    })
}
