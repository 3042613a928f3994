//! Checks serde cannot express: ranges, monotone steps, runtime-specific
//! keys, address and image grammars, contradictions between sections.
//!
//! Each failure names the key path it is about (`steps[2].weight`) and says
//! what was expected; `parse` turns the path back into a line and column.
//! The first failure is reported: fixing one thing at a time with an exact
//! pointer beats a wall of consequential errors.
//!
//! The checks of one version's table (`[stable]`, `[canary]`) are in
//! `validate/version.rs`; the rest, section by section, here.

use super::ranges::{
    MAX_DRAIN, MAX_ERROR_RATIO, MAX_EVIDENCE_TIMEOUT, MAX_HEALTH_COUNT, MAX_MIN_REQUESTS,
    MAX_P99_RATIO, MAX_REPLICAS, MAX_STEPS, MAX_TRIP_AFTER, MAX_WARMUP_REQUESTS, MAX_WINDOW,
    MIN_EVIDENCE_TIMEOUT, MIN_WINDOW,
};
use super::types::{GuardPlan, Plan, RuntimeKind, Sticky};
use super::units::HumanDuration;

use super::engine_rules::swarm;

mod version;
pub(super) use super::grammar::host_port;
pub use super::grammar::image_reference;
pub use version::cpu_count_ok;
use version::version;

/// One validation failure, before it is located in the text.
#[derive(Debug)]
pub(super) struct Bad {
    pub key: String,
    pub message: String,
}

pub(super) type Check = Result<(), Bad>;

pub(super) fn bad(key: impl Into<String>, message: impl Into<String>) -> Check {
    Err(Bad {
        key: key.into(),
        message: message.into(),
    })
}

/// `key` is outside its range: the message states the range as
/// [`super::ranges::RANGES`] (and docs/PLAN.md) say it, then `why`.
pub(super) fn out_of_range(
    key: impl Into<String>,
    found: impl std::fmt::Display,
    why: &str,
) -> Check {
    let key = key.into();
    debug_assert!(
        super::ranges::range_of(&key).is_some(),
        "{key} has no entry in plan::ranges::RANGES"
    );
    let message = super::ranges::expected(&key, &found).unwrap_or_else(|| format!("found {found}"));
    bad(key, format!("{message}{why}"))
}

/// Validate a parsed plan. `present(path)` says whether a key is written in
/// the file (to tell `hooks.post_promote = []` from an absent key);
/// `allow_remote_admin` is the daemon's `--allow-remote-admin` flag, which
/// permits a non-loopback `listen.admin` like the plan key does.
pub(super) fn validate(
    plan: &Plan,
    present: &dyn Fn(&str) -> bool,
    allow_remote_admin: bool,
) -> Check {
    service(&plan.service)?;
    listen(plan, allow_remote_admin)?;
    version(plan.runtime, "stable", &plan.stable)?;
    if let Some(c) = &plan.canary {
        version(plan.runtime, "canary", c)?;
    }
    health(plan)?;
    if let Some(w) = &plan.warmup {
        http_path("warmup.path", &w.path)?;
        if w.requests > MAX_WARMUP_REQUESTS {
            return out_of_range("warmup.requests", w.requests, "");
        }
        if let Some(max) = w.max_failures
            && max > w.requests
        {
            return out_of_range("warmup.max_failures", max, "");
        }
    }
    guard(plan)?;
    steps(plan)?;
    swarm(plan)?;
    super::autoscale::check(plan)?;
    for (key, d) in [
        ("drain.timeout", plan.drain.timeout),
        ("drain.stop_grace", plan.drain.stop_grace),
    ] {
        if d.get() > MAX_DRAIN {
            return out_of_range(key, d, "");
        }
    }
    for (i, f) in plan.freeze.iter().enumerate() {
        if f.from >= f.until {
            return bad(
                format!("freeze[{i}].until"),
                format!(
                    "expected a time after `from` ({}), found {}",
                    f.from.to_rfc3339(),
                    f.until.to_rfc3339()
                ),
            );
        }
    }
    for (i, f) in plan.freeze.iter().enumerate() {
        if let Some(r) = &f.reason {
            printable(&format!("freeze[{i}].reason"), r)?;
        }
    }
    for (key, hook) in [
        ("hooks.post_promote", &plan.hooks.post_promote),
        ("hooks.post_rollback", &plan.hooks.post_rollback),
    ] {
        for (i, arg) in hook.iter().enumerate() {
            printable(&format!("{key}[{i}]"), arg)?;
        }
        if hook.is_empty() && present(key) {
            return bad(
                key,
                "expected a command and its arguments, e.g. [\"./notify.sh\", \"promoted\"], found an empty list (remove the key for no hook)",
            );
        }
        if hook.first().is_some_and(|c| c.trim().is_empty()) {
            return bad(
                format!("{key}[0]"),
                "expected a program to run, found an empty string",
            );
        }
    }
    proxy(plan)?;
    deploy(plan)?;
    pass_env(plan)
}

