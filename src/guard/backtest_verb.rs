//! `cutover backtest RECORDING [--plan FILE] [--set guard.KEY=VALUE]... [--json]`:
//! the edge of [`super::backtest`]. It reads the recording and the plan
//! (each `--set` was read by clap, with the plan's own rules:
//! `cli::values::guard_set`), and prints the report as a table per release
//! or as the JSON document of docs/BACKTEST.md.
//!
//! Exit codes: 0 when it ran, whatever the verdicts; 1 when the recording
//! cannot be read or backtested (a 1.0 recording has no samples); 2 for a
//! bad `--set` (clap) or `--plan`.

use super::backtest::{Given, backtest, merge_patches, patch_words};
use super::backtest_report;
use crate::cli::BacktestArgs;
use crate::model::GuardPatch;
use crate::plan::GuardPlan;
use std::path::Path;

/// Run the verb; returns the exit code.
pub fn run(args: &BacktestArgs) -> u8 {
    let set = args
        .set
        .iter()
        .fold(GuardPatch::default(), |all, p| merge_patches(&all, p));
    let plan = args.plan.as_deref();
    let plan_guard = match plan.map(crate::plan::load).transpose() {
        Ok(p) => p.map(|p| p.guard),
        Err(e) => {
            eprintln!("cutover: --plan: {e}");
            return 2;
        }
    };
    let name = args.recording.display().to_string();
    let journal = match crate::journal::read_journal(&args.recording) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("cutover: {e}");
            return 1;
        }
    };
    if journal.corrupt_lines > 0 || journal.truncated_tail {
        eprintln!(
            "cutover: {name}: {} corrupt line(s) skipped{}",
            journal.corrupt_lines,
            if journal.truncated_tail {
                ", last line truncated"
            } else {
                ""
            }
        );
    }
    let words = thresholds_words(plan, &set);
    let given = Given {
        plan: plan_guard,
        set,
    };
    let mut b = match backtest(&journal, &given) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("cutover: {name}: {e}");
            return 1;
        }
    };
    b.recording = Some(name.clone());
    if args.json {
        match serde_json::to_string_pretty(&b) {
            Ok(j) => println!("{j}"),
            Err(e) => {
                eprintln!("cutover: cannot write the report as JSON: {e}");
                return 1;
            }
        }
    } else {
        print!("{}", backtest_report::text(&b, &name, &words));
    }
    0
}

/// Where the thresholds come from, in words: `the recording's, with
/// max_error_ratio off`.
fn thresholds_words(plan: Option<&Path>, set: &GuardPatch) -> String {
    let base = match plan {
        Some(p) => format!("the [guard] of {}", p.display()),
        None => "the recording's own".to_string(),
    };
    if set.is_empty() {
        base
    } else {
        let after = set.apply(&GuardPlan::default());
        format!("{base}, with {}", patch_words(set, &after))
    }
}
