//! The cockpit's user configuration: `$XDG_CONFIG_HOME/cutover/config.toml`
//! (else `~/.config/cutover/config.toml`). Everything is optional:
//!
//! ```toml
//! theme = "mono-safe"
//! confirm_weight_jump = 20     # percent; larger weight jumps ask first
//! [keys]
//! promote = "P"                # command name = key ("shift+right", "ctrl+c", "space", "f1" …)
//! ```
//!
//! Unknown keys are errors that name the key, as for plan files.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Default size of a weight jump, in percent, that still needs no confirmation.
pub const DEFAULT_CONFIRM_JUMP: f64 = 20.0;

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Theme name (overridden by `--theme`).
    #[serde(default)]
    pub theme: Option<String>,
    /// Weight jumps larger than this many percent ask for confirmation.
    #[serde(default)]
    pub confirm_weight_jump: Option<f64>,
    /// Rebound keys: command name → key.
    #[serde(default)]
    pub keys: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {detail}")]
    Read { path: String, detail: String },
    #[error("{path}: {detail}")]
    Parse { path: String, detail: String },
}

impl Config {
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        from_toml(text).map_err(|detail| ConfigError::Parse {
            path: path.display().to_string(),
            detail,
        })
    }

    /// Read the file at `path`; a missing file is the default configuration.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(ConfigError::Read {
                path: path.display().to_string(),
                detail: e.to_string(),
            }),
        }
    }

    /// The jump threshold in per mille.
    pub fn confirm_jump_permille(&self) -> u16 {
        let pct = self
            .confirm_weight_jump
            .unwrap_or(DEFAULT_CONFIRM_JUMP)
            .clamp(0.0, 100.0);
        (pct * 10.0).round() as u16
    }
}

/// `$XDG_CONFIG_HOME/cutover`, else `~/.config/cutover`.
pub fn config_dir() -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty());
    if let Some(x) = xdg {
        return Some(PathBuf::from(x).join("cutover"));
    }
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(|h| PathBuf::from(h).join(".config").join("cutover"))
}

/// `toml::from_str` for the cockpit's own files, a malformed one reported
/// in the words it always was: `toml` 0.9 has a parser of its own, so the
/// syntax is judged first by the TOML 1.0 parser of `toml_edit` that `toml`
/// 0.8 was built on (as plan files are, `crate::plan::parse`).
pub fn from_toml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    toml_edit::ImDocument::parse(text).map_err(|e| e.to_string())?;
    toml::from_str(text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_file_reads_as_it_did_under_toml_0_8() {
        let p = Path::new("config.toml");
        let e = Config::parse("theme = \"a\"\ntheme = \"b\"\n", p).unwrap_err();
        let e = e.to_string();
        assert!(e.contains("duplicate key `theme` in document root"), "{e}");
        assert!(
            e.starts_with("config.toml: TOML parse error at line 2, column 1"),
            "{e}"
        );
    }

    #[test]
    fn parses_all_fields_and_refuses_unknown_ones() {
        let p = Path::new("config.toml");
        let c = Config::parse(
            "theme = \"light\"\nconfirm_weight_jump = 35\n[keys]\npromote = \"P\"\n",
            p,
        )
        .unwrap();
        assert_eq!(c.theme.as_deref(), Some("light"));
        assert_eq!(c.confirm_jump_permille(), 350);
        assert_eq!(c.keys["promote"], "P");
        let e = Config::parse("colour = 1\n", p).unwrap_err().to_string();
        assert!(e.contains("colour") && e.contains("config.toml"), "{e}");
        assert_eq!(Config::default().confirm_jump_permille(), 200);
    }

    #[test]
    fn a_missing_file_is_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::load(&dir.path().join("config.toml")).unwrap();
        assert_eq!(c, Config::default());
    }
}
