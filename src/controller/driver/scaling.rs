//! Scaling a running version, and the undo of a promotion's check: the
//! driver's half (which replicas, the pool) of what `machine/scale.rs`
//! decides.

use super::*;
use crate::controller::machine::LiveReplicas;

/// A replica of the role that counts toward its replicas (alive, not on its
/// way out), with what picks the ones a scale-down takes.
struct Counted {
    replica: Replica,
    serving: bool,
    born: u64,
}

impl Driver {
    /// Bring `role` to `to` replicas from the ones alive now: start the
    /// missing ones, or retire the newest extra ones (those not serving
    /// yet first). With nothing to do, the scale is done at once.
    pub(super) fn scale(&mut self, role: Role, from: u32, to: u32, mut spec: VersionSpec) {
        let mut alive = self.counted(role);
        let have = alive.len() as u32;
        if have < to {
            spec.replicas = to - have;
            spec.labels.extend(self.deps.labels.clone());
            self.op(Op::ScaleUp {
                spec: Box::new(spec),
                from,
                to,
            });
        } else if have > to {
            alive.sort_by_key(|c| (c.serving, std::cmp::Reverse(c.born)));
            let extra: Vec<Replica> = alive
                .into_iter()
                .take((have - to) as usize)
                .map(|c| c.replica)
                .collect();
            self.retire(role, extra);
        } else {
            self.feed(Input::Scaled {
                role,
                started: Vec::new(),
                stopped: Vec::new(),
            });
        }
    }

    /// After a restore: each running version back to its recorded count,
    /// from the replicas adopted (see `machine/converge.rs`); what the
    /// machine asks for is carried out as any scale is.
    pub(super) fn converge(&mut self) {
        let fx = self.machine.converge(self.live(), Utc::now());
        self.execute(fx);
    }

    /// A stable replacement the machine wants by now (after a replica
    /// exited on its own, or when a crash loop's backoff runs out; see
    /// `machine/heal.rs`), carried out as any scale is.
    /// Not while stable is being started whole (none was left after a
    /// restore or an abandoned promotion): that start is the replacement.
    pub(super) fn heal(&mut self) {
        if self.machine.state().healing.due.is_none() || self.work.stable_starting {
            return;
        }
        let fx = self.machine.heal(self.live(), Utc::now());
        if !fx.is_empty() {
            self.clear_exited(Role::Stable);
        }
        self.execute(fx);
    }

    /// A replacement is on its way: of `role`'s replicas that exited on
    /// their own, all but the latest go (from the registry and the
    /// runtime). The latest stays, listed with its exit, for its logs; a
    /// crash loop would otherwise leave an exited replica (on Docker a
    /// stopped container) per turn until the version is removed.
    fn clear_exited(&mut self, role: Role) {
        let older: Vec<Replica> = {
            let mut reg = ops::lock(&self.work.registry);
            let mut exited: Vec<(u64, String)> = reg
                .values()
                .filter(|t| {
                    t.replica.role == role
                        && matches!(t.status, ReplicaStatus::Exited | ReplicaStatus::OomKilled)
                        && !t.stage.leaving()
                })
                .map(|t| (t.born, t.replica.id.clone()))
                .collect();
            exited.sort_unstable_by_key(|(born, _)| std::cmp::Reverse(*born));
            exited
                .into_iter()
                .skip(1)
                .filter_map(|(_, id)| reg.remove(&id).map(|t| t.replica.clone()))
                .collect()
        };
        if !older.is_empty() {
            self.op(Op::Discard { replicas: older });
        }
    }

    /// How many replicas of each version count toward its replicas now.
    fn live(&self) -> LiveReplicas {
        LiveReplicas {
            stable: self.counted(Role::Stable).len() as u32,
            canary: self.counted(Role::Canary).len() as u32,
        }
    }

    fn counted(&self, role: Role) -> Vec<Counted> {
        ops::lock(&self.work.registry)
            .values()
            .filter(|t| {
                t.replica.role == role
                    && t.status.is_alive()
                    && !t.stage.leaving()
                    && !t.stage.stop_begun()
            })
            .map(|t| Counted {
                replica: t.replica.clone(),
                serving: t.status == ReplicaStatus::Healthy,
                born: t.born,
            })
            .collect()
    }

    /// Out of the pool at once (no new request reaches them), then the
    /// worker waits for their in-flight requests and stops them.
    fn retire(&mut self, role: Role, replicas: Vec<Replica>) {
        let addrs: Vec<String> = replicas.iter().map(|r| r.addr.clone()).collect();
        let held = self.deps.router.hold(role, &addrs);
        {
            let mut reg = ops::lock(&self.work.registry);
            for r in &replicas {
                if let Some(t) = reg.get_mut(&r.id) {
                    t.leave();
                    t.status = ReplicaStatus::Draining;
                }
            }
        }
        self.sync_pool(role);
        for r in &replicas {
            self.emit(EventKind::Replica {
                role,
                replica: r.id.clone(),
                status: ReplicaStatus::Draining,
                detail: "scaled down: out of the pool, finishing its requests".into(),
            });
        }
        self.op(Op::Retire {
            role,
            replicas,
            held,
            timeout: self.deps.plan.drain.timeout.get(),
            grace: self.deps.plan.drain.stop_grace.get(),
        });
    }

    /// What a scale-up started: each replica is journaled and health
    /// checked (it joins the pool when healthy); the machine hears of them
    /// as a scale, never as a canary starting.
    pub(super) fn scaled_up(
        &mut self,
        role: Role,
        from: u32,
        to: u32,
        result: Result<Vec<Replica>, String>,
    ) {
        let replicas = match result {
            Ok(r) => r,
            Err(detail) => {
                self.feed(Input::ScaleFailed {
                    role,
                    from,
                    to,
                    detail,
                });
                return;
            }
        };
        self.watch_started(role, &replicas, &format!(" (scale {from} → {to})"));
        let started = replicas.into_iter().map(|r| r.id).collect();
        self.feed(Input::Scaled {
            role,
            started,
            stopped: Vec::new(),
        });
        self.persist();
    }

    /// Before an `undo_promote` reaches the machine: whether stable's stop
    /// has begun is settled here, under the registry lock the worker begins
    /// stops under. Not begun: its queued stops and removals are called off
    /// at once (the machine then accepts the undo), so none can begin in
    /// between. Begun: the machine hears it and refuses.
    pub(super) fn settle_undo(&mut self) {
        let st = self.machine.state();
        if st.phase != Phase::Promoting || st.stable_stopping || st.removing != Some(Role::Stable) {
            return;
        }
        let begun = {
            let reg = ops::lock(&self.work.registry);
            let begun = reg
                .values()
                .any(|t| t.replica.role == Role::Stable && t.stage.stop_begun());
            if !begun {
                self.work.tickets.call_off(Role::Stable);
            }
            begun
        };
        if begun {
            self.feed(Input::StopBegun { role: Role::Stable });
        }
    }
}
