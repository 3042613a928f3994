//! Rendered frames → asciicast v2, the format `asciinema play` shows.
//!
//! The export verb renders the replay cockpit into a `ratatui` [`Buffer`]
//! per frame; [`buffer_to_ansi`] turns a buffer into plain ANSI text (SGR
//! colours and modifiers, rows separated by `\r\n`) and [`write_asciicast`]
//! writes a header line and one `[seconds, "o", text]` line per frame, each
//! frame drawn from a cleared screen so any frame can be shown on its own.
//! Consecutive identical frames are written once: a still cockpit costs
//! nothing.
//!
//! A cast must hold nothing but what the renderer drew: the only escape
//! sequences in it are the SGR and clear-screen ones written here. Text is
//! cleaned where it enters the model (`crate::text`); should a control
//! character still reach a cell, [`buffer_to_ansi`] writes its picture
//! instead ([`crate::text::cell_symbol`]), and the header's title is cleaned
//! too.

use ratatui::buffer::{Buffer, Cell, CellDiffOption};
use ratatui::style::{Color, Modifier};
use serde::Serialize;
use std::fmt::Write as _;
use std::io::{self, Write};
use unicode_width::UnicodeWidthStr;

/// Clear the screen, cursor home.
const CLEAR_HOME: &str = "\x1b[2J\x1b[H";
const RESET: &str = "\x1b[0m";

/// The header fields of a cast.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CastMeta {
    pub width: u16,
    pub height: u16,
    /// Unix seconds of the recording's start.
    pub timestamp: i64,
    pub title: String,
}

#[derive(Serialize)]
struct Header<'a> {
    version: u8,
    width: u16,
    height: u16,
    timestamp: i64,
    title: &'a str,
    env: Env,
}

#[derive(Serialize)]
struct Env {
    #[serde(rename = "TERM")]
    term: &'static str,
}

/// Write a cast stamped now, titled `cutover`. See [`write_asciicast_with`].
pub fn write_asciicast(
    frames: impl Iterator<Item = (f64, String)>,
    width: u16,
    height: u16,
    out: &mut impl Write,
) -> io::Result<()> {
    let meta = CastMeta {
        width,
        height,
        timestamp: chrono::Utc::now().timestamp(),
        title: "cutover".to_string(),
    };
    write_asciicast_with(frames, &meta, out)
}

/// Write an asciicast v2 stream: the header, then each frame (seconds from
/// the start, full-screen ANSI text) as clear-screen + home + text. Times
/// that are not finite or go backwards are clamped to the previous frame's,
/// so the file is always playable.
pub fn write_asciicast_with(
    frames: impl Iterator<Item = (f64, String)>,
    meta: &CastMeta,
    out: &mut impl Write,
) -> io::Result<()> {
    let header = Header {
        version: 2,
        width: meta.width,
        height: meta.height,
        timestamp: meta.timestamp,
        title: &crate::text::clean(&meta.title),
        env: Env {
            term: "xterm-256color",
        },
    };
    serde_json::to_writer(&mut *out, &header).map_err(io::Error::other)?;
    out.write_all(b"\n")?;
    let mut last_t = 0.0_f64;
    let mut last_frame: Option<String> = None;
    for (t, frame) in frames {
        if last_frame.as_deref() == Some(frame.as_str()) {
            continue;
        }
        let t = if t.is_finite() { t.max(last_t) } else { last_t };
        last_t = t;
        // Millisecond precision keeps files small and diffs stable.
        let t = (t * 1000.0).round() / 1000.0;
        let text = format!("{CLEAR_HOME}{frame}");
        serde_json::to_writer(&mut *out, &(t, "o", text)).map_err(io::Error::other)?;
        out.write_all(b"\n")?;
        last_frame = Some(frame);
    }
    out.flush()
}

