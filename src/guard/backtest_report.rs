//! A [`Backtest`] in words: one small table per release, what each guard
//! would have done next to what was recorded, then one sentence saying
//! whether the outcome would have been the same. Pure text; the verb prints
//! it, the tests read it.
//!
//! ```text
//! release 1 · canary v2 · first step 20:58:22 (0:07 into the recording) · 8.9 s judged
//!   recorded: rolled back at +7.8 s (max_error_ratio breach at +7.8 s)
//!   guard              threshold   would trip              recorded
//!   errors vs stable   off         off                     breach at +7.8 s
//!   latency vs stable  ×1.50       no (pass)               —
//!   p99 ceiling        50ms        at +3.0 s (20:58:25)    —
//!   → would roll back at +3.0 s by p99 ceiling; recorded: rolled back at +7.8 s — same outcome, 4.8 s sooner
//! ```

use super::backtest::{Backtest, EndStatus, GuardReplay, Moment, RecordedOutcome, ReleaseReplay};
use crate::plan::OnBreach;
use std::fmt::Write as _;

/// `+7.8 s`: a moment as an offset from the canary's first step.
pub fn after(m: &Moment) -> String {
    format!("+{:.1} s", m.after_ms as f64 / 1000.0)
}

/// The whole report; `recording` names the file in the first line and
/// `thresholds` says where the thresholds came from.
pub fn text(b: &Backtest, recording: &str, thresholds: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "cutover backtest {recording} — service {}, journal {}",
        b.service, b.journal_version
    );
    let _ = writeln!(out, "thresholds: {thresholds}");
    if b.releases.is_empty() {
        let _ = writeln!(
            out,
            "\nno release reached the canary's first step in this recording: nothing to judge"
        );
    }
    for r in &b.releases {
        out.push('\n');
        release(&mut out, r);
    }
    let _ = writeln!(out, "\nnotes:");
    for n in &b.notes {
        let _ = writeln!(out, "  · {n}");
    }
    out
}

fn release(out: &mut String, r: &ReleaseReplay) {
    let canary = r
        .canary
        .as_ref()
        .map(|v| format!(" · canary {v}"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "release {}{canary} · first step {} ({} into the recording) · {:.1} s judged, {} canary and {} stable requests",
        r.release,
        r.armed.at.format("%H:%M:%S"),
        clock(r.armed.recording_ms),
        r.judged_ms as f64 / 1000.0,
        r.traffic.canary.requests,
        r.traffic.stable.requests,
    );
    let _ = writeln!(out, "  recorded: {}", recorded(r));
    for a in &r.rearmed {
        let _ = writeln!(
            out,
            "  re-armed at {} ({}): the evidence starts over",
            after(&a.when),
            a.why
        );
    }
    let rows: Vec<[String; 4]> = r
        .guards
        .iter()
        .map(|g| {
            [
                g.guard.label().to_string(),
                g.threshold.clone(),
                would(g),
                g.recorded_breach
                    .map_or_else(|| "—".to_string(), |m| format!("breach at {}", after(&m))),
            ]
        })
        .collect();
    let head = [
        "guard".to_string(),
        "threshold".into(),
        "would trip".into(),
        "recorded".into(),
    ];
    let mut widths = [0usize; 4];
    for row in std::iter::once(&head).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&head).chain(&rows) {
        let mut line = String::from("  ");
        for (i, (w, cell)) in widths.iter().zip(row).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let pad = w - cell.chars().count();
                let _ = write!(line, "{cell}{}   ", " ".repeat(pad));
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    let _ = writeln!(out, "  → {}", verdict(r));
}

/// `m:ss` on the recording's timeline, as the replay shows it.
fn clock(ms: u64) -> String {
    let s = ms.div_ceil(1000);
    format!("{}:{:02}", s / 60, s % 60)
}

fn recorded(r: &ReleaseReplay) -> String {
    let end = match (r.recorded.outcome, &r.recorded.ended) {
        (RecordedOutcome::Running, _) | (_, None) => r.recorded.outcome.words().to_string(),
        (o, Some(m)) => format!("{} at {}", o.words(), after(m)),
    };
    let breaches: Vec<String> = r
        .recorded
        .breaches
        .iter()
        .map(|b| format!("{} breach at {}", b.guard.key(), after(&b.when)))
        .collect();
    if breaches.is_empty() {
        format!("{end}, no breach")
    } else {
        format!("{end} ({})", breaches.join(", "))
    }
}

/// The "would trip" cell.
fn would(g: &GuardReplay) -> String {
    let approx = if g.approximate { " ≈" } else { "" };
    match (&g.trip, g.end) {
        (Some(t), _) => format!(
            "at {} ({}){approx}",
            after(&t.when),
            t.when.at.format("%H:%M:%S")
        ),
        (None, EndStatus::Off) => "off".into(),
        (None, EndStatus::Pass) => format!("no (pass){approx}"),
        (None, EndStatus::NotJudged) => "no (not enough evidence)".into(),
        (None, EndStatus::Muted) => "no (muted)".into(),
        (None, EndStatus::Breach) => "no".into(),
    }
}

/// One sentence: what the thresholds would have done, what was recorded,
/// same outcome or not.
pub fn verdict(r: &ReleaseReplay) -> String {
    let rec = &r.recorded;
    let first_breach = rec.breaches.first();
    let recorded = match (first_breach, &rec.ended) {
        (Some(b), _) => format!(
            "recorded: {} breach at {}, {}",
            b.guard.key(),
            after(&b.when),
            rec.outcome.words()
        ),
        (None, Some(m)) => format!("recorded: {} at {}", rec.outcome.words(), after(m)),
        (None, None) => format!("recorded: {}", rec.outcome.words()),
    };
    match (&r.first_trip, first_breach) {
        (Some(t), Some(b)) => {
            let d = t.when.after_ms as i64 - b.when.after_ms as i64;
            let timing = if d.abs() < 1000 {
                "at about the same time".to_string()
            } else if d < 0 {
                format!("{:.1} s sooner", -d as f64 / 1000.0)
            } else {
                format!("{:.1} s later", d as f64 / 1000.0)
            };
            format!(
                "would {} at {} by {}; {recorded} — same outcome, {timing}",
                act(t.on_breach),
                after(&t.when),
                t.guard.label()
            )
        }
        (Some(t), None) => format!(
            "would {} at {} by {}; {recorded} — a different outcome",
            act(t.on_breach),
            after(&t.when),
            t.guard.label()
        ),
        (None, Some(_)) => format!(
            "nothing would trip in the {:.1} s judged; {recorded} — a different outcome (what the canary would have done after that is not in the recording)",
            r.judged_ms as f64 / 1000.0
        ),
        (None, None) => format!(
            "nothing would trip in the {:.1} s judged; {recorded} — same outcome",
            r.judged_ms as f64 / 1000.0
        ),
    }
}

fn act(o: OnBreach) -> &'static str {
    match o {
        OnBreach::Rollback => "roll back",
        OnBreach::Pause => "pause",
    }
}
