//! Inputs: commands, the worker's reports, health transitions, runtime
//! events and resource stats, each fed to the machine (the guards, the
//! proxy's trips and the per-second tick are in `evidence.rs`).

use super::*;

impl Driver {
    pub(super) fn command(&mut self, cmd: Command) {
        let Command { request, reply } = cmd;
        if request.action == crate::model::Action::UndoPromote {
            self.settle_undo();
        }
        match self
            .machine
            .apply(Input::Action(request.clone()), Utc::now())
        {
            Ok(fx) => {
                let detail = fx
                    .iter()
                    .find_map(|e| match e {
                        Effect::Emit(EventKind::Action {
                            ok: true, detail, ..
                        }) => Some(detail.clone()),
                        _ => None,
                    })
                    .unwrap_or_else(|| "done".into());
                let saved = self.out.writer.generation();
                self.execute(fx);
                let state = self.publish();
                let answer = Ok(ActionReply {
                    detail,
                    state: Box::new(state),
                });
                if self.out.writer.generation() == saved {
                    let _ = reply.send(answer);
                } else {
                    // Answered once the change is on disk, without waiting here.
                    let durable = self.out.writer.durable(self.out.writer.generation());
                    tokio::spawn(async move {
                        durable.await;
                        let _ = reply.send(answer);
                    });
                }
            }
            Err(refusal) => {
                self.emit(refused_event(&request, &refusal));
                let _ = reply.send(Err(refusal));
            }
        }
    }

    /// Feed a fact (facts are never refused).
    pub(super) fn feed(&mut self, input: Input) {
        match self.machine.apply(input, Utc::now()) {
            Ok(fx) => self.execute(fx),
            Err(r) => tracing::error!(refusal = ?r, "the release machine refused a fact"),
        }
    }

    /// What the worker reports. Its texts quote the runtime (a start that
    /// failed, a stop or removal that did not work, a hook's output): they
    /// enter the model here, cleaned, whichever runtime wrote them.
    pub(super) fn report(&mut self, mut r: Report) {
        match &mut r {
            Report::Started {
                result: Err(detail),
                ..
            }
            | Report::Scaled {
                result: Err(detail),
                ..
            }
            | Report::Note(detail) => crate::text::clean_in_place(detail),
            _ => {}
        }
        if let Report::Started {
            role: Role::Stable, ..
        } = r
        {
            self.work.stable_starting = false;
        }
        match r {
            Report::Started {
                role,
                result: Ok(replicas),
            } => self.started(role, replicas),
            Report::Started {
                role: Role::Canary,
                result: Err(detail),
            } => {
                self.feed(Input::CanaryStartFailed { detail });
            }
            Report::Started {
                role: Role::Stable,
                result: Err(detail),
            } => {
                self.emit(EventKind::Warning {
                    message: format!("stable could not start: {detail}"),
                });
            }
            Report::Scaled {
                role,
                from,
                to,
                result,
            } => self.scaled_up(role, from, to, result),
            Report::Fact(input) => self.worker_fact(input),
            Report::Note(message) => self.emit(EventKind::Warning { message }),
            Report::Pull { role, report } => {
                // Layer ids and digests are the engine's (the registry's) words.
                let mut kind = EventKind::Pull {
                    role,
                    image: report.image,
                    layers: report.layers,
                    done: report.done,
                    digest: report.digest,
                };
                crate::text::CleanText::clean_text(&mut kind);
                self.emit(kind);
            }
        }
    }

    /// Replicas the worker started: each is journaled and gets its health
    /// checks (unless it is already being stopped); a canary's go to the
    /// machine.
    fn started(&mut self, role: Role, replicas: Vec<Replica>) {
        self.watch_started(role, &replicas, "");
        if role == Role::Canary {
            let ids = replicas.iter().map(|r| r.id.clone()).collect();
            self.feed(Input::CanaryStarted { replicas: ids });
        }
        self.persist();
    }

