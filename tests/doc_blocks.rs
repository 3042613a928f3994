//! Blocks of README.md and docs/PLAN.md that are made from the real thing,
//! so they cannot drift from it: the README's cockpit frame is drawn by the
//! cockpit's own renderer from a shipped recording, and the plan-error
//! examples are what `plan::parse` says about a bad-plan fixture.
//!
//! A generated block sits between marker comments:
//!
//! ```text
//! <!-- generated: cockpit-frame recordings/promote.jsonl 120x36 -->
//! ```                                   (the block, fenced)
//! <!-- /generated -->
//! ```
//!
//! `scripts/doc-blocks.sh` rewrites every block (it runs this test with
//! `CUTOVER_UPDATE_DOCS=1`); without it, the test fails on any block that
//! differs from what would be generated now and says to run the script.

use cutover::journal::read_journal;
use cutover::model::EventKind;
use cutover::tui::app::{App, Link};
use cutover::tui::config_file::Config;
use cutover::tui::keymap::Keymap;
use cutover::tui::{Theme, render_frame};
use std::path::{Path, PathBuf};

const START: &str = "<!-- generated: ";
const END: &str = "<!-- /generated -->";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The cockpit as an operator attached to the recorded daemon saw it, at
/// `w`×`h`: every event of `recording` up to the moment fed to a live
/// cockpit model, drawn by the cockpit's renderer (no colours). The moment
/// is 3 s after the release's second weight step began, mid-release with
/// both versions serving, wherever a re-recording puts it in time.
fn cockpit_frame(recording: &Path, w: u16, h: u16) -> String {
    let journal = read_journal(recording).expect("the shipped recording reads");
    let step2 = journal
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Weight { from, to, .. } if to > from))
        .nth(1)
        .unwrap_or_else(|| panic!("{} has no second weight step", recording.display()))
        .at;
    let moment = step2 + chrono::Duration::seconds(3);
    let mut app = App::new(Keymap::default(), &Config::default());
    app.set_link(Link::Live);
    app.set_size(w, h);
    for e in journal.events.iter().take_while(|e| e.at <= moment) {
        app.apply_event(e);
    }
    let theme = Theme::load("dark", None, true).unwrap();
    let buf = render_frame(&app, &theme, w, h);
    let mut out = String::new();
    for y in 0..h {
        let line: String = (0..w).map(|x| buf[(x, y)].symbol()).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// What `plan::parse` says about a plan fixture, named `cutover.toml`.
fn plan_error(fixture: &Path) -> String {
    let text = std::fs::read_to_string(fixture).unwrap();
    let err = cutover::plan::parse(&text, "cutover.toml")
        .expect_err("a plan-error block names a bad plan");
    format!("{err}\n")
}

/// The fenced block a marker's spec asks for.
fn generate(spec: &str) -> String {
    let words: Vec<&str> = spec.split_whitespace().collect();
    match words.as_slice() {
        ["cockpit-frame", file, size] => {
            let (w, h) = cutover::journal::export::parse_size(size).unwrap();
            format!("```\n{}```\n", cockpit_frame(&root().join(file), w, h))
        }
        ["plan-error", file] => format!("```text\n{}```\n", plan_error(&root().join(file))),
        _ => panic!("unknown generated block {spec:?}"),
    }
}

/// `text` with every generated block as it would be generated now, and
/// the specs of the blocks that differed.
fn regenerate(text: &str) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut stale = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(START) {
        let line_end = at + rest[at..].find('\n').expect("a marker line ends");
        let spec = rest[at + START.len()..line_end]
            .trim_end()
            .trim_end_matches("-->")
            .trim();
        let end = line_end + rest[line_end..].find(END).expect("a generated block ends");
        let block = &rest[line_end + 1..end];
        let fresh = generate(spec);
        if block != fresh {
            stale.push(spec.to_string());
        }
        out.push_str(&rest[..=line_end]);
        out.push_str(&fresh);
        rest = &rest[end..];
    }
    out.push_str(rest);
    (out, stale)
}

#[test]
fn generated_doc_blocks_are_current() {
    let update = std::env::var("CUTOVER_UPDATE_DOCS").is_ok_and(|v| v == "1");
    let mut blocks = 0;
    let mut failures = Vec::new();
    for doc in ["README.md", "docs/PLAN.md"] {
        let path = root().join(doc);
        let text = std::fs::read_to_string(&path).unwrap();
        blocks += text.matches(START).count();
        let (fresh, stale) = regenerate(&text);
        if stale.is_empty() {
            continue;
        }
        if update {
            std::fs::write(&path, fresh).unwrap();
            eprintln!("{doc}: regenerated {}", stale.join(", "));
        } else {
            failures.push(format!(
                "{doc}: stale generated block(s) {}: run scripts/doc-blocks.sh",
                stale.join(", ")
            ));
        }
    }
    assert!(blocks >= 3, "only {blocks} generated blocks");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The recordings the frame (and the replay tests) draw from were made by
/// the demo as it is: the same guard thresholds as `cutover demo` runs now.
/// A recording made before a change to the demo plan would show another
/// release than the demo does (the README once showed `errors 0 ≤ 10` after
/// the demo had moved to 25).
#[test]
fn the_shipped_recordings_follow_the_demo_plan() {
    for (name, scenario) in [
        ("promote", cutover::cli::Scenario::Good),
        ("rollback", cutover::cli::Scenario::Bad),
    ] {
        let plan =
            cutover::demo::plan::demo_plan("process", scenario, Path::new("cutover")).unwrap();
        let journal = read_journal(&root().join(format!("recordings/{name}.jsonl"))).unwrap();
        let recorded = journal
            .events
            .iter()
            .find_map(|e| match &e.kind {
                EventKind::Snapshot { state } => Some(state.thresholds.clone()),
                _ => None,
            })
            .flatten();
        assert_eq!(
            recorded.as_ref(),
            Some(&plan.guard),
            "recordings/{name}.jsonl was made with other guard thresholds than `cutover demo` uses now: re-record with scripts/record-demos.sh, then run scripts/doc-blocks.sh"
        );
    }
}
