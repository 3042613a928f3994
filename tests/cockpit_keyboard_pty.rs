//! The operator never leaves the cockpit: from a fresh `cutover demo` in a
//! real terminal (tmux), keyboard only — roll the canary back, deploy a new
//! one from the image prompt, scale stable to 3, jump the weight and undo
//! it, make a guard red (on breach: pause; a p99 ceiling of 2 ms for
//! replicas that all answer in 5 ms, `DEMO_LATENCY`) and promote through the typed confirmation the red guard asks
//! for. Each step is checked on the screen the operator sees. Skips with a
//! reason when tmux is not installed.

use crate::support::tmux::Tmux;
use std::time::{Duration, Instant};

/// The demo's service name: what the typed confirmation asks for.
const SERVICE: &str = "cutover-demo";

/// Wait until the screen satisfies `ok`; the screen, or a failure that
/// shows it.
fn until(tmux: &Tmux, secs: u64, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut screen = String::new();
    while Instant::now() < deadline {
        screen = tmux.screen();
        if ok(&screen) {
            return screen;
        }
        std::thread::sleep(Duration::from_millis(150));
    }
    panic!("timed out waiting for {what}; the screen:\n{screen}");
}

/// The line of `screen` holding the stable panel's title and the one below.
fn stable_healthy(screen: &str, n: usize) -> bool {
    let mut lines = screen.lines();
    while let Some(l) = lines.next() {
        if l.contains("STABLE ") {
            return lines
                .next()
                .is_some_and(|next| next.contains(&format!("{n}/{n} healthy")));
        }
    }
    false
}

#[test]
fn keyboard_only_rollback_deploy_scale_undo_and_typed_promote() {
    if !Tmux::available() {
        eprintln!("skipping: tmux is not installed");
        return;
    }
    let _turn = crate::support::one_demo_at_a_time();
    let tmux = Tmux::new("cutover-keys", "keys");
    let cmd = format!(
        "DEMO_LATENCY=5ms {} demo --runtime process --scenario good --duration 300s; sleep 30",
        env!("CARGO_BIN_EXE_cutover")
    );
    tmux.start(160, 48, &cmd);

    // 1. The demo's canary serves; roll it back.
    until(&tmux, 60, "the canary v2 serving", |s| {
        s.contains("CANARY v2") && s.contains("1/1 healthy")
    });
    tmux.keys(&["r"]);
    until(&tmux, 10, "the rollback confirmation", |s| {
        s.contains("Roll back?")
    });
    tmux.keys(&["y"]);
    until(&tmux, 30, "the canary gone", |s| {
        s.contains("no canary running")
    });

    // 2. A new canary from the image prompt.
    tmux.keys(&["n"]);
    until(&tmux, 10, "the image prompt", |s| {
        s.contains("tab complete")
    });
    tmux.keys(&["v3", "Enter"]);
    until(&tmux, 10, "the deploy confirmation", |s| {
        s.contains("start canary")
    });
    tmux.keys(&["y"]);
    until(&tmux, 60, "canary v3 healthy and serving", |s| {
        s.contains("CANARY v3") && s.contains("1/1 healthy") && s.contains("step 1/3")
    });
    // Held here, so the plan's steps do not promote it meanwhile.
    tmux.keys(&["Space"]);
    until(&tmux, 10, "the release paused", |s| s.contains("PAUSED"));

    // 3. Stable to 3 replicas (Tab selects stable first).
    tmux.keys(&["s"]);
    until(&tmux, 10, "the scale prompt", |s| s.contains("replicas ›"));
    tmux.keys(&["BSpace", "BSpace", "3", "Enter"]);
    until(&tmux, 10, "the scale confirmation", |s| {
        s.contains("→ 3 replicas")
    });
    tmux.keys(&["y"]);
    until(&tmux, 60, "three healthy stable replicas", |s| {
        stable_healthy(s, 3)
    });

    // 4. A weight jump, then undo it within its window.
    tmux.keys(&["6", "0", "Enter"]);
    let popup = until(&tmux, 10, "the weight confirmation", |s| {
        s.contains("yes, do it") || s.contains("type the service name")
    });
    if popup.contains("type the service name") {
        tmux.keys(&[SERVICE, "Enter"]);
    } else {
        tmux.keys(&["y"]);
    }
    until(&tmux, 10, "the undo window", |s| {
        s.contains("u undo weight")
    });
    tmux.keys(&["u"]);
    until(&tmux, 10, "the weight back where it was", |s| {
        s.contains("weight 60 % → 10 %") && !s.contains("u undo weight")
    });

    // 5. A red guard: on breach pause (not roll back), then a p99 ceiling
    //    no replica meets.
    tmux.keys(&["g"]);
    until(&tmux, 10, "the guard panel", |s| s.contains("threshold"));
    tmux.keys(&["Up", "Enter"]);
    until(&tmux, 10, "the on-breach confirmation", |s| {
        s.contains("pause")
    });
    tmux.keys(&["y"]);
    until(&tmux, 10, "on breach: pause", |s| {
        s.contains("on_breach rollback → pause")
    });
    // The panel may stay open after its confirmation; open it if not.
    std::thread::sleep(Duration::from_millis(300));
    if !tmux.screen().contains("threshold") {
        tmux.keys(&["g"]);
        until(&tmux, 10, "the guard panel again", |s| {
            s.contains("threshold")
        });
    }
    // Down to the p99 ceiling, wherever the panel's selection stands.
    for _ in 0..11 {
        let on_p99 = tmux
            .screen()
            .lines()
            .any(|l| l.contains('▸') && l.contains("p99 ceiling"));
        if on_p99 {
            break;
        }
        tmux.keys(&["Down"]);
        std::thread::sleep(Duration::from_millis(150));
    }
    tmux.keys(&["Enter"]);
    until(&tmux, 10, "the p99 input", |s| s.contains("›"));
    tmux.keys(&["2ms", "Enter"]);
    until(&tmux, 10, "the p99 confirmation", |s| {
        s.contains("yes, do it")
    });
    tmux.keys(&["y"]);
    until(&tmux, 30, "a red guard, the release held", |s| {
        s.contains("✗") && s.contains("CANARY v3")
    });
    tmux.keys(&["Escape"]);

    // 6. Promote: the red guard asks for the service name.
    tmux.keys(&["p"]);
    until(&tmux, 10, "the typed confirmation", |s| {
        s.contains("type the service name") && s.contains("is red")
    });
    tmux.keys(&["y"]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        tmux.screen().contains("type the service name"),
        "y alone does not promote past a red guard"
    );
    // The `y` went into the input: take it back, then the name.
    tmux.keys(&["BSpace", SERVICE, "Enter"]);
    until(&tmux, 60, "v3 promoted to stable", |s| {
        s.contains("STABLE v3") && s.contains("no canary running")
    });
    tmux.keys(&["q"]);
}
