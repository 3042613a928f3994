//! Random sequences of actions, facts and time steps thrown at the release
//! machine: it never panics, a refusal never changes anything, and the
//! release invariants hold after every input.

use crate::support::controller as support;

use cutover::controller::{Effect, Input, Machine};
use cutover::model::{Action, GuardPatch, Phase, Role};
use proptest::prelude::*;
use support::*;

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Stable), Just(Role::Canary)]
}

fn replica_id() -> impl Strategy<Value = String> {
    prop_oneof![Just("c1"), Just("c2"), Just("x9")].prop_map(str::to_string)
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        (0u16..1200).prop_map(|permille| Action::SetWeight { permille }),
        prop_oneof![
            Just(String::new()),
            Just("demo-app --version v3".to_string())
        ]
        .prop_map(|image| Action::Deploy { image }),
        Just(Action::Step),
        Just(Action::Pause),
        Just(Action::Resume),
        any::<bool>().prop_map(|force| Action::Promote { force }),
        Just(Action::Rollback),
        (role(), any::<bool>()).prop_map(|(role, force)| Action::Drain { role, force }),
        (
            role(),
            proptest::option::of(-1.0f64..4.0),
            proptest::option::of(0u64..1 << 30)
        )
            .prop_map(|(role, cpus, memory)| Action::Resize { role, cpus, memory }),
        Just(Action::Abort),
        any::<bool>().prop_map(|muted| Action::MuteGuards { muted }),
        Just(Action::AckBreach),
        (
            proptest::option::of(proptest::option::of(0u64..50)),
            proptest::option::of(proptest::option::of(-0.5f64..1.5)),
            proptest::option::of(0u64..100),
        )
            .prop_map(
                |(trip_after, max_error_rate, min_requests)| Action::SetGuards {
                    guards: GuardPatch {
                        trip_after,
                        max_error_rate,
                        min_requests,
                        ..GuardPatch::default()
                    },
                }
            ),
    ]
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        3 => (action(), proptest::option::of("[a-z ]{0,8}")).prop_map(|(a, why)| match why {
            Some(w) => act_why(a, &w),
            None => act(a),
        }),
        1 => proptest::collection::vec(replica_id(), 0..3)
            .prop_map(|replicas| Input::CanaryStarted { replicas }),
        1 => Just(Input::CanaryStartFailed { detail: "x".into() }),
        2 => (role(), replica_id()).prop_map(|(role, id)| Input::ReplicaHealthy { role, id }),
        1 => (role(), replica_id()).prop_map(|(role, id)| Input::ReplicaUnhealthy { role, id }),
        1 => (role(), replica_id()).prop_map(|(role, id)| Input::ReplicaExited { role, id, detail: "137".into() }),
        1 => (0u32..3).prop_map(|failed| Input::WarmupDone { detail: "ok".into(), failed }),
        1 => (0usize..3).prop_map(|step| Input::BakeElapsed { step }),
        1 => Just(breach()),
        1 => (role(), 0u64..3).prop_map(|(role, cut)| Input::DrainDone { role, finished: 1, cut }),
        2 => role().prop_map(|role| Input::Removed { role }),
        2 => Just(Input::Tick),
        2 => proptest::option::of("[a-z ]{0,8}").prop_map(|waiting| Input::Evidence { waiting }),
    ]
}

fn plans() -> impl Strategy<Value = usize> {
    0usize..4
}

fn plan_variant(i: usize) -> cutover::plan::Plan {
    match i {
        0 => plan(),
        1 => plan_with("[warmup]\nrequests = 3"),
        2 => plan_text(&PLAN.replace("trip_after = 20", "trip_after = 20\non_breach = \"pause\"")),
        _ => plan_with(
            "[[freeze]]\nfrom = \"2026-03-01T12:00:30Z\"\nuntil = \"2026-03-01T12:10:00Z\"\nreason = \"r\"",
        ),
    }
}

