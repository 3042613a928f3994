//! The fleet view on its rendered screen (ratatui `TestBackend`): three
//! services — one breached, one releasing, one idle — and fifty, at 80×24
//! and 160×48, after a minute of polls so the sparklines have history.
//! The order is the operator's: breaches, then releases, then the rest.

use crate::support::tui as support;
use cutover::model::{Phase, StateView};
use cutover::tui::Theme;
use cutover::tui::fleet::model::Fleet;
use cutover::tui::fleet::render::render_text;

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

fn named(mut s: StateView, name: &str) -> StateView {
    s.service = name.into();
    s
}

/// `polls` rounds of the same services, the canaries' figures wandering.
fn fleet_of(states: Vec<StateView>, polls: usize) -> Fleet {
    let mut f = Fleet::default();
    for i in 0..polls {
        let round: Vec<StateView> = states
            .iter()
            .cloned()
            .map(|mut s| {
                if let Some(c) = s.canary.as_mut() {
                    let wobble = (i % 7) as f64 / 7.0;
                    c.stats.error_rate = c.stats.error_rate.map(|e| e * (0.5 + wobble));
                    c.stats.p99_ms = c.stats.p99_ms.map(|p| p * (0.8 + wobble / 2.0));
                }
                s
            })
            .collect();
        f.update(round);
    }
    f
}

fn three() -> Fleet {
    fleet_of(
        vec![
            named(support::idle_state(), "admin"),
            named(support::canary_state(), "api"),
            named(support::breach_state(), "shop"),
        ],
        40,
    )
}

#[test]
fn three_services() {
    let mut f = three();
    for (w, h) in SIZES {
        insta::assert_snapshot!(
            format!("fleet_3_{w}x{h}"),
            render_text(&mut f, &Theme::dark(), w, h)
        );
    }
}

#[test]
fn fifty_services_scroll_with_the_selection() {
    let states: Vec<StateView> = (0..50)
        .map(|i| {
            let base = match i % 10 {
                0 => support::breach_state(),
                1 | 2 => support::canary_state(),
                _ => support::idle_state(),
            };
            named(base, &format!("svc-{i:02}"))
        })
        .collect();
    let mut f = fleet_of(states, 20);
    for (w, h) in SIZES {
        insta::assert_snapshot!(
            format!("fleet_50_{w}x{h}"),
            render_text(&mut f, &Theme::dark(), w, h)
        );
    }
    // Down past the bottom of the small screen: it scrolls, the header and
    // the keys stay.
    for _ in 0..30 {
        f.key(crossterm::event::KeyEvent::new(
            crossterm::event::KeyCode::Down,
            crossterm::event::KeyModifiers::NONE,
        ));
    }
    let s = render_text(&mut f, &Theme::dark(), 80, 24);
    insta::assert_snapshot!("fleet_50_scrolled_80x24", s);
    assert!(s.contains("▸ svc-"), "the selection is on screen:\n{s}");
    assert!(s.contains("50 services") && s.contains("⏎ open"), "{s}");
}

#[test]
fn a_filter_narrows_the_rows() {
    let mut f = three();
    for c in ['/', 'a', 'p'] {
        f.key(crossterm::event::KeyEvent::new(
            crossterm::event::KeyCode::Char(c),
            crossterm::event::KeyModifiers::NONE,
        ));
    }
    let s = render_text(&mut f, &Theme::dark(), 80, 24);
    insta::assert_snapshot!("fleet_filter_80x24", s);
    assert!(s.contains("api") && !s.contains("shop "), "{s}");
    let _ = Phase::Idle;
}

/// A train of three under way: its line under the header, the failed
/// entry first, a progress bar of the entries that are over.
#[test]
fn a_train_in_progress_shows_under_the_header() {
    let mut f = three();
    let previous =
        serde_json::json!({"deploy": "v1", "version": "v1", "image": "x:v1", "replicas": 1});
    let entry = |service: &str, phase: &str| {
        serde_json::json!({
            "service": service, "image": format!("{service}:v2"), "phase": phase,
            "previous": previous, "detail": ""
        })
    };
    let train: cutover::train::Train = serde_json::from_value(serde_json::json!({
        "id": 3,
        "file": "release.toml",
        "spec": {"max_parallel": 2, "abort_on": "first_breach", "rollback": "all", "entries": []},
        "by": "ops",
        "started_at": "2026-03-14T11:58:00Z",
        "status": "aborting",
        "abort_reason": "guard breach in shop",
        "approvals": [],
        "entries": [entry("admin", "promoted"), entry("api", "rolling_back"), entry("shop", "failed")]
    }))
    .expect("a train as the daemon sends it");
    f.train = Some(train);
    for (w, h) in SIZES {
        let s = render_text(&mut f, &Theme::dark(), w, h);
        assert!(s.contains("train 3 aborting"), "{s}");
        insta::assert_snapshot!(format!("fleet_train_{w}x{h}"), s);
    }
}
