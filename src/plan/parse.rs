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
//! the `toml_edit` parse.
//! Validation errors come with a key path (`steps[2].weight`) and are located
//! the other way round: the path is looked up in that parse to find its line
//! (the value when the key is present, else the nearest enclosing table).

use super::types::Plan;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml_edit::{ImDocument, Item, Table, TableLike, Value};

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
fn schema_error(
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
fn locate(
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

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
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

/// One step of a key path: a table key or an array index.
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

fn segments(path: &str) -> Vec<Seg<'_>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = part.split_once('[').map_or((part, ""), |(n, r)| (n, r));
        if !name.is_empty() {
            out.push(Seg::Key(name));
        }
        while let Some((idx, after)) = rest.split_once(']') {
            if let Ok(i) = idx.parse() {
                out.push(Seg::Index(i));
            }
            rest = after.strip_prefix('[').unwrap_or("");
        }
    }
    out
}

/// A node of the span-preserving parse: arrays hold tables or values, not items.
#[derive(Clone, Copy)]
enum Node<'a> {
    Item(&'a Item),
    Table(&'a Table),
    Value(&'a Value),
}

impl<'a> Node<'a> {
    fn span(self) -> Option<Range<usize>> {
        match self {
            Node::Item(i) => i.span(),
            Node::Table(t) => t.span(),
            Node::Value(v) => v.span(),
        }
    }

    fn table_like(self) -> Option<&'a dyn TableLike> {
        match self {
            Node::Item(i) => i.as_table_like(),
            Node::Table(t) => Some(t),
            Node::Value(v) => v.as_inline_table().map(|t| t as &dyn TableLike),
        }
    }

    fn child(self, seg: &Seg<'_>, best: &mut Range<usize>) -> Option<Node<'a>> {
        match *seg {
            Seg::Key(k) => {
                let (key, item) = self.table_like()?.get_key_value(k)?;
                if let Some(s) = key.span() {
                    *best = s;
                }
                Some(Node::Item(item))
            }
            Seg::Index(i) => match self {
                Node::Item(Item::ArrayOfTables(a)) => a.get(i).map(Node::Table),
                Node::Item(Item::Value(Value::Array(a))) | Node::Value(Value::Array(a)) => {
                    a.get(i).map(Node::Value)
                }
                _ => None,
            },
        }
    }
}

/// The span to point at for `path`, and whether the full path is present.
/// A present key points at its value; a missing one at the nearest enclosing
/// key or table that has a span (or the start of the file).
fn lookup(doc: &ImDocument<&str>, path: &str) -> (Range<usize>, bool) {
    let mut node = Node::Item(doc.as_item());
    let mut best: Range<usize> = 0..0;
    for seg in segments(path) {
        if let Some(s) = node.span() {
            best = s;
        }
        match node.child(&seg, &mut best) {
            Some(next) => node = next,
            None => return (best, false),
        }
    }
    (node.span().unwrap_or(best), true)
}

/// The key path of the deepest key or value whose span holds `offset`.
fn key_at(doc: &ImDocument<&str>, offset: usize) -> Option<String> {
    fn walk(node: Node<'_>, offset: usize, path: &mut String) -> bool {
        if let Some(t) = node.table_like() {
            for (k, item) in t.iter() {
                let Some((key, _)) = t.get_key_value(k) else {
                    continue;
                };
                let child = Node::Item(item);
                let inside = |s: Option<Range<usize>>| s.is_some_and(|s| s.contains(&offset));
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                if walk(child, offset, path) || inside(key.span()) || inside(child.span()) {
                    return true;
                }
                path.truncate(len);
            }
            return false;
        }
        let children: Vec<Node<'_>> = match node {
            Node::Item(Item::ArrayOfTables(a)) => a.iter().map(Node::Table).collect(),
            Node::Item(Item::Value(Value::Array(a))) | Node::Value(Value::Array(a)) => {
                a.iter().map(Node::Value).collect()
            }
            _ => return false,
        };
        for (i, child) in children.into_iter().enumerate() {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            if walk(child, offset, path) || child.span().is_some_and(|s| s.contains(&offset)) {
                return true;
            }
            path.truncate(len);
        }
        false
    }
    let mut path = String::new();
    walk(Node::Item(doc.as_item()), offset, &mut path).then_some(path)
}

/// A best-effort key path for text `toml_edit` cannot parse: the last
/// `[table]` / `[[array]]` header before `offset` plus the `key =` on the
/// offending line.
fn key_from_lines(text: &str, offset: usize) -> Option<String> {
    let offset = floor_char_boundary(text, offset.min(text.len()));
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let mut table: Option<String> = None;
    let mut counts: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for line in text[..line_start].lines() {
        let l = line.trim();
        if let Some(name) = l
            .strip_prefix("[[")
            .and_then(|r| r.split_once("]]"))
            .map(|r| r.0.trim())
        {
            let n = counts.entry(name.to_string()).or_insert(0);
            table = Some(format!("{name}[{n}]"));
            *n += 1;
        } else if let Some(name) = l
            .strip_prefix('[')
            .and_then(|r| r.split_once(']'))
            .map(|r| r.0.trim())
        {
            table = Some(name.to_string());
        }
    }
    let line = text[line_start..].lines().next().unwrap_or("");
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_string())
        .filter(|k| !k.is_empty() && !k.starts_with('[') && !k.starts_with('#'));
    match (table, key) {
        (Some(t), Some(k)) => Some(format!("{t}.{k}")),
        (None, Some(k)) => Some(k),
        (Some(t), None) => Some(t),
        (None, None) => None,
    }
}

/// `toml` spans a table by its header (the root by `0..0`); `toml_edit`
/// from there to its last value, the span [`table_with_span`] matches and the
/// caret shows.
fn table_span(doc: &ImDocument<&str>, span: &Range<usize>) -> Range<usize> {
    fn walk(node: Node<'_>, start: usize) -> Option<Range<usize>> {
        if let Node::Item(Item::ArrayOfTables(a)) = node {
            return a.iter().find_map(|t| walk(Node::Table(t), start));
        }
        let span = node.span().filter(|s| s.start == start);
        span.or_else(|| children(node, start))
    }
    fn children(node: Node<'_>, start: usize) -> Option<Range<usize>> {
        let t = node.table_like()?;
        t.iter().find_map(|(_, item)| walk(Node::Item(item), start))
    }
    let root = Node::Item(doc.as_item());
    let found = if span.is_empty() {
        root.span()
    } else {
        children(root, span.start)
    };
    found.unwrap_or_else(|| span.clone())
}

/// The key path of the table (or array-of-tables entry) whose span is exactly
/// `span`; `""` for the whole document.
fn table_with_span(doc: &ImDocument<&str>, span: &Range<usize>) -> Option<String> {
    fn walk(node: Node<'_>, span: &Range<usize>, path: &str) -> Option<String> {
        if node.span().as_ref() == Some(span) {
            return Some(path.to_string());
        }
        let join = |k: &str| {
            if path.is_empty() {
                k.to_string()
            } else {
                format!("{path}.{k}")
            }
        };
        if let Some(t) = node.table_like() {
            for (k, item) in t.iter() {
                if let Some(found) = walk(Node::Item(item), span, &join(k)) {
                    return Some(found);
                }
            }
        }
        if let Node::Item(Item::ArrayOfTables(a)) = node {
            for (i, t) in a.iter().enumerate() {
                if let Some(found) = walk(Node::Table(t), span, &format!("{path}[{i}]")) {
                    return Some(found);
                }
            }
        }
        None
    }
    walk(Node::Item(doc.as_item()), span, "").or(Some(String::new()))
}
