//! The admin API server (runs inside the daemon).
//!
//! Every `/v1/*` route needs `Authorization: Bearer <token>`; the token is
//! compared in constant time. Handlers only translate HTTP to controller
//! actions and back: they hold no release logic.
//!
//! What a caller sends is outside text: [`admit`] is where it enters the
//! model. It refuses a `by` that names the daemon's own actors (`guard`,
//! `system`: a caller must not make the journal say the guard acted), and
//! cleans the free text (`reason`) with [`crate::text::clean`] so no
//! control character reaches a terminal that shows it; a deploy target
//! with control characters is refused outright (it names what would run).

use super::{ApiError, BODY_LIMIT};
use crate::controller::ControllerHandle;
use crate::controller::machine::codes;
use crate::metrics::Metrics;
use crate::model::{Action, ActionRequest, Actor, Role};
use crate::plan::HumanDuration;
use crate::runtime::Runtime;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::future::Future;
use std::sync::Arc;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub controller: ControllerHandle,
    pub metrics: Arc<Metrics>,
    pub runtime: Option<Arc<dyn Runtime>>,
    /// The plan the daemon runs: what a deploy would start (`GET /v1/images`).
    pub plan: Option<Arc<crate::plan::Plan>>,
    pub token: Arc<str>,
    /// The watchers' token (`token.read`): reads only.
    pub read_token: Option<Arc<str>>,
    /// This daemon's instance id, sent with `/healthz` so another daemon
    /// can tell it is alive (`crate::runtime::instance::alive`).
    pub instance: Arc<str>,
}

/// Serve the admin API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    state: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_routes(listener, router(state), shutdown).await
}

/// [`serve`] with routes already made (one service's, or several's:
/// [`super::fleet::fleet_router`]).
pub async fn serve_routes(
    listener: TcpListener,
    routes: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // On shutdown: stop accepting first (connections still queued stay in
    // the socket's backlog, for a successor that holds the same socket),
    // give the ones just accepted a moment to send their request, then
    // shut down gracefully, bounded: long-lived event streams must not
    // hold the daemon's exit hostage.
    let (accepting_tx, accepting) = tokio::sync::watch::channel(true);
    let (tx, rx) = tokio::sync::watch::channel(false);
    let notify = async move {
        shutdown.await;
        accepting_tx.send_replace(false);
        tokio::time::sleep(ACCEPTED_GRACE).await;
        let _ = tx.send(true);
    };
    let mut rx2 = rx.clone();
    let gated = Gated {
        inner: listener,
        accepting,
    };
    let graceful = axum::serve(gated, routes).with_graceful_shutdown(async move {
        let mut rx = rx;
        let _ = rx.wait_for(|s| *s).await;
    });
    tokio::select! {
        r = graceful => r,
        _ = async move {
            notify.await;
            let _ = rx2.wait_for(|s| *s).await;
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        } => Ok(()),
    }
}

/// How long a connection accepted just before the shutdown has to send its
/// request (a graceful shutdown closes a connection that has not started
/// one: its client would see the connection drop).
const ACCEPTED_GRACE: std::time::Duration = std::time::Duration::from_millis(200);

/// The admin listener, which stops accepting when told (see [`serve`]).
struct Gated {
    inner: TcpListener,
    accepting: tokio::sync::watch::Receiver<bool>,
}

