//! The plan file (`cutover.toml`): one schema shared by every part of cutover.
//!
//! `types` holds the schema as plain serde structs, `units` the humane
//! durations and sizes, `parse` turns text into a [`Plan`] with errors that
//! name the file, line, column and key path and show the offending line
//! with a caret, and `validate` checks what serde cannot (ranges, monotone
//! steps, runtime-specific keys, image and address grammars). `ranges` holds
//! every key's range in the words messages and docs both use. Nothing starts
//! from a plan that fails either step. `docs/PLAN.md` documents every key.

mod autoscale;
mod engine_rules;
mod grammar;
mod guard_set;
pub mod hosts;
pub mod off;
mod parse;
pub mod ranges;
pub mod services;
mod spans;
pub mod train;
mod types;
mod units;
mod validate;

pub use autoscale::{AutoscalePlan, ScaleTarget};
pub use guard_set::{GuardSetError, parse_guard_set};
pub use parse::{LoadOptions, Located, PlanError, load, load_fleet, load_with, parse, parse_with};
pub use ranges::limits_ignored;
pub use types::*;
pub use units::{ByteSize, HumanDuration};
pub use validate::{MAX_ERRORS_REPLACED, cpu_count_ok, image_reference};

/// Check guard thresholds with the plan's `[guard]` rules (for thresholds
/// edited on a running release). `Err((key, message))` names the key, e.g.
/// `("guard.max_error_rate", "expected a rate from 0 to 1 …, found 1.5")`.
pub fn check_guard(g: &GuardPlan) -> Result<(), (String, String)> {
    validate::guard_plan(g).map_err(|b| (b.key, b.message))
}
