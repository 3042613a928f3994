//! Inputs from the daemon: the backlog sent on attach fills the events
//! panel without rewinding the state, once even across reconnects; logs
//! go to the replica they were asked for.

use super::tests::{app, key, state, t0};
use super::*;
use crate::model::*;
use chrono::Duration;
use crossterm::event::KeyCode;

fn weight(seq: u64, secs_ago: i64, from: u16, to: u16) -> Event {
    Event {
        seq,
        at: t0() - Duration::seconds(secs_ago),
        kind: EventKind::Weight {
            from,
            to,
            by: Actor::System,
            reason: None,
        },
    }
}

fn seqs(a: &App) -> Vec<u64> {
    a.events.iter().map(|e| e.seq).collect()
}

#[test]
fn the_backlog_after_the_snapshot_fills_the_panel_and_leaves_the_state() {
    // Attached at t0 with the canary at 25 %: the snapshot came first.
    let mut a = app(Phase::Canary, 250);
    let backlog = [weight(7, 90, 0, 50), weight(9, 60, 50, 250)];
    for ev in &backlog {
        a.apply_event(ev);
    }
    assert_eq!(seqs(&a), vec![7, 9]);
    assert_eq!(a.applied(), 250, "history does not rewind the weight");
    assert_eq!(a.now, Some(t0()));
    // Live events go after it.
    a.apply_event(&Event {
        at: t0() + Duration::seconds(1),
        ..weight(10, 0, 250, 300)
    });
    assert_eq!(a.applied(), 300);
    // A reconnect: a fresh snapshot, then the backlog again, one more in it.
    let mut later = state(Phase::Canary, 300);
    later.at = t0() + Duration::seconds(30);
    a.apply_event(&Event {
        seq: 0,
        at: later.at,
        kind: EventKind::Snapshot {
            state: Box::new(later),
        },
    });
    let missed = Event {
        at: t0() + Duration::seconds(20),
        ..weight(11, 0, 300, 300)
    };
    for ev in backlog.iter().chain([&Event {
        at: t0() + Duration::seconds(1),
        ..weight(10, 0, 250, 300)
    }]) {
        a.apply_event(ev);
    }
    a.apply_event(&missed);
    assert_eq!(seqs(&a), vec![7, 9, 10, 11], "each event once, in order");
    assert_eq!(a.history.len(), 2, "the two snapshots' seconds only");
}

#[test]
fn the_tick_backlog_draws_the_graphs_past_and_leaves_the_stats() {
    let mut a = app(Phase::Canary, 250);
    let shown = a.state.as_ref().unwrap().stable.stats.clone();
    let tick = |seq: u64, secs_ago: i64, rps: f64| Event {
        seq,
        at: t0() - Duration::seconds(secs_ago),
        kind: EventKind::Tick {
            stable: VersionStats {
                rps,
                ..Default::default()
            },
            canary: Some(VersionStats {
                rps: rps / 4.0,
                ..Default::default()
            }),
            sample: None,
        },
    };
    // Attached at t0: five minutes of ticks, oldest first, after the snapshot.
    for i in 0..300 {
        a.apply_event(&tick(i + 1, 300 - i as i64, 100.0 + i as f64));
    }
    assert_eq!(
        a.history.len(),
        300,
        "299 s of backlog and the snapshot's second"
    );
    assert_eq!(a.history.span_secs(), 299);
    let s = a
        .history
        .series(Role::Stable, crate::tui::history::Metric::Rps);
    assert_eq!(
        s.first(),
        Some(&(-299.0, 101.0)),
        "300 s old is out of the window"
    );
    assert_eq!(
        a.state.as_ref().unwrap().stable.stats,
        shown,
        "the state is not rewound"
    );
    assert_eq!(a.now, Some(t0()));
    assert_eq!(
        seqs(&a),
        Vec::<u64>::new(),
        "ticks are not events-panel lines"
    );
    // A live tick after it: recorded as the newest second.
    a.apply_event(&tick(301, -1, 7.0));
    assert_eq!(
        a.history
            .latest(Role::Stable, crate::tui::history::Metric::Rps),
        Some(7.0)
    );
    assert_eq!(a.state.as_ref().unwrap().stable.stats.rps, 7.0);
}

