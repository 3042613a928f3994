//! Frame export: `buffer_to_ansi` round-trips through an ANSI parser back to
//! the same buffer (colours, modifiers, wide characters), `write_asciicast`
//! writes valid asciicast v2, and `asciinema cat` accepts it where installed;
//! a control character in a cell is written as its picture.

use cutover::journal::{CastMeta, buffer_to_ansi, write_asciicast, write_asciicast_with};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use unicode_width::UnicodeWidthStr;

/// Parse what `buffer_to_ansi` emits (SGR sequences, `\r\n`, text) into a
/// buffer the way a terminal would lay it out.
fn ansi_to_buffer(text: &str, width: u16, height: u16) -> Buffer {
    let mut buf = Buffer::empty(Rect::new(0, 0, width, height));
    let (mut x, mut y) = (0u16, 0u16);
    let (mut fg, mut bg, mut modifier) = (Color::Reset, Color::Reset, Modifier::empty());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                assert_eq!(chars.next(), Some('['));
                let mut params = String::new();
                let end = loop {
                    let c = chars.next().expect("unterminated escape");
                    if c.is_ascii_alphabetic() {
                        break c;
                    }
                    params.push(c);
                };
                assert_eq!(end, 'm', "only SGR expected, got {params}{end}");
                let codes: Vec<u8> = params.split(';').map(|p| p.parse().unwrap()).collect();
                let mut i = 0;
                while i < codes.len() {
                    let extended = |i: &mut usize| -> Color {
                        match codes[*i + 1] {
                            5 => {
                                *i += 2;
                                Color::Indexed(codes[*i])
                            }
                            2 => {
                                *i += 4;
                                Color::Rgb(codes[*i - 2], codes[*i - 1], codes[*i])
                            }
                            other => panic!("bad extended colour {other}"),
                        }
                    };
                    match codes[i] {
                        0 => (fg, bg, modifier) = (Color::Reset, Color::Reset, Modifier::empty()),
                        1 => modifier |= Modifier::BOLD,
                        2 => modifier |= Modifier::DIM,
                        3 => modifier |= Modifier::ITALIC,
                        4 => modifier |= Modifier::UNDERLINED,
                        5 => modifier |= Modifier::SLOW_BLINK,
                        6 => modifier |= Modifier::RAPID_BLINK,
                        7 => modifier |= Modifier::REVERSED,
                        8 => modifier |= Modifier::HIDDEN,
                        9 => modifier |= Modifier::CROSSED_OUT,
                        n @ 30..=37 => fg = basic(n - 30, false),
                        n @ 90..=97 => fg = basic(n - 90, true),
                        n @ 40..=47 => bg = basic(n - 40, false),
                        n @ 100..=107 => bg = basic(n - 100, true),
                        38 => fg = extended(&mut i),
                        48 => bg = extended(&mut i),
                        other => panic!("unexpected SGR code {other}"),
                    }
                    i += 1;
                }
            }
            '\r' => {
                assert_eq!(chars.next(), Some('\n'));
                x = 0;
                y += 1;
            }
            c => {
                let s = c.to_string();
                let cell = &mut buf[(x, y)];
                cell.set_symbol(&s);
                cell.fg = fg;
                cell.bg = bg;
                cell.modifier = modifier;
                let w = s.width().max(1) as u16;
                for k in 1..w {
                    buf[(x + k, y)].reset();
                }
                x += w;
            }
        }
    }
    buf
}

fn basic(n: u8, bright: bool) -> Color {
    const NORMAL: [Color; 8] = [
        Color::Black,
        Color::Red,
        Color::Green,
        Color::Yellow,
        Color::Blue,
        Color::Magenta,
        Color::Cyan,
        Color::Gray,
    ];
    const BRIGHT: [Color; 8] = [
        Color::DarkGray,
        Color::LightRed,
        Color::LightGreen,
        Color::LightYellow,
        Color::LightBlue,
        Color::LightMagenta,
        Color::LightCyan,
        Color::White,
    ];
    if bright {
        BRIGHT[n as usize]
    } else {
        NORMAL[n as usize]
    }
}

fn cockpit_like_buffer() -> Buffer {
    let mut buf = Buffer::empty(Rect::new(0, 0, 30, 4));
    buf.set_string(
        0,
        0,
        "cutover ▸ shop",
        Style::default()
            .fg(Color::Cyan)
            .add_modifier(Modifier::BOLD),
    );
    buf.set_string(
        16,
        0,
        "CANARY",
        Style::default().fg(Color::Black).bg(Color::LightYellow),
    );
    buf.set_string(
        0,
        1,
        "p99 12ms",
        Style::default().fg(Color::Rgb(250, 128, 7)),
    );
    buf.set_string(
        10,
        1,
        "█▇▅▃",
        Style::default()
            .fg(Color::Indexed(208))
            .bg(Color::Indexed(17)),
    );
    buf.set_string(
        0,
        2,
        "片 wide 日本",
        Style::default().add_modifier(Modifier::ITALIC | Modifier::UNDERLINED | Modifier::REVERSED),
    );
    buf.set_string(
        0,
        3,
        "rolled back",
        Style::default()
            .fg(Color::Red)
            .add_modifier(Modifier::CROSSED_OUT | Modifier::DIM),
    );
    buf.set_string(
        20,
        3,
        "ok",
        Style::default().fg(Color::Green).bg(Color::Gray),
    );
    buf
}

