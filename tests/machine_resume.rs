//! The release machine after a daemon restart ([`Machine::restore`], then
//! [`Machine::resumed`] once the driver adopted what still runs): a start
//! or warm-up the kill cut short is taken up again and carries on as it
//! would have without the kill, or fails with a reason; the other phases
//! resume from their own effects.

use crate::support::controller as support;
use cutover::controller::{Effect, Input, Machine};
use cutover::model::{Phase, Role};
use support::*;

const WARMUP: &str = "[warmup]\npath = \"/\"\nrequests = 5";

/// `phase`'s state as the dead daemon saved it, restored.
fn restarted(extra: &str, phase: Phase) -> Machine {
    let saved = machine_in(plan_with(extra), phase).state().clone();
    Machine::restore(plan_with(extra), saved)
}

fn healthy(id: &str) -> Input {
    Input::ReplicaHealthy {
        role: Role::Canary,
        id: id.into(),
    }
}

#[test]
fn warming_rechecks_the_adopted_canary_then_warms_up_and_takes_the_first_step() {
    let mut saved = machine_in(plan_with(WARMUP), Phase::Warming);
    // Killed mid warm-up: c2 was healthy and the warm-up was under way.
    ok(&mut saved, healthy("c2"), t0());
    assert!(saved.state().warmup_pending);
    let mut m = Machine::restore(plan_with(WARMUP), saved.state().clone());
    assert!(m.take_notes().is_empty());
    assert!(
        !m.resume_effects().contains(&Effect::Warmup),
        "no warm-up before this daemon saw the canary healthy"
    );
    let later = t0() + secs(3600);
    let fx = m.resumed(&["c1".into(), "c2".into()], later);
    let said = warnings(&fx);
    assert!(
        said.iter()
            .any(|w| w.contains("health-checked again and warmed up again")),
        "{said:?}"
    );
    assert_eq!(m.state().phase, Phase::Warming);
    assert_eq!(m.state().healthy_canaries(), 0, "health is checked again");
    assert!(!m.state().warmup_pending);
    // The start timeout counts from the restart: a tick a minute before
    // it ends fails nothing, although the saved deadline is long past.
    ok(&mut m, Input::Tick, later + secs(59));
    assert_eq!(m.state().phase, Phase::Warming);
    // The adopted replica reports healthy: warm-up, then the first step.
    assert_eq!(
        ok(&mut m, healthy("c2"), later).first(),
        Some(&Effect::Warmup)
    );
    ok(
        &mut m,
        Input::WarmupDone {
            detail: "5 ok".into(),
            failed: 0,
        },
        later,
    );
    assert_eq!(m.state().phase, Phase::Canary);
    assert_eq!(m.state().step_index, Some(0));
    assert_eq!(m.state().weight_permille, 100);
}

#[test]
fn warming_without_a_warmup_goes_to_canary_once_healthy() {
    let mut m = restarted("", Phase::Warming);
    m.resumed(&["c1".into(), "c2".into()], t0());
    ok(&mut m, healthy("c1"), t0());
    assert_eq!(m.state().phase, Phase::Canary);
}

#[test]
fn warming_with_an_unhealthy_canary_fails_cleanly_at_the_start_timeout() {
    let mut m = restarted(WARMUP, Phase::Warming);
    m.resumed(&["c1".into(), "c2".into()], t0());
    ok(&mut m, Input::Tick, t0() + secs(61));
    assert_eq!(m.state().phase, Phase::Failed);
    assert_eq!(m.state().weight_permille, 0);
    assert_eq!(m.state().removing, Some(Role::Canary));
}

#[test]
fn warming_whose_canary_died_with_the_daemon_fails_with_the_reason() {
    let mut m = restarted(WARMUP, Phase::Warming);
    for id in ["c1", "c2"] {
        ok(
            &mut m,
            Input::ReplicaExited {
                role: Role::Canary,
                id: id.into(),
                detail: "gone while the daemon was down".into(),
            },
            t0(),
        );
    }
    assert_eq!(m.state().phase, Phase::Failed);
    assert!(m.resumed(&[], t0()).is_empty(), "nothing more to take up");
}

#[test]
fn deploying_with_nothing_recorded_starts_the_canary_again() {
    let mut m = restarted(WARMUP, Phase::Deploying);
    let release = m.state().release;
    let fx = m.resumed(&[], t0() + secs(3600));
    let spec = fx
        .iter()
        .find_map(|e| match e {
            Effect::StartCanary { spec } => Some(spec.clone()),
            _ => None,
        })
        .expect("the canary is started again");
    assert_eq!((spec.role, spec.release), (Role::Canary, release));
    assert!(warnings(&fx)[0].contains("started again"), "{fx:?}");
    assert_eq!(m.state().phase, Phase::Deploying);
    // It carries on as a first start would.
    ok(
        &mut m,
        Input::CanaryStarted {
            replicas: vec!["n1".into()],
        },
        t0() + secs(3600),
    );
    assert_eq!(m.state().phase, Phase::Warming);
}

#[test]
fn deploying_whose_start_had_recorded_replicas_adopts_them_into_warming() {
    let mut m = restarted("", Phase::Deploying);
    let fx = m.resumed(&["c1".into()], t0());
    assert!(!fx.iter().any(|e| matches!(e, Effect::StartCanary { .. })));
    assert_eq!(m.state().phase, Phase::Warming);
    assert_eq!(m.state().alive_canaries(), 1);
    ok(&mut m, healthy("c1"), t0());
    assert_eq!(m.state().phase, Phase::Canary);
}

#[test]
fn a_restarted_start_that_fails_again_fails_the_release() {
    let mut m = restarted("", Phase::Deploying);
    m.resumed(&[], t0());
    ok(
        &mut m,
        Input::CanaryStartFailed {
            detail: "no such image".into(),
        },
        t0(),
    );
    assert_eq!(m.state().phase, Phase::Failed);
}

#[test]
fn other_phases_take_nothing_up() {
    for phase in [
        Phase::Idle,
        Phase::Canary,
        Phase::Paused,
        Phase::Promoting,
        Phase::RollingBack,
        Phase::Failed,
    ] {
        let mut m = restarted("", phase);
        let before = m.state().clone();
        assert!(m.resumed(&["c1".into()], t0()).is_empty(), "{phase}");
        assert_eq!(m.state(), &before, "{phase}");
    }
}
