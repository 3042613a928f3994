//! Reading a journal back, tolerantly.
//!
//! A journal is written by a daemon that may be killed at any instant and
//! read by a cutover that may be older or newer than the writer, so:
//! - the header (first non-blank line) must be a `cutover-journal` header of
//!   a major version we know; otherwise the whole file is refused with a
//!   message that says why;
//! - a line that is not valid JSON or not a valid event is skipped and
//!   counted in `corrupt_lines` (its line number and reason are kept for the
//!   first few);
//! - an event whose `type` this version does not know is skipped and counted
//!   in `unknown_events` (forward compatibility), not as corrupt;
//! - a later header line (a journal continued or concatenated) is a marker,
//!   neither an event nor corruption;
//! - a last line without its newline that does not parse (the writer died
//!   mid-line) is dropped and flagged with `truncated_tail`;
//! - no input, however hostile, panics (proptest in `tests/journal_reader.rs`);
//! - a journal is outside text (whoever wrote it, someone may hand it to
//!   you to replay): every string of the header and of every event is
//!   cleaned here, as it enters the model ([`crate::text::CleanText`]), so
//!   `replay`, `replay --no-tui` and `export` never pass on a control
//!   character it holds.

use crate::model::{Event, JournalHeader};
use crate::text::CleanText;
use std::path::Path;

/// How many corrupt lines are kept with their reasons.
pub const KEEP_CORRUPT: usize = 10;

/// Event `type`s this version understands; anything else is "unknown".
const KNOWN_TYPES: [&str; 8] = [
    "snapshot", "weight", "phase", "action", "breach", "replica", "tick", "warning",
];

/// A journal as read.
#[derive(Clone, Debug, PartialEq)]
pub struct Journal {
    pub header: JournalHeader,
    /// Events in file order.
    pub events: Vec<Event>,
    /// Lines skipped because they were not valid events.
    pub corrupt_lines: usize,
    /// Events skipped because their `type` is newer than this cutover.
    pub unknown_events: usize,
    /// The last line had no newline and did not parse: the writer was cut off.
    pub truncated_tail: bool,
    /// The first [`KEEP_CORRUPT`] corrupt lines: 1-based line number and reason.
    pub first_corrupt: Vec<(usize, String)>,
}

/// Why a journal could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("{file}: cannot read the journal: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: empty file, not a cutover journal (a journal starts with a header line)")]
    Empty { file: String },
    #[error(
        "{file}:{line}: not a cutover journal: the first line must be a header like \
         {{\"format\":\"cutover-journal\",\"version\":\"1.0\",...}} ({detail})"
    )]
    BadHeader {
        file: String,
        line: usize,
        detail: String,
    },
    #[error(
        "{file}: format version {version} is newer than this cutover understands ({supported}.x); \
         replay it with a newer cutover"
    )]
    NewerVersion {
        file: String,
        version: String,
        supported: u64,
    },
}

/// Read and parse the journal at `path`.
pub fn read_journal(path: &Path) -> Result<Journal, JournalError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| JournalError::Io {
        file: file.clone(),
        source,
    })?;
    parse_named(&bytes, &file)
}

/// Parse journal text (errors name it `journal`).
pub fn parse_journal(text: &str) -> Result<Journal, JournalError> {
    parse_named(text.as_bytes(), "journal")
}

/// Parse raw bytes (lines that are not UTF-8 are corrupt lines).
pub fn parse_journal_bytes(bytes: &[u8]) -> Result<Journal, JournalError> {
    parse_named(bytes, "journal")
}

/// The major part of a `MAJOR.MINOR` version, `None` when unreadable.
pub(crate) fn major(version: &str) -> Option<u64> {
    let (major, minor) = version.split_once('.').unwrap_or((version, "0"));
    minor.parse::<u64>().ok()?;
    major.parse().ok()
}

fn supported_major() -> u64 {
    major(JournalHeader::VERSION).unwrap_or(1)
}

/// What one line turned out to be.
enum Line {
    Event(Box<Event>),
    Header,
    Unknown,
    Corrupt(String),
}

