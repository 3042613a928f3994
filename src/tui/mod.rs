//! The cockpit: a ratatui client of the daemon's admin API (or of a
//! recording, read-only). `app` is the pure model, `keymap` the one key
//! table, `components` the pure render functions, `theme` the colours,
//! `client_loop` the terminal and the I/O around them.
//!
//! The TUI renders only the wire types of [`crate::model`] and holds no
//! state the daemon does not hold, apart from view state (graph history,
//! scroll positions, popups, the weight being dialled). Quitting it never
//! stops traffic.

pub mod app;
mod client_loop;
pub mod components;
pub mod config;
pub mod history;
pub mod keymap;
pub mod pacer;
pub mod prompts;
pub mod replay;
mod terminal;
pub mod theme;

pub use app::{App, Effect, Link, ReplayControl, ReplayView};
pub use client_loop::run;
pub use components::render_frame;
pub use replay::{ReplaySession, run_replay};
pub use theme::Theme;

use color_eyre::eyre::WrapErr;

/// Read the config file, build the keymap and pick the theme (`--theme`
/// first, then the config's `theme`, then `dark`).
pub fn load_settings(
    theme_flag: Option<&str>,
) -> color_eyre::Result<(config::Config, keymap::Keymap, Theme)> {
    let cfg = match config::config_dir() {
        Some(dir) => config::Config::load(&dir.join("config.toml"))?,
        None => config::Config::default(),
    };
    let keymap =
        keymap::Keymap::with_overrides(&cfg.keys).wrap_err("in the cockpit's config file")?;
    let name = theme_flag
        .map(str::to_string)
        .or_else(|| cfg.theme.clone())
        .unwrap_or_else(|| "dark".into());
    let theme = Theme::load(&name, theme::user_dir().as_deref(), theme::no_color_env())?;
    Ok((cfg, keymap, theme))
}
