//! A real daemon in the canary phase, for the tests that drive it from the
//! outside (admin API, cockpit in a terminal): static runtime, two in-test
//! upstreams, fast health checks, a state directory of its own.

use super::proxy::Upstream;
use cutover::daemon::{DaemonConfig, RunningDaemon};
use cutover::model::Phase;
use std::time::{Duration, Instant};

/// Everything the daemon needs alive; dropping it drops them all (the
/// tests call `daemon.stop()` first for a clean end).
pub struct CanaryDaemon {
    pub daemon: RunningDaemon,
    pub stable: Upstream,
    pub canary: Upstream,
    pub dir: tempfile::TempDir,
}

impl CanaryDaemon {
    /// Start service `shop` and wait until its canary serves (at 0 %).
    pub async fn start() -> CanaryDaemon {
        Self::start_with("").await
    }

    /// [`CanaryDaemon::start`] with `tables` (TOML tables such as `[proxy]`
    /// or `[guard]`) added to the plan.
    pub async fn start_with(tables: &str) -> CanaryDaemon {
        let stable = Upstream::start("stable").await;
        let canary = Upstream::start("canary").await;
        let text = format!(
            "service = \"shop\"\nruntime = \"static\"\n[listen]\npublic = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n\
             [stable]\nupstreams = [\"{}\"]\n[canary]\nupstreams = [\"{}\"]\n\
             [health]\ninterval = \"100ms\"\ntimeout = \"100ms\"\nhealthy_after = 1\n{tables}",
            stable.addr, canary.addr
        );
        let plan = cutover::plan::parse(&text, "test.toml").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let daemon = cutover::daemon::start(DaemonConfig::new(plan, dir.path().to_path_buf()))
            .await
            .unwrap();
        // The plan's canary is deployed on a fresh start; wait until it serves.
        let client = daemon.client();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = client.state().await.unwrap();
            if s.phase == Phase::Canary {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "canary never became ready: {s:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        CanaryDaemon {
            daemon,
            stable,
            canary,
            dir,
        }
    }
}
