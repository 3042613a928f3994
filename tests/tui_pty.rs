//! The cockpit end to end in a real terminal (tmux) against a real daemon
//! (static runtime, in-test upstreams): the screen shows both versions;
//! `→` five times moves the weight to 5 % on the daemon; `r` then `y` rolls
//! back and the phase shows it; `q` leaves the terminal restored and the
//! daemon still serving. A panic on the UI task and a SIGTERM leave it
//! restored too: normal screen, cooked mode (`stty -a` run in the same pane
//! afterwards), cursor shown, mouse released, daemon serving. Skips with a
//! reason when tmux is not installed.

use crate::support::daemon::CanaryDaemon;
use crate::support::tmux;

use cutover::model::Phase;
use std::time::{Duration, Instant};
use tmux::Tmux;

use crate::support::wait::eventually as until;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cockpit_drives_a_real_daemon_in_a_real_terminal() {
    if !Tmux::available() {
        eprintln!("skipping: tmux is not installed");
        return;
    }
    let CanaryDaemon {
        daemon,
        dir,
        stable: _stable,
        canary: _canary,
    } = CanaryDaemon::start().await;
    let client = daemon.client();

    let tmux = Tmux::new("cutover-tui", "cut");
    let cmd = format!(
        "{} --state-dir {} tui",
        env!("CARGO_BIN_EXE_cutover"),
        dir.path().display()
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "cut",
        "-x",
        "120",
        "-y",
        "36",
        "-e",
        "NO_COLOR=1",
        &cmd,
    ]);
    tmux.run(&["set-option", "-t", "cut", "remain-on-exit", "on"]);
    until(20, "both versions on screen", || {
        let s = tmux.screen();
        s.contains("STABLE") && s.contains("CANARY") && s.contains("● CANARY")
    })
    .await;

    // NO_COLOR=1 (read from the environment): not one colour drawn.
    let styled = tmux.run(&["capture-pane", "-p", "-e", "-t", "cut"]);
    assert_eq!(
        colour_codes(&styled),
        0,
        "colour drawn under NO_COLOR:\n{styled:?}"
    );
    assert_eq!(client.state().await.unwrap().weight_permille, 0);
    for _ in 0..5 {
        tmux.keys(&["Right"]);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = client.state().await.unwrap();
        if s.weight_permille == 50 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "weight is {} ‰, not 50",
            s.weight_permille
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    until(10, "5 % on the slider", || {
        tmux.screen().contains("canary   5 %")
    })
    .await;

    tmux.keys(&["r"]);
    until(10, "the rollback prompt", || {
        tmux.screen().contains("Roll back?")
    })
    .await;
    assert_eq!(
        client.state().await.unwrap().phase,
        Phase::Canary,
        "rolled back before y"
    );
    tmux.keys(&["y"]);
    until(10, "the phase showing the rollback", || {
        let s = tmux.screen();
        s.contains("ROLLING BACK") || s.contains("● IDLE")
    })
    .await;
    let phase = client.state().await.unwrap().phase;
    assert!(
        matches!(phase, Phase::RollingBack | Phase::Idle),
        "{phase:?}"
    );

    tmux.keys(&["q"]);
    until(10, "the cockpit to exit", || {
        tmux.run(&["display-message", "-p", "-t", "cut", "#{pane_dead}"])
            .trim()
            == "1"
    })
    .await;
    // The alternate screen is gone: the pane shows the primary screen again.
    let s = tmux.screen();
    assert!(!s.contains("STABLE"), "alternate screen left behind:\n{s}");
    // Quitting the cockpit never stops traffic.
    let body = reqwest::get(format!("http://{}/", daemon.public_addr))
        .await
        .expect("the daemon still serves");
    assert!(body.status().is_success());
    client.state().await.expect("the daemon still answers");
    daemon.stop().await;
}

