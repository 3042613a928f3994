//! The admin API: a small HTTP/JSON surface on a loopback address, guarded by
//! a bearer token (or the watchers' `token.read`: every GET, no action, 403).
//! `server` runs inside the daemon (`reads` holds its streaming reads);
//! `client` is what the CLI verbs and the TUI use to reach it.
//!
//! | method | path          | what                                            |
//! |--------|---------------|-------------------------------------------------|
//! | GET    | /v1/state     | the whole [`StateView`](crate::model::StateView) |
//! | GET    | /v1/metrics   | per-version stats over `?window=10s`            |
//! | POST   | /v1/weight    | `{"percent": 25}` or `{"permille": 250}`        |
//! | POST   | /v1/actions   | an [`ActionRequest`](crate::model::ActionRequest) |
//! | GET    | /v1/guards    | the guard thresholds in force ([`GuardPlan`](crate::plan::GuardPlan)) |
//! | GET    | /v1/events    | NDJSON: a snapshot, the last `?backlog=200` journal events (and `&ticks=300` metric ticks), then every event |
//! | GET    | /v1/logs      | `?replica=ID&tail=200` (or `?role=canary`: its first replica) |
//! | GET    | /v1/images    | what a new canary could run, as `deploy` takes it, and what a deploy starts ([`ImageCandidates`](crate::model::ImageCandidates)) |
//! | GET    | /metrics      | Prometheus text (no token: read-only figures)   |
//! | GET    | /healthz      | 200 when the daemon is up (no token)            |
//! | GET    | /v1/services  | a daemon with `[[services]]`: each one's state  |
//! | GET/POST | /v1/train, /v1/approvals | a daemon with `[[services]]`: release trains (see `train`) |
//!
//! With several services, a request names its own with the
//! `X-Cutover-Service` header or `?service=` (see `fleet`).
//!
//! Errors are JSON `{"error": "...", "code": "..."}` with 400 (bad body, or
//! values the controller refuses: `invalid_value`, `out_of_range`,
//! `bad_request`), 401, 403 (`read_only`), 404, 405, 409 (refused in this phase), 413 or 503.

pub mod client;
pub mod confirm;
mod deploy_follow;
mod error;
pub mod fleet;
mod reads;
pub mod server;
pub mod train;
pub mod train_verbs;
pub mod verbs;

pub use error::ApiError;

/// Request bodies larger than this are refused with 413.
pub const BODY_LIMIT: usize = 64 * 1024;
