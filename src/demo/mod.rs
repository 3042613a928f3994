//! The demo: the demo app (a small service with fault knobs), the load
//! generator, and `cutover demo`, which runs them all with a daemon.

pub mod app;
pub mod load;
pub mod run;
