//! The plan file (`cutover.toml`): one schema shared by every part of cutover.
//!
//! `types` holds the schema as plain serde structs, `units` the humane
//! durations and sizes, `parse` turns text into a [`Plan`] with errors that
//! name the file, line, column and key path and show the offending line
//! with a caret, and `validate` checks what serde cannot (ranges, monotone
//! steps, runtime-specific keys, image and address grammars). Nothing starts
//! from a plan that fails either step. `docs/PLAN.md` documents every key.

mod parse;
mod types;
mod units;
mod validate;

pub use parse::{Located, PlanError, load, parse};
pub use types::*;
pub use units::{ByteSize, HumanDuration};
