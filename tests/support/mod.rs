//! Harnesses shared by the suite's modules; each file says what it builds.

pub mod controller;
pub mod daemon;
pub mod demo_app;
pub mod docker;
pub mod dockerd;
pub mod fleet_load;
pub mod fleet_up;
pub mod images;
pub mod journal;
pub mod mixed_load;
pub mod proxy;
pub mod registry;
pub mod release;
pub mod sshd;
pub mod swarm;
pub mod tmux;
pub mod tui;
pub mod up;
pub mod wait;

/// An HTTP client for the tests' own requests: no system proxy, and a
/// bound on every request, so an upstream that stalls (a container
/// thrashing at its memory limit, say) fails one request instead of hanging
/// the whole suite. Tests of timeouts use their own, tighter clients.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("an HTTP client")
}

/// `cutover demo` runs one at a time per machine (it takes a lock, and waits
/// only briefly for another demo), so the suite's demo tests take turns.
pub fn one_demo_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}
