//! Startup and reconcile: adopt what the runtime already runs, restore
//! the persisted release, or start fresh.

use super::*;

impl Driver {
    pub(super) async fn startup(&mut self) {
        for w in std::mem::take(&mut self.deps.warnings) {
            self.emit(EventKind::Warning { message: w });
        }
        for w in self.machine.take_notes() {
            self.emit(EventKind::Warning { message: w });
        }
        self.autoscale_warnings();
        let grace = self.deps.plan.drain.stop_grace.get();
        let listed = self.reconcile_inventory().await;
        match self.deps.restored.take() {
            Some(restored) => self.restore(restored, listed, grace),
            None => self.fresh_start(listed, grace),
        }
    }

    /// The replicas of this service the runtime runs (`None`: it could not
    /// say). Only running replicas are adopted; dead ones of ours are
    /// removed (and said so); look-alikes without cutover's labels are left
    /// alone.
    async fn reconcile_inventory(&mut self) -> Option<Vec<Replica>> {
        let service = self.deps.plan.service.clone();
        match self.deps.runtime.inventory(&service).await {
            // What the runtime found quotes the engine (names, labels,
            // states, errors): cleaned as it enters the model.
            Ok(inv) => {
                for message in inv.foreign {
                    self.emit(EventKind::Warning {
                        message: crate::text::clean_owned(message),
                    });
                }
                for (r, how) in inv.exited {
                    let outcome = match self.deps.runtime.remove(&r).await {
                        Ok(()) => "removed".to_string(),
                        Err(e) => format!("could not be removed: {e}"),
                    };
                    self.emit(EventKind::Warning {
                        message: crate::text::clean_owned(format!("reconcile: {} replica {} ({}, release {}) {how} while nobody watched; {outcome}", r.role, r.id, r.version, r.release)),
                    });
                }
                Some(inv.running)
            }
            Err(e) => {
                self.emit(EventKind::Warning {
                    message: crate::text::clean_owned(format!(
                        "reconcile: cannot list the replicas of {service}: {e}"
                    )),
                });
                None
            }
        }
    }

    /// A persisted release: restore the weight and the trip at once, then
    /// adopt what still runs, remove orphans and account for the replicas
    /// gone while the daemon was down.
    fn restore(&mut self, restored: PersistedState, listed: Option<Vec<Replica>>, grace: Duration) {
        let resume = self.machine.resume_effects();
        let (quick, slow): (Vec<_>, Vec<_>) = resume.into_iter().partition(quick_resume);
        self.execute(quick);
        let owned: BTreeMap<String, OwnedReplica> = restored
            .replicas
            .iter()
            .map(|r| (r.id.clone(), r.clone()))
            .collect();
        let present: Option<BTreeSet<String>> = listed
            .as_ref()
            .map(|l| l.iter().map(|r| r.id.clone()).collect());
        let (mut adopted, gone) = self.adopt_owned(&restored.replicas, present.as_ref());
        let swarm = self.kind == crate::plan::RuntimeKind::Swarm;
        let (replacements, orphans) =
            sort_unowned(listed.unwrap_or_default(), &owned, present.as_ref(), swarm);
        for r in replacements {
            let (role, id) = (r.role, r.id.clone());
            self.adopt_replica(r, true);
            adopted += 1;
            if role == Role::Canary {
                self.feed(Input::ReplicaAppeared { role, id });
            }
        }
        for role in Role::ALL {
            self.sync_pool(role);
        }
        let st = self.machine.state().clone();
        self.emit(EventKind::Warning {
            message: format!(
                "restored release {} in phase {} at canary weight {} (saved {}); adopted {adopted} replica(s), {} gone, {} orphan(s) to remove",
                st.release,
                st.phase,
                crate::controller::machine::pct(st.weight_permille),
                restored.saved_at.to_rfc3339(),
                gone.len(),
                orphans.len()
            ),
        });
        if !orphans.is_empty() {
            self.op(Op::Cleanup {
                replicas: orphans,
                grace,
            });
        }
        self.execute(slow);
        self.settle_restored(gone);
    }

    /// Track the persisted replicas the runtime still lists (all of them
    /// when it could not say), in the order saved (oldest first, so a
    /// scale-down after the restart still takes the newest); the count
    /// adopted and the ones gone.
    fn adopt_owned(
        &mut self,
        owned: &[OwnedReplica],
        present: Option<&BTreeSet<String>>,
    ) -> (usize, Vec<OwnedReplica>) {
        let mut adopted = 0;
        let mut gone = Vec::new();
        for r in owned {
            if present.is_some_and(|p| !p.contains(&r.id)) {
                gone.push(r.clone());
                continue;
            }
            self.adopt_replica(Replica::from(r), r.serving);
            adopted += 1;
        }
        (adopted, gone)
    }

    /// After a restore: replicas gone while the daemon was down exit, a
    /// start or warm-up the restart cut short is taken up again (after the
    /// orphans' removal, queued before: the worker runs in order), each
    /// running version converges on its recorded count, and a missing
    /// stable starts.
    fn settle_restored(&mut self, gone: Vec<OwnedReplica>) {
        for r in gone {
            self.feed(Input::ReplicaExited {
                role: r.role,
                id: r.id.clone(),
                detail: "gone while the daemon was down".into(),
            });
        }
        let canary: Vec<String> = ops::of_role(&self.work.registry, Role::Canary)
            .into_iter()
            .map(|r| r.id)
            .collect();
        let fx = self.machine.resumed(&canary, Utc::now());
        self.execute(fx);
        self.converge();
        if ops::of_role(&self.work.registry, Role::Stable).is_empty()
            && let Some(spec) = self.machine.spec(Role::Stable)
        {
            self.start(spec);
        }
        self.persist();
    }