impl axum::serve::Listener for Gated {
    type Io = tokio::net::TcpStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let gate = &mut self.accepting;
        loop {
            // Closed for good once the daemon stops: wait here forever.
            if gate.wait_for(|open| *open).await.is_err() {
                std::future::pending::<()>().await;
            }
            tokio::select! {
                accepted = axum::serve::Listener::accept(&mut self.inner) => return accepted,
                _ = async { let _ = gate.wait_for(|open| !*open).await.map(|_| ()); } => {}
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// The routes, for tests that want to drive them without a socket.
pub fn router(state: ApiState) -> Router {
    let v1 = Router::new()
        .route("/v1/state", get(get_state))
        .route("/v1/metrics", get(get_metrics))
        .route("/v1/weight", post(post_weight))
        .route("/v1/actions", post(post_action))
        .route("/v1/guards", get(get_guards))
        .route("/v1/events", get(super::reads::get_events))
        .route("/v1/logs", get(super::reads::get_logs))
        .route("/v1/images", get(super::reads::get_images))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .merge(v1)
        .route("/metrics", get(prometheus))
        .route("/healthz", get(healthz))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such endpoint (see GET /v1/state)",
            )
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this endpoint",
            )
        })
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// `ok`, with this daemon's instance id in a header (not a secret: it only
/// tells this daemon from another that answers at the same address).
async fn healthz(State(s): State<ApiState>) -> Response {
    (
        [(
            crate::runtime::instance::HEALTHZ_HEADER,
            s.instance.to_string(),
        )],
        "ok\n",
    )
        .into_response()
}

async fn require_token(State(s): State<ApiState>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    // Constant time: a wrong token takes as long as a right one.
    let operator: bool = given.as_bytes().ct_eq(s.token.as_bytes()).into();
    let watcher: bool = s
        .read_token
        .as_deref()
        .is_some_and(|t| given.as_bytes().ct_eq(t.as_bytes()).into());
    if operator {
        return next.run(req).await;
    }
    if !watcher {
        return ApiError::unauthorized().into_response();
    }
    // A watcher reads (every GET) and acts on nothing.
    if req.method() == axum::http::Method::GET || req.method() == axum::http::Method::HEAD {
        return next.run(req).await;
    }
    ApiError::new(
        StatusCode::FORBIDDEN,
        "read_only",
        "this token only watches (token.read): it may read the state, events and logs, not act",
    )
    .into_response()
}

async fn get_state(State(s): State<ApiState>) -> Response {
    Json(s.controller.state()).into_response()
}

/// The guard thresholds in force: the plan's `[guard]`, or this release's
/// edit (`{"action": "set_guards", ...}` on `POST /v1/actions`).
async fn get_guards(State(s): State<ApiState>) -> Response {
    Json(s.controller.guards()).into_response()
}

#[derive(Deserialize)]
struct WindowQuery {
    window: Option<String>,
}

async fn get_metrics(State(s): State<ApiState>, Query(q): Query<WindowQuery>) -> Response {
    let window = match q.window.as_deref().map(str::parse::<HumanDuration>) {
        None => std::time::Duration::from_secs(10),
        Some(Ok(d))
            if d.get() >= std::time::Duration::from_secs(1)
                && d.get() <= std::time::Duration::from_secs(300) =>
        {
            d.get()
        }
        Some(Ok(_)) => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_window",
                "window must be between 1s and 5m",
            )
            .into_response();
        }
        Some(Err(e)) => {
            return ApiError::new(StatusCode::BAD_REQUEST, "bad_window", e).into_response();
        }
    };
    let state = s.controller.state();
    Json(serde_json::json!({
        "weight_permille": state.weight_permille,
        "window_secs": window.as_secs_f64(),
        "stable": s.metrics.stats(Role::Stable, window),
        "canary": s.metrics.stats(Role::Canary, window),
    }))
    .into_response()
}

/// Decode a JSON body with errors that say what was wrong.
fn decode<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let bytes = body.map_err(|rej| {
        let status = rej.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                status,
                "too_large",
                format!("request body larger than {BODY_LIMIT} bytes"),
            )
        } else {
            ApiError::new(status, "bad_body", rej.body_text())
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        // The parser quotes what it could not take, control characters too.
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_json",
            crate::text::clean_owned(format!("invalid JSON body: {e}")),
        )
    })
}

/// `POST /v1/weight`: `{"percent": 25}` or `{"permille": 250}`, optional `by`, `reason`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WeightBody {
    percent: Option<f64>,
    permille: Option<i64>,
    by: Option<Actor>,
    reason: Option<String>,
}

