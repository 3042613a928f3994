//! A restarted daemon converges on the replica counts on record
//! ([`Machine::converge`], after [`Machine::resumed`]): fewer adopted
//! replicas than recorded start the missing ones, more retire the newest,
//! as a `scale` does, with the same [`Effect::Scale`]; a version in the
//! middle of a start, a drain or a removal is left to what takes care of
//! it.

use crate::support::controller as support;
use cutover::controller::machine::LiveReplicas;
use cutover::controller::machine::codes;
use cutover::controller::{Effect, Input, Machine};
use cutover::model::{Action, Phase, Role};
use support::*;

/// `phase`'s state as the dead daemon saved it (stable 2, canary 2 on
/// record), restored and resumed with nothing adopted for a start.
fn restarted(phase: Phase) -> Machine {
    let saved = machine_in(plan(), phase).state().clone();
    Machine::restore(plan(), saved)
}

fn live(stable: u32, canary: u32) -> LiveReplicas {
    LiveReplicas { stable, canary }
}

/// `(role, from, to, replicas in the spec)` of each scale asked for.
fn scales(fx: &[Effect]) -> Vec<(Role, u32, u32, u32)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Scale {
                role,
                from,
                to,
                spec,
            } => Some((*role, *from, *to, spec.replicas)),
            _ => None,
        })
        .collect()
}

#[test]
fn fewer_stable_replicas_than_recorded_start_the_missing_ones() {
    let mut m = restarted(Phase::Idle);
    ok(
        &mut m,
        act(Action::Scale {
            role: Role::Stable,
            replicas: 3,
        }),
        t0(),
    );
    // Killed before the new replicas started: the record says 3.
    let mut m = Machine::restore(plan(), m.state().clone());
    let fx = m.converge(live(1, 0), t0());
    assert_eq!(scales(&fx), [(Role::Stable, 1, 3, 3)]);
    assert_eq!(
        warnings(&fx),
        ["restart: stable runs 1 of 3 replicas: starting 2"]
    );
    assert_eq!(m.state().stable.replicas, 3, "the record is kept");
    // Under way like a scale: an operator's scale waits for it.
    let r = m
        .apply(
            act(Action::Scale {
                role: Role::Stable,
                replicas: 1,
            }),
            t0(),
        )
        .expect_err("busy");
    assert_eq!(r.code, codes::BUSY);
    ok(
        &mut m,
        Input::Scaled {
            role: Role::Stable,
            started: vec!["s2".into(), "s3".into()],
            stopped: vec![],
        },
        t0(),
    );
    assert!(m.state().scaling.is_empty());
}

#[test]
fn more_stable_replicas_than_recorded_retire_the_extra_ones() {
    let mut m = restarted(Phase::Idle);
    let fx = m.converge(live(3, 0), t0());
    assert_eq!(scales(&fx), [(Role::Stable, 3, 2, 2)]);
    assert_eq!(
        warnings(&fx),
        ["restart: stable runs 3 of 2 replicas: retiring the newest 1"]
    );
    assert_eq!(m.state().stable.replicas, 2);
}

#[test]
fn the_recorded_count_running_asks_for_nothing() {
    for phase in [Phase::Idle, Phase::Canary, Phase::Paused] {
        let mut m = restarted(phase);
        let before = m.state().clone();
        assert!(m.converge(live(2, 2), t0()).is_empty(), "{phase}");
        assert_eq!(m.state(), &before, "{phase}");
    }
}

