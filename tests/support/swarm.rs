//! A single-node swarm for the Swarm tests, left as it was found: the
//! engine's swarm is made (`docker swarm init --advertise-addr 127.0.0.1`)
//! only when it is inactive, and then left again when the guard drops,
//! also when the test fails (with the `docker_gwbridge` network that
//! `swarm init` made, which leaving keeps). Without an engine, or when the swarm cannot
//! be made, the test is skipped with the reason, or fails under
//! `CUTOVER_REQUIRE_DOCKER=1`.

use std::process::Command;

pub struct SwarmGuard {
    /// This guard made the swarm (and leaves it at the end).
    created: bool,
    /// The bridge `swarm init` makes was not there before (and goes too:
    /// leaving a swarm keeps it).
    made_gwbridge: bool,
}

const GWBRIDGE: &str = "docker_gwbridge";

fn docker(args: &[&str]) -> Result<String, String> {
    let out = Command::new("docker")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run docker: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "docker {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn skip_or_fail(why: String) -> Option<SwarmGuard> {
    if super::release::docker_required() {
        panic!("Swarm is required (CUTOVER_REQUIRE_DOCKER=1) but unusable: {why}");
    }
    eprintln!("skipping: {why}");
    None
}

impl SwarmGuard {
    /// The engine as a swarm manager, made one if its swarm is inactive;
    /// `None`: skip (reason printed).
    pub fn ensure() -> Option<SwarmGuard> {
        let state = match docker(&[
            "info",
            "--format",
            "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}",
        ]) {
            Ok(s) => s,
            Err(e) => return skip_or_fail(format!("no Docker engine reachable ({e})")),
        };
        match state.as_str() {
            "active true" => Some(SwarmGuard {
                created: false,
                made_gwbridge: false,
            }),
            "inactive false" => {
                let had_gwbridge = docker(&["network", "inspect", GWBRIDGE]).is_ok();
                if let Err(e) = docker(&["swarm", "init", "--advertise-addr", "127.0.0.1"]) {
                    return skip_or_fail(format!("cannot make a single-node swarm ({e})"));
                }
                eprintln!("made a single-node swarm for this test (left again at its end)");
                Some(SwarmGuard {
                    created: true,
                    made_gwbridge: !had_gwbridge,
                })
            }
            other => skip_or_fail(format!(
                "the engine is in a swarm but not a manager of it ({other}); the test will not change that"
            )),
        }
    }
}

impl Drop for SwarmGuard {
    fn drop(&mut self) {
        if !self.created {
            return;
        }
        if let Err(e) = docker(&["swarm", "leave", "--force"]) {
            eprintln!("leaving the test's swarm: {e}");
        }
        if self.made_gwbridge
            && let Err(e) = docker(&["network", "rm", GWBRIDGE])
        {
            eprintln!("removing the swarm's {GWBRIDGE}: {e}");
        }
    }
}

/// Names of services and containers that still carry `label`.
pub fn left_with_label(label: &str) -> Vec<String> {
    let filter = format!("label={label}");
    let mut left = Vec::new();
    for args in [
        ["service", "ls", "-q", "--filter", filter.as_str()].as_slice(),
        ["ps", "-aq", "--filter", filter.as_str()].as_slice(),
    ] {
        if let Ok(out) = docker(args) {
            left.extend(out.lines().filter(|l| !l.is_empty()).map(String::from));
        }
    }
    left
}

/// `docker kill` a container.
pub fn kill(container: &str) {
    docker(&["kill", container]).expect("docker kill");
}
