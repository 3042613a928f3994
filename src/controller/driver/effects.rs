//! Effects: what the machine asked for, carried out — weight, pools, ops
//! for the worker, hooks, the state file, events and the published view.

use super::*;

impl Driver {
    pub(super) fn execute(&mut self, fx: Vec<Effect>) {
        for e in fx {
            match e {
                Effect::SetWeight { permille, .. } => {
                    self.deps.router.set_weight(permille);
                }
                Effect::StartCanary { spec } => self.start(spec),
                Effect::Warmup => {
                    if let Some(w) = &self.deps.plan.warmup {
                        self.op(Op::Warmup {
                            role: Role::Canary,
                            path: w.path.clone(),
                            requests: w.requests,
                        });
                    }
                }
                Effect::ArmTrips { trips } => self.deps.router.arm_trips(trips),
                Effect::RestartEvidence { release } => self.restart_evidence(release),
                Effect::Drain { role, timeout } => {
                    self.leave_pool(role);
                    let cancel = CancellationToken::new();
                    self.work.drains[role.index()] = Some(cancel.clone());
                    self.op(Op::Drain {
                        role,
                        timeout,
                        cancel,
                    });
                }
                Effect::Stop { role, grace } => {
                    self.leave_pool(role);
                    let ticket = self.work.tickets.current(role);
                    self.op(Op::Stop {
                        role,
                        grace,
                        ticket,
                    });
                }
                Effect::Remove { role } => {
                    let ticket = self.work.tickets.current(role);
                    self.op(Op::Remove { role, ticket });
                }
                Effect::SwapRoles => self.swap_roles(),
                Effect::RestoreStable => self.restore_stable(),
                Effect::ResetMetrics { role } => self.deps.metrics.reset(role),
                Effect::Resize { role, cpus, memory } => self.op(Op::Resize { role, cpus, memory }),
                Effect::Scale {
                    role,
                    from,
                    to,
                    spec,
                } => self.scale(role, from, to, spec),
                Effect::RunHook { name, command } => self.run_hook(name, command),
                Effect::Persist => self.persist(),
                Effect::Emit(kind) => self.emit(kind),
            }
        }
    }

    pub(super) fn start(&mut self, mut spec: crate::runtime::VersionSpec) {
        if spec.role == Role::Stable {
            self.work.stable_starting = true;
        }
        spec.labels.extend(self.deps.labels.clone());
        self.op(Op::Start {
            spec: Box::new(spec),
        });
    }

    pub(super) fn op(&self, op: Op) {
        self.work
            .busy
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let _ = self.work.ops_tx.send(op);
    }

    /// A planned stop or drain: no new requests for `role`, at once.
    pub(super) fn leave_pool(&mut self, role: Role) {
        {
            let mut reg = ops::lock(&self.work.registry);
            for t in reg.values_mut().filter(|t| t.replica.role == role) {
                t.leave();
                if t.status.is_alive() {
                    t.status = ReplicaStatus::Draining;
                }
            }
        }
        self.deps.router.set_members(role, Vec::new());
    }

    /// Members of `role` = its healthy replicas not being stopped.
    pub(super) fn sync_pool(&self, role: Role) {
        let addrs: Vec<String> = ops::lock(&self.work.registry)
            .values()
            .filter(|t| {
                t.replica.role == role && t.status == ReplicaStatus::Healthy && !t.stage.leaving()
            })
            .map(|t| t.replica.addr.clone())
            .collect();
        self.deps.router.set_members(role, addrs);
    }

    /// The canary's replicas become the stable pool; then weight 0.
    pub(super) fn swap_roles(&mut self) {
        {
            let mut reg = ops::lock(&self.work.registry);
            for t in reg.values_mut().filter(|t| t.replica.role == Role::Canary) {
                t.replica.role = Role::Stable;
            }
        }
        self.sync_pool(Role::Stable);
        self.deps.router.set_weight(0);
        self.deps.router.set_members(Role::Canary, Vec::new());
    }

    /// The release a hook runs for, as `CUTOVER_*` variables: its number,
    /// phase and weight, both versions (and images), and how the last
    /// release ended.
    fn hook_context(&self) -> Vec<(&'static str, String)> {
        let st = self.machine.state();
        let mut ctx = vec![
            ("CUTOVER_RELEASE", st.release.to_string()),
            ("CUTOVER_PHASE", st.phase.to_string()),
            ("CUTOVER_WEIGHT_PERMILLE", st.weight_permille.to_string()),
            (
                "CUTOVER_STABLE_VERSION",
                crate::controller::version_label(&st.stable, "stable"),
            ),
        ];
        if let Some(image) = &st.stable.image {
            ctx.push(("CUTOVER_STABLE_IMAGE", image.clone()));
        }
        if let Some(c) = &st.canary {
            ctx.push((
                "CUTOVER_CANARY_VERSION",
                crate::controller::version_label(c, "canary"),
            ));
            if let Some(image) = &c.image {
                ctx.push(("CUTOVER_CANARY_IMAGE", image.clone()));
            }
        }
        if let Some(o) = st.last_outcome {
            ctx.push(("CUTOVER_OUTCOME", o.to_string()));
        }
        ctx
    }

