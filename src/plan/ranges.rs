//! What every numeric (and duration or size) plan key accepts, in one
//! table: validation checks against these limits, its messages state the
//! range in these words — also when serde refuses a value before validation
//! sees it (`replicas = -2`, `port = 70000`, `weight = "5"`) — and
//! docs/PLAN.md states the same words in the key's row (a test reads the
//! doc and compares, so the three cannot drift apart).
//!
//! Also here: which runtimes honour CPU and memory limits, with the one
//! wording the plan check and the resize refusal share.

use super::types::RuntimeKind;
use std::time::Duration;

/// Replicas of one version.
pub const MAX_REPLICAS: u32 = 64;
/// `[[steps]]` entries.
pub const MAX_STEPS: usize = 100;
/// `warmup.requests`.
pub const MAX_WARMUP_REQUESTS: u32 = 10_000;
/// Consecutive health results (`healthy_after`, `unhealthy_after`).
pub const MAX_HEALTH_COUNT: u32 = 100;
/// `cpus` (and a resize's `cpus`).
pub const MAX_CPUS: f64 = 1024.0;
/// Docker refuses memory limits below 6 MiB.
pub const MIN_MEMORY: u64 = 6 << 20;
/// A container's `pids_limit`: the kernel's `pid_max` ceiling at most,
/// and below 8 the container cannot even start its process tree.
pub const MIN_PIDS_LIMIT: u32 = 8;
pub const MAX_PIDS_LIMIT: u32 = 4_194_304;
/// `guard.max_p99_ratio`.
pub const MAX_P99_RATIO: f64 = 1000.0;
/// `guard.max_error_ratio`.
pub const MAX_ERROR_RATIO: f64 = 100.0;
/// `guard.min_requests`.
pub const MAX_MIN_REQUESTS: u64 = 1_000_000;
/// `guard.trip_after`.
pub const MAX_TRIP_AFTER: u64 = 10_000;
/// `guard.evidence_timeout`.
pub const MIN_EVIDENCE_TIMEOUT: Duration = Duration::from_secs(1);
pub const MAX_EVIDENCE_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// `drain.timeout`, `drain.stop_grace`.
pub const MAX_DRAIN: Duration = Duration::from_secs(3600);
/// `guard.window`: metrics are kept for five minutes.
pub const MIN_WINDOW: Duration = Duration::from_secs(1);
pub const MAX_WINDOW: Duration = Duration::from_secs(300);

/// One key's accepted values, as both the messages and the docs say them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyRange {
    /// The tables the key appears in (`""` for the top level; `[[steps]]`
    /// entries are `steps`).
    pub tables: &'static [&'static str],
    pub key: &'static str,
    /// Completes "expected …": `a whole number 1–64`.
    pub expected: &'static str,
}

const VERSION: &[&str] = &["stable", "canary"];

