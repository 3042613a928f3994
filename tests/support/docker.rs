//! The machine's Docker engine for the suite: containers a test made are
//! removed by their label when it ends, even by a panic.

#![allow(dead_code)]

use std::process::Command;

/// Ids of the containers carrying `label` (`key=value`), sorted: running
/// ones, or with `all` stopped ones too.
pub fn ids(label: &str, all: bool) -> Vec<String> {
    let flags = if all { "-aq" } else { "-q" };
    let out = Command::new("docker")
        .args(["ps", flags, "--no-trunc", "--filter"])
        .arg(format!("label={label}"))
        .output()
        .unwrap();
    let mut ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    ids.sort();
    ids
}

/// Removes every container carrying `label` (`key=value`) when dropped.
pub struct Cleanup(String);

impl Cleanup {
    /// Containers of cutover service `name` (`cutover.service=name`).
    pub fn service(name: impl std::fmt::Display) -> Cleanup {
        Cleanup(format!("cutover.service={name}"))
    }

    /// Containers of one test (`cutover.test=id`, the tests' extra label).
    pub fn test(id: impl std::fmt::Display) -> Cleanup {
        Cleanup(format!("cutover.test={id}"))
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let out = Command::new("docker")
            .args(["ps", "-aq", "--filter"])
            .arg(format!("label={}", self.0))
            .output();
        if let Ok(out) = out {
            for id in String::from_utf8_lossy(&out.stdout).lines() {
                let _ = Command::new("docker").args(["rm", "-f", id]).output();
            }
        }
    }
}

/// The machine's engine with the demo images of this binary built, or
/// `None` (the test then skips, saying so) when no engine answers; under
/// `CUTOVER_REQUIRE_DOCKER=1` (CI) that is a failure instead.
pub async fn engine_with_demo_images() -> Option<cutover::runtime::docker::DockerRuntime> {
    let Ok(rt) = cutover::runtime::docker::DockerRuntime::connect().await else {
        assert!(
            !super::release::docker_required(),
            "Docker is required (CUTOVER_REQUIRE_DOCKER=1) but unreachable"
        );
        eprintln!("skipping: no Docker engine reachable");
        return None;
    };
    super::images::demo_images(rt.client()).await;
    Some(rt)
}
