//! The pure player: advancing crosses each event exactly once, seeking lands
//! on the same state as playing there, weight/phase changes after the last
//! snapshot are applied, and markers point at actions and breaches.

use crate::support::journal as support;

use chrono::Duration as Cd;
use cutover::journal::{MarkerKind, Player, parse_journal};
use cutover::model::{Actor, Event, EventKind, Phase};
use proptest::prelude::*;
use std::time::Duration;

fn player(secs: u64) -> (Player, Vec<Event>) {
    let events = support::recording(secs);
    let j = parse_journal(&support::to_text(&support::header(), &events)).unwrap();
    (Player::new(j), events)
}

#[test]
fn advancing_crosses_every_event_once_in_order() {
    let (mut p, events) = player(20);
    assert_eq!(p.duration(), Duration::from_secs(20));
    let mut seen: Vec<Event> = p.applied().to_vec();
    while !p.at_end() {
        seen.extend(p.advance(Duration::from_millis(333)));
    }
    assert_eq!(seen, events);
    assert_eq!(p.position(), p.duration());
    assert!(p.advance(Duration::from_secs(5)).is_empty());
}

#[test]
fn state_follows_the_recording() {
    let (mut p, _) = player(20);
    // Positions count from the first event (a tick and snapshot 0.5 s in).
    assert_eq!(p.state().unwrap().phase, Phase::Idle);
    p.seek(Duration::from_millis(1_600));
    // Phase and weight events at 1.5 s land on top of the 1.0 s snapshot.
    let s = p.state().unwrap();
    assert_eq!((s.phase, s.weight_permille), (Phase::Canary, 100));
    p.seek(Duration::from_millis(11_900));
    let s = p.state().unwrap();
    assert_eq!((s.phase, s.weight_permille), (Phase::RollingBack, 0));
    p.seek(Duration::from_secs(3600));
    assert!(p.at_end());
    assert_eq!(p.state().unwrap().phase, Phase::Idle);
}

#[test]
fn markers_are_the_actions_and_breaches() {
    let (p, _) = player(20);
    let m = p.markers();
    assert_eq!(m.len(), 2);
    assert_eq!(
        (m[0].kind, m[0].at),
        (MarkerKind::Action, Duration::from_millis(1_500))
    );
    assert_eq!(m[0].label, "deploy by cli");
    assert_eq!(
        (m[1].kind, m[1].at),
        (MarkerKind::Breach, Duration::from_millis(11_800))
    );
}

#[test]
fn timestamps_going_backwards_still_play_in_file_order() {
    let mut events = support::recording(3);
    let back = events[4].at - Cd::seconds(30);
    events[4].at = back;
    let j = parse_journal(&support::to_text(&support::header(), &events)).unwrap();
    let mut p = Player::new(j);
    let mut seen = p.applied().len();
    while !p.at_end() {
        seen += p.advance(Duration::from_millis(100)).len();
    }
    assert_eq!(seen, events.len());
}

#[test]
fn an_empty_journal_is_at_its_end() {
    let j = parse_journal(&support::to_text(&support::header(), &[])).unwrap();
    let mut p = Player::new(j);
    assert!(p.at_end());
    assert_eq!(p.duration(), Duration::ZERO);
    assert!(p.advance(Duration::from_secs(1)).is_empty());
    assert!(p.state().is_none());
    assert!(p.markers().is_empty());
}

#[test]
fn weight_before_any_snapshot_is_ignored_not_a_panic() {
    let at = support::t0();
    let events = vec![Event {
        seq: 1,
        at,
        kind: EventKind::Weight {
            from: 0,
            to: 10,
            by: Actor::Cli,
            reason: None,
        },
    }];
    let j = parse_journal(&support::to_text(&support::header(), &events)).unwrap();
    let p = Player::new(j);
    assert!(p.state().is_none());
}

proptest! {
    #[test]
    fn seeking_equals_playing(stops in proptest::collection::vec(0u64..25_000, 1..12), target in 0u64..25_000) {
        let (mut played, _) = player(20);
        for s in stops {
            played.seek(Duration::from_millis(s));
        }
        played.seek(Duration::ZERO);
        let mut walked = 0;
        while walked < target {
            let step = 250.min(target - walked);
            played.advance(Duration::from_millis(step));
            walked += step;
        }
        let (mut sought, _) = player(20);
        sought.seek(Duration::from_millis(target));
        prop_assert_eq!(played.position(), sought.position());
        prop_assert_eq!(played.state(), sought.state());
        prop_assert_eq!(played.applied().len(), sought.applied().len());
    }
}
