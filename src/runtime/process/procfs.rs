//! What `/proc` says about processes: whether one still runs (and is
//! still the one that was started), its CPU ticks, and which processes of
//! this user carry a service's identity in their environment (for a
//! restarted daemon to adopt, or to report as another instance's). Apart
//! from `process.rs` because it is Linux's process table read as text.

use super::super::{Claim, Instance, Replica, RuntimeError};
use crate::model::Role;
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::time::Duration;

/// The pid a replica id names (`pid:N`).
pub(super) fn pid_of(id: &str) -> Option<i32> {
    id.strip_prefix("pid:")?.parse().ok()
}

/// The fields of `/proc/PID/stat` after the command name (state first).
pub(super) fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(
        stat.rsplit(')')
            .next()?
            .split_whitespace()
            .map(str::to_string)
            .collect(),
    )
}

/// When the process started (clock ticks since boot): tells a pid from a
/// later process that reused it.
pub(super) fn start_time(pid: i32) -> Option<u64> {
    stat_fields(pid)?.get(19)?.parse().ok()
}

/// Returns once `pid` is gone: SIGKILL is delivered, not instantaneous, and
/// a process still in /proc would be adopted again by the next `list`.
pub(super) async fn wait_gone(replica: &Replica, pid: i32) -> Result<(), RuntimeError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while alive(pid) {
        if tokio::time::Instant::now() >= deadline {
            return Err(RuntimeError::Other(format!(
                "{} still runs 5 s after SIGKILL",
                replica.id
            )));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// Whether `pid` runs (a zombie does not).
pub(super) fn alive(pid: i32) -> bool {
    // Signal 0 probes existence; a zombie counts as gone.
    nix::sys::signal::kill(Pid::from_raw(pid), None).is_ok()
        && stat_fields(pid).is_some_and(|f| f.first().is_some_and(|s| s != "Z"))
}

/// Whether `pid` is still the process that started at `started`.
pub(super) fn alive_since(pid: i32, started: Option<u64>) -> bool {
    alive(pid) && (started.is_none() || start_time(pid) == started)
}

/// The environment variables that carry an instance, by label.
pub(super) const INSTANCE_ENV: [(&str, &str); 3] = [
    (super::super::instance::LABEL_INSTANCE, "CUTOVER_INSTANCE"),
    (super::super::instance::LABEL_ADMIN, "CUTOVER_ADMIN"),
    (super::super::instance::LABEL_STATE, "CUTOVER_STATE"),
];

/// What /proc holds of `service`: our adoptable children (after a daemon
/// restart), and other instances' children by instance. Only processes of
/// our own user count. Reads every process's environment: blocking work,
/// run off the async threads.
pub(super) fn scan_proc(service: &str, me: Option<&Instance>) -> (Vec<(Replica, i32)>, Vec<Claim>) {
    use std::os::unix::fs::MetadataExt;
    let mut others: Vec<Claim> = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return (Vec::new(), others);
    };
    let uid = nix::unistd::geteuid().as_raw();
    let mut out = Vec::new();
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        // Another user's process is never ours, whatever it claims.
        if e.metadata().map_or(true, |m| m.uid() != uid) {
            continue;
        }
        let Ok(env) = std::fs::read(e.path().join("environ")) else {
            continue;
        };
        let vars: BTreeMap<String, String> = env
            .split(|b| *b == 0)
            .filter_map(|kv| std::str::from_utf8(kv).ok())
            .filter_map(|kv| kv.split_once('='))
            .filter(|(k, _)| k.starts_with("CUTOVER_"))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if vars.get("CUTOVER_SERVICE").map(String::as_str) != Some(service) {
            continue;
        }
        // Only the group leader (the process we started), not its children.
        let leader = stat_fields(pid).and_then(|f| f.get(2).and_then(|g| g.parse::<i32>().ok()))
            == Some(pid);
        if !leader || !alive(pid) {
            continue;
        }
        let role = match vars.get("CUTOVER_ROLE").map(String::as_str) {
            Some("canary") => Role::Canary,
            Some("stable") => Role::Stable,
            _ => continue,
        };
        let Some(addr) = vars.get("CUTOVER_ADDR") else {
            continue;
        };
        let label = |k: &str| {
            INSTANCE_ENV
                .iter()
                .find(|(l, _)| *l == k)
                .and_then(|(_, var)| vars.get(*var))
                .map(String::as_str)
        };
        if let Some(other) = Instance::other_than(label, me) {
            Claim::add(&mut others, other, format!("pid:{pid}"));
            continue;
        }
        out.push((
            Replica {
                id: format!("pid:{pid}"),
                role,
                release: vars
                    .get("CUTOVER_RELEASE")
                    .and_then(|r| r.parse().ok())
                    .unwrap_or(0),
                version: crate::text::clean_owned(
                    vars.get("CUTOVER_VERSION").cloned().unwrap_or_default(),
                ),
                addr: addr.clone(),
            },
            pid,
        ));
    }
    (out, others)
}
