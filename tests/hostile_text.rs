//! The hostile corpus: escape sequences fed through every way outside text
//! reaches cutover, and what every output shows instead (issue 12,
//! "Terminal escape injection"). The payload is the issue's own — a title
//! change, a screen clear and an OSC 52 clipboard write — plus the C1 forms
//! of CSI and OSC (U+009B, U+009D … U+009C), which some terminals obey.
//!
//! Sources: an admin API caller's `reason` (`/v1/weight`, `/v1/actions`),
//! a replica's output (process runtime here; Docker below), a hook's
//! output, the health checker's and the runtime's texts (a checker and a
//! runtime that say it, at the controller's seams), engine texts on a real
//! Docker engine (a container label, container output), and a journal
//! written by someone else.
//!
//! Outputs: the cockpit in a real terminal (tmux; the RAW bytes it wrote,
//! captured with `pipe-pane -O`), live and attaching late; `cutover replay`
//! in tmux the same way; `cutover replay --no-tui`; `cutover export`. In
//! every one: no OSC, no BEL, no C1 character, no escape sequence but the
//! renderer's own CSI ones (cursor moves, colours, modes), no screen clear
//! beyond the renderer's; and the payload visibly there, as pictures
//! (`␛]0;PWNED␇…`), so the test cannot pass by showing nothing.

use crate::support::controller::{Recorder, TestProxy, TestRuntime, driver_plan};
use crate::support::docker::Cleanup;
use crate::support::journal as jsupport;
use crate::support::tmux::Tmux;
use crate::support::up::Up;
use crate::support::wait::eventually;
use cutover::model::{
    Action, ActionRequest, Actor, BreachView, Event, EventKind, Guard, GuardStatus, GuardVerdict,
    Phase, ReplicaStatus, Role,
};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The issue's payload, byte for byte.
const ISSUE: &str = "\u{1b}]0;PWNED\u{7}\u{1b}[2J\u{1b}]52;c;cHduZWQ=\u{7}";
/// The same in C1 form: CSI 2J, OSC 0;…ST.
const C1: &str = "\u{9b}2J\u{9d}0;C1PWNED\u{9c}";

fn hostile() -> String {
    format!("{ISSUE}{C1}")
}

/// How the sanitizer shows the payload: the proof it got through, drawn.
fn shown() -> String {
    cutover::text::clean(&hostile()).into_owned()
}

/// The start of [`shown`] that fits any panel: `␛]0;PWNED␇`.
const SHOWN_HEAD: &str = "␛]0;PWNED␇";

/// Escape sequences in `text`, each as the string from ESC to its final
/// byte; panics on an ESC that does not start a CSI (`ESC [` … final).
fn csi_sequences(text: &str, what: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '\u{1b}' {
            continue;
        }
        match chars.next() {
            Some((_, '[')) => {}
            other => panic!(
                "{what}: ESC followed by {other:?} at byte {i} (not a CSI): {:?}",
                &text[i..text.len().min(i + 40)]
            ),
        }
        let mut end = None;
        for (j, d) in chars.by_ref() {
            match d {
                '0'..='9' | ';' | '?' | '<' | '=' | '>' | ':' | ' ' => continue,
                '@'..='~' => {
                    end = Some(j + d.len_utf8());
                    break;
                }
                other => panic!("{what}: {other:?} inside a CSI at byte {i}"),
            }
        }
        let end = end.unwrap_or_else(|| panic!("{what}: unterminated CSI at byte {i}"));
        out.push(text[i..end].to_string());
    }
    out
}

/// What a terminal or a cast may be sent: text and the renderer's own CSI
/// sequences, at most `clears` screen clears; never OSC, BEL or C1.
fn assert_renderer_only(bytes: &[u8], clears: usize, what: &str) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    assert!(!text.contains("\u{1b}]"), "{what}: an OSC sequence");
    assert!(!text.contains('\u{7}'), "{what}: a BEL");
    if let Some(c) = text.chars().find(|c| ('\u{80}'..='\u{9f}').contains(c)) {
        panic!("{what}: the C1 control {c:?}");
    }
    assert!(!text.contains("PWNED\u{7}"), "{what}: the raw payload");
    let seqs = csi_sequences(&text, what);
    let n = seqs.iter().filter(|s| s.as_str() == "\u{1b}[2J").count();
    eprintln!(
        "CLEARS {what}: {n}; kinds: {:?}",
        seqs.iter()
            .map(|s| s.chars().last().unwrap())
            .collect::<std::collections::BTreeSet<_>>()
    );
    assert!(
        n <= clears,
        "{what}: {n} screen clears (the renderer makes {clears})"
    );
    seqs
}

