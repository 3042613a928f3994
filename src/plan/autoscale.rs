//! `[autoscale]`: an optional policy that sizes the running versions by
//! their usage — replicas between `min` and `max` by requests in flight or
//! CPU per replica, and a memory limit raised before an OOM up to a
//! ceiling. The controller acts on it (`controller/autoscale.rs`); here are
//! its keys and the rules serde cannot express.

use super::types::{Plan, RuntimeKind};
use super::units::{ByteSize, HumanDuration};
use super::validate::{Check, bad, out_of_range};
use serde::{Deserialize, Serialize};

/// `[autoscale]` as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoscalePlan {
    /// Never fewer replicas than this.
    #[serde(default = "default_min")]
    pub min: u32,
    /// Never more replicas than this.
    pub max: u32,
    /// Requests in flight per replica to aim for (one of this or `target_cpu`).
    #[serde(default)]
    pub target_inflight: Option<u32>,
    /// CPU per replica to aim for, in percent of one core.
    #[serde(default)]
    pub target_cpu: Option<u32>,
    /// Raise a version's memory limit by half before it runs out, up to this.
    #[serde(default)]
    pub memory_ceiling: Option<ByteSize>,
    /// Load below target for this long takes one replica away.
    #[serde(default = "default_scale_down_after")]
    pub scale_down_after: HumanDuration,
}

/// What the replica count follows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ScaleTarget {
    /// Requests in flight per replica.
    InFlight(f64),
    /// CPU percent (of one core) per replica.
    Cpu(f64),
}

impl AutoscalePlan {
    pub fn target(&self) -> ScaleTarget {
        match (self.target_inflight, self.target_cpu) {
            (Some(n), _) => ScaleTarget::InFlight(f64::from(n)),
            (None, Some(c)) => ScaleTarget::Cpu(f64::from(c)),
            // Validation refuses a plan with neither.
            (None, None) => ScaleTarget::InFlight(1.0),
        }
    }
}

fn default_min() -> u32 {
    1
}

fn default_scale_down_after() -> HumanDuration {
    HumanDuration::from_secs(30)
}

/// The rules of `[autoscale]`, in the plan's error style.
pub(super) fn check(plan: &Plan) -> Check {
    let Some(a) = &plan.autoscale else {
        return Ok(());
    };
    if matches!(plan.runtime, RuntimeKind::Static | RuntimeKind::Swarm) {
        return bad(
            "autoscale",
            format!(
                "expected no [autoscale] with runtime \"{}\": cutover cannot change how many replicas it runs ({})",
                plan.runtime.as_str(),
                if plan.runtime == RuntimeKind::Static {
                    "its upstreams are fixed in the plan"
                } else {
                    "scaling a Swarm service is not built yet"
                }
            ),
        );
    }
    if a.min == 0 || a.min > super::ranges::MAX_REPLICAS {
        return out_of_range("autoscale.min", a.min, "");
    }
    if a.max < a.min || a.max > super::ranges::MAX_REPLICAS {
        return out_of_range("autoscale.max", a.max, "");
    }
    match (a.target_inflight, a.target_cpu) {
        (Some(_), Some(_)) | (None, None) => {
            return bad(
                "autoscale",
                "expected exactly one of target_inflight (requests in flight per replica) or target_cpu (percent of one core per replica)",
            );
        }
        (Some(n), None) if n == 0 || n > 10_000 => {
            return out_of_range("autoscale.target_inflight", n, "");
        }
        (None, Some(c)) if c == 0 || c > 1000 => {
            return out_of_range("autoscale.target_cpu", c, "");
        }
        _ => {}
    }
    let d = a.scale_down_after.get();
    if d.is_zero() || d > std::time::Duration::from_secs(3600) {
        return out_of_range("autoscale.scale_down_after", a.scale_down_after, "");
    }
    if let Some(ceiling) = a.memory_ceiling {
        if ceiling.0 < super::ranges::MIN_MEMORY {
            return out_of_range("autoscale.memory_ceiling", ceiling, "");
        }
        for (name, v) in [
            ("stable", Some(&plan.stable)),
            ("canary", plan.canary.as_ref()),
        ] {
            if let Some(m) = v.and_then(|v| v.memory)
                && m.0 > ceiling.0
            {
                return bad(
                    "autoscale.memory_ceiling",
                    format!("expected a ceiling at least {name}.memory ({m}), found {ceiling}"),
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    fn err(runtime: &str, section: &str) -> String {
        let stable = if runtime == "static" {
            "upstreams = [\"127.0.0.1:9000\"]"
        } else if runtime == "process" {
            "command = [\"app\", \"{port}\"]"
        } else {
            "image = \"a:1\"\nmemory = \"256MiB\""
        };
        let text = format!(
            "service = \"s\"\nruntime = \"{runtime}\"\n[stable]\n{stable}\n[autoscale]\n{section}\n"
        );
        match crate::plan::parse(&text, "t.toml") {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_good_section_parses() {
        assert_eq!(err("docker", "max = 4\ntarget_cpu = 70"), "");
        assert_eq!(
            err(
                "process",
                "min = 2\nmax = 4\ntarget_inflight = 8\nmemory_ceiling = \"1GiB\""
            ),
            ""
        );
    }

    #[test]
    fn bad_sections_name_the_key_and_line() {
        for (runtime, section, says) in [
            (
                "static",
                "max = 2\ntarget_inflight = 8",
                "fixed in the plan",
            ),
            ("docker", "max = 2", "exactly one of target_inflight"),
            (
                "docker",
                "max = 2\ntarget_inflight = 8\ntarget_cpu = 5",
                "exactly one of",
            ),
            (
                "docker",
                "min = 3\nmax = 2\ntarget_inflight = 8",
                "autoscale.max: expected a whole number 1–64, at least autoscale.min",
            ),
            (
                "docker",
                "max = 2\ntarget_inflight = 0",
                "autoscale.target_inflight",
            ),
            (
                "docker",
                "max = 2\ntarget_inflight = 1\nmemory_ceiling = \"128MiB\"",
                "at least stable.memory (256MiB)",
            ),
            (
                "docker",
                "max = 2\ntarget_inflight = 1\nscale_down_after = \"2h\"",
                "at most 1h",
            ),
            ("docker", "max = 2\ntarget_inflight = 1\nbogus = 1", "bogus"),
        ] {
            let e = err(runtime, section);
            assert!(e.contains(says), "{section:?}: {e}");
            assert!(e.contains("t.toml:"), "{section:?}: no line in {e}");
        }
    }
}
