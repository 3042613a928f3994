//! The checks of one version's table (`[stable]`, `[canary]`, or a
//! service's): keys of another runtime, what runs (image, command or
//! upstreams), counts and resource limits, printable labels, the engine's
//! confinement and the environment's names. Apart from `validate.rs`
//! because a version table has more rules than any other section; the
//! first failure is reported, in the order below.

use super::super::engine_rules::hardening;
use super::super::ranges::{MAX_CPUS, MAX_REPLICAS, MIN_MEMORY, limits_ignored};
use super::super::types::{PullPolicy, RuntimeKind, VersionPlan};
use super::{Check, bad, host_port, image_reference, out_of_range, printable};

pub(super) fn version(runtime: RuntimeKind, key: &str, v: &VersionPlan) -> Check {
    foreign_keys(runtime, key, v)?;
    what_runs(runtime, key, v)?;
    counts_and_limits(runtime, key, v)?;
    if let Some(label) = &v.version {
        printable(&format!("{key}.version"), label)?;
    }
    if let Some(cmd) = &v.command {
        for (i, arg) in cmd.iter().enumerate() {
            printable(&format!("{key}.command[{i}]"), arg)?;
        }
    }
    hardening(runtime, key, v)?;
    env_names(key, v)
}

/// `pinned` (cutover's own, never a plan's) and the keys of another runtime.
fn foreign_keys(runtime: RuntimeKind, key: &str, v: &VersionPlan) -> Check {
    let rt = runtime.as_str();
    // Keys that belong to another runtime are mistakes, not decoration.
    if v.pinned.is_some() {
        return bad(
            format!("{key}.pinned"),
            "`pinned` is what cutover writes into its state after a pull, not a plan key; to run an exact image, name its digest in `image` (\"repo@sha256:…\")",
        );
    }
    let foreign: [(&str, bool, &str); 4] = [
        ("image", v.image.is_some(), "docker"),
        ("pull", v.pull != PullPolicy::Missing, "docker"),
        ("command", v.command.is_some(), "process"),
        ("upstreams", !v.upstreams.is_empty(), "static"),
    ];
    for (name, set, owner) in foreign {
        let owned = owner == rt || (owner == "docker" && runtime.runs_images());
        if set && !owned {
            return bad(
                format!("{key}.{name}"),
                format!(
                    "`{name}` is for runtime \"{owner}\" but this plan's runtime is \"{rt}\" (expected {})",
                    own_key(runtime)
                ),
            );
        }
    }
    Ok(())
}

/// What the runtime runs: an image, a command, or upstreams, well formed.
fn what_runs(runtime: RuntimeKind, key: &str, v: &VersionPlan) -> Check {
    let rt = runtime.as_str();
    match runtime {
        RuntimeKind::Docker | RuntimeKind::Swarm => match &v.image {
            None => {
                return bad(
                    format!("{key}.image"),
                    format!("runtime \"{rt}\" needs an image, e.g. image = \"shop:1.4.2\""),
                );
            }
            Some(image) => {
                if let Err(why) = image_reference(image) {
                    return bad(
                        format!("{key}.image"),
                        format!(
                            "expected a Docker image reference like \"registry:5000/team/shop:1.4.2\", found {image:?}: {why}"
                        ),
                    );
                }
            }
        },
        RuntimeKind::Process => match &v.command {
            None => {
                return bad(
                    format!("{key}.command"),
                    "runtime \"process\" needs a command, e.g. command = [\"./shop\", \"--port\", \"{port}\"]",
                );
            }
            Some(c) if c.first().is_none_or(|p| p.trim().is_empty()) => {
                return bad(
                    format!("{key}.command"),
                    "expected a program and its arguments, found an empty command",
                );
            }
            Some(_) => {}
        },
        RuntimeKind::Static => {
            if v.upstreams.is_empty() {
                return bad(
                    format!("{key}.upstreams"),
                    "runtime \"static\" needs at least one upstream, e.g. upstreams = [\"127.0.0.1:9001\"]",
                );
            }
            for (i, u) in v.upstreams.iter().enumerate() {
                if let Err(why) = host_port(u) {
                    return bad(
                        format!("{key}.upstreams[{i}]"),
                        format!(
                            "expected \"host:port\" such as \"127.0.0.1:9001\", found {u:?}: {why}"
                        ),
                    );
                }
            }
        }
    }
    Ok(())
}

/// Replicas and port in range; resource limits only where the runtime
/// honours them, and then in range.
fn counts_and_limits(runtime: RuntimeKind, key: &str, v: &VersionPlan) -> Check {
    if v.replicas == 0 || v.replicas > MAX_REPLICAS {
        return out_of_range(format!("{key}.replicas"), v.replicas, "");
    }
    if v.port == 0 {
        return out_of_range(format!("{key}.port"), 0, "");
    }
    // Limits a runtime would silently drop are refused, not decoration.
    if !runtime.honours_limits() {
        for (name, set) in [("cpus", v.cpus.is_some()), ("memory", v.memory.is_some())] {
            if set {
                return bad(
                    format!("{key}.{name}"),
                    format!("{} (remove the key)", limits_ignored(runtime)),
                );
            }
        }
    }
    if let Some(cpus) = v.cpus
        && !cpu_count_ok(cpus)
    {
        return out_of_range(format!("{key}.cpus"), cpus, "");
    }
    if let Some(m) = v.memory
        && m.0 < MIN_MEMORY
    {
        return out_of_range(format!("{key}.memory"), m, "");
    }
    Ok(())
}

/// Environment variable names a process can be given.
fn env_names(key: &str, v: &VersionPlan) -> Check {
    for name in v.env.keys() {
        if name.is_empty() || name.contains('=') || name.contains('\0') {
            return bad(
                format!("{key}.env"),
                format!("expected environment variable names without '=' or NUL, found {name:?}"),
            );
        }
    }
    Ok(())
}

/// A CPU limit cutover accepts (in a plan and in a resize).
pub fn cpu_count_ok(cpus: f64) -> bool {
    cpus.is_finite() && cpus > 0.0 && cpus <= MAX_CPUS
}

fn own_key(runtime: RuntimeKind) -> &'static str {
    match runtime {
        RuntimeKind::Docker | RuntimeKind::Swarm => "`image`",
        RuntimeKind::Process => "`command`",
        RuntimeKind::Static => "`upstreams`",
    }
}
