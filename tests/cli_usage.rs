//! Usage mistakes are found before any daemon is looked for: the real
//! binary, run with a state directory of the test's own that holds no
//! daemon, exits 2 with the usage error for every argument mistake — and 3
//! ("no running daemon") only when the arguments are right.

use std::process::{Command, Stdio};

struct Ran {
    code: Option<i32>,
    stderr: String,
}

/// `cutover args…` with no terminal, no daemon and none of the operator's
/// `CUTOVER_*` environment.
fn cutover(state: &std::path::Path, args: &[&str]) -> Ran {
    let out = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(args)
        .env_remove("CUTOVER_TOKEN")
        .env("CUTOVER_STATE_DIR", state)
        .env("XDG_STATE_HOME", state)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Ran {
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Arguments, the exit code, and what stderr must say.
const TABLE: &[(&[&str], i32, &str)] = &[
    // Ranges, checked by the value parsers.
    (
        &["weight", "150"],
        2,
        "invalid value '150' for '<PERCENT>': expected a percentage 0–100 (fractions allowed, e.g. 2.5), found 150",
    ),
    (
        &["weight", "-5"],
        2,
        "expected a percentage 0–100 (fractions allowed, e.g. 2.5), found -5",
    ),
    (&["weight", "NaN"], 2, "expected a percentage 0–100"),
    (&["weight", "ten"], 2, "expected a number, found \"ten\""),
    (
        &["weight"],
        2,
        "the following required arguments were not provided",
    ),
    // Combinations: --force needs --reason; a reason is some text.
    (
        &["promote", "--force", "--yes"],
        2,
        "the following required arguments were not provided:\n  --reason <TEXT>",
    ),
    (
        &["promote", "--force", "--reason", "  ", "--yes"],
        2,
        "invalid value '  ' for '--reason <TEXT>': expected some text, found an empty value",
    ),
    (
        &["drain", "stable", "--force", "--yes"],
        2,
        "--reason <TEXT>",
    ),
    (
        &["drain", "canary", "--force", "--reason", "x", "--yes"],
        2,
        "--force applies to `drain stable` only: draining the canary rolls it back, which no freeze window holds",
    ),
    (&["drain", "sideways"], 2, "invalid value 'sideways'"),
    // Flags a verb does not honour do not exist.
    (
        &["rollback", "--force", "--yes"],
        2,
        "unexpected argument '--force' found",
    ),
    (&["status", "--yes"], 2, "unexpected argument '--yes' found"),
    (
        &["deploy", "--canary", ""],
        2,
        "invalid value '' for '--canary <IMAGE|VERSION>': expected some text, found an empty value",
    ),
    (
        &["resize", "canary"],
        2,
        "the following required arguments were not provided:\n  <--cpus <N>|--memory <SIZE>>",
    ),
    (
        &["resize", "canary", "--cpus", "0"],
        2,
        "invalid value '0' for '--cpus <N>': expected a number above 0 and at most 1024, found 0",
    ),
    (
        &["resize", "stable", "--memory", "1MiB"],
        2,
        "invalid value '1MiB' for '--memory <SIZE>': expected a size of at least 6MiB (Docker's minimum), found 1MiB",
    ),
    (
        &["wait", "--until", "promoted", "--timeout", "5x"],
        2,
        "invalid value '5x' for '--timeout <DURATION>': duration \"5x\": unknown unit \"x\" (use ms, s, m or h)",
    ),
    (&["wait"], 2, "--until <UNTIL>"),
    // Daemon flags before a verb that has no daemon would do nothing.
    (
        &["--admin", "127.0.0.1:9", "load", "http://127.0.0.1:9/"],
        2,
        "--admin finds a running daemon; `cutover load` does not use one",
    ),
    (
        &["--service", "shop", "up"],
        2,
        "--service finds a running daemon; `cutover up` does not use one",
    ),
    // The verbs without a daemon check their arguments the same way.
    (
        &["load", "http://127.0.0.1:9/", "--concurrency", "0"],
        2,
        "expected a whole number 1–1024, found 0",
    ),
    (
        &["load", "http://127.0.0.1:9/", "--rps", "0"],
        2,
        "expected requests per second above 0 and at most 1000000, found 0",
    ),
    (
        &["replay", "x.jsonl", "--speed", "0.1"],
        2,
        "expected 0 (start at the end) or a factor from 0.25 to 10000, found 0.1",
    ),
    (
        &["replay", "x.jsonl", "--no-tui", "--speed", "2"],
        2,
        "the argument '--no-tui' cannot be used with '--speed <SPEED>'",
    ),
    (
        &[
            "export",
            "x.jsonl",
            "--asciicast",
            "x.cast",
            "--size",
            "60x20",
        ],
        2,
        "expected a size from 80x24 (what the cockpit needs) to 500x200, found 60x20",
    ),
    (
        &["demo", "--duration", "soon"],
        2,
        "invalid value 'soon' for '--duration <DURATION>'",
    ),
    (
        &["demo", "--no-tui", "--theme", "dark"],
        2,
        "cannot be used with",
    ),
    (
        &["demo-app", "--error-rate", "1.5"],
        2,
        "expected a share from 0 to 1 (0.3 = 30 %), found 1.5",
    ),
    // Right arguments, no daemon: 3, and it says so.
    (&["weight", "50"], 3, "no running daemon found in"),
    (
        &["promote", "--force", "--reason", "hotfix", "--yes"],
        3,
        "no running daemon found in",
    ),
    (
        &["rollback", "--reason", "bad canary", "--yes"],
        3,
        "no running daemon found in",
    ),
    (
        &["drain", "canary", "--yes"],
        3,
        "no running daemon found in",
    ),
    (
        &["resize", "canary", "--memory", "256MiB"],
        3,
        "no running daemon found in",
    ),
    (&["deploy"], 3, "no running daemon found in"),
    (&["status", "--json"], 3, "no running daemon found in"),
    (
        &["wait", "--until", "idle", "--timeout", "1s"],
        3,
        "no running daemon found in",
    ),
    (&["tui"], 3, "no running daemon found in"),
];

#[test]
fn argument_mistakes_exit_2_before_any_daemon_is_looked_for() {
    let state = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (args, code, says) in TABLE {
        let r = cutover(state.path(), args);
        if r.code != Some(*code) || !r.stderr.contains(says) {
            failures.push(format!(
                "cutover {}: want exit {code} saying {says:?}, got {:?}:\n{}",
                args.join(" "),
                r.code,
                r.stderr
            ));
        }
        // A usage error never talks about daemons it did not look for.
        if *code == 2 && r.stderr.contains("daemon found") {
            failures.push(format!(
                "cutover {}: looked for a daemon: {}",
                args.join(" "),
                r.stderr
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(
        std::fs::read_dir(state.path()).unwrap().next().is_none(),
        "nothing was written to the state directory"
    );
}

/// Completion scripts and the manual page come from clap's own model of the
/// command line: every verb is in them, for each shell, and no daemon is
/// needed. An unknown shell is a usage error naming the ones there are.
#[test]
fn completions_and_the_manual_name_every_verb() {
    let state = tempfile::tempdir().unwrap();
    let verbs = [
        "demo",
        "up",
        "tui",
        "status",
        "weight",
        "deploy",
        "pause",
        "resume",
        "promote",
        "rollback",
        "drain",
        "resize",
        "wait",
        "replay",
        "export",
        "backtest",
        "load",
        "completions",
        "man",
    ];
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(env!("CARGO_BIN_EXE_cutover"))
            .args(["completions", shell])
            .env("XDG_STATE_HOME", state.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8(out.stdout).unwrap();
        for verb in verbs {
            assert!(text.contains(verb), "{shell} completion lacks {verb}");
        }
        assert!(text.contains("takeover"), "{shell}: flags are there too");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .arg("man")
        .output()
        .unwrap();
    assert!(out.status.success());
    let man = String::from_utf8(out.stdout).unwrap();
    assert!(
        man.starts_with(".ie") || man.contains(".TH cutover 1"),
        "{man}"
    );
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH SUBCOMMANDS"] {
        assert!(man.contains(section), "the manual lacks {section}");
    }
    let bad = cutover(state.path(), &["completions", "tcsh"]);
    assert_eq!(bad.code, Some(2));
    assert!(
        bad.stderr.contains("possible values: bash"),
        "{}",
        bad.stderr
    );
}
