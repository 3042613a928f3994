//! A stable replica that exits on its own while the daemon runs is
//! replaced with the [`Effect::Scale`] a `scale` emits (live → recorded),
//! at once the first time and after a growing wait while replacements keep
//! dying (2 s, 4 s, … 60 s); a replacement that stayed up a minute resets
//! the wait. A canary is never replaced, a draining stable neither, and a
//! scale of stable under way is waited for.

use crate::support::controller as support;
use cutover::controller::machine::{LiveReplicas, backoff};
use cutover::controller::{Effect, Input, Machine};
use cutover::model::{Action, Phase, Role};
use std::time::Duration;
use support::*;

fn live(stable: u32) -> LiveReplicas {
    LiveReplicas { stable, canary: 0 }
}

fn exited(role: Role, id: &str) -> Input {
    Input::ReplicaExited {
        role,
        id: id.into(),
        detail: "exited 137 (on its own)".into(),
    }
}

/// `(from, to)` of each stable scale asked for.
fn scales(fx: &[Effect]) -> Vec<(u32, u32)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Scale {
                role: Role::Stable,
                from,
                to,
                ..
            } => Some((*from, *to)),
            _ => None,
        })
        .collect()
}

fn scaled(m: &mut Machine, at: chrono::DateTime<chrono::Utc>) {
    ok(
        m,
        Input::Scaled {
            role: Role::Stable,
            started: vec![],
            stopped: vec![],
        },
        at,
    );
}

#[test]
fn an_unplanned_stable_exit_asks_for_a_replacement_at_once() {
    for phase in [Phase::Idle, Phase::Canary, Phase::Paused, Phase::Failed] {
        let mut m = machine_in(plan(), phase);
        assert_eq!(m.state().stable.replicas, 2);
        let fx = ok(&mut m, exited(Role::Stable, "pid:123"), t0());
        assert!(scales(&fx).is_empty(), "the driver counts first");
        let fx = m.heal(live(1), t0());
        assert_eq!(scales(&fx), [(1, 2)], "{phase}");
        assert_eq!(
            warnings(&fx),
            ["stable pid:123 exited 137 (on its own): starting a replacement (1 of 2 running)"]
        );
        assert_eq!(m.state().stable.replicas, 2, "the record is kept");
        assert_eq!(
            m.state().phase,
            phase,
            "a replacement is not a release step"
        );
        assert_eq!(m.state().scaling, [Role::Stable], "under way like a scale");
        // Asked once: the next tick asks for nothing more.
        assert!(m.heal(live(1), t0()).is_empty());
    }
}

#[test]
fn the_last_stable_replica_is_replaced_too() {
    let mut m = Machine::new(plan_with_one_stable());
    ok(&mut m, exited(Role::Stable, "pid:9"), t0());
    let fx = m.heal(live(0), t0());
    assert_eq!(scales(&fx), [(0, 1)]);
    assert!(warnings(&fx)[0].ends_with("starting a replacement (0 of 1 running)"));
}

fn plan_with_one_stable() -> cutover::plan::Plan {
    let mut p = plan();
    p.stable.replicas = 1;
    p
}

#[test]
fn no_exit_no_replacement() {
    // A planned stop (a scale-down, a promotion's removal) never reaches
    // the machine as an exit: a short count alone asks for nothing here.
    let mut m = machine_in(plan(), Phase::Idle);
    assert!(m.heal(live(1), t0()).is_empty());
    // The recorded count running: an exit asks for nothing either.
    ok(&mut m, exited(Role::Stable, "pid:1"), t0());
    assert!(m.heal(live(2), t0()).is_empty());
    assert!(m.heal(live(1), t0() + secs(1)).is_empty(), "not pending");
}

#[test]
fn a_stable_being_drained_by_a_promotion_is_not_replaced() {
    let mut m = machine_in(plan(), Phase::Promoting);
    let before = m.state().clone();
    let fx = ok(&mut m, exited(Role::Stable, "pid:1"), t0());
    assert!(fx.is_empty());
    assert!(m.heal(live(1), t0()).is_empty());
    assert_eq!(m.state(), &before);
}

#[test]
fn a_canary_exit_is_never_replaced() {
    let mut m = machine_in(plan(), Phase::Canary);
    let fx = ok(&mut m, exited(Role::Canary, "c2"), t0());
    assert!(fx.iter().all(|e| !matches!(e, Effect::Scale { .. })));
    assert!(m.heal(live(2), t0()).is_empty());
    assert!(m.state().healing.due.is_none());
}

