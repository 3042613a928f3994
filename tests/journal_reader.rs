//! The journal reader on good, damaged, newer and hostile input: corrupt
//! lines are skipped and counted, a torn last line is tolerated, unknown
//! versions are refused with a clear message, and nothing ever panics.

use crate::support::journal as support;

use cutover::journal::{JournalError, parse_journal, parse_journal_bytes, read_journal};
use proptest::prelude::*;

#[test]
fn a_clean_journal_reads_back_exactly() {
    let events = support::recording(10);
    let text = support::to_text(&support::header(), &events);
    let j = parse_journal(&text).unwrap();
    assert_eq!(j.header, support::header());
    assert_eq!(j.events, events);
    assert_eq!(
        (j.corrupt_lines, j.unknown_events, j.truncated_tail),
        (0, 0, false)
    );
}

#[test]
fn a_corrupt_middle_line_is_skipped_and_counted_with_its_line_number() {
    let events = support::recording(5);
    let mut lines: Vec<String> = support::to_text(&support::header(), &events)
        .lines()
        .map(String::from)
        .collect();
    lines[3] = "{\"seq\": 3, \"at\": garbage".to_string();
    lines.insert(6, "\u{0}\u{1}binary".to_string());
    let j = parse_journal(&(lines.join("\n") + "\n")).unwrap();
    assert_eq!(j.corrupt_lines, 2);
    assert_eq!(j.events.len(), events.len() - 1);
    assert_eq!(
        j.first_corrupt.iter().map(|c| c.0).collect::<Vec<_>>(),
        vec![4, 7]
    );
    assert!(
        j.first_corrupt[0].1.contains("not JSON"),
        "{:?}",
        j.first_corrupt
    );
    assert!(!j.truncated_tail);
}

#[test]
fn a_known_type_with_wrong_fields_is_corrupt_but_an_unknown_type_is_skipped() {
    let header = serde_json::to_string(&support::header()).unwrap();
    let text = format!(
        "{header}\n\
         {{\"seq\":1,\"at\":\"2026-03-01T12:00:00Z\",\"type\":\"weight\",\"from\":\"x\"}}\n\
         {{\"seq\":2,\"at\":\"2026-03-01T12:00:00Z\",\"type\":\"hologram\",\"beam\":7}}\n\
         {{\"seq\":3,\"at\":\"2026-03-01T12:00:01Z\",\"type\":\"warning\",\"message\":\"hi\",\"extra_field_from_the_future\":1}}\n\
         [1,2,3]\n"
    );
    let j = parse_journal(&text).unwrap();
    assert_eq!(j.unknown_events, 1);
    assert_eq!(j.corrupt_lines, 2);
    assert_eq!(j.events.len(), 1, "new fields on known events are ignored");
}

#[test]
fn later_header_lines_are_markers() {
    let events = support::recording(3);
    let text = support::to_text(&support::header(), &events);
    let twice = format!("{text}{text}");
    let j = parse_journal(&twice).unwrap();
    assert_eq!(j.events.len(), 2 * events.len());
    assert_eq!(j.corrupt_lines, 0);
}

#[test]
fn a_truncated_file_keeps_every_complete_event() {
    let events = support::recording(10);
    let text = support::to_text(&support::header(), &events);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    // Cut in the middle of the last line, as a daemon killed mid-write would.
    let cut = text.len() - 40;
    std::fs::write(&path, &text.as_bytes()[..cut]).unwrap();
    let j = read_journal(&path).unwrap();
    assert!(j.truncated_tail);
    assert_eq!(j.corrupt_lines, 0);
    assert_eq!(j.events, events[..events.len() - 1]);

    // A complete last event merely missing its newline is kept.
    std::fs::write(&path, text.trim_end()).unwrap();
    let j = read_journal(&path).unwrap();
    assert!(!j.truncated_tail);
    assert_eq!(j.events, events);
}

#[test]
fn every_prefix_of_a_journal_reads_or_fails_cleanly() {
    let text = support::to_text(&support::header(), &support::recording(3));
    let header_len = text.find('\n').unwrap();
    for cut in 0..=text.len() {
        let r = parse_journal_bytes(&text.as_bytes()[..cut]);
        if cut >= header_len {
            let j = r.unwrap();
            assert_eq!(j.corrupt_lines, 0, "cut at {cut}");
        } else {
            assert!(r.is_err(), "cut at {cut}");
        }
    }
}

#[test]
fn a_newer_major_version_is_refused_clearly() {
    let text = "{\"format\":\"cutover-journal\",\"version\":\"2.0\",\"service\":\"shop\",\"started_at\":\"2026-03-01T12:00:00Z\"}\n";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.jsonl");
    std::fs::write(&path, text).unwrap();
    let err = read_journal(&path).unwrap_err();
    assert!(matches!(err, JournalError::NewerVersion { .. }));
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "{}: format version 2.0 is newer than this cutover understands (1.x)",
            path.display()
        )),
        "{msg}"
    );
    // A newer minor version is fine.
    let minor = text.replace("2.0", "1.7");
    assert!(parse_journal(&minor).is_ok());
}

#[test]
fn missing_or_garbled_headers_say_what_a_journal_looks_like() {
    let cases = [
        ("", "empty file"),
        ("\n\n", "empty file"),
        ("hello\n", "not JSON"),
        (
            "{\"format\":\"other\",\"version\":\"1.0\"}\n",
            "format is \"other\"",
        ),
        ("{\"seq\":1}\n", "no \"format\" field"),
        (
            "{\"format\":\"cutover-journal\"}\n",
            "no \"version\" string",
        ),
        (
            "{\"format\":\"cutover-journal\",\"version\":\"one\"}\n",
            "not MAJOR.MINOR",
        ),
        (
            "{\"format\":\"cutover-journal\",\"version\":\"1.0\"}\n",
            "missing field",
        ),
    ];
    for (text, expect) in cases {
        let msg = parse_journal(text).unwrap_err().to_string();
        assert!(msg.contains(expect), "{text:?} → {msg}");
        assert!(msg.starts_with("journal"), "{msg}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = parse_journal_bytes(&bytes);
    }

    #[test]
    fn arbitrary_lines_after_a_valid_header_never_panic(
        lines in proptest::collection::vec("[ -~{}\":,0-9a-z]{0,80}", 0..30)
    ) {
        let mut text = serde_json::to_string(&support::header()).unwrap();
        text.push('\n');
        text.push_str(&lines.join("\n"));
        let j = parse_journal(&text).unwrap();
        prop_assert!(j.events.len() + j.corrupt_lines + j.unknown_events <= lines.len());
    }

    #[test]
    fn mutated_journals_never_panic_and_lose_at_most_the_touched_lines(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)
    ) {
        let events = support::recording(4);
        let text = support::to_text(&support::header(), &events);
        let mut bytes = text.into_bytes();
        let header_end = bytes.iter().position(|&b| b == b'\n').unwrap();
        for (at, byte) in &edits {
            let i = header_end + 1 + at.index(bytes.len() - header_end - 1);
            bytes[i] = *byte;
        }
        let j = parse_journal_bytes(&bytes).unwrap();
        // A replaced byte can split a line in two or join two: each edit
        // costs at most two events.
        prop_assert!(j.events.len() + 2 * edits.len() >= events.len());
    }
}