    /// Started replicas: each journaled ("started at ADDR" and `why`) and
    /// health checked, unless it is already leaving.
    pub(super) fn watch_started(&mut self, role: Role, replicas: &[Replica], why: &str) {
        for rep in replicas {
            self.emit(EventKind::Replica {
                role,
                replica: rep.id.clone(),
                status: ReplicaStatus::Starting,
                detail: format!("started at {}{why}", rep.addr),
            });
            let handle = self.deps.health.spawn(
                rep.clone(),
                self.deps.plan.health.clone(),
                false,
                self.back.health_tx.clone(),
            );
            match ops::lock(&self.work.registry).get_mut(&rep.id) {
                Some(t) if !t.stage.leaving() => t.health = Some(handle),
                _ => handle.abort(),
            }
        }
    }

    /// A fact the worker found out (a removal done, a drain finished).
    fn worker_fact(&mut self, input: Input) {
        let removed = matches!(input, Input::Removed { .. });
        let stable_gone = matches!(input, Input::Removed { role: Role::Stable });
        self.feed(input);
        if stable_gone {
            // A removal that had begun before a promotion was
            // abandoned (or an inconsistent restore): stable again.
            self.ensure_stable();
        }
        if removed {
            self.persist();
        }
    }

    /// A health transition. Its detail is what the checker saw (for the
    /// HTTP checker: what the replica answered): outside text, cleaned here
    /// as it enters the model, whichever checker sent it.
    pub(super) fn health(&mut self, mut h: HealthEvent) {
        crate::text::clean_in_place(&mut h.detail);
        let role = {
            let mut reg = ops::lock(&self.work.registry);
            let Some(t) = reg.get_mut(&h.replica_id) else {
                return;
            };
            if t.stage.leaving() || !t.status.is_alive() || t.status == h.status {
                return;
            }
            t.status = h.status;
            t.replica.role
        };
        self.emit(EventKind::Replica {
            role,
            replica: h.replica_id.clone(),
            status: h.status,
            detail: h.detail,
        });
        self.sync_pool(role);
        let id = h.replica_id;
        self.feed(match h.status {
            ReplicaStatus::Healthy => Input::ReplicaHealthy { role, id },
            _ => Input::ReplicaUnhealthy { role, id },
        });
        // Who is in a pool is on record: a restart adopts a replica that
        // was not out of the pool until it is healthy.
        self.persist();
    }

    pub(super) fn runtime_event(&mut self, ev: RuntimeEvent) {
        match ev {
            RuntimeEvent::Exited {
                id,
                code,
                oom_killed,
            } => {
                let (role, planned, status) = {
                    let mut reg = ops::lock(&self.work.registry);
                    let Some(t) = reg.get_mut(&id) else { return };
                    t.exit_code = Some(code);
                    if let Some(h) = t.health.take() {
                        h.abort();
                    }
                    // The OOM killer is never a planned stop, even mid-drain.
                    t.status = if oom_killed {
                        ReplicaStatus::OomKilled
                    } else if t.stage.leaving() {
                        ReplicaStatus::Stopped
                    } else {
                        ReplicaStatus::Exited
                    };
                    (t.replica.role, t.stage.leaving(), t.status)
                };
                let how = crate::runtime::exit_detail(code, oom_killed);
                // The detail begins with what happened, so it reads whole
                // on its own ("stopped (exit 0)"); clients word it with
                // `model::replica_phrase`, which never repeats the status.
                let detail = if status == ReplicaStatus::Stopped {
                    let code = how
                        .strip_prefix("exited ")
                        .filter(|c| c.parse::<i64>().is_ok());
                    format!(
                        "stopped ({})",
                        code.map_or(how.clone(), |c| format!("exit {c}"))
                    )
                } else {
                    format!("{how} (on its own)")
                };
                self.emit(EventKind::Replica {
                    role,
                    replica: id.clone(),
                    status,
                    detail: detail.clone(),
                });
                if !planned {
                    self.sync_pool(role);
                    self.feed(Input::ReplicaExited { role, id, detail });
                    self.heal();
                    let alive = ops::lock(&self.work.registry)
                        .values()
                        .filter(|t| t.replica.role == Role::Stable && t.status.is_alive())
                        .count();
                    if role == Role::Stable && alive == 0 {
                        self.emit(EventKind::Warning {
                            message: "stable has no replica left: requests it should serve fail until one is back".into(),
                        });
                    }
                }
            }
            RuntimeEvent::Appeared { replica } => self.appeared(replica),
            // The engine's words: outside text (cleaned whichever runtime said it).
            RuntimeEvent::Reachable { ok, detail } => self.emit(EventKind::Warning {
                message: crate::text::clean_owned(if ok {
                    format!("runtime reachable again: {detail}")
                } else {
                    format!("runtime unreachable: {detail}")
                }),
            }),
        }
    }

