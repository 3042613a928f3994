//! The state file: atomic writes with the previous copy kept, and loads that
//! survive a torn or garbage `state.json` loudly.

use crate::support::controller as support;

use cutover::controller::persist::{self, OwnedReplica, PREV_FILE, PersistedState, STATE_FILE};
use cutover::model::{Phase, Role};
use std::fs;
use support::*;

fn state_in(phase: Phase) -> PersistedState {
    let m = machine_in(plan(), phase);
    PersistedState::new(
        "shop",
        m.state().clone(),
        vec![OwnedReplica {
            id: "pid:42".into(),
            role: Role::Canary,
            release: 1,
            version: "v2".into(),
            addr: "127.0.0.1:4242".into(),
            serving: false,
        }],
        t0(),
    )
}

#[test]
fn round_trip_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = persist::load(dir.path(), "shop");
    assert!(loaded.state.is_none(), "first start is fresh");
    assert!(
        loaded.warnings.is_empty(),
        "first start is not a warning: {:?}",
        loaded.warnings
    );

    let s = state_in(Phase::Paused);
    persist::save(dir.path(), &s).unwrap();
    let loaded = persist::load(dir.path(), "shop");
    assert!(loaded.warnings.is_empty());
    assert_eq!(loaded.state.as_ref(), Some(&s));
    assert_eq!(s.release.phase, Phase::Paused);
    assert_eq!(s.release.weight_permille, 100);
    // No temp files left behind.
    let mut names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, vec![STATE_FILE.to_string()]);

    // The second save keeps the first as the previous copy.
    let s2 = state_in(Phase::Promoting);
    persist::save(dir.path(), &s2).unwrap();
    assert_eq!(persist::load(dir.path(), "shop").state, Some(s2));
    let prev: PersistedState =
        serde_json::from_slice(&fs::read(dir.path().join(PREV_FILE)).unwrap()).unwrap();
    assert_eq!(prev, s);
}

#[test]
fn a_replica_saved_before_the_serving_flag_reads_as_serving() {
    let s = state_in(Phase::Canary);
    let mut json = serde_json::to_value(&s).unwrap();
    json["replicas"][0]
        .as_object_mut()
        .unwrap()
        .remove("serving")
        .expect("written");
    let read: PersistedState = serde_json::from_value(json).unwrap();
    assert!(read.replicas[0].serving, "as a restart took it then");
}

#[test]
fn torn_file_falls_back_to_previous_copy() {
    let dir = tempfile::tempdir().unwrap();
    let first = state_in(Phase::Canary);
    let second = state_in(Phase::Paused);
    persist::save(dir.path(), &first).unwrap();
    persist::save(dir.path(), &second).unwrap();

    // Tear state.json: keep only its first half.
    let path = dir.path().join(STATE_FILE);
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();

    let loaded = persist::load(dir.path(), "shop");
    assert_eq!(
        loaded.state,
        Some(first.clone()),
        "falls back to the previous copy"
    );
    assert_eq!(loaded.warnings.len(), 1);
    let w = &loaded.warnings[0];
    assert!(
        w.contains("torn or corrupt") && w.contains(PREV_FILE),
        "{w}"
    );

    // Saving after the fallback must not rotate the torn file into .prev.
    let third = state_in(Phase::Promoting);
    persist::save(dir.path(), &third).unwrap();
    let prev: PersistedState =
        serde_json::from_slice(&fs::read(dir.path().join(PREV_FILE)).unwrap()).unwrap();
    assert_eq!(prev, first, "the good previous copy survives");
    assert_eq!(persist::load(dir.path(), "shop").state, Some(third));
}

#[test]
fn missing_current_file_falls_back_too() {
    let dir = tempfile::tempdir().unwrap();
    persist::save(dir.path(), &state_in(Phase::Canary)).unwrap();
    persist::save(dir.path(), &state_in(Phase::Paused)).unwrap();
    fs::remove_file(dir.path().join(STATE_FILE)).unwrap();
    let loaded = persist::load(dir.path(), "shop");
    assert_eq!(loaded.state.unwrap().release.phase, Phase::Canary);
    assert!(
        loaded.warnings[0].contains("is missing"),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn garbage_in_both_starts_fresh_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(STATE_FILE), b"\x00\x01 not json").unwrap();
    fs::write(dir.path().join(PREV_FILE), b"{\"format\": 1, \"service\"").unwrap();
    let loaded = persist::load(dir.path(), "shop");
    assert!(loaded.state.is_none());
    assert_eq!(loaded.warnings.len(), 1);
    assert!(
        loaded.warnings[0].contains("starting fresh"),
        "{:?}",
        loaded.warnings
    );

    // And the next save works over the garbage.
    let s = state_in(Phase::Idle);
    persist::save(dir.path(), &s).unwrap();
    assert_eq!(persist::load(dir.path(), "shop").state, Some(s));
}

#[test]
fn another_services_state_is_not_adopted() {
    let dir = tempfile::tempdir().unwrap();
    persist::save(dir.path(), &state_in(Phase::Canary)).unwrap();
    let loaded = persist::load(dir.path(), "other");
    assert!(loaded.state.is_none());
    assert!(
        loaded.warnings[0].contains("not \"other\""),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn unwritable_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let err = persist::save(&missing, &state_in(Phase::Idle)).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("state directory exists and is writable"),
        "{msg}"
    );
}
