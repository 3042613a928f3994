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

/// Between snapshots the state is the last snapshot with every later event
/// applied in full: tick figures, breaches, replica status.
#[test]
fn events_after_the_last_snapshot_are_applied_in_full() {
    let mut events = support::recording(10);
    let last = events.last().unwrap().at;
    let more = |n: i64| last + Cd::milliseconds(n);
    events.push(Event {
        seq: 9001,
        at: more(100),
        kind: EventKind::Tick {
            stable: cutover::model::VersionStats {
                total_requests: 123_456,
                ..Default::default()
            },
            canary: None,
            sample: None,
        },
    });
    events.push(Event {
        seq: 9002,
        at: more(200),
        kind: EventKind::Replica {
            role: cutover::model::Role::Stable,
            replica: "stable-1".into(),
            status: cutover::model::ReplicaStatus::Exited,
            detail: "exited 137".into(),
        },
    });
    events.push(Event {
        seq: 9003,
        at: more(300),
        kind: EventKind::Breach {
            guard: cutover::model::Guard::MaxP99,
            value: 400.0,
            threshold: 300.0,
            on_breach: cutover::plan::OnBreach::Pause,
            detail: "p99 400 ms".into(),
            evidence: None,
        },
    });
    let j = parse_journal(&support::to_text(&support::header(), &events)).unwrap();
    let mut p = Player::new(j);
    p.seek(p.duration());
    let s = p.state().unwrap();
    assert_eq!(s.stable.stats.total_requests, 123_456);
    assert_eq!(
        s.stable.replicas[0].status,
        cutover::model::ReplicaStatus::Exited
    );
    let b = s.last_breach.as_ref().unwrap();
    assert_eq!((b.guard, b.at), (cutover::model::Guard::MaxP99, more(300)));
    assert_eq!(s.at, more(300));
}

mod session {
    //! The replay cockpit's session: seeking rebuilds the same model as
    //! playing from the start, speeds are what was asked, `--speed 0` ends.

    use super::support;
    use chrono::Duration as Cd;
    use cutover::journal::parse_journal;
    use cutover::model::{Event, EventKind};
    use cutover::tui::keymap::Keymap;
    use cutover::tui::{App, ReplayControl, ReplaySession, ReplayView};
    use std::time::Duration;

    /// A long recording (past the graphs' 300 s and the panel's 500 lines):
    /// the support recording plus a warning every 250 ms.
    fn long_recording(secs: u64) -> Vec<Event> {
        let mut events = support::recording(secs);
        let mut seq = 100_000;
        let mut all = Vec::new();
        for e in events.drain(..) {
            while all
                .last()
                .is_some_and(|l: &Event| l.at < e.at - Cd::milliseconds(250))
            {
                let at = all.last().unwrap().at + Cd::milliseconds(250);
                seq += 1;
                all.push(Event {
                    seq,
                    at,
                    kind: EventKind::Warning {
                        message: format!("note {seq}"),
                    },
                });
            }
            all.push(e);
        }
        all
    }

    fn session(events: &[Event], speed: f64) -> ReplaySession {
        let j = parse_journal(&support::to_text(&support::header(), events)).unwrap();
        ReplaySession::new(
            j,
            "long.jsonl",
            Keymap::default(),
            Default::default(),
            speed,
        )
    }

    /// The model a replay from the start would hold at `position`.
    fn from_scratch(events: &[Event], position: Duration) -> App {
        let mut app = App::for_replay(
            Keymap::default(),
            &Default::default(),
            ReplayView::default(),
        );
        let t0 = events[0].at;
        for e in events {
            if (e.at - t0).num_milliseconds() as u128 <= position.as_millis() {
                app.apply_event(e);
            }
        }
        app
    }

