//! `cutover export FILE --asciicast OUT.cast`: a recording rendered frame by
//! frame through the very cockpit that plays it (a [`ReplaySession`] and
//! [`render_frame`]), written as an asciicast v2 file that `asciinema play`
//! shows. Deterministic: the same journal gives the same bytes.

use super::asciicast::{CastMeta, buffer_to_ansi, write_asciicast_with};
use crate::tui::{ReplaySession, render_frame};
use color_eyre::eyre::{Result, WrapErr, eyre};
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

/// Journal time between two frames.
const FRAME_EVERY: Duration = Duration::from_millis(250);

/// What an export wrote.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ExportReport {
    pub frames: usize,
    pub duration_ms: u64,
    pub bytes: u64,
}

/// `WIDTHxHEIGHT`, at least 80×24 (what the cockpit needs).
pub fn parse_size(s: &str) -> Result<(u16, u16)> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| eyre!("--size {s:?}: expected WIDTHxHEIGHT, e.g. 120x36"))?;
    let (w, h): (u16, u16) = (
        w.trim()
            .parse()
            .map_err(|_| eyre!("--size {s:?}: {w:?} is not a width"))?,
        h.trim()
            .parse()
            .map_err(|_| eyre!("--size {s:?}: {h:?} is not a height"))?,
    );
    if w < 80 || h < 24 {
        return Err(eyre!("--size {s}: the cockpit needs at least 80x24"));
    }
    if w > 500 || h > 200 {
        return Err(eyre!("--size {s}: at most 500x200"));
    }
    Ok((w, h))
}

/// Render `journal` into an asciicast at `out`.
pub fn export(
    journal: &Path,
    out: &Path,
    width: u16,
    height: u16,
    theme: Option<&str>,
) -> Result<ExportReport> {
    let recording = super::read_journal(journal)?;
    if recording.events.is_empty() {
        return Err(eyre!(
            "{}: the recording holds no events",
            journal.display()
        ));
    }
    let meta = CastMeta {
        width,
        height,
        timestamp: recording.header.started_at.timestamp(),
        title: format!(
            "cutover — {} ({})",
            recording.header.service,
            journal.display()
        ),
    };
    let theme = crate::tui::Theme::load(theme.unwrap_or("dark"), None, false)?;
    let keymap = crate::tui::keymap::Keymap::default();
    let config = crate::tui::config::Config::default();
    let name = journal.file_name().map_or_else(
        || journal.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut session = ReplaySession::new(recording, &name, keymap, config, 1.0);
    session.app_mut().set_size(width, height);
    let mut frames = Vec::new();
    let mut t = Duration::ZERO;
    loop {
        let buf = render_frame(session.app(), &theme, width, height);
        frames.push((t.as_secs_f64(), buffer_to_ansi(&buf)));
        if session.at_end() {
            break;
        }
        session.tick(FRAME_EVERY);
        t += FRAME_EVERY;
    }
    let count = frames.len();
    let file =
        std::fs::File::create(out).wrap_err_with(|| format!("cannot write {}", out.display()))?;
    let mut w = std::io::BufWriter::new(file);
    write_asciicast_with(frames.into_iter(), &meta, &mut w)?;
    drop(w);
    Ok(ExportReport {
        frames: count,
        duration_ms: session.duration().as_millis() as u64,
        bytes: std::fs::metadata(out).map(|m| m.len()).unwrap_or(0),
    })
}

/// The `export` verb.
pub fn run(args: &crate::cli::ExportArgs) -> Result<()> {
    let (w, h) = parse_size(&args.size)?;
    let report = export(&args.file, &args.asciicast, w, h, args.theme.as_deref())?;
    eprintln!(
        "cutover: wrote {} ({} frames, {:.1} s of recording, {} KiB); play it with `asciinema play {}`",
        args.asciicast.display(),
        report.frames,
        report.duration_ms as f64 / 1000.0,
        report.bytes / 1024,
        args.asciicast.display()
    );
    Ok(())
}