fn with_replicas() -> App {
    let mut s = state(Phase::Canary, 250);
    let r = |id: &str| ReplicaView {
        id: id.into(),
        addr: format!("127.0.0.1:{}", 9000 + id.len()),
        status: ReplicaStatus::Healthy,
        exit_code: None,
        cpu_percent: None,
        memory_bytes: None,
        memory_limit: None,
    };
    s.stable.replicas = vec![r("pid:11"), r("pid:12")];
    s.canary.as_mut().unwrap().replicas = vec![r("pid:21")];
    let mut a = App::default();
    a.set_link(Link::Live);
    a.apply_event(&Event {
        seq: 1,
        at: t0(),
        kind: EventKind::Snapshot { state: Box::new(s) },
    });
    a
}

fn fetch(e: Option<Effect>) -> (Role, Option<String>) {
    match e {
        Some(Effect::FetchLogs { role, replica }) => (role, replica),
        other => panic!("expected a logs fetch, got {other:?}"),
    }
}

#[test]
fn logs_are_of_the_selected_replica_and_tab_moves_to_the_next() {
    let mut a = with_replicas();
    // Tab to stable's second replica, then L.
    key(&mut a, KeyCode::Tab);
    key(&mut a, KeyCode::Tab);
    assert_eq!(
        fetch(key(&mut a, KeyCode::Char('L'))),
        (Role::Stable, Some("pid:12".into()))
    );
    // Inside the popup Tab goes on to the canary's replica.
    assert_eq!(
        fetch(key(&mut a, KeyCode::Tab)),
        (Role::Canary, Some("pid:21".into()))
    );
    // A late answer for the replica left behind is dropped; the right one lands.
    a.set_logs(Role::Stable, Some("pid:12"), Ok(vec!["old".into()]));
    a.set_logs(Role::Canary, Some("pid:21"), Ok(vec!["v2 line".into()]));
    match &a.popup {
        Some(Popup::Logs(v)) => {
            assert_eq!(v.replica.as_deref(), Some("pid:21"));
            assert_eq!(v.lines, Some(Ok(vec!["v2 line".to_string()])));
        }
        other => panic!("{other:?}"),
    }
}

fn pull(seq: u64, secs: i64, done: bool) -> Event {
    Event {
        seq,
        at: t0() + Duration::seconds(secs),
        kind: EventKind::Pull {
            role: Role::Canary,
            image: "r.example/shop:2".into(),
            layers: vec![LayerProgress {
                id: "a1".into(),
                current: if done { 10 } else { 4 },
                total: Some(10),
                done,
            }],
            done,
            digest: done.then(|| "r.example/shop@sha256:abcd".into()),
        },
    }
}

#[test]
fn a_pull_moves_the_gauge_and_only_its_end_is_an_event_line() {
    let mut a = app(Phase::Deploying, 0);
    a.apply_event(&pull(1, 1, false));
    a.apply_event(&pull(2, 2, false));
    assert!(a.pull.is_some(), "the gauge shows");
    assert!(a.events.is_empty(), "progress is not an event line");
    a.apply_event(&pull(3, 3, true));
    assert!(a.pull.is_none(), "the gauge goes when the pull ends");
    assert_eq!(seqs(&a), vec![3]);
    // A pull that never reported its end (it failed) goes with the phase.
    a.apply_event(&pull(4, 4, false));
    a.apply_event(&Event {
        seq: 5,
        at: t0() + Duration::seconds(5),
        kind: EventKind::Phase {
            from: Phase::Deploying,
            to: Phase::Failed,
            by: Actor::System,
            reason: None,
        },
    });
    assert!(a.pull.is_none());
    // Old progress in the backlog stays out of the panel.
    a.apply_event(&pull(6, -30, false));
    assert_eq!(seqs(&a), vec![3, 5]);
}
