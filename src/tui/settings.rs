//! What the cockpit reads before it starts: the user's config file (keys,
//! theme, jump size), the theme (built in or from the user's theme
//! directory) and `NO_COLOR`. [`load_settings_from`] takes every input as a
//! value, so tests drive the real loader with their own files; a setting
//! that cannot be used is an error naming its file.

use super::{Theme, config_file as config, keymap, theme};
use std::path::Path;

/// A setting the cockpit could not use; each names the file it came from.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// A `[keys]` entry that is not a command, not a key, or clashes.
    #[error("{path}: {source}")]
    Keys {
        path: String,
        source: keymap::KeymapError,
    },
    #[error(transparent)]
    Theme(#[from] theme::ThemeError),
}

/// Read the config file, build the keymap and pick the theme (`--theme`
/// first, then the config's `theme`, then `dark`), from the user's config
/// directory and the `NO_COLOR` environment.
pub fn load_settings(
    theme_flag: Option<&str>,
) -> color_eyre::Result<(config::Config, keymap::Keymap, Theme)> {
    let config_file = config::config_dir().map(|d| d.join("config.toml"));
    Ok(load_settings_from(
        config_file.as_deref(),
        theme::user_dir().as_deref(),
        theme_flag,
        theme::no_color_env(),
    )?)
}

/// [`load_settings`] with every input given: the config file (missing: the
/// defaults), the user theme directory and whether colour is off.
pub fn load_settings_from(
    config_file: Option<&Path>,
    theme_dir: Option<&Path>,
    theme_flag: Option<&str>,
    no_color: bool,
) -> Result<(config::Config, keymap::Keymap, Theme), SettingsError> {
    let cfg = match config_file {
        Some(path) => config::Config::load(path)?,
        None => config::Config::default(),
    };
    let keymap =
        keymap::Keymap::with_overrides(&cfg.keys).map_err(|source| SettingsError::Keys {
            path: config_file.map_or("the config".into(), |p| p.display().to_string()),
            source,
        })?;
    let name = theme_flag
        .map(str::to_string)
        .or_else(|| cfg.theme.clone())
        .unwrap_or_else(|| "dark".into());
    let theme = Theme::load(&name, theme_dir, no_color)?;
    Ok((cfg, keymap, theme))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Action, Phase};
    use crate::tui::app::{App, Link, Popup};
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use std::path::PathBuf;

    fn write_config(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cutover").join("config.toml");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    fn canary_app(keymap: keymap::Keymap, cfg: &config::Config) -> App {
        let mut app = App::new(keymap, cfg);
        app.set_link(Link::Live);
        let state = crate::tui::app::tests::state(Phase::Canary, 250);
        app.apply_event(&crate::model::Event {
            seq: 1,
            at: state.at,
            kind: crate::model::EventKind::Snapshot {
                state: Box::new(state),
            },
        });
        app
    }

    fn press(app: &mut App, c: char) -> Option<crate::tui::Effect> {
        let mods = if c.is_ascii_uppercase() {
            KeyModifiers::SHIFT
        } else {
            KeyModifiers::NONE
        };
        app.handle_key(KeyEvent::new(KeyCode::Char(c), mods))
    }

    #[test]
    fn a_config_files_keys_reach_the_app() {
        let (_dir, path) = write_config(
            "theme = \"light\"\nconfirm_weight_jump = 35\n[keys]\npromote = \"P\"\nrollback = \"ctrl+r\"\n",
        );
        let (cfg, keymap, theme) = load_settings_from(Some(&path), None, None, false).unwrap();
        assert_eq!(theme.name, "light");
        let mut app = canary_app(keymap, &cfg);
        assert_eq!(app.confirm_jump_permille, 350);
        // The old keys do nothing now; the new ones open the same prompts.
        assert_eq!(press(&mut app, 'p'), None);
        assert_eq!(app.popup, None);
        assert_eq!(press(&mut app, 'P'), None);
        let Some(Popup::Confirm(c)) = &app.popup else {
            panic!("P did not open the promote prompt: {:?}", app.popup)
        };
        assert!(
            matches!(c.action.action, Action::Promote { .. }),
            "{:?}",
            c.action
        );
        app.popup = None;
        assert_eq!(press(&mut app, 'r'), None);
        assert_eq!(app.popup, None);
        app.handle_key(KeyEvent::new(KeyCode::Char('r'), KeyModifiers::CONTROL));
        assert!(
            matches!(&app.popup, Some(Popup::Confirm(c)) if c.action.action == Action::Rollback),
            "{:?}",
            app.popup
        );
        // The footer says so too.
        let footer = app.keymap.footer(crate::tui::keymap::Mode::Live);
        assert!(
            footer.iter().any(|(k, h)| k == "P" && *h == "promote"),
            "{footer:?}"
        );
        // `--theme` still wins over the file.
        let (_, _, theme) = load_settings_from(Some(&path), None, Some("dark"), true).unwrap();
        assert_eq!(theme.name, "dark");
        assert!(theme.no_color);
    }

    #[test]
    fn a_bad_key_names_the_file_the_key_and_what_was_expected() {
        let (_dir, path) = write_config("[keys]\npromote = \"hyper+p\"\n");
        let e = load_settings_from(Some(&path), None, None, false)
            .unwrap_err()
            .to_string();
        let file = path.display().to_string();
        for want in [
            file.as_str(),
            "promote",
            "hyper+p",
            "expected ctrl+, shift+ or alt+",
        ] {
            assert!(e.contains(want), "`{want}` missing from: {e}");
        }
        let (_dir, path) = write_config("[keys]\npromote = \"bogus\"\n");
        let e = load_settings_from(Some(&path), None, None, false)
            .unwrap_err()
            .to_string();
        let file = path.display().to_string();
        for want in [file.as_str(), "promote", "bogus", "use one character"] {
            assert!(e.contains(want), "`{want}` missing from: {e}");
        }
        let (_dir, path) = write_config("[keys]\npromte = \"P\"\n");
        let e = load_settings_from(Some(&path), None, None, false)
            .unwrap_err()
            .to_string();
        let file = path.display().to_string();
        for want in [file.as_str(), "promte", "commands are", "promote"] {
            assert!(e.contains(want), "`{want}` missing from: {e}");
        }
        let (_dir, path) = write_config("[keys]\npromote = \"r\"\n");
        let e = load_settings_from(Some(&path), None, None, false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&path.display().to_string()) && e.contains("rollback"),
            "{e}"
        );
    }

    #[test]
    fn a_missing_config_file_is_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let (cfg, keymap, theme) = load_settings_from(Some(&path), None, None, false).unwrap();
        assert_eq!(cfg, config::Config::default());
        assert_eq!(keymap, keymap::Keymap::default());
        assert_eq!(theme.name, "dark");
    }
}
