//! The release machine, table-driven: every (phase × input) pair, including
//! the illegal ones, plus the paths that matter end to end (steps → promote,
//! breach → rollback, freeze, pause policy, warm-up, start timeout).

use crate::support::controller as support;

use cutover::controller::machine::codes;
use cutover::controller::{Effect, Input, Machine, Outcome, Trips};
use cutover::model::{Action, Actor, EventKind, Guard, GuardPatch, Phase, Role};
use cutover::plan::OnBreach;
use support::*;

/// What an input must do in a phase.
#[derive(Clone, Copy, Debug)]
enum Want {
    /// Refused with this code; state unchanged.
    No(cutover::model::RefusalCode),
    /// Accepted (or a fact with effects); ends in this phase.
    To(Phase),
    /// Accepted, phase unchanged (state may change).
    Same,
    /// A fact that does not apply: no effects, state unchanged.
    Ignored,
}
use Want::*;

const ILL: Want = No(codes::ILLEGAL_IN_PHASE);

fn inputs() -> Vec<(&'static str, Input)> {
    vec![
        ("set_weight 20%", act(Action::SetWeight { permille: 200 })),
        (
            "set_weight 100.1%",
            act(Action::SetWeight { permille: 1001 }),
        ),
        ("deploy", act(Action::Deploy { image: "v3".into() })),
        ("step", act(Action::Step)),
        ("pause", act(Action::Pause)),
        ("resume", act(Action::Resume)),
        ("promote", act(Action::Promote { force: false })),
        (
            "promote force, no reason",
            act(Action::Promote { force: true }),
        ),
        ("rollback", act(Action::Rollback)),
        (
            "drain canary",
            act(Action::Drain {
                role: Role::Canary,
                force: false,
            }),
        ),
        (
            "drain stable",
            act(Action::Drain {
                role: Role::Stable,
                force: false,
            }),
        ),
        (
            "drain stable force, no reason",
            act(Action::Drain {
                role: Role::Stable,
                force: true,
            }),
        ),
        (
            "set guards trip_after 40",
            act(Action::SetGuards {
                guards: GuardPatch {
                    trip_after: Some(Some(40)),
                    ..GuardPatch::default()
                },
            }),
        ),
        (
            "set guards max_error_rate 1.5",
            act(Action::SetGuards {
                guards: GuardPatch {
                    max_error_rate: Some(Some(1.5)),
                    ..GuardPatch::default()
                },
            }),
        ),
        (
            "set guards, nothing",
            act(Action::SetGuards {
                guards: GuardPatch::default(),
            }),
        ),
        (
            "resize stable",
            act(Action::Resize {
                role: Role::Stable,
                cpus: Some(1.0),
                memory: None,
            }),
        ),
        (
            "resize canary",
            act(Action::Resize {
                role: Role::Canary,
                cpus: None,
                memory: Some(128 << 20),
            }),
        ),
        (
            "scale stable 3",
            act(Action::Scale {
                role: Role::Stable,
                replicas: 3,
            }),
        ),
        (
            "scale canary 3",
            act(Action::Scale {
                role: Role::Canary,
                replicas: 3,
            }),
        ),
        (
            "scale stable 0",
            act(Action::Scale {
                role: Role::Stable,
                replicas: 0,
            }),
        ),
        ("undo promote", act(Action::UndoPromote)),
        ("stable stop begun", Input::StopBegun { role: Role::Stable }),
        ("abort", act(Action::Abort)),
        ("mute", act(Action::MuteGuards { muted: true })),
        ("ack breach", act(Action::AckBreach)),
        (
            "canary started",
            Input::CanaryStarted {
                replicas: vec!["x1".into()],
            },
        ),
        (
            "canary start failed",
            Input::CanaryStartFailed {
                detail: "no such image".into(),
            },
        ),
        (
            "c1 healthy",
            Input::ReplicaHealthy {
                role: Role::Canary,
                id: "c1".into(),
            },
        ),
        (
            "c1 unhealthy",
            Input::ReplicaUnhealthy {
                role: Role::Canary,
                id: "c1".into(),
            },
        ),
        (
            "c1 exited",
            Input::ReplicaExited {
                role: Role::Canary,
                id: "c1".into(),
                detail: "exit 137".into(),
            },
        ),
        (
            "stable s1 exited",
            Input::ReplicaExited {
                role: Role::Stable,
                id: "s1".into(),
                detail: "exit 1".into(),
            },
        ),
        (
            "c9 appeared (a replacement)",
            Input::ReplicaAppeared {
                role: Role::Canary,
                id: "c9".into(),
            },
        ),
        (
            "stable s9 appeared",
            Input::ReplicaAppeared {
                role: Role::Stable,
                id: "s9".into(),
            },
        ),
        (
            "warm-up done",
            Input::WarmupDone {
                detail: "20 ok".into(),
                failed: 0,
            },
        ),
        ("bake 0 elapsed", Input::BakeElapsed { step: 0 }),
        ("breach", breach()),
        (
            "drain done",
            Input::DrainDone {
                role: Role::Canary,
                finished: 3,
                cut: 0,
            },
        ),
        ("canary removed", Input::Removed { role: Role::Canary }),
        ("stable removed", Input::Removed { role: Role::Stable }),
        ("tick", Input::Tick),
    ]
}

