//! The replay's "what if" in words and marks: a [`Backtest`] of the
//! recording under edited thresholds becomes the timeline's ◇ marks and one
//! line per release ("with max_error_ratio ×2.00: trips at 0:31 by errors
//! vs stable (recorded: breach at 0:24)"), times on the replay's own
//! timeline.
//! Pure; the replay session runs the backtest and hands the result here.

use super::app::{WhatIf, WhatIfLine};
use super::components::fmt;
use crate::guard::backtest::{Backtest, Moment, ReleaseReplay, patch_words};
use crate::model::GuardPatch;
use crate::plan::GuardPlan;

/// The view of `b`, the recording judged with `patch`.
pub fn view(b: &Backtest, patch: &GuardPatch) -> WhatIf {
    let base = b
        .releases
        .first()
        .and_then(|r| r.recorded_thresholds.clone())
        .unwrap_or_default();
    let label = label(patch, &base);
    WhatIf {
        patch: patch.clone(),
        trips: b
            .releases
            .iter()
            .filter_map(|r| r.first_trip.as_ref().map(|t| t.when.recording_ms))
            .collect(),
        lines: b
            .releases
            .iter()
            .map(|r| (r.armed.recording_ms, line(&label, r)))
            .collect(),
    }
}

/// `max_error_ratio ×2.00, max_p99 off`.
fn label(patch: &GuardPatch, base: &GuardPlan) -> String {
    patch_words(patch, &patch.apply(base))
}

fn at(m: &Moment) -> String {
    fmt::countdown(m.recording_ms)
}

/// What the edit would have done to one release, next to what did happen.
fn line(label: &str, r: &ReleaseReplay) -> WhatIfLine {
    let rec = &r.recorded;
    let recorded = match (rec.breaches.first(), &rec.ended) {
        (Some(b), _) => format!("breach at {}", at(&b.when)),
        (None, Some(e)) => format!("{} at {}", rec.outcome.words(), at(e)),
        (None, None) => "no breach".to_string(),
    };
    let recorded = format!("(recorded: {recorded})");
    match &r.first_trip {
        Some(t) => WhatIfLine {
            head: format!("with {label}: trips at {}", at(&t.when)),
            by: format!("by {}", t.guard.label()),
            recorded,
        },
        None => WhatIfLine {
            head: format!("with {label}: no trip"),
            by: String::new(),
            recorded,
        },
    }
}