#[test]
fn ansi_round_trips_to_the_same_buffer() {
    let buf = cockpit_like_buffer();
    let ansi = buffer_to_ansi(&buf);
    assert_eq!(ansi.matches("\r\n").count(), 3);
    let back = ansi_to_buffer(&ansi, 30, 4);
    assert_eq!(back, buf);
}

#[test]
fn ansi_of_a_tiny_buffer_is_exactly_this() {
    let mut buf = Buffer::empty(Rect::new(0, 0, 4, 2));
    buf.set_string(
        1,
        0,
        "ab",
        Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
    );
    buf.set_string(0, 1, "x", Style::default().bg(Color::Rgb(1, 2, 3)));
    assert_eq!(
        buffer_to_ansi(&buf),
        "\x1b[0m \x1b[0;1;31mab\x1b[0m \r\n\x1b[0;48;2;1;2;3mx\x1b[0m   "
    );
}

/// Defence in depth: a control character that reached a cell (outside
/// text is cleaned before it gets that far) is written as its picture, one
/// column each, never passed on; the cast holds only the renderer's SGR.
#[test]
fn a_control_character_in_a_cell_is_written_as_its_picture() {
    let mut buf = Buffer::empty(Rect::new(0, 0, 6, 1));
    for (x, symbol) in ["a", "\u{1b}", "]", "\u{7}", "\u{9b}", "b"]
        .iter()
        .enumerate()
    {
        buf[(x as u16, 0)].set_symbol(symbol);
    }
    let text = buffer_to_ansi(&buf);
    assert_eq!(text, "\u{1b}[0ma␛]␇\u{fffd}b");
    assert_eq!(ansi_to_buffer(&text, 6, 1)[(1, 0)].symbol(), "␛");
}

#[test]
fn a_buffer_not_at_the_origin_is_read_from_its_own_area() {
    let mut buf = Buffer::empty(Rect::new(5, 3, 3, 1));
    buf.set_string(5, 3, "abc", Style::default());
    assert_eq!(buffer_to_ansi(&buf), "\x1b[0mabc");
}

fn frames() -> Vec<(f64, String)> {
    let mut a = cockpit_like_buffer();
    let first = buffer_to_ansi(&a);
    a.set_string(16, 0, "IDLE  ", Style::default());
    let second = buffer_to_ansi(&a);
    vec![
        (0.0, first.clone()),
        (0.5, first), // unchanged: not written again
        (1.25, second.clone()),
        (f64::NAN, second.clone() + " "),
        (0.75, second + "  "), // backwards: clamped
    ]
}

#[test]
fn the_cast_has_a_v2_header_and_one_line_per_changed_frame() {
    let meta = CastMeta {
        width: 30,
        height: 4,
        timestamp: 1_770_000_000,
        title: "cutover replay".into(),
    };
    let mut out = Vec::new();
    write_asciicast_with(frames().into_iter(), &meta, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["version"], 2);
    assert_eq!(lines[0]["width"], 30);
    assert_eq!(lines[0]["height"], 4);
    assert_eq!(lines[0]["timestamp"], 1_770_000_000);
    assert_eq!(lines[0]["title"], "cutover replay");
    let times: Vec<f64> = lines[1..].iter().map(|l| l[0].as_f64().unwrap()).collect();
    assert_eq!(times, vec![0.0, 1.25, 1.25, 1.25]);
    for l in &lines[1..] {
        assert_eq!(l[1], "o");
        assert!(l[2].as_str().unwrap().starts_with("\x1b[2J\x1b[H"));
    }
    // The frame text survives JSON escaping.
    let first = lines[1][2]
        .as_str()
        .unwrap()
        .strip_prefix("\x1b[2J\x1b[H")
        .unwrap();
    assert_eq!(ansi_to_buffer(first, 30, 4), cockpit_like_buffer());
}

#[test]
fn asciinema_cat_reads_the_cast() {
    let status = std::process::Command::new("asciinema")
        .arg("--version")
        .output();
    if !status.is_ok_and(|o| o.status.success()) {
        eprintln!("skipping: asciinema is not installed (CI installs the Debian package)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.cast");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    write_asciicast(frames().into_iter(), 30, 4, &mut file).unwrap();
    drop(file);
    // `asciinema cat` opens /dev/tty; give it a pseudo-terminal with
    // util-linux `script` (-e: its exit code is asciinema's).
    let has_script = std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let out = if has_script {
        std::process::Command::new("script")
            .args([
                "-qec",
                &format!("asciinema cat '{}'", path.display()),
                "/dev/null",
            ])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    } else {
        std::process::Command::new("asciinema")
            .arg("cat")
            .arg(&path)
            .output()
            .unwrap()
    };
    assert!(
        out.status.success(),
        "asciinema cat failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("CANARY") && shown.contains("IDLE"),
        "{shown}"
    );
}

/// A cast that cannot be written completely is an error, never a success
/// with a truncated file (`/dev/full` fails every write with ENOSPC).
#[test]
fn export_reports_a_failed_write() {
    if !std::path::Path::new("/dev/full").exists() {
        eprintln!("skipping: no /dev/full here");
        return;
    }
    let journal =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("recordings/rollback.jsonl");
    let err = cutover::journal::export::export(
        &journal,
        std::path::Path::new("/dev/full"),
        120,
        36,
        None,
    )
    .expect_err("writing to a full disk fails");
    assert!(err.to_string().contains("cannot write /dev/full"), "{err}");
}
