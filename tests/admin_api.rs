//! The admin API through real sockets against an in-process daemon (static
//! runtime, in-test upstreams): tokens, errors, weight changes, the event
//! stream, and `cutover status --json` from the real binary; and a resize
//! refused on the process runtime, which cannot apply limits.

use crate::support::daemon::CanaryDaemon;
use crate::support::release::{Harness, Kind, Steps};

use cutover::model::{Action, ActionRequest, Actor, EventKind};
use futures::StreamExt;

/// The daemon every test here talks to.
type Fixture = CanaryDaemon;

async fn fixture() -> Fixture {
    CanaryDaemon::start().await
}

fn url(f: &Fixture, path: &str) -> String {
    format!("http://{}{path}", f.daemon.admin_addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_wrong_token_is_401_and_changes_nothing() {
    let f = fixture().await;
    // No connection reuse: a 413 closes its connection, and a pooled reuse
    // of it would race the close.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let r = http
        .post(url(&f, "/v1/weight"))
        .json(&serde_json::json!({"percent": 50}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "unauthorized");
    let r = http
        .post(url(&f, "/v1/weight"))
        .bearer_auth("0".repeat(64))
        .json(&serde_json::json!({"percent": 50}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http.get(url(&f, "/v1/state")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(f.daemon.router.weight(), 0, "nothing changed");
    f.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_json_reasons() {
    let f = fixture().await;
    // No connection reuse: a 413 closes its connection, and a pooled reuse
    // of it would race the close.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let post = |body: String| {
        http.post(url(&f, "/v1/weight"))
            .bearer_auth(&f.daemon.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for (body, status, code) in [
        ("{not json".to_string(), 400, "bad_json"),
        (r#"{"percent": 150}"#.to_string(), 400, "out_of_range"),
        (r#"{"permille": -1}"#.to_string(), 400, "out_of_range"),
        (
            r#"{"percent": 5, "permille": 50}"#.to_string(),
            400,
            "bad_json",
        ),
        (r#"{"percent": 5, "bogus": 1}"#.to_string(), 400, "bad_json"),
        (
            format!(r#"{{"percent": 5, "reason": "{}"}}"#, "x".repeat(200_000)),
            413,
            "too_large",
        ),
    ] {
        let r = post(body.clone()).await.unwrap();
        assert_eq!(
            r.status().as_u16(),
            status,
            "{}",
            &body[..body.len().min(60)]
        );
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["code"], code);
        assert!(!v["error"].as_str().unwrap().is_empty());
    }
    let r = http
        .get(url(&f, "/v1/nope"))
        .bearer_auth(&f.daemon.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = http
        .delete(url(&f, "/v1/state"))
        .bearer_auth(&f.daemon.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["code"], "method_not_allowed");
    assert_eq!(f.daemon.router.weight(), 0, "nothing changed");
    f.daemon.stop().await;
}

/// `guard` and `system` are the daemon's own actors: a caller naming one
/// gets a 400 that says who a caller may be, nothing changes, and the
/// journal never says the guard acted when it did not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_cannot_act_as_the_guard_or_the_daemon() {
    let f = fixture().await;
    let http = crate::support::http();
    for (path, body) in [
        (
            "/v1/weight",
            serde_json::json!({"percent": 0, "by": "guard", "reason": "breach"}),
        ),
        (
            "/v1/weight",
            serde_json::json!({"percent": 50, "by": "system"}),
        ),
        (
            "/v1/actions",
            serde_json::json!({"action": "rollback", "by": "guard", "reason": "breach"}),
        ),
        (
            "/v1/actions",
            serde_json::json!({"action": "mute_guards", "muted": true, "by": "system"}),
        ),
    ] {
        let r = http
            .post(url(&f, path))
            .bearer_auth(&f.daemon.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{path} {body}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["code"], "bad_actor", "{v}");
        let by = body["by"].as_str().unwrap();
        assert_eq!(
            v["error"],
            format!(
                "\"by\": \"{by}\" is the daemon's own; a caller is \"cli\", \"tui\" or \"api\""
            ),
        );
    }
    let state = f.daemon.client().state().await.unwrap();
    assert_eq!(state.weight_permille, 0);
    assert_eq!(state.phase, cutover::model::Phase::Canary, "no rollback");
    assert!(!state.guards_muted);
    // A caller's own name is fine.
    let r = http
        .post(url(&f, "/v1/weight"))
        .bearer_auth(&f.daemon.token)
        .json(&serde_json::json!({"percent": 5, "by": "tui"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let journal = f.daemon.journal_path();
    f.daemon.stop().await;
    let events = cutover::journal::read_journal(&journal).unwrap().events;
    // (The daemon itself deployed the plan's canary at start, as `system`.)
    let by_guard = events.iter().filter(|e| {
        matches!(
            &e.kind,
            EventKind::Weight {
                by: Actor::Guard,
                ..
            } | EventKind::Action {
                by: Actor::Guard,
                ..
            }
        )
    });
    assert_eq!(by_guard.count(), 0, "nothing journaled as the guard's");
    assert!(events.iter().any(|e| matches!(
        &e.kind,
        EventKind::Weight {
            to: 50,
            by: Actor::Tui,
            ..
        }
    )));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weight_change_is_applied_streamed_and_reported() {
    let f = fixture().await;
    let client = f.daemon.client();
    let mut events = client.events().await.unwrap();
    let first = events.next().await.unwrap().unwrap();
    assert!(matches!(first.kind, EventKind::Snapshot { .. }));
    let reply = client
        .act(&ActionRequest {
            action: Action::SetWeight { permille: 250 },
            by: Actor::Cli,
            reason: Some("test".into()),
        })
        .await
        .unwrap();
    assert_eq!(reply.state.weight_permille, 250);
    assert_eq!(f.daemon.router.weight(), 250);
    let weight_event = loop {
        let ev = events.next().await.unwrap().unwrap();
        if let EventKind::Weight { from, to, by, .. } = ev.kind {
            break (from, to, by);
        }
    };
    assert_eq!(weight_event, (0, 250, Actor::Cli));
    let state = client.state().await.unwrap();
    assert_eq!(state.weight_permille, 250);
    // Prometheus text, no token needed.
    let text = reqwest::get(url(&f, "/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("cutover_canary_weight_permille"), "{text}");
    // Series carry each version's role and its version string.
    let stable = format!("role=\"stable\",version=\"{}\"", state.stable.version);
    assert!(text.contains(&stable), "{stable} in\n{text}");
    if let Some(c) = &state.canary {
        let canary = format!("role=\"canary\",version=\"{}\"", c.version);
        assert!(text.contains(&canary), "{canary} in\n{text}");
    }
    f.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_status_json_and_weight_against_the_daemon() {
    let f = fixture().await;
    let root = f.dir.path().to_str().unwrap().to_string();
    let bin = env!("CARGO_BIN_EXE_cutover");
    let out = tokio::process::Command::new(bin)
        .args(["--state-dir", &root, "weight", "12.5"])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = tokio::process::Command::new(bin)
        .args(["--state-dir", &root, "status", "--json"])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status --json is JSON");
    assert_eq!(v["weight_permille"], 125);
    assert_eq!(v["service"], "shop");
    // A wrong token: exit 1 with a clear message; unreachable: exit 3.
    let out = tokio::process::Command::new(bin)
        .args(["--state-dir", &root, "--token", "nope", "status"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("refused the token"));
    let addr = f.daemon.admin_addr;
    f.daemon.stop().await;
    let out = tokio::process::Command::new(bin)
        .args(["--admin", &addr.to_string(), "--token", "x", "status"])
        .output()
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A resize on the process runtime is refused up front, over the admin API
/// and from `cutover resize`, in the words of the plan check (which runtimes
/// honour limits), and nothing is saved to state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resize_on_the_process_runtime_is_refused_and_saves_nothing() {
    let h = Harness::start(Kind::Process, "", &Steps::manual(), 50)
        .await
        .expect("the process runtime is always there");
    let serving = h
        .wait_until(
            "both versions healthy",
            std::time::Duration::from_secs(60),
            |s| {
                s.phase == cutover::model::Phase::Canary
                    && s.stable.healthy() == 2
                    && s.canary.as_ref().is_some_and(|c| c.healthy() == 1)
            },
        )
        .await;
    let state_file = h.dir.path().join(&h.service).join("state.json");
    let saved = std::fs::read(&state_file).unwrap();
    let says = "cannot resize canary: runtime \"process\" cannot apply CPU or memory limits: only runtimes \"docker\" and \"swarm\" honour `cpus` and `memory`";

    let daemon = h.daemon();
    let r = crate::support::http()
        .post(format!("http://{}/v1/actions", daemon.admin_addr))
        .bearer_auth(&daemon.token)
        .json(&serde_json::json!({
            "action": "resize", "role": "canary", "cpus": 0.5, "memory": 134217728, "by": "api"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "not_supported", "{body}");
    assert_eq!(body["error"], says, "{body}");

    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["resize", "canary", "--cpus", "0.5", "--admin"])
        .arg(daemon.admin_addr.to_string())
        .args(["--token", &daemon.token])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim(), format!("cutover: refused: {says}"));

    assert_eq!(
        std::fs::read(&state_file).unwrap(),
        saved,
        "a refused resize saved nothing"
    );
    let now = h.state().await;
    assert_eq!(
        (now.phase, now.release, now.weight_permille),
        (serving.phase, serving.release, serving.weight_permille)
    );
    h.finish().await;
}

/// Every daemon keeps a flight recorder; a headless replay of it ends in the
/// state the live daemon had.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journal_records_and_replays_to_the_same_state() {
    let f = fixture().await;
    let client = f.daemon.client();
    client
        .act(&ActionRequest {
            action: Action::SetWeight { permille: 330 },
            by: Actor::Tui,
            reason: Some("journal test".into()),
        })
        .await
        .unwrap();
    // Until a snapshot after the change is in the journal.
    let path = f.daemon.journal_path();
    crate::support::wait::eventually(10, "a snapshot after the change", || {
        cutover::journal::read_journal(&path).is_ok_and(|j| {
            j.events.iter().any(|e| {
                matches!(&e.kind, EventKind::Snapshot { state } if state.weight_permille == 330)
            })
        })
    })
    .await;
    let live = client.state().await.unwrap();
    f.daemon.stop().await;
    let journal = cutover::journal::read_journal(&path).unwrap();
    assert_eq!(journal.header.service, "shop");
    assert_eq!(journal.corrupt_lines, 0);
    assert!(journal.events.iter().any(|e| matches!(
        e.kind,
        EventKind::Weight {
            to: 330,
            by: Actor::Tui,
            ..
        }
    )));
    let out = cutover::journal::final_state(&path).unwrap();
    let state = out.state.expect("a snapshot was recorded");
    assert_eq!(state.weight_permille, live.weight_permille);
    assert_eq!(state.phase, live.phase);
    // And through the real binary.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["replay", "--no-tui"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["state"]["weight_permille"], 330);
}

/// The proptest mirror of the admin request fuzz target: arbitrary bytes as
/// a `POST /v1/actions` or `/v1/weight` body never get a 5xx and never change
/// anything unless they are a valid request.
#[test]
fn arbitrary_request_bodies_never_break_anything() {
    use proptest::prelude::*;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let f = rt.block_on(fixture());
    let http = crate::support::http();
    let before = std::cell::RefCell::new(rt.block_on(f.daemon.client().state()).unwrap());
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases: 200,
        ..Default::default()
    });
    let bodies = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        // Near misses: JSON-looking text with the right keys.
        "\\{\"(action|by|percent|permille|reason)\": ?(\"[a-z_]{0,12}\"|-?[0-9]{1,25}|null|true|\\[\\])\\}".prop_map(String::into_bytes),
    ];
    runner
        .run(&(bodies, any::<bool>()), |(body, weight_route)| {
            let path = if weight_route {
                "/v1/weight"
            } else {
                "/v1/actions"
            };
            let status = rt.block_on(async {
                http.post(url(&f, path))
                    .bearer_auth(&f.daemon.token)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap()
                    .status()
            });
            prop_assert!(
                status.as_u16() < 500,
                "{status} for {:?}",
                String::from_utf8_lossy(&body)
            );
            let now = rt.block_on(f.daemon.client().state()).unwrap();
            if status.is_success() {
                // A valid request slipped through: it is the new baseline.
                *before.borrow_mut() = now;
            } else {
                let b = before.borrow();
                prop_assert_eq!(
                    (now.phase, now.weight_permille),
                    (b.phase, b.weight_permille)
                );
            }
            Ok(())
        })
        .unwrap();
    rt.block_on(f.daemon.stop());
}

/// Guard thresholds through `POST /v1/actions`: a value the plan's rules
/// refuse is a 400 that names the key, and nothing changes; a good edit is
/// applied, shown by `GET /v1/guards` and journaled with who and why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guard_edits_are_validated_like_the_plan() {
    let f = fixture().await;
    let client = f.daemon.client();
    let http = crate::support::http();
    let before = client.guards().await.unwrap();
    assert_eq!(before.trip_after, Some(10), "the plan's default");
    let post = |body: serde_json::Value| {
        http.post(url(&f, "/v1/actions"))
            .bearer_auth(&f.daemon.token)
            .json(&body)
            .send()
    };
    for (guards, code, says) in [
        (
            serde_json::json!({"max_error_rate": 1.5}),
            "invalid_value",
            "guard.max_error_rate: expected a rate from 0 up to (not including) 1",
        ),
        (
            serde_json::json!({"trip_after": 1}),
            "invalid_value",
            "guard.trip_after: expected a whole number 2–10000",
        ),
        (
            serde_json::json!({"max_errors": 20}),
            "invalid_value",
            "guard.max_errors: max_errors was removed in round 2",
        ),
        (
            serde_json::json!({"confidence": 1.0}),
            "invalid_value",
            "guard.confidence: expected a probability",
        ),
        (
            serde_json::json!({"window": "10m"}),
            "invalid_value",
            "guard.window: expected a duration from 1s to 5m",
        ),
        (
            serde_json::json!({"min_requests": 0}),
            "invalid_value",
            "guard.min_requests",
        ),
        (
            serde_json::json!({"max_p99_ratio": 0.5}),
            "invalid_value",
            "guard.max_p99_ratio",
        ),
        (serde_json::json!({}), "bad_request", "names no threshold"),
        (
            serde_json::json!({"max_erors": 3}),
            "bad_json",
            "unknown field",
        ),
        (
            serde_json::json!({"window": "soon"}),
            "bad_json",
            "invalid JSON body",
        ),
    ] {
        let r = post(serde_json::json!({"action": "set_guards", "by": "api", "guards": guards}))
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{guards}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["code"], code, "{guards}: {v}");
        let error = v["error"].as_str().unwrap();
        assert!(error.contains(says), "{guards}: {error}");
        assert_eq!(
            client.guards().await.unwrap(),
            before,
            "{guards}: nothing changed"
        );
    }
    let mut events = client.events().await.unwrap();
    let r = post(serde_json::json!({
        "action": "set_guards",
        "by": "tui",
        "reason": "slow dependency today",
        "guards": {"max_p99": "400ms", "max_error_ratio": null, "max_p99_ratio": "off", "window": "20s"}
    }))
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let after = client.guards().await.unwrap();
    assert_eq!(
        after.max_p99.map(|d| d.to_string()).as_deref(),
        Some("400ms")
    );
    assert_eq!(after.max_error_ratio, None, "null switches a guard off");
    assert_eq!(after.max_p99_ratio, None, "and so does \"off\"");
    assert_eq!(after.window.to_string(), "20s");
    assert_eq!(after.trip_after, before.trip_after, "left out: unchanged");
    let detail = loop {
        let ev = events.next().await.unwrap().unwrap();
        if let EventKind::Action {
            action,
            by,
            reason,
            ok: true,
            detail,
        } = ev.kind
            && action == "set_guards"
        {
            assert_eq!(by, Actor::Tui);
            assert_eq!(reason.as_deref(), Some("slow dependency today"));
            break detail;
        }
    };
    assert_eq!(
        detail,
        "guard thresholds of release 1: max_error_ratio ×1.25 → off, max_p99_ratio ×1.50 → off, max_p99 off → 400ms, window 10s → 20s"
    );
    // The client helper says the same refusal in its own words.
    let err = client
        .set_guards(
            cutover::model::GuardPatch {
                max_error_rate: Some(Some(2.0)),
                ..Default::default()
            },
            Actor::Cli,
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, cutover::api::client::ClientError::Refused(r) if r.code == cutover::model::RefusalCode::InvalidValue),
        "{err}"
    );
    f.daemon.stop().await;
}

/// A client that attaches mid-release gets what already happened: after
/// the snapshot, the journal events from before it connected, in order,
/// then the live ones, each exactly once (`seq` only grows).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_starts_with_the_backlog_each_event_once_in_order() {
    let f = fixture().await;
    let client = f.daemon.client();
    let set = |permille| ActionRequest {
        action: Action::SetWeight { permille },
        by: Actor::Cli,
        reason: None,
    };
    for permille in [100, 200, 300] {
        client.act(&set(permille)).await.unwrap();
    }
    let mut events = client.events().await.unwrap();
    let first = events.next().await.unwrap().unwrap();
    let EventKind::Snapshot { state } = &first.kind else {
        panic!("the stream starts with a snapshot: {first:?}");
    };
    assert_eq!(state.weight_permille, 300);
    client.act(&set(400)).await.unwrap();
    let mut journal = Vec::new();
    let mut weights = Vec::new();
    loop {
        let ev = tokio::time::timeout(std::time::Duration::from_secs(20), events.next())
            .await
            .expect("the live weight event arrives")
            .unwrap()
            .unwrap();
        if matches!(ev.kind, EventKind::Snapshot { .. } | EventKind::Tick { .. }) {
            continue;
        }
        journal.push(ev.seq);
        if let EventKind::Weight { from, to, .. } = ev.kind {
            weights.push((from, to, ev.at < state.at));
            if to == 400 {
                break;
            }
        }
    }
    assert_eq!(
        weights,
        vec![
            (0, 100, true),
            (100, 200, true),
            (200, 300, true),
            (300, 400, false)
        ],
        "the three before attaching (older than the snapshot), then the live one"
    );
    assert!(
        journal.windows(2).all(|w| w[0] < w[1]),
        "in order, none twice: {journal:?}"
    );
    // The deploy that started this release is in the backlog too.
    assert!(journal.len() > weights.len(), "{journal:?}");
    // `?backlog=0` asks for none: the snapshot, then only what happens next.
    let r = crate::support::http()
        .get(url(&f, "/v1/events?backlog=0"))
        .bearer_auth(&f.daemon.token)
        .send()
        .await
        .unwrap();
    let mut body = r.bytes_stream();
    let mut text = String::new();
    while text.lines().count() < 3 {
        let chunk = body.next().await.unwrap().unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    for line in text.lines().skip(1).take(2) {
        let ev: cutover::model::Event = serde_json::from_str(line).unwrap();
        assert!(ev.at >= state.at, "nothing from before: {line}");
    }
    // `?ticks=N` adds the last N metric ticks (one a second) to the backlog,
    // merged in order: a cockpit draws the graphs' past at once.
    let journal = f.daemon.journal_path();
    crate::support::wait::eventually(10, "two metric ticks", || {
        cutover::journal::read_journal(&journal).is_ok_and(|j| {
            j.events
                .iter()
                .filter(|e| matches!(e.kind, EventKind::Tick { .. }))
                .count()
                >= 2
        })
    })
    .await;
    let r = crate::support::http()
        .get(url(&f, "/v1/events?backlog=0&ticks=300"))
        .bearer_auth(&f.daemon.token)
        .send()
        .await
        .unwrap();
    let mut body = r.bytes_stream();
    let mut buf = String::new();
    let mut lines: Vec<cutover::model::Event> = Vec::new();
    let snapshot_at = loop {
        let chunk = body.next().await.unwrap().unwrap();
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(pos) = buf.find('\n') {
            let line: String = buf.drain(..=pos).collect();
            lines.push(serde_json::from_str(line.trim_end()).unwrap());
        }
        // The backlog came in the first chunk; one live tick after it ends the read.
        if let Some(snap) = lines.first()
            && lines.iter().skip(1).any(|e| e.at >= snap.at)
        {
            break snap.at;
        }
    };
    let past: Vec<&cutover::model::Event> = lines
        .iter()
        .skip(1)
        .filter(|e| e.at < snapshot_at)
        .collect();
    assert!(
        past.len() >= 2
            && past
                .iter()
                .all(|e| matches!(e.kind, EventKind::Tick { .. })),
        "ticks only from before the snapshot (backlog=0): {past:?}"
    );
    assert!(
        past.windows(2)
            .all(|w| w[0].seq < w[1].seq && w[0].at <= w[1].at)
    );
    f.daemon.stop().await;
}

/// `L` in the cockpit reads the selected replica's own lines: with two
/// stable replicas of the demo app (real child processes), each id gives
/// that replica's output (it says which port it listens on), an unknown id
/// is a 404 that says so, and the role form still reads a version's first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_by_replica_id_read_that_replica() {
    use crate::support::release::{Harness, Kind, Steps};
    use cutover::model::Role;
    let Some(h) = Harness::start(Kind::Process, "", &Steps::manual(), 50).await else {
        return;
    };
    let state = h.wait_stable().await;
    let state = match state.canary.as_ref().map(|c| c.healthy()) {
        Some(1) => state,
        _ => {
            h.wait_until("canary healthy", std::time::Duration::from_secs(60), |s| {
                s.canary.as_ref().is_some_and(|c| c.healthy() == 1)
            })
            .await
        }
    };
    let client = h.daemon().client();
    let stable = &state.stable.replicas;
    assert_eq!(stable.len(), 2, "{stable:?}");
    let canary = &state.canary.as_ref().unwrap().replicas[0];
    for (r, version) in stable.iter().map(|r| (r, "v1")).chain([(canary, "v2")]) {
        let lines = client.replica_logs(&r.id, 50).await.unwrap();
        let own = format!("demo-app {version} listening on {}", r.addr);
        assert!(
            lines.iter().any(|l| l.contains(&own)),
            "{}: {lines:?}",
            r.id
        );
        for other in stable.iter().chain([canary]).filter(|o| o.id != r.id) {
            assert!(
                !lines.iter().any(|l| l.contains(&other.addr)),
                "{} shows {}'s lines: {lines:?}",
                r.id,
                other.id
            );
        }
    }
    // The role form: the canary's (only) replica.
    let lines = client.logs(Role::Canary, 50).await.unwrap();
    assert!(
        lines.iter().any(|l| l.contains("demo-app v2 listening")),
        "{lines:?}"
    );
    // An id it does not run: 404 with a JSON reason naming it and the real ones.
    let r = crate::support::http()
        .get(format!(
            "http://{}/v1/logs?replica=pid:1",
            h.daemon().admin_addr
        ))
        .bearer_auth(&h.daemon().token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["code"], "no_replica", "{v}");
    let said = v["error"].as_str().unwrap();
    assert!(said.contains("`pid:1`"), "{said}");
    assert!(said.contains(&stable[0].id), "{said}");
    let err = client.replica_logs("pid:1", 10).await.unwrap_err();
    assert!(
        matches!(
            &err,
            cutover::api::client::ClientError::Api { status: 404, .. }
        ),
        "{err}"
    );
    h.finish().await;
}
