//! The cockpit's colours: a typed [`Theme`] whose every field is a documented
//! colour, read from `themes/*.toml` (embedded in the binary) or from the
//! user's `$XDG_CONFIG_HOME/cutover/themes/NAME.toml`, which may override any
//! subset of the fields of the embedded theme of the same name (or `dark`).
//! With `NO_COLOR` set every colour becomes the terminal's own, and the
//! render code's modifiers (bold, reversed, underline) carry the emphasis.

use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The themes shipped in the binary, by name.
pub const BUILTIN: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    ("mono-safe", include_str!("../../themes/mono-safe.toml")),
];

/// Every colour the cockpit draws with.
#[derive(Clone, Debug, PartialEq)]
pub struct Theme {
    pub name: String,
    /// Ordinary text.
    pub text: Color,
    /// Secondary text: labels, units, "not judged", greyed state while disconnected.
    pub dim: Color,
    /// Panel borders.
    pub border: Color,
    /// Border of the panel that has the focus (Tab).
    pub border_focus: Color,
    /// Panel titles.
    pub title: Color,
    /// Everything about the stable version (panel title, graph line).
    pub stable: Color,
    /// Everything about the canary version.
    pub canary: Color,
    /// A passing guard, a healthy replica.
    pub ok: Color,
    /// Not judged yet, starting replicas, paused phase.
    pub warn: Color,
    /// A breached guard, an unhealthy or exited replica, an error rate over its limit.
    pub bad: Color,
    /// Muted guards.
    pub muted: Color,
    /// Guard threshold lines drawn on graphs.
    pub threshold: Color,
    /// The applied share on the split slider.
    pub slider_applied: Color,
    /// The pending share (what the operator is dialling) on the split slider.
    pub slider_pending: Color,
    /// The empty part of the slider track.
    pub slider_track: Color,
    /// Key names in the footer and help.
    pub key: Color,
    /// Text on banners.
    pub banner_fg: Color,
    /// Background of the guard-breach banner.
    pub banner_breach_bg: Color,
    /// Background of the "disconnected" banner.
    pub banner_info_bg: Color,
    /// Background of the "REPLAY — read-only" banner.
    pub banner_replay_bg: Color,
    /// Border of popups.
    pub popup_border: Color,
    /// Background of the selected row or version.
    pub selection_bg: Color,
    /// How the stable series is drawn on graphs (`braille`, `dot`, `block`, `bar`).
    pub stable_marker: Marker,
    /// How the canary series is drawn on graphs.
    pub canary_marker: Marker,
    /// Bold titles and verdicts.
    pub bold: bool,
    /// True when `NO_COLOR` asked for no colours at all.
    pub no_color: bool,
}

/// A theme file: every field optional, merged over a base theme.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: Option<String>,
    text: Option<String>,
    dim: Option<String>,
    border: Option<String>,
    border_focus: Option<String>,
    title: Option<String>,
    stable: Option<String>,
    canary: Option<String>,
    ok: Option<String>,
    warn: Option<String>,
    bad: Option<String>,
    muted: Option<String>,
    threshold: Option<String>,
    slider_applied: Option<String>,
    slider_pending: Option<String>,
    slider_track: Option<String>,
    key: Option<String>,
    banner_fg: Option<String>,
    banner_breach_bg: Option<String>,
    banner_info_bg: Option<String>,
    banner_replay_bg: Option<String>,
    popup_border: Option<String>,
    selection_bg: Option<String>,
    stable_marker: Option<String>,
    canary_marker: Option<String>,
    bold: Option<bool>,
}

#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    #[error("unknown theme `{name}`: built-in themes are {builtin}; or put {dir}/{name}.toml")]
    Unknown {
        name: String,
        builtin: String,
        dir: String,
    },
    #[error("theme file {path}: {detail}")]
    Parse { path: String, detail: String },
    #[error("cannot read theme file {path}: {detail}")]
    Read { path: String, detail: String },
}

