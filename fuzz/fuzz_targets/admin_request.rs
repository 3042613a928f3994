//! Admin API request decoding never panics, whatever the bytes: every body
//! the server accepts (`POST /v1/actions` → `ActionRequest`, `POST /v1/weight`
//! → the weight body below) and the `window` query value of `/v1/metrics`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;

/// The body of `POST /v1/weight`, as `src/api/server.rs` declares it
/// (private there; mirrored field for field, same `deny_unknown_fields`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct WeightBody {
    percent: Option<f64>,
    permille: Option<i64>,
    by: Option<cutover::model::Actor>,
    reason: Option<String>,
}

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<cutover::model::ActionRequest>(data);
    if let Ok(w) = serde_json::from_slice::<WeightBody>(data) {
        // The server's range check must not panic on any decoded value.
        if let Some(p) = w.percent {
            let _ = (p.is_finite() && (0.0..=100.0).contains(&p)).then(|| (p * 10.0).round() as u16);
        }
        if let Some(pm) = w.permille {
            let _ = (0..=1000).contains(&pm).then_some(pm as u16);
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = text.parse::<cutover::plan::HumanDuration>();
    }
});
