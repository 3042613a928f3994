//! Builders for journal tests: a realistic state and a synthetic recording
//! of a canary that is caught by a guard and rolled back.

#![allow(dead_code)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use cutover::model::{
    Actor, Event, EventKind, Guard, JournalHeader, Phase, ReplicaStatus, ReplicaView, Role,
    StateView, VersionStats, VersionView,
};
use cutover::plan::OnBreach;

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

pub fn header() -> JournalHeader {
    JournalHeader::new("shop", t0())
}

fn version(role: Role, label: &str, requests: u64) -> VersionView {
    VersionView {
        role,
        version: label.to_string(),
        image: format!("shop:{label}"),
        replicas: vec![ReplicaView {
            id: format!("{role}-1"),
            addr: "127.0.0.1:9001".into(),
            status: ReplicaStatus::Healthy,
            exit_code: None,
            cpu_percent: Some(1.5),
            memory_bytes: Some(10 << 20),
            memory_limit: None,
        }],
        stats: VersionStats {
            window_secs: 10.0,
            requests,
            total_requests: requests,
            ..VersionStats::default()
        },
        cpus: None,
        memory: None,
        pinned: None,
        usage: None,
        drain: None,
    }
}

pub fn state(phase: Phase, weight: u16, at: DateTime<Utc>, requests: u64) -> StateView {
    StateView {
        service: "shop".into(),
        runtime: "static".into(),
        phase,
        release: 1,
        weight_permille: weight,
        step: None,
        stable: version(Role::Stable, "1.4.2", requests),
        canary: (phase != Phase::Idle).then(|| version(Role::Canary, "1.5.0", requests / 10)),
        guards: vec![],
        guards_muted: false,
        thresholds: None,
        freeze: None,
        last_breach: None,
        last_outcome: None,
        failed_requests: None,
        public_addr: "127.0.0.1:8080".into(),
        at,
    }
}

/// A `secs`-second recording: a snapshot and a tick every second, the canary
/// at 10 % from second 2, a breach and rollback at 60 % of the way, idle after.
pub fn recording(secs: u64) -> Vec<Event> {
    let mut events = Vec::new();
    let mut seq = 0;
    let mut push = |at: DateTime<Utc>, kind: EventKind, events: &mut Vec<Event>| {
        seq += 1;
        events.push(Event { seq, at, kind });
    };
    let breach_at = secs * 6 / 10;
    let mut phase = Phase::Idle;
    let mut weight = 0u16;
    for s in 0..=secs {
        let at = t0() + Duration::seconds(s as i64);
        if s == 2 {
            push(
                at,
                EventKind::Action {
                    action: "deploy".into(),
                    by: Actor::Cli,
                    reason: None,
                    ok: true,
                    detail: "shop:1.5.0".into(),
                },
                &mut events,
            );
            push(
                at,
                EventKind::Phase {
                    from: Phase::Idle,
                    to: Phase::Canary,
                    by: Actor::System,
                    reason: None,
                },
                &mut events,
            );
            push(
                at,
                EventKind::Weight {
                    from: 0,
                    to: 100,
                    by: Actor::System,
                    reason: Some("step 1".into()),
                },
                &mut events,
            );
            phase = Phase::Canary;
            weight = 100;
        }
        if s == breach_at && s > 2 {
            let at = at + Duration::milliseconds(300);
            push(
                at,
                EventKind::Breach {
                    guard: Guard::MaxErrorRatio,
                    value: 30.0,
                    threshold: 1.25,
                    on_breach: OnBreach::Rollback,
                    detail: "canary 30 % [22–39] vs stable 1.0 % [0.5–2.0], n=120, 99.5 %".into(),
                    evidence: None,
                },
                &mut events,
            );
            push(
                at,
                EventKind::Phase {
                    from: Phase::Canary,
                    to: Phase::RollingBack,
                    by: Actor::Guard,
                    reason: Some("max_error_ratio".into()),
                },
                &mut events,
            );
            push(
                at,
                EventKind::Weight {
                    from: 100,
                    to: 0,
                    by: Actor::Guard,
                    reason: None,
                },
                &mut events,
            );
            push(
                at + Duration::milliseconds(400),
                EventKind::Phase {
                    from: Phase::RollingBack,
                    to: Phase::Idle,
                    by: Actor::System,
                    reason: None,
                },
                &mut events,
            );
            phase = Phase::Idle;
            weight = 0;
        }
        let at = at + Duration::milliseconds(500);
        push(
            at,
            EventKind::Tick {
                stable: VersionStats {
                    requests: s * 100,
                    ..Default::default()
                },
                canary: None,
                sample: None,
            },
            &mut events,
        );
        if s < secs {
            push(
                at,
                EventKind::Snapshot {
                    state: Box::new(state(phase, weight, at, s * 100)),
                },
                &mut events,
            );
        }
    }
    events
}

/// Header line plus one line per event, each newline-terminated.
pub fn to_text(header: &JournalHeader, events: &[Event]) -> String {
    let mut out = serde_json::to_string(header).unwrap();
    out.push('\n');
    for e in events {
        out.push_str(&serde_json::to_string(e).unwrap());
        out.push('\n');
    }
    out
}
