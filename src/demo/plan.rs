//! The demo's release: its service name, the plan it runs (stable v1 ×2,
//! canary v2 ×1, quick health checks, three short steps, guards) and the
//! canary's faults per scenario.

use crate::cli::Scenario;
use crate::plan::Plan;
use color_eyre::eyre::Result;
use std::path::Path;
use std::time::Duration;

/// The demo's service name (labels, state directory).
pub const SERVICE: &str = "cutover-demo";

/// The canary's fault knobs per scenario, as `DEMO_*` environment.
pub fn scenario_env(s: Scenario) -> Vec<(&'static str, &'static str)> {
    match s {
        Scenario::Good => vec![],
        // Fine at the first step, failing under the second step's traffic:
        // the guard catches it mid-release, not at the first request.
        Scenario::Bad => vec![("DEMO_ERROR_RATE", "0.3"), ("DEMO_ERROR_AFTER", "80")],
        Scenario::Slow => vec![("DEMO_LATENCY", "400ms")],
        Scenario::Crashy => vec![("DEMO_CRASH_AFTER", "150")],
    }
}

/// What the demo's process replicas see of the environment `cutover demo`
/// runs in (replicas get a clean environment: `pass_env` in docs/PLAN.md):
/// the defaults, the demo app's own knobs, so `DEMO_LATENCY=200ms cutover
/// demo` still slows every version down, and `CUTOVER_DEMO_MARKER`, with
/// which the tests tag everything a demo starts to find what is left.
pub const PASS_ENV: [&str; 13] = [
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TZ",
    "DEMO_ERROR_RATE",
    "DEMO_LATENCY",
    "DEMO_STARTUP_DELAY",
    "DEMO_ERROR_AFTER",
    "DEMO_CRASH_AFTER",
    "DEMO_HOG_MIB",
    "DEMO_NEVER_HEALTHY",
    "CUTOVER_DEMO_MARKER",
];

/// How long stable serves alone before the canary is deployed.
pub const STABLE_ALONE: Duration = Duration::from_secs(5);
/// The demo plan for a runtime: stable v1 ×2, canary v2 ×1 with the
/// scenario's faults, quick health checks, three short steps (5 s each, so
/// a good canary is promoted ~22 s in), guards.
///
/// The guards are the defaults a real service would use (the canary judged
/// against stable at 99.5 %), with a lower `min_requests` so the good canary
/// has enough evidence within each 5 s step at 100 req/s, and an absolute
/// p99 ceiling for the slow scenario. The bad scenario (30 % errors once it
/// has served 80 requests) is caught by `max_error_ratio` within a second or
/// two of failing: against a stable with no errors each canary failure is
/// strong evidence.
pub fn demo_plan(runtime: &str, scenario: Scenario, exe: &Path) -> Result<Plan> {
    let env = scenario_env(scenario)
        .iter()
        .map(|(k, v)| format!("{k} = \"{v}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let (stable, canary, deploy) = what_runs(runtime, exe);
    let pass_env = PASS_ENV
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let text = format!(
        r#"service = "{SERVICE}"
runtime = "{runtime}"
pass_env = [{pass_env}]

[listen]
public = "127.0.0.1:0"
admin = "127.0.0.1:0"

[stable]
{stable}
version = "v1"
replicas = 2

[canary]
{canary}
version = "v2"
replicas = 1
env = {{ {env} }}

[health]
path = "/healthz"
interval = "500ms"
timeout = "300ms"
healthy_after = 2
unhealthy_after = 2
min_healthy = 1
start_timeout = "60s"

[warmup]
path = "/"
requests = 10

[guard]
window = "10s"
min_requests = 30
max_p99 = "300ms"
on_breach = "rollback"

[[steps]]
weight = 10
bake = "5s"
[[steps]]
weight = 25
bake = "5s"
[[steps]]
weight = 50
bake = "5s"

[drain]
timeout = "5s"
stop_grace = "3s"

[deploy]
{deploy}
"#
    );
    Ok(crate::plan::parse(&text, "demo plan")?)
}

/// What stable, the canary and `[deploy]` run on `runtime`, as plan lines:
/// the demo's own images, or its own binary. `[deploy]` is what `cutover
/// deploy --canary VERSION` may start during the demo, nothing else.
fn what_runs(runtime: &str, exe: &Path) -> (String, String, String) {
    match runtime {
        "docker" | "swarm" => (
            "image = \"cutover-demo:v1\"\nmemory = \"64MiB\"\ncpus = 0.5".to_string(),
            "image = \"cutover-demo:v2\"\nmemory = \"64MiB\"\ncpus = 0.5".to_string(),
            "image = \"cutover-demo:{version}\"".to_string(),
        ),
        _ => {
            let cmd = |v: &str| {
                format!(
                    "command = [{:?}, \"demo-app\", \"--bind\", \"127.0.0.1\", \"--port\", \"{{port}}\", \"--version\", \"{v}\"]",
                    exe.display().to_string()
                )
            };
            (cmd("v1"), cmd("v2"), cmd("{version}"))
        }
    }
}
