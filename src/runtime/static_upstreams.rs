//! The static runtime: upstreams that run elsewhere. cutover only routes to
//! and measures them; starting means "use these addresses", stopping and
//! removing do nothing to the services themselves.

use super::{Replica, ReplicaStats, Runtime, RuntimeError, RuntimeEvent, VersionSpec};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::broadcast;

#[derive(Debug)]
pub struct StaticRuntime {
    /// What was "started", so a restarted daemon can adopt it again.
    known: Mutex<Vec<Replica>>,
    events: broadcast::Sender<RuntimeEvent>,
}

impl Default for StaticRuntime {
    fn default() -> Self {
        StaticRuntime {
            known: Mutex::new(Vec::new()),
            events: broadcast::channel(16).0,
        }
    }
}

impl StaticRuntime {
    pub fn new() -> StaticRuntime {
        StaticRuntime::default()
    }

    /// A runtime that already knows the plan's upstreams, so a restarted
    /// daemon finds the replicas its saved state owns (they never went away).
    pub fn for_plan(plan: &crate::plan::Plan) -> StaticRuntime {
        let rt = StaticRuntime::default();
        let mut known = rt.known.lock().unwrap_or_else(|e| e.into_inner());
        for (role, v) in [
            (crate::model::Role::Stable, Some(&plan.stable)),
            (crate::model::Role::Canary, plan.canary.as_ref()),
        ] {
            for addr in v.map(|v| v.upstreams.clone()).unwrap_or_default() {
                known.push(Replica {
                    id: addr.clone(),
                    role,
                    release: 0,
                    version: v.map(|v| v.label(role.as_str())).unwrap_or_default(),
                    addr,
                });
            }
        }
        drop(known);
        rt
    }
}

#[async_trait::async_trait]
impl Runtime for StaticRuntime {
    fn kind(&self) -> crate::plan::RuntimeKind {
        crate::plan::RuntimeKind::Static
    }

    async fn start(&self, spec: &VersionSpec) -> Result<Vec<Replica>, RuntimeError> {
        if spec.upstreams.is_empty() {
            return Err(RuntimeError::CreateRefused(format!(
                "the static runtime needs upstream addresses for {} (upstreams = [\"host:port\"])",
                spec.role
            )));
        }
        let replicas: Vec<Replica> = spec
            .upstreams
            .iter()
            .map(|addr| Replica {
                id: addr.clone(),
                role: spec.role,
                release: spec.release,
                version: spec.version.clone(),
                addr: addr.clone(),
            })
            .collect();
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        known.retain(|k| !replicas.iter().any(|r| r.id == k.id));
        known.extend(replicas.iter().cloned());
        Ok(replicas)
    }

    async fn stop(&self, _replica: &Replica, _grace: Duration) -> Result<(), RuntimeError> {
        Ok(())
    }

    async fn remove(&self, replica: &Replica) -> Result<(), RuntimeError> {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        known.retain(|k| !(k.id == replica.id && k.role == replica.role));
        Ok(())
    }

    async fn list(&self, _service: &str) -> Result<Vec<Replica>, RuntimeError> {
        Ok(self.known.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }

    async fn stats(&self, _replica: &Replica) -> Result<ReplicaStats, RuntimeError> {
        Ok(ReplicaStats::default())
    }

    async fn logs(&self, replica: &Replica, _tail: usize) -> Result<Vec<String>, RuntimeError> {
        Ok(vec![format!(
            "{} is a static upstream: its logs live wherever it runs",
            replica.addr
        )])
    }

    async fn resize(
        &self,
        replica: &Replica,
        _cpus: Option<f64>,
        _memory: Option<u64>,
    ) -> Result<(), RuntimeError> {
        Err(RuntimeError::Other(format!(
            "{} is a static upstream: cutover cannot change its limits",
            replica.addr
        )))
    }

    fn subscribe(&self) -> broadcast::Receiver<RuntimeEvent> {
        self.events.subscribe()
    }
}
