//! The journal writer: what it writes reads back, a restarted daemon
//! continues the same file, a torn tail stays one corrupt line, a headerless
//! file is moved aside (never deleted), and the controller's `EventSink`
//! seam journals through a `SharedJournal`.

use crate::support::journal as support;

use cutover::controller::interfaces::EventSink;
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

use cutover::journal::{Rotation, journal_files, parse_journal, rotated_path};
use cutover::model::EventKind;

#[test]
fn rotated_paths_keep_the_extension_last() {
    let p = std::path::Path::new("/state/shop/journal.jsonl");
    assert_eq!(rotated_path(p, 0), p);
    assert_eq!(
        rotated_path(p, 3),
        std::path::Path::new("/state/shop/journal.3.jsonl")
    );
    assert_eq!(
        rotated_path(std::path::Path::new("rec"), 1),
        std::path::Path::new("rec.1")
    );
}

/// Size-based rotation: a bounded number of files, each of which replays on
/// its own (a header, then a snapshot first), and which concatenated oldest
/// first are exactly the newest events written, none lost or repeated.
#[test]
fn rotation_keeps_a_bounded_number_of_files_that_each_replay_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let events = support::recording(60);
    let rotation = Rotation {
        max_bytes: 4096,
        keep: 2,
    };
    let mut w = JournalWriter::create_with(&path, &support::header(), rotation).unwrap();
    let mut largest_second = 0usize;
    for pair in events.chunks(2) {
        largest_second = largest_second.max(
            pair.iter()
                .map(|e| serde_json::to_string(e).unwrap().len() + 1)
                .sum(),
        );
    }
    for e in &events {
        w.write(e).unwrap();
    }
    w.close().unwrap();

    let files = journal_files(&path);
    assert_eq!(
        files,
        vec![rotated_path(&path, 2), rotated_path(&path, 1), path.clone()]
    );
    assert!(!rotated_path(&path, 3).exists(), "only `keep` old files");
    let mut kept = Vec::new();
    for f in &files {
        let j = read_journal(f).unwrap();
        assert_eq!(j.header.service, "shop");
        assert_eq!(j.corrupt_lines, 0);
        assert!(
            matches!(j.events[0].kind, EventKind::Snapshot { .. }),
            "{} starts with a snapshot",
            f.display()
        );
        assert_eq!(j.header.started_at, j.events[0].at);
        // A file ends at the first snapshot past the limit: at most one
        // more second of events than the limit.
        let size = std::fs::metadata(f).unwrap().len() as usize;
        assert!(
            size <= 4096 + 2 * largest_second,
            "{} is {size} bytes",
            f.display()
        );
        // It replays on its own.
        let out = cutover::journal::final_state(f).unwrap();
        assert!(out.state.is_some());
        kept.extend(j.events);
    }
    assert_eq!(kept, events[events.len() - kept.len()..].to_vec());
    assert!(kept.len() < events.len(), "the oldest file was dropped");

    // Concatenated oldest first, they read as one journal.
    let text: String = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    let j = parse_journal(&text).unwrap();
    assert_eq!((j.events, j.corrupt_lines), (kept, 0));
}

#[test]
fn rotation_never_is_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let events = support::recording(30);
    let mut w = JournalWriter::create_with(&path, &support::header(), Rotation::never()).unwrap();
    events.iter().for_each(|e| w.write(e).unwrap());
    w.close().unwrap();
    assert_eq!(journal_files(&path), vec![path.clone()]);
    assert_eq!(read_journal(&path).unwrap().events, events);
}

/// A daemon closing its journal writes its final state as the last snapshot,
/// numbered after the last event.
#[test]
fn the_final_snapshot_closes_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let journal = SharedJournal::create(&path, &support::header()).unwrap();
    let events = support::recording(3);
    events.iter().for_each(|e| journal.record(e));
    let last = events.last().unwrap();
    let end = support::state(
        cutover::model::Phase::Idle,
        0,
        last.at + chrono::Duration::seconds(1),
        4242,
    );
    journal.close_with_snapshot(end.clone()).unwrap();
    let j = read_journal(&path).unwrap();
    assert_eq!(j.events.len(), events.len() + 1);
    let fin = j.events.last().unwrap();
    assert_eq!(fin.seq, events.iter().map(|e| e.seq).max().unwrap() + 1);
    assert!(fin.at >= last.at);
    assert_eq!(
        fin.kind,
        EventKind::Snapshot {
            state: Box::new(end.clone())
        }
    );
    assert_eq!(
        cutover::journal::final_state(&path).unwrap().state,
        Some(end)
    );
}

/// A real daemon (`cutover up`) rotates its journal in its state directory
/// under `CUTOVER_JOURNAL_MAX_BYTES`, keeps `CUTOVER_JOURNAL_KEEP` old files,
/// and closes the current one with its final snapshot on SIGTERM.
#[test]
fn a_daemon_rotates_its_journal() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("cutover.toml");
    std::fs::write(
        &plan,
        "service = \"rotating\"\nruntime = \"static\"\n[listen]\npublic = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n[stable]\nupstreams = [\"127.0.0.1:9\"]\nversion = \"v1\"\n",
    )
    .unwrap();
    let state = dir.path().join("state");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["up", "--plan"])
        .arg(&plan)
        .arg("--state-dir")
        .arg(&state)
        .env("CUTOVER_LOG", "warn")
        .env("CUTOVER_JOURNAL_MAX_BYTES", "3KiB")
        .env("CUTOVER_JOURNAL_KEEP", "2")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    // Killed on drop, also when the test fails half-way.
    let mut child = Kill(child);
    let pid = nix::unistd::Pid::from_raw(child.0.id() as i32);
    let journal = state.join("rotating/journal.jsonl");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    // A file that a rotation started: its header is stamped with the time
    // of the snapshot that follows it (the daemon's first file is not).
    let rotated = |f: &std::path::Path| {
        read_journal(f).is_ok_and(|j| {
            j.events
                .first()
                .is_some_and(|e| e.at == j.header.started_at)
        })
    };
    // Three rotations: `.2` exists and was itself started by a rotation.
    while !rotated(&rotated_path(&journal, 2)) {
        assert!(
            std::time::Instant::now() < deadline,
            "the journal never rotated three times"
        );
        assert!(child.0.try_wait().unwrap().is_none(), "the daemon died");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!rotated_path(&journal, 3).exists(), "only 2 old files kept");
    let files = journal_files(&journal);
    assert_eq!(files.len(), 3);
    for f in &files {
        let j = read_journal(f).unwrap();
        assert_eq!(j.header.service, "rotating");
        assert!(
            matches!(j.events[0].kind, EventKind::Snapshot { .. }),
            "{} starts with a snapshot",
            f.display()
        );
    }
    let current = read_journal(&journal).unwrap();
    assert!(
        matches!(
            current.events.last().unwrap().kind,
            EventKind::Snapshot { .. }
        ),
        "closed with the final snapshot"
    );
}
