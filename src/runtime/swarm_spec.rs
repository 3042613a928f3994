//! The pure half of the Swarm runtime (`swarm.rs`): the service a version
//! becomes, what a Swarm task says about a replica, and how the task list
//! changes the set of replicas. No socket, no clock: table-tested below.
//!
//! A version is one replicated service. Its port is published in **host
//! mode** on a port the node picks (`PublishedPort` 0), so each task is
//! reached at its node's address and its own port, and cutover's per-replica
//! health checks, metrics and pool work as on plain Docker. Swarm replaces a
//! dead task (restart policy `any`); its own rolling update never rolls back
//! (`FailureAction` pause, one task at a time, start-first) and cutover never
//! asks for a Swarm rollback: a release is a new service, a rollback removes
//! the canary's service.

use super::VersionSpec;
use crate::plan::SwarmPlan;
use bollard::models::{
    EndpointPortConfig, EndpointPortConfigProtocolEnum, EndpointPortConfigPublishModeEnum,
    EndpointSpec, Limit, ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated,
    ServiceSpecUpdateConfig, ServiceSpecUpdateConfigFailureActionEnum,
    ServiceSpecUpdateConfigOrderEnum, Task, TaskSpec, TaskSpecContainerSpec, TaskSpecPlacement,
    TaskSpecResources, TaskSpecRestartPolicy, TaskSpecRestartPolicyConditionEnum, TaskState,
};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// How long Swarm waits before it replaces a dead task: short, so a lost
/// replica is back soon; not zero, so a crash loop does not spin.
pub const RESTART_DELAY: Duration = Duration::from_secs(1);

