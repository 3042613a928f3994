//! Text → [`Plan`], with errors that say file, line, column, key path and
//! what was expected, and show the offending line with a caret, rustc-style:
//!
//! ```text
//! cutover.toml:23:18: guard.max_error_rate: expected a rate from 0 to 1 (0.05 = 5 %), found 1.5
//!    |
//! 23 | max_error_rate = 1.5
//!    |                  ^^^
//! ```
//!
//! Syntax errors come from a span-preserving `toml_edit` parse, type errors
//! from `toml`, each with a byte span; the key path is recovered by walking
//! the `toml_edit` parse (`spans.rs`).
//! Validation errors come with a key path (`steps[2].weight`) and are located
//! the other way round: the path is looked up in that parse to find its line
//! (the value when the key is present, else the nearest enclosing table).

use super::spans::{key_at, key_from_lines, lookup, table_span, table_with_span};
use super::types::Plan;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml_edit::ImDocument;

/// Why a plan could not be used. Its `Display` is what the operator reads.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("cannot read plan {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not TOML, or TOML that does not fit the schema (unknown key, wrong type).
    #[error("{0}")]
    Syntax(Box<Located>),
    /// Fits the schema but makes no sense (out of range, contradictory).
    #[error("{0}")]
    Invalid(Box<Located>),
}

impl PlanError {
    /// The located error, for callers that want the parts.
    pub fn located(&self) -> Option<&Located> {
        match self {
            PlanError::Read { .. } => None,
            PlanError::Syntax(l) | PlanError::Invalid(l) => Some(l),
        }
    }
}

/// An error pinned to a place in the plan text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    /// Key path such as `guard.max_error_rate` or `steps[2].weight`, when known.
    pub key: Option<String>,
    /// What is wrong and what was expected.
    pub message: String,
    /// The offending line, and how many characters from `column` to underline.
    pub source_line: String,
    pub underline: usize,
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        write!(f, "{}", self.message)?;
        let num = self.line.to_string();
        let pad = " ".repeat(num.len());
        let line = self.source_line.replace('\t', " ");
        write!(f, "\n{pad} |\n{num} | {line}\n{pad} | ")?;
        write!(
            f,
            "{}{}",
            " ".repeat(self.column.saturating_sub(1)),
            "^".repeat(self.underline.max(1))
        )
    }
}

/// What the caller permits beyond the plan itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// `cutover up --allow-remote-admin`: a non-loopback `listen.admin` is
    /// accepted as if the plan said `allow_remote_admin = true`.
    pub allow_remote_admin: bool,
}

/// Read and validate a plan file.
pub fn load(path: &Path) -> Result<Plan, PlanError> {
    load_with(path, LoadOptions::default())
}

/// [`load`] with what the command line permits.
pub fn load_with(path: &Path, opts: LoadOptions) -> Result<Plan, PlanError> {
    let text = std::fs::read_to_string(path).map_err(|source| PlanError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_with(&text, &path.display().to_string(), opts)
}

/// Read a plan file; `Some` when it holds several services
/// (`[[services]]`), `None` when it is a single-service plan (read it with
/// [`load_with`]).
pub fn load_fleet(
    path: &Path,
    opts: LoadOptions,
) -> Result<Option<super::services::Fleet>, PlanError> {
    let text = std::fs::read_to_string(path).map_err(|source| PlanError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if !super::services::is_fleet(&text) {
        return Ok(None);
    }
    super::services::parse_fleet(&text, &path.display().to_string(), opts).map(Some)
}

/// Parse and validate plan text; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<Plan, PlanError> {
    parse_with(text, file, LoadOptions::default())
}

/// [`parse`] with what the command line permits.
pub fn parse_with(text: &str, file: &str, opts: LoadOptions) -> Result<Plan, PlanError> {
    // Syntax is judged by the span-preserving `toml_edit` parse, the TOML 1.0
    // parser `toml` 0.8 was built on: the same texts are refused, with the
    // same messages and spans (`toml` 0.9 has a parser of its own).
    let doc = ImDocument::parse(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        // Not even TOML: guess the path from the table header and key on the line.
        let key = key_from_lines(text, span.start);
        schema_error(text, file, span, key, e.message())
    })?;
    let plan: Plan = toml::from_str(text).map_err(|e| {
        let mut span = e.span().unwrap_or(0..0);
        let missing = e
            .message()
            .strip_prefix("missing field `")
            .and_then(|r| r.split_once('`'))
            .map(|r| r.0.to_string());
        let key = match missing {
            // serde points a missing field at the table that lacks it.
            Some(field) => {
                span = table_span(&doc, &span);
                Some(match table_with_span(&doc, &span) {
                    Some(parent) if !parent.is_empty() => format!("{parent}.{field}"),
                    _ => field,
                })
            }
            None => key_at(&doc, span.start),
        };
        schema_error(text, file, span, key, e.message())
    })?;
    let present = |path: &str| lookup(&doc, path).1;
    super::validate::validate(&plan, &present, opts.allow_remote_admin).map_err(|bad| {
        let span = lookup(&doc, &bad.key).0;
        PlanError::Invalid(Box::new(locate(
            text,
            file,
            span,
            Some(bad.key),
            bad.message,
        )))
    })?;
    Ok(plan)
}

