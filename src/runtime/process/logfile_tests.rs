//! Tests of `logfile.rs` on real files (no processes: `process_tests.rs`
//! has those).

use super::*;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;

fn dir() -> (tempfile::TempDir, LogDir) {
    let t = tempfile::tempdir().unwrap();
    let d = LogDir::new(t.path().join("replicas"));
    (t, d)
}

/// A file of `d` as a replica holds it: created, claimed by `pid`, and
/// open for appending (its stdout).
fn replica_file(d: &LogDir, pid: i32) -> File {
    let spawning = d.create().unwrap();
    let file = spawning.file.try_clone().unwrap();
    spawning.claim(d, pid).unwrap();
    file
}

fn lines(d: &LogDir, pid: i32, n: usize) -> Vec<String> {
    d.tail(pid, n).unwrap().expect("a log file")
}

#[test]
fn the_last_lines_come_back_oldest_first_whatever_the_file_holds() {
    let (_t, d) = dir();
    let mut f = replica_file(&d, 1);
    assert_eq!(lines(&d, 1, 5), Vec::<String>::new(), "empty");
    f.write_all(b"one\ntwo\r\nthree").unwrap();
    assert_eq!(lines(&d, 1, 5), ["one", "two", "three"], "no final newline");
    assert_eq!(lines(&d, 1, 2), ["two", "three"]);
    assert_eq!(lines(&d, 1, 0), Vec::<String>::new());
    f.write_all(b"\n\n").unwrap();
    assert_eq!(lines(&d, 1, 2), ["three", ""], "an empty line is a line");
}

#[test]
fn lines_longer_than_a_chunk_and_many_chunks_are_read_whole() {
    let (_t, d) = dir();
    let mut f = replica_file(&d, 2);
    let long = "x".repeat(CHUNK as usize * 2 + 17);
    for i in 0..3 {
        writeln!(f, "{i}{long}").unwrap();
    }
    for i in 0..20_000 {
        writeln!(f, "short {i}").unwrap();
    }
    let got = lines(&d, 2, 20_002);
    assert_eq!(got.len(), 20_002);
    assert_eq!(got[0], format!("1{long}"));
    assert_eq!(got[1], format!("2{long}"));
    assert_eq!(got[20_001], "short 19999");
}

#[test]
fn hostile_and_broken_bytes_are_shown_never_obeyed_nor_refused() {
    let (_t, d) = dir();
    let mut f = replica_file(&d, 3);
    f.write_all(b"\x1b[2Jclear\n\xff\xfeok\n").unwrap();
    let got = lines(&d, 3, 5);
    assert!(got.iter().all(|l| !crate::text::has_control(l)), "{got:?}");
    assert!(got[0].ends_with("[2Jclear"), "{got:?}");
    assert_eq!(got[1], "\u{fffd}\u{fffd}ok", "lossy, not an error");
}

#[test]
fn a_file_past_the_cap_is_cut_and_the_writer_carries_on_at_its_new_end() {
    let (_t, d) = dir();
    let d = d.limits(100, TRIM_EVERY);
    let mut f = replica_file(&d, 4);
    for i in 0..40 {
        writeln!(f, "line {i:02}").unwrap(); // 8 bytes each: 320 in all
    }
    assert!(d.trim(4).unwrap(), "past the cap");
    assert_eq!(fs::metadata(d.live(4)).unwrap().len(), 0);
    let kept = fs::read_to_string(d.rotated(4)).unwrap();
    assert!(kept.len() <= 100, "{kept:?}");
    assert!(
        kept.starts_with("line ") && kept.ends_with("line 39\n"),
        "{kept:?}"
    );
    // O_APPEND: the next write lands at 0, not at the old offset (no hole).
    writeln!(f, "after").unwrap();
    assert_eq!(fs::read(d.live(4)).unwrap(), b"after\n");
    assert!(!d.trim(4).unwrap(), "under the cap");
    assert_eq!(lines(&d, 4, 3), ["line 38", "line 39", "after"]);
    assert_eq!(lines(&d, 4, 1), ["after"], "the live file first");
}

#[test]
fn a_line_that_starts_exactly_at_the_kept_window_is_kept() {
    let (_t, d) = dir();
    // 10 lines of 10 bytes: the last 50 bytes are exactly 5 lines.
    let d = d.limits(50, TRIM_EVERY);
    let mut f = replica_file(&d, 5);
    for i in 0..10 {
        writeln!(f, "line {i:04}").unwrap();
    }
    d.trim(5).unwrap();
    assert_eq!(
        fs::read_to_string(d.rotated(5)).unwrap(),
        "line 0005\nline 0006\nline 0007\nline 0008\nline 0009\n"
    );
}

#[test]
fn files_are_private_and_a_new_process_with_an_old_pid_starts_afresh() {
    let (_t, d) = dir();
    let d = d.limits(10, TRIM_EVERY);
    let mut f = replica_file(&d, 6);
    writeln!(f, "the first process, long enough to be cut").unwrap();
    d.trim(6).unwrap();
    assert!(d.rotated(6).exists());
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(d.path()), 0o700);
    assert_eq!(mode(&d.live(6)), 0o600);
    assert_eq!(mode(&d.rotated(6)), 0o600);
    let mut again = replica_file(&d, 6);
    writeln!(again, "the second").unwrap();
    assert!(!d.rotated(6).exists(), "the old .1 went");
    assert_eq!(lines(&d, 6, 10), ["the second"]);
    d.remove(6);
    assert_eq!(d.tail(6, 10).unwrap(), None, "removed");
}

#[test]
fn a_failed_spawn_leaves_no_file_and_a_sweep_keeps_only_live_replicas() {
    let (_t, d) = dir();
    drop(d.create().unwrap());
    assert_eq!(
        fs::read_dir(d.path()).unwrap().count(),
        0,
        "unclaimed: gone"
    );
    for pid in [10, 11] {
        writeln!(replica_file(&d, pid), "x").unwrap();
        fs::write(d.rotated(pid), "old\n").unwrap();
    }
    fs::write(d.path().join("notes.txt"), "not ours").unwrap();
    d.sweep(&|pid| pid == 11);
    let mut left: Vec<String> = fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["notes.txt", "pid-11.log", "pid-11.log.1"]);
}

#[test]
fn a_temporary_directory_goes_with_its_runtime() {
    let d = LogDir::temporary();
    let path = d.path().to_path_buf();
    writeln!(replica_file(&d, 7), "x").unwrap();
    assert!(path.exists());
    drop(d);
    assert!(!path.exists());
}