/// Every key with a range. Messages say "expected {expected}, found …";
/// docs/PLAN.md's row of the key contains `expected` word for word.
pub const RANGES: &[KeyRange] = &[
    KeyRange {
        tables: &["autoscale"],
        key: "min",
        expected: "a whole number 1–64",
    },
    KeyRange {
        tables: &["autoscale"],
        key: "max",
        expected: "a whole number 1–64, at least autoscale.min",
    },
    KeyRange {
        tables: &["autoscale"],
        key: "target_inflight",
        expected: "a whole number 1–10000",
    },
    KeyRange {
        tables: &["autoscale"],
        key: "target_cpu",
        expected: "a whole number 1–1000 (percent of one core)",
    },
    KeyRange {
        tables: &["autoscale"],
        key: "memory_ceiling",
        expected: "a size of at least 6MiB (Docker's minimum)",
    },
    KeyRange {
        tables: &["autoscale"],
        key: "scale_down_after",
        expected: "a duration above 0 and at most 1h",
    },
    KeyRange {
        tables: VERSION,
        key: "replicas",
        expected: "a whole number 1–64",
    },
    KeyRange {
        tables: &["swarm"],
        key: "max_replicas_per_node",
        expected: "a whole number 1–64",
    },
    KeyRange {
        tables: VERSION,
        key: "port",
        expected: "a whole number 1–65535",
    },
    KeyRange {
        tables: VERSION,
        key: "cpus",
        expected: "a number above 0 and at most 1024",
    },
    KeyRange {
        tables: VERSION,
        key: "memory",
        expected: "a size of at least 6MiB (Docker's minimum)",
    },
    KeyRange {
        tables: VERSION,
        key: "pids_limit",
        expected: "a whole number 8–4194304",
    },
    KeyRange {
        tables: &["health"],
        key: "interval",
        expected: "a duration above 0",
    },
    KeyRange {
        tables: &["health"],
        key: "timeout",
        expected: "a duration above 0 and at most health.interval",
    },
    KeyRange {
        tables: &["health"],
        key: "healthy_after",
        expected: "a whole number 1–100",
    },
    KeyRange {
        tables: &["health"],
        key: "unhealthy_after",
        expected: "a whole number 1–100",
    },
    KeyRange {
        tables: &["health"],
        key: "min_healthy",
        expected: "a whole number 1–64, at most canary.replicas",
    },
    KeyRange {
        tables: &["health"],
        key: "start_timeout",
        expected: "a duration above 0",
    },
    KeyRange {
        tables: &["warmup"],
        key: "requests",
        expected: "a whole number 0–10000",
    },
    KeyRange {
        tables: &["warmup"],
        key: "max_failures",
        expected: "a whole number 0–10000, at most warmup.requests",
    },
    KeyRange {
        tables: &["guard"],
        key: "confidence",
        expected: "a probability from 0.5 to 0.999999 (0.995 = a canary within tolerance is rolled back by chance at most once in 200 releases)",
    },
    KeyRange {
        tables: &["guard"],
        key: "max_error_ratio",
        expected: "a ratio from 1.0 to 100 (1.25 = canary error rate up to 1.25 × stable's), or \"off\"",
    },
    KeyRange {
        tables: &["guard"],
        key: "max_error_rate",
        expected: "a rate from 0 up to (not including) 1 (0.05 = 5 %), or \"off\"",
    },
    KeyRange {
        tables: &["guard"],
        key: "window",
        expected: "a duration from 1s to 5m (metrics are kept for 5 minutes)",
    },
    KeyRange {
        tables: &["guard"],
        key: "min_requests",
        expected: "a whole number 1–1000000",
    },
    KeyRange {
        tables: &["guard"],
        key: "max_p99",
        expected: "a duration above 0, or \"off\"",
    },
    KeyRange {
        tables: &["guard"],
        key: "max_p99_ratio",
        expected: "a ratio from 1.0 to 1000 (1.5 = canary p99 up to 1.5 × stable's), or \"off\"",
    },
    KeyRange {
        tables: &["guard"],
        key: "trip_after",
        expected: "a whole number 2–10000 (failures in a row), or \"off\"",
    },
    KeyRange {
        tables: &["guard"],
        key: "max_failed_requests",
        expected: "a whole number of at least 1, or \"off\"",
    },
    KeyRange {
        tables: &["guard"],
        key: "evidence_timeout",
        expected: "a duration from 1s to 24h",
    },
    KeyRange {
        tables: &["steps"],
        key: "weight",
        expected: "a percentage 0–100, never below the step before",
    },
    KeyRange {
        tables: &["steps"],
        key: "bake",
        expected: "a duration (0s: no bake)",
    },
    KeyRange {
        tables: &["drain"],
        key: "timeout",
        expected: "a duration of at most 1h",
    },
    KeyRange {
        tables: &["drain"],
        key: "stop_grace",
        expected: "a duration of at most 1h",
    },
    KeyRange {
        tables: &["proxy"],
        key: "upstream_timeout",
        expected: "a duration above 0",
    },
    KeyRange {
        tables: &["proxy"],
        key: "connect_timeout",
        expected: "a duration above 0",
    },
    KeyRange {
        tables: &["proxy"],
        key: "header_timeout",
        expected: "a duration above 0",
    },
    KeyRange {
        tables: &["proxy"],
        key: "client_body_timeout",
        expected: "a duration above 0",
    },
    KeyRange {
        tables: &["proxy"],
        key: "max_head_size",
        expected: "a size from 1KiB to 256KiB",
    },
    KeyRange {
        tables: &["proxy"],
        key: "max_connections",
        expected: "a whole number of at least 1",
    },
];

