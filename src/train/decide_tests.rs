//! The decision core with plain values: services as hand-made states.

use super::*;
use crate::model::{
    BreachView, Guard, GuardVerdict, ReplicaStatus, ReplicaView, StepView, VersionStats,
    VersionView,
};
use crate::plan::train::{TrainEntry, TrainSpec};
use crate::train::model::{Previous, TrainStatus};

fn now() -> DateTime<Utc> {
    "2026-05-01T12:00:00Z".parse().unwrap()
}

fn version(role: Role, label: &str, replicas: usize) -> VersionView {
    VersionView {
        role,
        version: label.into(),
        image: label.into(),
        replicas: (0..replicas)
            .map(|i| ReplicaView {
                id: format!("{label}-{i}"),
                addr: format!("127.0.0.1:{}", 9000 + i),
                status: ReplicaStatus::Healthy,
                exit_code: None,
                cpu_percent: None,
                memory_bytes: None,
                memory_limit: None,
            })
            .collect(),
        stats: VersionStats::default(),
        cpus: None,
        memory: None,
        pinned: None,
        usage: None,
        drain: None,
    }
}

/// A service at rest on `stable` after `release` releases.
fn idle(service: &str, stable: &str, release: u64) -> StateView {
    StateView {
        service: service.into(),
        runtime: "process".into(),
        phase: Phase::Idle,
        release,
        weight_permille: 0,
        step: None,
        stable: version(Role::Stable, stable, 1),
        canary: None,
        guards: vec![],
        guards_muted: false,
        thresholds: Some(GuardPlan::default()),
        freeze: None,
        last_breach: None,
        last_outcome: None,
        failed_requests: None,
        public_addr: "127.0.0.1:1".into(),
        at: now(),
    }
}

fn with_canary(mut v: StateView, phase: Phase, canary: &str) -> StateView {
    v.phase = phase;
    v.weight_permille = STEPLESS_SHARE;
    v.canary = Some(version(Role::Canary, canary, 1));
    v
}

fn ended_as(mut v: StateView, stable: &str, outcome: Outcome) -> StateView {
    v.phase = Phase::Idle;
    v.canary = None;
    v.stable = version(Role::Stable, stable, 1);
    v.last_outcome = Some(outcome);
    v
}

fn train(entries: &[(&str, &[&str])], max_parallel: u32, rollback: RollbackScope) -> Train {
    let spec = TrainSpec {
        max_parallel,
        abort_on: AbortOn::FirstBreach,
        rollback,
        entries: entries
            .iter()
            .map(|(s, after)| TrainEntry {
                service: s.to_string(),
                image: format!("{s}-v2"),
                after: after.iter().map(|a| a.to_string()).collect(),
            })
            .collect(),
    };
    super::super::start::new_train(
        1,
        "t.toml",
        spec,
        "me",
        None,
        vec![],
        |s| Previous {
            deploy: format!("{s}-v1"),
            version: format!("{s}-v1"),
            image: format!("{s}-v1"),
            replicas: 1,
            cpus: None,
            memory: None,
        },
        now(),
    )
}

fn seen(views: &[StateView]) -> BTreeMap<String, Seen> {
    views
        .iter()
        .map(|v| {
            (
                v.service.clone(),
                Seen {
                    view: v.clone(),
                    freeze: None,
                },
            )
        })
        .collect()
}

fn asked(d: &Decision) -> Vec<(String, &'static str)> {
    d.cmds
        .iter()
        .map(|c| (c.service.clone(), c.action.name()))
        .collect()
}

fn phases(t: &Train) -> Vec<EntryPhase> {
    t.entries.iter().map(|e| e.phase).collect()
}

#[test]
fn starts_as_many_as_max_parallel_allows_and_respects_after() {
    let mut t = train(
        &[("a", &[]), ("b", &[]), ("c", &["a"])],
        2,
        RollbackScope::InFlight,
    );
    let views = [
        idle("a", "a-v1", 4),
        idle("b", "b-v1", 0),
        idle("c", "c-v1", 0),
    ];
    let d = decide(&mut t, &seen(&views), now());
    assert_eq!(asked(&d), [("a".into(), "deploy"), ("b".into(), "deploy")]);
    assert_eq!(
        t.entries[0].release,
        Some(5),
        "a deploy takes the next number"
    );
    assert_eq!(phases(&t)[2], EntryPhase::Waiting);
    // Restarted before the deploys happened: asked again; after: not.
    let again = decide(&mut t, &seen(&views), now());
    assert_eq!(asked(&again).len(), 2);
    let views = [
        with_canary(idle("a", "a-v1", 5), Phase::Canary, "a-v2"),
        idle("b", "b-v1", 1),
        idle("c", "c-v1", 0),
    ];
    let d = decide(&mut t, &seen(&views), now());
    assert!(asked(&d).is_empty(), "{d:?}");
    // a promoted: c may start (b still releasing: two in flight).
    let views = [
        ended_as(idle("a", "a", 5), "a-v2", Outcome::Promoted),
        with_canary(idle("b", "b-v1", 1), Phase::Canary, "b-v2"),
        idle("c", "c-v1", 0),
    ];
    let d = decide(&mut t, &seen(&views), now());
    assert_eq!(asked(&d), [("c".into(), "deploy")]);
    assert_eq!(
        phases(&t),
        [
            EntryPhase::Promoted,
            EntryPhase::Releasing,
            EntryPhase::Releasing
        ]
    );
}

