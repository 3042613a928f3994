//! Admin API request bodies decode or fail cleanly: actions and weights.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<cutover::model::ActionRequest>(data);
    let _ = serde_json::from_slice::<serde_json::Value>(data);
});
