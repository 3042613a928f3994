//! Who and where: the roles, the release phases, who asked, and a
//! replica's lifecycle.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Which side of the split a version is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Stable,
    Canary,
}

impl Role {
    pub const ALL: [Role; 2] = [Role::Stable, Role::Canary];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Stable => "stable",
            Role::Canary => "canary",
        }
    }

    /// Stable 0, canary 1: the index of per-version arrays (`[T; 2]`).
    pub const fn index(self) -> usize {
        match self {
            Role::Stable => 0,
            Role::Canary => 1,
        }
    }

    /// The other side of the split.
    pub const fn other(self) -> Role {
        match self {
            Role::Stable => Role::Canary,
            Role::Canary => Role::Stable,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The release phase (see DESIGN.md, "The release model").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Stable only; no canary exists.
    Idle,
    /// Canary containers or processes are being started.
    Deploying,
    /// Canary is running; waiting for health, `min_healthy` and warm-up.
    Warming,
    /// Canary receives its share of live traffic; steps and guards run.
    Canary,
    /// Like `Canary`, but steps and bake timers are held. Guards still run.
    Paused,
    /// 100 % canary; stable is being drained and removed.
    Promoting,
    /// 0 % canary; canary is being drained and removed.
    RollingBack,
    /// The canary never became healthy; it was removed, stable untouched.
    Failed,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Deploying => "deploying",
            Phase::Warming => "warming",
            Phase::Canary => "canary",
            Phase::Paused => "paused",
            Phase::Promoting => "promoting",
            Phase::RollingBack => "rolling_back",
            Phase::Failed => "failed",
        }
    }

    /// The canary takes live traffic at its weight and the guards judge it:
    /// canary or paused (a paused release holds its weight, it does not
    /// stop serving).
    pub fn takes_traffic(self) -> bool {
        matches!(self, Phase::Canary | Phase::Paused)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who asked for something. Every action and weight change records one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Actor {
    Tui,
    Cli,
    Guard,
    /// The controller itself: steps, timers, reconcile.
    System,
    /// Any other HTTP client of the admin API.
    Api,
}

impl Actor {
    pub fn as_str(self) -> &'static str {
        match self {
            Actor::Tui => "tui",
            Actor::Cli => "cli",
            Actor::Guard => "guard",
            Actor::System => "system",
            Actor::Api => "api",
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lifecycle of one replica (a container or a child process).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplicaStatus {
    /// Running, not yet proven healthy: receives no traffic.
    Starting,
    /// Passed `healthy_after` checks in a row: in its pool.
    Healthy,
    /// Failed `unhealthy_after` checks in a row: out of its pool.
    Unhealthy,
    /// Planned stop: no new requests, in-flight ones finishing.
    Draining,
    /// Stopped on purpose.
    Stopped,
    /// Exited on its own (see `exit_code`).
    Exited,
    /// Killed by the kernel's OOM killer.
    OomKilled,
}

impl ReplicaStatus {
    /// Whether the replica can still serve (or become able to serve).
    pub fn is_alive(self) -> bool {
        matches!(
            self,
            ReplicaStatus::Starting
                | ReplicaStatus::Healthy
                | ReplicaStatus::Unhealthy
                | ReplicaStatus::Draining
        )
    }
}

impl ReplicaStatus {
    /// The status as a word for people: `starting`, `oom-killed`.
    pub fn word(self) -> &'static str {
        match self {
            ReplicaStatus::Starting => "starting",
            ReplicaStatus::Healthy => "healthy",
            ReplicaStatus::Unhealthy => "unhealthy",
            ReplicaStatus::Draining => "draining",
            ReplicaStatus::Stopped => "stopped",
            ReplicaStatus::Exited => "exited",
            ReplicaStatus::OomKilled => "oom-killed",
        }
    }
}
