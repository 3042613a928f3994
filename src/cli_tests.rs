//! Tests of `cli.rs`, kept beside it so the file itself reads as code.

use super::*;
use clap::CommandFactory;

#[test]
fn debug_never_shows_the_token() {
    let secret = "5ec2e7-t0ken-do-not-print";
    let t = Target {
        token: Some(secret.into()),
        ..Target::default()
    };
    let shown = format!("{t:?} {t:#?}");
    assert!(!shown.contains(secret), "{shown}");
    assert!(shown.contains(REDACTED), "{shown}");
    for args in [
        ["cutover", "--token", secret, "status"],
        ["cutover", "status", "--token", secret],
    ] {
        let cli = Cli::parse_from(args);
        let shown = format!("{cli:?}");
        assert!(!shown.contains(secret), "{shown}");
    }
}

#[test]
fn the_command_line_is_consistent() {
    Cli::command().debug_assert();
}

/// Every verb has exactly the flags it honours (a rollback is never
/// frozen: no --force), and every flag and argument says what it does.
/// Long on purpose: one table, a row per verb (and one per verb of
/// `train`), read against `cutover VERB --help`.
#[test]
fn each_verb_has_only_the_flags_it_honours() {
    const DAEMON: &[&str] = &[
        "state-dir",
        "service",
        "plan",
        "admin",
        "token",
        "read-only",
    ];
    let want: &[(&str, &[&str], bool)] = &[
        (
            "demo",
            &[
                "runtime", "scenario", "no-tui", "duration", "record", "theme",
            ],
            false,
        ),
        (
            "up",
            &[
                "plan",
                "state-dir",
                "allow-remote-admin",
                "no-deploy",
                "takeover",
            ],
            false,
        ),
        ("tui", &["theme"], true),
        ("status", &["json"], true),
        ("weight", &["yes"], true),
        ("deploy", &["canary"], true),
        ("pause", &[], true),
        ("resume", &[], true),
        ("promote", &["yes", "force", "reason"], true),
        ("rollback", &["yes", "reason"], true),
        ("drain", &["yes", "force", "reason"], true),
        ("resize", &["cpus", "memory"], true),
        ("scale", &["yes", "reason"], true),
        ("logs", &["tail"], true),
        ("wait", &["until", "timeout"], true),
        ("train", &[], false),
        ("approve", &["reason"], true),
        ("replay", &["speed", "no-tui", "theme"], false),
        ("export", &["asciicast", "size", "theme"], false),
        ("backtest", &["plan", "set", "json"], false),
        ("load", &["rps", "duration", "concurrency", "json"], false),
        (
            "demo-app",
            &[
                "port",
                "bind",
                "version",
                "error-rate",
                "latency",
                "startup-delay",
                "error-after",
                "crash-after",
                "hog-mib",
                "never-healthy",
            ],
            false,
        ),
        ("image", &[], false),
        ("completions", &[], false),
        ("man", &[], false),
    ];
    let cli = Cli::command();
    let verbs: Vec<&str> = cli
        .get_subcommands()
        .map(|c| c.get_name())
        .filter(|n| *n != "help")
        .collect();
    assert_eq!(verbs, want.iter().map(|w| w.0).collect::<Vec<_>>());
    for (verb, flags, daemon) in want {
        let sub = cli.find_subcommand(verb).unwrap();
        let mut have: Vec<&str> = sub
            .get_arguments()
            .filter_map(|a| a.get_long())
            .filter(|l| *l != "help")
            .collect();
        let mut expect: Vec<&str> = flags.to_vec();
        if *daemon {
            expect.extend_from_slice(DAEMON);
        }
        have.sort_unstable();
        expect.sort_unstable();
        assert_eq!(have, expect, "cutover {verb}");
        for a in sub.get_arguments().filter(|a| a.get_id() != "help") {
            assert!(
                a.get_help()
                    .is_some_and(|h| !h.to_string().trim().is_empty()),
                "cutover {verb}: {} has no help line",
                a.get_id()
            );
        }
        assert!(sub.get_about().is_some(), "cutover {verb} has no about");
    }
    // `train` holds verbs of its own, each with only its flags.
    let train = cli.find_subcommand("train").unwrap();
    let want: &[(&str, &[&str])] = &[
        ("start", &["force", "reason"]),
        ("status", &["json"]),
        ("abort", &["reason"]),
    ];
    let verbs: Vec<&str> = train
        .get_subcommands()
        .map(|c| c.get_name())
        .filter(|n| *n != "help")
        .collect();
    assert_eq!(verbs, want.iter().map(|w| w.0).collect::<Vec<_>>());
    for (verb, flags) in want {
        let sub = train.find_subcommand(verb).unwrap();
        let mut have: Vec<&str> = sub
            .get_arguments()
            .filter_map(|a| a.get_long())
            .filter(|l| *l != "help")
            .collect();
        let mut expect: Vec<&str> = flags.to_vec();
        expect.extend_from_slice(DAEMON);
        have.sort_unstable();
        expect.sort_unstable();
        assert_eq!(have, expect, "cutover train {verb}");
        for a in sub.get_arguments().filter(|a| a.get_id() != "help") {
            assert!(
                a.get_help().is_some(),
                "cutover train {verb}: {} has no help line",
                a.get_id()
            );
        }
        assert!(
            sub.get_about().is_some(),
            "cutover train {verb} has no about"
        );
    }
}

#[test]
fn daemon_flags_go_before_or_after_the_verb() {
    let before = Cli::parse_from(["cutover", "--state-dir", "/a", "--service", "s", "status"]);
    let after = Cli::parse_from(["cutover", "status", "--state-dir", "/b"]);
    let t = |c: &Cli| c.command.as_ref().unwrap().target().unwrap().or(&c.target);
    assert_eq!(t(&before).state_dir, Some(PathBuf::from("/a")));
    assert_eq!(t(&before).service.as_deref(), Some("s"));
    assert_eq!(t(&after).state_dir, Some(PathBuf::from("/b")));
}
