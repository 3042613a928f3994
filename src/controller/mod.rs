//! The release controller: a pure state machine (`machine`, with its inputs
//! and effects in `effect` and its state in `release`) driven by one task
//! (`driver`, with its slow operations run by `worker` (the vocabulary in `ops`), its client view in `view`,
//! and its joints with the journal, guards and health checks in `interfaces` and
//! `probe`), reached through a [`ControllerHandle`] (`handle`). Persistence
//! of the release state lives in `persist` (the file) and `writer` (saving
//! it off the driver's task); `adopt` takes over running replicas by their
//! labels when no state file can be read. `bus` carries the events, with
//! a backlog of the latest for clients that attach late.

mod adopt;
pub mod autoscale;
pub mod bus;
pub mod driver;
mod effect;
mod handle;
pub mod handover;
pub mod interfaces;
pub mod machine;
mod ops;
pub mod persist;
mod probe;
mod release;
pub mod usage;
mod view;
mod worker;
mod writer;

pub use driver::{ControllerDeps, spawn};
pub use effect::{Effect, Input, Trips};
pub use handle::{Command, ControllerHandle};
pub use interfaces::{EventSink, GuardFacts, GuardFn, HealthChecker, HealthEvent, basic_guards};
pub use machine::Machine;
pub use persist::{Loaded, OwnedReplica, PersistError, PersistedState};
pub use probe::HttpProbe;
pub use release::{Outcome, ReleaseState, ReplicaMark, version_label};
