//! The mouse through [`App::handle_mouse`]: the slider is dragged and
//! sends on release; the wheel scrolls the panel or popup under it, never
//! past its ends, and does nothing under a confirmation.

use super::tests::{app, sent, t0};
use super::*;
use crate::model::*;
use crate::tui::components::layout;
use crossterm::event::{KeyModifiers, MouseButton, MouseEvent, MouseEventKind};

fn mouse(kind: MouseEventKind, column: u16, row: u16) -> MouseEvent {
    MouseEvent {
        kind,
        column,
        row,
        modifiers: KeyModifiers::NONE,
    }
}

/// A live canary with `n` journal lines, drawn at 80×24.
fn with_events(n: usize) -> App {
    let mut a = app(Phase::Canary, 0);
    a.set_size(80, 24);
    for i in 0..n {
        a.apply_event(&Event {
            seq: 2 + i as u64,
            at: t0(),
            kind: EventKind::Warning {
                message: format!("line {i}"),
            },
        });
    }
    a
}

fn wheel(a: &mut App, up: bool, at: ratatui::layout::Rect) -> Option<Effect> {
    let kind = if up {
        MouseEventKind::ScrollUp
    } else {
        MouseEventKind::ScrollDown
    };
    a.handle_mouse(mouse(kind, at.x + at.width / 2, at.y + at.height / 2))
}

fn screen(a: &App) -> String {
    let buf = crate::tui::render_frame(a, &crate::tui::Theme::dark(), a.size.width, a.size.height);
    buf.content.iter().map(|c| c.symbol()).collect()
}

#[test]
fn the_wheel_scrolls_the_events_panel_under_it() {
    let mut a = with_events(40);
    let events = layout::areas(&a, a.size).events;
    let graphs = layout::areas(&a, a.size).graphs[0];
    let page = events.height as usize - 2;
    assert_eq!(wheel(&mut a, true, events), None);
    assert_eq!(a.events_scroll, 3);
    wheel(&mut a, true, events);
    assert_eq!(a.events_scroll, 6);
    assert!(screen(&a).contains("↓ 6 newer"));
    // Not over the panel: nothing moves.
    wheel(&mut a, true, graphs);
    assert_eq!(a.events_scroll, 6);
    wheel(&mut a, false, events);
    assert_eq!(a.events_scroll, 3);
    for _ in 0..5 {
        wheel(&mut a, false, events);
    }
    assert_eq!(a.events_scroll, 0, "scrolling down stops at the newest");
    // Up stops once the oldest line is at the top of a full page.
    for _ in 0..50 {
        wheel(&mut a, true, events);
    }
    assert_eq!(a.events_scroll, 40 - page);
    let s = screen(&a);
    assert!(s.contains("line 0") && !s.contains("line 39"), "{s}");
    // One wheel step down from the top moves at once (no hidden overshoot).
    wheel(&mut a, false, events);
    assert_eq!(a.events_scroll, 40 - page - 3);
}

#[test]
fn a_short_events_list_does_not_scroll() {
    let mut a = with_events(3);
    let events = layout::areas(&a, a.size).events;
    wheel(&mut a, true, events);
    assert_eq!(a.events_scroll, 0);
}

#[test]
fn the_wheel_scrolls_the_logs_and_help_popups_and_not_a_confirmation() {
    let mut a = with_events(40);
    let lines: Vec<String> = (0..60).map(|i| format!("log line {i}")).collect();
    a.popup = Some(Popup::Logs(LogsView {
        role: Role::Canary,
        replica: None,
        lines: Some(Ok(lines)),
        scroll: 0,
    }));
    let anywhere = a.size;
    wheel(&mut a, true, anywhere);
    let scroll = |a: &App| match &a.popup {
        Some(Popup::Logs(v)) => v.scroll,
        other => panic!("{other:?}"),
    };
    assert_eq!(scroll(&a), 3);
    assert_eq!(a.events_scroll, 0, "the panel under the popup stays");
    for _ in 0..50 {
        wheel(&mut a, true, anywhere);
    }
    let page = crate::tui::components::popups::logs_page(a.size);
    assert_eq!(scroll(&a), 60 - page, "up stops at the oldest line");
    assert!(screen(&a).contains("log line 0"));
    wheel(&mut a, false, anywhere);
    assert_eq!(scroll(&a), 60 - page - 3);

    a.popup = Some(Popup::Help { scroll: 0 });
    wheel(&mut a, false, anywhere);
    assert_eq!(a.popup, Some(Popup::Help { scroll: 3 }));
    wheel(&mut a, true, anywhere);
    wheel(&mut a, true, anywhere);
    assert_eq!(a.popup, Some(Popup::Help { scroll: 0 }));

    a.popup = None;
    let r = a.handle_key(crossterm::event::KeyEvent::new(
        crossterm::event::KeyCode::Char('r'),
        KeyModifiers::NONE,
    ));
    assert!(r.is_none() && matches!(a.popup, Some(Popup::Confirm(_))));
    let events = layout::areas(&a, a.size).events;
    wheel(&mut a, true, events);
    assert_eq!(a.events_scroll, 0, "a confirmation holds the screen still");
}

#[test]
fn dragging_the_slider_sends_on_release() {
    let mut a = app(Phase::Canary, 0);
    a.set_size(80, 24);
    let areas = crate::tui::components::layout::areas(&a, a.size);
    let track = crate::tui::components::slider::track(areas.slider);
    let at = |kind, column| MouseEvent {
        kind,
        column,
        row: track.y,
        modifiers: KeyModifiers::NONE,
    };
    assert_eq!(
        a.handle_mouse(at(MouseEventKind::Down(MouseButton::Left), track.x)),
        None
    );
    let x10 = track.x + (track.width - 1) / 10;
    assert_eq!(
        a.handle_mouse(at(MouseEventKind::Drag(MouseButton::Left), x10)),
        None
    );
    assert_eq!(a.pending_permille, Some(100));
    assert_eq!(
        sent(a.handle_mouse(at(MouseEventKind::Up(MouseButton::Left), x10))),
        Action::SetWeight { permille: 100 }
    );
    // A drag to the far end is a big jump: it asks.
    let end = track.right() - 1;
    a.handle_mouse(at(MouseEventKind::Down(MouseButton::Left), end));
    assert_eq!(
        a.handle_mouse(at(MouseEventKind::Up(MouseButton::Left), end)),
        None
    );
    assert!(matches!(a.popup, Some(Popup::Confirm(_))));
}
