//! cutover — a terminal release cockpit.
//!
//! Start at `model` (what every client sees), then `plan` (the file an
//! operator writes), `proxy` + `metrics` (the data plane), `guard` and
//! `controller` (the release model), `runtime` (where replicas run), `api`
//! (the admin API and its client), `journal` (recordings), `tui` (the
//! cockpit) and `demo` (the demo app and load generator). `daemon` wires the
//! server side together; `cli` is the command line. `text` makes outside
//! text safe to draw; `private_file` opens what only its owner may read.
#![forbid(unsafe_code)]

pub mod api;
pub mod cli;
pub mod controller;
pub mod daemon;
pub mod demo;
pub mod guard;
pub mod journal;
pub mod lock;
pub mod metrics;
pub mod model;
pub mod plan;
pub mod private_file;
pub mod proxy;
pub mod runtime;
pub mod state_dir;
pub mod text;
pub mod train;
pub mod tui;