#[test]
fn a_serving_canary_converges_beside_stable() {
    for phase in [Phase::Canary, Phase::Paused] {
        let mut m = restarted(phase);
        let fx = m.converge(live(1, 3), t0());
        assert_eq!(
            scales(&fx),
            [(Role::Stable, 1, 2, 2), (Role::Canary, 3, 2, 2)],
            "{phase}"
        );
        assert_eq!(
            warnings(&fx)[1],
            "restart: canary runs 3 of 2 replicas: retiring the newest 1"
        );
        let Some(Effect::Scale { spec, .. }) = fx
            .iter()
            .find(|e| matches!(e, Effect::Scale { role, .. } if *role == Role::Canary))
        else {
            unreachable!()
        };
        assert_eq!(spec.release, m.state().release, "the canary's release");
        assert_eq!(m.state().phase, phase, "a scale is not a deploy");
        // The retired replica is forgotten; the release carries on.
        ok(
            &mut m,
            Input::Scaled {
                role: Role::Canary,
                started: vec![],
                stopped: vec!["c2".into()],
            },
            t0(),
        );
        assert_eq!(m.state().alive_canaries(), 1);
        assert_eq!(m.state().phase, phase);
    }
    let mut m = restarted(Phase::Canary);
    let fx = m.converge(live(2, 1), t0());
    assert_eq!(scales(&fx), [(Role::Canary, 1, 2, 2)]);
    assert_eq!(
        warnings(&fx),
        ["restart: canary runs 1 of 2 replicas: starting 1"]
    );
}

#[test]
fn a_canary_mid_start_is_left_to_the_start_and_stable_converges() {
    for phase in [Phase::Deploying, Phase::Warming] {
        let mut m = restarted(phase);
        let canary: Vec<String> = match phase {
            Phase::Warming => vec!["c1".into()],
            _ => vec![],
        };
        let taken_up = m.resumed(&canary, t0());
        let after_resume = m.state().clone();
        let fx = m.converge(live(1, canary.len() as u32), t0());
        assert_eq!(scales(&fx), [(Role::Stable, 1, 2, 2)], "{phase}");
        assert_eq!(m.state().phase, after_resume.phase, "{phase}");
        assert_eq!(m.state().canary_replicas, after_resume.canary_replicas);
        assert_eq!(
            m.state().start_deadline,
            after_resume.start_deadline,
            "{phase}: the start's clock is the start's"
        );
        assert!(!taken_up.is_empty(), "{phase}: the start was taken up");
    }
}

#[test]
fn a_draining_stable_is_never_scaled_back_up() {
    // Killed mid-promotion: stable is being drained and removed.
    let mut m = restarted(Phase::Promoting);
    let before = m.state().clone();
    assert!(
        m.resume_effects()
            .contains(&Effect::Remove { role: Role::Stable })
    );
    assert!(m.converge(live(1, 1), t0()).is_empty());
    assert_eq!(m.state(), &before);
}

#[test]
fn a_canary_on_its_way_out_is_not_converged_but_stable_is() {
    for phase in [Phase::RollingBack, Phase::Failed] {
        let mut m = restarted(phase);
        let fx = m.converge(live(1, 1), t0());
        assert_eq!(scales(&fx), [(Role::Stable, 1, 2, 2)], "{phase}");
    }
}

#[test]
fn a_failed_start_puts_the_record_at_what_runs() {
    let mut m = restarted(Phase::Idle);
    m.converge(live(1, 0), t0());
    let fx = ok(
        &mut m,
        Input::ScaleFailed {
            role: Role::Stable,
            from: 1,
            to: 2,
            detail: "no such image".into(),
        },
        t0(),
    );
    assert_eq!(m.state().stable.replicas, 1);
    assert!(
        warnings(&fx)[0].contains("scale stable 1 → 2 failed, nothing was started"),
        "{fx:?}"
    );
    assert!(fx.contains(&Effect::Persist));
}

#[test]
fn nothing_live_and_fixed_runtimes_are_not_scales() {
    // No stable left: the driver starts it whole, not as a scale from 0.
    let mut m = restarted(Phase::Canary);
    assert!(scales(&m.converge(live(0, 0), t0())).is_empty());
    let statik = plan_text(
        r#"
service = "shop"
runtime = "static"
[stable]
upstreams = ["127.0.0.1:9001", "127.0.0.1:9002"]
"#,
    );
    let mut m = Machine::new(statik);
    assert!(m.converge(live(1, 0), t0()).is_empty());
}