fn parse_named(bytes: &[u8], file: &str) -> Result<Journal, JournalError> {
    let ends_with_newline = bytes.last() == Some(&b'\n');
    let mut lines = bytes.split(|&b| b == b'\n').enumerate().peekable();
    // The split yields one empty piece after a final newline; it is not a line.
    let total = bytes.split(|&b| b == b'\n').count();

    // Header: first non-blank line.
    let header = loop {
        let Some((i, raw)) = lines.next() else {
            return Err(JournalError::Empty {
                file: file.to_string(),
            });
        };
        let raw = raw.trim_ascii();
        if raw.is_empty() {
            continue;
        }
        break parse_header(raw, file, i + 1)?;
    };

    let mut journal = Journal {
        header,
        events: Vec::new(),
        corrupt_lines: 0,
        unknown_events: 0,
        truncated_tail: false,
        first_corrupt: Vec::new(),
    };
    for (i, raw) in lines {
        let is_last = i + 1 == total;
        let raw = raw.trim_ascii();
        if raw.is_empty() {
            continue;
        }
        match classify(raw) {
            Line::Event(mut e) => {
                e.clean_text();
                journal.events.push(*e);
            }
            Line::Header => {}
            Line::Unknown => journal.unknown_events += 1,
            Line::Corrupt(_) if is_last && !ends_with_newline => journal.truncated_tail = true,
            Line::Corrupt(reason) => {
                let reason = crate::text::clean_owned(reason);
                journal.corrupt_lines += 1;
                if journal.first_corrupt.len() < KEEP_CORRUPT {
                    journal.first_corrupt.push((i + 1, reason));
                }
            }
        }
    }
    Ok(journal)
}

fn parse_header(raw: &[u8], file: &str, line: usize) -> Result<JournalHeader, JournalError> {
    // The parser's and our own details quote the file: cleaned, as outside text.
    let bad = |detail: String| JournalError::BadHeader {
        file: file.to_string(),
        line,
        detail: crate::text::clean_owned(detail),
    };
    let value: serde_json::Value =
        serde_json::from_slice(raw).map_err(|e| bad(format!("not JSON: {e}")))?;
    let format = value.get("format").and_then(|f| f.as_str());
    if format != Some(JournalHeader::FORMAT) {
        return Err(bad(match format {
            Some(f) => format!("format is {f:?}"),
            None => "no \"format\" field".to_string(),
        }));
    }
    let version = value
        .get("version")
        .and_then(|v| v.as_str())
        .ok_or_else(|| bad("no \"version\" string".to_string()))?;
    match major(version) {
        None => return Err(bad(format!("version {version:?} is not MAJOR.MINOR"))),
        Some(m) if m > supported_major() => {
            return Err(JournalError::NewerVersion {
                file: file.to_string(),
                version: crate::text::clean(version).into_owned(),
                supported: supported_major(),
            });
        }
        Some(m) if m < supported_major() => {
            return Err(bad(format!("version {version:?} is older than 1.0")));
        }
        Some(_) => {}
    }
    let mut header: JournalHeader =
        serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
    header.clean_text();
    Ok(header)
}

fn classify(raw: &[u8]) -> Line {
    // Fast path: the overwhelming majority of lines are valid events.
    let err = match serde_json::from_slice::<Event>(raw) {
        Ok(e) => return Line::Event(Box::new(e)),
        Err(e) => e,
    };
    let value: serde_json::Value = match serde_json::from_slice(raw) {
        Ok(v) => v,
        Err(e) => return Line::Corrupt(format!("not JSON: {e}")),
    };
    let Some(obj) = value.as_object() else {
        return Line::Corrupt("not a JSON object".to_string());
    };
    if obj.get("format").and_then(|f| f.as_str()) == Some(JournalHeader::FORMAT) {
        return Line::Header;
    }
    match obj.get("type").and_then(|t| t.as_str()) {
        Some(t) if !KNOWN_TYPES.contains(&t) => Line::Unknown,
        Some(_) => Line::Corrupt(err.to_string()),
        None => Line::Corrupt("no event \"type\"".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majors() {
        assert_eq!(major("1.0"), Some(1));
        assert_eq!(major("1.12"), Some(1));
        assert_eq!(major("2"), Some(2));
        assert_eq!(major("x.1"), None);
        assert_eq!(major("1.x"), None);
        assert_eq!(major(""), None);
    }
}