/// Text the cockpit shows (labels, commands, reasons) holds no control
/// characters: a plan is not a way to put escape sequences on a terminal.
fn printable(key: &str, s: &str) -> Check {
    if crate::text::has_control(s) {
        return bad(
            key,
            format!(
                "expected text without control characters, found {:?}",
                crate::text::clean(s)
            ),
        );
    }
    Ok(())
}

fn deploy(plan: &Plan) -> Check {
    let d = &plan.deploy;
    let rt = plan.runtime.as_str();
    let version = super::types::DeployPlan::VERSION;
    if let Some(cmd) = &d.command {
        if plan.runtime != RuntimeKind::Process {
            return bad(
                "deploy.command",
                format!(
                    "`deploy.command` is for runtime \"process\" but this plan's runtime is \"{rt}\""
                ),
            );
        }
        if cmd.first().is_none_or(|p| p.trim().is_empty()) {
            return bad(
                "deploy.command",
                "expected a program and its arguments, found an empty command",
            );
        }
        for (i, arg) in cmd.iter().enumerate() {
            printable(&format!("deploy.command[{i}]"), arg)?;
        }
        if !cmd.iter().any(|a| a.contains(version)) {
            return bad(
                "deploy.command",
                format!(
                    "expected `{version}` in the command (what `cutover deploy --canary VERSION` fills in), e.g. [\"./releases/{version}/shop\", \"--port\", \"{{port}}\"]"
                ),
            );
        }
    }
    if let Some(image) = &d.image {
        if !plan.runtime.runs_images() {
            return bad(
                "deploy.image",
                format!(
                    "`deploy.image` is for runtimes \"docker\" and \"swarm\" but this plan's runtime is \"{rt}\""
                ),
            );
        }
        let ok = image
            .strip_suffix(&format!(":{version}"))
            .is_some_and(|repo| !repo.contains(version) && image_reference(repo).is_ok());
        if !ok {
            return bad(
                "deploy.image",
                format!(
                    "expected an image reference whose tag is `{version}`, e.g. \"registry.example.com/shop:{version}\", found {image:?}"
                ),
            );
        }
    }
    Ok(())
}

fn pass_env(plan: &Plan) -> Check {
    for (i, name) in plan.pass_env.iter().enumerate() {
        let ok = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return bad(
                format!("pass_env[{i}]"),
                format!(
                    "expected an environment variable name (letters, digits and '_', not starting with a digit), found {name:?}"
                ),
            );
        }
    }
    Ok(())
}

fn service(name: &str) -> Check {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if name.is_empty() || name.len() > 63 || !ok_chars || name.starts_with('.') {
        return bad(
            "service",
            format!(
                "expected a service name of 1 to 63 letters, digits, '-', '_' or '.' (not starting with '.'), found {name:?}"
            ),
        );
    }
    Ok(())
}

fn listen(plan: &Plan, allow_remote_admin: bool) -> Check {
    let l = &plan.listen;
    if l.public == l.admin && l.public.port() != 0 {
        return bad(
            "listen.admin",
            format!(
                "expected an address different from listen.public, found the same {}",
                l.admin
            ),
        );
    }
    if !l.admin.ip().is_loopback() && !l.allow_remote_admin && !allow_remote_admin {
        return bad(
            "listen.admin",
            format!(
                "expected a loopback address such as 127.0.0.1:7900, found {} (the admin API controls releases; set `allow_remote_admin = true` in [listen] to expose it)",
                l.admin
            ),
        );
    }
    Ok(())
}