/// Rows follow `inputs()`; columns follow `ALL_PHASES`:
/// Idle, Deploying, Warming, Canary, Paused, Promoting, RollingBack, Failed.
fn table() -> Vec<[Want; 8]> {
    use Phase as P;
    vec![
        // set_weight 20%
        [ILL, ILL, ILL, Same, Same, ILL, ILL, ILL],
        // set_weight 100.1%
        [
            ILL,
            ILL,
            ILL,
            No(codes::OUT_OF_RANGE),
            No(codes::OUT_OF_RANGE),
            ILL,
            ILL,
            ILL,
        ],
        // deploy
        [
            To(P::Deploying),
            ILL,
            ILL,
            ILL,
            ILL,
            ILL,
            ILL,
            To(P::Deploying),
        ],
        // step
        [ILL, ILL, ILL, Same, Same, ILL, ILL, ILL],
        // pause
        [ILL, ILL, ILL, To(P::Paused), ILL, ILL, ILL, ILL],
        // resume
        [ILL, ILL, ILL, ILL, To(P::Canary), ILL, ILL, ILL],
        // promote
        [
            ILL,
            ILL,
            ILL,
            To(P::Promoting),
            To(P::Promoting),
            ILL,
            ILL,
            ILL,
        ],
        // promote force, no reason
        [
            ILL,
            ILL,
            ILL,
            No(codes::REASON_REQUIRED),
            No(codes::REASON_REQUIRED),
            ILL,
            ILL,
            ILL,
        ],
        // rollback
        [
            ILL,
            To(P::RollingBack),
            To(P::RollingBack),
            To(P::RollingBack),
            To(P::RollingBack),
            ILL,
            ILL,
            ILL,
        ],
        // drain canary
        [
            ILL,
            To(P::RollingBack),
            To(P::RollingBack),
            To(P::RollingBack),
            To(P::RollingBack),
            ILL,
            ILL,
            ILL,
        ],
        // drain stable
        [
            ILL,
            ILL,
            ILL,
            To(P::Promoting),
            To(P::Promoting),
            ILL,
            ILL,
            ILL,
        ],
        // drain stable force, no reason
        [
            ILL,
            ILL,
            ILL,
            No(codes::REASON_REQUIRED),
            No(codes::REASON_REQUIRED),
            ILL,
            ILL,
            ILL,
        ],
        // set guards (valid): any phase of a release still to be judged
        [ILL, Same, Same, Same, Same, ILL, ILL, ILL],
        // set guards (invalid value): refused with the plan's rule
        [
            ILL,
            No(codes::INVALID_VALUE),
            No(codes::INVALID_VALUE),
            No(codes::INVALID_VALUE),
            No(codes::INVALID_VALUE),
            ILL,
            ILL,
            ILL,
        ],
        // set guards with nothing to change
        [
            ILL,
            No(codes::BAD_REQUEST),
            No(codes::BAD_REQUEST),
            No(codes::BAD_REQUEST),
            No(codes::BAD_REQUEST),
            ILL,
            ILL,
            ILL,
        ],
        // resize stable: the process runtime cannot apply limits, in any
        // phase (the Docker phases: `resize_follows_the_phase_on_docker`)
        [No(codes::NOT_SUPPORTED); 8],
        // resize canary
        [No(codes::NOT_SUPPORTED); 8],
        // scale stable: wherever stable runs and is not being retired
        [Same, Same, Same, Same, Same, ILL, Same, Same],
        // scale canary: while it serves
        [ILL, ILL, ILL, Same, Same, ILL, ILL, ILL],
        // scale stable 0: never, whatever the phase
        [No(codes::OUT_OF_RANGE); 8],
        // undo promote: only while promoting
        [ILL, ILL, ILL, ILL, ILL, To(P::Paused), ILL, ILL],
        // stable stop begun: only a promotion's stop counts
        [
            Ignored, Ignored, Ignored, Ignored, Ignored, Same, Ignored, Ignored,
        ],
        // abort
        [
            ILL,
            To(P::RollingBack),
            To(P::RollingBack),
            ILL,
            ILL,
            ILL,
            ILL,
            ILL,
        ],
        // mute
        [Same, Same, Same, Same, Same, Same, Same, Same],
        // ack breach
        [Same, Same, Same, Same, Same, Same, Same, Same],
        // canary started
        [
            Ignored,
            To(P::Warming),
            Ignored,
            Ignored,
            Ignored,
            Ignored,
            Ignored,
            Ignored,
        ],
        // canary start failed
        [
            Ignored,
            To(P::Failed),
            Ignored,
            Ignored,
            Ignored,
            Ignored,
            Ignored,
            Ignored,
        ],
        // c1 healthy (no min_healthy reached yet only in Warming)
        [
            Ignored,
            Ignored,
            To(P::Canary),
            Ignored,
            Ignored,
            Ignored,
            Ignored,
            Ignored,
        ],
        // c1 unhealthy (c2 is alive but not healthy: no healthy canary left → roll back;
        // while promoting too: stable is kept and takes the traffic back)
        [
            Ignored,
            Ignored,
            Ignored,
            To(P::RollingBack),
            To(P::RollingBack),
            To(P::RollingBack),
            Same,
            Ignored,
        ],
        // c1 exited (c2 still alive while serving; while promoting, c2 cannot
        // serve: it is not healthy, so the promotion is abandoned)
        [
            Ignored,
            Ignored,
            To(P::Failed),
            Same,
            Same,
            To(P::RollingBack),
            Same,
            Ignored,
        ],
        // stable s1 exited: a replacement becomes due (`heal.rs`), but
        // never while a promotion drains stable
        [Same, Same, Same, Same, Same, Ignored, Same, Same],
        // c9 appeared: counted among the canary's replicas while it runs
        [Ignored, Ignored, Same, Same, Same, Same, Ignored, Ignored],
        // stable s9 appeared: stable's replicas are the driver's, not the machine's
        [Ignored; 8],
        // warm-up done (none pending)
        [Ignored; 8],
        // bake 0 elapsed (held while paused)
        [
            Ignored, Ignored, Ignored, Same, Ignored, Ignored, Ignored, Ignored,
        ],
        // breach
        [
            Ignored,
            Ignored,
            Ignored,
            To(P::RollingBack),
            To(P::RollingBack),
            Ignored,
            Ignored,
            Ignored,
        ],
        // drain done without cuts
        [Ignored; 8],
        // canary removed
        [
            Ignored,
            Ignored,
            Ignored,
            Ignored,
            Ignored,
            Ignored,
            To(P::Idle),
            Ignored,
        ],
        // stable removed
        [
            Ignored,
            Ignored,
            Ignored,
            Ignored,
            Ignored,
            To(P::Idle),
            Ignored,
            Ignored,
        ],
        // tick, no deadline reached
        [Ignored; 8],
    ]
}

