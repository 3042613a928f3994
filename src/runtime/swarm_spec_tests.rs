//! Tests of `swarm_spec.rs`, kept beside it so the file itself reads as code.

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
