//! `scale ROLE N` and `undo_promote` in the release machine: what is
//! refused up front (nothing changed), what is recorded, and the facts that
//! end a scale.

use crate::support::controller as support;

use cutover::controller::machine::codes;
use cutover::controller::{Effect, Input, Machine};
use cutover::model::{Action, EventKind, Phase, Role};
use support::*;

fn scale(role: Role, replicas: u32) -> Input {
    act(Action::Scale { role, replicas })
}

fn scale_effect(fx: &[Effect]) -> Option<(Role, u32, u32, u32)> {
    fx.iter().find_map(|e| match e {
        Effect::Scale {
            role,
            from,
            to,
            spec,
        } => Some((*role, *from, *to, spec.replicas)),
        _ => None,
    })
}

fn detail(fx: &[Effect]) -> String {
    fx.iter()
        .find_map(|e| match e {
            Effect::Emit(EventKind::Action {
                ok: true, detail, ..
            }) => Some(detail.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

fn refused(m: &mut Machine, input: Input) -> cutover::model::Refusal {
    let before = m.state().clone();
    let r = m.apply(input, t0()).expect_err("refused");
    assert_eq!(m.state(), &before, "a refusal changed the state");
    assert!(r.message.starts_with("cannot ") || r.message.starts_with("too late"));
    r
}

#[test]
fn scaling_stable_records_the_count_and_asks_the_driver() {
    let mut m = machine_in(plan(), Phase::Idle);
    let fx = ok(&mut m, scale(Role::Stable, 3), t0());
    assert_eq!(scale_effect(&fx), Some((Role::Stable, 2, 3, 3)));
    assert_eq!(detail(&fx), "stable replicas 2 → 3");
    assert_eq!(m.state().stable.replicas, 3);
    assert_eq!(fx.last(), Some(&Effect::Persist));
    // The count on record is what a restart starts.
    assert_eq!(m.spec(Role::Stable).unwrap().replicas, 3);
}

#[test]
fn a_scale_under_way_makes_the_next_one_wait() {
    let mut m = machine_in(plan(), Phase::Canary);
    ok(&mut m, scale(Role::Stable, 4), t0());
    let r = refused(&mut m, scale(Role::Stable, 1));
    assert_eq!(r.code, codes::BUSY, "{r:?}");
    // The other role is not held up.
    ok(&mut m, scale(Role::Canary, 3), t0());
    ok(
        &mut m,
        Input::Scaled {
            role: Role::Stable,
            started: vec!["s3".into(), "s4".into()],
            stopped: vec![],
        },
        t0(),
    );
    let fx = ok(&mut m, scale(Role::Stable, 1), t0());
    assert_eq!(scale_effect(&fx), Some((Role::Stable, 4, 1, 1)));
}

#[test]
fn the_same_count_is_accepted_and_changes_nothing() {
    let mut m = machine_in(plan(), Phase::Idle);
    let before = m.state().clone();
    let fx = ok(&mut m, scale(Role::Stable, 2), t0());
    assert_eq!(scale_effect(&fx), None);
    assert_eq!(detail(&fx), "stable already runs 2 replicas");
    assert_eq!(m.state(), &before);
}

#[test]
fn counts_out_of_range_and_fixed_runtimes_are_refused_up_front() {
    let mut m = machine_in(plan(), Phase::Canary);
    for n in [0, 65, u32::MAX] {
        let r = refused(&mut m, scale(Role::Stable, n));
        assert_eq!(r.code, codes::OUT_OF_RANGE);
        assert!(r.message.contains("1–64"), "{}", r.message);
    }
    let statik = plan_text(
        r#"
service = "shop"
runtime = "static"
[stable]
upstreams = ["127.0.0.1:9001"]
"#,
    );
    let mut m = machine_in(statik, Phase::Idle);
    let r = refused(&mut m, scale(Role::Stable, 2));
    assert_eq!(r.code, codes::NOT_SUPPORTED);
    assert!(r.message.contains("fixed in the plan"), "{}", r.message);
}

#[test]
fn a_scale_up_that_cannot_start_puts_the_count_back() {
    let mut m = machine_in(plan(), Phase::Idle);
    ok(&mut m, scale(Role::Stable, 5), t0());
    let fx = ok(
        &mut m,
        Input::ScaleFailed {
            role: Role::Stable,
            from: 2,
            to: 5,
            detail: "no such image".into(),
        },
        t0(),
    );
    assert_eq!(m.state().stable.replicas, 2);
    assert!(fx.iter().any(|e| matches!(e,
        Effect::Emit(EventKind::Warning { message }) if message.contains("stays at 2 replicas"))));
    // Not busy any more.
    ok(&mut m, scale(Role::Stable, 3), t0());
}

#[test]
fn a_canary_scale_counts_its_replicas_without_restarting_the_release() {
    let mut m = machine_in(plan(), Phase::Canary);
    let fx = ok(&mut m, scale(Role::Canary, 3), t0());
    assert_eq!(scale_effect(&fx), Some((Role::Canary, 2, 3, 3)));
    let fx = ok(
        &mut m,
        Input::Scaled {
            role: Role::Canary,
            started: vec!["c3".into()],
            stopped: vec![],
        },
        t0(),
    );
    assert!(
        !fx.iter()
            .any(|e| matches!(e, Effect::Emit(EventKind::Phase { .. }))),
        "{fx:?}"
    );
    assert_eq!(m.state().phase, Phase::Canary);
    assert_eq!(m.state().alive_canaries(), 3);
    ok(&mut m, scale(Role::Canary, 1), t0());
    ok(
        &mut m,
        Input::Scaled {
            role: Role::Canary,
            started: vec![],
            stopped: vec!["c3".into(), "c2".into()],
        },
        t0(),
    );
    assert_eq!(m.state().alive_canaries(), 1);
    // Promoted, the canary's count is stable's.
    ok(&mut m, act(Action::Promote { force: false }), t0());
    ok(&mut m, Input::Removed { role: Role::Stable }, t0());
    assert_eq!(m.state().stable.replicas, 1);
}

#[test]
fn undo_gives_stable_its_traffic_back_and_pauses() {
    let mut m = machine_in(plan(), Phase::Canary);
    ok(&mut m, act(Action::SetWeight { permille: 250 }), t0());
    ok(&mut m, act(Action::Promote { force: false }), t0());
    assert_eq!(m.state().weight_permille, 1000);
    let fx = ok(&mut m, act(Action::UndoPromote), t0());
    let restore = pos(&fx, |e| *e == Effect::RestoreStable).expect("stable restored");
    let weight = pos(&fx, |e| {
        matches!(e, Effect::SetWeight { permille: 250, .. })
    })
    .expect("weight back");
    assert!(
        restore < weight,
        "stable back in its pool before traffic moves: {fx:?}"
    );
    assert_eq!(m.state().phase, Phase::Paused);
    assert_eq!(m.state().weight_permille, 250);
    assert_eq!(m.state().removing, None);
    assert!(m.state().canary.is_some());
    // Promoting again works, and its stop beginning makes it too late.
    ok(&mut m, act(Action::Promote { force: false }), t0());
    ok(&mut m, Input::StopBegun { role: Role::Stable }, t0());
    let r = refused(&mut m, act(Action::UndoPromote));
    assert_eq!(r.code, codes::ILLEGAL_IN_PHASE);
    assert!(
        r.message
            .starts_with("too late to undo: stable is already stopping; roll back instead"),
        "{}",
        r.message
    );
}

#[test]
fn a_restart_keeps_what_undo_needs() {
    let mut m = machine_in(plan(), Phase::Canary);
    ok(&mut m, act(Action::SetWeight { permille: 100 }), t0());
    ok(&mut m, act(Action::Promote { force: false }), t0());
    let saved: cutover::controller::ReleaseState =
        serde_json::from_str(&serde_json::to_string(m.state()).unwrap()).unwrap();
    let mut m = Machine::restore(plan(), saved);
    ok(&mut m, act(Action::UndoPromote), t0());
    assert_eq!(m.state().weight_permille, 100);
    // And a scaled count.
    ok(&mut m, scale(Role::Stable, 4), t0());
    let saved: cutover::controller::ReleaseState =
        serde_json::from_str(&serde_json::to_string(m.state()).unwrap()).unwrap();
    let mut m = Machine::restore(plan(), saved);
    assert_eq!(m.state().stable.replicas, 4);
    // What was under way ended with the old daemon.
    ok(&mut m, scale(Role::Stable, 2), t0());
}