#[test]
fn every_phase_times_every_input() {
    let inputs = inputs();
    let table = table();
    assert_eq!(inputs.len(), table.len(), "one table row per input");
    let mut checked = 0;
    for ((label, input), row) in inputs.into_iter().zip(table) {
        for (phase, want) in ALL_PHASES.into_iter().zip(row) {
            let mut m = machine_in(plan(), phase);
            let before = m.state().clone();
            let got = m.apply(input.clone(), t0() + secs(1));
            let ctx = format!("{label:?} in phase {phase}");
            match want {
                No(code) => {
                    let r = got.expect_err(&format!("{ctx}: expected refusal {code}"));
                    assert_eq!(r.code, code, "{ctx}: {r:?}");
                    assert!(
                        r.message.starts_with("cannot "),
                        "{ctx}: message {:?}",
                        r.message
                    );
                    assert_eq!(m.state(), &before, "{ctx}: refusal changed the state");
                }
                To(p) => {
                    let fx = got.unwrap_or_else(|r| panic!("{ctx}: refused {r:?}"));
                    assert_eq!(m.state().phase, p, "{ctx}");
                    assert!(
                        fx.iter()
                            .any(|e| matches!(e, Effect::Emit(EventKind::Phase { .. }))),
                        "{ctx}: no phase event in {fx:?}"
                    );
                    assert_eq!(
                        fx.last(),
                        Some(&Effect::Persist),
                        "{ctx}: not persisted last"
                    );
                }
                Same => {
                    let fx = got.unwrap_or_else(|r| panic!("{ctx}: refused {r:?}"));
                    assert_eq!(m.state().phase, phase, "{ctx}");
                    if matches!(input, Input::Action(_)) {
                        assert!(
                            fx.iter().any(|e| matches!(
                                e,
                                Effect::Emit(EventKind::Action { ok: true, .. })
                            )),
                            "{ctx}: accepted action without an action event: {fx:?}"
                        );
                    }
                }
                Ignored => {
                    let fx = got.unwrap_or_else(|r| panic!("{ctx}: refused {r:?}"));
                    assert!(fx.is_empty(), "{ctx}: effects {fx:?}");
                    assert_eq!(m.state(), &before, "{ctx}: state changed");
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 40 * 8);
}

/// The test plan on Docker, which honours limits.
fn docker_plan() -> cutover::plan::Plan {
    plan_text(
        &PLAN
            .replace("runtime = \"process\"", "runtime = \"docker\"")
            .replace(
                "command = [\"demo-app\", \"--port\", \"{port}\", \"--version\", \"v1\"]",
                "image = \"shop:1\"",
            )
            .replace(
                "command = [\"demo-app\", \"--port\", \"{port}\", \"--version\", \"v2\"]",
                "image = \"shop:2\"",
            )
            .replace(
                "command = [\"demo-app\", \"--port\", \"{port}\", \"--version\", \"{version}\"]",
                "image = \"shop:{version}\"",
            ),
    )
}

/// On Docker a resize is a matter of phase: stable while it is not being
/// retired, the canary while it runs. Columns follow `ALL_PHASES`.
#[test]
fn resize_follows_the_phase_on_docker() {
    let rows: [(Role, [bool; 8]); 2] = [
        (
            Role::Stable,
            [true, true, true, true, true, false, true, true],
        ),
        (
            Role::Canary,
            [false, false, true, true, true, false, false, false],
        ),
    ];
    for (role, row) in rows {
        for (phase, accepted) in ALL_PHASES.into_iter().zip(row) {
            let mut m = machine_in(docker_plan(), phase);
            let before = m.state().clone();
            let got = m.apply(
                act(Action::Resize {
                    role,
                    cpus: Some(1.0),
                    memory: Some(128 << 20),
                }),
                t0() + secs(1),
            );
            let ctx = format!("resize {role} in phase {phase}");
            if accepted {
                let fx = got.unwrap_or_else(|r| panic!("{ctx}: refused {r:?}"));
                assert!(
                    fx.contains(&Effect::Resize {
                        role,
                        cpus: Some(1.0),
                        memory: Some(128 << 20)
                    }),
                    "{ctx}: {fx:?}"
                );
                assert_eq!(fx.last(), Some(&Effect::Persist), "{ctx}");
            } else {
                let r = got.expect_err(&ctx);
                assert_eq!(r.code, codes::ILLEGAL_IN_PHASE, "{ctx}: {r:?}");
                assert_eq!(m.state(), &before, "{ctx}: refusal changed the state");
            }
        }
    }
}

/// A resize on a runtime without limits is refused up front with the
/// plan's wording; on Docker, values outside the plan's ranges are refused
/// in the plan's words. Nothing changes either way.
#[test]
fn resize_refusals_say_which_runtimes_honour_limits() {
    let mut m = machine_in(plan(), Phase::Canary);
    let before = m.state().clone();
    let r = m
        .apply(
            act(Action::Resize {
                role: Role::Canary,
                cpus: Some(1.0),
                memory: None,
            }),
            t0(),
        )
        .unwrap_err();
    assert_eq!(r.code, codes::NOT_SUPPORTED);
    assert_eq!(
        r.message,
        "cannot resize canary: runtime \"process\" cannot apply CPU or memory limits: only runtimes \"docker\" and \"swarm\" honour `cpus` and `memory`"
    );
    assert_eq!(m.state(), &before);

    let mut m = machine_in(docker_plan(), Phase::Canary);
    let before = m.state().clone();
    for (cpus, memory, says) in [
        (
            Some(0.0),
            None,
            "cannot resize stable: cpus: expected a number above 0 and at most 1024, found 0",
        ),
        (
            None,
            Some(1 << 20),
            "cannot resize stable: memory: expected a size of at least 6MiB (Docker's minimum), found 1MiB",
        ),
    ] {
        let r = m
            .apply(
                act(Action::Resize {
                    role: Role::Stable,
                    cpus,
                    memory,
                }),
                t0(),
            )
            .unwrap_err();
        assert_eq!((r.code, r.message.as_str()), (codes::OUT_OF_RANGE, says));
        assert_eq!(m.state(), &before);
    }
}

#[test]
fn refusal_messages_say_why() {
    let mut m = machine_in(plan(), Phase::Idle);
    let r = m
        .apply(act(Action::Promote { force: false }), t0())
        .unwrap_err();
    assert_eq!(
        r.message,
        "cannot promote: no canary is running (phase idle)"
    );
    let r = m
        .apply(act(Action::SetWeight { permille: 100 }), t0())
        .unwrap_err();
    assert_eq!(
        r.message,
        "cannot set the weight: no canary is running (phase idle)"
    );
    let mut m = machine_in(plan(), Phase::Canary);
    let r = m
        .apply(
            act(Action::Deploy {
                image: String::new(),
            }),
            t0(),
        )
        .unwrap_err();
    assert!(
        r.message
            .contains("release 1 is in progress (phase canary)"),
        "{}",
        r.message
    );
    let r = m.apply(act(Action::Abort), t0()).unwrap_err();
    assert!(r.message.ends_with("use rollback"), "{}", r.message);
}

#[test]
fn healthy_canary_steps_then_promotes_itself() {
    let mut m = machine_in(plan(), Phase::Deploying);
    assert_eq!(m.state().release, 1);
    assert_eq!(
        m.state().canary.as_ref().unwrap().version.as_deref(),
        Some("v2")
    );
    let now = t0();
    ok(
        &mut m,
        Input::CanaryStarted {
            replicas: vec!["c1".into(), "c2".into()],
        },
        now,
    );
    let fx = ok(
        &mut m,
        Input::ReplicaHealthy {
            role: Role::Canary,
            id: "c1".into(),
        },
        now,
    );
    assert_eq!(m.state().phase, Phase::Canary);
    assert_eq!(m.state().weight_permille, 100);
    assert!(fx.contains(&Effect::SetWeight {
        permille: 100,
        by: Actor::System
    }));
    assert!(fx.contains(&Effect::ResetMetrics { role: Role::Canary }));
    assert!(fx.contains(&Effect::ArmTrips { trips: trip(20) }));
    assert!(fx.contains(&Effect::RestartEvidence { release: true }));

    // Not yet baked; the guards report as they judge.
    assert!(ok(&mut m, Input::Tick, now + secs(29)).is_empty());
    ok(&mut m, enough(), now + secs(29));
    ok(&mut m, Input::Tick, now + secs(30));
    assert_eq!(m.state().step_index, Some(1));
    assert_eq!(m.state().weight_permille, 500);

    let fx = ok(&mut m, Input::Tick, now + secs(90));
    assert_eq!(m.state().phase, Phase::Promoting);
    assert_eq!(m.state().weight_permille, 1000);
    let w = pos(&fx, |e| {
        matches!(e, Effect::SetWeight { permille: 1000, .. })
    })
    .unwrap();
    let d = pos(&fx, |e| {
        matches!(
            e,
            Effect::Drain {
                role: Role::Stable,
                ..
            }
        )
    })
    .unwrap();
    let s = pos(&fx, |e| {
        matches!(
            e,
            Effect::Stop {
                role: Role::Stable,
                ..
            }
        )
    })
    .unwrap();
    let r = pos(&fx, |e| *e == Effect::Remove { role: Role::Stable }).unwrap();
    assert!(
        w < d && d < s && s < r,
        "100% canary, then drain, stop, remove: {fx:?}"
    );
    assert!(fx.contains(&Effect::ArmTrips { trips: Trips::OFF }));

    let fx = ok(
        &mut m,
        Input::Removed { role: Role::Stable },
        now + secs(95),
    );
    assert_eq!(m.state().phase, Phase::Idle);
    assert_eq!(m.state().weight_permille, 0);
    assert_eq!(m.state().stable.version.as_deref(), Some("v2"));
    assert!(m.state().canary.is_none());
    assert_eq!(m.state().last_outcome, Some(Outcome::Promoted));
    let swap = pos(&fx, |e| *e == Effect::SwapRoles).unwrap();
    let zero = pos(&fx, |e| matches!(e, Effect::SetWeight { permille: 0, .. })).unwrap();
    assert!(
        swap < zero,
        "roles swap before the weight returns to 0: {fx:?}"
    );
    assert!(fx.contains(&Effect::RunHook {
        name: "post_promote".into(),
        command: vec!["notify".into(), "promoted".into()],
    }));
}

/// A bake that ends before the guards have enough evidence holds the step
/// (said once), moves on the moment the evidence is there, and never
/// promotes on no data.
#[test]
fn a_bake_without_evidence_waits_for_it() {
    let mut m = machine_in(plan(), Phase::Canary);
    ok(&mut m, waiting("31 of 50 canary requests"), t0());
    let fx = ok(&mut m, Input::Tick, t0() + secs(30));
    assert_eq!(m.state().step_index, Some(0), "held at step 1");
    let said: Vec<&String> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Emit(EventKind::Warning { message }) => Some(message),
            _ => None,
        })
        .collect();
    assert_eq!(said.len(), 1, "{fx:?}");
    assert!(
        said[0].starts_with("step 1 of 2 baked, but the guards do not have enough evidence yet (31 of 50 canary requests); waiting up to 2m"),
        "{}",
        said[0]
    );
    assert!(
        ok(&mut m, Input::Tick, t0() + secs(40)).is_empty(),
        "said once"
    );
    ok(&mut m, enough(), t0() + secs(41));
    ok(&mut m, Input::Tick, t0() + secs(41));
    assert_eq!(m.state().step_index, Some(1), "moved on with the evidence");
    assert_eq!(m.state().weight_permille, 500);
    // The last step: no evidence, no promotion.
    ok(&mut m, waiting("4 of 50 stable requests"), t0() + secs(42));
    ok(&mut m, Input::Tick, t0() + secs(101));
    assert_eq!(m.state().phase, Phase::Canary, "never promoted on no data");
    ok(&mut m, enough(), t0() + secs(102));
    ok(&mut m, Input::Tick, t0() + secs(102));
    assert_eq!(m.state().phase, Phase::Promoting);
}

/// Still no evidence when the wait runs out: the release pauses for the
/// operator, saying why; resuming waits again.
#[test]
fn no_evidence_after_the_wait_pauses_and_resume_waits_again() {
    let mut m = machine_in(plan(), Phase::Canary);
    ok(&mut m, waiting("0 of 50 canary requests"), t0());
    ok(&mut m, Input::Tick, t0() + secs(30));
    assert!(ok(&mut m, Input::Tick, t0() + secs(149)).is_empty());
    let fx = ok(&mut m, Input::Tick, t0() + secs(150));
    assert_eq!(m.state().phase, Phase::Paused);
    assert_eq!(m.state().weight_permille, 100, "the weight stays");
    assert!(
        fx.iter().any(|e| matches!(e, Effect::Emit(EventKind::Phase { to: Phase::Paused, by: Actor::System, reason: Some(r), .. }) if r.starts_with("not enough evidence 2m after the bake ended (0 of 50 canary requests)"))),
        "{fx:?}"
    );
    ok(&mut m, act(Action::Resume), t0() + secs(200));
    let fx = ok(&mut m, Input::Tick, t0() + secs(201));
    assert_eq!(m.state().phase, Phase::Canary);
    assert!(
        fx.iter().any(|e| matches!(e, Effect::Emit(EventKind::Warning { message }) if message.contains("waiting up to 2m"))),
        "resumed: a fresh wait: {fx:?}"
    );
    ok(&mut m, enough(), t0() + secs(202));
    ok(&mut m, Input::Tick, t0() + secs(202));
    assert_eq!(m.state().step_index, Some(1));
}

#[test]
fn breach_sets_weight_zero_first_and_removes_canary() {
    let mut m = machine_in(plan(), Phase::Canary);
    let fx = ok(&mut m, breach(), t0() + secs(3));
    assert_eq!(
        fx[0],
        Effect::SetWeight {
            permille: 0,
            by: Actor::Guard
        },
        "{fx:?}"
    );
    assert_eq!(m.state().phase, Phase::RollingBack);
    assert_eq!(m.state().weight_permille, 0);
    assert!(fx.iter().any(|e| matches!(e, Effect::Emit(EventKind::Breach { guard, on_breach, .. }) if *guard == Guard::TripAfter && *on_breach == OnBreach::Rollback)));
    let d = pos(&fx, |e| {
        matches!(
            e,
            Effect::Drain {
                role: Role::Canary,
                ..
            }
        )
    })
    .unwrap();
    let r = pos(&fx, |e| *e == Effect::Remove { role: Role::Canary }).unwrap();
    assert!(d < r);
    assert!(!fx.iter().any(|e| matches!(
        e,
        Effect::Drain {
            role: Role::Stable,
            ..
        } | Effect::Stop {
            role: Role::Stable,
            ..
        } | Effect::Remove { role: Role::Stable }
    )));
    assert_eq!(
        m.state().last_breach.as_ref().unwrap().guard,
        Guard::TripAfter
    );

    ok(
        &mut m,
        Input::Removed { role: Role::Canary },
        t0() + secs(5),
    );
    assert_eq!(m.state().phase, Phase::Idle);
    assert!(m.state().canary.is_none());
    assert_eq!(m.state().last_outcome, Some(Outcome::RolledBack));
    assert_eq!(m.state().stable.version.as_deref(), Some("v1"));
    // The breach banner stays until acknowledged or the next deploy.
    assert!(m.state().last_breach.is_some());
    ok(&mut m, act(Action::AckBreach), t0() + secs(6));
    assert!(m.state().last_breach.is_none());
}

#[test]
fn muted_guards_ignore_breaches_and_disarm_the_trip() {
    let mut m = machine_in(plan(), Phase::Canary);
    let fx = ok(
        &mut m,
        act_why(Action::MuteGuards { muted: true }, "known flaky"),
        t0(),
    );
    assert!(fx.contains(&Effect::ArmTrips { trips: Trips::OFF }));
    assert!(ok(&mut m, breach(), t0()).is_empty());
    assert_eq!(m.state().phase, Phase::Canary);
    let fx = ok(&mut m, act(Action::MuteGuards { muted: false }), t0());
    assert!(fx.contains(&Effect::ArmTrips { trips: trip(20) }));
}

#[test]
fn pause_policy_keeps_weight_and_holds_steps() {
    let text = PLAN.replace("trip_after = 20", "trip_after = 20\non_breach = \"pause\"");
    let mut m = machine_in(plan_text(&text), Phase::Canary);
    // The proxy's trip is a rollback by nature: not armed with on_breach = pause.
    assert!(!m.resume_effects().iter().any(|e| matches!(
        e,
        Effect::ArmTrips {
            trips: Trips {
                in_a_row: Some(_),
                ..
            }
        }
    )));
    let fx = ok(&mut m, breach(), t0() + secs(10));
    assert_eq!(m.state().phase, Phase::Paused);
    assert_eq!(
        m.state().weight_permille,
        100,
        "pause leaves traffic where it is"
    );
    assert!(!fx.iter().any(|e| matches!(e, Effect::SetWeight { .. })));
    assert_eq!(m.state().bake_remaining_ms, Some(20_000));
    // Held: no progress however long it waits; a repeated breach adds nothing.
    assert!(ok(&mut m, Input::Tick, t0() + secs(1000)).is_empty());
    assert!(ok(&mut m, breach(), t0() + secs(1000)).is_empty());
    // Resume: the 20 s left run from now.
    ok(&mut m, act(Action::Resume), t0() + secs(1000));
    assert!(ok(&mut m, Input::Tick, t0() + secs(1019)).is_empty());
    ok(&mut m, Input::Tick, t0() + secs(1020));
    assert_eq!(m.state().step_index, Some(1));
}

#[test]
fn freeze_refuses_promote_unless_forced_with_reason() {
    let now = super_now_in_freeze();
    let p = plan_with(
        r#"
[[freeze]]
from = "2026-03-01T00:00:00Z"
until = "2026-03-02T00:00:00Z"
reason = "quarter close"
"#,
    );
    let mut m = machine_in(p, Phase::Canary);
    let r = m
        .apply(act(Action::Promote { force: false }), now)
        .unwrap_err();
    assert_eq!(r.code, codes::FROZEN);
    assert!(r.message.contains("quarter close"), "{}", r.message);
    let r = m
        .apply(
            act(Action::Drain {
                role: Role::Stable,
                force: false,
            }),
            now,
        )
        .unwrap_err();
    assert_eq!(r.code, codes::FROZEN);
    let r = m
        .apply(act_why(Action::Promote { force: true }, "  "), now)
        .unwrap_err();
    assert_eq!(r.code, codes::REASON_REQUIRED);
    assert_eq!(m.state().phase, Phase::Canary);
    // Rollback is never frozen.
    let mut m2 = m.clone();
    ok(&mut m2, act(Action::Rollback), now);
    assert_eq!(m2.state().phase, Phase::RollingBack);
    ok(
        &mut m,
        act_why(Action::Promote { force: true }, "hotfix for outage"),
        now,
    );
    assert_eq!(m.state().phase, Phase::Promoting);
}

fn super_now_in_freeze() -> chrono::DateTime<chrono::Utc> {
    t0() + secs(1)
}

#[test]
fn last_bake_inside_freeze_waits_then_promotes() {
    let p = plan_with(
        r#"
[[freeze]]
from = "2026-03-01T12:01:00Z"
until = "2026-03-01T13:00:00Z"
reason = "holidays"
"#,
    );
    let mut m = machine_in(p, Phase::Canary);
    ok(&mut m, Input::Tick, t0() + secs(30));
    let fx = ok(&mut m, Input::Tick, t0() + secs(90));
    assert_eq!(m.state().phase, Phase::Canary, "held by the freeze");
    assert!(m.state().held_by_freeze.is_some());
    assert!(fx.iter().any(|e| matches!(e, Effect::Emit(EventKind::Warning { message }) if message.contains("holidays"))));
    // Said once, not on every tick.
    assert!(ok(&mut m, Input::Tick, t0() + secs(120)).is_empty());
    ok(&mut m, Input::Tick, t0() + secs(3600));
    assert_eq!(m.state().phase, Phase::Promoting);
}

#[test]
fn warmup_runs_before_any_traffic() {
    let mut m = machine_in(
        plan_with("[warmup]\npath = \"/\"\nrequests = 5"),
        Phase::Warming,
    );
    let fx = ok(
        &mut m,
        Input::ReplicaHealthy {
            role: Role::Canary,
            id: "c2".into(),
        },
        t0(),
    );
    assert_eq!(fx.first(), Some(&Effect::Warmup));
    assert_eq!(m.state().phase, Phase::Warming);
    assert_eq!(m.state().weight_permille, 0);
    // A second healthy replica does not warm up twice.
    assert!(
        !ok(
            &mut m,
            Input::ReplicaHealthy {
                role: Role::Canary,
                id: "c1".into()
            },
            t0()
        )
        .contains(&Effect::Warmup)
    );
    ok(
        &mut m,
        Input::WarmupDone {
            detail: "5 ok".into(),
            failed: 0,
        },
        t0(),
    );
    assert_eq!(m.state().phase, Phase::Canary);
    assert_eq!(m.state().weight_permille, 100);
}

/// With `warmup.max_failures`, a warm-up that failed more than that ends
/// the release before its first step: the canary is removed, the weight
/// never left 0. Up to the limit, the first step follows as usual.
#[test]
fn a_warmup_over_its_failure_budget_fails_the_release_before_any_client() {
    for (failed, phase, weight) in [(2, Phase::Canary, 100), (3, Phase::Failed, 0)] {
        let mut m = machine_in(
            plan_with("[warmup]\npath = \"/\"\nrequests = 10\nmax_failures = 2"),
            Phase::Warming,
        );
        ok(
            &mut m,
            Input::ReplicaHealthy {
                role: Role::Canary,
                id: "c2".into(),
            },
            t0(),
        );
        let fx = ok(
            &mut m,
            Input::WarmupDone {
                detail: format!("{} of 10 answered, {failed} failed", 10 - failed),
                failed,
            },
            t0(),
        );
        assert_eq!(
            (m.state().phase, m.state().weight_permille),
            (phase, weight),
            "{failed} failed"
        );
        if phase == Phase::Failed {
            assert!(
                fx.contains(&Effect::Remove { role: Role::Canary }),
                "{fx:?}"
            );
            assert_eq!(
                m.state().last_outcome,
                Some(cutover::controller::Outcome::Failed)
            );
        }
    }
}

#[test]
fn min_healthy_counts_replicas() {
    let text = PLAN.replace(
        "start_timeout = \"60s\"",
        "start_timeout = \"60s\"\nmin_healthy = 2",
    );
    let mut m = machine_in(plan_text(&text), Phase::Warming);
    ok(
        &mut m,
        Input::ReplicaHealthy {
            role: Role::Canary,
            id: "c1".into(),
        },
        t0(),
    );
    assert_eq!(m.state().phase, Phase::Warming);
    ok(
        &mut m,
        Input::ReplicaUnhealthy {
            role: Role::Canary,
            id: "c1".into(),
        },
        t0(),
    );
    ok(
        &mut m,
        Input::ReplicaHealthy {
            role: Role::Canary,
            id: "c2".into(),
        },
        t0(),
    );
    assert_eq!(m.state().phase, Phase::Warming, "c1 went unhealthy again");
    ok(
        &mut m,
        Input::ReplicaHealthy {
            role: Role::Canary,
            id: "c1".into(),
        },
        t0(),
    );
    assert_eq!(m.state().phase, Phase::Canary);
}

#[test]
fn never_healthy_fails_without_touching_stable_or_weight() {
    let mut m = machine_in(plan(), Phase::Warming);
    let fx = ok(&mut m, Input::Tick, t0() + secs(60));
    assert_eq!(m.state().phase, Phase::Failed);
    assert_eq!(m.state().last_outcome, Some(Outcome::Failed));
    assert!(fx.contains(&Effect::Remove { role: Role::Canary }));
    assert!(
        !fx.iter().any(|e| matches!(e, Effect::SetWeight { .. })),
        "no traffic ever: {fx:?}"
    );
    assert!(!fx.iter().any(|e| matches!(
        e,
        Effect::Stop {
            role: Role::Stable,
            ..
        } | Effect::Remove { role: Role::Stable }
    )));
    // No new deploy until the failed canary is gone.
    let r = m
        .apply(
            act(Action::Deploy {
                image: String::new(),
            }),
            t0() + secs(61),
        )
        .unwrap_err();
    assert_eq!(r.code, codes::BUSY);
    ok(
        &mut m,
        Input::Removed { role: Role::Canary },
        t0() + secs(62),
    );
    ok(
        &mut m,
        act(Action::Deploy {
            image: String::new(),
        }),
        t0() + secs(63),
    );
    assert_eq!(m.state().release, 2);
    assert_eq!(m.state().last_outcome, None);
}

#[test]
fn every_canary_replica_exiting_rolls_back() {
    let mut m = machine_in(plan(), Phase::Canary);
    let exit = |id: &str| Input::ReplicaExited {
        role: Role::Canary,
        id: id.into(),
        detail: "exit 137".into(),
    };
    ok(&mut m, exit("c1"), t0());
    assert_eq!(m.state().phase, Phase::Canary);
    let fx = ok(&mut m, exit("c2"), t0());
    assert_eq!(m.state().phase, Phase::RollingBack);
    assert_eq!(
        fx[0],
        Effect::SetWeight {
            permille: 0,
            by: Actor::System
        }
    );
}

#[test]
fn no_steps_means_manual_weight_from_zero() {
    let text = PLAN.replace(
        "[[steps]]\nweight = 10\nbake = \"30s\"\n[[steps]]\nweight = 50\nbake = \"60s\"\n",
        "",
    );
    let p = plan_text(&text);
    assert!(p.steps.is_empty());
    let mut m = machine_in(p, Phase::Canary);
    assert_eq!(m.state().weight_permille, 0);
    assert!(
        ok(&mut m, Input::Tick, t0() + secs(100_000)).is_empty(),
        "never promotes by itself"
    );
    let r = m.apply(act(Action::Step), t0()).unwrap_err();
    assert_eq!(r.code, codes::NO_STEPS);
    let fx = ok(
        &mut m,
        act_why(Action::SetWeight { permille: 250 }, "slider"),
        t0(),
    );
    assert!(fx.contains(&Effect::SetWeight {
        permille: 250,
        by: Actor::Cli
    }));
    assert!(fx.iter().any(|e| matches!(e, Effect::Emit(EventKind::Weight { from: 0, to: 250, by: Actor::Cli, reason: Some(r) }) if r == "slider")));
}

#[test]
fn step_action_and_last_step() {
    let mut m = machine_in(plan(), Phase::Canary);
    ok(&mut m, act(Action::Step), t0());
    assert_eq!(m.state().weight_permille, 500);
    let r = m.apply(act(Action::Step), t0()).unwrap_err();
    assert_eq!(r.code, codes::NO_NEXT_STEP);
    // A stale bake timer of step 0 does nothing.
    assert!(ok(&mut m, Input::BakeElapsed { step: 0 }, t0()).is_empty());
}

#[test]
fn deploy_image_per_runtime() {
    let mut m = Machine::new(plan());
    ok(&mut m, act(Action::Deploy { image: "v9".into() }), t0());
    let fx_spec = m.spec(Role::Canary).unwrap();
    assert_eq!(fx_spec.version, "v9");
    assert_eq!(fx_spec.release, 1);
    assert_eq!(
        fx_spec.command.unwrap(),
        ["demo-app", "--port", "{port}", "--version", "v9"],
        "the plan's [deploy] command with the version filled in"
    );

    let docker = plan_text("service = \"s\"\n[stable]\nimage = \"shop:1.4\"\n");
    let mut m = Machine::new(docker.clone());
    let r = m
        .apply(
            act(Action::Deploy {
                image: String::new(),
            }),
            t0(),
        )
        .unwrap_err();
    assert_eq!(r.code, codes::NO_CANARY_SPEC);
    let fx = ok(
        &mut m,
        act(Action::Deploy {
            image: "shop:1.5".into(),
        }),
        t0(),
    );
    let Some(Effect::StartCanary { spec }) =
        fx.iter().find(|e| matches!(e, Effect::StartCanary { .. }))
    else {
        panic!("no start in {fx:?}")
    };
    assert_eq!(spec.image.as_deref(), Some("shop:1.5"));
    assert_eq!(spec.version, "1.5");
    assert_eq!(spec.role, Role::Canary);
}

/// The process runtime runs what a deploy names as the daemon's user, so
/// a deploy through the API may only fill the plan's `[deploy] command`
/// with a plain version; without a template, only the plan's `[canary]`.
/// A refusal changes nothing and says what the plan allows.
#[test]
fn process_deploys_only_fill_the_plans_template() {
    let bare = plan_text(
        "service = \"s\"\nruntime = \"process\"\n[stable]\ncommand = [\"app\", \"--version\", \"v1\"]\n[canary]\ncommand = [\"app\", \"--version\", \"v2\"]\n",
    );
    let mut m = Machine::new(bare);
    let r = m
        .apply(
            act(Action::Deploy {
                image: "sh -c 'touch /tmp/pwned'".into(),
            }),
            t0(),
        )
        .unwrap_err();
    assert_eq!(r.code, codes::NOT_ALLOWED);
    assert!(
        r.message.contains("deploys only its own [canary]")
            && r.message.contains("[deploy] command = "),
        "{}",
        r.message
    );
    assert_eq!((m.state().phase, m.state().release), (Phase::Idle, 0));
    // The plan's own canary still deploys.
    ok(
        &mut m,
        act(Action::Deploy {
            image: String::new(),
        }),
        t0(),
    );
    assert_eq!(
        m.spec(Role::Canary).unwrap().command.unwrap(),
        ["app", "--version", "v2"]
    );

    for hostile in [
        "v2 --evil",
        "v2;id",
        "$(id)",
        "../../bin/sh",
        "-rf",
        ".hidden",
        "a/b",
        "v2\u{1b}[2J",
        "",
    ] {
        let mut m = Machine::new(plan());
        let input = act(Action::Deploy {
            image: hostile.into(),
        });
        if hostile.is_empty() {
            // Empty is the plan's own canary, not a version.
            ok(&mut m, input, t0());
            continue;
        }
        let r = m.apply(input, t0()).unwrap_err();
        assert_eq!(r.code, codes::NOT_ALLOWED, "{hostile:?}: {r:?}");
        assert!(
            r.message
                .contains("deploy.command `demo-app --port {port} --version {version}`"),
            "{hostile:?}: {}",
            r.message
        );
        assert_eq!(
            (m.state().phase, m.state().release),
            (Phase::Idle, 0),
            "{hostile:?}"
        );
    }
    let mut m = Machine::new(plan());
    ok(
        &mut m,
        act(Action::Deploy {
            image: "1.5.0+build.7".into(),
        }),
        t0(),
    );
    let spec = m.spec(Role::Canary).unwrap();
    assert_eq!(spec.version, "1.5.0+build.7");
    assert_eq!(
        spec.command.unwrap(),
        ["demo-app", "--port", "{port}", "--version", "1.5.0+build.7"]
    );
}

/// With `[deploy] image`, a docker deploy names a tag of that repository,
/// never another image.
#[test]
fn docker_deploys_with_a_template_name_a_tag() {
    let docker = plan_text(
        "service = \"s\"\n[stable]\nimage = \"reg.example.com/shop:1.4\"\n[deploy]\nimage = \"reg.example.com/shop:{version}\"\n",
    );
    let mut m = Machine::new(docker.clone());
    for hostile in ["evil/miner:latest", "1.5+build", "privileged"] {
        let mut m = Machine::new(docker.clone());
        let r = m
            .apply(
                act(Action::Deploy {
                    image: hostile.into(),
                }),
                t0(),
            )
            .map(|_| ());
        match hostile {
            // A plain name is a tag of the template's repository.
            "privileged" => assert!(r.is_ok()),
            _ => assert_eq!(r.unwrap_err().code, codes::NOT_ALLOWED, "{hostile}"),
        }
    }
    ok(
        &mut m,
        act(Action::Deploy {
            image: "1.5.0".into(),
        }),
        t0(),
    );
    let spec = m.spec(Role::Canary).unwrap();
    assert_eq!(spec.image.as_deref(), Some("reg.example.com/shop:1.5.0"));
    assert_eq!(spec.version, "1.5.0");
}

#[test]
fn restored_state_resumes_effects() {
    let m = machine_in(plan(), Phase::Canary);
    let restored = Machine::restore(plan(), m.state().clone());
    let fx = restored.resume_effects();
    assert_eq!(
        fx[0],
        Effect::SetWeight {
            permille: 100,
            by: Actor::System
        }
    );
    assert!(
        fx.contains(&Effect::ArmTrips { trips: trip(20) }),
        "guard still armed"
    );
    let m = machine_in(plan(), Phase::Promoting);
    let fx = Machine::restore(plan(), m.state().clone()).resume_effects();
    assert!(fx.contains(&Effect::Remove { role: Role::Stable }));
    let m = machine_in(plan(), Phase::RollingBack);
    let fx = Machine::restore(plan(), m.state().clone()).resume_effects();
    assert_eq!(
        fx[0],
        Effect::SetWeight {
            permille: 0,
            by: Actor::System
        }
    );
    assert!(fx.contains(&Effect::Remove { role: Role::Canary }));
}

#[test]
fn refused_event_records_who_and_why() {
    let mut m = machine_in(plan(), Phase::Idle);
    let Input::Action(req) = act_why(Action::Rollback, "panic button") else {
        unreachable!()
    };
    let r = m.apply(Input::Action(req.clone()), t0()).unwrap_err();
    match cutover::controller::machine::refused_event(&req, &r) {
        EventKind::Action {
            action,
            by,
            reason,
            ok,
            detail,
        } => {
            assert_eq!(action, "rollback");
            assert_eq!(by, Actor::Cli);
            assert_eq!(reason.as_deref(), Some("panic button"));
            assert!(!ok);
            assert!(detail.contains("illegal_in_phase"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
}

fn unhealthy(id: &str) -> Input {
    Input::ReplicaUnhealthy {
        role: Role::Canary,
        id: id.into(),
    }
}

fn healthy(id: &str) -> Input {
    Input::ReplicaHealthy {
        role: Role::Canary,
        id: id.into(),
    }
}

fn touches_stable(e: &Effect) -> bool {
    matches!(
        e,
        Effect::Drain {
            role: Role::Stable,
            ..
        } | Effect::Stop {
            role: Role::Stable,
            ..
        } | Effect::Remove { role: Role::Stable }
    )
}

/// Argo Rollouts #777: a canary that dies while stable is being drained must
/// not leave the service with no capacity. Stable is kept, traffic goes back
/// to it first, and the canary is rolled back with the reason journaled.
#[test]
fn canary_lost_mid_promote_keeps_stable_and_rolls_back() {
    let mut m = machine_in(plan(), Phase::Promoting);
    assert_eq!(m.state().weight_permille, 1000);
    let fx = ok(&mut m, unhealthy("c1"), t0() + secs(2));
    assert_eq!(m.state().phase, Phase::RollingBack);
    assert_eq!(
        fx[0],
        Effect::SetWeight {
            permille: 0,
            by: Actor::System
        },
        "traffic back on stable before anything else: {fx:?}"
    );
    let restore = pos(&fx, |e| *e == Effect::RestoreStable).expect("stable is kept");
    let remove = pos(&fx, |e| *e == Effect::Remove { role: Role::Canary }).unwrap();
    assert!(restore < remove);
    assert!(!fx.iter().any(touches_stable), "{fx:?}");
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Emit(EventKind::Phase { from: Phase::Promoting, to: Phase::RollingBack, reason: Some(r), .. })
            if r.contains("promotion abandoned") && r.contains("c1")
    )), "the reason is journaled: {fx:?}");
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Emit(EventKind::Weight {
            from: 1000,
            to: 0,
            ..
        })
    )));
    assert_eq!(fx.last(), Some(&Effect::Persist));
    assert_eq!(m.state().removing, Some(Role::Canary));

    // A removal of stable that had already begun reports late: nothing changes.
    assert!(
        ok(
            &mut m,
            Input::Removed { role: Role::Stable },
            t0() + secs(3)
        )
        .is_empty()
    );
    ok(
        &mut m,
        Input::Removed { role: Role::Canary },
        t0() + secs(4),
    );
    assert_eq!(m.state().phase, Phase::Idle);
    assert_eq!(m.state().last_outcome, Some(Outcome::RolledBack));
    assert_eq!(
        m.state().stable.version.as_deref(),
        Some("v1"),
        "stable stayed"
    );
    assert!(m.state().canary.is_none());
}

