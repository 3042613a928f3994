//! `--set guard.KEY=VALUE`: one `[guard]` key given on the command line
//! (`cutover backtest`), read and checked by the plan's own rules, so a
//! value means on the command line exactly what it means in a plan file.
//!
//! The value is what the right-hand side of `KEY = VALUE` in the plan would
//! be, with one convenience: a value that is not TOML by itself (`300ms`,
//! `off`) is taken as a string, so the shell does not need TOML's quotes.
//! A mistake names the argument, the key and what was expected.

use super::GuardPlan;
use crate::guard::settings::GuardKey;
use crate::model::GuardPatch;

/// Why a `--set` argument was refused. Its `Display` is what the operator reads.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("--set {arg}: {message}")]
pub struct GuardSetError {
    /// The argument as given.
    pub arg: String,
    /// What is wrong and what was expected.
    pub message: String,
}

/// Every key `--set` takes, for the messages.
fn keys() -> String {
    GuardKey::ALL
        .into_iter()
        .map(|k| format!("guard.{}", k.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Read one `guard.KEY=VALUE` into a change of that key alone.
pub fn parse_guard_set(arg: &str) -> Result<GuardPatch, GuardSetError> {
    let bad = |message: String| GuardSetError {
        arg: arg.to_string(),
        message,
    };
    let Some((path, value)) = arg.split_once('=') else {
        return Err(bad(format!(
            "expected guard.KEY=VALUE, e.g. guard.max_error_ratio=2; keys: {}",
            keys()
        )));
    };
    let (path, value) = (path.trim(), value.trim());
    let Some(name) = path.strip_prefix("guard.") else {
        return Err(bad(format!(
            "only [guard] keys can be set, as guard.KEY=VALUE; keys: {}",
            keys()
        )));
    };
    if name == "max_errors" {
        return Err(bad(format!(
            "guard.max_errors: {}",
            super::MAX_ERRORS_REPLACED
        )));
    }
    let Some(key) = GuardKey::from_name(name) else {
        return Err(bad(format!("guard.{name}: no such key; keys: {}", keys())));
    };
    if value.is_empty() {
        return Err(bad(format!("guard.{name}: expected a value after `=`")));
    }
    // TOML as the plan would have it (judged by the plan's TOML 1.0 parser,
    // `super::parse`); a bare word or duration as a string.
    let toml_value = if toml_edit::ImDocument::parse(format!("v = {value}")).is_ok() {
        value.to_string()
    } else {
        toml::Value::String(value.to_string()).to_string()
    };
    let g: GuardPlan = toml::from_str(&format!("{name} = {toml_value}\n")).map_err(|e| {
        bad(format!(
            "guard.{name}: {}",
            super::parse::humane_serde_message(e.message())
        ))
    })?;
    super::check_guard(&g).map_err(|(key, message)| bad(format!("{key}: {message}")))?;
    let mut patch = GuardPatch::default();
    key.set_from(&g, &mut patch);
    Ok(patch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::HumanDuration;

    #[test]
    fn values_read_as_in_a_plan() {
        let p = parse_guard_set("guard.max_error_ratio=2").unwrap();
        assert_eq!(p.max_error_ratio, Some(Some(2.0)));
        let p = parse_guard_set("guard.max_error_ratio=off").unwrap();
        assert_eq!(p.max_error_ratio, Some(None));
        let p = parse_guard_set("guard.max_p99=50ms").unwrap();
        assert_eq!(p.max_p99, Some(Some(HumanDuration::from_millis(50))));
        let p = parse_guard_set("guard.max_p99=\"50ms\"").unwrap();
        assert_eq!(p.max_p99, Some(Some(HumanDuration::from_millis(50))));
        let p = parse_guard_set("guard.confidence=0.99").unwrap();
        assert_eq!(p.confidence, Some(0.99));
        let p = parse_guard_set("guard.on_breach=pause").unwrap();
        assert_eq!(p.on_breach, Some(crate::plan::OnBreach::Pause));
        // A value equal to the default is still a change of that key.
        let p = parse_guard_set("guard.min_requests=50").unwrap();
        assert_eq!(p.min_requests, Some(50));
        assert!(p.max_error_ratio.is_none());
    }

    #[test]
    fn mistakes_name_the_argument_the_key_and_what_was_expected() {
        let err = |a: &str| parse_guard_set(a).unwrap_err().to_string();
        assert_eq!(
            err("guard.max_error_rate=1.5"),
            format!(
                "--set guard.max_error_rate=1.5: guard.max_error_rate: {}",
                crate::plan::ranges::expected("guard.max_error_rate", 1.5).unwrap()
            )
        );
        assert!(
            err("guard.max_p99=300").contains("guard.max_p99: expected a duration"),
            "{}",
            err("guard.max_p99=300")
        );
        assert!(
            err("guard.nope=1").contains("guard.nope: no such key; keys: guard.max_error_ratio")
        );
        assert!(err("max_p99=1s").contains("only [guard] keys"));
        assert!(err("guard.max_p99").contains("expected guard.KEY=VALUE"));
        let e = err("guard.trip_after=1");
        assert!(
            e.starts_with("--set guard.trip_after=1: guard.trip_after: expected")
                && e.ends_with("found 1 (one failure is no pattern)"),
            "{e}"
        );
        assert!(err("guard.min_requests=many").contains("guard.min_requests: expected"));
        let e = err("guard.max_errors=20");
        assert!(e.contains(crate::plan::MAX_ERRORS_REPLACED), "{e}");
    }
}
