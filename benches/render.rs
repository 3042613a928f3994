//! One full cockpit frame at 160×48 (target: under 1 ms), drawn from the
//! same fixture the snapshot tests use: five minutes of graph history, a
//! breach banner, guards and events.

#[path = "../tests/support/tui.rs"]
mod support;

use criterion::{Criterion, criterion_group, criterion_main};
use cutover::tui::{Theme, render_frame};

fn render(c: &mut Criterion) {
    let app = support::breach();
    let theme = Theme::dark();
    c.bench_function("render_frame_160x48", |b| {
        b.iter(|| render_frame(std::hint::black_box(&app), &theme, 160, 48))
    });
    let app = support::canary25();
    c.bench_function("render_frame_80x24", |b| {
        b.iter(|| render_frame(std::hint::black_box(&app), &theme, 80, 24))
    });
}

criterion_group!(benches, render);
criterion_main!(benches);