/// The grace a task gets when Swarm stops it on its own (a resize's
/// rolling update); cutover's own stops set the plan's `stop_grace`.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// The Swarm service that runs `spec`: `image` as resolved by the runtime,
/// `labels` on the service and on every task's container.
pub fn service_spec(
    name: &str,
    image: &str,
    spec: &VersionSpec,
    labels: &HashMap<String, String>,
    env: &[String],
    placement: &SwarmPlan,
) -> ServiceSpec {
    let h = &spec.hardening;
    let list = |v: &[String]| (!v.is_empty()).then(|| v.to_vec());
    ServiceSpec {
        name: Some(name.to_string()),
        labels: Some(labels.clone()),
        task_template: Some(TaskSpec {
            container_spec: Some(TaskSpecContainerSpec {
                image: Some(image.to_string()),
                labels: Some(labels.clone()),
                env: Some(env.to_vec()),
                stop_grace_period: Some(nanos(STOP_GRACE)),
                read_only: h.read_only.then_some(true),
                capability_add: list(&h.cap_add),
                capability_drop: list(&h.cap_drop),
                ..Default::default()
            }),
            resources: Some(TaskSpecResources {
                limits: Some(limits(spec.cpus, spec.memory, h.pids_limit)),
                ..Default::default()
            }),
            restart_policy: Some(TaskSpecRestartPolicy {
                condition: Some(TaskSpecRestartPolicyConditionEnum::ANY),
                delay: Some(nanos(RESTART_DELAY)),
                max_attempts: Some(0),
                window: Some(0),
            }),
            placement: Some(TaskSpecPlacement {
                constraints: list(&placement.placement),
                max_replicas: placement.max_replicas_per_node.map(i64::from),
                ..Default::default()
            }),
            ..Default::default()
        }),
        mode: Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated {
                replicas: Some(i64::from(spec.replicas)),
            }),
            ..Default::default()
        }),
        // Used only when cutover resizes a running version: one task at a
        // time, the new one before the old one goes, and a failure pauses
        // (never a Swarm rollback: cutover decides rollbacks).
        update_config: Some(ServiceSpecUpdateConfig {
            parallelism: Some(1),
            delay: Some(0),
            failure_action: Some(ServiceSpecUpdateConfigFailureActionEnum::PAUSE),
            order: Some(ServiceSpecUpdateConfigOrderEnum::START_FIRST),
            ..Default::default()
        }),
        endpoint_spec: Some(EndpointSpec {
            ports: Some(vec![EndpointPortConfig {
                protocol: Some(EndpointPortConfigProtocolEnum::TCP),
                target_port: Some(i64::from(spec.port)),
                // 0: each task's node picks a free port.
                published_port: Some(0),
                publish_mode: Some(EndpointPortConfigPublishModeEnum::HOST),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A task's resource limits.
pub fn limits(cpus: Option<f64>, memory: Option<u64>, pids: u32) -> Limit {
    Limit {
        nano_cpus: cpus.map(|c| (c * 1e9) as i64),
        memory_bytes: memory.map(|m| m as i64),
        pids: Some(i64::from(pids)),
    }
}

/// `spec` with new CPU and memory limits; `None` when it has them already
/// (nothing to update, no task replaced).
pub fn resized(spec: &ServiceSpec, cpus: Option<f64>, memory: Option<u64>) -> Option<ServiceSpec> {
    let mut spec = spec.clone();
    let resources = spec
        .task_template
        .get_or_insert_with(Default::default)
        .resources
        .get_or_insert_with(Default::default);
    let limits = resources.limits.get_or_insert_with(Default::default);
    let want = (cpus.map(|c| (c * 1e9) as i64), memory.map(|m| m as i64));
    if (limits.nano_cpus, limits.memory_bytes) == want {
        return None;
    }
    (limits.nano_cpus, limits.memory_bytes) = want;
    Some(spec)
}

/// `spec` asking for `replicas` tasks, and giving each `grace` between
/// SIGTERM and SIGKILL when Swarm stops it.
pub fn scaled(spec: &ServiceSpec, replicas: u32, grace: Duration) -> ServiceSpec {
    let mut spec = spec.clone();
    spec.mode = Some(ServiceSpecMode {
        replicated: Some(ServiceSpecModeReplicated {
            replicas: Some(i64::from(replicas)),
        }),
        ..Default::default()
    });
    if let Some(c) = spec
        .task_template
        .as_mut()
        .and_then(|t| t.container_spec.as_mut())
    {
        c.stop_grace_period = Some(nanos(grace));
    }
    spec
}

/// What one Swarm task says about its replica.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskView {
    pub task: String,
    pub node: String,
    pub container: Option<String>,
    pub state: TaskPhase,
    /// The host port the task's `target` port is published on.
    pub published: Option<u16>,
    /// Why Swarm could not run it (`no suitable node`, `No such image`).
    pub err: Option<String>,
}

/// Where a task is in its life, as cutover cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskPhase {
    /// Not running yet (scheduled, preparing, starting).
    Pending,
    Running,
    /// Done for good, with its container's exit code when it had one.
    Ended(Option<i64>),
}

/// A task as cutover reads it; `target` is the version's container port.
pub fn task_view(t: &Task, target: u16) -> Option<TaskView> {
    let status = t.status.as_ref();
    let state = match status.and_then(|s| s.state) {
        Some(TaskState::RUNNING) => TaskPhase::Running,
        Some(
            TaskState::COMPLETE
            | TaskState::SHUTDOWN
            | TaskState::FAILED
            | TaskState::REJECTED
            | TaskState::REMOVE
            | TaskState::ORPHANED,
        ) => TaskPhase::Ended(
            status
                .and_then(|s| s.container_status.as_ref())
                .and_then(|c| c.exit_code),
        ),
        _ => TaskPhase::Pending,
    };
    let published = status
        .and_then(|s| s.port_status.as_ref())
        .and_then(|p| p.ports.as_ref())
        .and_then(|ports| {
            ports
                .iter()
                .find(|p| p.target_port == Some(i64::from(target)))
                .and_then(|p| p.published_port)
        })
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0);
    Some(TaskView {
        task: t.id.clone()?,
        node: t.node_id.clone().unwrap_or_default(),
        container: status
            .and_then(|s| s.container_status.as_ref())
            .and_then(|c| c.container_id.clone())
            .filter(|c| !c.is_empty()),
        state,
        published,
        err: status.and_then(|s| s.err.clone()).filter(|e| !e.is_empty()),
    })
}

/// How the task list changed the replicas of one service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A running task this runtime has not handed out yet (Swarm's
    /// replacement of a lost one): a new replica.
    Appeared(TaskView),
    /// A replica's task is done, or gone from the list: its container's
    /// exit code when known.
    Ended {
        container: String,
        code: Option<i64>,
    },
}

/// Compare the replicas handed out for a service (`alive`: their
/// containers, still believed running) with its task list now.
pub fn changes(
    known: &HashSet<String>,
    alive: &HashSet<String>,
    tasks: &[TaskView],
) -> Vec<Change> {
    let mut out = Vec::new();
    let mut running = HashSet::new();
    for t in tasks {
        let Some(c) = &t.container else { continue };
        match t.state {
            TaskPhase::Running => {
                running.insert(c.clone());
                if !known.contains(c) && t.published.is_some() {
                    out.push(Change::Appeared(t.clone()));
                }
            }
            TaskPhase::Ended(code) if alive.contains(c) => out.push(Change::Ended {
                container: c.clone(),
                code,
            }),
            _ => {}
        }
    }
    let mut gone: Vec<&String> = alive
        .iter()
        .filter(|c| !running.contains(*c))
        .filter(|c| !tasks.iter().any(|t| t.container.as_ref() == Some(*c)))
        .collect();
    gone.sort();
    out.extend(gone.into_iter().map(|c| Change::Ended {
        container: c.clone(),
        code: None,
    }));
    out
}

/// Why the tasks of a service being started will not all run, if they
/// say so: a task that ended, or one Swarm cannot place.
pub fn start_failure(tasks: &[TaskView]) -> Option<String> {
    tasks.iter().find_map(|t| match (t.state, &t.err) {
        (TaskPhase::Ended(code), err) => Some(format!(
            "task {} ended before it served ({}{})",
            short(&t.task),
            code.map_or("no exit code".to_string(), |c| format!("exited {c}")),
            err.as_ref().map_or(String::new(), |e| format!(": {e}"))
        )),
        (TaskPhase::Pending, Some(err)) => {
            Some(format!("task {} cannot start: {err}", short(&t.task)))
        }
        _ => None,
    })
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Role;
    use bollard::models::{ContainerStatus, PortStatus, TaskStatus};

    fn spec() -> VersionSpec {
        VersionSpec {
            service: "shop".into(),
            role: Role::Canary,
            release: 3,
            version: "v2".into(),
            image: Some("shop:2".into()),
            command: None,
            upstreams: vec![],
            replicas: 2,
            port: 8080,
            env: Default::default(),
            cpus: Some(0.5),
            memory: Some(64 << 20),
            labels: Default::default(),
            pull: Default::default(),
            pinned: None,
            pass_env: vec![],
            hardening: Default::default(),
        }
    }

    fn task(id: &str, c: Option<&str>, state: TaskState, port: Option<i64>) -> Task {
        Task {
            id: Some(id.into()),
            node_id: Some("n1".into()),
            status: Some(TaskStatus {
                state: Some(state),
                container_status: Some(ContainerStatus {
                    container_id: c.map(Into::into),
                    exit_code: Some(137),
                    ..Default::default()
                }),
                port_status: Some(PortStatus {
                    ports: port.map(|p| {
                        vec![EndpointPortConfig {
                            target_port: Some(8080),
                            published_port: Some(p),
                            ..Default::default()
                        }]
                    }),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_service_publishes_in_host_mode_and_never_rolls_back_itself() {
        let plan = SwarmPlan {
            placement: vec!["node.role == worker".into()],
            max_replicas_per_node: Some(1),
        };
        let s = service_spec("svc", "shop:2", &spec(), &HashMap::new(), &[], &plan);
        let port = &s.endpoint_spec.unwrap().ports.unwrap()[0];
        assert_eq!(
            port.publish_mode,
            Some(EndpointPortConfigPublishModeEnum::HOST)
        );
        assert_eq!(port.published_port, Some(0));
        assert_eq!(port.target_port, Some(8080));
        let t = s.task_template.unwrap();
        let p = t.placement.unwrap();
        assert_eq!(p.constraints.unwrap(), vec!["node.role == worker"]);
        assert_eq!(p.max_replicas, Some(1));
        assert_eq!(
            t.restart_policy.unwrap().condition,
            Some(TaskSpecRestartPolicyConditionEnum::ANY)
        );
        let l = t.resources.unwrap().limits.unwrap();
        assert_eq!(l.nano_cpus, Some(500_000_000));
        assert_eq!(l.memory_bytes, Some(64 << 20));
        assert_eq!(
            s.update_config.unwrap().failure_action,
            Some(ServiceSpecUpdateConfigFailureActionEnum::PAUSE)
        );
        assert!(s.rollback_config.is_none());
        assert_eq!(s.mode.unwrap().replicated.unwrap().replicas, Some(2));
    }

    #[test]
    fn resize_and_scale_change_only_what_they_say() {
        let s = service_spec(
            "svc",
            "i",
            &spec(),
            &HashMap::new(),
            &[],
            &SwarmPlan::default(),
        );
        assert!(
            resized(&s, Some(0.5), Some(64 << 20)).is_none(),
            "same limits"
        );
        let r = resized(&s, Some(1.0), None).unwrap();
        let l = r.task_template.unwrap().resources.unwrap().limits.unwrap();
        assert_eq!((l.nano_cpus, l.memory_bytes), (Some(1_000_000_000), None));
        let z = scaled(&s, 0, Duration::from_millis(1500));
        assert_eq!(z.mode.unwrap().replicated.unwrap().replicas, Some(0));
        assert_eq!(
            z.task_template
                .unwrap()
                .container_spec
                .unwrap()
                .stop_grace_period,
            Some(1_500_000_000)
        );
    }

    #[test]
    fn task_views_read_state_container_and_port() {
        let v = task_view(
            &task("t1", Some("c1"), TaskState::RUNNING, Some(30001)),
            8080,
        )
        .unwrap();
        assert_eq!(v.state, TaskPhase::Running);
        assert_eq!(v.container.as_deref(), Some("c1"));
        assert_eq!(v.published, Some(30001));
        let v = task_view(&task("t2", Some("c2"), TaskState::FAILED, None), 8080).unwrap();
        assert_eq!(v.state, TaskPhase::Ended(Some(137)));
        let v = task_view(&task("t3", None, TaskState::PREPARING, Some(0)), 8080).unwrap();
        assert_eq!((v.state, v.published), (TaskPhase::Pending, None));
    }

    /// What it is, known, alive, the tasks, the changes.
    type Case = (
        &'static str,
        HashSet<String>,
        HashSet<String>,
        Vec<TaskView>,
        Vec<Change>,
    );

    #[test]
    fn the_task_list_drives_the_replicas() {
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<HashSet<_>>();
        let view = |id, c, state, port| task_view(&task(id, c, state, port), 8080).unwrap();
        let running_a = view("ta", Some("a"), TaskState::RUNNING, Some(1));
        let dead_a = view("ta", Some("a"), TaskState::FAILED, None);
        let running_b = view("tb", Some("b"), TaskState::RUNNING, Some(2));
        let starting_b = view("tb", Some("b"), TaskState::STARTING, None);
        let no_port_b = view("tb", Some("b"), TaskState::RUNNING, None);
        // (known, alive, tasks) → changes
        let table: Vec<Case> = vec![
            (
                "steady",
                set(&["a"]),
                set(&["a"]),
                vec![running_a.clone()],
                vec![],
            ),
            (
                "killed, replacement starting",
                set(&["a"]),
                set(&["a"]),
                vec![dead_a.clone(), starting_b.clone()],
                vec![Change::Ended {
                    container: "a".into(),
                    code: Some(137),
                }],
            ),
            (
                "replacement running",
                set(&["a"]),
                set(&[]),
                vec![dead_a.clone(), running_b.clone()],
                vec![Change::Appeared(running_b.clone())],
            ),
            (
                "running without its port yet",
                set(&[]),
                set(&[]),
                vec![no_port_b],
                vec![],
            ),
            (
                "task gone from the list",
                set(&["a"]),
                set(&["a"]),
                vec![],
                vec![Change::Ended {
                    container: "a".into(),
                    code: None,
                }],
            ),
            (
                "already reported",
                set(&["a"]),
                set(&[]),
                vec![dead_a],
                vec![],
            ),
        ];
        for (what, known, alive, tasks, want) in table {
            assert_eq!(changes(&known, &alive, &tasks), want, "{what}");
        }
    }

    #[test]
    fn a_start_fails_on_what_the_tasks_say() {
        let mut pending = task_view(&task("t1", None, TaskState::PENDING, None), 8080).unwrap();
        assert_eq!(start_failure(std::slice::from_ref(&pending)), None);
        pending.err = Some("no suitable node (scheduling constraints not satisfied)".into());
        assert!(
            start_failure(&[pending])
                .unwrap()
                .contains("cannot start: no suitable node")
        );
        let ended = task_view(&task("t2", Some("c"), TaskState::FAILED, None), 8080).unwrap();
        assert!(start_failure(&[ended]).unwrap().contains("exited 137"));
    }
}
