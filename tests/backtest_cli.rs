//! `cutover backtest` on the shipped recordings, through the real binary and
//! on the pure module: each reproduces its recorded outcome with its own
//! thresholds (the rollback's guard trips at about the time it did; nothing
//! trips in the promote), edited thresholds give another outcome, bad
//! `--set`/`--plan` are usage errors, and a 1.0 recording is refused
//! clearly but still replays.

use cutover::guard::backtest::{Given, RecordedOutcome, backtest};
use cutover::journal::read_journal;
use cutover::model::{EventKind, Guard, GuardPatch};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn recording(name: &str) -> PathBuf {
    root().join("recordings").join(name)
}

fn old_recording() -> PathBuf {
    root().join("tests/fixtures/journals/rollback-1.0.jsonl")
}

fn cutover(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(args)
        .output()
        .expect("cutover runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `cutover backtest FILE --json ARGS…`, which must exit 0.
fn json(file: &Path, args: &[&str]) -> Value {
    let mut all = vec!["backtest", file.to_str().unwrap(), "--json"];
    all.extend_from_slice(args);
    let o = cutover(&all);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).expect("the report is JSON")
}

fn only_release(doc: &Value) -> &Value {
    let releases = doc["releases"].as_array().expect("releases");
    assert_eq!(releases.len(), 1, "{doc:#}");
    &releases[0]
}

fn guard<'a>(release: &'a Value, name: &str) -> &'a Value {
    release["guards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["guard"] == name)
        .unwrap_or_else(|| panic!("no {name} in {release:#}"))
}

/// The rollback recording, with its own thresholds: the guard that
/// breached trips again, within the journal's resolution of the recorded
/// breach; the JSON carries the documented fields.
#[test]
fn the_rollback_recording_trips_again_as_it_did() {
    let doc = json(&recording("rollback.jsonl"), &[]);
    assert_eq!(doc["schema"], "cutover-backtest/1");
    assert_eq!(doc["thresholds_from"], "recording");
    assert_eq!(doc["journal_version"], "1.1");
    let r = only_release(&doc);
    assert_eq!(r["recorded"]["outcome"], "rolled_back");
    let breach = &r["recorded"]["breaches"][0];
    let first = &r["first_trip"];
    assert_eq!(first["guard"], breach["guard"], "{r:#}");
    let (trip, recorded) = (
        first["after_ms"].as_u64().unwrap(),
        breach["after_ms"].as_u64().unwrap(),
    );
    // Ticks report whole seconds once complete: up to 2 s late, and never
    // placed after the rollback (the canary served nothing after it), which
    // follows the breach within the same millisecond or so.
    assert!(
        trip + 2_000 >= recorded && trip <= recorded + 100,
        "trips at +{trip} ms, recorded +{recorded} ms"
    );
    assert_eq!(r["agrees"], true);
    let name = breach["guard"].as_str().unwrap();
    assert_eq!(
        guard(r, name)["recorded_breach"]["after_ms"],
        breach["after_ms"]
    );
    for key in [
        "armed",
        "judged_ms",
        "thresholds",
        "recorded_thresholds",
        "traffic",
    ] {
        assert!(!r[key].is_null(), "{key} in {r:#}");
    }
    assert_eq!(guard(r, "trip_after")["approximate"], true);
    assert_eq!(r["guards"].as_array().unwrap().len(), 6);
}

/// The promote recording, with its own thresholds: nothing trips.
#[test]
fn the_promote_recording_trips_nothing() {
    let doc = json(&recording("promote.jsonl"), &[]);
    let r = only_release(&doc);
    assert_eq!(r["recorded"]["outcome"], "promoted");
    assert!(r["recorded"]["breaches"].as_array().unwrap().is_empty());
    assert!(r["first_trip"].is_null(), "{r:#}");
    assert_eq!(r["agrees"], true);
    for g in r["guards"].as_array().unwrap() {
        assert!(g["trip"].is_null(), "{g:#}");
    }
}

/// Without the error guard the bad canary is not caught in what the
/// recording holds; with a p99 ceiling below what the good canary served,
/// the good canary would have been rolled back.
#[test]
fn edited_thresholds_change_the_outcome() {
    let doc = json(
        &recording("rollback.jsonl"),
        &["--set", "guard.max_error_ratio=off"],
    );
    assert_eq!(doc["thresholds_from"], "recording+set");
    let r = only_release(&doc);
    assert_eq!(r["thresholds"]["max_error_ratio"], "off");
    assert!(r["first_trip"].is_null(), "{r:#}");
    assert_eq!(r["agrees"], false);

    let doc = json(&recording("promote.jsonl"), &["--set", "guard.max_p99=1ms"]);
    let r = only_release(&doc);
    assert_eq!(r["first_trip"]["guard"], "max_p99", "{r:#}");
    assert_eq!(r["first_trip"]["on_breach"], "rollback");
    assert_eq!(r["agrees"], false);
    assert!(
        guard(r, "max_p99")["trip"]["detail"]
            .as_str()
            .unwrap()
            .starts_with("slower than 1.0 ms")
    );
}

