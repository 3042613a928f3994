//! One full cockpit frame at 160×48 (target: under 1 ms), drawn from the
//! same fixture the snapshot tests use: five minutes of graph history, a
//! breach banner, guards and events.
//!
//! `draw_*` is what the live loop pays per frame: every widget drawn into a
//! terminal that persists between frames (here a `TestBackend`), then the
//! diff written out. `render_frame_*` is the one-shot pure function the
//! snapshot tests and the asciicast export use; it also allocates a fresh
//! terminal and copies its buffer out, each call.

#[path = "../tests/support/tui.rs"]
mod support;

use criterion::{Criterion, criterion_group, criterion_main};
use cutover::tui::{Theme, components, render_frame};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn render(c: &mut Criterion) {
    let app = support::breach();
    let theme = Theme::dark();
    c.bench_function("render_frame_160x48", |b| {
        b.iter(|| render_frame(std::hint::black_box(&app), &theme, 160, 48))
    });
    let mut terminal = Terminal::new(TestBackend::new(160, 48)).unwrap();
    c.bench_function("draw_160x48", |b| {
        b.iter(|| {
            terminal
                .draw(|f| components::draw(f, std::hint::black_box(&app), &theme))
                .unwrap();
        })
    });
    let app = support::canary25();
    c.bench_function("render_frame_80x24", |b| {
        b.iter(|| render_frame(std::hint::black_box(&app), &theme, 80, 24))
    });
}

criterion_group!(benches, render);
criterion_main!(benches);
