//! Plans with several services: `[[services]]` entries, each holding every
//! key a single-service plan has plus `hosts` (and an optional
//! `path_prefix`), under one `[listen]` at the top. One daemon serves them
//! all behind one public listener, which picks the service by Host, then
//! path prefix, then the version by weight.
//!
//! ```toml
//! [listen]
//! public = "127.0.0.1:8080"
//!
//! [[services]]
//! service = "shop"
//! hosts = ["shop.example.com", "*.shop.example.com"]
//! [services.stable]
//! image = "shop:1.4.2"
//!
//! [[services]]
//! service = "api"
//! hosts = ["example.com"]
//! path_prefix = "/api"
//! [services.stable]
//! image = "api:2.0.0"
//! ```
//!
//! Each entry is checked by the single-service parser, so every key means
//! and is validated exactly as it is there, and errors point at the same
//! line of the same file: the entry is cut out line for line (the other
//! entries' lines left blank, `[services.stable]` read as `[stable]`), so
//! line numbers never move.

pub use super::hosts::HostPattern;
use super::parse::{LoadOptions, Located, PlanError, parse_with};
use super::types::Plan;
use toml_edit::ImDocument;

/// A plan's services, in the plan's order.
#[derive(Clone, Debug)]
pub struct Fleet {
    pub services: Vec<Service>,
}

/// One service of a [`Fleet`]: its own plan and where its traffic comes from.
#[derive(Clone, Debug)]
pub struct Service {
    pub plan: Plan,
    pub hosts: Vec<HostPattern>,
    /// Only requests whose path starts with this (at a `/` boundary).
    pub path_prefix: Option<String>,
}

/// Whether `text` is a plan with `[[services]]`.
pub fn is_fleet(text: &str) -> bool {
    text.lines().any(entry_start)
}

fn header(line: &str) -> Option<&str> {
    let t = line.trim_start();
    t.starts_with('[').then_some(t)
}

fn entry_start(line: &str) -> bool {
    header(line).is_some_and(|t| {
        t.strip_prefix("[[")
            .and_then(|r| r.split_once("]]"))
            .is_some_and(|(name, rest)| {
                name.trim() == "services" && {
                    let rest = rest.trim();
                    rest.is_empty() || rest.starts_with('#')
                }
            })
    })
}

/// `[services.stable]` → `[stable]`, `[[services.steps]]` → `[[steps]]`.
fn sub_table(line: &str) -> Option<String> {
    let t = header(line)?;
    let (open, rest) = if let Some(r) = t.strip_prefix("[[") {
        ("[[", r)
    } else {
        ("[", &t[1..])
    };
    let inner = rest.trim_start().strip_prefix("services.")?;
    Some(format!("{open}{inner}"))
}

/// Each entry's text and the top's, line for line with the file (every
/// line not theirs blank).
struct Cut {
    /// The top's lines (`[listen]`), every entry's line blank.
    top: String,
    entries: Vec<String>,
    /// Which lines were rewritten headers (their columns moved).
    rewritten: Vec<bool>,
}