    /// A replica the runtime started in place of a lost one (Swarm): it is
    /// tracked and health-checked like one this daemon started, and joins
    /// its pool when healthy, but only while its version still runs here
    /// (a replica of the same release, not being stopped).
    fn appeared(&mut self, mut replica: crate::runtime::Replica) {
        crate::text::clean_in_place(&mut replica.version);
        // Its version by release (the runtime's labels keep the role given
        // at start: a promoted canary's replacement serves as stable).
        let role = {
            let reg = ops::lock(&self.work.registry);
            if reg.contains_key(&replica.id) {
                return;
            }
            let sibling = reg
                .values()
                .find(|t| t.replica.release == replica.release && !t.stage.leaving());
            match sibling {
                Some(t) => t.replica.role,
                None => return,
            }
        };
        replica.role = role;
        let handle = self.deps.health.spawn(
            replica.clone(),
            self.deps.plan.health.clone(),
            false,
            self.back.health_tx.clone(),
        );
        let mut t = Tracked::new(replica.clone(), ReplicaStatus::Starting);
        t.health = Some(handle);
        {
            // It takes the place of one of its version's dead replicas,
            // which leaves the list (its exit is in the journal; the
            // runtime removes what is left of it with its version).
            let mut reg = ops::lock(&self.work.registry);
            let dead = reg
                .iter()
                .find(|(_, d)| {
                    d.replica.release == replica.release
                        && !d.status.is_alive()
                        && !d.stage.leaving()
                })
                .map(|(id, _)| id.clone());
            if let Some(dead) = dead {
                reg.remove(&dead);
            }
            reg.insert(replica.id.clone(), t);
        }
        self.emit(EventKind::Replica {
            role,
            replica: replica.id.clone(),
            status: ReplicaStatus::Starting,
            detail: format!(
                "started at {} by the runtime, in place of a lost or replaced replica",
                replica.addr
            ),
        });
        if role == Role::Canary {
            self.feed(Input::ReplicaAppeared {
                role,
                id: replica.id,
            });
        }
        self.persist();
    }

    pub(super) fn sample_stats(&mut self) {
        if self.back.sampling {
            return;
        }
        let replicas: Vec<Replica> = ops::lock(&self.work.registry)
            .values()
            .filter(|t| t.status.is_alive())
            .map(|t| t.replica.clone())
            .collect();
        if replicas.is_empty() {
            return;
        }
        self.back.sampling = true;
        let runtime = self.deps.runtime.clone();
        let tx = self.back.stats_tx.clone();
        tokio::spawn(async move {
            let mut out = Vec::new();
            for r in replicas {
                if let Ok(s) = runtime.stats(&r).await {
                    out.push((r.id, s));
                }
            }
            let _ = tx.send(out);
        });
    }

    pub(super) fn stats(&mut self, samples: Vec<(String, ReplicaStats)>) {
        self.back.sampling = false;
        let mut reg = ops::lock(&self.work.registry);
        let mut by_role: [Vec<ReplicaStats>; 2] = Default::default();
        for (id, s) in samples {
            if let Some(t) = reg.get_mut(&id) {
                by_role[t.replica.role.index()].push(s.clone());
                t.stats = s;
            }
        }
        drop(reg);
        let now = std::time::Instant::now();
        let st = self.machine.state();
        let versions = [Some(&st.stable), st.canary.as_ref()];
        for role in Role::ALL {
            if let Some(v) = versions[role.index()] {
                let name = v.version.clone().unwrap_or_else(|| v.label(role.as_str()));
                self.usage[role.index()].record(&name, now, &by_role[role.index()]);
            }
        }
        self.autoscale_sample();
    }
}
