//! What a restarted controller makes of the replicas it adopts (the
//! controller task with in-test replicas, "killed" by aborting it): they
//! are taken up in the order saved, oldest first, so converging on a
//! smaller recorded count retires the newest as a scale-down does; and one
//! that was out of its pool when saved stays out until its health checks
//! pass, where one that served goes back in at once.

use crate::controller_driver::{Rig, act, rig, start_with};
use crate::support::controller as support;
use crate::support::wait::{eventually, poll};

use cutover::controller::persist;
use cutover::model::{Action, EventKind, ReplicaStatus, Role};
use std::sync::Arc;
use std::time::Duration;
use support::*;

/// "Kill" the rig's controller; the state it left on disk once the save
/// it was handed last (the writer finishes it) has `n` replicas, all
/// serving.
async fn killed(r: &Rig, service: &str, n: usize) -> persist::PersistedState {
    r.task.abort();
    let saved = || async {
        persist::load(r.dir.path(), service)
            .state
            .filter(|s| s.replicas.len() == n && s.replicas.iter().all(|o| o.serving))
    };
    poll(Duration::from_secs(5), Duration::from_millis(10), saved)
        .await
        .expect("the last state saved")
}

fn stable_running(rt: &TestRuntime) -> Vec<String> {
    rt.running()
        .into_iter()
        .filter(|r| r.role == Role::Stable)
        .map(|r| r.id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_smaller_recorded_count_retires_the_newest_adopted_replicas() {
    let service = "drv-conv-down";
    let plan = driver_plan(service, "");
    let r = rig(service, "").await;
    let first: Vec<String> = (r.handle.state().stable.replicas.iter())
        .map(|v| v.id.clone())
        .collect();
    act(
        &r.handle,
        Action::Scale {
            role: Role::Stable,
            replicas: 3,
        },
    )
    .await
    .unwrap();
    let h = r.handle.clone();
    eventually(5, "three healthy", || h.state().stable.healthy() == 3).await;
    let mut saved = killed(&r, service, 3).await;
    let order: Vec<String> = saved.replicas.iter().map(|o| o.id.clone()).collect();
    assert!(!first.contains(&order[2]), "saved oldest first: {order:?}");
    // As if `scale stable 1` was accepted and the daemon died before
    // retiring anything.
    saved.release.stable.replicas = 1;
    let journal = Recorder::default();
    let proxy = TestProxy::start(&plan).await;
    let (handle, task) = start_with(&plan, &proxy, &r.runtime, r.dir.path(), Some(saved), |d| {
        d.journal = Some(Arc::new(journal.clone()))
    });
    let rt = r.runtime.clone();
    eventually(10, "one stable replica left", || {
        stable_running(&rt).len() == 1 && handle.state().stable.replicas.len() == 1
    })
    .await;
    assert_eq!(stable_running(&rt), [order[0].clone()], "the oldest stays");
    assert_eq!(proxy.router.members(Role::Stable).len(), 1);
    assert!(
        journal
            .warnings()
            .contains(&"restart: stable runs 3 of 1 replica: retiring the newest 2".to_string()),
        "{:?}",
        journal.warnings()
    );
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_saved_out_of_its_pool_rejoins_only_once_healthy() {
    let service = "drv-conv-pool";
    let plan = driver_plan(service, "");
    let r = rig(service, "").await;
    let mut saved = killed(&r, service, 2).await;
    // Say the second was still starting (a scale's) when the daemon died.
    saved.replicas[1].serving = false;
    let (served, unproven) = (saved.replicas[0].id.clone(), saved.replicas[1].id.clone());
    let journal = Recorder::default();
    let proxy = TestProxy::start(&plan).await;
    let (handle, task) = start_with(&plan, &proxy, &r.runtime, r.dir.path(), Some(saved), |d| {
        d.journal = Some(Arc::new(journal.clone()))
    });
    let router = proxy.router.clone();
    eventually(5, "both in the pool", || {
        router.members(Role::Stable).len() == 2
    })
    .await;
    let healthy_reports: Vec<String> = journal
        .kinds()
        .into_iter()
        .filter_map(|k| match k {
            EventKind::Replica {
                replica,
                status: ReplicaStatus::Healthy,
                ..
            } => Some(replica),
            _ => None,
        })
        .collect();
    // Only the one that was out had to pass a check to get in.
    assert_eq!(healthy_reports, [unproven], "{served} went straight in");
    assert_eq!(handle.state().stable.healthy(), 2);
    task.abort();
}
