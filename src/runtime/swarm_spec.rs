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
#[path = "swarm_spec_tests.rs"]
mod tests;