fn health(plan: &Plan) -> Check {
    let h = &plan.health;
    http_path("health.path", &h.path)?;
    for (key, n, max) in [
        ("health.healthy_after", h.healthy_after, MAX_HEALTH_COUNT),
        (
            "health.unhealthy_after",
            h.unhealthy_after,
            MAX_HEALTH_COUNT,
        ),
        ("health.min_healthy", h.min_healthy, MAX_REPLICAS),
    ] {
        if n == 0 || n > max {
            return out_of_range(key, n, "");
        }
    }
    positive("health.interval", h.interval)?;
    positive("health.timeout", h.timeout)?;
    positive("health.start_timeout", h.start_timeout)?;
    if h.timeout > h.interval {
        return out_of_range(
            "health.timeout",
            h.timeout,
            &format!(
                " while health.interval is {} (a check may not outlast the interval between checks)",
                h.interval
            ),
        );
    }
    if let Some(c) = &plan.canary
        && h.min_healthy > c.replicas
    {
        return out_of_range(
            "health.min_healthy",
            h.min_healthy,
            &format!(
                " while canary.replicas is {} (the canary could never get traffic)",
                c.replicas
            ),
        );
    }
    Ok(())
}

fn guard(plan: &Plan) -> Check {
    guard_plan(&plan.guard)
}

/// What round 1's `max_errors` became, said wherever it is still written.
pub const MAX_ERRORS_REPLACED: &str = "max_errors was removed in round 2: a count of errors with no denominator rolls back any healthy canary with a baseline error rate. The error guard now compares the canary with stable (max_error_ratio, judged at confidence); for a hard budget of client requests that may get a canary failure use max_failed_requests; the request-path trip is trip_after (failures in a row)";

/// The `[guard]` rules, also used for thresholds edited on a running release.
pub(super) fn guard_plan(g: &GuardPlan) -> Check {
    if g.max_errors.is_some() {
        return bad("guard.max_errors", MAX_ERRORS_REPLACED);
    }
    if !(g.confidence.is_finite() && (0.5..=0.999_999).contains(&g.confidence)) {
        return out_of_range("guard.confidence", g.confidence, "");
    }
    if let Some(r) = g.max_error_ratio
        && !(r.is_finite() && (1.0..=MAX_ERROR_RATIO).contains(&r))
    {
        return out_of_range("guard.max_error_ratio", r, "");
    }
    if let Some(r) = g.max_error_rate
        && !(r.is_finite() && (0.0..1.0).contains(&r))
    {
        return out_of_range("guard.max_error_rate", r, "");
    }
    if g.window.get() < MIN_WINDOW || g.window.get() > MAX_WINDOW {
        return out_of_range("guard.window", g.window, "");
    }
    if !(1..=MAX_MIN_REQUESTS).contains(&g.min_requests) {
        return out_of_range(
            "guard.min_requests",
            g.min_requests,
            " (with no traffic a guard must not judge)",
        );
    }
    if let Some(p) = g.max_p99
        && p.get().is_zero()
    {
        return out_of_range("guard.max_p99", p, "");
    }
    if let Some(r) = g.max_p99_ratio
        && !(r.is_finite() && (1.0..=MAX_P99_RATIO).contains(&r))
    {
        return out_of_range("guard.max_p99_ratio", r, "");
    }
    if let Some(n) = g.trip_after
        && !(2..=MAX_TRIP_AFTER).contains(&n)
    {
        return out_of_range("guard.trip_after", n, " (one failure is no pattern)");
    }
    if g.max_failed_requests == Some(0) {
        return out_of_range(
            "guard.max_failed_requests",
            0,
            " (0 would breach before any failure)",
        );
    }
    let wait = g.evidence_timeout.get();
    if !(MIN_EVIDENCE_TIMEOUT..=MAX_EVIDENCE_TIMEOUT).contains(&wait) {
        return out_of_range("guard.evidence_timeout", g.evidence_timeout, "");
    }
    Ok(())
}