/// The range of the key at `path` (`stable.replicas`, `steps[2].weight`).
pub fn range_of(path: &str) -> Option<&'static KeyRange> {
    let plain: String = {
        let mut out = String::with_capacity(path.len());
        let mut depth = 0;
        for c in path.chars() {
            match c {
                '[' => depth += 1,
                ']' => depth -= 1,
                _ if depth == 0 => out.push(c),
                _ => {}
            }
        }
        out
    };
    let (table, key) = plain.rsplit_once('.').unwrap_or(("", &plain));
    RANGES
        .iter()
        .find(|r| r.key == key && r.tables.contains(&table))
}

/// "expected {range}, found {found}" for the key at `path`.
pub fn expected(path: &str, found: impl std::fmt::Display) -> Option<String> {
    range_of(path).map(|r| format!("expected {}, found {found}", r.expected))
}

/// The runtimes that apply `cpus` and `memory` and can change them on a
/// running version (swarm through a service update).
pub const LIMIT_RUNTIMES: &[RuntimeKind] = &[RuntimeKind::Docker, RuntimeKind::Swarm];

impl RuntimeKind {
    /// Whether replicas on this runtime get (and can change) CPU and memory limits.
    pub fn honours_limits(self) -> bool {
        LIMIT_RUNTIMES.contains(&self)
    }
}

/// Why `runtime` cannot take `cpus` / `memory`: one wording for the plan
/// key and the resize action.
pub fn limits_ignored(runtime: RuntimeKind) -> String {
    let names: Vec<String> = LIMIT_RUNTIMES
        .iter()
        .map(|r| format!("\"{}\"", r.as_str()))
        .collect();
    let who = match names.as_slice() {
        [one] => format!("only runtime {one} honours"),
        many => format!("only runtimes {} honour", many.join(" and ")),
    };
    format!(
        "runtime \"{}\" cannot apply CPU or memory limits: {who} `cpus` and `memory`",
        runtime.as_str()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_find_their_ranges() {
        assert_eq!(range_of("stable.replicas").unwrap().key, "replicas");
        assert_eq!(range_of("canary.port").unwrap().key, "port");
        assert_eq!(range_of("steps[3].weight").unwrap().key, "weight");
        assert_eq!(
            range_of("drain.timeout").unwrap().expected,
            "a duration of at most 1h"
        );
        assert_eq!(
            range_of("health.timeout").unwrap().expected,
            "a duration above 0 and at most health.interval"
        );
        assert!(range_of("service").is_none());
        assert!(range_of("guard.on_breach").is_none());
        assert!(range_of("replicas").is_none());
    }

    /// The words state the limits the checks use.
    #[test]
    fn the_words_hold_the_limits() {
        let says = |path: &str, what: String| {
            let text = range_of(path).unwrap().expected;
            assert!(text.contains(&what), "{path}: {text:?} lacks {what:?}");
        };
        says("stable.replicas", format!("1–{MAX_REPLICAS}"));
        says("health.min_healthy", format!("1–{MAX_REPLICAS}"));
        says("health.healthy_after", format!("1–{MAX_HEALTH_COUNT}"));
        says("health.unhealthy_after", format!("1–{MAX_HEALTH_COUNT}"));
        says("warmup.requests", format!("0–{MAX_WARMUP_REQUESTS}"));
        says("stable.cpus", format!("at most {MAX_CPUS}"));
        says("stable.memory", format!("{}MiB", MIN_MEMORY >> 20));
        says("guard.max_p99_ratio", format!("to {MAX_P99_RATIO}"));
        says("drain.timeout", format!("{}h", MAX_DRAIN.as_secs() / 3600));
        says(
            "guard.window",
            format!(
                "from {}s to {}m",
                MIN_WINDOW.as_secs(),
                MAX_WINDOW.as_secs() / 60
            ),
        );
    }

    #[test]
    fn only_docker_and_swarm_honour_limits() {
        assert!(RuntimeKind::Docker.honours_limits());
        assert!(RuntimeKind::Swarm.honours_limits());
        assert!(!RuntimeKind::Process.honours_limits());
        assert!(!RuntimeKind::Static.honours_limits());
        assert_eq!(
            limits_ignored(RuntimeKind::Static),
            "runtime \"static\" cannot apply CPU or memory limits: only runtimes \"docker\" and \"swarm\" honour `cpus` and `memory`"
        );
    }
}
