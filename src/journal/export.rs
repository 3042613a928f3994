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

/// `WIDTHxHEIGHT`, from 80×24 (what the cockpit needs) to 500×200.
pub fn parse_size(s: &str) -> Result<(u16, u16), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("expected WIDTHxHEIGHT, e.g. 120x36, found {s:?}"))?;
    let (w, h): (u16, u16) = (
        w.trim()
            .parse()
            .map_err(|_| format!("{w:?} is not a width (expected WIDTHxHEIGHT, e.g. 120x36)"))?,
        h.trim()
            .parse()
            .map_err(|_| format!("{h:?} is not a height (expected WIDTHxHEIGHT, e.g. 120x36)"))?,
    );
    if w < 80 || h < 24 || w > 500 || h > 200 {
        return Err(format!(
            "expected a size from 80x24 (what the cockpit needs) to 500x200, found {s}"
        ));
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
    let config = crate::tui::config_file::Config::default();
    let name = journal.file_name().map_or_else(
        || journal.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut session = ReplaySession::new(recording, &name, keymap, config, 1.0);
    session.app_mut().set_size(width, height);
    let file =
        std::fs::File::create(out).wrap_err_with(|| format!("cannot write {}", out.display()))?;
    let mut w = std::io::BufWriter::new(file);
    // Frames are rendered as the writer asks for them and written at once:
    // an hour of recording never sits in memory as thousands of screens.
    let mut count = 0usize;
    let mut t = Duration::ZERO;
    let mut done = false;
    let frames = std::iter::from_fn(|| {
        if done {
            return None;
        }
        let buf = render_frame(session.app(), &theme, width, height);
        let frame = (t.as_secs_f64(), buffer_to_ansi(&buf));
        count += 1;
        if session.at_end() {
            done = true;
        } else {
            session.tick(FRAME_EVERY);
            t += FRAME_EVERY;
        }
        Some(frame)
    });
    let failed = |e: std::io::Error| eyre!("cannot write {}: {e}", out.display());
    write_asciicast_with(frames, &meta, &mut w).map_err(failed)?;
    // Flush and sync here, with the error reported: a cast cut short by a
    // full disk must not be announced as written.
    let file = w.into_inner().map_err(|e| failed(e.into_error()))?;
    let info = file.metadata().map_err(failed)?;
    if info.is_file() {
        // (A pipe or a device cannot be synced, and need not be.)
        file.sync_all().map_err(failed)?;
    }
    let bytes = info.len();
    Ok(ExportReport {
        frames: count,
        duration_ms: session.duration().as_millis() as u64,
        bytes,
    })
}

/// The `export` verb.
pub fn run(args: &crate::cli::ExportArgs) -> Result<()> {
    let (w, h) = (args.size.width, args.size.height);
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
