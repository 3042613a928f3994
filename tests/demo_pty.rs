//! `cutover demo --scenario bad` in a real terminal (tmux): the cockpit
//! shows the guard's rollback banner, `q` ends the demo, and no process the
//! demo started is left. Skips with a reason when tmux is not installed.

use crate::support::tmux;

use std::time::{Duration, Instant};
use tmux::Tmux;

fn marked_processes(marker: &str) -> usize {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    std::fs::read(e.path().join("environ")).is_ok_and(|env| {
                        env.split(|b| *b == 0)
                            .any(|kv| kv == format!("CUTOVER_DEMO_MARKER={marker}").as_bytes())
                    })
                })
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn demo_in_a_terminal_shows_the_rollback_banner() {
    if !Tmux::available() {
        eprintln!("skipping: tmux is not installed");
        return;
    }
    let _turn = crate::support::one_demo_at_a_time();
    let marker = format!("pty-{}", std::process::id());
    let tmux = Tmux::new("cutover-demo", "demo");
    let cmd = format!(
        "CUTOVER_DEMO_MARKER={marker} {} demo --runtime process --scenario bad --duration 90s; sleep 30",
        env!("CARGO_BIN_EXE_cutover")
    );
    tmux.start(160, 48, &cmd);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut screen = String::new();
    while Instant::now() < deadline {
        screen = tmux.screen();
        if screen.contains("GUARD BREACH") {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        screen.contains("GUARD BREACH"),
        "no rollback banner on screen:\n{screen}"
    );
    assert!(screen.contains("STABLE v1"), "{screen}");
    tmux.keys(&["q"]);
    // The demo ends (the pane's `sleep 30` keeps it open to read the screen).
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline && marked_processes(&marker) > 0 {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(marked_processes(&marker), 0, "demo processes left behind");
    let after = tmux.screen();
    assert!(
        after.contains("cleaned up"),
        "the demo said it cleaned up:\n{after}"
    );
}