/// A pane whose raw output is captured from its very first byte: the
/// program waits for a line before it `exec`s, and the capture starts first.
fn captured(tmux: &Tmux, session: &str, raw: &Path, cmd: &str) {
    let wrapped = format!("sh -c 'read go; exec {cmd}'");
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        session,
        "-x",
        "160",
        "-y",
        "48",
        &wrapped,
    ]);
    tmux.run(&["set-option", "-t", session, "remain-on-exit", "on"]);
    tmux.run(&[
        "pipe-pane",
        "-O",
        "-t",
        session,
        &format!("cat > {}", raw.display()),
    ]);
    tmux.run(&["send-keys", "-t", session, "Enter"]);
}

async fn screen_shows(tmux: &Tmux, session: &str, secs: u64, what: &str, want: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let s = tmux.run(&["capture-pane", "-p", "-t", session]);
        if want.iter().all(|w| s.contains(w)) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: screen never showed {want:?}:\n{s}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The pane's program ended (remain-on-exit keeps the pane, marked dead).
async fn pane_exited(tmux: &Tmux, session: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while tmux
        .run(&["display-message", "-p", "-t", session, "#{pane_dead}"])
        .trim()
        != "1"
    {
        assert!(
            Instant::now() < deadline,
            "{session} did not exit:\n{}",
            tmux.run(&["capture-pane", "-p", "-t", session])
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Screen clears the cockpit's renderer makes: none (it draws cell by
/// cell on the alternate screen; a run without outside text measured 0).
/// A clear in a capture can only be a payload's.
const RENDERER_CLEARS: usize = 0;

/// `s` as a TOML basic string, every control character escaped.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        if c.is_control() || c == '"' || c == '\\' {
            out.push_str(&format!("\\u{:04X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out.push('"');
    out
}

fn plan(exe: &str) -> String {
    format!(
        r#"service = "hostile"
runtime = "process"
pass_env = ["PATH", "HOOK_OUT"]
[listen]
public = "127.0.0.1:0"
admin = "127.0.0.1:0"
[stable]
command = [{exe:?}, "demo-app", "--bind", "127.0.0.1", "--port", "{{port}}"]
version = "v1"
env = {{ DEMO_VERSION = {version} }}
[canary]
command = [{exe:?}, "demo-app", "--bind", "127.0.0.1", "--port", "{{port}}", "--version", "v2"]
version = "v2"
[health]
interval = "100ms"
timeout = "100ms"
healthy_after = 1
[hooks]
post_rollback = ["sh", "-c", "echo \"$HOOK_OUT\""]
"#,
        // TOML escapes: the plan's env carries the raw payload to the app,
        // which prints it ("demo-app <version> listening on …").
        version = toml_string(&hostile()),
    )
}

/// The live daemon (process runtime, the real binary): a caller's reasons,
/// a replica's output and a hook's output, through the cockpit attached
/// live and attached late, and the daemon's own journal through replay and
/// export.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_daemon_shows_outside_text_and_never_obeys_it() {
    if !Tmux::available() {
        eprintln!("skipping: tmux is not installed");
        return;
    }
    let exe = env!("CARGO_BIN_EXE_cutover");
    let hook_out = format!("HOOK{}", hostile());
    let mut up = Up::start("hostile", &plan(exe), &[("HOOK_OUT", hook_out.as_str())]);
    let client = up.client(30).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.state().await.map(|s| s.phase).ok() != Some(Phase::Canary) {
        assert!(Instant::now() < deadline, "no canary:\n{}", up.stderr());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let tmux = Tmux::new("cutover-hostile", "live");
    let raw_live = up.dir.path().join("live.raw");
    let tui = format!("{exe} --state-dir {} tui", up.root().display());
    captured(&tmux, "live", &raw_live, &tui);
    screen_shows(&tmux, "live", 20, "live cockpit", &["STABLE", "CANARY"]).await;

    // The issue's request, exactly as reported.
    let http = crate::support::http();
    let token = std::fs::read_to_string(up.state().join("token")).unwrap();
    let admin = client.addr();
    let r = http
        .post(format!("http://{admin}/v1/weight"))
        .bearer_auth(token.trim())
        .header("content-type", "application/json")
        .body(r#"{"percent":1,"reason":"\u001b]0;PWNED\u0007\u001b[2J\u001b]52;c;cHduZWQ=\u0007"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    screen_shows(&tmux, "live", 20, "the weight's reason", &[SHOWN_HEAD]).await;
    // A rollback with the payload as its reason runs the hook, which
    // prints the payload too.
    client
        .act(&ActionRequest {
            action: Action::Rollback,
            by: Actor::Cli,
            reason: Some(hostile()),
        })
        .await
        .unwrap();
    let journal = up.state().join("journal.jsonl");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let j = cutover::journal::read_journal(&journal).unwrap();
        if j.events.iter().any(|e| matches!(&e.kind, EventKind::Warning { message } if message.starts_with("hook post_rollback"))) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the hook never reported:\n{}",
            up.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    screen_shows(&tmux, "live", 20, "the hook's output", &["HOOK␛]0;PWNED␇"]).await;
    // The replica's output, in the logs popup (`L`; pressed again should
    // the first press land while the cockpit was busy redrawing).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !tmux.screen_of("live").contains("logs · stable") {
        assert!(
            Instant::now() < deadline,
            "no logs popup:\n{}",
            tmux.screen_of("live")
        );
        tmux.keys_to("live", &["L"]);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    screen_shows(
        &tmux,
        "live",
        20,
        "the replica's output",
        &["demo-app ␛]0;PWNED␇", "listening on"],
    )
    .await;
    // `q` closes the popup, then quits (ESC then `q` at once reads as Alt+q).
    tmux.keys_to("live", &["q"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while tmux.screen_of("live").contains("logs · stable") {
        assert!(Instant::now() < deadline, "the logs popup stays");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tmux.keys_to("live", &["q"]);
    pane_exited(&tmux, "live").await;
    let bytes = std::fs::read(&raw_live).unwrap();
    let seqs = assert_renderer_only(&bytes, RENDERER_CLEARS, "the live cockpit");
    assert!(
        seqs.len() > 100,
        "the capture holds the cockpit's drawing ({} sequences)",
        seqs.len()
    );

    // Attaching late: the backlog holds all of it.
    let raw_late = up.dir.path().join("late.raw");
    captured(&tmux, "late", &raw_late, &tui);
    screen_shows(
        &tmux,
        "late",
        20,
        "the late cockpit",
        &[SHOWN_HEAD, "HOOK␛]0;PWNED␇"],
    )
    .await;
    tmux.keys_to("late", &["q"]);
    pane_exited(&tmux, "late").await;
    assert_renderer_only(
        &std::fs::read(&raw_late).unwrap(),
        RENDERER_CLEARS,
        "the late cockpit",
    );

    // What the daemon journaled and serves holds the pictures, no control.
    let logs = client.logs(Role::Stable, 50).await.unwrap();
    assert!(
        logs.iter()
            .any(|l| l.contains(&format!("demo-app {} listening", shown()))),
        "{logs:#?}"
    );
    assert!(up.stop().await.success(), "{}", up.stderr());
    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(
        !text.contains("\\u001b") && !text.contains("\\u0007"),
        "raw controls journaled"
    );
    assert!(
        !text.chars().any(|c| ('\u{80}'..='\u{9f}').contains(&c)),
        "C1 journaled"
    );
    for want in [
        format!("\"reason\":\"{}\"", cutover::text::clean(ISSUE)),
        format!("\"reason\":\"{}", shown()),
        format!("HOOK{}", shown()),
    ] {
        let want = want.replace('\\', "\\\\");
        assert!(text.contains(&want), "the journal lacks {want}");
    }
    replay_and_export(
        &journal,
        up.dir.path(),
        &[SHOWN_HEAD, "HOOK␛]0;PWNED␇"],
        None,
        "the daemon's journal",
    )
    .await;
}

/// `cutover replay --no-tui` and `cutover export` of `journal`: no control
/// character anywhere, every escape in the cast the renderer's own, each
/// of `want` visibly in the cast, and `in_final_state` (when the journal's
/// states hold outside text) in the printed final state.
async fn replay_and_export(
    journal: &Path,
    dir: &Path,
    want: &[&str],
    in_final_state: Option<&str>,
    what: &str,
) {
    let exe = env!("CARGO_BIN_EXE_cutover");
    let out = tokio::process::Command::new(exe)
        .arg("replay")
        .arg(journal)
        .arg("--no-tui")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        !stdout.contains('\u{1b}') && !stdout.contains("\\u001b") && !stdout.contains("\\u0007"),
        "{what}: replay --no-tui passed a control on"
    );
    assert!(
        !stdout.chars().any(|c| ('\u{80}'..='\u{9f}').contains(&c)),
        "{what}: C1 in replay --no-tui"
    );
    // Its final state holds what the journal's states held.
    if let Some(shows) = in_final_state {
        assert!(
            stdout.contains(shows),
            "{what}: replay --no-tui lost the text:\n{stdout}"
        );
    }

    let cast = dir.join("out.cast");
    let out = tokio::process::Command::new(exe)
        .arg("export")
        .arg(journal)
        .arg("--asciicast")
        .arg(&cast)
        .args(["--size", "200x50"])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&cast).unwrap();
    let mut lines = text.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert!(
        !header["title"]
            .as_str()
            .unwrap()
            .chars()
            .any(char::is_control),
        "{what}: title"
    );
    let mut drawn = String::new();
    let mut frames = 0;
    for line in lines {
        let (_, kind, frame): (f64, String, String) = serde_json::from_str(line).unwrap();
        assert_eq!(kind, "o");
        // Each frame starts from a cleared screen: that one clear is the writer's.
        let seqs = assert_renderer_only(frame.as_bytes(), 1, what);
        assert!(
            frame.starts_with("\u{1b}[2J\u{1b}[H"),
            "{what}: frame start"
        );
        assert!(
            seqs.iter().skip(2).all(|s| s.ends_with('m')),
            "{what}: a cast frame holds only colours after its clear: {seqs:?}"
        );
        drawn.push_str(&frame);
        frames += 1;
    }
    assert!(frames > 0);
    for w in want {
        assert!(drawn.contains(w), "{what}: no frame shows {w}");
    }
}

/// A journal someone else wrote: the payload in every string it holds.
fn hostile_journal() -> String {
    let h = hostile();
    let t0 = jsupport::t0();
    let at = |s: i64| t0 + chrono::Duration::milliseconds(s * 250);
    let mut header = jsupport::header();
    header.service = format!("svc{h}");
    let mut state = jsupport::state(Phase::Canary, 100, at(0), 100);
    state.service = format!("svc{h}");
    state.runtime = h.clone();
    state.public_addr = h.clone();
    state.freeze = Some(format!("freeze{h}"));
    for v in std::iter::once(&mut state.stable).chain(state.canary.as_mut()) {
        v.version = format!("v{h}");
        v.image = format!("img{h}");
        for r in &mut v.replicas {
            r.id = format!("id{h}");
            r.addr = format!("addr{h}");
        }
    }
    // Guard names are an enum now: only their details carry outside text.
    state.guards = vec![GuardVerdict {
        name: Guard::MaxErrorRatio,
        value: Some(1.0),
        threshold: 2.0,
        status: GuardStatus::Pass,
        detail: format!("detail{h}"),
        evidence: None,
    }];
    state.last_breach = Some(BreachView {
        guard: Guard::MaxErrorRatio,
        value: 3.0,
        threshold: 2.0,
        detail: format!("breach{h}"),
        at: at(0),
    });
    let kinds = vec![
        EventKind::Snapshot {
            state: Box::new(state),
        },
        EventKind::Weight {
            from: 0,
            to: 100,
            by: Actor::Api,
            reason: Some(h.clone()),
        },
        EventKind::Phase {
            from: Phase::Warming,
            to: Phase::Canary,
            by: Actor::Api,
            reason: Some(h.clone()),
        },
        EventKind::Action {
            action: format!("act{h}"),
            by: Actor::Api,
            reason: Some(h.clone()),
            ok: true,
            detail: format!("done{h}"),
        },
        EventKind::Replica {
            role: Role::Canary,
            replica: format!("id{h}"),
            status: ReplicaStatus::Healthy,
            detail: format!("health{h}"),
        },
        EventKind::Breach {
            guard: Guard::MaxErrorRatio,
            value: 3.0,
            threshold: 2.0,
            on_breach: cutover::plan::OnBreach::Rollback,
            detail: format!("breach{h}"),
            evidence: None,
        },
        EventKind::Warning {
            message: format!("warn{h}"),
        },
    ];
    let events: Vec<Event> = kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| Event {
            seq: i as u64 + 1,
            at: at(i as i64),
            kind,
        })
        .collect();
    jsupport::to_text(&header, &events)
}

/// A journal written by someone else, through `replay` (in tmux, raw
/// capture), `replay --no-tui` and `export`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_from_elsewhere_is_shown_and_never_obeyed() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("hostile.jsonl");
    let text = hostile_journal();
    // C1 characters are valid JSON as they are; ESC and BEL must be escaped.
    assert!(text.contains("\\u001b]0;PWNED\\u0007") && text.contains('\u{9b}'));
    std::fs::write(&journal, &text).unwrap();

    replay_and_export(
        &journal,
        dir.path(),
        &[SHOWN_HEAD, "warn␛]0;PWNED␇"],
        Some("svc␛]0;PWNED␇"),
        "a hostile journal",
    )
    .await;

    if !Tmux::available() {
        eprintln!("skipping the replay cockpit: tmux is not installed");
        return;
    }
    let tmux = Tmux::new("cutover-hostile-replay", "replay");
    let raw = dir.path().join("replay.raw");
    let cmd = format!(
        "{} replay {} --speed 4",
        env!("CARGO_BIN_EXE_cutover"),
        journal.display()
    );
    captured(&tmux, "replay", &raw, &cmd);
    screen_shows(
        &tmux,
        "replay",
        20,
        "the replay cockpit",
        &["warn␛]0;PWNED␇"],
    )
    .await;
    tmux.keys_to("replay", &["q"]);
    pane_exited(&tmux, "replay").await;
    let seqs = assert_renderer_only(
        &std::fs::read(&raw).unwrap(),
        RENDERER_CLEARS,
        "the replay cockpit",
    );
    assert!(seqs.len() > 100, "the capture holds the cockpit's drawing");
}

/// A health checker that reports what a hostile replica would make it say.
struct HostileHealth;

impl cutover::controller::HealthChecker for HostileHealth {
    fn spawn(
        &self,
        replica: cutover::runtime::Replica,
        _health: cutover::plan::Health,
        _assume_healthy: bool,
        tx: tokio::sync::mpsc::UnboundedSender<cutover::controller::HealthEvent>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let _ = tx.send(cutover::controller::HealthEvent {
                replica_id: replica.id.clone(),
                addr: replica.addr.clone(),
                role: replica.role,
                status: ReplicaStatus::Healthy,
                detail: format!("GET /healthz → 200 {}", hostile()),
            });
            std::future::pending::<()>().await;
        })
    }
}

/// The controller's seams, whichever checker or runtime speaks: a health
/// detail, a runtime's reachability text and a failed start's error enter
/// the model cleaned (on the bus and in the journal alike).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checker_and_runtime_texts_enter_the_model_cleaned() {
    let plan = driver_plan("hostile-seams", "");
    let proxy = TestProxy::start(&plan).await;
    let runtime = TestRuntime::default();
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::default();
    let mut deps = cutover::controller::ControllerDeps::new(
        plan.clone(),
        Arc::new(runtime.clone()),
        proxy.router.clone(),
        proxy.metrics.clone(),
        dir.path().to_path_buf(),
    );
    deps.public_addr = proxy.addr.to_string();
    deps.health = Arc::new(HostileHealth);
    deps.journal = Some(Arc::new(recorder.clone()));
    let (handle, task) = cutover::controller::spawn(deps);
    eventually(10, "stable healthy", || {
        handle.state().stable.healthy() == 2
    })
    .await;

    runtime.say(cutover::runtime::RuntimeEvent::Reachable {
        ok: false,
        detail: hostile(),
    });
    *runtime.fail_next_start.lock().unwrap() = Some(format!("engine says {}", hostile()));
    handle
        .act(ActionRequest {
            action: Action::Deploy { image: "v2".into() },
            by: Actor::Cli,
            reason: None,
        })
        .await
        .unwrap();
    eventually(10, "the failed start", || {
        handle.state().phase == Phase::Failed
    })
    .await;
    eventually(10, "the runtime's warning", || {
        recorder
            .warnings()
            .iter()
            .any(|w| w.starts_with("runtime unreachable"))
    })
    .await;
    task.abort();

    let all = serde_json::to_string(&recorder.kinds()).unwrap();
    assert!(
        !all.contains("\\u001b") && !all.contains("\\u0007"),
        "a control reached the journal"
    );
    assert!(
        !all.chars().any(|c| ('\u{80}'..='\u{9f}').contains(&c)),
        "C1 reached the journal"
    );
    for source in [
        "GET /healthz → 200 ",
        "runtime unreachable: ",
        "engine says ",
    ] {
        assert!(
            all.contains(&format!("{source}{}", shown()).replace('\\', "\\\\")),
            "{source}: {all}"
        );
    }
}

/// A real Docker engine: a container labelled as one of ours with the
/// payload as its version label, dead (reconcile reports it), and a replica
/// that prints the payload (its logs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_texts_are_shown_and_never_obeyed() {
    use crate::support::release::docker_required;
    let rt = match cutover::runtime::docker::DockerRuntime::connect().await {
        Ok(rt) => rt,
        Err(e) if docker_required() => panic!("Docker is required but unreachable: {e}"),
        Err(e) => {
            eprintln!("skipping: no Docker engine reachable ({e})");
            return;
        }
    };
    crate::support::images::demo_images(rt.client()).await;
    let service = format!("hostile-{}", std::process::id());
    let cleanup = Cleanup::service(service.clone());
    // A dead container that carries our labels and a hostile version.
    let out = std::process::Command::new("docker")
        .args(["create", "--label", &format!("cutover.service={service}")])
        .args([
            "--label",
            "cutover.role=canary",
            "--label",
            "cutover.release=7",
        ])
        .arg("--label")
        .arg(format!("cutover.version=v{}", hostile()))
        .arg("cutover-demo:v1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan = cutover::plan::parse(
        &format!(
            "service = \"{service}\"\n[listen]\npublic = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n\
             [stable]\nimage = \"cutover-demo:v1\"\nversion = \"v1\"\nenv = {{ DEMO_VERSION = {} }}\n\
             [health]\ninterval = \"200ms\"\ntimeout = \"200ms\"\nhealthy_after = 1\n",
            toml_string(&hostile())
        ),
        "engine.toml",
    )
    .unwrap();
    let root = tempfile::tempdir().unwrap();
    let mut cfg = cutover::daemon::DaemonConfig::new(plan, root.path().to_path_buf());
    cfg.runtime = Some(Arc::new(rt));
    let daemon = cutover::daemon::start(cfg).await.unwrap();
    let client = daemon.client();
    let deadline = Instant::now() + Duration::from_secs(60);
    while client.state().await.unwrap().stable.healthy() < 1 {
        assert!(Instant::now() < deadline, "stable never healthy");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let logs = client.logs(Role::Stable, 20).await.unwrap();
    assert!(
        logs.iter()
            .any(|l| l.contains(&format!("demo-app {}", shown()))),
        "{logs:#?}"
    );
    let journal = daemon.journal_path();
    daemon.stop().await;
    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(
        !text.contains("\\u001b") && !text.contains("\\u0007"),
        "raw controls journaled"
    );
    assert!(
        !text.chars().any(|c| ('\u{80}'..='\u{9f}').contains(&c)),
        "C1 journaled"
    );
    let reported = format!("(v{}, release 7)", shown()).replace('\\', "\\\\");
    assert!(
        text.contains(&reported),
        "reconcile did not report the dead container: {reported}"
    );
    drop(cleanup);
}
