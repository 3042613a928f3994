//! The one way tests wait for something: poll a condition until it holds
//! or time runs out. Never a bare sleep as synchronisation; every helper
//! that waits on a daemon, a proxy or a terminal words its own failure and
//! polls through [`poll`].

use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// Poll `check` every `every` until it gives `Some`, or `within` passes
/// (then `None`, after one last look).
pub async fn poll<T, F, Fut>(within: Duration, every: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(every).await;
    }
}

/// Poll a plain condition every 10 ms; panic naming `what` after `secs`.
pub async fn eventually(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let held = poll(Duration::from_secs(secs), Duration::from_millis(10), || {
        std::future::ready(f().then_some(()))
    })
    .await;
    assert!(held.is_some(), "timed out waiting for {what}");
}

/// Poll an async condition every 20 ms; panic naming `what` after `secs`.
pub async fn eventually_async<F, Fut>(secs: u64, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let held = poll(Duration::from_secs(secs), Duration::from_millis(20), || {
        let check = f();
        async move { check.await.then_some(()) }
    })
    .await;
    assert!(held.is_some(), "timed out waiting for {what}");
}