#[test]
fn promote_goes_on_while_one_canary_replica_still_serves() {
    let mut m = machine_in(plan(), Phase::Warming);
    ok(&mut m, healthy("c1"), t0());
    ok(&mut m, healthy("c2"), t0());
    ok(&mut m, act(Action::Promote { force: false }), t0());
    let fx = ok(
        &mut m,
        Input::ReplicaExited {
            role: Role::Canary,
            id: "c1".into(),
            detail: "exit 137".into(),
        },
        t0() + secs(1),
    );
    assert_eq!(m.state().phase, Phase::Promoting, "c2 still serves");
    assert!(!fx.contains(&Effect::RestoreStable));
    let fx = ok(&mut m, unhealthy("c2"), t0() + secs(2));
    assert_eq!(m.state().phase, Phase::RollingBack, "the last one failed");
    assert!(fx.contains(&Effect::RestoreStable));
}

#[test]
fn a_mute_ends_with_its_release() {
    let mut m = machine_in(plan(), Phase::Canary);
    ok(
        &mut m,
        act_why(Action::MuteGuards { muted: true }, "noisy"),
        t0(),
    );
    ok(&mut m, act(Action::Rollback), t0());
    ok(&mut m, Input::Removed { role: Role::Canary }, t0());
    assert!(m.state().muted, "still muted while idle (nothing to guard)");
    let fx = ok(
        &mut m,
        act(Action::Deploy {
            image: String::new(),
        }),
        t0() + secs(1),
    );
    assert!(!m.state().muted, "a new release starts with guards armed");
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Emit(EventKind::Warning { message }) if message.contains("guards unmuted") && message.contains("release 2")
    )), "the end of the mute is journaled: {fx:?}");
    ok(
        &mut m,
        Input::CanaryStarted {
            replicas: vec!["c1".into()],
        },
        t0() + secs(1),
    );
    let fx = ok(&mut m, healthy("c1"), t0() + secs(2));
    assert!(fx.contains(&Effect::ArmTrips { trips: trip(20) }));
    // A breach acts again.
    ok(&mut m, breach(), t0() + secs(3));
    assert_eq!(m.state().phase, Phase::RollingBack);
}