/// The table says the same in words.
#[test]
fn the_table_reads_per_release() {
    let o = cutover(&["backtest", recording("rollback.jsonl").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    for want in [
        "thresholds: the recording's own",
        "release 1 · canary v2",
        "recorded: rolled back at +",
        "errors vs stable",
        "failures in a row",
        "≈",
        "— same outcome",
        "notes:",
    ] {
        assert!(text.contains(want), "{want:?} in\n{text}");
    }
    let o = cutover(&[
        "backtest",
        recording("rollback.jsonl").to_str().unwrap(),
        "--set",
        "guard.max_error_ratio=off",
    ]);
    let text = stdout(&o);
    assert!(
        text.contains("thresholds: the recording's own, with max_error_ratio off"),
        "{text}"
    );
    assert!(text.contains("nothing would trip in the"), "{text}");
    assert!(text.contains("— a different outcome"), "{text}");
}

/// `--plan` judges with a plan's `[guard]`.
#[test]
fn a_plan_gives_its_guard_table() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("cutover.toml");
    std::fs::write(
        &plan,
        r#"service = "shop"
runtime = "static"
[listen]
public = "127.0.0.1:18080"
admin = "127.0.0.1:17900"
[stable]
upstreams = ["127.0.0.1:9001"]
[guard]
max_error_ratio = "off"
max_p99 = "1ms"
"#,
    )
    .unwrap();
    let doc = json(
        &recording("promote.jsonl"),
        &["--plan", plan.to_str().unwrap()],
    );
    assert_eq!(doc["thresholds_from"], "plan");
    let r = only_release(&doc);
    assert_eq!(r["thresholds"]["max_error_ratio"], "off");
    assert_eq!(r["first_trip"]["guard"], "max_p99");
    // --set wins over the plan.
    let doc = json(
        &recording("promote.jsonl"),
        &[
            "--plan",
            plan.to_str().unwrap(),
            "--set",
            "guard.max_p99=off",
        ],
    );
    assert_eq!(doc["thresholds_from"], "plan+set");
    assert!(only_release(&doc)["first_trip"].is_null());
}

/// A bad key or value is a usage error that says which and what was
/// expected; so is a bad plan.
#[test]
fn bad_settings_are_usage_errors() {
    let rec = recording("rollback.jsonl");
    let rec = rec.to_str().unwrap();
    for (set, want) in [
        (
            "guard.max_error_rate=1.5",
            "guard.max_error_rate: expected a rate",
        ),
        (
            "guard.nope=1",
            "guard.nope: no such key; keys: guard.max_error_ratio",
        ),
        ("guard.max_p99=300", "guard.max_p99: expected a duration"),
        ("window=10s", "only [guard] keys can be set"),
        ("guard.max_errors=20", cutover::plan::MAX_ERRORS_REPLACED),
    ] {
        let o = cutover(&["backtest", rec, "--set", set]);
        assert_eq!(o.status.code(), Some(2), "{set}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{set}: {}", stderr(&o));
        assert!(o.stdout.is_empty());
    }
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("bad.toml");
    std::fs::write(&plan, "service = \"shop\"\n[guard]\nmax_error_rate = 2\n").unwrap();
    let o = cutover(&["backtest", rec, "--plan", plan.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--plan:"), "{}", stderr(&o));
}

/// A 1.0 recording has no samples: refused with the reason, exit 1; it
/// still replays headless.
#[test]
fn an_old_recording_is_refused_clearly_and_still_replays() {
    let old = old_recording();
    let o = cutover(&["backtest", old.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(
            "rollback-1.0.jsonl: recorded before per-second samples (format 1.0): cannot be backtested"
        ),
        "{}",
        stderr(&o)
    );
    assert!(o.stdout.is_empty());
    let o = cutover(&["replay", old.to_str().unwrap(), "--no-tui"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["breaches"], 1);
    assert_eq!(v["corrupt_lines"], 0);
    assert_eq!(v["state"]["phase"], "idle");
}

/// On the pure module: every guard of the rollback recording, and its
/// traffic, in detail.
#[test]
fn the_module_judges_the_rollback_recording_guard_by_guard() {
    let j = read_journal(&recording("rollback.jsonl")).unwrap();
    let recorded = j
        .events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Breach { guard, .. } => Some(*guard),
            _ => None,
        })
        .expect("the recording has its breach");
    let b = backtest(&j, &Given::default()).unwrap();
    let r = &b.releases[0];
    assert_eq!(r.recorded.outcome, RecordedOutcome::RolledBack);
    assert!(r.samples >= 5, "{} ticks judged", r.samples);
    assert!(r.traffic.canary.failures > 0 && r.traffic.stable.requests > r.traffic.canary.requests);
    for g in &r.guards {
        let tripped = g.trip.is_some();
        if g.guard == recorded {
            assert!(tripped, "{g:#?}");
            assert!(g.recorded_breach.is_some());
        } else {
            assert_eq!(g.recorded_breach, None, "{g:#?}");
        }
    }
    // Everything off but the budget: an exact count of the canary's failures.
    let budget = r.traffic.canary.failures;
    let only_budget = Given {
        plan: None,
        set: GuardPatch {
            max_error_ratio: Some(None),
            max_p99_ratio: Some(None),
            max_p99: Some(None),
            trip_after: Some(None),
            max_failed_requests: Some(Some(budget)),
            ..GuardPatch::default()
        },
    };
    let b = backtest(&j, &only_budget).unwrap();
    let first = b.releases[0]
        .first_trip
        .clone()
        .expect("the budget is spent");
    assert_eq!(first.guard, Guard::MaxFailedRequests);
    let over = Given {
        set: GuardPatch {
            max_failed_requests: Some(Some(budget + 1)),
            ..only_budget.set
        },
        ..only_budget
    };
    assert_eq!(backtest(&j, &over).unwrap().releases[0].first_trip, None);
}
