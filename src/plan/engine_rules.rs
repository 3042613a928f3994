//! The plan's rules for the container runtimes' own keys: Docker's
//! hardening (capabilities, read-only root, tmpfs, pids) and Swarm's
//! placement. Kept apart from `validate.rs` because they are long tables of
//! what the engines accept, not rules about releases.

use super::ranges::{MAX_PIDS_LIMIT, MAX_REPLICAS, MIN_PIDS_LIMIT};
use super::types::{Plan, RuntimeKind, VersionPlan};
use super::validate::{Check, bad, out_of_range};

/// The Linux capabilities Docker knows (`capabilities(7)`), without `CAP_`.
const CAPABILITIES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// The docker-only hardening keys of one version.
pub(super) fn hardening(runtime: RuntimeKind, key: &str, v: &VersionPlan) -> Check {
    if runtime == RuntimeKind::Swarm {
        // What a Swarm service cannot carry is refused, not dropped.
        let unsupported = [
            (
                "no_new_privileges",
                v.no_new_privileges == Some(true),
                "Swarm services cannot set no-new-privileges (the service API has no such option); remove the key",
            ),
            (
                "tmpfs",
                !v.tmpfs.is_empty(),
                "Swarm's tmpfs mounts cannot be noexec,nosuid,nodev as cutover's are; remove the key",
            ),
        ];
        if let Some((name, _, why)) = unsupported.iter().find(|(_, on, _)| *on) {
            return bad(format!("{key}.{name}"), format!("runtime \"swarm\": {why}"));
        }
    } else if runtime != RuntimeKind::Docker {
        let set = [
            ("cap_drop", !v.cap_drop.is_empty()),
            ("cap_add", !v.cap_add.is_empty()),
            ("read_only", v.read_only),
            ("tmpfs", !v.tmpfs.is_empty()),
            ("pids_limit", v.pids_limit.is_some()),
            ("no_new_privileges", v.no_new_privileges.is_some()),
        ];
        if let Some((name, _)) = set.iter().find(|(_, on)| *on) {
            return bad(
                format!("{key}.{name}"),
                format!(
                    "`{name}` is for runtime \"docker\" (it hardens containers) but this plan's runtime is \"{}\"",
                    runtime.as_str()
                ),
            );
        }
        return Ok(());
    }
    for (list, caps) in [("cap_drop", &v.cap_drop), ("cap_add", &v.cap_add)] {
        for (i, cap) in caps.iter().enumerate() {
            let name = cap.to_ascii_uppercase();
            let name = name.strip_prefix("CAP_").unwrap_or(&name);
            if name != "ALL" && !CAPABILITIES.contains(&name) {
                return bad(
                    format!("{key}.{list}[{i}]"),
                    format!(
                        "expected a Linux capability such as \"NET_BIND_SERVICE\" or \"ALL\" (see capabilities(7)), found {cap:?}"
                    ),
                );
            }
        }
    }
    for (i, path) in v.tmpfs.iter().enumerate() {
        let ok = path.starts_with('/')
            && path != "/"
            && !path
                .chars()
                .any(|c| c == ':' || c == ',' || c.is_whitespace() || c.is_control())
            && !path.split('/').any(|part| part == "..");
        if !ok {
            return bad(
                format!("{key}.tmpfs[{i}]"),
                format!(
                    "expected an absolute path inside the container such as \"/tmp\" (no ':', ',', spaces or '..'), found {path:?}"
                ),
            );
        }
    }
    if let Some(n) = v.pids_limit
        && !(MIN_PIDS_LIMIT..=MAX_PIDS_LIMIT).contains(&n)
    {
        return out_of_range(format!("{key}.pids_limit"), n, "");
    }
    Ok(())
}

/// `[swarm]`: only for runtime swarm; constraints in Swarm's own form.
pub(super) fn swarm(plan: &Plan) -> Check {
    let s = &plan.swarm;
    if plan.runtime != RuntimeKind::Swarm {
        let set = [
            ("placement", !s.placement.is_empty()),
            ("max_replicas_per_node", s.max_replicas_per_node.is_some()),
        ];
        if let Some((name, _)) = set.iter().find(|(_, on)| *on) {
            return bad(
                format!("swarm.{name}"),
                format!(
                    "`[swarm]` is for runtime \"swarm\" but this plan's runtime is \"{}\"",
                    plan.runtime.as_str()
                ),
            );
        }
        return Ok(());
    }
    for (i, c) in s.placement.iter().enumerate() {
        if let Err(why) = placement_constraint(c) {
            return bad(
                format!("swarm.placement[{i}]"),
                format!(
                    "expected a Swarm placement constraint such as \"node.role == worker\" or \"node.labels.zone != b\", found {c:?}: {why}"
                ),
            );
        }
    }
    if let Some(n) = s.max_replicas_per_node
        && (n == 0 || n > MAX_REPLICAS)
    {
        return out_of_range("swarm.max_replicas_per_node", n, "");
    }
    Ok(())
}

/// The attributes a Swarm constraint may test (`docker service create
/// --constraint`); labels take any name after their prefix.
const CONSTRAINT_KEYS: [&str; 6] = [
    "node.id",
    "node.hostname",
    "node.role",
    "node.platform.os",
    "node.platform.arch",
    "engine.labels.",
];

/// `KEY == VALUE` or `KEY != VALUE`, as Swarm parses it.
pub fn placement_constraint(c: &str) -> Result<(), String> {
    let (key, value) = match (c.split_once("=="), c.split_once("!=")) {
        (Some(kv), None) | (None, Some(kv)) => kv,
        (Some(_), Some(_)) => return Err("one operator per constraint".into()),
        (None, None) => return Err("no operator (== or !=)".into()),
    };
    let (key, value) = (key.trim(), value.trim());
    if value.is_empty() || value.contains(['=', '!']) {
        return Err("expected one value after the operator".into());
    }
    if value.chars().any(|ch| ch.is_control()) {
        return Err("control characters in the value".into());
    }
    let label = |prefix: &str| {
        key.strip_prefix(prefix)
            .is_some_and(|name| !name.is_empty() && !name.contains(char::is_whitespace))
    };
    if CONSTRAINT_KEYS[..5].contains(&key) || label("node.labels.") || label("engine.labels.") {
        Ok(())
    } else {
        Err(format!(
            "{key:?} is not a node attribute Swarm knows ({}, node.labels.NAME or engine.labels.NAME)",
            CONSTRAINT_KEYS[..5].join(", ")
        ))
    }
}
