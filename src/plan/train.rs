//! The train file (`cutover train start FILE`): which services of a fleet
//! get which canary, how many release at once, when the train gives up and
//! how far it reverses then.
//!
//! ```toml
//! max_parallel = 2            # services releasing at once (1–64, default 1)
//! abort_on = "first_breach"   # or a number: abort after N failed services
//! rollback = "all"            # on abort: "in_flight" (default) or "all"
//! [[entries]]
//! service = "shop"
//! image = "shop-v2"           # what a deploy of that service takes
//! [[entries]]
//! service = "api"
//! image = "api-v2"
//! after = ["shop"]            # starts once shop is promoted
//! ```
//!
//! Parsed like a plan (`parse.rs`): syntax and schema errors from the same
//! span-preserving parse, validation errors located by key path, so every
//! message names the file, line and key and shows the line.

use super::parse::{PlanError, humane_serde_message, locate, schema_error};
use super::spans::{key_at, lookup};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use toml_edit::ImDocument;

/// Most services a train releases at once.
pub const MAX_PARALLEL: u32 = 64;

/// A parsed and validated train file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    #[serde(default = "one")]
    pub max_parallel: u32,
    #[serde(default)]
    pub abort_on: AbortOn,
    #[serde(default)]
    pub rollback: RollbackScope,
    #[serde(default)]
    pub entries: Vec<TrainEntry>,
}

fn one() -> u32 {
    1
}

/// One service of a train and the canary it gets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainEntry {
    pub service: String,
    /// What `Action::Deploy` takes for that service (an image, or a
    /// version for a `[deploy]` template).
    pub image: String,
    /// Entries (by service) that must be promoted before this one starts.
    #[serde(default)]
    pub after: Vec<String>,
}

/// When a train gives up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AbortOn {
    /// The first guard breach (or failed release) in any service.
    #[default]
    FirstBreach,
    /// After this many services' releases failed (1 or more).
    Failures(u32),
}

impl fmt::Display for AbortOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AbortOn::FirstBreach => f.write_str("first_breach"),
            AbortOn::Failures(n) => write!(f, "{n}"),
        }
    }
}

impl Serialize for AbortOn {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            AbortOn::FirstBreach => s.serialize_str("first_breach"),
            AbortOn::Failures(n) => s.serialize_u32(*n),
        }
    }
}

/// `"first_breach"` or a whole number of at least 1, in the plan's words.
impl<'de> Deserialize<'de> for AbortOn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<AbortOn, D::Error> {
        struct V;
        const WANT: &str = "\"first_breach\" or a number of failed services (1 or more)";
        impl serde::de::Visitor<'_> for V {
            type Value = AbortOn;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(WANT)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<AbortOn, E> {
                match v {
                    "first_breach" => Ok(AbortOn::FirstBreach),
                    other => Err(E::custom(format!("expected {WANT}, found {other:?}"))),
                }
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<AbortOn, E> {
                match u32::try_from(v) {
                    Ok(n) if n >= 1 => Ok(AbortOn::Failures(n)),
                    _ => Err(E::custom(format!("expected {WANT}, found {v}"))),
                }
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<AbortOn, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(-1))
            }
        }
        d.deserialize_any(V)
    }
}

/// How far an aborted train reverses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RollbackScope {
    /// Roll back the releases in flight; promoted services stay.
    #[default]
    InFlight,
    /// Also return the services this train promoted to their previous
    /// image, replica count and resource limits.
    All,
}

/// A validation error: the key path and what is wrong.
struct Bad {
    key: String,
    message: String,
}

fn bad(key: String, message: String) -> Bad {
    Bad { key, message }
}