    /// No state to restore. Replicas of this service that still run are
    /// adopted from their labels (see `adopt.rs`) rather than removed: a
    /// lost state file must not take a serving stable down with it.
    pub(super) fn fresh_start(&mut self, listed: Option<Vec<Replica>>, grace: Duration) {
        if self.kind == crate::plan::RuntimeKind::Static {
            // Static upstreams run elsewhere and the runtime's list is only
            // the plan's addresses: nothing to adopt, nothing to take down.
            if let Some(listed) = listed.filter(|l| !l.is_empty()) {
                self.op(Op::Cleanup {
                    replicas: listed,
                    grace,
                });
            }
            self.ensure_stable();
            self.persist();
            return;
        }
        let adoption =
            crate::controller::adopt::from_labels(&self.deps.plan, listed.unwrap_or_default());
        for note in &adoption.notes {
            tracing::warn!("{note}");
            self.emit(EventKind::Warning {
                message: note.clone(),
            });
        }
        if !adoption.remove.is_empty() {
            self.op(Op::Cleanup {
                replicas: adoption.remove,
                grace,
            });
        }
        if let Some(state) = adoption.state {
            self.machine = Machine::restore(self.deps.plan.clone(), state);
            for w in self.machine.take_notes() {
                self.emit(EventKind::Warning { message: w });
            }
            for r in adoption.adopt {
                self.adopt_replica(r, true);
            }
            for role in Role::ALL {
                self.sync_pool(role);
            }
            let quick: Vec<Effect> = self
                .machine
                .resume_effects()
                .into_iter()
                .filter(quick_resume)
                .collect();
            self.execute(quick);
        }
        self.ensure_stable();
        self.persist();
    }

    /// Track a replica that was already running. One that was `serving`
    /// stays in its pool until its health checks say otherwise; one that
    /// was not (not healthy yet when saved, or a canary still deploying or
    /// warming, see `Machine::resumed`) is checked from "starting", out of
    /// the pool, so that a replica already healthy reports the transition
    /// that puts it in (and that the machine waits for).
    pub(super) fn adopt_replica(&mut self, replica: Replica, serving: bool) {
        let unproven = !serving
            || replica.role == Role::Canary
                && matches!(
                    self.machine.state().phase,
                    Phase::Deploying | Phase::Warming
                );
        let status = if unproven {
            ReplicaStatus::Starting
        } else {
            ReplicaStatus::Healthy
        };
        let mut t = Tracked::new(replica.clone(), status);
        t.health = Some(self.deps.health.spawn(
            replica.clone(),
            self.deps.plan.health.clone(),
            !unproven,
            self.back.health_tx.clone(),
        ));
        ops::lock(&self.work.registry).insert(replica.id.clone(), t);
    }

    /// Start stable from the release state when none of its replicas is
    /// left or on its way (outside a promotion, where stable leaves on purpose).
    pub(super) fn ensure_stable(&mut self) {
        if self.machine.state().phase == Phase::Promoting || self.work.stable_starting {
            return;
        }
        let have = ops::lock(&self.work.registry).values().any(|t| {
            t.replica.role == Role::Stable && t.status.is_alive() && !t.stage.stop_begun()
        });
        if !have && let Some(spec) = self.machine.spec(Role::Stable) {
            self.start(spec);
        }
    }

    /// A promotion was abandoned: stable stays. Its drain is called off
    /// (nothing is cut), stops and removals not yet begun are skipped, its
    /// replicas rejoin their pool as they were, and if none is left
    /// (already stopped) stable is started again.
    pub(super) fn restore_stable(&mut self) {
        if let Some(cancel) = self.work.drains[Role::Stable.index()].take() {
            cancel.cancel();
        }
        let kept = {
            let mut reg = ops::lock(&self.work.registry);
            self.work.tickets.call_off(Role::Stable);
            let mut kept = 0;
            for t in reg.values_mut().filter(|t| t.replica.role == Role::Stable) {
                if t.keep() {
                    kept += 1;
                }
            }
            kept
        };
        self.sync_pool(Role::Stable);
        if kept == 0 {
            self.emit(EventKind::Warning {
                message: "stable's replicas were already stopped: starting stable again".into(),
            });
        }
        self.ensure_stable();
    }
}

/// The resume effects run at once on a restore (before adoption): the
/// weight, the trips and the start of the guards' evidence.
fn quick_resume(e: &Effect) -> bool {
    matches!(
        e,
        Effect::SetWeight { .. } | Effect::ArmTrips { .. } | Effect::RestartEvidence { .. }
    )
}

/// The replicas the runtime lists that the persisted state does not own:
/// replacements to adopt and orphans to remove.
///
/// A runtime that replaces lost replicas itself (Swarm) may have started
/// some while the daemon was down: one of a version still here (the release
/// of a replica just adopted, whose role it takes: labels keep the role
/// given at start, and a promoted canary's replicas are stable now) belongs
/// to that version and is adopted with it, not removed as an orphan.
fn sort_unowned(
    listed: Vec<Replica>,
    owned: &BTreeMap<String, OwnedReplica>,
    present: Option<&BTreeSet<String>>,
    swarm: bool,
) -> (Vec<Replica>, Vec<Replica>) {
    let sibling = |r: &Replica| {
        owned
            .values()
            .find(|o| o.release == r.release && present.is_some_and(|p| p.contains(&o.id)))
            .map(|o| o.role)
    };
    let mut replacements = Vec::new();
    let mut orphans = Vec::new();
    for mut r in listed.into_iter().filter(|r| !owned.contains_key(&r.id)) {
        match sibling(&r).filter(|_| swarm) {
            Some(role) => {
                r.role = role;
                replacements.push(r);
            }
            None => orphans.push(r),
        }
    }
    (replacements, orphans)
}