/// The cockpit killed with SIGKILL mid-release: traffic is untouched (the
/// test's own client sees no failure), the daemon's state is unchanged, and
/// a new cockpit attaches at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_cockpit_leaves_traffic_alone() {
    if !Tmux::available() {
        eprintln!("skipping: tmux is not installed");
        return;
    }
    let CanaryDaemon {
        daemon,
        dir,
        stable: _stable,
        canary: _canary,
    } = CanaryDaemon::start().await;
    let client = daemon.client();
    client
        .act(&cutover::model::ActionRequest {
            action: cutover::model::Action::SetWeight { permille: 300 },
            by: cutover::model::Actor::Cli,
            reason: None,
        })
        .await
        .unwrap();
    let tmux = Tmux::new("cutover-tui-kill", "cut");
    let cmd = format!(
        "exec {} --state-dir {} tui",
        env!("CARGO_BIN_EXE_cutover"),
        dir.path().display()
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "cut",
        "-x",
        "120",
        "-y",
        "36",
        &cmd,
    ]);
    tmux.run(&["set-option", "-t", "cut", "remain-on-exit", "on"]);
    until(20, "the cockpit on screen", || {
        tmux.screen().contains("CANARY")
    })
    .await;

    let url = format!("http://{}/", daemon.public_addr);
    let load = tokio::spawn(async move {
        let http = crate::support::http();
        let (mut ok, mut failed) = (0u32, 0u32);
        let end = Instant::now() + Duration::from_secs(3);
        while Instant::now() < end {
            match http.get(&url).send().await {
                Ok(r) if r.status() == 200 => ok += 1,
                _ => failed += 1,
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        (ok, failed)
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid: i32 = tmux
        .run(&["list-panes", "-t", "cut", "-F", "#{pane_pid}"])
        .trim()
        .parse()
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let (ok, failed) = load.await.unwrap();
    assert_eq!(failed, 0, "traffic is untouched by the cockpit's death");
    assert!(ok > 50);
    let s = client.state().await.unwrap();
    assert_eq!(
        (s.phase, s.weight_permille),
        (Phase::Canary, 300),
        "the release is untouched"
    );
    // A new cockpit attaches at once.
    tmux.run(&["respawn-pane", "-k", "-t", "cut", &cmd]);
    until(20, "a new cockpit", || tmux.screen().contains("30")).await;
    daemon.stop().await;
}

/// How many SGR sequences in `styled` (tmux `capture-pane -e`) set a
/// foreground or background colour (bold, dim and resets do not count).
fn colour_codes(styled: &str) -> usize {
    styled
        .split("\u{1b}[")
        .skip(1)
        .filter_map(|seq| seq.split_once('m').map(|(params, _)| params))
        .filter(|params| {
            let mut it = params.split(';');
            let first: u32 = it.next().and_then(|p| p.parse().ok()).unwrap_or(0);
            matches!(first, 30..=38 | 40..=48 | 90..=97 | 100..=107)
        })
        .count()
}

/// The terminal modes tmux sees in the pane: alternate screen, cursor
/// shown, any mouse reporting on.
#[derive(Debug, PartialEq)]
struct PaneModes {
    alternate: bool,
    cursor_visible: bool,
    mouse: bool,
}

fn pane_modes(tmux: &Tmux) -> PaneModes {
    let out = tmux.run(&[
        "display-message",
        "-p",
        "-t",
        "cut",
        "#{alternate_on} #{cursor_flag} #{mouse_any_flag}#{mouse_button_flag}#{mouse_standard_flag}#{mouse_sgr_flag}",
    ]);
    let f: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(f.len(), 3, "unexpected tmux answer `{out}`");
    PaneModes {
        alternate: f[0] == "1",
        cursor_visible: f[1] == "1",
        mouse: f[2].contains('1'),
    }
}

/// The pane's text with wrapped lines joined (for `stty -a`'s long lines).
fn joined_screen(tmux: &Tmux) -> String {
    tmux.run(&["capture-pane", "-p", "-J", "-t", "cut", "-S", "-100"])
}

/// The pid of the `cutover` process the pane's shell started.
fn cockpit_pid(tmux: &Tmux) -> i32 {
    let shell: i32 = tmux
        .run(&["list-panes", "-t", "cut", "-F", "#{pane_pid}"])
        .trim()
        .parse()
        .unwrap();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid …
        let Some((head, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let ppid: Option<i32> = rest.split_whitespace().nth(1).and_then(|p| p.parse().ok());
        if ppid == Some(shell) && head.ends_with("(cutover") {
            return head.split_whitespace().next().unwrap().parse().unwrap();
        }
    }
    panic!("no cutover process under the pane's shell {shell}");
}

/// Run the cockpit in a shell that, once it ends, prints its exit code and
/// `stty -a` in the same terminal, then waits: what the cockpit left behind
/// is what the next program (the operator's shell) would get.
async fn cockpit_in_shell(tmux: &Tmux, state_dir: &std::path::Path, env: &[&str]) {
    let cmd = format!(
        "{} --state-dir {} tui; echo \"cockpit-exit=$?\"; stty -a; exec sleep 600",
        env!("CARGO_BIN_EXE_cutover"),
        state_dir.display()
    );
    let mut args = vec!["new-session", "-d", "-s", "cut", "-x", "120", "-y", "36"];
    for e in env {
        args.extend(["-e", e]);
    }
    args.extend(["sh", "-c", &cmd]);
    tmux.run(&args);
    until(20, "the cockpit on screen", || {
        tmux.screen().contains("● CANARY")
    })
    .await;
    let modes = pane_modes(tmux);
    assert_eq!(
        modes,
        PaneModes {
            alternate: true,
            cursor_visible: false,
            mouse: true
        },
        "the cockpit owns the terminal while it runs"
    );
}

/// After the cockpit ended: the shell's report, checked for a restored
/// terminal, and the daemon still serving. Returns the cockpit's exit code.
async fn assert_restored(tmux: &Tmux, daemon: &cutover::daemon::RunningDaemon) -> String {
    until(20, "the cockpit to end and stty to report", || {
        let s = joined_screen(tmux);
        s.contains("cockpit-exit=") && s.contains("icanon")
    })
    .await;
    let screen = joined_screen(tmux);
    assert_eq!(
        pane_modes(tmux),
        PaneModes {
            alternate: false,
            cursor_visible: true,
            mouse: false
        },
        "terminal modes left behind:\n{screen}"
    );
    assert!(
        !screen.contains("STABLE"),
        "the cockpit's screen is left behind:\n{screen}"
    );
    let tokens: Vec<&str> = screen
        .split(|c: char| c.is_whitespace() || c == ';')
        .collect();
    for mode in ["icanon", "echo", "icrnl", "opost"] {
        assert!(
            tokens.contains(&mode),
            "`{mode}` is off (raw mode left on):\n{screen}"
        );
        let off = format!("-{mode}");
        assert!(!tokens.contains(&off.as_str()), "`{off}`:\n{screen}");
    }
    let body = reqwest::get(format!("http://{}/", daemon.public_addr))
        .await
        .expect("the daemon still serves");
    assert!(body.status().is_success());
    daemon
        .client()
        .state()
        .await
        .expect("the daemon still answers");
    let at = screen.find("cockpit-exit=").unwrap() + "cockpit-exit=".len();
    screen[at..]
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_on_the_ui_task_restores_the_terminal() {
    if !Tmux::available() {
        eprintln!("skipping: tmux is not installed");
        return;
    }
    // Named bindings: `..` would drop the upstreams at the end of the `let`.
    let CanaryDaemon {
        daemon,
        dir,
        stable: _stable,
        canary: _canary,
    } = CanaryDaemon::start().await;
    let tmux = Tmux::new("cutover-tui-panic", "cut");
    cockpit_in_shell(
        &tmux,
        dir.path(),
        &["CUTOVER_TUI_PANIC_AFTER_MS=2000", "RUST_BACKTRACE=0"],
    )
    .await;
    let code = assert_restored(&tmux, &daemon).await;
    assert_eq!(code, "101", "a panic exits 101");
    // The report was printed after the restore, so it is readable.
    let screen = joined_screen(&tmux);
    assert!(screen.contains("test-only panic"), "{screen}");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_restores_the_terminal() {
    if !Tmux::available() {
        eprintln!("skipping: tmux is not installed");
        return;
    }
    // Named bindings: `..` would drop the upstreams at the end of the `let`.
    let CanaryDaemon {
        daemon,
        dir,
        stable: _stable,
        canary: _canary,
    } = CanaryDaemon::start().await;
    let tmux = Tmux::new("cutover-tui-term", "cut");
    cockpit_in_shell(&tmux, dir.path(), &[]).await;
    // Without NO_COLOR the cockpit draws in colour (the pty test above runs
    // with NO_COLOR=1 and checks the opposite).
    let styled = tmux.run(&["capture-pane", "-p", "-e", "-t", "cut"]);
    assert!(
        colour_codes(&styled) > 0,
        "no colour drawn without NO_COLOR"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(cockpit_pid(&tmux)),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let code = assert_restored(&tmux, &daemon).await;
    assert_eq!(code, "0", "SIGTERM is a clean quit");
    daemon.stop().await;
}

/// A cockpit attached mid-release shows what happened before it came (the
/// daemon's backlog: the deploy and the weight set from the CLI), and `g`,
/// ↓, Enter, `2 %`, Enter, `y` changes the daemon's guard threshold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_cockpit_shows_history_and_edits_a_guard_on_the_daemon() {
    if !Tmux::available() {
        eprintln!("skipping: tmux is not installed");
        return;
    }
    let CanaryDaemon {
        daemon,
        dir,
        stable: _stable,
        canary: _canary,
    } = CanaryDaemon::start().await;
    let client = daemon.client();
    client
        .act(&cutover::model::ActionRequest {
            action: cutover::model::Action::SetWeight { permille: 70 },
            by: cutover::model::Actor::Cli,
            reason: Some("before the cockpit".into()),
        })
        .await
        .unwrap();
    assert_eq!(client.guards().await.unwrap().max_error_rate, None);

    let tmux = Tmux::new("cutover-tui-guards", "cut");
    let cmd = format!(
        "exec {} --state-dir {} tui",
        env!("CARGO_BIN_EXE_cutover"),
        dir.path().display()
    );
    tmux.start(120, 36, &cmd);
    until(20, "the history from before attaching", || {
        let s = tmux.screen();
        s.contains("weight 0 % → 7 % (before the cockpit)") && s.contains("deploy")
    })
    .await;
    tmux.keys(&["g"]);
    until(10, "the guard panel", || {
        tmux.screen().contains("threshold")
    })
    .await;
    tmux.keys(&["Down", "Enter"]);
    until(10, "the input", || {
        tmux.screen().contains("new error ceiling ›")
    })
    .await;
    tmux.keys(&["2", "Space", "%", "Enter"]);
    until(10, "the confirmation", || {
        tmux.screen().contains("max_error_rate off → 2.00 %")
    })
    .await;
    assert_eq!(
        client.guards().await.unwrap().max_error_rate,
        None,
        "changed before y"
    );
    tmux.keys(&["y"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.guards().await.unwrap().max_error_rate != Some(0.02) {
        assert!(Instant::now() < deadline, "the threshold never changed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The panel shows the new limit once the daemon's state says it.
    until(10, "the new limit in the panel", || {
        tmux.screen().contains("2.00 %")
    })
    .await;
    tmux.keys(&["Escape", "q"]);
    client.state().await.expect("the daemon still answers");
    daemon.stop().await;
}

/// `cutover tui --read-only` in a real terminal: the footer says
/// "read-only" and offers nothing that acts; the keys that would (→, r, p)
/// change nothing on the daemon; the guard panel still opens to look.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_cockpit_watches_and_cannot_act() {
    if !Tmux::available() {
        eprintln!("skipping: tmux is not installed");
        return;
    }
    let CanaryDaemon {
        daemon,
        dir,
        stable: _stable,
        canary: _canary,
    } = CanaryDaemon::start().await;
    let client = daemon.client();
    let before = client.state().await.unwrap();
    let tmux = Tmux::new("cutover-tui-ro", "ro");
    let cmd = format!(
        "{} --state-dir {} tui --read-only",
        env!("CARGO_BIN_EXE_cutover"),
        dir.path().display()
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "ro",
        "-x",
        "120",
        "-y",
        "36",
        &cmd,
    ]);
    tmux.run(&["set-option", "-t", "ro", "remain-on-exit", "on"]);
    until(20, "the cockpit, read-only", || {
        let s = tmux.screen();
        s.contains("STABLE") && s.contains("CANARY") && s.contains("read-only")
    })
    .await;
    let s = tmux.screen();
    for acts in ["promote", "rollback", "canary +1"] {
        assert!(!s.contains(acts), "offers {acts}:\n{s}");
    }
    tmux.keys(&["Right", "Right", "r", "p"]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let s = tmux.screen();
    assert!(!s.contains("Roll back?") && !s.contains("Promote"), "{s}");
    let after = client.state().await.unwrap();
    assert_eq!(
        (after.weight_permille, after.phase),
        (before.weight_permille, before.phase)
    );
    tmux.keys(&["g"]);
    let shown =
        crate::support::wait::poll(Duration::from_secs(10), Duration::from_millis(50), || {
            let s = tmux.screen();
            async move { s.contains("errors vs stable").then_some(()) }
        })
        .await;
    assert!(shown.is_some(), "no guard panel:\n{}", tmux.screen());
    tmux.keys(&["q"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    tmux.keys(&["q"]);
    until(10, "the cockpit to exit", || {
        tmux.run(&["display-message", "-p", "-t", "ro", "#{pane_dead}"])
            .trim()
            == "1"
    })
    .await;
    daemon.stop().await;
}