    /// Run a hook in the state directory with a clean environment: of the
    /// daemon's own only what the plan's `pass_env` names, plus
    /// `CUTOVER_SERVICE`, `CUTOVER_HOOK` (its name) and the release's
    /// context ([`Driver::hook_context`]). A secret in the daemon's
    /// environment does not reach a hook.
    pub(super) fn run_hook(&self, name: String, command: Vec<String>) {
        let tx = self.back.reports_tx.clone();
        let dir = self.deps.state_dir.clone();
        let pass: Vec<(String, std::ffi::OsString)> = self
            .deps
            .plan
            .pass_env
            .iter()
            .filter_map(|k| std::env::var_os(k).map(|v| (k.clone(), v)))
            .collect();
        let service = self.deps.plan.service.clone();
        let context = self.hook_context();
        tokio::spawn(async move {
            let shown = command.join(" ");
            let mut cmd = tokio::process::Command::new(&command[0]);
            cmd.args(&command[1..])
                .current_dir(&dir)
                .env_clear()
                .envs(pass)
                .env("CUTOVER_SERVICE", service)
                .env("CUTOVER_HOOK", &name)
                .envs(context)
                .stdin(std::process::Stdio::null())
                .kill_on_drop(true);
            let note = match tokio::time::timeout(HOOK_TIMEOUT, cmd.output()).await {
                Ok(Ok(out)) => {
                    let text = String::from_utf8_lossy(&out.stdout).into_owned()
                        + "\n"
                        + &String::from_utf8_lossy(&out.stderr);
                    // A hook's output is outside text: its lines, cleaned
                    // (`crate::text`), on one line as the note is.
                    let text = crate::text::one_line(&text);
                    let tail: String = text
                        .chars()
                        .rev()
                        .take(2000)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect();
                    format!("hook {name} `{shown}` exited with {}: {tail}", out.status)
                }
                Ok(Err(e)) => format!("hook {name} `{shown}` could not run: {e}"),
                Err(_) => format!(
                    "hook {name} `{shown}` killed after {}s",
                    HOOK_TIMEOUT.as_secs()
                ),
            };
            let _ = tx.send(Report::Note(note));
        });
    }

    pub(super) fn persist(&mut self) {
        let replicas: Vec<OwnedReplica> = {
            let reg = ops::lock(&self.work.registry);
            let mut tracked: Vec<&Tracked> = reg.values().collect();
            tracked.sort_by_key(|t| t.born);
            tracked
                .into_iter()
                .map(|t| OwnedReplica {
                    serving: t.status == ReplicaStatus::Healthy && !t.stage.leaving(),
                    ..OwnedReplica::from(&t.replica)
                })
                .collect()
        };
        let state = PersistedState::new(
            self.deps.plan.service.clone(),
            self.machine.state().clone(),
            replicas,
            Utc::now(),
        );
        self.out.writer.submit(state);
    }

    pub(super) fn emit(&mut self, kind: EventKind) {
        self.out.seq += 1;
        let event = Event {
            seq: self.out.seq,
            at: Utc::now(),
            kind,
        };
        if let Some(j) = &self.deps.journal {
            j.record(&event);
        }
        self.out.events.send(event);
    }

    pub(super) fn view(&self) -> StateView {
        let reg = ops::lock(&self.work.registry);
        view::build(&ViewParts {
            machine: &self.machine,
            replicas: &reg,
            metrics: &self.deps.metrics,
            router: &self.deps.router,
            guards: &self.judging.guards,
            usage: &self.usage,
            public_addr: &self.deps.public_addr,
            runtime: self.kind,
            now: Utc::now(),
        })
    }

    pub(super) fn publish(&mut self) -> StateView {
        let v = self.view();
        self.judging.canary_since_tick |= v.canary.is_some();
        // Testers may name a version by its string (`[proxy.preview]`).
        self.deps.router.set_version_names([
            v.stable.version.as_str(),
            v.canary.as_ref().map_or("", |c| c.version.as_str()),
        ]);
        if let Some(tx) = &self.out.state_tx {
            tx.send_replace(v.clone());
        }
        let in_force = self.machine.state().guard(self.machine.plan());
        self.out.guard_tx.send_if_modified(|g| {
            let changed = g != in_force;
            if changed {
                *g = in_force.clone();
            }
            changed
        });
        v
    }
}
