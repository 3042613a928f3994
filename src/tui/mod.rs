//! The cockpit: a ratatui client of the daemon's admin API (or of a
//! recording, read-only). `app` is the pure model, `keymap` the one key
//! table, `components` the pure render functions, `theme` the colours,
//! `client_loop` the terminal and the I/O around them (drawn through
//! `safe_backend`, which never writes a control character a cell holds);
//! `prompts` and `guard_edit` what confirmations say; `replay` plays a
//! recording and `what_if` words the backtest of its edited thresholds.
//!
//! The TUI renders only the wire types of [`crate::model`] and holds no
//! state the daemon does not hold, apart from view state (graph history,
//! scroll positions, popups, the weight being dialled). Quitting it never
//! stops traffic.

pub mod app;
mod client_loop;
pub mod components;
pub mod config_file;
pub mod fleet;
pub mod guard_edit;
pub mod history;
pub mod keymap;
pub mod pacer;
pub mod prompts;
pub mod replay_session;
mod safe_backend;
pub mod settings;
mod terminal;
pub mod theme;
pub mod what_if;

pub use app::{App, Effect, Link, ReplayControl, ReplayView};
pub use client_loop::{Exit, run};
pub use components::render_frame;
pub use replay_session::{ReplaySession, check_speed, run_replay};
pub use settings::{SettingsError, load_settings, load_settings_from};
pub use theme::Theme;
