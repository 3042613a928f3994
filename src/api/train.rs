//! The train routes of a daemon with several services: trains and
//! approvals are the daemon's, not one service's, so any service's
//! operator token may act on them and any watcher token read them (no
//! `X-Cutover-Service` needed).
//!
//! | method | path            | what                                              |
//! |--------|-----------------|---------------------------------------------------|
//! | GET    | /v1/train       | the latest [`Train`](crate::train::Train) (404 `no_train` before the first) |
//! | POST   | /v1/train       | start one: a [`StartRequest`] (a train file's text) |
//! | POST   | /v1/train/abort | `{"reason": "...", "by": "..."}`                  |
//! | GET    | /v1/approvals   | every approval                                    |
//! | POST   | /v1/approvals   | `{"service", "image", "by", "reason"}`            |
//!
//! Refusals are 409 (or 400 for a train file with a mistake, 404 for an
//! unknown service), `{"code", "error"}` like every other answer.

use super::ApiError;
use crate::model::Actor;
use crate::train::{Approval, Refused, StartRequest, Trains};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// Every service's tokens: operators act, watchers read.
#[derive(Clone, Default)]
pub struct Access {
    pub operators: Vec<Arc<str>>,
    pub watchers: Vec<Arc<str>>,
}

impl Access {
    /// Whether `given` is an operator's token, a watcher's, both or
    /// neither; every token is compared, so the answer takes as long
    /// whichever matched.
    pub fn classify(&self, given: &str) -> (bool, bool) {
        let is = |t: &Arc<str>| bool::from(given.as_bytes().ct_eq(t.as_bytes()));
        let operator = self.operators.iter().fold(false, |m, t| is(t) | m);
        let watcher = self.watchers.iter().fold(false, |m, t| is(t) | m);
        (operator, watcher)
    }

    pub fn of(apis: &[(String, super::server::ApiState)]) -> Access {
        Access {
            operators: apis.iter().map(|(_, s)| s.token.clone()).collect(),
            watchers: apis
                .iter()
                .filter_map(|(_, s)| s.read_token.clone())
                .collect(),
        }
    }
}

#[derive(Clone)]
struct TrainApi {
    trains: Trains,
    access: Arc<Access>,
}

/// The routes, to merge into the fleet's admin router.
pub fn routes(trains: Trains, access: Access) -> axum::Router {
    let state = TrainApi {
        trains,
        access: Arc::new(access),
    };
    axum::Router::new()
        .route("/v1/train", get(status).post(start))
        .route("/v1/train/abort", post(abort))
        .route("/v1/approvals", get(approvals).post(approve))
        .route_layer(middleware::from_fn_with_state(state.clone(), tokens))
        .with_state(state)
}

/// The bearer token a request carries ("" without one).
pub fn bearer(headers: &HeaderMap) -> &str {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
}

async fn tokens(State(s): State<TrainApi>, req: Request, next: Next) -> Response {
    let (operator, watcher) = s.access.classify(bearer(req.headers()));
    if operator || (watcher && matches!(*req.method(), Method::GET | Method::HEAD)) {
        return next.run(req).await;
    }
    if watcher {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "read_only",
            "this token only watches (token.read): it may read trains and approvals, not act",
        )
        .into_response();
    }
    ApiError::unauthorized().into_response()
}

fn refused(r: Refused) -> Response {
    let status = match r.code {
        "invalid_train" | "bad_request" | "reason_required" => StatusCode::BAD_REQUEST,
        "no_such_service" | "no_train" => StatusCode::NOT_FOUND,
        "not_saved" => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::CONFLICT,
    };
    ApiError::new(status, r.code, r.message).into_response()
}

fn body<T: serde::de::DeserializeOwned>(b: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let bytes = b.map_err(|rej| ApiError::new(rej.status(), "bad_body", rej.body_text()))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        let msg = crate::text::clean_owned(format!("invalid JSON body: {e}"));
        ApiError::new(StatusCode::BAD_REQUEST, "bad_json", msg)
    })
}

/// `cli` when the CLI says so (its header), else `api`.
fn actor(headers: &HeaderMap) -> Actor {
    match headers.get("x-cutover-actor").and_then(|v| v.to_str().ok()) {
        Some("cli") => Actor::Cli,
        Some("tui") => Actor::Tui,
        _ => Actor::Api,
    }
}

async fn status(State(s): State<TrainApi>) -> Response {
    match s.trains.current() {
        Some(t) => Json(t).into_response(),
        None => refused(Refused {
            code: "no_train",
            message: "no train has run on this daemon (cutover train start FILE)".into(),
        }),
    }
}

async fn start(
    State(s): State<TrainApi>,
    headers: HeaderMap,
    b: Result<Bytes, BytesRejection>,
) -> Response {
    let mut req: StartRequest = match body(b) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    for text in [&mut req.reason, &mut req.by].into_iter().flatten() {
        crate::text::clean_in_place(text);
    }
    crate::text::clean_in_place(&mut req.file);
    match s.trains.start(&req, actor(&headers)) {
        Ok(t) => (StatusCode::CREATED, Json(t)).into_response(),
        Err(r) => refused(r),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AbortBody {
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    by: Option<String>,
}

async fn abort(
    State(s): State<TrainApi>,
    headers: HeaderMap,
    b: Result<Bytes, BytesRejection>,
) -> Response {
    let mut a: AbortBody = match body(b) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    for text in [&mut a.reason, &mut a.by].into_iter().flatten() {
        crate::text::clean_in_place(text);
    }
    let by = a.by.unwrap_or_else(|| "api".into());
    match s.trains.abort(a.reason, &by, actor(&headers)) {
        Ok(t) => Json(t).into_response(),
        Err(r) => refused(r),
    }
}

async fn approvals(State(s): State<TrainApi>) -> Response {
    Json(serde_json::json!({ "approvals": s.trains.approvals() })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApproveBody {
    service: String,
    image: String,
    #[serde(default)]
    by: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

async fn approve(
    State(s): State<TrainApi>,
    headers: HeaderMap,
    b: Result<Bytes, BytesRejection>,
) -> Response {
    let a: ApproveBody = match body(b) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let approval = Approval {
        service: a.service,
        image: a.image,
        by: a
            .by
            .filter(|b| !b.trim().is_empty())
            .unwrap_or_else(|| "api".into()),
        at: chrono::Utc::now(),
        reason: a.reason,
    };
    match s.trains.approve(approval, actor(&headers)) {
        Ok(a) => (StatusCode::CREATED, Json(a)).into_response(),
        Err(r) => refused(r),
    }
}
