//! The risk rule: which actions, in which states, need the service name typed.

use super::*;
use crate::model::{Evidence, Guard, GuardStatus, GuardVerdict, Phase, Proportion};

fn state(weight: u16, guards: Vec<GuardVerdict>) -> StateView {
    let mut s = crate::tui::app::tests::state(Phase::Canary, weight);
    s.guards = guards;
    s
}

fn verdict(name: Guard, status: GuardStatus, canary: u64, stable: u64) -> GuardVerdict {
    GuardVerdict {
        name,
        value: Some(8.3),
        threshold: 1.25,
        status,
        detail: "not enough evidence yet".into(),
        evidence: Some(Evidence {
            canary: Proportion {
                failures: 0,
                requests: canary,
            },
            stable: Some(Proportion {
                failures: 0,
                requests: stable,
            }),
            confidence: 0.995,
            log_e: 0.0,
            log_threshold: 5.3,
            slow_ms: None,
        }),
    }
}

fn pass() -> GuardVerdict {
    verdict(Guard::MaxErrorRatio, GuardStatus::Pass, 500, 1500)
}

#[test]
fn promote_with_good_evidence_asks_the_ordinary_way() {
    let s = state(250, vec![pass()]);
    assert_eq!(
        typed_confirmation(&s, &Action::Promote { force: false }),
        None
    );
    let jump = Action::SetWeight { permille: 1000 };
    assert_eq!(typed_confirmation(&s, &jump), None);
}

#[test]
fn a_red_guard_makes_promote_and_draining_stable_typed() {
    let s = state(
        250,
        vec![
            pass(),
            verdict(Guard::MaxErrorRatio, GuardStatus::Breach, 500, 1500),
        ],
    );
    for action in [
        Action::Promote { force: false },
        Action::Promote { force: true },
        Action::Drain {
            role: Role::Stable,
            force: false,
        },
    ] {
        let risk = typed_confirmation(&s, &action).expect("typed");
        assert_eq!(risk.expect, "shop");
        assert_eq!(
            risk.reasons,
            ["guard max_error_ratio is red (×8.30 > ×1.25)"]
        );
    }
    // Back towards stable is never made harder.
    for action in [
        Action::Rollback,
        Action::Drain {
            role: Role::Canary,
            force: false,
        },
        Action::SetWeight { permille: 0 },
        Action::Pause,
    ] {
        assert_eq!(typed_confirmation(&s, &action), None, "{action:?}");
    }
}

/// Up by more than 25 points is risky; up by exactly 25, or any way down, is not.
#[test]
fn only_big_jumps_towards_the_canary_are_typed() {
    let s = state(
        50,
        vec![verdict(
            Guard::MaxErrorRatio,
            GuardStatus::NotJudged,
            40,
            900,
        )],
    );
    let to = |permille| typed_confirmation(&s, &Action::SetWeight { permille });
    assert_eq!(to(300), None);
    assert!(to(301).is_some());
    assert!(to(500).is_some());
    let s = state(
        800,
        vec![verdict(
            Guard::MaxErrorRatio,
            GuardStatus::NotJudged,
            40,
            900,
        )],
    );
    assert_eq!(
        typed_confirmation(&s, &Action::SetWeight { permille: 0 }),
        None
    );
}

#[test]
fn insufficient_evidence_says_how_much_there_is() {
    let mut s = state(
        50,
        vec![
            verdict(Guard::MaxErrorRatio, GuardStatus::NotJudged, 40, 900),
            verdict(Guard::MaxP99Ratio, GuardStatus::NotJudged, 60, 120),
        ],
    );
    s.thresholds.as_mut().unwrap().min_requests = 200;
    let risk = typed_confirmation(&s, &Action::Promote { force: false }).unwrap();
    assert_eq!(
        risk.reasons,
        ["evidence insufficient: 40 of 200 canary requests, 120 of 200 stable requests"]
    );
    // Red and thin at once: both said, red first.
    s.guards
        .push(verdict(Guard::MaxErrorRate, GuardStatus::Breach, 40, 900));
    let risk = typed_confirmation(&s, &Action::Promote { force: false }).unwrap();
    assert_eq!(risk.reasons.len(), 2);
    assert!(risk.reasons[0].starts_with("guard max_error_rate is red"));
    assert!(risk.why().contains("; evidence insufficient"));
}

#[test]
fn guards_that_have_said_nothing_yet_are_thin_evidence_unless_off_or_muted() {
    let mut s = state(250, vec![]);
    let promote = Action::Promote { force: false };
    assert_eq!(
        typed_confirmation(&s, &promote).unwrap().reasons,
        ["evidence insufficient: no guard has judged the canary yet"]
    );
    // Every guard switched off: nothing to wait for.
    let t = s.thresholds.as_mut().unwrap();
    (
        t.max_error_ratio,
        t.max_error_rate,
        t.max_p99,
        t.max_p99_ratio,
    ) = (None, None, None, None);
    (t.trip_after, t.max_failed_requests) = (None, None);
    assert_eq!(typed_confirmation(&s, &promote), None);
    // Muted: the operator's call.
    let mut s = state(250, vec![]);
    let mut muted = verdict(Guard::MaxErrorRatio, GuardStatus::Muted, 5, 5);
    muted.value = None;
    s.guards = vec![muted];
    s.guards_muted = true;
    assert_eq!(typed_confirmation(&s, &promote), None);
}