fn cut(text: &str) -> Cut {
    #[derive(Clone, Copy)]
    enum At {
        Top,
        Entry(usize),
    }
    let lines: Vec<&str> = text.split('\n').collect();
    let mut owner = Vec::with_capacity(lines.len());
    let mut rewritten = vec![false; lines.len()];
    let mut out_line: Vec<String> = Vec::with_capacity(lines.len());
    let mut at = At::Top;
    let mut count = 0;
    for (i, line) in lines.iter().enumerate() {
        if entry_start(line) {
            at = At::Entry(count);
            count += 1;
            owner.push(at);
            out_line.push(String::new());
            continue;
        }
        match (at, sub_table(line)) {
            (At::Entry(_), Some(h)) => {
                rewritten[i] = true;
                out_line.push(h);
            }
            _ => {
                if header(line).is_some() {
                    at = At::Top;
                }
                out_line.push((*line).to_string());
            }
        }
        owner.push(at);
    }
    let top = out_line
        .iter()
        .zip(&owner)
        .map(|(l, o)| match o {
            At::Top => l.as_str(),
            At::Entry(_) => "",
        })
        .collect::<Vec<_>>()
        .join("\n");
    let entries = (0..count)
        .map(|e| {
            out_line
                .iter()
                .zip(&owner)
                .map(|(l, o)| match o {
                    At::Entry(n) if *n == e => l.as_str(),
                    _ => "",
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect();
    Cut {
        top,
        entries,
        rewritten,
    }
}

/// Parse and validate a plan with `[[services]]`.
pub fn parse_fleet(text: &str, file: &str, opts: LoadOptions) -> Result<Fleet, PlanError> {
    let whole = ImDocument::parse(text).map_err(|e| {
        let at = e.span().map_or(0, |s| s.start);
        syntax((text, text), file, at, None, e.message().to_string())
    })?;
    for (key, item) in whole.as_table().iter() {
        if !matches!(key, "listen" | "services") {
            let at = whole
                .as_table()
                .key(key)
                .and_then(|k| k.span())
                .or_else(|| item.span())
                .map_or(0, |s| s.start);
            return Err(invalid(
                (text, text),
                file,
                at,
                Some(key.to_string()),
                format!(
                    "a plan with [[services]] holds only [listen] and [[services]] at its top; put {key} inside each service that needs it"
                ),
            ));
        }
    }
    let cut = cut(text);
    let listen = listen(text, &cut.top, file, opts)?;
    let mut services: Vec<Service> = Vec::new();
    for (i, entry) in cut.entries.iter().enumerate() {
        let mut service = one(text, entry, file, opts, i, &cut.rewritten)?;
        service.plan.listen = listen.clone();
        if let Some(prev) = services
            .iter()
            .find(|s| s.plan.service == service.plan.service)
        {
            let at = key_start(entry, "service");
            return Err(invalid(
                (text, entry),
                file,
                at,
                Some(format!("services[{i}].service")),
                format!(
                    "{:?} names a service already in this plan",
                    prev.plan.service
                ),
            ));
        }
        if let Some((other, host)) = services.iter().find_map(|s| {
            (s.path_prefix == service.path_prefix)
                .then(|| s.hosts.iter().find(|h| service.hosts.contains(h)))
                .flatten()
                .map(|h| (s.plan.service.clone(), h.clone()))
        }) {
            return Err(invalid(
                (text, entry),
                file,
                key_start(entry, "hosts"),
                Some(format!("services[{i}].hosts")),
                format!(
                    "{host} (with the same path_prefix) already belongs to service {other:?}: a request must have one service"
                ),
            ));
        }
        services.push(service);
    }
    Ok(Fleet { services })
}

/// The lines a stand-in service takes before the top's text.
const STAND_IN: &str = "service = \"listen-check\"\nruntime = \"static\"\nstable = { upstreams = [\"127.0.0.1:1\"] }\n";

/// The daemon's `[listen]`, validated as a single-service plan validates
/// it (a stand-in service before it; its errors moved back to the file's
/// lines).
fn listen(
    text: &str,
    top: &str,
    file: &str,
    opts: LoadOptions,
) -> Result<super::types::Listen, PlanError> {
    let shift = STAND_IN.matches('\n').count();
    let fix = |mut l: Box<Located>| {
        l.line = l.line.saturating_sub(shift).max(1);
        if let Some(original) = text.split('\n').nth(l.line - 1) {
            l.source_line = original.trim_end_matches('\r').to_string();
        }
        l
    };
    match parse_with(&format!("{STAND_IN}{top}"), file, opts) {
        Ok(p) => Ok(p.listen),
        Err(PlanError::Syntax(l)) => Err(PlanError::Syntax(fix(l))),
        Err(PlanError::Invalid(l)) => Err(PlanError::Invalid(fix(l))),
        Err(e) => Err(e),
    }
}

/// One `[[services]]` entry being read: where its errors point.
struct Entry<'a> {
    /// The whole plan, for the lines errors show.
    text: &'a str,
    /// The entry cut out line for line, which byte offsets refer to.
    entry: &'a str,
    file: &'a str,
    i: usize,
}

impl Entry<'_> {
    fn invalid(&self, at: usize, key: &str, message: String) -> PlanError {
        let key = Some(format!("services[{}].{key}", self.i));
        invalid((self.text, self.entry), self.file, at, key, message)
    }

    /// The entry with `keys` (hosts, path_prefix) blanked out, line for
    /// line, so the single-service parser sees only its own keys.
    fn without(&self, top: &toml_edit::Table, keys: &[&str]) -> String {
        let mut blanked = self.entry.to_string();
        for key in keys {
            let (Some(k), Some(v)) = (
                top.key(key).and_then(|k| k.span()),
                top.get(key).and_then(|v| v.span()),
            ) else {
                continue;
            };
            let range = k.start..v.end;
            let spaces: String = self.entry[range.clone()]
                .chars()
                .map(|c| if c == '\n' { '\n' } else { ' ' })
                .collect();
            blanked.replace_range(range, &spaces);
        }
        blanked
    }

    fn hosts(&self, top: &toml_edit::Table) -> Result<Vec<HostPattern>, PlanError> {
        let item = top.get("hosts");
        match item.and_then(|h| h.as_array()) {
            Some(a) if !a.is_empty() => a
                .iter()
                .map(|v| {
                    let at = v.span().map_or(0, |s| s.start);
                    v.as_str()
                        .ok_or_else(|| "expected a host name as a string".to_string())
                        .and_then(HostPattern::parse)
                        .map_err(|m| self.invalid(at, "hosts", m))
                })
                .collect(),
            _ => {
                let name = top.get("service").and_then(|s| s.as_str()).unwrap_or("?");
                let at = item
                    .and_then(|h| h.span())
                    .map_or_else(|| key_start(self.entry, "service"), |s| s.start);
                Err(self.invalid(
                    at,
                    "hosts",
                    format!(
                        "service {name:?} needs hosts = [\"NAME\", ...]: the Host names its requests come with (\"*.example.com\" for every subdomain)"
                    ),
                ))
            }
        }
    }

    fn prefix(&self, top: &toml_edit::Table) -> Result<Option<String>, PlanError> {
        let Some(p) = top.get("path_prefix") else {
            return Ok(None);
        };
        match p.as_str() {
            Some(s) if s.starts_with('/') && !s.contains(['?', '#', ' ']) => {
                Ok(Some(s.trim_end_matches('/').to_string()).filter(|s| !s.is_empty()))
            }
            _ => Err(self.invalid(
                p.span().map_or(0, |s| s.start),
                "path_prefix",
                "expected a path such as \"/api\" (starting with /, no query)".into(),
            )),
        }
    }
}

/// Entry `i`: its hosts and prefix taken out, the rest parsed as a plan.
fn one(
    text: &str,
    entry: &str,
    file: &str,
    opts: LoadOptions,
    i: usize,
    rewritten: &[bool],
) -> Result<Service, PlanError> {
    let doc = ImDocument::parse(entry).map_err(|e| {
        let at = e.span().map_or(0, |s| s.start);
        syntax((text, entry), file, at, None, e.message().to_string())
    })?;
    let top = doc.as_table();
    let here = Entry {
        text,
        entry,
        file,
        i,
    };
    let hosts = here.hosts(top)?;
    let path_prefix = here.prefix(top)?;
    if top.contains_key("listen") {
        return Err(here.invalid(
            key_start(entry, "listen"),
            "listen",
            "[listen] is the daemon's, not a service's: one [listen] at the top of the plan".into(),
        ));
    }
    let blanked = here.without(top, &["hosts", "path_prefix"]);
    let plan = parse_with(&blanked, file, opts).map_err(|e| in_entry(e, text, i, rewritten))?;
    Ok(Service {
        plan,
        hosts,
        path_prefix,
    })
}

/// An entry's error as the operator reads it: the key under `services[i]`,
/// the line as it is in the file.
fn in_entry(e: PlanError, text: &str, i: usize, rewritten: &[bool]) -> PlanError {
    let fix = |mut l: Box<Located>| {
        if let Some(k) = &l.key {
            l.key = Some(format!("services[{i}].{k}"));
        }
        if let Some(original) = text.split('\n').nth(l.line.saturating_sub(1)) {
            if rewritten.get(l.line.saturating_sub(1)) == Some(&true) {
                l.column = 1;
                l.underline = original.trim_end().chars().count();
            }
            l.source_line = original.trim_end_matches('\r').to_string();
        }
        l
    };
    match e {
        PlanError::Syntax(l) => PlanError::Syntax(fix(l)),
        PlanError::Invalid(l) => PlanError::Invalid(fix(l)),
        other => other,
    }
}

/// Where `key = ` starts in `entry` (its first line of its own), else 0.
fn key_start(entry: &str, key: &str) -> usize {
    let mut offset = 0;
    for line in entry.split('\n') {
        let t = line.trim_start();
        if t.strip_prefix(key)
            .is_some_and(|r| r.trim_start().starts_with('='))
        {
            return offset + (line.len() - t.len());
        }
        offset += line.len() + 1;
    }
    0
}

/// A [`Located`] at byte `at` of `texts.1` (the whole plan, or an entry
/// cut from it line for line), showing the line as the file has it.
fn located(
    texts: (&str, &str),
    file: &str,
    at: usize,
    key: Option<String>,
    message: String,
) -> Located {
    let (whole, cut) = texts;
    let mut l = super::parse::locate_at(cut, file, at, key, message);
    if let Some(original) = whole.split('\n').nth(l.line.saturating_sub(1)) {
        l.source_line = original.trim_end_matches('\r').to_string();
    }
    l
}

fn invalid(
    texts: (&str, &str),
    file: &str,
    at: usize,
    key: Option<String>,
    message: String,
) -> PlanError {
    PlanError::Invalid(Box::new(located(texts, file, at, key, message)))
}

fn syntax(
    texts: (&str, &str),
    file: &str,
    at: usize,
    key: Option<String>,
    message: String,
) -> PlanError {
    PlanError::Syntax(Box::new(located(texts, file, at, key, message)))
}

#[cfg(test)]
#[path = "services_tests.rs"]
mod tests;