    fn assert_same_model(s: &ReplaySession, events: &[Event]) {
        let want = from_scratch(events, s.position());
        let got = s.app();
        assert_eq!(got.state, want.state, "state at {:?}", s.position());
        assert_eq!(got.history, want.history, "graphs at {:?}", s.position());
        assert_eq!(
            got.events,
            want.events,
            "events panel at {:?}",
            s.position()
        );
        assert_eq!(got.now, want.now);
    }

    #[test]
    fn seeking_rebuilds_the_model_playing_would_have() {
        let events = long_recording(420);
        let panel = events
            .iter()
            .filter(|e| !matches!(e.kind, EventKind::Snapshot { .. } | EventKind::Tick { .. }))
            .count();
        assert!(panel > 2 * cutover::tui::app::EVENTS_KEPT, "{panel}");
        let mut s = session(&events, 1.0);
        s.paused = true;
        assert_same_model(&s, &events);
        for secs in [5, 100, 200, 30, -10, 40, -300, 7, 400, -1, -35] {
            s.control(ReplayControl::Seek(secs));
            assert_same_model(&s, &events);
        }
        // Playing on from a seek stays the same model too.
        s.paused = false;
        for _ in 0..40 {
            s.tick(Duration::from_millis(100));
        }
        assert_same_model(&s, &events);
    }

    #[test]
    fn speed_is_what_was_asked_up_to_ten_thousand() {
        let events = support::recording(60);
        for speed in [100.0, 1000.0, 10_000.0] {
            let mut s = session(&events, speed);
            assert_eq!(s.speed, speed);
            s.tick(Duration::from_millis(10));
            assert_eq!(
                s.position(),
                Duration::from_millis((10.0 * speed) as u64).min(s.duration())
            );
            assert_eq!(s.app().replay.as_ref().unwrap().speed, speed);
        }
        // `+` doubles up to the cap, never past it.
        let mut s = session(&events, 8000.0);
        s.control(ReplayControl::Speed(2.0));
        assert_eq!(s.speed, cutover::tui::replay_session::MAX_SPEED);
        assert!(cutover::tui::replay_session::check_speed(100.0).is_ok());
        assert!(cutover::tui::replay_session::check_speed(0.0).is_ok());
        for bad in [-1.0, f64::NAN, f64::INFINITY, 20_000.0, 0.1] {
            assert!(
                cutover::tui::replay_session::check_speed(bad).is_err(),
                "{bad}"
            );
        }
    }

    /// `--speed 0` starts at the end, and the banner says it has ended
    /// instead of "playing at …×".
    #[test]
    fn speed_zero_jumps_to_the_end() {
        let events = support::recording(60);
        let mut s = session(&events, 0.0);
        assert!(s.at_end());
        assert_eq!(s.position(), s.duration());
        assert!(!s.tick(Duration::from_secs(1)), "nothing left to play");
        let theme = cutover::tui::Theme::load("dark", None, true).unwrap();
        s.app_mut().set_size(120, 36);
        let screen =
            crate::support::tui::text(&cutover::tui::render_frame(s.app(), &theme, 120, 36));
        assert!(screen.contains("■ end"), "{screen}");
        assert!(!screen.contains("playing"), "{screen}");
    }

    /// Timeline marks sit at the player's offsets, which never go backwards
    /// (a clock step cannot put a mark before the events around it).
    #[test]
    fn marks_use_the_clamped_offsets() {
        let mut events = support::recording(20);
        // The deploy action (second 2) stamped 30 s in the past.
        let i = events
            .iter()
            .position(|e| matches!(e.kind, EventKind::Action { .. }))
            .unwrap();
        events[i].at -= Cd::seconds(30);
        let s = session(&events, 1.0);
        let marks = &s.app().replay.as_ref().unwrap().marks;
        assert_eq!(marks.len(), 2);
        // Offsets count from the first event (0.5 s): the action is clamped
        // to the offset of the event before it (second 1's snapshot, 1.5 s).
        assert_eq!(marks[0].at_ms, 1_000);
        assert_eq!(marks[1].at_ms, 11_800);
    }
}