fn set_guards(patch: GuardPatch, why: &str) -> Input {
    act_why(Action::SetGuards { guards: patch }, why)
}

#[test]
fn set_guards_is_checked_journaled_and_rearms_the_trip() {
    let mut m = machine_in(plan(), Phase::Canary);
    let before = m.state().clone();
    // A value the plan would refuse is refused the same way; nothing changes.
    let r = m
        .apply(
            set_guards(
                GuardPatch {
                    trip_after: Some(Some(5)),
                    max_error_rate: Some(Some(1.5)),
                    ..GuardPatch::default()
                },
                "typo",
            ),
            t0(),
        )
        .unwrap_err();
    assert_eq!(r.code, codes::INVALID_VALUE);
    assert!(
        r.message.contains("guard.max_error_rate")
            && r.message.contains("from 0 up to (not including) 1"),
        "{}",
        r.message
    );
    assert_eq!(m.state(), &before);

    let fx = ok(
        &mut m,
        set_guards(
            GuardPatch {
                trip_after: Some(Some(5)),
                max_p99: Some(Some("250ms".parse().unwrap())),
                on_breach: Some(cutover::plan::OnBreach::Pause),
                ..GuardPatch::default()
            },
            "tighter for the holidays",
        ),
        t0(),
    );
    let detail = fx
        .iter()
        .find_map(|e| match e {
            Effect::Emit(EventKind::Action {
                action,
                by: Actor::Cli,
                reason: Some(r),
                ok: true,
                detail,
            }) if action == "set_guards" && r == "tighter for the holidays" => Some(detail.clone()),
            _ => None,
        })
        .expect("journaled with who and why");
    assert_eq!(
        detail,
        "guard thresholds of release 1: max_p99 off → 250ms, trip_after 20 → 5, on_breach rollback → pause"
    );
    let g = m.state().guard(m.plan()).clone();
    assert_eq!(g.trip_after, Some(5));
    assert_eq!(g.on_breach, cutover::plan::OnBreach::Pause);
    // on_breach = pause: the proxy's trip (a rollback by nature) is disarmed.
    assert!(
        fx.contains(&Effect::ArmTrips { trips: Trips::OFF }),
        "{fx:?}"
    );
    assert_eq!(fx.last(), Some(&Effect::Persist));
    // Applied from the next input: a breach now pauses.
    ok(&mut m, breach(), t0() + secs(1));
    assert_eq!(m.state().phase, Phase::Paused);
    // Back to rollback with a new trip_after: the trip is armed with it.
    let fx = ok(
        &mut m,
        set_guards(
            GuardPatch {
                trip_after: Some(Some(7)),
                on_breach: Some(cutover::plan::OnBreach::Rollback),
                ..GuardPatch::default()
            },
            "back",
        ),
        t0() + secs(2),
    );
    assert!(fx.contains(&Effect::ArmTrips { trips: trip(7) }), "{fx:?}");
    // The edit survives a restore (it lives in the persisted state)...
    let restored = Machine::restore(plan(), m.state().clone());
    assert!(
        restored
            .resume_effects()
            .contains(&Effect::ArmTrips { trips: trip(7) })
    );
    // ...and ends with the release.
    ok(&mut m, act(Action::Rollback), t0() + secs(3));
    ok(
        &mut m,
        Input::Removed { role: Role::Canary },
        t0() + secs(4),
    );
    let fx = ok(
        &mut m,
        act(Action::Deploy {
            image: String::new(),
        }),
        t0() + secs(5),
    );
    assert!(m.state().guard.is_none());
    assert_eq!(m.state().guard(m.plan()).trip_after, Some(20));
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Emit(EventKind::Warning { message }) if message.contains("starts with the plan's") && message.contains("trip_after 7 → 20")
    )), "{fx:?}");
}

