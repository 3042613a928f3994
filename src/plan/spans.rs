//! Key paths ↔ places in the plan text, over the span-preserving
//! `toml_edit` parse: where `steps[2].weight` is (its value, or the nearest
//! enclosing table when it is missing), and which key a byte offset is in.
//! What `parse.rs` uses to point its errors at a line and column.

use super::parse::floor_char_boundary;
use std::ops::Range;
use toml_edit::{ImDocument, Item, Table, TableLike, Value};

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
pub(super) fn lookup(doc: &ImDocument<&str>, path: &str) -> (Range<usize>, bool) {
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
pub(super) fn key_at(doc: &ImDocument<&str>, offset: usize) -> Option<String> {
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
pub(super) fn key_from_lines(text: &str, offset: usize) -> Option<String> {
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
pub(super) fn table_span(doc: &ImDocument<&str>, span: &Range<usize>) -> Range<usize> {
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
pub(super) fn table_with_span(doc: &ImDocument<&str>, span: &Range<usize>) -> Option<String> {
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