/// A buffer as ANSI text: each cell's symbol with SGR sequences for its
/// foreground, background and modifiers (emitted only when they change),
/// rows separated by `\r\n`, attributes reset at the end of every row.
/// Wide characters cover the cells after them, which are not written.
pub fn buffer_to_ansi(buf: &Buffer) -> String {
    let area = buf.area;
    let mut out = String::with_capacity(usize::from(area.width) * usize::from(area.height) * 2);
    for row in 0..area.height {
        if row > 0 {
            out.push_str("\r\n");
        }
        let mut current: Option<(Color, Color, Modifier)> = None;
        let mut skip = 0usize;
        for col in 0..area.width {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let Some(cell) = buf.cell((area.x + col, area.y + row)) else {
                continue;
            };
            let style = (cell.fg, cell.bg, cell.modifier);
            if current != Some(style) {
                out.push_str(&sgr(cell.fg, cell.bg, cell.modifier));
                current = Some(style);
            }
            let symbol = cell.symbol();
            if skipped(cell) || symbol.is_empty() {
                out.push(' ');
                continue;
            }
            let symbol = crate::text::cell_symbol(symbol);
            out.push_str(&symbol);
            skip = symbol.width().saturating_sub(1);
        }
        if current.is_some_and(|s| s != (Color::Reset, Color::Reset, Modifier::empty())) {
            out.push_str(RESET);
        }
    }
    out
}

/// Whether ratatui's own diff leaves `cell` off the screen: it says so with
/// `CellDiffOption::Skip`, or with the deprecated `skip` flag when no other
/// diff option is set (ratatui 0.30's rule, as it reads both).
#[allow(deprecated)]
fn skipped(cell: &Cell) -> bool {
    matches!(cell.diff_option, CellDiffOption::Skip)
        || (cell.skip && matches!(cell.diff_option, CellDiffOption::None))
}

/// One SGR sequence setting exactly this style from scratch.
fn sgr(fg: Color, bg: Color, modifier: Modifier) -> String {
    let mut codes = String::from("0");
    for (flag, code) in [
        (Modifier::BOLD, "1"),
        (Modifier::DIM, "2"),
        (Modifier::ITALIC, "3"),
        (Modifier::UNDERLINED, "4"),
        (Modifier::SLOW_BLINK, "5"),
        (Modifier::RAPID_BLINK, "6"),
        (Modifier::REVERSED, "7"),
        (Modifier::HIDDEN, "8"),
        (Modifier::CROSSED_OUT, "9"),
    ] {
        if modifier.contains(flag) {
            codes.push(';');
            codes.push_str(code);
        }
    }
    color_code(&mut codes, fg, false);
    color_code(&mut codes, bg, true);
    format!("\x1b[{codes}m")
}

fn color_code(codes: &mut String, color: Color, background: bool) {
    let base = if background { 40 } else { 30 };
    let bright = if background { 100 } else { 90 };
    let _ = match color {
        Color::Reset => Ok(()),
        Color::Black => write!(codes, ";{}", base),
        Color::Red => write!(codes, ";{}", base + 1),
        Color::Green => write!(codes, ";{}", base + 2),
        Color::Yellow => write!(codes, ";{}", base + 3),
        Color::Blue => write!(codes, ";{}", base + 4),
        Color::Magenta => write!(codes, ";{}", base + 5),
        Color::Cyan => write!(codes, ";{}", base + 6),
        Color::Gray => write!(codes, ";{}", base + 7),
        Color::DarkGray => write!(codes, ";{}", bright),
        Color::LightRed => write!(codes, ";{}", bright + 1),
        Color::LightGreen => write!(codes, ";{}", bright + 2),
        Color::LightYellow => write!(codes, ";{}", bright + 3),
        Color::LightBlue => write!(codes, ";{}", bright + 4),
        Color::LightMagenta => write!(codes, ";{}", bright + 5),
        Color::LightCyan => write!(codes, ";{}", bright + 6),
        Color::White => write!(codes, ";{}", bright + 7),
        Color::Indexed(i) => write!(codes, ";{};5;{i}", base + 8),
        Color::Rgb(r, g, b) => write!(codes, ";{};2;{r};{g};{b}", base + 8),
    };
}
