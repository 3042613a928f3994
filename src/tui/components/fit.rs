//! Making a line fit its width without cutting what an operator needs in
//! the middle of a word. Two tools:
//!
//! - [`squeeze`]: a line is a row of pieces, each with shorter variants
//!   (down to nothing for the optional ones), and an order in which they
//!   give way: the clock loses its seconds before the runtime's name goes.
//! - [`words`] / [`wrap`]: free text shortened or wrapped at a word
//!   boundary, ending with `…` when shortened.
//!
//! Widths are display columns (`unicode-width`, as ratatui counts them), so
//! `⚡` counts two and `…` one.

use ratatui::text::Span;
use unicode_width::UnicodeWidthStr;

/// Display columns of `s`.
pub fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// Columns of a run of spans.
pub fn spans_width(spans: &[Span]) -> usize {
    spans.iter().map(|s| s.width()).sum()
}

/// One piece of a line: its variants from the fullest to the shortest.
/// An empty last variant makes the piece optional.
#[derive(Clone, Debug, Default)]
pub struct Piece<'a> {
    pub variants: Vec<Vec<Span<'a>>>,
}

impl<'a> Piece<'a> {
    /// A piece that is always shown as is.
    pub fn fixed(spans: Vec<Span<'a>>) -> Piece<'a> {
        Piece {
            variants: vec![spans],
        }
    }

    /// A piece with shorter forms, tried in order.
    pub fn shrinking(variants: Vec<Vec<Span<'a>>>) -> Piece<'a> {
        Piece { variants }
    }

    /// A piece that can go entirely.
    pub fn optional(spans: Vec<Span<'a>>) -> Piece<'a> {
        Piece {
            variants: vec![spans, Vec::new()],
        }
    }
}

/// Choose a variant of each piece so the whole fits `width`: start from
/// the fullest, then step pieces to their next variant in `order` (an
/// index may appear more than once, one step each) until it fits. Returns
/// the chosen variant of each piece; when even the shortest forms are too
/// wide, the shortest forms (the caller's last resort is clipping).
pub fn choose(pieces: &[Piece], order: &[usize], width: usize) -> Vec<usize> {
    let mut chosen = vec![0usize; pieces.len()];
    let total = |chosen: &[usize]| -> usize {
        pieces
            .iter()
            .zip(chosen)
            .map(|(p, &v)| p.variants.get(v).map_or(0, |s| spans_width(s)))
            .sum()
    };
    for &i in order {
        if total(&chosen) <= width {
            break;
        }
        if let Some(p) = pieces.get(i)
            && chosen[i] + 1 < p.variants.len()
        {
            chosen[i] += 1;
        }
    }
    chosen
}

/// [`choose`], then the chosen spans in order.
pub fn squeeze<'a>(pieces: Vec<Piece<'a>>, order: &[usize], width: usize) -> Vec<Span<'a>> {
    let chosen = choose(&pieces, order, width);
    pieces
        .into_iter()
        .zip(chosen)
        .flat_map(|(p, v)| p.variants.into_iter().nth(v).unwrap_or_default())
        .collect()
}

/// Units that belong to the figure before them: `7.50 %` is one word to
/// a reader, and is never split or cut between number and unit.
const UNITS: [&str; 10] = [
    "%", "ms", "s", "req/s", "KiB", "MiB", "GiB", "‰", "cpu", "×",
];

/// Whether a line may break at the space before byte `i` of `s`.
fn breakable(s: &str, i: usize) -> bool {
    let before = s[..i].trim_end();
    let next = s[i..].trim_start().split(' ').next().unwrap_or("");
    let glued = before.ends_with(|c: char| c.is_ascii_digit())
        && UNITS.contains(&next.trim_end_matches([',', ';', ')', '.']));
    !glued
}

/// `s` in at most `max` columns: whole if it fits, else cut after the last
/// whole word that leaves room for `…`. A first word longer than `max`
/// (a path, a URL) is cut inside it, as the only way to show anything.
pub fn words(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut best: Option<usize> = None;
    for (i, c) in s.char_indices() {
        if c == ' ' && i > 0 && breakable(s, i) {
            let head = s[..i].trim_end();
            if !head.is_empty() && width(head) < max {
                best = Some(head.len());
            }
        }
    }
    // Never end inside an aside: "… 10 s (limit…" says less than "… 10 s…".
    if let Some(end) = best {
        let head = &s[..end];
        if head.matches('(').count() > head.matches(')').count()
            && let Some(open) = head.rfind('(')
            && !head[..open].trim().is_empty()
        {
            best = Some(open);
        }
    }
    // A clause boundary late in what is kept reads better than a word
    // torn from its clause: "bake held…" rather than "bake held; guards…".
    if let Some(end) = best {
        let head = &s[..end];
        if let Some(at) = [", ", "; ", " — "]
            .iter()
            .filter_map(|p| head.rfind(p))
            .max()
            && at >= end / 2
        {
            best = Some(at);
        }
    }
    match best {
        Some(end) => {
            let head = s[..end]
                .trim_end_matches([' ', ',', ';', ':', '·', '—', '(', '→', '>', '<', '=', '/']);
            let head = if head.is_empty() { &s[..end] } else { head };
            format!("{}…", head.trim_end())
        }
        None => chars(s, max),
    }
}

/// `s` in at most `max` columns, cut at a character (for text without
/// words: ids, hashes), ending with `…` when cut.
pub fn chars(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = width(c.encode_utf8(&mut [0; 4]));
        if used + w + 1 > max {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// An image reference in at most `max` columns. Command lines (process
/// runtime) shorten at a word; a long registry path keeps its tail, since
/// the name and tag are what tell versions apart (`…/shop:1.5.0`).
pub fn image(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    if s.contains(' ') {
        return words(s, max);
    }
    let mut tail = s;
    while width(tail) + 1 > max {
        match tail.split_once('/') {
            Some((_, rest)) => tail = rest,
            None => return chars(s, max),
        }
    }
    format!("…{tail}")
}

/// Wrap `s` into lines of at most `max` columns at word boundaries; a word
/// longer than a line is broken inside. At most `lines` lines: the last one
/// ends with `…` when text was left over.
pub fn wrap(s: &str, max: usize, lines: usize) -> Vec<String> {
    if max == 0 || lines == 0 {
        return Vec::new();
    }
    let mut tokens: Vec<&str> = Vec::new();
    for mut word in glued_words(s) {
        while width(word) > max {
            let cut = split_at_width(word, max);
            tokens.push(&word[..cut]);
            word = &word[cut..];
        }
        if !word.is_empty() {
            tokens.push(word);
        }
    }
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    for (i, token) in tokens.iter().enumerate() {
        if current.is_empty() {
            current.push_str(token);
        } else if width(&current) + 1 + width(token) <= max {
            current.push(' ');
            current.push_str(token);
        } else {
            out.push(std::mem::take(&mut current));
            if out.len() == lines {
                let last = out.pop().unwrap_or_default();
                out.push(words(&format!("{last} {}", tokens[i..].join(" ")), max));
                return out;
            }
            current.push_str(token);
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The words of `s`, a figure and its unit kept together as one.
fn glued_words(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut last_end = 0;
    for (i, c) in s.char_indices() {
        if c == ' ' {
            if let Some(st) = start
                && breakable(s, i)
            {
                out.push(&s[st..i]);
                start = None;
            }
        } else if start.is_none() {
            start = Some(i);
        }
        last_end = i + c.len_utf8();
    }
    if let Some(st) = start {
        out.push(s[st..last_end].trim_end());
    }
    out
}

/// The byte length of the longest prefix of `s` at most `max` columns
/// wide (at least one character, so wrapping always moves on).
fn split_at_width(s: &str, max: usize) -> usize {
    let mut used = 0;
    for (i, c) in s.char_indices() {
        let w = width(c.encode_utf8(&mut [0; 4]));
        if used + w > max {
            return if i == 0 { c.len_utf8() } else { i };
        }
        used += w;
    }
    s.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_shorten_at_a_word_boundary() {
        assert_eq!(
            words("phase warming → canary (warm-up done)", 100),
            "phase warming → canary (warm-up done)"
        );
        assert_eq!(
            words("phase warming → canary (warm-up done)", 24),
            "phase warming → canary…"
        );
        assert_eq!(
            words("phase warming → canary (warm-up done)", 20),
            "phase warming…"
        );
        assert_eq!(
            words("resume ✓ steps and bake resume", 18),
            "resume ✓ steps…"
        );
        // One long word: cut inside, the only way to show anything.
        assert_eq!(words("c0ffee1234567890", 8), "c0ffee1…");
        assert_eq!(words("abc", 0), "");
        // A figure and its unit are one word.
        assert_eq!(
            words("✗ BREACH error rate 7.50 % > 5.00 % → rollback", 25),
            "✗ BREACH error rate…"
        );
        assert_eq!(
            words("p99 58 ms over 10 s (limit 300 ms)", 22),
            "p99 58 ms over 10 s…"
        );
        assert_eq!(
            words("p99 58 ms over 10 s (limit 300 ms)", 30),
            "p99 58 ms over 10 s…"
        );
    }

    #[test]
    fn images_keep_their_name_and_tag() {
        assert_eq!(image("shop:1.5.0", 20), "shop:1.5.0");
        assert_eq!(
            image("registry.example.com/team/shop:1.5.0", 16),
            "…team/shop:1.5.0"
        );
        assert_eq!(
            image("registry.example.com/team/shop:1.5.0", 12),
            "…shop:1.5.0"
        );
        assert_eq!(
            image("cutover demo-app --bind 127.0.0.1 --port {port}", 40),
            "cutover demo-app --bind 127.0.0.1…"
        );
    }

    #[test]
    fn wrap_breaks_at_words_and_marks_what_is_left() {
        assert_eq!(
            wrap(
                "canary 25 % → 0 %, drain shop:1.5.0 (1 replica), remove it",
                30,
                5
            ),
            vec![
                "canary 25 % → 0 %, drain",
                "shop:1.5.0 (1 replica), remove",
                "it"
            ]
        );
        assert_eq!(
            wrap("one two three four five six", 9, 2),
            vec!["one two", "three…"]
        );
        assert_eq!(wrap("abcdefghij", 4, 5), vec!["abcd", "efgh", "ij"]);
        assert_eq!(wrap("short", 10, 1), vec!["short"]);
        assert!(wrap("", 10, 3).is_empty());
        assert_eq!(
            wrap("error rate 7.50 % > 5.00 %", 16, 3),
            vec!["error rate", "7.50 % > 5.00 %"]
        );
    }

    #[test]
    fn squeeze_gives_way_in_the_stated_order() {
        let pieces = || {
            vec![
                Piece::fixed(vec![Span::raw("shop ")]),
                Piece::optional(vec![Span::raw("release 3 ")]),
                Piece::fixed(vec![Span::raw("docker ")]),
                Piece::shrinking(vec![
                    vec![Span::raw("12:00:00 UTC")],
                    vec![Span::raw("12:00 UTC")],
                    vec![Span::raw("12:00")],
                ]),
            ]
        };
        let text = |w| {
            squeeze(pieces(), &[3, 1, 3], w)
                .iter()
                .map(|s| s.content.to_string())
                .collect::<String>()
        };
        assert_eq!(text(40), "shop release 3 docker 12:00:00 UTC");
        assert_eq!(text(31), "shop release 3 docker 12:00 UTC");
        assert_eq!(text(25), "shop docker 12:00 UTC");
        assert_eq!(text(17), "shop docker 12:00");
        // Nothing left to give: the shortest forms.
        assert_eq!(text(5), "shop docker 12:00");
    }
}
