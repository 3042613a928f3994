//! The drain view, through a real proxy: while a rollback drains the
//! canary, the state says what is still in flight on it, how old the oldest
//! request is, how many sticky clients it had, and when the rest is cut;
//! once the drain is over it says nothing.

use crate::controller_driver::{act, deploy, get, rig};
use crate::support::wait::eventually;
use cutover::model::{Action, Phase, Role};
use std::sync::atomic::Ordering;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_version_shows_what_is_left_and_when_it_is_cut() {
    let r = rig("drain-view", "[proxy]\nsticky = { header = \"X-User\" }").await;
    let http = crate::support::http();
    let url = format!("http://{}/", r.proxy.addr);
    deploy(&r.handle, "").await;
    act(&r.handle, Action::SetWeight { permille: 1000 })
        .await
        .unwrap();
    // 40 sticky clients, three requests each: 40 clients, not 120.
    for round in 0..3 {
        for user in 0..40 {
            let res = http
                .get(&url)
                .header("X-User", format!("user-{user}"))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200, "round {round}, user {user}");
        }
    }
    r.runtime.knobs("v2").slow_ms.store(5000, Ordering::SeqCst);
    let slow = tokio::spawn(get(http.clone(), format!("http://{}/slow", r.proxy.addr)));
    let metrics = r.proxy.metrics.clone();
    eventually(5, "the slow request on the canary", || {
        metrics.in_flight(Role::Canary) == 1
    })
    .await;
    assert_eq!(r.handle.state().canary.unwrap().drain, None, "no drain yet");
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let asked = chrono::Utc::now();
    act(&r.handle, Action::Rollback).await.unwrap();
    let h = r.handle.clone();
    eventually(2, "the canary's drain in the state", || {
        h.state().canary.is_some_and(|c| c.drain.is_some())
    })
    .await;
    let d = r.handle.state().canary.unwrap().drain.unwrap();
    assert_eq!(d.in_flight, 1, "{d:?}");
    assert!(d.oldest_secs.is_some_and(|s| s >= 1), "{d:?}");
    let clients = d.sticky_clients.expect("sticky is on");
    assert!((37..=43).contains(&clients), "about 40 clients: {d:?}");
    assert!(!d.sticky_at_least);
    let left = d.deadline - asked;
    assert!(
        left > chrono::Duration::zero() && left <= chrono::Duration::milliseconds(1500),
        "cut about drain.timeout (1 s) after the rollback: {left}"
    );
    assert_eq!(
        r.handle.state().stable.drain,
        None,
        "stable is not draining"
    );

    assert_eq!(slow.await.unwrap().1, 504, "cut at the drain timeout");
    eventually(10, "rolled back, no drain shown", || {
        let s = h.state();
        s.phase == Phase::Idle && s.canary.as_ref().is_none_or(|c| c.drain.is_none())
    })
    .await;
    r.task.abort();
}
