//! Plan file errors, as the operator reads them: every file in
//! `tests/fixtures/plans/bad/` fails with a message snapshotted exactly (file,
//! line, column, key path, what was expected, the line and a caret), every
//! file in `good/` parses, every ranged key's range reads the same in
//! docs/PLAN.md as in its messages, and `parse` never panics on arbitrary or
//! mutated input.

use cutover::plan::{PlanError, parse};
use proptest::prelude::*;
use std::path::{Path, PathBuf};

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/plans")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

fn name(path: &Path) -> String {
    path.file_stem().unwrap().to_string_lossy().into_owned()
}

#[test]
fn every_bad_plan_fails_with_its_exact_message() {
    let files = fixtures("bad");
    assert!(files.len() >= 25, "only {} bad plans", files.len());
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let shown = format!("bad/{}.toml", name(&path));
        let err = match parse(&text, &shown) {
            Ok(_) => panic!("{shown} parsed but should not"),
            Err(e) => e,
        };
        let located = err.located().expect("a located error");
        assert_eq!(located.file, shown);
        assert!(located.key.is_some(), "{shown}: no key path in {err}");
        insta::assert_snapshot!(format!("plan_error__{}", name(&path)), err.to_string());
    }
}

/// docs/PLAN.md states each key's range in the words its error message uses
/// (`plan::ranges::RANGES`), in the key's row of its table's section.
#[test]
fn the_docs_state_every_range_as_the_messages_do() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/PLAN.md"))
        .unwrap();
    // "### `[health]`" → its text up to the next heading.
    let section = |table: &str| -> &str {
        let heading = if table.is_empty() {
            "### Top level".to_string()
        } else {
            format!("[{table}]")
        };
        let start = doc
            .match_indices("\n### ")
            .map(|(i, _)| i + 1)
            .find(|&i| doc[i..].lines().next().unwrap().contains(&heading))
            .unwrap_or_else(|| panic!("docs/PLAN.md has no section for [{table}]"));
        let end = doc[start + 4..]
            .find("\n#")
            .map_or(doc.len(), |e| start + 4 + e);
        &doc[start..end]
    };
    let mut checked = 0;
    for r in cutover::plan::ranges::RANGES {
        for table in r.tables {
            let row = section(table)
                .lines()
                .find(|l| l.starts_with(&format!("| `{}` |", r.key)))
                .unwrap_or_else(|| panic!("docs/PLAN.md: no row for {table}.{}", r.key));
            assert!(
                row.contains(r.expected),
                "docs/PLAN.md's row for {table}.{} should say {:?} as its error does:\n{row}",
                r.key,
                r.expected
            );
            checked += 1;
        }
    }
    assert!(checked >= 25, "{checked}");
}

#[test]
fn every_good_plan_parses() {
    let files = fixtures("good");
    assert!(files.len() >= 3);
    for path in files {
        if let Err(e) = cutover::plan::load(&path) {
            panic!("{}: {e}", path.display());
        }
    }
}

#[test]
fn a_missing_file_says_so() {
    let err = cutover::plan::load(Path::new("/nonexistent/cutover.toml")).unwrap_err();
    assert!(matches!(err, PlanError::Read { .. }));
    assert!(
        err.to_string()
            .starts_with("cannot read plan /nonexistent/cutover.toml"),
        "{err}"
    );
}

fn design_text() -> String {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plans/good/design_full.toml");
    std::fs::read_to_string(path).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn parse_never_panics_on_arbitrary_text(text in "\\PC{0,400}") {
        let _ = parse(&text, "fuzz.toml");
    }

    #[test]
    fn parse_never_panics_on_mutated_plans(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<char>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut chars: Vec<char> = design_text().chars().collect();
        for (at, c) in edits {
            let i = at.index(chars.len());
            chars[i] = c;
        }
        let text: String = chars.iter().collect();
        if let Err(e) = parse(&text, "mutated.toml") {
            // Every located error points inside the text.
            if let Some(l) = e.located() {
                prop_assert!(l.line >= 1 && l.line <= text.lines().count().max(1) + 1);
                prop_assert!(!e.to_string().is_empty());
            }
        }
        let truncated: String = chars[..cut.index(chars.len() + 1)].iter().collect();
        let _ = parse(&truncated, "truncated.toml");
    }
}