/// A text that is not TOML or does not fit the schema, as the operator reads it.
pub(super) fn schema_error(
    text: &str,
    file: &str,
    span: Range<usize>,
    key: Option<String>,
    raw: &str,
) -> PlanError {
    let message = key
        .as_deref()
        .and_then(|k| ranged_message(k, raw))
        .unwrap_or_else(|| humane_serde_message(raw));
    PlanError::Syntax(Box::new(locate(text, file, span, key, message)))
}

/// Build a [`Located`] for the byte span `span` of `text`.
pub(super) fn locate(
    text: &str,
    file: &str,
    span: Range<usize>,
    key: Option<String>,
    message: String,
) -> Located {
    let start = floor_char_boundary(text, span.start.min(text.len()));
    let end = floor_char_boundary(text, span.end.clamp(start, text.len()));
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let source_line = text[line_start..line_end]
        .trim_end_matches('\r')
        .to_string();
    let line = text[..start].matches('\n').count() + 1;
    let column = text[line_start..start].chars().count() + 1;
    let underline = text[start..end.min(line_end).max(start)]
        .trim_end()
        .chars()
        .count();
    Located {
        file: file.to_string(),
        line,
        column,
        key,
        message,
        source_line,
        underline,
    }
}

/// A [`Located`] from byte `at` of `text` to the end of the word there.
pub(super) fn locate_at(
    text: &str,
    file: &str,
    at: usize,
    key: Option<String>,
    message: String,
) -> Located {
    let at = floor_char_boundary(text, at.min(text.len()));
    let end = text[at..]
        .find(|c: char| c.is_whitespace() || c == ',')
        .map_or(text.len(), |i| at + i);
    locate(text, file, at..end, key, message)
}

pub(super) fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A value of the wrong type or size for a key with a range (`replicas =
/// -2`, `port = 70000`, `weight = "5"`): say the key's real range (see
/// [`super::ranges`]), not the Rust type's.
fn ranged_message(key: &str, message: &str) -> Option<String> {
    let range = super::ranges::range_of(key)?;
    let message = message.trim();
    let mut hint = String::new();
    let found = if message == "number too large to fit in target type" {
        "a number too large for 64 bits".to_string()
    } else {
        let rest = ["invalid value: ", "invalid type: "]
            .iter()
            .find_map(|p| message.strip_prefix(p))?;
        let (found, _) = rest.split_once(", expected ")?;
        let unquote = |kind: &str| {
            found
                .strip_prefix(kind)
                .and_then(|n| n.strip_prefix('`'))
                .and_then(|n| n.strip_suffix('`'))
                .map(str::to_string)
        };
        let number = unquote("integer ").or_else(|| unquote("floating point "));
        // A bare number where a duration or size belongs: show the spelling.
        if let Some(n) = &number {
            if range.expected.starts_with("a duration") {
                hint = format!(" (durations are strings with a unit, e.g. \"{n}s\")");
            } else if range.expected.starts_with("a size") {
                hint = " (sizes are strings with a unit, e.g. \"256MiB\")".to_string();
            }
        }
        number
            .or_else(|| unquote("boolean "))
            .or_else(|| {
                found
                    .strip_prefix("string ")
                    .map(|s| format!("the string {s}"))
            })
            .unwrap_or_else(|| found.to_string())
    };
    Some(format!("expected {}, found {found}{hint}", range.expected))
}

/// Make serde's type vocabulary (`u32`, `f64`, "a sequence") operator words.
pub(super) fn humane_serde_message(message: &str) -> String {
    let words = [
        // Keys with a range say it instead (`ranged_message`); these are
        // for any other number a future key might hold.
        ("expected u16", "expected a whole number 0–65535"),
        ("expected u32", "expected a whole number 0–4294967295"),
        ("expected u64", "expected a whole number ≥ 0"),
        ("expected f64", "expected a number"),
        ("expected a sequence", "expected a list [ ... ]"),
        ("expected a map", "expected a table"),
        ("expected a boolean", "expected true or false"),
    ];
    let mut out = message.trim().replace('\n', "; ");
    if let Some(field) = out
        .strip_prefix("missing field `")
        .and_then(|r| r.split_once('`'))
        .map(|r| r.0.to_string())
    {
        return format!("expected the required key `{field}`, found none");
    }
    if out == "invalid socket address syntax" {
        return "expected an IP address and port such as \"127.0.0.1:8080\" (host names are not resolved here)".to_string();
    }
    if out == "number too large to fit in target type" {
        return "expected a number that fits in 64 bits, found a larger one".to_string();
    }
    // chrono's parse errors, for `[[freeze]]` times.
    const CHRONO: [&str; 6] = [
        "input contains invalid characters",
        "premature end of input",
        "trailing input",
        "input is out of range",
        "no possible date and time matching input",
        "input is not enough for unique date and time",
    ];
    if CHRONO.contains(&out.as_str()) {
        return format!("expected an RFC 3339 date-time like \"2026-12-24T00:00:00Z\" ({out})");
    }
    for (from, to) in words {
        out = out.replace(from, to);
    }
    // `invalid value: integer `-1`, expected …` / `invalid type: string "x", expected …`
    // read better with what was expected first.
    for prefix in ["invalid value: ", "invalid type: "] {
        if let Some(rest) = out.strip_prefix(prefix)
            && let Some((found, expected)) = rest.split_once(", expected ")
        {
            out = format!("expected {expected}, found {found}");
            break;
        }
    }
    out
}
