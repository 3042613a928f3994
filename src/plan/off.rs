//! Guards that are on by default must be switchable off in a plan, and TOML
//! has no `null`: such a key takes its value or the word `"off"` (also
//! `false`). The same spelling is written back, so a state file keeps a
//! guard switched off instead of reading it back as the default.

use super::units::HumanDuration;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a key takes besides `"off"`, for the error message.
pub trait Expecting {
    const WHAT: &'static str;
}

impl Expecting for f64 {
    const WHAT: &'static str = "a number";
}
impl Expecting for u64 {
    const WHAT: &'static str = "a whole number";
}
impl Expecting for HumanDuration {
    const WHAT: &'static str = "a duration such as \"300ms\"";
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Raw<T> {
    Value(T),
    Flag(bool),
    Word(String),
    Null(()),
}

/// `serialize_with`: `None` is written `"off"`.
pub fn serialize<S: Serializer, T: Serialize>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => v.serialize(s),
        None => s.serialize_str("off"),
    }
}

/// `deserialize_with`: a value, or `"off"` / `false` / `null` for `None`.
pub fn deserialize<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Expecting,
{
    match Raw::<T>::deserialize(d) {
        Ok(Raw::Value(v)) => Ok(Some(v)),
        Ok(Raw::Flag(false) | Raw::Null(())) => Ok(None),
        Ok(Raw::Word(w)) if w.trim().eq_ignore_ascii_case("off") => Ok(None),
        Ok(Raw::Word(w)) => Err(D::Error::custom(format!(
            "expected {} or \"off\", found {w:?}",
            T::WHAT
        ))),
        Ok(Raw::Flag(true)) | Err(_) => {
            Err(D::Error::custom(format!("expected {} or \"off\"", T::WHAT)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, Serialize, PartialEq)]
    struct T {
        #[serde(with = "super", default)]
        r: Option<f64>,
        #[serde(with = "super", default)]
        d: Option<HumanDuration>,
    }

    #[test]
    fn off_reads_and_writes_back() {
        let t: T = toml::from_str("r = \"off\"\nd = \"off\"").unwrap();
        assert_eq!(t, T { r: None, d: None });
        let t: T = toml::from_str("r = 1.5\nd = \"300ms\"").unwrap();
        assert_eq!(t.r, Some(1.5));
        assert_eq!(t.d, Some(HumanDuration::from_millis(300)));
        let t: T = toml::from_str("r = false").unwrap();
        assert_eq!(t.r, None);
        let json = serde_json::to_string(&T { r: None, d: None }).unwrap();
        assert_eq!(json, r#"{"r":"off","d":"off"}"#);
        let back: T = serde_json::from_str(&json).unwrap();
        assert_eq!(back, T { r: None, d: None });
        let t: T = serde_json::from_str(r#"{"r":null}"#).unwrap();
        assert_eq!(t.r, None);
    }

    #[test]
    fn anything_else_says_what_was_expected() {
        let e = toml::from_str::<T>("d = \"300xs\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("a duration such as \"300ms\" or \"off\""), "{e}");
        let e = toml::from_str::<T>("r = true").unwrap_err().to_string();
        assert!(e.contains("a number or \"off\""), "{e}");
    }
}
