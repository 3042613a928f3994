//! The shared picture of a release, as every client sees it.
//!
//! These types are the wire contract between the daemon and everything that
//! watches it: `GET /v1/state` returns a [`StateView`], `GET /v1/events` streams
//! [`Event`]s, the journal stores the same events one per line, and the TUI
//! (live or replaying) renders nothing but these. Keeping them in one place is
//! what lets a recording be played back in the very same cockpit.
//!
//! One file per kind of thing: `release.rs` (roles, phases, actors,
//! replica lifecycle), `state.rs` (the state and the one reducer that
//! applies an event to it), `events.rs`, `guards.rs`, `actions.rs`, and
//! `words.rs` (how figures are worded, once for every client), `risk.rs`
//! (which actions make the operator type the service name) and
//! `capabilities.rs` (what a runtime can do to a running version).

mod actions;
pub mod capabilities;
mod events;
mod guards;
mod images;
mod permille;
mod release;
pub mod risk;
mod state;
mod words;

pub use actions::*;
pub use events::*;
pub use guards::*;
pub use images::ImageCandidates;
pub use permille::Permille;
pub use release::*;
pub use state::*;
pub use words::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replica_phrases_never_say_the_status_twice() {
        use ReplicaStatus as S;
        for (status, detail, want) in [
            (S::Stopped, "stopped (exit 0)", "stopped (exit 0)"),
            (S::Exited, "exited 1 (on its own)", "exited 1 (on its own)"),
            (
                S::OomKilled,
                "OOM-killed (exited 137) (on its own)",
                "OOM-killed (exited 137) (on its own)",
            ),
            (
                S::Starting,
                "started at 127.0.0.1:4001",
                "started at 127.0.0.1:4001",
            ),
            (
                S::Healthy,
                "GET /healthz → 200",
                "healthy: GET /healthz → 200",
            ),
            (S::Unhealthy, "", "unhealthy"),
        ] {
            assert_eq!(replica_phrase(status, detail), want);
        }
    }
}
