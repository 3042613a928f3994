//! Value parsers for flags with a range or a grammar: clap runs them while
//! it parses, so a bad value is a usage error (exit 2) before anything looks
//! for a daemon. Each message says what was expected and what was found;
//! clap prefixes the flag (`invalid value '150' for '<PERCENT>': …`).
//! Ranges that the plan also has use the plan's words (`plan::ranges`).

use crate::plan::ByteSize;
use crate::plan::ranges::{MIN_MEMORY, expected};

fn number(s: &str) -> Result<f64, String> {
    s.trim()
        .parse::<f64>()
        .map_err(|_| format!("expected a number, found {s:?}"))
}

/// `weight PERCENT`: 0–100, fractions allowed.
pub fn percent(s: &str) -> Result<f64, String> {
    let p = number(s)?;
    if p.is_finite() && (0.0..=100.0).contains(&p) {
        Ok(p)
    } else {
        Err(format!(
            "expected a percentage 0–100 (fractions allowed, e.g. 2.5), found {s}"
        ))
    }
}

/// `--reason`, `--canary`: something that is not only blanks.
pub fn not_blank(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        Err("expected some text, found an empty value".to_string())
    } else {
        Ok(s.to_string())
    }
}

/// `resize --cpus`: the plan's range for `cpus`.
pub fn cpus(s: &str) -> Result<f64, String> {
    let c = number(s)?;
    if crate::plan::cpu_count_ok(c) {
        Ok(c)
    } else {
        Err(expected("stable.cpus", s).unwrap_or_default())
    }
}

/// `resize --memory`: a size, at least the plan's minimum.
pub fn memory(s: &str) -> Result<ByteSize, String> {
    let m: ByteSize = s.parse()?;
    if m.0 < MIN_MEMORY {
        return Err(expected("stable.memory", m).unwrap_or_default());
    }
    Ok(m)
}

/// `backtest --set guard.KEY=VALUE`: one `[guard]` key, read and checked by
/// the plan's own rules.
pub fn guard_set(s: &str) -> Result<crate::model::GuardPatch, String> {
    crate::plan::parse_guard_set(s).map_err(|e| e.message)
}

/// `replay --speed`: 0 (start at the end) or a factor the player supports.
pub fn speed(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    crate::tui::check_speed(v)
        .map(|()| v)
        .map_err(|e| e.to_string())
}

/// `load --rps`.
pub fn rps(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if v.is_finite() && v > 0.0 && v <= 1_000_000.0 {
        Ok(v)
    } else {
        Err(format!(
            "expected requests per second above 0 and at most 1000000, found {s}"
        ))
    }
}

/// `load --concurrency`.
pub fn concurrency(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(n),
        _ => Err(format!("expected a whole number 1–1024, found {s}")),
    }
}

/// `demo-app --error-rate`: a share from 0 to 1.
pub fn share(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!(
            "expected a share from 0 to 1 (0.3 = 30 %), found {s}"
        ))
    }
}

/// A terminal size for rendering (`export --size`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TermSize {
    pub width: u16,
    pub height: u16,
}

impl std::str::FromStr for TermSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        crate::journal::export::parse_size(s).map(|(width, height)| TermSize { width, height })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_messages() {
        assert_eq!(percent("2.5"), Ok(2.5));
        assert_eq!(percent("0"), Ok(0.0));
        assert_eq!(
            percent("150").unwrap_err(),
            "expected a percentage 0–100 (fractions allowed, e.g. 2.5), found 150"
        );
        assert!(percent("-1").is_err());
        assert!(percent("NaN").is_err());
        assert_eq!(
            percent("ten").unwrap_err(),
            "expected a number, found \"ten\""
        );
        assert!(not_blank("  ").is_err());
        assert_eq!(cpus("0.5"), Ok(0.5));
        assert_eq!(
            cpus("0").unwrap_err(),
            "expected a number above 0 and at most 1024, found 0"
        );
        assert_eq!(memory("64MiB"), Ok(ByteSize(64 << 20)));
        assert_eq!(
            memory("1MiB").unwrap_err(),
            "expected a size of at least 6MiB (Docker's minimum), found 1MiB"
        );
        assert!(memory("lots").is_err());
        assert_eq!(speed("0"), Ok(0.0));
        assert!(speed("0.1").is_err());
        assert!(rps("0").is_err());
        assert_eq!(concurrency("8"), Ok(8));
        assert!(concurrency("0").is_err());
        assert!(share("1.5").is_err());
        assert_eq!(
            "120x36".parse::<TermSize>(),
            Ok(TermSize {
                width: 120,
                height: 36
            })
        );
        assert!("60x20".parse::<TermSize>().is_err());
    }
}
