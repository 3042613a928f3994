//! The demo: the demo app (a small service with fault knobs), the load
//! generator, and `cutover demo`, which runs them all with a daemon —
//! `run.rs` the sequence, `plan.rs` the release it runs, `teardown.rs` what
//! undoes it however it ends, `headless.rs` the `--no-tui` printout.

pub mod app;
mod headless;
pub mod load;
pub mod plan;
pub mod run;
mod teardown;
