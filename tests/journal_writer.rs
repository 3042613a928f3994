//! The journal writer: what it writes reads back, a restarted daemon
//! continues the same file, a torn tail stays one corrupt line, a headerless
//! file is moved aside (never deleted), and the controller's `EventSink`
//! seam journals through a `SharedJournal`.

use crate::support::journal as support;

use cutover::controller::seams::EventSink;
use cutover::journal::{JournalWriter, SharedJournal, read_journal};

#[test]
fn written_events_read_back_and_parent_dirs_are_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/journal.jsonl");
    let events = support::recording(5);
    let mut w = JournalWriter::create(&path, &support::header()).unwrap();
    for e in &events {
        w.write(e).unwrap();
    }
    w.close().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.ends_with('\n'));
    assert_eq!(text.lines().count(), events.len() + 1);
    let j = read_journal(&path).unwrap();
    assert_eq!(j.header, support::header());
    assert_eq!(j.events, events);
}

#[test]
fn drop_flushes_what_was_buffered() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let events = support::recording(2);
    {
        let mut w = JournalWriter::create(&path, &support::header()).unwrap();
        for e in &events {
            w.write(e).unwrap();
        }
    }
    assert_eq!(read_journal(&path).unwrap().events, events);
}

#[test]
fn the_header_is_on_disk_as_soon_as_the_journal_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let _w = JournalWriter::create(&path, &support::header()).unwrap();
    let j = read_journal(&path).unwrap();
    assert_eq!(j.events.len(), 0);
}

#[test]
fn a_restarted_daemon_continues_the_journal_without_a_second_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let events = support::recording(4);
    let (first, second) = events.split_at(events.len() / 2);
    let mut w = JournalWriter::create(&path, &support::header()).unwrap();
    first.iter().for_each(|e| w.write(e).unwrap());
    w.close().unwrap();
    let mut later_header = support::header();
    later_header.started_at += chrono::Duration::minutes(5);
    let mut w = JournalWriter::create(&path, &later_header).unwrap();
    second.iter().for_each(|e| w.write(e).unwrap());
    w.close().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.matches("cutover-journal").count(), 1);
    let j = read_journal(&path).unwrap();
    assert_eq!(j.header, support::header(), "the first run's header stays");
    assert_eq!(j.events, events);
}

#[test]
fn a_torn_tail_from_a_crash_stays_one_corrupt_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let events = support::recording(3);
    let mut w = JournalWriter::create(&path, &support::header()).unwrap();
    events.iter().for_each(|e| w.write(e).unwrap());
    w.close().unwrap();
    // Kill -9 mid-line: chop the last line in half.
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, &text[..text.len() - 30]).unwrap();
    let mut w = JournalWriter::create(&path, &support::header()).unwrap();
    w.write(&events[0]).unwrap();
    w.close().unwrap();
    let j = read_journal(&path).unwrap();
    assert_eq!(j.corrupt_lines, 1);
    assert!(!j.truncated_tail);
    assert_eq!(j.events.len(), events.len());
    assert_eq!(j.events.last(), Some(&events[0]));
}

#[test]
fn a_file_without_a_header_is_moved_aside_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    std::fs::write(&path, "not a journal\n").unwrap();
    let mut w = JournalWriter::create(&path, &support::header()).unwrap();
    w.write(&support::recording(1)[0]).unwrap();
    w.close().unwrap();
    assert_eq!(read_journal(&path).unwrap().events.len(), 1);
    let aside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("journal.jsonl.unreadable-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join(&aside[0])).unwrap(),
        "not a journal\n"
    );
}

#[test]
fn shared_journal_records_from_many_threads_as_whole_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let journal = SharedJournal::create(&path, &support::header()).unwrap();
    let events = support::recording(5);
    std::thread::scope(|s| {
        for _ in 0..4 {
            let sink: &dyn EventSink = &journal;
            let events = &events;
            s.spawn(move || events.iter().for_each(|e| sink.record(e)));
        }
    });
    journal.close().unwrap();
    // Recording after close is dropped quietly.
    journal.record(&events[0]);
    let j = read_journal(&path).unwrap();
    assert_eq!(j.corrupt_lines, 0);
    assert_eq!(j.events.len(), 4 * events.len());
}

#[test]
fn shared_journal_flushes_by_itself_within_about_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let journal = SharedJournal::create(&path, &support::header()).unwrap();
    let event = support::recording(1).remove(0);
    journal.record(&event);
    // Poll until the flusher thread has written it (no further records).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if read_journal(&path).unwrap().events.len() == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never flushed");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
