//! The guards as a new user meets them: the process runtime, a plan with no
//! `[guard]` table (the defaults), the test's own load of 400 req/s, and the
//! two steps an operator would write (10 % for 30 s, 50 % for 60 s).
//!
//! - An A/A release — the canary is the same program as stable with the same
//!   1 % error rate — is promoted. (Round 1 rolled it back after ~30 s: a
//!   count of errors with no denominator.)
//! - A canary at 5× stable's error rate is rolled back by the comparison
//!   with stable, and the breach carries its evidence.

use crate::support;
use cutover::controller::Outcome;
use cutover::model::{EventKind, Guard, Phase};
use std::time::Duration;
use support::release::*;

const STEPS: &str =
    "[[steps]]\nweight = 10\nbake = \"30s\"\n[[steps]]\nweight = 50\nbake = \"60s\"\n";
const LOAD: f64 = 400.0;

async fn release(stable_env: &str, canary_env: &str) -> Option<(Harness, Seen)> {
    let steps = Steps(STEPS.into());
    let opts = Options {
        stable_env,
        canary_env,
        guard: Some(""),
        // Checks a busy machine does not fail: this test is about the
        // guards, and a starved health check is another story.
        health: Some(
            "interval = \"1s\"\ntimeout = \"1s\"\nunhealthy_after = 5\nstart_timeout = \"20s\"",
        ),
        steps: Some(&steps),
        ..Options::default()
    };
    let h = Harness::start_options(Kind::Process, &opts).await?;
    h.wait_stable().await;
    let load = h.load(LOAD);
    h.wait_until("the release to end", Duration::from_secs(240), |s| {
        s.phase == Phase::Idle && s.last_outcome.is_some()
    })
    .await;
    let seen = load.stop().await;
    Some((h, seen))
}

fn breaches(journal: &[cutover::model::Event]) -> Vec<(Guard, String)> {
    journal
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Breach { guard, detail, .. } => Some((*guard, detail.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_a_a_canary_with_a_baseline_error_rate_is_promoted() {
    let same = "DEMO_ERROR_RATE=0.01";
    let Some((h, seen)) = release(same, same).await else {
        return;
    };
    let done = h.state().await;
    let journal = h.journal().await;
    assert_eq!(
        done.last_outcome,
        Some(Outcome::Promoted),
        "breaches: {:?}\n{}",
        breaches(&journal),
        h.story()
    );
    assert_eq!(breaches(&journal), vec![], "no guard breached");
    // Both versions really failed about 1 % of what they served, and the
    // canary served its share of a load that never stopped.
    let canary = seen.by_version.get("v2").copied().unwrap_or(0);
    assert!(canary > 2_000, "the canary served {canary} requests");
    let rate = seen.errors_from("v2") as f64 / canary as f64;
    assert!((0.002..0.03).contains(&rate), "canary error rate {rate}");
    assert!(seen.errors_from("v1") > 0, "stable has its baseline too");
    assert_eq!(seen.transport_errors, 0);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_at_five_times_stables_error_rate_is_rolled_back() {
    let Some((h, seen)) = release("DEMO_ERROR_RATE=0.01", "DEMO_ERROR_RATE=0.05").await else {
        return;
    };
    let done = h.state().await;
    let journal = h.journal().await;
    assert_eq!(
        done.last_outcome,
        Some(Outcome::RolledBack),
        "{}",
        h.story()
    );
    let found = breaches(&journal);
    assert_eq!(found.len(), 1, "{found:?}");
    let (guard, detail) = &found[0];
    assert_eq!(*guard, Guard::MaxErrorRatio, "{detail}");
    // The breach says its evidence: both rates with intervals, n, confidence.
    assert!(
        detail.starts_with("canary ")
            && detail.contains(" vs stable ")
            && detail.ends_with(", 99.5 %"),
        "{detail}"
    );
    let b = done.last_breach.expect("the breach is kept for clients");
    assert_eq!(b.guard, Guard::MaxErrorRatio);
    assert!(b.value > 1.25, "{b:?}");
    assert!(seen.errors_from("v2") > 0);
    h.assert_only(cutover::model::Role::Stable).await;
    h.finish().await;
}