#[test]
fn drain_stable_is_forced_through_a_freeze_like_promote() {
    let p = plan_with(
        "[[freeze]]\nfrom = \"2026-03-01T00:00:00Z\"\nuntil = \"2026-03-02T00:00:00Z\"\nreason = \"quarter close\"\n",
    );
    let mut m = machine_in(p, Phase::Canary);
    let now = t0() + secs(1);
    let drain = |force| Action::Drain {
        role: Role::Stable,
        force,
    };
    let r = m.apply(act(drain(false)), now).unwrap_err();
    assert_eq!(r.code, codes::FROZEN);
    assert!(
        r.message.contains("drain stable with --force --reason"),
        "{}",
        r.message
    );
    let r = m.apply(act(drain(true)), now).unwrap_err();
    assert_eq!(r.code, codes::REASON_REQUIRED);
    let fx = ok(&mut m, act_why(drain(true), "hotfix must ship"), now);
    assert_eq!(m.state().phase, Phase::Promoting);
    assert!(
        fx.iter().any(|e| matches!(
            e,
            Effect::Emit(EventKind::Action { action, reason: Some(r), detail, .. })
                if action == "drain" && r == "hotfix must ship" && detail.contains("forced")
        )),
        "{fx:?}"
    );
}

#[test]
fn inconsistent_restored_states_are_repaired_not_panicked() {
    // Promoting without a canary on record: idle with stable, said out loud.
    let mut st = machine_in(plan(), Phase::Promoting).state().clone();
    st.canary = None;
    let mut m = Machine::restore(plan(), st);
    let notes = m.take_notes();
    assert_eq!(m.state().phase, Phase::Idle);
    assert_eq!(m.state().weight_permille, 0);
    assert!(
        notes.iter().any(|n| n.contains("without a canary")),
        "{notes:?}"
    );
    assert!(ok(&mut m, Input::Removed { role: Role::Stable }, t0()).is_empty());
    assert!(m.take_notes().is_empty(), "said once");
    // A step the plan no longer has, a weight the phase forbids.
    let mut st = machine_in(plan(), Phase::Canary).state().clone();
    st.step_index = Some(9);
    st.weight_permille = 1500;
    let mut m = Machine::restore(plan(), st);
    assert_eq!(m.take_notes().len(), 2);
    assert_eq!(m.state().step_index, None);
    assert_eq!(m.state().weight_permille, 1000);
    ok(&mut m, Input::Tick, t0() + secs(1000));
    assert_eq!(m.state().phase, Phase::Canary, "no step to bake");
    // A consistent state needs no repair.
    let mut m = Machine::restore(plan(), machine_in(plan(), Phase::Paused).state().clone());
    assert!(m.take_notes().is_empty());
}
