//! One admin API for a daemon with several services (`[[services]]`): each
//! request names its service with the `X-Cutover-Service` header (the CLI
//! sends it; `?service=` also works, for a browser or a Prometheus scrape
//! config) and is answered by that service's own routes, with that
//! service's own token — a token reaches its service only.
//!
//! `GET /v1/services` lists the services (any of their tokens reads it);
//! `GET /metrics` without a name is every service's figures in one
//! Prometheus exposition (each series labelled with its service).
//! Without a name, a daemon with one service answers for it; with several,
//! the answer says which services there are.

use super::ApiError;
use super::server::{ApiState, router};
use axum::Json;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::sync::Arc;
use tower_service::Service;

/// The header a request names its service with.
pub const SERVICE_HEADER: &str = "x-cutover-service";

/// Each service's routes and state, by name.
#[derive(Clone)]
struct Fleet {
    services: Arc<BTreeMap<String, (axum::Router, ApiState)>>,
    /// Every service's tokens (the list is anyone's of them to read).
    access: Arc<super::train::Access>,
}

/// The admin routes of several services behind one listener.
pub fn fleet_router(services: Vec<(String, ApiState)>) -> axum::Router {
    let fleet = Fleet {
        access: Arc::new(super::train::Access::of(&services)),
        services: Arc::new(
            services
                .into_iter()
                .map(|(name, state)| (name, (router(state.clone()), state)))
                .collect(),
        ),
    };
    let list = fleet.clone();
    axum::Router::new()
        .route(
            "/v1/services",
            axum::routing::get(move |req: Request| {
                let fleet = list.clone();
                async move { fleet.list(&req) }
            }),
        )
        .fallback(move |req: Request| {
            let fleet = fleet.clone();
            async move { fleet.dispatch(req).await }
        })
}

impl Fleet {
    fn names(&self) -> String {
        self.services.keys().cloned().collect::<Vec<_>>().join(", ")
    }

    /// The service a request names, from its header or its query.
    fn named(req: &Request) -> Option<String> {
        if let Some(h) = req.headers().get(SERVICE_HEADER) {
            return h.to_str().ok().map(str::to_string);
        }
        req.uri().query().and_then(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == "service")
                .map(|(_, v)| v.to_string())
        })
    }

    async fn dispatch(&self, req: Request) -> Response {
        let name = match Self::named(&req) {
            Some(n) => n,
            None if self.services.len() == 1 => {
                self.services.keys().next().cloned().unwrap_or_default()
            }
            // The liveness probe needs no service: the daemon is up, and
            // owns every service's instance (another daemon asks whether
            // the owner of some replicas is alive: `runtime::instance`).
            None if req.uri().path() == "/healthz" => return self.healthz(),
            // One scrape for them all: every series carries its service.
            None if req.uri().path() == "/metrics" => return self.prometheus(),
            None => {
                return ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "service_required",
                    format!(
                        "this daemon serves several services ({}): name one with --service NAME (the X-Cutover-Service header, or ?service=NAME)",
                        self.names()
                    ),
                )
                .into_response();
            }
        };
        let Some((routes, _)) = self.services.get(&name) else {
            return ApiError::new(
                StatusCode::NOT_FOUND,
                "no_such_service",
                format!(
                    "no service {:?} here; this daemon serves {}",
                    crate::text::clean(&name),
                    self.names()
                ),
            )
            .into_response();
        };
        let mut routes = routes.clone();
        match routes.call(req).await {
            Ok(r) => r,
            Err(never) => match never {},
        }
    }

    /// `ok`, with one instance header per service.
    fn healthz(&self) -> Response {
        let mut r = "ok\n".into_response();
        for (_, state) in self.services.values() {
            if let Ok(v) = axum::http::HeaderValue::from_str(&state.instance) {
                r.headers_mut()
                    .append(crate::runtime::instance::HEALTHZ_HEADER, v);
            }
        }
        r
    }

    /// Every service's figures as one Prometheus exposition (no token, as
    /// for one service: read-only figures).
    fn prometheus(&self) -> Response {
        let texts: Vec<String> = self
            .services
            .values()
            .map(|(_, s)| super::server::prometheus_text(s))
            .collect();
        super::server::prometheus_response(crate::metrics::merge_expositions(&texts))
    }

    /// Every service with its phase and weight, for any service's token.
    fn list(&self, req: &Request) -> Response {
        let (operator, watcher) = self.access.classify(super::train::bearer(req.headers()));
        if !(operator || watcher) {
            return ApiError::unauthorized().into_response();
        }
        let states: Vec<crate::model::StateView> = self
            .services
            .values()
            .map(|(_, s)| s.controller.state())
            .collect();
        Json(serde_json::json!({ "services": states })).into_response()
    }
}
