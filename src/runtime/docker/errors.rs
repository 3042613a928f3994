//! The engine's errors in the runtime's terms: which answers mean "gone"
//! or "not running", and an engine refusal worded as a [`RuntimeError`]
//! an operator can act on (a port clash, a refused create, an unreachable
//! engine). Shared with the swarm runtime, which talks to the same engine.

use super::super::RuntimeError;
use super::DockerRuntime;

pub(in crate::runtime) fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404 | 304,
            ..
        }
    )
}

/// The engine answered 409 to a kill: the container is not running (any more).
pub(super) fn is_not_running(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 409,
            ..
        }
    )
}

impl DockerRuntime {
    /// An engine error in words an operator can act on. The engine's
    /// message is outside text (it quotes image references, container names
    /// and output): it enters the model here, cleaned (`crate::text`).
    pub(in crate::runtime) fn err(&self, what: &str, e: bollard::errors::Error) -> RuntimeError {
        match &e {
            bollard::errors::Error::DockerResponseServerError {
                status_code,
                message,
            } => {
                let message = crate::text::clean(message);
                if message.contains("port is already allocated")
                    || message.contains("address already in use")
                    || message.contains("all ports are allocated")
                {
                    RuntimeError::PortClash(format!(
                        "{what}: {message} (another container or process holds that host port)"
                    ))
                } else if *status_code == 404 && !what.starts_with("create") {
                    RuntimeError::NoSuchReplica(format!("{what}: {message}"))
                } else if what.starts_with("create") || what.starts_with("start") {
                    RuntimeError::CreateRefused(format!(
                        "{what}: the engine at {} refused it ({status_code}): {message}",
                        self.endpoint.url
                    ))
                } else {
                    RuntimeError::Other(format!(
                        "{what}: the engine refused it ({status_code}): {message}"
                    ))
                }
            }
            other => RuntimeError::Unreachable {
                endpoint: self.endpoint.describe(),
                detail: crate::text::clean_owned(format!("{what}: {other}")),
            },
        }
    }
}
