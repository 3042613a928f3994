//! The autoscaler's edges (its decisions are `controller/autoscale.rs`):
//! in-flight requests averaged over the guard ticks between two stats
//! samples, one [`Sample`] per running version when stats arrive, and its
//! decisions carried out as `scale` and `resize` actions by `system`, so
//! they are checked, journaled and persisted like an operator's.

use super::*;
use crate::controller::autoscale::{Autoscaler, Decision, Sample};
use crate::model::{Action, ActionRequest, Actor};
use crate::plan::ScaleTarget;

/// The autoscaler and what it is fed between samples.
pub(super) struct Scaler {
    pub core: Option<Autoscaler>,
    /// Per role: in-flight requests summed over guard ticks, and the ticks.
    in_flight: [(f64, u32); 2],
}

impl Scaler {
    pub fn new(plan: &Plan, runtime: crate::plan::RuntimeKind) -> Scaler {
        Scaler {
            core: plan
                .autoscale
                .clone()
                .map(|p| Autoscaler::new(p, runtime.honours_limits())),
            in_flight: [(0.0, 0); 2],
        }
    }
}

impl Driver {
    /// Once per guard tick: the requests in flight now, toward the average.
    pub(super) fn autoscale_tick(&mut self) {
        if self.scaler.core.is_none() {
            return;
        }
        for role in Role::ALL {
            let (sum, n) = &mut self.scaler.in_flight[role.index()];
            *sum += self.deps.metrics.in_flight(role) as f64;
            *n += 1;
        }
    }

    /// Said once at start: what the plan asks that this runtime cannot do.
    pub(super) fn autoscale_warnings(&mut self) {
        let plan = &self.deps.plan;
        if let Some(a) = &plan.autoscale
            && a.memory_ceiling.is_some()
            && !self.kind.honours_limits()
        {
            let message = format!(
                "autoscale: memory_ceiling is ignored: {}; replicas are still scaled",
                crate::plan::limits_ignored(self.kind)
            );
            self.emit(EventKind::Warning { message });
        }
    }

    /// A stats sample arrived: one sample per running version.
    pub(super) fn autoscale_sample(&mut self) {
        if self.scaler.core.is_none() {
            return;
        }
        let cpu = matches!(
            self.deps.plan.autoscale.as_ref().map(|a| a.target()),
            Some(ScaleTarget::Cpu(_))
        );
        let st = self.machine.state();
        let running = [
            (
                Role::Stable,
                st.phase != Phase::Promoting,
                st.stable.replicas,
            ),
            (
                Role::Canary,
                st.phase.takes_traffic(),
                st.canary.as_ref().map_or(0, |c| c.replicas),
            ),
        ];
        let now = Utc::now();
        let mut decisions = Vec::new();
        for (role, runs, replicas) in running {
            let (sum, n) = std::mem::take(&mut self.scaler.in_flight[role.index()]);
            if !runs || st.scaling.contains(&role) {
                continue;
            }
            let (cpu_sum, memory) = self.usage(role);
            let load = if cpu {
                cpu_sum
            } else {
                sum / f64::from(n.max(1))
            };
            let sample = Sample {
                role,
                replicas,
                load,
                memory,
            };
            if let Some(core) = self.scaler.core.as_mut() {
                decisions.extend(core.observe(&sample, now));
            }
        }
        self.act_on(decisions);
    }

    /// CPU percent summed over the role's serving replicas, and each one's
    /// memory use and limit.
    fn usage(&self, role: Role) -> (f64, Vec<(u64, u64)>) {
        let reg = ops::lock(&self.work.registry);
        let mine = reg
            .values()
            .filter(|t| t.replica.role == role && t.status.is_alive() && !t.stage.leaving());
        let mut cpu = 0.0;
        let mut memory = Vec::new();
        for t in mine {
            cpu += t.stats.cpu_percent.unwrap_or(0.0);
            if let (Some(u), Some(l)) = (t.stats.memory_bytes, t.stats.memory_limit) {
                memory.push((u, l));
            }
        }
        (cpu, memory)
    }

    /// A guard breached: autoscale changes made within one guard window
    /// before are undone.
    pub(super) fn autoscale_breach(&mut self) {
        let window = self.machine.state().guard(self.machine.plan()).window.get();
        if let Some(core) = self.scaler.core.as_mut() {
            let undo = core.breach(Utc::now(), window);
            self.act_on(undo);
        }
    }

    /// Decisions as actions by `system`; one the machine refuses (a scale
    /// under way, a phase that has moved on) is dropped, said in the log.
    fn act_on(&mut self, decisions: Vec<Decision>) {
        for d in decisions {
            let (action, why) = match d {
                Decision::Scale { role, to, why, .. } => {
                    (Action::Scale { role, replicas: to }, why)
                }
                Decision::Memory { role, to, why, .. } => (
                    Action::Resize {
                        role,
                        cpus: None,
                        memory: Some(to),
                    },
                    why,
                ),
            };
            let req = ActionRequest {
                action,
                by: Actor::System,
                reason: Some(why),
            };
            match self.machine.apply(Input::Action(req), Utc::now()) {
                Ok(fx) => self.execute(fx),
                Err(r) => tracing::info!(refusal = %r, "autoscale decision not taken"),
            }
        }
    }
}