impl Theme {
    /// The default theme, always available.
    pub fn dark() -> Theme {
        Theme::builtin("dark").expect("the embedded dark theme parses")
    }

    /// One of the embedded themes (see [`BUILTIN`]).
    pub fn builtin(name: &str) -> Option<Theme> {
        let (_, text) = BUILTIN.iter().find(|(n, _)| *n == name)?;
        let file: ThemeFile = toml::from_str(text).ok()?;
        Theme::from_file(None, file, &format!("themes/{name}.toml")).ok()
    }

    /// Resolve `name`: a user file in `user_dir` (merged over the embedded
    /// theme of the same name, else `dark`), else the embedded theme.
    /// `no_color` strips every colour.
    pub fn load(name: &str, user_dir: Option<&Path>, no_color: bool) -> Result<Theme, ThemeError> {
        let base = Theme::builtin(name);
        let user_path = user_dir.map(|d| d.join(format!("{name}.toml")));
        let theme = match user_path.as_ref().filter(|p| p.is_file()) {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| ThemeError::Read {
                    path: path.display().to_string(),
                    detail: e.to_string(),
                })?;
                let file: ThemeFile =
                    super::config_file::from_toml(&text).map_err(|detail| ThemeError::Parse {
                        path: path.display().to_string(),
                        detail,
                    })?;
                let mut t = Theme::from_file(
                    Some(base.unwrap_or_else(Theme::dark)),
                    file,
                    &path.display().to_string(),
                )?;
                t.name = name.to_string();
                t
            }
            None => base.ok_or_else(|| ThemeError::Unknown {
                name: name.to_string(),
                builtin: BUILTIN
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", "),
                dir: user_dir
                    .map(|d| d.display().to_string())
                    .unwrap_or_else(|| "~/.config/cutover/themes".into()),
            })?,
        };
        Ok(if no_color {
            theme.without_colours()
        } else {
            theme
        })
    }

    fn from_file(base: Option<Theme>, f: ThemeFile, path: &str) -> Result<Theme, ThemeError> {
        let err = |field: &str, v: &str, what: &str| ThemeError::Parse {
            path: path.to_string(),
            detail: format!("`{field} = \"{v}\"`: {what}"),
        };
        let colour = |field: &str, v: Option<String>, base: Option<Color>| match v {
            Some(v) => parse_colour(&v).ok_or_else(|| {
                err(
                    field,
                    &v,
                    "expected a colour name, \"#rrggbb\", an index 0-255 or \"reset\"",
                )
            }),
            None => base.ok_or_else(|| ThemeError::Parse {
                path: path.to_string(),
                detail: format!("missing `{field}`"),
            }),
        };
        let marker = |field: &str, v: Option<String>, base: Option<Marker>| match v {
            Some(v) => parse_marker(&v)
                .ok_or_else(|| err(field, &v, "expected braille, dot, block, bar or halfblock")),
            None => Ok(base.unwrap_or(Marker::Braille)),
        };
        let b = base.as_ref();
        Ok(Theme {
            name: f
                .name
                .or_else(|| b.map(|b| b.name.clone()))
                .unwrap_or_default(),
            text: colour("text", f.text, b.map(|b| b.text))?,
            dim: colour("dim", f.dim, b.map(|b| b.dim))?,
            border: colour("border", f.border, b.map(|b| b.border))?,
            border_focus: colour("border_focus", f.border_focus, b.map(|b| b.border_focus))?,
            title: colour("title", f.title, b.map(|b| b.title))?,
            stable: colour("stable", f.stable, b.map(|b| b.stable))?,
            canary: colour("canary", f.canary, b.map(|b| b.canary))?,
            ok: colour("ok", f.ok, b.map(|b| b.ok))?,
            warn: colour("warn", f.warn, b.map(|b| b.warn))?,
            bad: colour("bad", f.bad, b.map(|b| b.bad))?,
            muted: colour("muted", f.muted, b.map(|b| b.muted))?,
            threshold: colour("threshold", f.threshold, b.map(|b| b.threshold))?,
            slider_applied: colour(
                "slider_applied",
                f.slider_applied,
                b.map(|b| b.slider_applied),
            )?,
            slider_pending: colour(
                "slider_pending",
                f.slider_pending,
                b.map(|b| b.slider_pending),
            )?,
            slider_track: colour("slider_track", f.slider_track, b.map(|b| b.slider_track))?,
            key: colour("key", f.key, b.map(|b| b.key))?,
            banner_fg: colour("banner_fg", f.banner_fg, b.map(|b| b.banner_fg))?,
            banner_breach_bg: colour(
                "banner_breach_bg",
                f.banner_breach_bg,
                b.map(|b| b.banner_breach_bg),
            )?,
            banner_info_bg: colour(
                "banner_info_bg",
                f.banner_info_bg,
                b.map(|b| b.banner_info_bg),
            )?,
            banner_replay_bg: colour(
                "banner_replay_bg",
                f.banner_replay_bg,
                b.map(|b| b.banner_replay_bg),
            )?,
            popup_border: colour("popup_border", f.popup_border, b.map(|b| b.popup_border))?,
            selection_bg: colour("selection_bg", f.selection_bg, b.map(|b| b.selection_bg))?,
            stable_marker: marker("stable_marker", f.stable_marker, b.map(|b| b.stable_marker))?,
            canary_marker: marker("canary_marker", f.canary_marker, b.map(|b| b.canary_marker))?,
            bold: f.bold.or(b.map(|b| b.bold)).unwrap_or(false),
            no_color: false,
        })
    }

    /// The same theme with every colour replaced by the terminal's own.
    pub fn without_colours(mut self) -> Theme {
        for c in [
            &mut self.text,
            &mut self.dim,
            &mut self.border,
            &mut self.border_focus,
            &mut self.title,
            &mut self.stable,
            &mut self.canary,
            &mut self.ok,
            &mut self.warn,
            &mut self.bad,
            &mut self.muted,
            &mut self.threshold,
            &mut self.slider_applied,
            &mut self.slider_pending,
            &mut self.slider_track,
            &mut self.key,
            &mut self.banner_fg,
            &mut self.banner_breach_bg,
            &mut self.banner_info_bg,
            &mut self.banner_replay_bg,
            &mut self.popup_border,
            &mut self.selection_bg,
        ] {
            *c = Color::Reset;
        }
        self.no_color = true;
        // Without colours the two series must differ by shape.
        self.stable_marker = Marker::Dot;
        self.canary_marker = Marker::Block;
        self
    }

    /// Foreground style, bold when the theme asks for it.
    pub fn fg(&self, c: Color) -> Style {
        Style::default().fg(c)
    }

    /// A style that must stand out even without colour.
    pub fn strong(&self, c: Color) -> Style {
        Style::default().fg(c).add_modifier(Modifier::BOLD)
    }

    pub fn title_style(&self) -> Style {
        let s = Style::default().fg(self.title);
        if self.bold || self.no_color {
            s.add_modifier(Modifier::BOLD)
        } else {
            s
        }
    }

    /// A banner: coloured background, or reversed video without colours.
    pub fn banner(&self, bg: Color) -> Style {
        if self.no_color {
            Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        } else {
            Style::default()
                .fg(self.banner_fg)
                .bg(bg)
                .add_modifier(Modifier::BOLD)
        }
    }

    /// The selected row: a background, or reversed video without colours.
    pub fn selected(&self) -> Style {
        if self.no_color {
            Style::default().add_modifier(Modifier::REVERSED)
        } else {
            Style::default().bg(self.selection_bg)
        }
    }

    /// Colour of one role.
    pub fn role(&self, role: crate::model::Role) -> Color {
        match role {
            crate::model::Role::Stable => self.stable,
            crate::model::Role::Canary => self.canary,
        }
    }
}