#[test]
fn a_breach_aborts_rolls_back_what_is_in_flight_and_returns_what_was_promoted() {
    let mut t = train(&[("a", &[]), ("b", &[]), ("c", &[])], 2, RollbackScope::All);
    let _ = decide(
        &mut t,
        &seen(&[
            idle("a", "a-v1", 0),
            idle("b", "b-v1", 0),
            idle("c", "c-v1", 0),
        ]),
        now(),
    );
    let mut b = with_canary(idle("b", "b-v1", 1), Phase::RollingBack, "b-v2");
    b.last_breach = Some(BreachView {
        guard: Guard::TripAfter,
        value: 10.0,
        threshold: 10.0,
        detail: "10 failures in a row".into(),
        at: now(),
    });
    let views = [
        ended_as(idle("a", "a", 1), "a-v2", Outcome::Promoted),
        b.clone(),
        idle("c", "c-v1", 0),
    ];
    let d = decide(&mut t, &seen(&views), now());
    assert_eq!(t.status, TrainStatus::Aborting);
    assert!(
        t.abort_reason
            .as_deref()
            .unwrap()
            .contains("a guard breached in b"),
        "{t:?}"
    );
    assert_eq!(
        phases(&t),
        [
            EntryPhase::Restoring,
            EntryPhase::RollingBack,
            EntryPhase::Skipped
        ]
    );
    assert_eq!(asked(&d), [("a".into(), "deploy")], "a returns to a-v1");
    assert!(matches!(&d.cmds[0].action, Action::Deploy { image } if image == "a-v1"));
    // b's own guard rolled it back: failed. a's old version is up: muted, promoted.
    b.phase = Phase::Idle;
    b.canary = None;
    b.last_outcome = Some(Outcome::RolledBack);
    let a = with_canary(
        ended_as(idle("a", "a", 2), "a-v2", Outcome::Promoted),
        Phase::Canary,
        "a-v1",
    );
    let d = decide(&mut t, &seen(&[a, b.clone(), idle("c", "c-v1", 0)]), now());
    assert_eq!(phases(&t)[1], EntryPhase::Failed);
    assert_eq!(
        asked(&d),
        [("a".into(), "mute_guards"), ("a".into(), "promote")]
    );
    // Promoted back on one replica; it ran two before the train.
    t.entries[0].previous.replicas = 2;
    let a = ended_as(idle("a", "a", 2), "a-v1", Outcome::Promoted);
    let d = decide(
        &mut t,
        &seen(&[a.clone(), b.clone(), idle("c", "c-v1", 0)]),
        now(),
    );
    assert_eq!(asked(&d), [("a".into(), "scale")]);
    let mut a2 = a;
    a2.stable = version(Role::Stable, "a-v1", 2);
    let d = decide(&mut t, &seen(&[a2, b, idle("c", "c-v1", 0)]), now());
    assert_eq!(
        phases(&t),
        [
            EntryPhase::Restored,
            EntryPhase::Failed,
            EntryPhase::Skipped
        ]
    );
    assert_eq!(t.status, TrainStatus::Aborted);
    assert!(d.notes.last().unwrap().text.contains("aborted"), "{d:?}");
}

