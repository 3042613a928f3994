//! Text from outside the binary, made safe to draw on a terminal.
//!
//! A terminal obeys the control characters in what it is sent: `ESC ]0;…BEL`
//! retitles the window, `ESC [2J` clears the screen, `ESC ]52;c;…` writes the
//! clipboard, and C1 bytes (U+0080–U+009F, e.g. U+009B, a one-byte CSI) do the
//! same on terminals that honour them. Text that comes from outside cutover
//! (an admin API caller's `reason`, a replica's logs, a hook's output, an
//! engine's error message, a journal someone hands you) must never carry
//! them to the operator's screen or into an exported cast.
//!
//! [`clean`] shows every such character instead of passing it on: C0
//! controls as their Unicode control pictures (`␛` for ESC, `␇` for BEL,
//! `␊` for a newline inside a one-line field), DEL as `␡`, C1 controls as
//! `\u{9b}`-style escapes (they have no pictures). A tab becomes one space:
//! it is whitespace the text meant, and a picture in every indented log line
//! would be noise. Everything else, printable text included, is left exactly
//! as it was, and cleaning twice changes nothing more
//! (`tests/text_sanitize.rs` holds a proptest of all three).
//!
//! Fields that are legitimately several lines (a hook's output, a log
//! chunk) are split into lines first ([`lines`], [`one_line`]), so their
//! newlines separate lines instead of turning into pictures.
//!
//! It is applied once, where each outside string enters the model: the
//! admin API's request fields, the runtimes' logs and engine messages, the
//! health checker's texts, hook output, and every event read back from a
//! journal or an event stream ([`CleanText`], in `model.rs` here). The
//! places that draw (`tui`, `journal::asciicast`) replace any control
//! character that still reaches a cell as a last line of defence.

mod model;

pub use model::CleanText;

use std::borrow::Cow;

/// Whether a terminal would act on `c` instead of drawing it: C0
/// (U+0000–U+001F), DEL (U+007F) and C1 (U+0080–U+009F). Exactly Rust's
/// [`char::is_control`] (the Unicode `Cc` category), spelled out.
pub fn is_control(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}' | '\u{80}'..='\u{9f}')
}

/// Whether `s` holds any character [`is_control`] would flag.
pub fn has_control(s: &str) -> bool {
    s.chars().any(is_control)
}

/// `s` with every control character shown instead of obeyed (see the module
/// doc). Borrows when there is nothing to change, which is nearly always.
pub fn clean(s: &str) -> Cow<'_, str> {
    if !has_control(s) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        push_shown(&mut out, c);
    }
    Cow::Owned(out)
}

/// [`clean`] for an owned string: no copy when it is already clean.
pub fn clean_owned(s: String) -> String {
    match clean(&s) {
        Cow::Borrowed(_) => s,
        Cow::Owned(o) => o,
    }
}

/// Clean `s` in place (no allocation when it is already clean).
pub fn clean_in_place(s: &mut String) {
    if has_control(s) {
        *s = clean(s).into_owned();
    }
}

/// The lines of a multi-line text, each cleaned: split at `\n` (a `\r`
/// before it is part of the line ending), so line breaks stay breaks and
/// only what is inside a line is shown as pictures.
pub fn lines(s: &str) -> impl Iterator<Item = String> + '_ {
    s.lines().map(|l| clean(l).into_owned())
}

/// A multi-line text as one line: its cleaned [`lines`], blank ones
/// dropped, joined with ` | ` (how one-line fields quote a child's output).
pub fn one_line(s: &str) -> String {
    lines(s)
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join(" | ")
}

/// A rendered cell's symbol as it may be written to a terminal or a cast:
/// unchanged unless it holds a control character, which then becomes one
/// column each (its picture, or `�` for a C1 control), so a cell never
/// grows past its neighbours. The last line of defence where frames are
/// written ([`crate::journal::buffer_to_ansi`], the cockpit's backend).
pub fn cell_symbol(symbol: &str) -> Cow<'_, str> {
    if !has_control(symbol) {
        return Cow::Borrowed(symbol);
    }
    Cow::Owned(
        symbol
            .chars()
            .map(|c| match c {
                '\u{80}'..='\u{9f}' => '\u{fffd}',
                c if is_control(c) => {
                    let mut one = String::new();
                    push_shown(&mut one, c);
                    one.chars().next().unwrap_or('\u{fffd}')
                }
                c => c,
            })
            .collect(),
    )
}

fn push_shown(out: &mut String, c: char) {
    match c {
        '\t' => out.push(' '),
        // U+2400 CONTROL PICTURES: ␀ ␁ … ␛ … ␟, in code point order.
        '\u{0}'..='\u{1f}' => out.push(char::from_u32(0x2400 + c as u32).unwrap_or('?')),
        '\u{7f}' => out.push('␡'),
        '\u{80}'..='\u{9f}' => {
            use std::fmt::Write as _;
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
        c => out.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issues_payload_is_shown_not_obeyed() {
        let payload = "\u{1b}]0;PWNED\u{7}\u{1b}[2J\u{1b}]52;c;cHduZWQ=\u{7}";
        assert_eq!(clean(payload), "␛]0;PWNED␇␛[2J␛]52;c;cHduZWQ=␇");
        assert_eq!(clean("a\u{9b}2Jb\u{7f}"), "a\\u{9b}2Jb␡");
        assert_eq!(clean("col1\tcol2\r\n"), "col1 col2␍␊");
    }

    #[test]
    fn clean_text_is_borrowed_untouched() {
        for s in ["", "plain", "naïve ✓ — 漢字 🚀", "␛ already a picture"] {
            assert!(matches!(clean(s), Cow::Borrowed(t) if t == s), "{s}");
        }
    }

    #[test]
    fn lines_keep_their_breaks_and_lose_their_controls() {
        let text = "first\r\nsecond \u{1b}[31mred\u{1b}[0m\n\nthird\u{7}";
        assert_eq!(
            lines(text).collect::<Vec<_>>(),
            vec!["first", "second ␛[31mred␛[0m", "", "third␇"]
        );
        assert_eq!(one_line(text), "first | second ␛[31mred␛[0m | third␇");
    }
}