/// Where user themes live: `$XDG_CONFIG_HOME/cutover/themes`, else `~/.config/cutover/themes`.
pub fn user_dir() -> Option<PathBuf> {
    super::config_file::config_dir().map(|d| d.join("themes"))
}

/// Whether `NO_COLOR` is set to anything non-empty (<https://no-color.org>).
pub fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

fn parse_colour(s: &str) -> Option<Color> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("reset") || s.eq_ignore_ascii_case("default") {
        return Some(Color::Reset);
    }
    Color::from_str(s).ok()
}

fn parse_marker(s: &str) -> Option<Marker> {
    Some(match s.trim().to_ascii_lowercase().as_str() {
        "braille" => Marker::Braille,
        "dot" => Marker::Dot,
        "block" => Marker::Block,
        "bar" => Marker::Bar,
        "halfblock" => Marker::HalfBlock,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_theme_parses_with_every_field() {
        for (name, text) in BUILTIN {
            let file: ThemeFile = toml::from_str(text).expect(name);
            let t = Theme::from_file(None, file, name).expect(name);
            assert_eq!(&t.name, name);
        }
    }

    #[test]
    fn user_file_overrides_some_fields_of_the_builtin() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("dark.toml"), "canary = \"#010203\"\n").unwrap();
        let t = Theme::load("dark", Some(dir.path()), false).unwrap();
        assert_eq!(t.canary, Color::Rgb(1, 2, 3));
        assert_eq!(t.stable, Theme::dark().stable);
        std::fs::write(dir.path().join("mine.toml"), "bad = \"magenta\"\n").unwrap();
        let t = Theme::load("mine", Some(dir.path()), false).unwrap();
        assert_eq!((t.name.as_str(), t.bad), ("mine", Color::Magenta));
    }

    #[test]
    fn bad_theme_files_say_which_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x.toml"), "canary = \"chartreuse-ish\"\n").unwrap();
        let e = Theme::load("x", Some(dir.path()), false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("canary") && e.contains("x.toml"), "{e}");
        std::fs::write(dir.path().join("y.toml"), "canray = \"red\"\n").unwrap();
        let e = Theme::load("y", Some(dir.path()), false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("canray"), "{e}");
        let e = Theme::load("nope", Some(dir.path()), false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("mono-safe"), "{e}");
    }

    #[test]
    fn no_color_strips_every_colour() {
        let t = Theme::load("dark", None, true).unwrap();
        assert!(t.no_color);
        assert_eq!(t.bad, Color::Reset);
        assert_eq!(t.banner_breach_bg, Color::Reset);
        assert_ne!(t.stable_marker, t.canary_marker);
    }

    /// `no_color_env` reads the real environment. Setting a variable in a
    /// running test is `unsafe` in edition 2024 (and races other tests), so
    /// the test runs itself again as a child with `NO_COLOR` set to a value,
    /// set empty and unset, and the child prints what the reader saw.
    #[test]
    fn no_color_env_reads_the_environment() {
        const CHILD: &str = "CUTOVER_TEST_NO_COLOR_CHILD";
        if std::env::var_os(CHILD).is_some() {
            println!("no_color_env={}", no_color_env());
            return;
        }
        let exe = std::env::current_exe().unwrap();
        // Per no-color.org: present and not empty, whatever the value.
        for (value, want) in [
            (Some("1"), true),
            (Some("false"), true),
            (Some(""), false),
            (None, false),
        ] {
            let mut cmd = std::process::Command::new(&exe);
            cmd.args([
                "--exact",
                "tui::theme::tests::no_color_env_reads_the_environment",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1");
            match value {
                Some(v) => cmd.env("NO_COLOR", v),
                None => cmd.env_remove("NO_COLOR"),
            };
            let out = cmd.output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "child failed: {stdout}");
            assert!(
                stdout.contains(&format!("no_color_env={want}")),
                "NO_COLOR={value:?}: {stdout}"
            );
        }
    }
}