#[test]
fn in_flight_rollback_leaves_promoted_services_and_counts_failures() {
    let mut t = train(
        &[("a", &[]), ("b", &[]), ("c", &["b"])],
        1,
        RollbackScope::InFlight,
    );
    t.spec.abort_on = AbortOn::Failures(2);
    let _ = decide(
        &mut t,
        &seen(&[
            idle("a", "a-v1", 0),
            idle("b", "b-v1", 0),
            idle("c", "c-v1", 0),
        ]),
        now(),
    );
    let views = [
        ended_as(idle("a", "a", 1), "a-v1", Outcome::RolledBack),
        idle("b", "b-v1", 0),
        idle("c", "c-v1", 0),
    ];
    let d = decide(&mut t, &seen(&views), now());
    assert_eq!(t.status, TrainStatus::Running, "one failure of two allowed");
    assert_eq!(asked(&d), [("b".into(), "deploy")]);
    let views = [
        views[0].clone(),
        ended_as(idle("b", "b", 1), "b-v1", Outcome::Failed),
        idle("c", "c-v1", 0),
    ];
    let _ = decide(&mut t, &seen(&views), now());
    assert_eq!(t.status, TrainStatus::Aborted, "{t:?}");
    assert_eq!(
        phases(&t),
        [EntryPhase::Failed, EntryPhase::Failed, EntryPhase::Skipped]
    );
}

#[test]
fn a_freeze_window_that_starts_aborts_one_overridden_does_not() {
    let mut t = train(&[("a", &[])], 1, RollbackScope::InFlight);
    let window = Freeze {
        from: now(),
        until: now() + chrono::Duration::hours(1),
        reason: Some("launch".into()),
    };
    let mut s = seen(&[idle("a", "a-v1", 0)]);
    s.get_mut("a").unwrap().freeze = Some(window.clone());
    t.overridden = vec![("a".into(), window.clone())];
    let d = decide(&mut t, &s, now());
    assert_eq!(asked(&d), [("a".into(), "deploy")]);
    t.overridden.clear();
    let _ = decide(&mut t, &s, now());
    assert_eq!(t.status, TrainStatus::Aborted);
    assert!(
        t.abort_reason
            .as_deref()
            .unwrap()
            .contains("freeze window (\"launch\") started for a")
    );
    assert_eq!(phases(&t), [EntryPhase::RolledBack]);
}

#[test]
fn without_steps_the_train_sets_a_share_and_promotes_on_evidence_only() {
    let mut t = train(&[("a", &[])], 1, RollbackScope::InFlight);
    let _ = decide(&mut t, &seen(&[idle("a", "a-v1", 0)]), now());
    let mut a = with_canary(idle("a", "a-v1", 1), Phase::Canary, "a-v2");
    a.weight_permille = 0;
    let verdict = |status| GuardVerdict {
        name: Guard::MaxErrorRatio,
        value: None,
        threshold: 1.25,
        status,
        detail: String::new(),
        evidence: None,
    };
    a.guards = vec![verdict(GuardStatus::NotJudged)];
    let d = decide(&mut t, &seen(&[a.clone()]), now());
    assert_eq!(asked(&d), [("a".into(), "set_weight")]);
    a.weight_permille = STEPLESS_SHARE;
    let d = decide(&mut t, &seen(&[a.clone()]), now());
    assert!(asked(&d).is_empty(), "not judged is never a pass");
    a.guards = vec![verdict(GuardStatus::Pass)];
    let d = decide(&mut t, &seen(&[a.clone()]), now());
    assert_eq!(asked(&d), [("a".into(), "promote")]);
    // With steps, the service's plan promotes it: the train only watches.
    a.step = Some(StepView {
        index: 0,
        total: 2,
        weight_permille: 50,
        bake_remaining_ms: Some(500),
    });
    let d = decide(&mut t, &seen(&[a.clone()]), now());
    assert!(asked(&d).is_empty());
    // Never any evidence: rolled back after the guards' evidence_timeout.
    a.step = None;
    a.guards = vec![verdict(GuardStatus::NotJudged)];
    let later = now() + chrono::Duration::seconds(121);
    let d = decide(&mut t, &seen(&[a]), later);
    assert_eq!(asked(&d), [("a".into(), "rollback")]);
}

#[test]
fn a_refused_deploy_fails_its_entry_and_aborting_twice_is_refused() {
    let mut t = train(&[("a", &[]), ("b", &[])], 2, RollbackScope::InFlight);
    let d = decide(
        &mut t,
        &seen(&[idle("a", "a-v1", 0), idle("b", "b-v1", 0)]),
        now(),
    );
    let r = Refusal::new(RefusalCode::NotAllowed, "not a version");
    let _ = refused(&mut t, "a", &d.cmds[0].action, &r);
    assert_eq!(phases(&t)[0], EntryPhase::Failed);
    assert!(!transient(&r));
    let d = request_abort(&mut t, "by hand".into()).unwrap();
    assert!(d.notes[0].text.contains("aborting: by hand"));
    assert!(request_abort(&mut t, "again".into()).is_err());
}
