//! What a runtime can do to a running version, known from the state alone
//! ([`StateView::runtime`]), so a client says "this runtime cannot" before
//! it asks for values, instead of the daemon refusing after the operator
//! typed them. The daemon still refuses on its own (`not_supported`): this
//! is the same rule said earlier, not a second one.

use super::StateView;
use crate::plan::RuntimeKind;

/// The runtime a state names, if this build knows it (a newer daemon's
/// runtime is `None`: the client does not guess and lets the daemon say).
pub fn runtime_of(s: &StateView) -> Option<RuntimeKind> {
    [
        RuntimeKind::Docker,
        RuntimeKind::Process,
        RuntimeKind::Static,
        RuntimeKind::Swarm,
    ]
    .into_iter()
    .find(|k| k.as_str() == s.runtime)
}

/// `Err(why)` when the state's runtime cannot change the CPU and memory
/// limits of running replicas (process, static).
pub fn can_resize(s: &StateView) -> Result<(), String> {
    match runtime_of(s) {
        Some(k) if !k.honours_limits() => Err(format!("{k} cannot resize: docker and swarm only")),
        _ => Ok(()),
    }
}

/// `Err(why)` when the state's runtime cannot start or stop replicas of a
/// version (static: its upstreams run elsewhere; swarm: not built yet —
/// the controller refuses it with the same reason).
pub fn can_scale(s: &StateView) -> Result<(), String> {
    match runtime_of(s) {
        Some(RuntimeKind::Static) => Err("static cannot scale: its upstreams run elsewhere".into()),
        Some(RuntimeKind::Swarm) => {
            Err("swarm cannot scale from cutover yet: docker and process only".into())
        }
        _ => Ok(()),
    }
}