#[test]
fn a_scale_under_way_is_waited_for() {
    let mut m = machine_in(plan(), Phase::Idle);
    ok(
        &mut m,
        act(Action::Scale {
            role: Role::Stable,
            replicas: 3,
        }),
        t0(),
    );
    ok(&mut m, exited(Role::Stable, "pid:1"), t0());
    assert!(m.heal(live(1), t0()).is_empty(), "the scale is under way");
    scaled(&mut m, t0() + secs(1));
    // The scale started its two; one of the first two is still missing.
    let fx = m.heal(live(2), t0() + secs(1));
    assert_eq!(scales(&fx), [(2, 3)]);
}

/// A crash loop: every replacement dies a second after it starts.
#[test]
fn replacements_that_keep_dying_back_off_up_to_a_minute() {
    let mut m = machine_in(plan(), Phase::Idle);
    let mut now = t0();
    ok(&mut m, exited(Role::Stable, "pid:1"), now);
    assert_eq!(scales(&m.heal(live(1), now)), [(1, 2)]);
    scaled(&mut m, now);
    let mut waits = Vec::new();
    for i in 0..8 {
        now += secs(1);
        let fx = ok(
            &mut m,
            exited(Role::Stable, &format!("pid:{}", 10 + i)),
            now,
        );
        let due = m.state().healing.due.expect("a replacement is due");
        let wait = (due - now).num_seconds();
        assert_eq!(
            warnings(&fx),
            [format!(
                "stable keeps exiting (stable pid:{} exited 137 (on its own)): next replacement in {wait} s",
                10 + i
            )]
        );
        assert!(m.heal(live(1), due - secs(1)).is_empty(), "not before");
        now = due;
        assert_eq!(scales(&m.heal(live(1), now)), [(1, 2)]);
        scaled(&mut m, now);
        waits.push(wait);
    }
    assert_eq!(waits, [2, 4, 8, 16, 32, 60, 60, 60]);
    // The last replacement stays up a minute: the next exit is replaced
    // at once again.
    now += secs(61);
    let fx = ok(&mut m, exited(Role::Stable, "pid:99"), now);
    assert!(warnings(&fx).is_empty());
    assert_eq!(scales(&m.heal(live(1), now)), [(1, 2)]);
}

#[test]
fn a_replacement_that_cannot_start_is_tried_again_later() {
    let mut m = machine_in(plan(), Phase::Idle);
    ok(&mut m, exited(Role::Stable, "pid:1"), t0());
    m.heal(live(1), t0());
    let fx = ok(
        &mut m,
        Input::ScaleFailed {
            role: Role::Stable,
            from: 1,
            to: 2,
            detail: "no such file".into(),
        },
        t0(),
    );
    assert_eq!(m.state().stable.replicas, 2, "the record is kept");
    assert!(m.state().scaling.is_empty());
    assert_eq!(
        warnings(&fx),
        [
            "stable keeps exiting (stable's replacement could not start: no such file): next replacement in 2 s"
        ]
    );
    assert!(m.heal(live(1), t0() + secs(1)).is_empty());
    assert_eq!(scales(&m.heal(live(1), t0() + secs(2))), [(1, 2)]);
}

#[test]
fn backoff_doubles_from_two_seconds_to_a_minute() {
    let s = |n| Duration::from_secs(n);
    let got: Vec<Duration> = (0..9).map(backoff).collect();
    assert_eq!(
        got,
        [s(0), s(2), s(4), s(8), s(16), s(32), s(60), s(60), s(60)]
    );
    assert_eq!(backoff(u32::MAX), s(60));
}

#[test]
fn a_restart_converges_instead_of_replacing() {
    // Replicas gone while no daemon ran are fed in as exits before the
    // restart converges (or starts stable whole when none is left): no
    // replacement on top of that.
    let saved = machine_in(plan(), Phase::Idle).state().clone();
    let mut m = Machine::restore(plan(), saved);
    ok(&mut m, exited(Role::Stable, "pid:1"), t0());
    ok(&mut m, exited(Role::Stable, "pid:2"), t0());
    assert!(
        m.converge(live(0), t0()).is_empty(),
        "started whole by the driver"
    );
    assert!(m.heal(live(0), t0() + secs(1)).is_empty());
}