fn steps(plan: &Plan) -> Check {
    if plan.steps.len() > MAX_STEPS {
        return bad(
            format!("steps[{MAX_STEPS}]"),
            format!(
                "expected at most {MAX_STEPS} steps, found {}",
                plan.steps.len()
            ),
        );
    }
    let mut last = 0.0;
    for (i, step) in plan.steps.iter().enumerate() {
        let w = step.weight;
        if !(w.is_finite() && (0.0..=100.0).contains(&w)) {
            return out_of_range(format!("steps[{i}].weight"), w, "");
        }
        if w < last {
            return out_of_range(
                format!("steps[{i}].weight"),
                w,
                &format!(" after a step at {last}"),
            );
        }
        last = w;
    }
    Ok(())
}

fn proxy(plan: &Plan) -> Check {
    let p = &plan.proxy;
    positive("proxy.upstream_timeout", p.upstream_timeout)?;
    positive("proxy.connect_timeout", p.connect_timeout)?;
    positive("proxy.header_timeout", p.header_timeout)?;
    positive("proxy.client_body_timeout", p.client_body_timeout)?;
    let head = p.max_head_size.0;
    if !(MIN_HEAD..=MAX_HEAD).contains(&head) {
        return out_of_range("proxy.max_head_size", p.max_head_size, "");
    }
    if p.max_connections == Some(0) {
        return out_of_range(
            "proxy.max_connections",
            0,
            " (leave the key out for a limit derived from the open-file limit)",
        );
    }
    if let Some(preview) = &p.preview {
        self::preview(preview)?;
    }
    let (key, name) = match &p.sticky {
        Some(Sticky::Cookie(n)) => ("proxy.sticky.cookie", n),
        Some(Sticky::Header(n)) => ("proxy.sticky.header", n),
        None => return Ok(()),
    };
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        return bad(
            key,
            format!(
                "expected a cookie or header name (letters, digits, '-', '_' …), found {name:?}"
            ),
        );
    }
    Ok(())
}

/// `[proxy.preview]`: someone must be allowed, by network or secret; the
/// networks parse; the secret is long enough not to be guessed; aliases
/// name one of the two versions.
fn preview(p: &crate::plan::PreviewPlan) -> Check {
    if p.allow.is_empty() && p.secret.is_none() {
        return bad(
            "proxy.preview",
            "expected `allow` (client networks) or `secret`, found neither: nobody could choose a version".to_string(),
        );
    }
    for net in &p.allow {
        if crate::proxy::preview::parse_net(net).is_none() {
            return bad(
                "proxy.preview.allow",
                format!(
                    "expected networks like \"10.1.0.0/16\" or addresses like \"127.0.0.1\", found {net:?}"
                ),
            );
        }
    }
    if let Some(s) = &p.secret
        && s.chars().count() < 16
    {
        return bad(
            "proxy.preview.secret",
            format!(
                "expected at least 16 characters, found {}",
                s.chars().count()
            ),
        );
    }
    for (name, to) in &p.aliases {
        if !matches!(to.as_str(), "stable" | "canary") {
            return bad(
                format!("proxy.preview.aliases.{name}"),
                format!("expected \"stable\" or \"canary\", found {to:?}"),
            );
        }
    }
    Ok(())
}

/// Bounds of `proxy.max_head_size`: below 1 KiB ordinary browsers' cookies
/// do not fit; above 256 KiB hyper's own read buffer (about 400 KB) would
/// refuse first, and nothing legitimate sends such heads.
const MIN_HEAD: u64 = 1024;
const MAX_HEAD: u64 = 256 * 1024;

fn positive(key: &str, d: HumanDuration) -> Check {
    if d.get().is_zero() {
        return out_of_range(key, d, "");
    }
    Ok(())
}

fn http_path(key: &str, path: &str) -> Check {
    if !path.starts_with('/') || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad(
            key,
            format!("expected an HTTP path starting with '/' and without spaces, found {path:?}"),
        );
    }
    Ok(())
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