/// Parse and validate a train file; `file` names it in errors. `known`
/// lists the services of the daemon that will run it (every entry must be
/// one of them); `None` skips that check.
pub fn parse_train(
    text: &str,
    file: &str,
    known: Option<&[String]>,
) -> Result<TrainSpec, PlanError> {
    let doc = ImDocument::parse(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let key = key_at_text(text, span.start);
        schema_error(text, file, span, key, e.message())
    })?;
    let spec: TrainSpec = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let key = key_at(&doc, span.start);
        let message = match e.message().strip_prefix("missing field `") {
            Some(rest) => format!(
                "expected the required key `{}`, found none",
                rest.split('`').next().unwrap_or("")
            ),
            None => humane_serde_message(e.message()),
        };
        PlanError::Syntax(Box::new(locate(text, file, span, key, message)))
    })?;
    validate(&spec, known).map_err(|b| {
        let span = lookup(&doc, &b.key).0;
        PlanError::Invalid(Box::new(locate(text, file, span, Some(b.key), b.message)))
    })?;
    Ok(spec)
}

/// The key on a line `toml_edit` could not parse (best effort).
fn key_at_text(text: &str, offset: usize) -> Option<String> {
    super::spans::key_from_lines(text, offset)
}

fn validate(spec: &TrainSpec, known: Option<&[String]>) -> Result<(), Bad> {
    if !(1..=MAX_PARALLEL).contains(&spec.max_parallel) {
        return Err(bad(
            "max_parallel".into(),
            format!(
                "expected a number of services releasing at once from 1 to {MAX_PARALLEL}, found {}",
                spec.max_parallel
            ),
        ));
    }
    if spec.entries.is_empty() {
        return Err(bad(
            "entries".into(),
            "expected at least one [[entries]] with a service and an image, found none".into(),
        ));
    }
    for (i, e) in spec.entries.iter().enumerate() {
        entry(spec, i, e, known)?;
    }
    acyclic(spec)
}

fn entry(spec: &TrainSpec, i: usize, e: &TrainEntry, known: Option<&[String]>) -> Result<(), Bad> {
    let key = |k: &str| format!("entries[{i}].{k}");
    if let Some(known) = known
        && !known.contains(&e.service)
    {
        return Err(bad(
            key("service"),
            format!(
                "no service {:?} in this daemon; it serves {}",
                crate::text::clean(&e.service),
                known.join(", ")
            ),
        ));
    }
    if let Some(j) = spec.entries[..i]
        .iter()
        .position(|o| o.service == e.service)
    {
        return Err(bad(
            key("service"),
            format!(
                "{:?} is already entries[{j}]: one entry per service",
                e.service
            ),
        ));
    }
    if e.image.trim().is_empty() || crate::text::has_control(&e.image) {
        return Err(bad(
            key("image"),
            format!(
                "expected what a deploy of {} takes (an image, or a version for its [deploy] template), found {:?}",
                e.service,
                crate::text::clean(&e.image)
            ),
        ));
    }
    for a in &e.after {
        if *a == e.service {
            return Err(bad(key("after"), format!("{a:?} cannot wait for itself")));
        }
        if !spec.entries.iter().any(|o| o.service == *a) {
            return Err(bad(
                key("after"),
                format!(
                    "{:?} is not an entry of this train; after names services of its [[entries]]",
                    crate::text::clean(a)
                ),
            ));
        }
    }
    Ok(())
}

/// `after` must not go round in a circle (nothing in it could start).
fn acyclic(spec: &TrainSpec) -> Result<(), Bad> {
    let index = |name: &str| spec.entries.iter().position(|e| e.service == name);
    for start in 0..spec.entries.len() {
        // Depth-first from `start`, looking for a way back to it.
        let mut stack = vec![(start, vec![start])];
        while let Some((at, path)) = stack.pop() {
            for a in &spec.entries[at].after {
                let Some(next) = index(a) else { continue };
                if next == start {
                    let mut names: Vec<&str> = path
                        .iter()
                        .map(|&p| spec.entries[p].service.as_str())
                        .collect();
                    names.push(&spec.entries[start].service);
                    return Err(bad(
                        format!("entries[{start}].after"),
                        format!(
                            "the entries wait for each other in a circle: {}",
                            names.join(" → ")
                        ),
                    ));
                }
                if !path.contains(&next) {
                    let mut p = path.clone();
                    p.push(next);
                    stack.push((next, p));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "train_tests.rs"]
mod tests;
