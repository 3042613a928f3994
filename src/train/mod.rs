//! Release trains (`cutover train start FILE`): several services of one
//! daemon released as one, each through its own plan's steps and guards,
//! at most `max_parallel` at once and in the order `after` asks; stopped
//! by a breach, too many failures, a freeze window or an operator, and
//! then reversed (the releases in flight rolled back, and with
//! `rollback = "all"` the services it promoted returned to their previous
//! image, replica count and limits). Only approved entries deploy
//! (`cutover approve SERVICE IMAGE`).
//!
//! `decide` (with `follow`) is the pure core; `start` decides whether a
//! train may start at all; `book` holds what the admin API and the runner
//! share; `runner` is the task at the I/O edge; `store` keeps trains and
//! approvals on disk so a restarted daemon carries a train on.

mod book;
pub mod decide;
mod follow;
pub mod model;
pub mod runner;
pub mod start;
pub mod store;

pub use book::{Refused, TrainService, Trains};
pub use model::{Approval, Entry, EntryPhase, Previous, Train, TrainStatus};
pub use start::StartRequest;
