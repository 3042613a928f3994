//! How figures read on screen: one place for units and rounding, so every
//! panel says "0.12 %", "48 ms", "1.2 s", "256 MiB" the same way.

/// An error ratio as a percent: `0.12 %`, `12 %`, `—` when unknown. The
/// digits are [`crate::model::percent_text`]'s, as everywhere.
pub fn rate(r: Option<f64>) -> String {
    match r {
        None => "—".into(),
        Some(r) if !r.is_finite() => "—".into(),
        Some(r) => crate::model::percent_text(r),
    }
}

/// Milliseconds: `0.8 ms`, `48 ms`, `1.25 s`, `—`.
pub fn ms(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(v) if !v.is_finite() => "—".into(),
        Some(v) => crate::model::latency_text(v),
    }
}

/// Requests per second.
pub fn rps(v: f64) -> String {
    if v < 100.0 {
        format!("{v:.1} req/s")
    } else {
        format!("{v:.0} req/s")
    }
}

/// Bytes in binary units.
pub fn bytes(b: u64) -> String {
    const KIB: f64 = 1024.0;
    let b = b as f64;
    if b < KIB * KIB {
        format!("{:.0} KiB", b / KIB)
    } else if b < KIB * KIB * KIB {
        format!("{:.0} MiB", b / KIB / KIB)
    } else {
        format!("{:.1} GiB", b / KIB / KIB / KIB)
    }
}

/// A countdown: `0:42`, `12:05`.
pub fn countdown(ms: u64) -> String {
    let s = ms.div_ceil(1000);
    format!("{}:{:02}", s / 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Guard;

    #[test]
    fn figures_read_well() {
        assert_eq!(rate(Some(0.0012)), "0.12 %");
        assert_eq!(rate(Some(0.25)), "25 %");
        assert_eq!(rate(Some(0.025)), "2.5 %");
        assert_eq!(rate(None), "—");
        assert_eq!(ms(Some(4.25)), "4.2 ms");
        assert_eq!(ms(Some(1250.0)), "1.25 s");
        assert_eq!(bytes(256 * 1024 * 1024), "256 MiB");
        assert_eq!(countdown(41_200), "0:42");
        assert_eq!(Guard::MaxP99Ratio.value_text(1.5), "×1.50");
        assert_eq!(crate::model::clip("abcdef", 4), "abc…");
        assert_eq!(
            crate::model::short_id(&"a".repeat(64)),
            format!("{}…", "a".repeat(11))
        );
    }
}
