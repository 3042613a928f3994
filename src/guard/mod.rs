//! Guards: the pure judgement of a canary, against stable and against the
//! plan's absolute limits.
//!
//! No I/O and no clock. `sequential` holds the statistics (tests that stay
//! valid however often they are read, and the Wilson interval shown beside
//! them); `judge` holds one release's evidence, fed with what both versions
//! served and read as one verdict per guard; `backtest` replays a recording's
//! per-second samples through a judge with other thresholds; `simulate`
//! runs synthetic releases through them to measure false rollbacks and
//! time to detect (the guards benchmark and its test).
//!
//! Three rules from peers' bugs are built in: too little traffic is "not
//! enough evidence yet" — never a pass; a canary is judged against stable
//! measured over the same requests' span, so a service's own baseline error
//! rate is never blamed on the canary; and no input (zeros, empty windows)
//! can make a verdict NaN or divide by zero.

pub mod backtest;
pub mod backtest_report;
pub mod backtest_verb;
pub mod judge;
pub mod sequential;
pub mod settings;
pub mod simulate;

pub use judge::{Judge, P99_SHARE, PathCounts, SLOW_TOLERANCE, evidence_ready};

use crate::model::{GuardStatus, GuardVerdict};

/// What a guard evaluation sees: the release's evidence, the request-path
/// counts, and whether the guards are muted.
#[derive(Clone, Copy, Debug)]
pub struct GuardInput<'a> {
    pub judge: &'a Judge,
    pub path: PathCounts,
    pub muted: bool,
}

/// One verdict per configured guard (see [`Judge::verdicts`]).
pub fn evaluate(f: &GuardInput<'_>) -> Vec<GuardVerdict> {
    f.judge.verdicts(f.path, f.muted)
}

/// The first breached verdict, if any.
pub fn first_breach(verdicts: &[GuardVerdict]) -> Option<&GuardVerdict> {
    verdicts.iter().find(|v| v.status == GuardStatus::Breach)
}

#[cfg(test)]
mod tests;