async fn post_weight(
    State(s): State<ApiState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body: WeightBody = match decode(body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let permille = match (body.percent, body.permille) {
        (Some(p), None) if p.is_finite() && (0.0..=100.0).contains(&p) => (p * 10.0).round() as u16,
        (None, Some(pm)) if (0..=1000).contains(&pm) => pm as u16,
        (Some(p), None) => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "out_of_range",
                format!("expected a percentage 0–100, found {p}"),
            )
            .into_response();
        }
        (None, Some(pm)) => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "out_of_range",
                format!("expected per mille 0–1000, found {pm}"),
            )
            .into_response();
        }
        _ => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_json",
                "give exactly one of \"percent\" or \"permille\"",
            )
            .into_response();
        }
    };
    act(
        &s,
        ActionRequest {
            action: Action::SetWeight { permille },
            by: body.by.unwrap_or_else(|| actor_from(&headers)),
            reason: body.reason,
        },
    )
    .await
}

async fn post_action(State(s): State<ApiState>, body: Result<Bytes, BytesRejection>) -> Response {
    match decode::<ActionRequest>(body) {
        Ok(req) => act(&s, req).await,
        Err(e) => e.into_response(),
    }
}

/// A caller's request as it may enter the model: `by` one of the callers'
/// own (`cli`, `tui`, `api`), the reason cleaned, a deploy target free of
/// control characters. Anything else is a 400 that says what to send.
pub fn admit(mut req: ActionRequest) -> Result<ActionRequest, ApiError> {
    if matches!(req.by, Actor::Guard | Actor::System) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::BAD_ACTOR.as_str(),
            format!(
                "\"by\": \"{}\" is the daemon's own; a caller is \"cli\", \"tui\" or \"api\"",
                req.by
            ),
        ));
    }
    if let Action::Deploy { image } = &req.action
        && crate::text::has_control(image)
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::BAD_REQUEST.as_str(),
            format!(
                "cannot deploy {}: control characters in what to run",
                crate::text::clean(image)
            ),
        ));
    }
    if let Some(reason) = &mut req.reason {
        crate::text::clean_in_place(reason);
    }
    Ok(req)
}

async fn act(s: &ApiState, req: ActionRequest) -> Response {
    let req = match admit(req) {
        Ok(req) => req,
        Err(e) => return e.into_response(),
    };
    match s.controller.act(req).await {
        Ok(reply) => Json(reply).into_response(),
        Err(refusal) => {
            use crate::model::RefusalCode as C;
            let status = match refusal.code {
                C::Stopped => StatusCode::SERVICE_UNAVAILABLE,
                // The values asked for are wrong, whatever the phase.
                C::InvalidValue
                | C::OutOfRange
                | C::BadRequest
                | C::NotSupported
                | C::NotAllowed
                | C::BadActor => StatusCode::BAD_REQUEST,
                C::IllegalInPhase
                | C::Frozen
                | C::ReasonRequired
                | C::NoSteps
                | C::NoNextStep
                | C::NoCanarySpec
                | C::Busy
                | C::Unknown => StatusCode::CONFLICT,
            };
            ApiError::new(status, refusal.code.as_str(), refusal.message).into_response()
        }
    }
}

fn actor_from(headers: &HeaderMap) -> Actor {
    match headers.get("x-cutover-actor").and_then(|v| v.to_str().ok()) {
        Some("tui") => Actor::Tui,
        Some("cli") => Actor::Cli,
        _ => Actor::Api,
    }
}

async fn prometheus(State(s): State<ApiState>) -> Response {
    prometheus_response(prometheus_text(&s))
}

/// The service's figures in Prometheus text.
pub(super) fn prometheus_text(s: &ApiState) -> String {
    let state = s.controller.state();
    s.metrics.prometheus(
        &state.service,
        state.weight_permille,
        [
            state.stable.version.as_str(),
            state.canary.as_ref().map_or("", |c| c.version.as_str()),
        ],
    )
}

pub(super) fn prometheus_response(text: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