/// Phases in which the canary may carry live traffic.
fn serving(p: Phase) -> bool {
    matches!(p, Phase::Canary | Phase::Paused | Phase::Promoting)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_for_any_sequence(
        variant in plans(),
        steps in proptest::collection::vec((input(), 0i64..40), 1..80),
    ) {
        let plan = plan_variant(variant);
        let n_steps = plan.steps.len();
        let mut m = Machine::new(plan);
        let mut now = t0();
        for (input, advance) in steps {
            now += secs(advance);
            let before = m.state().clone();
            match m.apply(input.clone(), now) {
                Err(refusal) => {
                    prop_assert!(matches!(input, Input::Action(_)), "a fact was refused: {refusal:?}");
                    prop_assert_eq!(m.state(), &before, "a refusal changed the state");
                    prop_assert!(refusal.code != cutover::model::RefusalCode::Unknown && !refusal.message.is_empty());
                }
                Ok(fx) => {
                    let st = m.state();
                    for e in &fx {
                        match e {
                            Effect::SetWeight { permille, .. } => {
                                prop_assert!(*permille <= 1000);
                                // Traffic only ever goes to a canary that serves.
                                if *permille > 0 {
                                    prop_assert!(serving(st.phase), "weight {} in {}", permille, st.phase);
                                }
                            }
                            // Stable is only taken down on the promote path,
                            // entered from a serving canary.
                            Effect::Drain { role: Role::Stable, .. }
                            | Effect::Stop { role: Role::Stable, .. }
                            | Effect::Remove { role: Role::Stable } => {
                                prop_assert_eq!(st.phase, Phase::Promoting);
                                prop_assert!(matches!(before.phase, Phase::Canary | Phase::Paused | Phase::Promoting),
                                    "stable removed from {}", before.phase);
                            }
                            Effect::SwapRoles => prop_assert_eq!(before.phase, Phase::Promoting),
                            Effect::StartCanary { .. } => prop_assert_eq!(st.phase, Phase::Deploying),
                            _ => {}
                        }
                    }
                    if fx.iter().any(|e| matches!(e, Effect::SetWeight { permille: 0, .. }))
                        && st.phase == Phase::RollingBack
                        && before.phase != Phase::RollingBack
                    {
                        prop_assert!(matches!(fx[0], Effect::SetWeight { permille: 0, .. }),
                            "rollback must zero the weight first: {:?}", fx);
                    }
                    if fx.is_empty() {
                        // What the guards report is transient (never
                        // persisted), and so is a stable replacement
                        // waiting for `Machine::heal` (which says it when
                        // it asks): the rest must not change unsaid.
                        let mut now = m.state().clone();
                        now.evidence_waiting = before.evidence_waiting.clone();
                        now.healing = before.healing.clone();
                        prop_assert_eq!(&now, &before, "state changed without effects");
                    }
                }
            }
            let st = m.state();
            // Weight 0 whenever no canary serves; 100 % while promoting.
            if !serving(st.phase) {
                prop_assert_eq!(st.weight_permille, 0, "phase {}", st.phase);
            }
            if st.phase == Phase::Promoting {
                prop_assert_eq!(st.weight_permille, 1000);
            }
            prop_assert!(st.weight_permille <= 1000);
            // A canary exists exactly while a release is under way.
            match st.phase {
                Phase::Idle => prop_assert!(st.canary.is_none()),
                Phase::Failed => prop_assert_eq!(st.canary.is_some(), st.removing == Some(Role::Canary)),
                _ => prop_assert!(st.canary.is_some()),
            }
            prop_assert!(st.stable.version.is_some());
            if let Some(i) = st.step_index {
                prop_assert!(i < n_steps);
                prop_assert!(matches!(st.phase, Phase::Canary | Phase::Paused));
            }
            if st.phase == Phase::Paused {
                prop_assert!(st.bake_deadline.is_none(), "bake runs while paused");
            }
            if st.phase != Phase::Warming {
                prop_assert!(!st.warmup_pending);
            }
        }
    }
}

/// A state as a restart may find it: any phase, with its canary, step or
/// weight possibly contradicting the phase or the plan.
fn restored_state() -> impl Strategy<Value = cutover::controller::ReleaseState> {
    (
        proptest::sample::select(ALL_PHASES.to_vec()),
        proptest::sample::select(ALL_PHASES.to_vec()),
        any::<bool>(),
        proptest::option::of(0usize..6),
        0u16..2000,
        proptest::option::of(role()),
    )
        .prop_map(|(walk, phase, drop_canary, step, weight, removing)| {
            let mut st = machine_in(plan(), walk).state().clone();
            st.phase = phase;
            if drop_canary {
                st.canary = None;
            }
            st.step_index = step;
            st.weight_permille = weight;
            st.removing = removing;
            st
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// A restored state is repaired, never trusted into a panic, and the
    /// release invariants hold from the first input on.
    #[test]
    fn any_restored_state_is_safe(
        state in restored_state(),
        steps in proptest::collection::vec((input(), 0i64..40), 0..40),
    ) {
        let mut m = Machine::restore(plan(), state);
        let _ = m.take_notes();
        let _ = m.resume_effects();
        let mut now = t0();
        for (input, advance) in steps {
            now += secs(advance);
            let _ = m.apply(input, now);
            let st = m.state();
            if !serving(st.phase) {
                prop_assert_eq!(st.weight_permille, 0, "phase {}", st.phase);
            }
            prop_assert!(st.weight_permille <= 1000);
            if !matches!(st.phase, Phase::Idle | Phase::Failed) {
                prop_assert!(st.canary.is_some(), "phase {} without a canary", st.phase);
            }
        }
    }
}
